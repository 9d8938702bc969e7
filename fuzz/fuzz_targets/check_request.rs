#![no_main]
//! The check API's request body: any bytes either fail to parse with an error or
//! yield a typed payload that fingerprints and classifies, with its body equal
//! to the documented form.
use libfuzzer_sys::fuzz_target;
use signoff_core::{Action, Principal};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<signoff_api::CheckRequest>(data) else { return };
    let Ok(payload) = req.typed_payload() else { return };
    let action = Action { principal: Principal::Agent("fuzz".into()), on_behalf_of: "owner".into(), target: req.target, payload };
    // The body is built by hand for some kinds; it must stay the documented,
    // tagged form's payload for every input.
    let tagged = serde_json::to_value(&action.payload).expect("a payload serializes");
    assert_eq!(action.payload.body_json(), tagged["payload"]);
    let fp = action.fingerprint();
    assert_eq!(fp, action.clone().fingerprint());
    let _ = signoff_classify::classify(&action.payload);
});
