//! The masking seam: every payload a reviewer or the audit log sees passes
//! through a [`Masker`] first; fingerprints are always over the unmasked payload
//! (DESIGN invariant 6).

use serde_json::Value;

pub trait Masker: Send + Sync {
    fn mask(&self, payload: &Value) -> Value;
}

/// Masks nothing. The in-process PII and secret detectors plug in here.
pub struct NoMasking;

impl Masker for NoMasking {
    fn mask(&self, payload: &Value) -> Value {
        payload.clone()
    }
}
