use std::path::Path;
use std::time::Duration;

use serde_json::json;
use signoff_config::{demo, Config};
use signoff_core::action::SqlPayload;
use signoff_core::{ApprovalStatus, AuthMethod, Caller, Payload, Principal, Verdict};

use super::*;
use crate::check::masked_payload;

fn gateway(dir: &Path) -> Gateway {
    gateway_with(dir, |_| {})
}

fn gateway_with(dir: &Path, edit: impl FnOnce(&mut Config)) -> Gateway {
    let mut config = Config::embedded(dir.to_path_buf());
    edit(&mut config);
    let decider = Decider::from_config(&config).unwrap();
    let store = Store::open(dir).unwrap();
    Gateway::new(
        decider,
        store,
        GatewaySettings {
            public_url: "http://gw".into(),
            max_hold: Duration::from_secs(30),
            masking: Default::default(),
            key_recheck: Duration::from_secs(30),
        },
        vec![],
    )
}

fn caller(gw: &Gateway, p: &str) -> Caller {
    gw.caller_for(
        p.parse().unwrap(),
        AuthMethod::ApiKey {
            key_id: "test".into(),
        },
    )
    .unwrap()
}

fn agent(gw: &Gateway) -> Caller {
    caller(gw, &format!("agent:{}", demo::AGENT))
}

fn reviewer(gw: &Gateway, n: usize) -> Caller {
    caller(gw, &format!("user:{}", demo::REVIEWERS[n]))
}

/// Checks an action that needs approval and returns its request id.
async fn pending_id(gw: &Gateway, who: &Caller, text: &str) -> Uuid {
    gw.check(who, sql(text), None)
        .await
        .unwrap()
        .approval
        .unwrap()
        .id
}

fn sql(text: &str) -> CheckRequest {
    CheckRequest {
        target: "demo-db".into(),
        payload: Payload::Sql(SqlPayload {
            sql: text.into(),
            params: vec![],
        }),
        reason: Some("cleanup".into()),
        annotations: None,
        trace_id: None,
    }
}

/// Every event in the audit log, oldest first.
async fn audit_events(gw: &Gateway) -> Vec<AuditEvent> {
    gw.store()
        .read(|c| signoff_store::read::events(c, &Default::default()))
        .await
        .unwrap()
}

async fn audit_kinds(gw: &Gateway) -> Vec<String> {
    audit_events(gw)
        .await
        .iter()
        .map(|e| e.kind.to_string())
        .collect()
}

#[tokio::test]
async fn reads_are_allowed_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let out = gw.check(&agent(&gw), sql("SELECT 1"), None).await.unwrap();
    assert_eq!(out.verdict, CheckVerdict::Allow);
    assert_eq!(audit_kinds(&gw).await, vec!["action.decided"]);
    // The decision's group commit was counted before the caller heard back.
    let metrics = gw.metrics().encode();
    assert!(
        metrics.contains("signoff_audit_commit_seconds_count 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signoff_audit_commit_jobs_sum 1.0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_held_caller_wakes_on_approval_and_the_grant_is_used_once() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let held = {
        let (gw, bot) = (gw.clone(), bot.clone());
        tokio::spawn(async move {
            gw.check(
                &bot,
                sql("DELETE FROM orders"),
                Some(Duration::from_secs(20)),
            )
            .await
        })
    };
    // Find the request the held call opened.
    let id = loop {
        let pending = gw
            .approvals(Some(ApprovalStatus::Pending), 10)
            .await
            .unwrap();
        if let Some(r) = pending.first() {
            break r.id;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let reviewer = reviewer(&gw, 0);
    gw.review(&reviewer, id, Verdict::Approve, "ok".into(), None)
        .await
        .unwrap();
    let out = held.await.unwrap().unwrap();
    assert_eq!(out.verdict, CheckVerdict::Allow);
    // The grant was single-use: the identical action asks again.
    let again = gw
        .check(&bot, sql("DELETE FROM orders"), None)
        .await
        .unwrap();
    assert_eq!(again.verdict, CheckVerdict::Pending);
    assert_ne!(again.approval.unwrap().id, id);
}

#[tokio::test]
async fn a_grant_is_consumed_by_the_identical_action_only() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let first = gw
        .check(&bot, sql("DELETE FROM orders"), None)
        .await
        .unwrap();
    let id = first.approval.unwrap().id;
    let reviewer = reviewer(&gw, 0);
    gw.review(&reviewer, id, Verdict::Approve, "".into(), None)
        .await
        .unwrap();
    // A changed byte is a new request.
    let changed = gw
        .check(&bot, sql("DELETE FROM orders "), None)
        .await
        .unwrap();
    assert_eq!(changed.verdict, CheckVerdict::Pending);
    assert_ne!(changed.approval.unwrap().id, id);
    let same = gw
        .check(&bot, sql("DELETE FROM orders"), None)
        .await
        .unwrap();
    assert_eq!(same.verdict, CheckVerdict::Allow);
    assert_eq!(same.approval.unwrap().id, id);
    let kinds = audit_kinds(&gw).await;
    assert!(kinds.contains(&"grant.consumed".to_string()), "{kinds:?}");
}

#[tokio::test]
async fn an_identical_pending_action_joins_the_open_request() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let a = gw
        .check(&bot, sql("DELETE FROM orders"), None)
        .await
        .unwrap();
    let b = gw
        .check(&bot, sql("DELETE FROM orders"), None)
        .await
        .unwrap();
    assert_eq!(a.approval.unwrap().id, b.approval.unwrap().id);
}

