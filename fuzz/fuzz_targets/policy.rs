#![no_main]
//! Any policy text loads or fails with a located error; never panics.
use libfuzzer_sys::fuzz_target;
use signoff_policy::{ApprovalDefaults, PolicyEngine, PolicySource};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let dir = signoff_config::Config::embedded("unused".into()).directory;
        let source = PolicySource { name: "fuzz.cedar".into(), text: text.to_owned() };
        let _ = PolicyEngine::load(&[source], &dir, ApprovalDefaults::default());
    }
});
