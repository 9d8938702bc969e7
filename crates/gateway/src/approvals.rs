//! A pending request's life after the check: waited on, reviewed,
//! cancelled by its requester, or expired by the sweeper.

use std::time::Duration;

use serde_json::{json, Value};
use signoff_core::audit::timestamp;
use signoff_core::{
    ApprovalRequest, ApprovalStatus, AuditEvent, AuditKind, Caller, Principal, ReviewError,
    Reviewer, Verdict,
};
use signoff_store::StoreError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{metrics, now, Gateway, GatewayError, GatewayEvent};

impl Gateway {
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
