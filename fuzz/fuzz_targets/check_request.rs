#![no_main]
//! The check API's request body: any bytes either fail to parse with an error or
//! yield a typed payload that fingerprints and classifies.
use libfuzzer_sys::fuzz_target;
use signoff_core::{Action, Principal};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<signoff_api::CheckRequest>(data) else { return };
    let Ok(payload) = req.typed_payload() else { return };
    let action = Action { principal: Principal::Agent("fuzz".into()), on_behalf_of: "owner".into(), target: req.target, payload };
    let fp = action.fingerprint();
    assert_eq!(fp, action.clone().fingerprint());
    let _ = signoff_classify::classify(&action.payload);
});
