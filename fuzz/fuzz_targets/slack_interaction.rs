#![no_main]
//! `/slack/interactions`: any signed or unsigned body and headers either fail
//! verification or parsing with an error, never a panic; a parsed click names
//! a request id that round-trips.
use libfuzzer_sys::fuzz_target;
use signoff_channels::slack::{verify, Interaction, ReplayGuard};

fuzz_target!(|data: &[u8]| {
    // First line: "timestamp signature"; the rest is the body.
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let head = String::from_utf8_lossy(head);
    let mut parts = head.splitn(2, ' ');
    let (ts, sig) = (parts.next(), parts.next());
    if let Ok(at) = verify(b"8f742231b10e8888abcd99yyyzzz85a5", ts, sig, body, 1_531_420_618) {
        let guard = ReplayGuard::default();
        assert!(guard.first_time(sig.unwrap_or_default(), at, at));
        assert!(!guard.first_time(sig.unwrap_or_default(), at, at));
    }
    if let Ok(Interaction::Button { request, .. } | Interaction::DenySubmitted { request, .. }) = Interaction::parse(body) {
        assert_eq!(uuid_round_trip(&request.to_string()), Some(request));
    }
});

fn uuid_round_trip(text: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(text).ok()
}
