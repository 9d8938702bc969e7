//! The PostgreSQL front door: the frame decoder and both halves of the session
//! state machine over a hostile client's bytes and a broken database's answers,
//! plus the statement splitter. Nothing may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the client's bytes end and the database's begin.
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let at = (cut as usize * rest.len()) / 255;
    let (client, upstream) = rest.split_at(at);
    signoff_pg::fuzzing::session(client, upstream);
    if let Ok(text) = std::str::from_utf8(client) {
        let pieces = signoff_classify::split_statements(text);
        assert!(pieces.iter().all(|p| !p.is_empty() && text.contains(p)));
    }
});
