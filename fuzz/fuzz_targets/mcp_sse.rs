#![no_main]
//! Any bytes as an upstream's event stream, arriving in any chunking: the
//! splice's splitter (`crates/mcp/src/sse.rs`) never panics, never loses or
//! adds a byte, splits the same way however the bytes arrive, and a
//! rewritten event carries exactly the new data.
use libfuzzer_sys::fuzz_target;
use signoff_mcp::sse;

fn split(data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut events = sse::Events::default();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        events.push(piece);
        while let Some(e) = events.next_event() {
            out.push(e);
        }
    }
    out.extend(events.rest());
    out
}

fuzz_target!(|input: (u8, &[u8])| {
    let (chunk, data) = input;
    let whole = split(data, data.len());
    assert_eq!(whole.concat(), data, "no byte lost or added");
    assert_eq!(split(data, usize::from(chunk)), whole, "chunking changes nothing");
    for event in &whole {
        let _ = sse::data(event);
        let rewritten = sse::with_data(event, "{\"jsonrpc\":\"2.0\"}");
        assert_eq!(
            sse::data(&rewritten).as_deref(),
            Some("{\"jsonrpc\":\"2.0\"}")
        );
    }
});
