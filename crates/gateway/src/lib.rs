//! The decision service every front door calls (DESIGN §5).
//!
//! A front door authenticates its caller, builds an [`Action`], and calls
//! [`Gateway::check`]; it never decides (invariant 2). Channels deliver reviews
//! through [`Gateway::review`]. Everything that changes state is written to the
//! audit chain in the same transaction, before the caller hears the answer
//! (invariant 5).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod approvals;
mod auth;
mod check;
mod decider;
pub mod keys;
pub mod mask;
mod metrics;
mod outcome;
mod waiters;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use signoff_core::approval::CancelError;
use signoff_core::audit::timestamp;
use signoff_core::{
    Action, ApprovalRequest, AuditEvent, AuditKind, Caller, Classification, Decision, Payload,
    Principal, ReviewError,
};
use signoff_store::{Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

pub use auth::{bootstrap_demo_keys, create_key, list_keys, revoke_key, AuthError};
pub use decider::{Decider, Evaluation};
pub use metrics::Metrics;
/// How an action went: front doors report it with [`Gateway::record_outcome`].
pub use signoff_core::ExecutionOutcome;

/// Settings the gateway needs from the config.
#[derive(Clone, Debug)]
pub struct GatewaySettings {
    /// Base URL for review links.
    pub public_url: String,
    /// The longest a caller may hold a connection open.
    pub max_hold: Duration,
    /// What reviewers and the audit log see of payloads.
    pub masking: signoff_mask::MaskConfig,
    /// How long a verified API key is trusted before the store is asked again,
    /// which bounds how long a revoked key keeps working in a running server.
    pub key_recheck: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("approval request `{0}` does not exist")]
    NotFound(Uuid),
    #[error("action `{0}` does not exist or was not yours")]
    UnknownAction(Uuid),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Cancel(#[from] CancelError),
    #[error("the audit log could not be written, so nothing was done: {0}")]
    Store(#[from] StoreError),
}

/// What a caller learns about one action.
#[derive(Clone, Debug)]
pub struct CheckOutcome {
    pub action_id: Uuid,
    pub action: Action,
    pub fingerprint: String,
    pub classification: Classification,
    pub decision: Decision,
    pub verdict: CheckVerdict,
    pub approval: Option<ApprovalRequest>,
    /// With [`AuditTiming::ReadsQueued`], an allowed read's decision,
    /// written with its outcome by [`Gateway::record_outcome`] as one event.
    deferred: Option<Box<DeferredRead>>,
}

/// What an allowed read's record needs beyond its [`CheckOutcome`]: the
/// decided event (without details) and the summary as the audit keeps it.
#[derive(Clone, Debug)]
struct DeferredRead {
    event: AuditEvent,
    summary: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckVerdict {
    Allow,
    Deny { reason: String },
    Pending,
}

/// A request to check one action.
#[derive(Clone, Debug)]
pub struct CheckRequest {
    pub target: String,
    pub payload: Payload,
    pub reason: Option<String>,
    /// What the target says of the action (an MCP tool's `annotations`),
    /// kept for reviewers if the action is held (only then copied); never
    /// used to decide.
    pub annotations: Option<Arc<Value>>,
    pub trace_id: Option<String>,
}

/// How a front door wants one check done.
#[derive(Debug, Default)]
pub struct CheckOptions {
    /// Hold a pending request up to this long (capped by `max_hold`).
    pub wait: Option<Duration>,
    pub audit: AuditTiming,
    /// Called as the hold starts, so the caller can point a human at the
    /// review page while it waits.
    pub on_hold: Option<OnHold>,
}

/// Called once, as a hold starts, with the pending request and its review
/// link. A plain call rather than a channel: most checks never hold, and a
/// channel and a task beside each check cost every one of them.
pub struct OnHold(Box<TellHold>);

/// What [`OnHold`] calls: the request and its review link.
type TellHold = dyn FnOnce(&ApprovalRequest, String) + Send;

impl OnHold {
    pub fn new(f: impl FnOnce(&ApprovalRequest, String) + Send + 'static) -> Self {
        OnHold(Box::new(f))
    }
}

impl std::fmt::Debug for OnHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnHold")
    }
}

/// When the decision event must be durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuditTiming {
    /// Before the caller hears the answer (DESIGN invariant 5).
    #[default]
    BeforeAnswer,
    /// An allowed pure read's decision is written with its outcome, as one
    /// event queued for the next group commit, so a statement stream runs at
    /// wire speed; everything else as above. The front door must report
    /// every such outcome (`record_outcome`); `Store::shutdown` commits the
    /// queue, so a clean stop loses none.
    ReadsQueued,
}

/// Lifecycle events for channels and webhooks.
#[derive(Clone, Debug)]
pub enum GatewayEvent {
    RequestCreated(Box<ApprovalRequest>),
    ReviewSubmitted(Box<ApprovalRequest>),
    RequestResolved(Box<ApprovalRequest>),
    ActionExecuted {
        action_id: Uuid,
        approval_id: Option<Uuid>,
    },
}

