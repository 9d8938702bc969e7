#![no_main]
//! Any shell string or argv classifies without panicking.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = signoff_classify::classify_shell(text);
        let argv: Vec<String> = text.split('\0').map(str::to_owned).collect();
        let _ = signoff_classify::classify_argv(&argv);
        if let Some((method, path)) = text.split_once(' ') {
            let _ = signoff_classify::classify_http(method, path);
        }
    }
});
