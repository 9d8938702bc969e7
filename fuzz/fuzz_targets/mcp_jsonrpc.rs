#![no_main]
//! Any bytes as an MCP JSON-RPC message, in either direction (what the
//! `/mcp/{name}` endpoint and the upstream client parse): a message or an
//! error, never a panic; a parsed message serializes and parses again.
use libfuzzer_sys::fuzz_target;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<ClientJsonRpcMessage>(data) {
        let text = serde_json::to_string(&m).expect("a parsed message serializes");
        let _ = serde_json::from_str::<ClientJsonRpcMessage>(&text);
    }
    if let Ok(m) = serde_json::from_slice::<ServerJsonRpcMessage>(data) {
        let text = serde_json::to_string(&m).expect("a parsed message serializes");
        let _ = serde_json::from_str::<ServerJsonRpcMessage>(&text);
    }
});