#[tokio::test]
async fn self_approval_is_refused_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let id = pending_id(&gw, &bot, "DELETE FROM orders").await;
    let owner = caller(&gw, &format!("user:{}", demo::OPERATOR));
    let err = gw
        .review(&owner, id, Verdict::Approve, "".into(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayError::Review(ReviewError::SelfApproval { .. })),
        "{err}"
    );
    let err = gw
        .review(&bot, id, Verdict::Approve, "".into(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayError::Review(ReviewError::AgentCannotReview(_))),
        "{err}"
    );
    assert_eq!(
        gw.approval(id).await.unwrap().status,
        ApprovalStatus::Pending
    );
    let refused = audit_kinds(&gw)
        .await
        .iter()
        .filter(|k| *k == "review.refused")
        .count();
    assert_eq!(refused, 2);
}

#[tokio::test]
async fn a_deny_wakes_the_waiter_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let id = pending_id(&gw, &bot, "TRUNCATE orders").await;
    let waiter = {
        let gw = gw.clone();
        tokio::spawn(async move { gw.wait_for(id, Duration::from_secs(20)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let reviewer = reviewer(&gw, 1);
    gw.review(
        &reviewer,
        id,
        Verdict::Deny,
        "not in business hours".into(),
        None,
    )
    .await
    .unwrap();
    let r = waiter.await.unwrap().unwrap();
    assert_eq!(r.status, ApprovalStatus::Denied);
}

#[tokio::test]
async fn the_sweep_expires_requests_nobody_polls() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let id = pending_id(&gw, &bot, "DELETE FROM orders").await;
    // Backdate the request so it is due.
    gw.store()
        .write(move |tx| {
            let mut r = tx.approval(id)?.unwrap();
            r.expires_at = OffsetDateTime::now_utc() - Duration::from_secs(1);
            tx.put_approval(&r)
        })
        .await
        .unwrap();
    assert_eq!(gw.sweep().await.unwrap(), 1);
    assert_eq!(
        gw.approval(id).await.unwrap().status,
        ApprovalStatus::Expired
    );
    assert_eq!(gw.sweep().await.unwrap(), 0, "sweeping twice is harmless");
}

#[tokio::test]
async fn pending_requests_and_grants_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (pending_id, approved_id) = {
        let gw = gateway(dir.path());
        let bot = agent(&gw);
        let p = pending_id(&gw, &bot, "DELETE FROM a").await;
        let a = pending_id(&gw, &bot, "DELETE FROM b").await;
        let reviewer = reviewer(&gw, 0);
        gw.review(&reviewer, a, Verdict::Approve, "".into(), None)
            .await
            .unwrap();
        gw.store().shutdown();
        (p, a)
    };
    let gw = gateway(dir.path());
    assert_eq!(
        gw.approval(pending_id).await.unwrap().status,
        ApprovalStatus::Pending
    );
    let out = gw
        .check(&agent(&gw), sql("DELETE FROM b"), None)
        .await
        .unwrap();
    assert_eq!(out.verdict, CheckVerdict::Allow);
    assert_eq!(out.approval.unwrap().id, approved_id);
    let report = gw
        .store()
        .read_blocking(|c| signoff_store::verify(c, None, |_| {}))
        .unwrap();
    assert!(report.ok(), "{report:?}");
}

#[tokio::test]
async fn outcomes_are_reported_only_by_the_actor() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let out = gw.check(&bot, sql("SELECT 1"), None).await.unwrap();
    let other = reviewer(&gw, 0);
    let outcome = ExecutionOutcome {
        succeeded: true,
        exit_code: Some(0),
        duration_ms: Some(3),
        detail: None,
    };
    assert!(matches!(
        gw.report_outcome(&other, out.action_id, outcome.clone())
            .await,
        Err(GatewayError::UnknownAction(_))
    ));
    gw.report_outcome(&bot, out.action_id, outcome)
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_principals_cannot_authenticate() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let (key, _) = create_key(gw.store(), &Principal::Agent("ghost".into()), None)
        .await
        .unwrap();
    let err = gw
        .authenticate(Some(&format!("Bearer {key}")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ghost"), "{err}");
    let (key, _) = create_key(gw.store(), &Principal::Agent(demo::AGENT.into()), None)
        .await
        .unwrap();
    let c = gw
        .authenticate(Some(&format!("Bearer {key}")))
        .await
        .unwrap();
    assert_eq!(c.on_behalf_of, demo::OPERATOR);
    assert!(gw.authenticate(Some("Bearer so_wrong")).await.is_err());
    assert!(gw.authenticate(None).await.is_err());
}

#[tokio::test]
async fn revoked_keys_stop_working_in_running_gateways() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    // A second gateway on the same store that trusts nothing it cached.
    let config = Config::embedded(dir.path().to_path_buf());
    let replica = Gateway::new(
        Decider::from_config(&config).unwrap(),
        gw.store().clone(),
        GatewaySettings {
            key_recheck: Duration::ZERO,
            ..gw.settings().clone()
        },
        vec![],
    );
    let agent = Principal::Agent(demo::AGENT.into());
    let (first, first_id) = create_key(gw.store(), &agent, None).await.unwrap();
    let (second, second_id) = create_key(gw.store(), &agent, None).await.unwrap();
    let bearer = |k: &str| format!("Bearer {k}");
    for g in [&gw, &replica] {
        for k in [&first, &second] {
            g.authenticate(Some(&bearer(k))).await.unwrap();
        }
    }

    // Revoked offline (as `signoff keys revoke` does): the replica asks again.
    let revoked = revoke_key(gw.store(), &first_id).await.unwrap();
    assert_eq!(revoked.as_deref(), Some("agent:demo-agent"));
    let err = replica
        .authenticate(Some(&bearer(&first)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid"), "{err}");
    assert_eq!(revoke_key(gw.store(), &first_id).await.unwrap(), None);

    // Revoked through a gateway: that gateway refuses at once despite its cache.
    gw.revoke_key(&second_id).await.unwrap().unwrap();
    assert!(gw.authenticate(Some(&bearer(&second))).await.is_err());
    assert!(replica.authenticate(Some(&bearer(&second))).await.is_err());

    let listed = list_keys(gw.store()).await.unwrap();
    assert!(listed
        .iter()
        .filter(|k| k.key_id == first_id || k.key_id == second_id)
        .all(|k| k.revoked_at.is_some()));
    let revocations = gw
        .store()
        .read(|c| {
            signoff_store::read::events(
                c,
                &signoff_store::AuditFilter {
                    kind: Some(AuditKind::KeyRevoked),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
    assert_eq!(revocations.len(), 2);
    assert!(revocations
        .iter()
        .all(|e| e.details["principal"] == "agent:demo-agent"));
}

#[tokio::test]
async fn reviewers_and_the_audit_see_masked_payloads_but_grants_bind_the_real_one() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let q = "UPDATE users SET password = 'hunter2hunter2' WHERE email = 'alice@example.com'";
    let out = gw.check(&bot, sql(q), None).await.unwrap();
    let request = out.approval.unwrap();
    let shown = request.action.payload.body_json().to_string();
    assert!(
        !shown.contains("alice@example.com") && !shown.contains("hunter2hunter2"),
        "{shown}"
    );
    assert!(shown.contains("[EMAIL]"), "{shown}");
    let events = audit_events(&gw).await;
    for e in &events {
        let text = e.payload.to_string();
        assert!(
            !text.contains("alice@example.com") && !text.contains("hunter2hunter2"),
            "{text}"
        );
    }
    let reviewer = reviewer(&gw, 0);
    gw.review(&reviewer, request.id, Verdict::Approve, "".into(), None)
        .await
        .unwrap();
    // Same masked form, different secret: a different action, so no grant.
    let other = gw
        .check(
            &bot,
            sql(&q.replace("hunter2hunter2", "other-secret-1")),
            None,
        )
        .await
        .unwrap();
    assert_eq!(other.verdict, CheckVerdict::Pending);
    let same = gw.check(&bot, sql(q), None).await.unwrap();
    assert_eq!(same.verdict, CheckVerdict::Allow);
}

#[tokio::test]
async fn a_target_can_keep_raw_payloads_in_the_audit_but_reviewers_still_see_them_masked() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway_with(dir.path(), |config| {
        for t in &mut config.directory.targets {
            t.masking.audit = false;
        }
    });
    let q = "DELETE FROM users WHERE email = 'alice@example.com'";
    let out = gw.check(&agent(&gw), sql(q), None).await.unwrap();
    let shown = out.approval.unwrap().action.payload.body_json().to_string();
    assert!(!shown.contains("alice@example.com"), "{shown}");
    let events = audit_events(&gw).await;
    let audited: Vec<String> = events.iter().map(|e| e.payload.to_string()).collect();
    assert!(
        audited.iter().any(|p| p.contains("alice@example.com")),
        "{audited:?}"
    );
    let stored = gw
        .store()
        .read(|c| signoff_store::read::approvals(c, None, 100))
        .await
        .unwrap();
    for a in stored {
        let text = a.action.payload.body_json().to_string();
        assert!(!text.contains("alice@example.com"), "{text}");
    }
}

#[test]
fn a_masker_that_withholds_never_lets_the_raw_payload_through() {
    let masked = mask::Masker::mask(
        &mask::WithholdAll,
        &serde_json::json!({"sql": "SELECT 'secret'"}),
    );
    let shown = masked_payload(signoff_core::ActionKind::Sql, &masked);
    assert!(
        !serde_json::to_string(&shown).unwrap().contains("secret"),
        "{shown:?}"
    );
}

/// A target's claims about an action (an MCP tool's annotations) reach the
/// request reviewers read and its audit event, masked, and nothing else: the
/// decision and the fingerprint are the same with them or without.
#[tokio::test]
async fn annotations_are_shown_to_reviewers_and_never_decide() {
    let dir = tempfile::tempdir().unwrap();
    let gw = gateway(dir.path());
    let bot = agent(&gw);
    let plain = gw
        .check(&bot, sql("DELETE FROM orders"), None)
        .await
        .unwrap();
    let claimed = CheckRequest {
        annotations: Some(Arc::new(json!({
            "readOnlyHint": true,
            "title": "harmless, ask alice@example.com",
        }))),
        ..sql("DELETE FROM orders")
    };
    let with = gw.check(&bot, claimed, None).await.unwrap();
    // A read-only claim lets nothing through: the same decision, the same
    // action (one pending request, joined), the same fingerprint.
    assert_eq!(with.verdict, plain.verdict);
    assert_eq!(with.verdict, CheckVerdict::Pending);
    assert_eq!(with.fingerprint, plain.fingerprint);
    let (first, second) = (plain.approval.unwrap(), with.approval.unwrap());
    assert_eq!(first.id, second.id);

    // A new request carries the claim, masked, for reviewers and the audit.
    let other = CheckRequest {
        annotations: Some(Arc::new(
            json!({ "destructiveHint": true, "title": "ask alice@example.com" }),
        )),
        ..sql("DELETE FROM customers")
    };
    let r = gw.check(&bot, other, None).await.unwrap().approval.unwrap();
    let said = r.annotations.clone().unwrap();
    assert_eq!(said["destructiveHint"], true);
    let title = said["title"].as_str().unwrap();
    assert!(!title.contains("alice@example.com"), "{title}");
    let stored = gw.approval(r.id).await.unwrap();
    assert_eq!(stored.annotations, Some(said.clone()));
    let created = audit_events(&gw)
        .await
        .into_iter()
        .find(|e| e.kind == AuditKind::RequestCreated && e.approval_id == Some(r.id))
        .unwrap();
    assert_eq!(created.details["annotations"], said);
}