#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    decider: Decider,
    store: Store,
    settings: GatewaySettings,
    masker: Box<dyn mask::Masker>,
    waiters: waiters::Waiters,
    metrics: Metrics,
    keys: auth::KeyCache,
    events: broadcast::Sender<GatewayEvent>,
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl Gateway {
    pub fn new(
        decider: Decider,
        store: Store,
        settings: GatewaySettings,
        config_key_hashes: Vec<(Principal, String)>,
    ) -> Gateway {
        let key_recheck = settings.key_recheck;
        let metrics = Metrics::default();
        let (seconds, jobs) = (metrics.commit_seconds.clone(), metrics.commit_jobs.clone());
        let observed = store.observe_commits(Box::new(move |took, n| {
            seconds.observe(took.as_secs_f64());
            jobs.observe(n as f64);
        }));
        if observed.is_err() {
            tracing::debug!("the store's commits already report to another gateway's metrics");
        }
        Gateway {
            inner: Arc::new(Inner {
                decider,
                store,
                masker: mask::masker(&settings.masking),
                settings,
                waiters: waiters::Waiters::default(),
                metrics,
                keys: auth::KeyCache::new(config_key_hashes, key_recheck),
                events: broadcast::channel(1024).0,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn decider(&self) -> &Decider {
        &self.inner.decider
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.inner.settings
    }

    pub fn subscribe(&self) -> broadcast::Receiver<GatewayEvent> {
        self.inner.events.subscribe()
    }

    /// Where a request can be seen and reviewed (the API until the web inbox lands).
    pub fn review_url(&self, id: Uuid) -> String {
        format!("{}{id}", self.review_url_prefix())
    }

    /// Review links are this followed by the request id.
    pub fn review_url_prefix(&self) -> String {
        format!(
            "{}/ui/requests/",
            self.inner.settings.public_url.trim_end_matches('/')
        )
    }

    /// Records that the gateway started with this policy set.
    pub async fn record_start(&self, details: Value) -> Result<(), GatewayError> {
        let mut e = AuditEvent::new(AuditKind::GatewayStarted, "system", timestamp(now()));
        e.details = details;
        self.inner.store.append(e).await?;
        Ok(())
    }

    fn masked(&self, payload: &Payload) -> Value {
        self.inner.masker.mask(&payload.body_json())
    }

    /// The classification as reviewers see it: facts repeat the payload's
    /// arguments and the summary its flags, so both are masked like it.
    fn masked_classification(&self, c: &Classification) -> Classification {
        let facts = serde_json::to_value(&c.facts)
            .ok()
            .map(|v| self.inner.masker.mask(&v))
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Classification {
            effects: c.effects.clone(),
            facts,
            summary: self.masked_text(&c.summary),
        }
    }

    fn masked_text(&self, text: &str) -> String {
        match self.inner.masker.mask_owned(Value::String(text.to_owned())) {
            Value::String(s) => s,
            _ => "[withheld: masking unavailable]".into(),
        }
    }

    /// The payload as the audit log keeps it: masked unless the target turns
    /// audit masking off (an unknown target is masked).
    fn audited(&self, action: &Action) -> Value {
        self.audit_form(self.audit_masked(action), action.payload.body_json())
    }

    /// A payload's `body_json` as the audit log keeps it.
    fn audit_form(&self, audit_masked: bool, body: Value) -> Value {
        match audit_masked {
            true => self.inner.masker.mask_owned(body),
            false => body,
        }
    }

    /// Whether policy denies every call of MCP `tool` on `target` by `caller`.
    pub fn tool_always_denied(&self, caller: &Caller, target: &str, tool: &str) -> bool {
        self.inner
            .decider
            .tool_always_denied(&caller.principal, target, tool)
    }

    /// Whether what `target` returns (tool results, rows) is to be masked.
    pub fn results_masked(&self, target: &str) -> bool {
        self.target_masking(target).results
    }

    fn audit_masked(&self, action: &Action) -> bool {
        self.target_masking(&action.target).audit
    }

    /// An unknown target gets the defaults (audit masked).
    fn target_masking(&self, target: &str) -> signoff_core::TargetMasking {
        let directory = self.inner.decider.directory();
        directory
            .target(target)
            .map(|t| t.masking)
            .unwrap_or_default()
    }

    fn event(
        &self,
        kind: AuditKind,
        actor: &Principal,
        action: &Action,
        action_id: Option<Uuid>,
        at: OffsetDateTime,
    ) -> AuditEvent {
        event_with(kind, actor, action, action_id, at, self.audited(action))
    }
}

/// An event about `action`, with its payload as the audit keeps it.
fn event_with(
    kind: AuditKind,
    actor: &Principal,
    action: &Action,
    action_id: Option<Uuid>,
    at: OffsetDateTime,
    payload: Value,
) -> AuditEvent {
    let mut e = AuditEvent::new(kind, actor.text(), timestamp(at));
    e.on_behalf_of = Some(action.on_behalf_of.clone());
    e.target = Some(action.target.clone());
    e.action_id = action_id;
    e.payload = payload;
    e
}

#[cfg(test)]
mod tests;
