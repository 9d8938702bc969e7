#![no_main]
//! `signoff mask` on any input: no panic, one output line per input line, and
//! a masked text never longer than the input plus its labels.
use libfuzzer_sys::fuzz_target;
use signoff_mask::{LineFormat, LineMasker, MaskConfig, Masker};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    thread_local! {
        static MASKER: Masker = Masker::new(&MaskConfig::default()).expect("default config builds");
    }
    MASKER.with(|masker| {
        let _ = masker.mask(text);
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(text) {
            let masked = masker.mask_json(&doc);
            assert!(serde_json::from_str::<serde_json::Value>(&masked.to_string()).is_ok());
        }
        let mut lines = LineMasker::new(masker, LineFormat::Text);
        let mut out = String::new();
        let input: Vec<&str> = text.split('\n').collect();
        for line in &input {
            lines.push(line, &mut out);
        }
        lines.finish(&mut out);
        assert_eq!(out.matches('\n').count(), input.len(), "one line out per line in");
    });
});
