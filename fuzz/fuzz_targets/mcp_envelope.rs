#![no_main]
//! Any headers and body as a stateless MCP request (2026-07-28): the
//! envelope check never panics, and what it lets through agrees with
//! itself: the routing headers equal the body the gate decides on.
//! Input: `name: value` lines, a blank line, then the body.
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use signoff_mcp::envelope::{self, check, decode_header_value};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or(("", &text));
    let mut headers = HeaderMap::new();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.trim()), HeaderValue::try_from(value.trim())) {
            headers.append(n, v);
        }
    }
    if let Some(v) = headers.get(&envelope::NAME).and_then(|v| v.to_str().ok()) {
        let _ = decode_header_value(v);
    }
    let Ok(message) = serde_json::from_str::<Value>(body) else { return };
    let _ = envelope::is_stateless(&headers, &message);
    let Ok(()) = check(&headers, &message) else { return };
    let header = |n: &HeaderName| headers.get(n).and_then(|v| v.to_str().ok());
    if message.get("id").is_some() && message.get("method").is_some() {
        let version = message.pointer("/params/_meta").and_then(|m| m.get(envelope::VERSION_META));
        assert_eq!(header(&envelope::PROTOCOL_VERSION).map(Value::from).as_ref(), version);
        assert!(envelope::SUPPORTED.iter().any(|v| Some(&Value::from(*v)) == version));
        assert_eq!(header(&envelope::METHOD), message["method"].as_str());
        if message["method"] == "tools/call" {
            if let Some(name) = message.pointer("/params/name").filter(|n| !n.is_null()) {
                let named = header(&envelope::NAME).and_then(decode_header_value);
                assert_eq!(named.map(Value::from).as_ref(), Some(name));
            }
        }
    }
});
