#![no_main]
//! Any signoff.toml text loads or fails with a located error; never panics.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = signoff_config::Config::parse(text, std::path::Path::new("fuzz.toml"));
    }
});
