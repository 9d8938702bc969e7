#![no_main]
//! Any text given as SQL classifies without panicking, and unparseable text is `unknown`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let c = signoff_classify::classify_sql(text);
        if let signoff_core::Facts::Sql(f) = &c.facts {
            assert_eq!(f.parse_error.is_some(), c.is_unknown());
        }
    }
});
