//! The decision service every front door calls (DESIGN §5).
//!
//! A front door authenticates its caller, builds an [`Action`], and calls
//! [`Gateway::check`]; it never decides (invariant 2). Channels deliver reviews
//! through [`Gateway::review`]. Everything that changes state is written to the
//! audit chain in the same transaction, before the caller hears the answer
//! (invariant 5).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod auth;
mod decider;
pub mod keys;
pub mod mask;
mod metrics;
mod waiters;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use signoff_core::approval::{CancelError, NewRequest};
use signoff_core::audit::{decided_details, timestamp};
use signoff_core::{
    Action, AllowedRead, ApprovalRequest, ApprovalStatus, AuditEvent, AuditKind, Caller,
    Classification, Decision, Effect, Payload, Principal, ReadRecord, ReviewError, Reviewer,
    Verdict,
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
        Gateway {
            inner: Arc::new(Inner {
                decider,
                store,
                masker: mask::masker(&settings.masking),
                settings,
                waiters: waiters::Waiters::default(),
                metrics: Metrics::default(),
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

    /// Classifies, decides and records one action; with `wait`, holds until a
    /// pending request is decided or the wait (capped by `max_hold`) ends.
    pub async fn check(
        &self,
        caller: &Caller,
        req: CheckRequest,
        wait: Option<Duration>,
    ) -> Result<CheckOutcome, GatewayError> {
        let options = CheckOptions {
            wait,
            ..CheckOptions::default()
        };
        self.check_with(caller, req, options).await
    }

    /// [`Gateway::check`] with every option.
    pub async fn check_with(
        &self,
        caller: &Caller,
        req: CheckRequest,
        options: CheckOptions,
    ) -> Result<CheckOutcome, GatewayError> {
        let wait = options.wait;
        let on_hold = options.on_hold;
        let action = Action {
            principal: caller.principal.clone(),
            on_behalf_of: caller.on_behalf_of.clone(),
            target: req.target,
            payload: req.payload,
        };
        let started = Instant::now();
        let at = now();
        let reason = req.reason.unwrap_or_default();
        let eval = self.inner.decider.evaluate(&action, &reason, at);
        self.inner
            .metrics
            .decision_seconds
            .observe(started.elapsed().as_secs_f64());
        let body = action.payload.body_json();
        let fingerprint = action.fingerprint_with_body(&body);
        let action_id = Uuid::now_v7();
        let audit_masked = self.audit_masked(&action);

        let mut decided = event_with(
            AuditKind::ActionDecided,
            &action.principal,
            &action,
            Some(action_id),
            at,
            self.audit_form(audit_masked, body),
        );
        decided.fingerprint = Some(fingerprint.0.clone());
        decided.reason = (!reason.is_empty()).then(|| reason.clone());
        decided.trace_id = req.trace_id.clone();
        let summary = match audit_masked {
            true => self.masked_text(&eval.classification.summary),
            false => eval.classification.summary.clone(),
        };
        let effects = &eval.classification.effects;
        let pure_read = effects.iter().all(|e| *e == Effect::Read);
        let kind = action.kind();

        let deferred;
        let (verdict, approval) = match &eval.decision {
            Decision::Allow { .. } => {
                if options.audit == AuditTiming::ReadsQueued && pure_read {
                    // Typed until the store writer renders it: no JSON map
                    // per read.
                    deferred = Some(Box::new(DeferredRead {
                        event: decided,
                        summary,
                    }));
                } else {
                    deferred = None;
                    decided.details = decided_details(&eval.decision, effects, kind, summary, None);
                    self.inner.store.append(decided).await?;
                }
                (CheckVerdict::Allow, None)
            }
            Decision::Deny { reason, .. } => {
                deferred = None;
                let reason = reason.clone();
                decided.details = decided_details(&eval.decision, effects, kind, summary, None);
                self.inner.store.append(decided).await?;
                (CheckVerdict::Deny { reason }, None)
            }
            Decision::RequireApproval {
                requirement,
                policies,
            } => {
                deferred = None;
                decided.details = decided_details(&eval.decision, effects, kind, summary, None);
                // INVARIANT: reviewers only ever see masked payloads, whatever
                // the target's audit setting.
                let for_reviewers = match audit_masked {
                    true => decided.payload.clone(),
                    false => self.masked(&action.payload),
                };
                let new = NewRequest {
                    id: Uuid::now_v7(),
                    fingerprint: fingerprint.clone(),
                    action: Action {
                        payload: masked_payload(action.kind(), &for_reviewers),
                        ..action.clone()
                    },
                    classification: self.masked_classification(&eval.classification),
                    requirement: requirement.clone(),
                    policies: policies.clone(),
                    reason: (!reason.is_empty()).then(|| reason.clone()),
                };
                let gw = self.clone();
                let (verdict, approval, created) = self
                    .inner
                    .store
                    .write(move |tx| gw.open_or_use_grant(tx, new, decided, at))
                    .await?;
                if created {
                    let _ = self
                        .inner
                        .events
                        .send(GatewayEvent::RequestCreated(Box::new(approval.clone())));
                }
                (verdict, Some(approval))
            }
        };
        self.inner
            .metrics
            .decisions
            .get_or_create(&metrics::OutcomeLabels {
                outcome: match verdict {
                    CheckVerdict::Allow => "allow",
                    CheckVerdict::Deny { .. } => "deny",
                    CheckVerdict::Pending => "pending",
                },
                kind: action.kind().as_str(),
            })
            .inc();
        let mut outcome = CheckOutcome {
            action_id,
            action,
            fingerprint: fingerprint.0,
            classification: eval.classification,
            decision: eval.decision,
            verdict,
            approval,
            deferred,
        };
        if let (CheckVerdict::Pending, Some(wait), Some(approval)) =
            (&outcome.verdict, wait, &outcome.approval)
        {
            let id = approval.id;
            if let Some(OnHold(tell)) = on_hold {
                tell(approval, self.review_url(id));
            }
            let resolved = self.wait_for(id, wait).await?;
            outcome.verdict = match resolved.status {
                ApprovalStatus::Approved => self.consume(caller, &outcome, id).await?,
                ApprovalStatus::Pending => CheckVerdict::Pending,
                other => CheckVerdict::Deny {
                    reason: resolution_reason(&resolved, other),
                },
            };
            outcome.approval = Some(self.approval(id).await?);
        }
        Ok(outcome)
    }

    /// Inside the write transaction: use a live grant for this exact action,
    /// join a pending request for it, or open a new one.
    fn open_or_use_grant(
        &self,
        tx: &mut signoff_store::Tx<'_>,
        new: NewRequest,
        mut decided: AuditEvent,
        at: OffsetDateTime,
    ) -> Result<(CheckVerdict, ApprovalRequest, bool), StoreError> {
        let live = tx.live_approvals_for(&new.fingerprint.0, at)?;
        for mut r in live.iter().cloned() {
            if r.grant.is_some() && r.consume_grant(&new.fingerprint, at).is_ok() {
                tx.put_approval(&r)?;
                decided.approval_id = Some(r.id);
                decided.details["grant"] =
                    json!({ "approval_id": r.id, "uses": r.grant.as_ref().map(|g| g.uses) });
                let mut consumed = decided.clone();
                tx.append(decided)?;
                consumed.kind = AuditKind::GrantConsumed;
                consumed.id = Uuid::now_v7();
                tx.append(consumed)?;
                return Ok((CheckVerdict::Allow, r, false));
            }
        }
        if let Some(pending) = live.into_iter().find(|r| r.status.is_pending()) {
            decided.approval_id = Some(pending.id);
            tx.append(decided)?;
            return Ok((CheckVerdict::Pending, pending, false));
        }
        let request = ApprovalRequest::open(new, at);
        tx.put_approval(&request)?;
        decided.approval_id = Some(request.id);
        let mut created = decided.clone();
        tx.append(decided)?;
        created.kind = AuditKind::RequestCreated;
        created.id = Uuid::now_v7();
        created.details = json!({
            "requirement": request.requirement,
            "policies": request.policies,
            "expires_at": timestamp(request.expires_at),
            "effects": request.classification.effects,
            "summary": request.classification.summary,
        });
        tx.append(created)?;
        Ok((CheckVerdict::Pending, request, true))
    }

    /// After a held caller's request was approved: use its grant now.
    async fn consume(
        &self,
        caller: &Caller,
        outcome: &CheckOutcome,
        id: Uuid,
    ) -> Result<CheckVerdict, GatewayError> {
        let fingerprint = signoff_core::Fingerprint(outcome.fingerprint.clone());
        let mut e = self.event(
            AuditKind::GrantConsumed,
            &caller.principal,
            &outcome.action,
            Some(outcome.action_id),
            now(),
        );
        e.approval_id = Some(id);
        e.fingerprint = Some(outcome.fingerprint.clone());
        let verdict = self
            .inner
            .store
            .write(move |tx| {
                let Some(mut r) = tx.approval(id)? else {
                    return Ok(CheckVerdict::Deny {
                        reason: format!("approval request `{id}` vanished"),
                    });
                };
                match r.consume_grant(&fingerprint, now()) {
                    Ok(()) => {
                        e.details = json!({ "uses": r.grant.as_ref().map(|g| g.uses) });
                        tx.put_approval(&r)?;
                        tx.append(e)?;
                        Ok(CheckVerdict::Allow)
                    }
                    Err(err) => Ok(CheckVerdict::Deny {
                        reason: format!("approved, but the grant cannot be used: {err}; ask again"),
                    }),
                }
            })
            .await?;
        Ok(verdict)
    }

    pub async fn approval(&self, id: Uuid) -> Result<ApprovalRequest, GatewayError> {
        self.inner
            .store
            .read(move |c| signoff_store::read::approval(c, id))
            .await?
            .ok_or(GatewayError::NotFound(id))
    }

    pub async fn approvals(
        &self,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> Result<Vec<ApprovalRequest>, GatewayError> {
        Ok(self
            .inner
            .store
            .read(move |c| signoff_store::read::approvals(c, status, limit))
            .await?)
    }

    /// Waits until the request leaves `pending` or `wait` (capped) passes.
    pub async fn wait_for(
        &self,
        id: Uuid,
        wait: Duration,
    ) -> Result<ApprovalRequest, GatewayError> {
        let mut changes = self.inner.waiters.subscribe(id);
        let deadline = tokio::time::Instant::now() + wait.min(self.inner.settings.max_hold);
        let waiters = &self.inner.metrics.waiters;
        waiters.inc();
        let _gauge = scopeguard(|| {
            waiters.dec();
        });
        loop {
            let r = self.approval(id).await?;
            if !r.status.is_pending() || tokio::time::Instant::now() >= deadline {
                return Ok(r);
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        changes = self.inner.waiters.subscribe(id);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {}
                // Expiry is swept, but a waiter never waits past the request's own end.
                _ = tokio::time::sleep(until(r.expires_at)) => { self.sweep().await?; }
            }
        }
    }

    /// One human's review, through any channel.
    pub async fn review(
        &self,
        caller: &Caller,
        id: Uuid,
        verdict: Verdict,
        comment: String,
        window: Option<Duration>,
    ) -> Result<ApprovalRequest, GatewayError> {
        let reviewer = Reviewer::from(caller);
        let actor = caller.principal.clone();
        // How the reviewer proved who they are is part of the evidence.
        let via = serde_json::to_value(&caller.auth).unwrap_or(Value::Null);
        let gw = self.clone();
        let (result, request) = self
            .inner
            .store
            .write(move |tx| {
                let Some(mut r) = tx.approval(id)? else {
                    return Ok((Err(GatewayError::NotFound(id)), None));
                };
                let at = now();
                if gw.expire(tx, &mut r, at)? {
                    return Ok((
                        Err(
                            ReviewError::Expired(signoff_core::approval::rfc3339(r.expires_at))
                                .into(),
                        ),
                        Some(r),
                    ));
                }
                let mut e = gw.event(AuditKind::ReviewSubmitted, &actor, &r.action, None, at);
                e.approval_id = Some(id);
                e.fingerprint = Some(r.fingerprint.0.clone());
                match r.review(&reviewer, verdict, &comment, window, at) {
                    Ok(out) => {
                        tx.put_approval(&r)?;
                        e.details = json!({
                            "verdict": verdict.as_str(),
                            "comment": comment,
                            "window_secs": window.map(|w| w.as_secs()),
                            "approvals_received": out.approvals_received,
                            "approvals_required": out.approvals_required,
                            "via": via,
                        });
                        tx.append(e)?;
                        if !out.status.is_pending() {
                            gw.append_resolution(tx, &r, Some(&actor), at)?;
                        }
                        Ok((Ok(()), Some(r)))
                    }
                    // INVARIANT: refused reviews (self-approval attempts above all)
                    // are evidence too, so they are recorded, not just rejected.
                    Err(err) => {
                        e.kind = AuditKind::ReviewRefused;
                        e.details =
                            json!({ "verdict": verdict.as_str(), "error": err.to_string(), "via": via });
                        tx.append(e)?;
                        Ok((Err(err.into()), None))
                    }
                }
            })
            .await?;
        let label = match &result {
            Ok(()) => verdict.as_str(),
            Err(_) => "refused",
        };
        self.inner
            .metrics
            .reviews
            .get_or_create(&metrics::VerdictLabels {
                verdict: label.into(),
            })
            .inc();
        if let Some(r) = &request {
            self.inner.waiters.notify(r.id, r.status);
            let event = if r.status.is_pending() {
                GatewayEvent::ReviewSubmitted(Box::new(r.clone()))
            } else {
                GatewayEvent::RequestResolved(Box::new(r.clone()))
            };
            let _ = self.inner.events.send(event);
        }
        result?;
        request.ok_or(GatewayError::NotFound(id))
    }

    /// Withdraws a pending request; only its requester may.
    pub async fn cancel(&self, caller: &Caller, id: Uuid) -> Result<ApprovalRequest, GatewayError> {
        let by = caller.principal.clone();
        let gw = self.clone();
        let r = self
            .inner
            .store
            .write(move |tx| {
                let Some(mut r) = tx.approval(id)? else {
                    return Ok(Err(GatewayError::NotFound(id)));
                };
                let at = now();
                if let Err(e) = r.cancel(&by, at) {
                    return Ok(Err(e.into()));
                }
                tx.put_approval(&r)?;
                gw.append_resolution(tx, &r, Some(&by), at)?;
                Ok(Ok(r))
            })
            .await??;
        self.inner.waiters.notify(id, r.status);
        let _ = self
            .inner
            .events
            .send(GatewayEvent::RequestResolved(Box::new(r.clone())));
        Ok(r)
    }

    /// Records how an action went; only the principal that ran it may report.
    pub async fn report_outcome(
        &self,
        caller: &Caller,
        action_id: Uuid,
        outcome: ExecutionOutcome,
    ) -> Result<Option<Uuid>, GatewayError> {
        let principal = caller.principal.clone();
        let caller = caller.clone();
        let approval_id = self
            .inner
            .store
            .write(move |tx| {
                let origin = signoff_store::read::action_origin(tx.connection(), action_id)?;
                let Some((actor, approval_id)) =
                    origin.filter(|(actor, _)| *actor == principal.to_string())
                else {
                    return Ok(Err(GatewayError::UnknownAction(action_id)));
                };
                let mut e = AuditEvent::new(AuditKind::ActionExecuted, actor, timestamp(now()));
                e.on_behalf_of = Some(caller.on_behalf_of.clone());
                e.action_id = Some(action_id);
                e.approval_id = approval_id;
                e.details = json!({
                    "succeeded": outcome.succeeded,
                    "exit_code": outcome.exit_code,
                    "duration_ms": outcome.duration_ms,
                    "detail": outcome.detail,
                });
                if let Some(id) = approval_id {
                    if let Some(mut r) = tx.approval(id)? {
                        e.target = Some(r.action.target.clone());
                        e.fingerprint = Some(r.fingerprint.0.clone());
                        r.record_outcome(outcome.succeeded);
                        tx.put_approval(&r)?;
                    }
                }
                tx.append(e)?;
                Ok(Ok(approval_id))
            })
            .await??;
        let _ = self.inner.events.send(GatewayEvent::ActionExecuted {
            action_id,
            approval_id,
        });
        Ok(approval_id)
    }

    /// Records how an action a front door ran in process went. Unlike
    /// [`Gateway::report_outcome`] (for remote callers) there is nothing to
    /// verify, so it is queued for the next group commit without waiting.
    pub fn record_outcome(
        &self,
        checked: CheckOutcome,
        outcome: ExecutionOutcome,
    ) -> Result<(), GatewayError> {
        if let Some(deferred) = checked.deferred {
            let policies = match checked.decision {
                Decision::Allow { policies } => policies,
                // INVARIANT: `check_with` defers only allowed reads.
                _ => Vec::new(),
            };
            let read = AllowedRead {
                event: deferred.event,
                policies,
                effects: checked.classification.effects,
                kind: checked.action.kind(),
                summary: deferred.summary,
            };
            self.inner.store.append_read(ReadRecord { read, outcome })?;
            return Ok(());
        }
        let succeeded = outcome.succeeded;
        let report = outcome.into_value();
        let approval_id = checked
            .approval
            .as_ref()
            .filter(|_| checked.verdict == CheckVerdict::Allow)
            .map(|a| a.id);
        let mut e = self.event(
            AuditKind::ActionExecuted,
            &checked.action.principal,
            &checked.action,
            Some(checked.action_id),
            now(),
        );
        e.payload = Value::Null;
        e.approval_id = approval_id;
        e.fingerprint = Some(checked.fingerprint.clone());
        e.details = report;
        match approval_id {
            // Nothing else to update, so a lone append without a savepoint.
            None => self.inner.store.append_detached(e)?,
            Some(id) => self.inner.store.write_detached(move |tx| {
                if let Some(mut r) = tx.approval(id)? {
                    r.record_outcome(succeeded);
                    tx.put_approval(&r)?;
                }
                tx.append(e).map(drop)
            })?,
        }
        let _ = self.inner.events.send(GatewayEvent::ActionExecuted {
            action_id: checked.action_id,
            approval_id,
        });
        Ok(())
    }

    /// Expires every pending request whose time is up. Safe to run anywhere,
    /// any number of times.
    pub async fn sweep(&self) -> Result<usize, GatewayError> {
        let gw = self.clone();
        let expired = self
            .inner
            .store
            .write(move |tx| {
                let at = now();
                let mut expired = Vec::new();
                for mut r in tx.due_for_expiry(at)? {
                    if gw.expire(tx, &mut r, at)? {
                        expired.push(r);
                    }
                }
                Ok(expired)
            })
            .await?;
        for r in &expired {
            self.inner.metrics.expired.inc();
            self.inner.waiters.notify(r.id, r.status);
            let _ = self
                .inner
                .events
                .send(GatewayEvent::RequestResolved(Box::new(r.clone())));
        }
        let pending = self
            .inner
            .store
            .read(signoff_store::read::count_pending)
            .await?;
        self.inner.metrics.pending.set(pending);
        Ok(expired.len())
    }

    fn expire(
        &self,
        tx: &mut signoff_store::Tx<'_>,
        r: &mut ApprovalRequest,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        if !r.expire_if_due(at) {
            return Ok(false);
        }
        tx.put_approval(r)?;
        self.append_resolution(tx, r, None, at)?;
        Ok(true)
    }

    fn append_resolution(
        &self,
        tx: &mut signoff_store::Tx<'_>,
        r: &ApprovalRequest,
        actor: Option<&Principal>,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // `None`: resolved by signoff itself (expiry).
        let actor_name = actor.map_or_else(|| "system".to_owned(), Principal::to_string);
        let mut e = AuditEvent::new(AuditKind::RequestResolved, actor_name, timestamp(at));
        e.on_behalf_of = Some(r.action.on_behalf_of.clone());
        e.target = Some(r.action.target.clone());
        e.approval_id = Some(r.id);
        e.fingerprint = Some(r.fingerprint.0.clone());
        e.details = json!({
            "status": r.status,
            "reviewers": r.reviews.iter().map(|v| json!({"reviewer": v.reviewer, "verdict": v.verdict})).collect::<Vec<_>>(),
            "grant": r.grant,
        });
        tx.append(e)?;
        Ok(())
    }

    /// Runs the expiry sweep forever, every `interval`.
    pub fn spawn_sweeper(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let gw = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = gw.sweep().await {
                    tracing::error!(error = %e, "expiry sweep failed; will retry");
                }
            }
        })
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

/// The typed payload reviewers see, from the masked JSON already computed for
/// the audit event. If the masked form is not a payload of this kind (a masker
/// that withholds everything), reviewers get nothing rather than the raw payload.
fn masked_payload(kind: signoff_core::ActionKind, masked: &Value) -> Payload {
    serde_json::from_value(json!({ "kind": kind, "payload": masked })).unwrap_or_else(|_| {
        Payload::Custom(signoff_core::action::CustomPayload {
            operation: "[payload withheld: masking unavailable]".into(),
            resource: None,
            attributes: Value::Null,
        })
    })
}

fn resolution_reason(r: &ApprovalRequest, status: ApprovalStatus) -> String {
    match status {
        ApprovalStatus::Denied => {
            let by = r.reviews.iter().find(|v| v.verdict == Verdict::Deny);
            match by {
                Some(v) => format!("denied by `{}`: {}", v.reviewer, v.comment),
                None => "denied".into(),
            }
        }
        ApprovalStatus::Expired => format!(
            "the request expired unreviewed at {}",
            signoff_core::approval::rfc3339(r.expires_at)
        ),
        ApprovalStatus::Cancelled => "the request was cancelled".into(),
        other => format!("the request is {other}"),
    }
}

fn until(t: OffsetDateTime) -> Duration {
    let d = t - now();
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs() + Duration::from_millis(5)
    }
}

struct Guard<F: FnMut()>(F);

impl<F: FnMut()> Drop for Guard<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

fn scopeguard<F: FnMut()>(f: F) -> Guard<F> {
    Guard(f)
}

#[cfg(test)]
mod tests;
