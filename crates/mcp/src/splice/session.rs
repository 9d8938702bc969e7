//! An agent's session as the splice keeps it, and the calls in flight on it.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use serde_json::Value;
use signoff_core::Principal;

/// One agent session and the upstream session it is spliced to.
pub(super) struct Session {
    pub(super) upstream_id: Option<HeaderValue>,
    /// INVARIANT: only the principal that initialized a session may use it;
    /// a session id alone grants nothing.
    pub(super) owner: Principal,
    /// The client declared URL-mode elicitation (MCP 2025-11-25; in
    /// 2026-07-28, in each request's `_meta`).
    pub(super) url_elicitation: bool,
    /// One request of a stateless revision (MCP 2026-07-28), not a session.
    pub(super) stateless: bool,
    /// Seconds since the splice's epoch.
    pub(super) used: AtomicU64,
    /// Calls in flight by JSON-RPC id, for `notifications/cancelled`.
    pub(super) calls: Mutex<HashMap<String, Flight>>,
}

pub(super) enum Flight {
    /// Waiting for a human: cancelling ends the hold.
    Held(tokio::task::AbortHandle),
    /// Forwarded: the upstream hears of a cancel itself; this is for the audit.
    Forwarded { cancelled: bool },
}

impl Session {
    pub(super) fn new(
        upstream_id: Option<HeaderValue>,
        owner: Principal,
        url_elicitation: bool,
        stateless: bool,
        now: u64,
    ) -> Session {
        Session {
            upstream_id,
            owner,
            url_elicitation,
            stateless,
            used: AtomicU64::new(now),
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// The client cancelled call `id` (a JSON-RPC id): a held call ends, a
    /// forwarded one is marked so for the audit.
    pub(super) fn cancel(&self, id: Option<&Value>) {
        let (Some(key), Ok(mut calls)) = (id.map(Value::to_string), self.calls.lock()) else {
            return;
        };
        match calls.get_mut(&key) {
            Some(Flight::Held(task)) => {
                tracing::info!(request = %key, "the client cancelled a held call");
                task.abort();
                calls.remove(&key);
            }
            Some(Flight::Forwarded { cancelled }) => *cancelled = true,
            None => {}
        }
    }

    pub(super) fn release(&self, key: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(key);
        }
    }
}

/// A forwarded call, in the session's calls until dropped.
pub(super) struct InFlight {
    session: Arc<Session>,
    key: String,
}

impl InFlight {
    pub(super) fn start(session: &Arc<Session>, id: &Value) -> InFlight {
        let key = id.to_string();
        if let Ok(mut calls) = session.calls.lock() {
            calls.insert(key.clone(), Flight::Forwarded { cancelled: false });
        }
        InFlight {
            session: session.clone(),
            key,
        }
    }

    /// Why the answer never came, for the audit.
    pub(super) fn unanswered(&self) -> String {
        let cancelled = self.session.calls.lock().ok().is_some_and(|c| {
            matches!(
                c.get(&self.key),
                Some(Flight::Forwarded { cancelled: true })
            )
        });
        match cancelled {
            true => "the agent cancelled the call before it answered".into(),
            false => "the upstream ended without an answer".into(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.session.release(&self.key);
    }
}
