//! Policy slicing: Cedar evaluates every policy on every request, at a fixed
//! cost per policy, so 100 policies cost ~60 µs even when none applies. For a
//! given (principal, action, target) most policies are false whatever the
//! context: their scope names another action or principal, or their condition
//! tests a label the target does not have. Partial evaluation with the context
//! unknown finds them once; later requests evaluate only the rest.
//!
//! INVARIANT: the slice holds the *original* policies that partial evaluation
//! did not prove false. Dropping a policy that is false for every context
//! cannot change a decision, and errors are kept so they still fail closed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use cedar_policy::{Authorizer, Entities, EntityUid, PolicyId, PolicySet, Request};
use signoff_core::{ActionKind, Principal};

/// Distinct (principal, action, target) triples kept before the cache resets.
const MAX_SLICES: usize = 16_384;

#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SliceKey(Principal, ActionKind, String);

impl SliceKey {
    pub(crate) fn new(principal: &Principal, kind: ActionKind, target: &str) -> SliceKey {
        SliceKey(principal.clone(), kind, target.to_owned())
    }
}

/// The policies that can still match one (principal, action, target).
pub(crate) struct Slice {
    pub(crate) policies: PolicySet,
    /// No policy in the slice reads the time, so its decisions depend only
    /// on the request's other inputs and may be memoized.
    pub(crate) time_free: bool,
}

#[derive(Default)]
pub(crate) struct SliceCache {
    slices: RwLock<HashMap<SliceKey, Arc<Slice>>>,
    disabled: AtomicBool,
}

impl SliceCache {
    /// The slice for this request's (principal, action, target); `None` means
    /// evaluate every policy.
    pub(crate) fn get(
        &self,
        key: SliceKey,
        authorizer: &Authorizer,
        all: &PolicySet,
        entities: &Entities,
        scope: [&EntityUid; 3],
    ) -> Option<Arc<Slice>> {
        if self.disabled.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(s) = self.slices.read().ok().and_then(|m| m.get(&key).cloned()) {
            return Some(s);
        }
        let [p, a, r] = scope;
        let policies = compute(authorizer, all, entities, p.clone(), a.clone(), r.clone())?;
        let time_free = policies.policies().all(|p| !reads_time(p));
        let slice = Arc::new(Slice {
            policies,
            time_free,
        });
        if let Ok(mut m) = self.slices.write() {
            if m.len() >= MAX_SLICES {
                m.clear();
            }
            m.insert(key, slice.clone());
        }
        Some(slice)
    }

    pub(crate) fn disable(&self) {
        self.disabled.store(true, Ordering::Relaxed);
    }

    pub(crate) fn enable(&self) {
        self.disabled.store(false, Ordering::Relaxed);
    }
}

fn compute(
    authorizer: &Authorizer,
    all: &PolicySet,
    entities: &Entities,
    principal: EntityUid,
    action: EntityUid,
    resource: EntityUid,
) -> Option<PolicySet> {
    let partial = Request::builder()
        .principal(principal)
        .action(action)
        .resource(resource)
        .build();
    let response = authorizer.is_authorized_partial(&partial, all, entities);
    let mut live: HashSet<PolicyId> = response
        .nontrivial_residuals()
        .map(|p| p.id().clone())
        .collect();
    live.extend(response.definitely_satisfied().map(|p| p.id().clone()));
    live.extend(response.definitely_errored().cloned());
    let mut slice = PolicySet::new();
    for policy in all.policies() {
        if live.contains(policy.id()) {
            slice.add(policy.clone()).ok()?;
        }
    }
    Some(slice)
}

/// Whether `policy` may read `context.now`. Conservative: a policy whose JSON
/// form cannot be had, or that uses `context` other than through an
/// attribute, counts as reading it.
fn reads_time(policy: &cedar_policy::Policy) -> bool {
    match policy.to_json() {
        Ok(json) => mentions_now(&json),
        Err(_) => true,
    }
}

fn mentions_now(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for op in [".", "has"] {
                if let Some(access) = m.get(op) {
                    if access.get("left") == Some(&serde_json::json!({ "Var": "context" })) {
                        return access.get("attr").and_then(Value::as_str) == Some("now");
                    }
                }
            }
            if m.get("Var").and_then(Value::as_str) == Some("context") {
                return true;
            }
            m.values().any(mentions_now)
        }
        Value::Array(a) => a.iter().any(mentions_now),
        _ => false,
    }
}
