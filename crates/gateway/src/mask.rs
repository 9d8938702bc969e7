//! The masking seam: every payload a reviewer or the audit log sees passes
//! through a [`Masker`] first; fingerprints are always over the unmasked payload
//! (DESIGN invariant 6).

use serde_json::Value;

pub trait Masker: Send + Sync {
    fn mask(&self, payload: &Value) -> Value;

    /// [`Masker::mask`] of a payload the caller no longer needs.
    fn mask_owned(&self, payload: Value) -> Value {
        self.mask(&payload)
    }
}

impl Masker for signoff_mask::Masker {
    fn mask(&self, payload: &Value) -> Value {
        self.mask_json(payload)
    }

    fn mask_owned(&self, payload: Value) -> Value {
        self.mask_json_owned(payload)
    }
}

/// Withholds payloads entirely: used if the configured masker cannot be built,
/// so that a broken masker never shows raw payloads (fail closed).
pub struct WithholdAll;

impl Masker for WithholdAll {
    fn mask(&self, _: &Value) -> Value {
        Value::String("[payload withheld: masking unavailable]".into())
    }
}

/// The configured masker; config loading already checked it builds.
pub fn masker(config: &signoff_mask::MaskConfig) -> Box<dyn Masker> {
    match signoff_mask::Masker::new(config) {
        Ok(m) => Box::new(m),
        Err(e) => {
            tracing::error!(error = %e, "masking is unavailable; payloads are withheld from reviewers and the audit log");
            Box::new(WithholdAll)
        }
    }
}
