//! One action through the gateway: classified, decided, recorded, and held
//! for review when policy asks for one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use signoff_core::approval::NewRequest;
use signoff_core::audit::{decided_details, timestamp};
use signoff_core::{
    Action, ApprovalRequest, ApprovalStatus, AuditEvent, AuditKind, Caller, Decision, Effect,
    Payload, Verdict,
};
use signoff_store::StoreError;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    event_with, metrics, now, AuditTiming, CheckOptions, CheckOutcome, CheckRequest, CheckVerdict,
    DeferredRead, Gateway, GatewayError, GatewayEvent, OnHold,
};

impl Gateway {
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
        // INVARIANT: the annotations go to reviewers only; `evaluate` and the
        // fingerprint see the action and the reason, never them.
        let annotations = req.annotations;
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
                    annotations: annotations
                        .map(|a| self.inner.masker.mask_owned(Arc::unwrap_or_clone(a))),
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
        if let Some(annotations) = &request.annotations {
            created.details["annotations"] = annotations.clone();
        }
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
}

/// The typed payload reviewers see, from the masked JSON already computed for
/// the audit event. If the masked form is not a payload of this kind (a masker
/// that withholds everything), reviewers get nothing rather than the raw payload.
pub(crate) fn masked_payload(kind: signoff_core::ActionKind, masked: &Value) -> Payload {
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
