//! Memoized decisions. Cedar evaluation is a pure function of the request and
//! the entities, which are fixed once loaded; when no policy that can match
//! reads the time, the same (principal, action, target, accountable human,
//! reason, classification) always gets the same decision. A statement stream
//! such as `SELECT … WHERE id = $1` repeats exactly that, so its decision is
//! evaluated once instead of per statement.
//!
//! INVARIANT: a memo key holds every input of the decision except the time,
//! and decisions are only memoized for slices that do not read the time
//! (`Slice::time_free`). The caller's classification key must identify the
//! classification completely (see `PolicyEngine::decide_memoized`).

use std::collections::HashMap;
use std::sync::RwLock;

use signoff_core::Decision;

use crate::DecisionRequest;

/// Distinct keys kept before the memo resets.
const MAX_ENTRIES: usize = 16_384;

#[derive(Default)]
pub(crate) struct Memo {
    // Looked up per statement: seeded foldhash costs less than SipHash and
    // still keeps crafted keys from aiming at one bucket.
    decisions: RwLock<HashMap<String, Decision, foldhash::quality::RandomState>>,
}

/// Every input of `req`'s decision but the time, with the classification
/// given by `classification_key`. Each part is length-prefixed, so no two
/// different inputs share a key.
pub(crate) fn key(req: &DecisionRequest<'_>, classification_key: &str) -> String {
    let mut k = String::with_capacity(64 + classification_key.len() + req.reason.len());
    // Pushed piece by piece: `write!` was half the cost of a memo hit.
    let mut len = itoa::Buffer::new();
    // Each part as (prefix, rest), so the principal needs no string of its own.
    for (prefix, part) in [
        req.principal.parts(),
        ("", req.kind.as_str()),
        ("", req.target),
        ("", req.on_behalf_of),
        ("", req.reason),
        ("", classification_key),
    ] {
        k.push_str(len.format(prefix.len() + part.len()));
        k.push(':');
        k.push_str(prefix);
        k.push_str(part);
        k.push(';');
    }
    k
}

impl Memo {
    pub(crate) fn get(&self, key: &str) -> Option<Decision> {
        self.decisions.read().ok()?.get(key).cloned()
    }

    pub(crate) fn put(&self, key: String, decision: &Decision) {
        if let Ok(mut m) = self.decisions.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(key, decision.clone());
        }
    }
}
