#![no_main]
//! Any bytes as MCP JSON-RPC input: the front door's check (`jsonrpc.rs`)
//! and the stdio framing of `signoff mcp` (`stdio.rs`) never panic; what
//! the check accepts is JSON; rmcp's own parse of a message in either
//! direction round-trips; and every stdio line is either passed on or
//! answered, so nothing is silently lost.
use libfuzzer_sys::fuzz_target;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use tokio::io::AsyncReadExt;

fuzz_target!(|data: &[u8]| {
    match signoff_mcp::jsonrpc::check_message(data) {
        Ok(message) => assert!(message.is_object()),
        Err(r) => assert!(matches!(r.code, -32700 | -32600)),
    }
    if let Ok(m) = serde_json::from_slice::<ClientJsonRpcMessage>(data) {
        let text = serde_json::to_string(&m).expect("a parsed message serializes");
        let _ = serde_json::from_str::<ClientJsonRpcMessage>(&text);
    }
    if let Ok(m) = serde_json::from_slice::<ServerJsonRpcMessage>(data) {
        let text = serde_json::to_string(&m).expect("a parsed message serializes");
        let _ = serde_json::from_str::<ServerJsonRpcMessage>(&text);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (out, mut answers) = tokio::io::duplex(1 << 20);
        let (mut passed, rmcp_out) =
            signoff_mcp::stdio::framed(std::io::Cursor::new(data.to_vec()), out, 256);
        drop(rmcp_out);
        let mut forwarded = Vec::new();
        passed.read_to_end(&mut forwarded).await.expect("read");
        let mut answered = Vec::new();
        answers.read_to_end(&mut answered).await.expect("read");
        let lines = data
            .split(|&b| b == b'\n')
            .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
            .count();
        let out = forwarded.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count()
            + answered.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
        assert_eq!(out, lines, "every line is passed on or answered");
    });
});
