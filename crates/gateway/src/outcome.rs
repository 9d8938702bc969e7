//! How an action went, once a front door has run it (invariant 5: after
//! the effect).

use serde_json::{json, Value};
use signoff_core::audit::timestamp;
use signoff_core::{AllowedRead, AuditEvent, AuditKind, Caller, Decision, ReadRecord};
use uuid::Uuid;

use crate::{
    now, CheckOutcome, CheckVerdict, ExecutionOutcome, Gateway, GatewayError, GatewayEvent,
};

impl Gateway {
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
}
