//! Invariants 3 and 4 of DESIGN.md. Each test fails if its rule is removed.

use super::*;
use crate::action::{Payload, SqlPayload};
use std::time::Duration;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

fn request(approvals: u32, groups: &[&str], max_window: Option<Duration>) -> ApprovalRequest {
    let payload = Payload::Sql(SqlPayload {
        sql: "DELETE FROM orders".into(),
        params: vec![],
    });
    let requirement = ApprovalRequirement {
        approvals,
        reviewer_groups: groups.iter().map(|g| g.to_string()).collect(),
        max_window,
        ..crate::testing::one_approval()
    };
    crate::testing::pending(payload, requirement, None, T0)
}

fn user(name: &str, groups: &[&str]) -> Reviewer {
    Reviewer {
        principal: Principal::User(name.into()),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn approve(r: &mut ApprovalRequest, who: &Reviewer) -> Result<ReviewOutcome, ReviewError> {
    r.review(who, Verdict::Approve, "", None, T0)
}

#[test]
fn one_approval_from_a_reviewer_approves_and_issues_a_bound_grant() {
    let mut r = request(1, &["reviewers"], None);
    let out = approve(&mut r, &user("rita", &["reviewers"])).unwrap();
    assert_eq!(out.status, ApprovalStatus::Approved);
    let grant = r.grant.clone().unwrap();
    assert_eq!(grant.fingerprint, r.fingerprint);
    assert_eq!(grant.mode, GrantMode::Once);
}

#[test]
fn grant_is_bound_to_the_fingerprint() {
    let mut r = request(1, &[], None);
    approve(&mut r, &user("rita", &[])).unwrap();
    let other = Fingerprint("0".repeat(64));
    assert_eq!(
        r.consume_grant(&other, T0),
        Err(GrantError::FingerprintMismatch)
    );
    let fp = r.fingerprint.clone();
    assert_eq!(r.consume_grant(&fp, T0), Ok(()));
}

#[test]
fn grant_is_single_use_by_default() {
    let mut r = request(1, &[], None);
    approve(&mut r, &user("rita", &[])).unwrap();
    let fp = r.fingerprint.clone();
    r.consume_grant(&fp, T0).unwrap();
    assert_eq!(r.consume_grant(&fp, T0), Err(GrantError::Used));
}

#[test]
fn grant_expires() {
    let mut r = request(1, &[], None);
    approve(&mut r, &user("rita", &[])).unwrap();
    let fp = r.fingerprint.clone();
    let late = T0 + Duration::from_secs(3601);
    assert!(matches!(
        r.consume_grant(&fp, late),
        Err(GrantError::Expired(_))
    ));
}

#[test]
fn a_window_allows_reuse_until_it_ends() {
    let mut r = request(1, &[], Some(Duration::from_secs(1800)));
    r.review(
        &user("rita", &[]),
        Verdict::Approve,
        "ok",
        Some(Duration::from_secs(600)),
        T0,
    )
    .unwrap();
    let fp = r.fingerprint.clone();
    for _ in 0..3 {
        r.consume_grant(&fp, T0 + Duration::from_secs(10)).unwrap();
    }
    r.record_outcome(true);
    r.consume_grant(&fp, T0 + Duration::from_secs(20)).unwrap();
    assert!(r.consume_grant(&fp, T0 + Duration::from_secs(601)).is_err());
}

#[test]
fn a_window_needs_policy_permission_and_stays_within_it() {
    let mut r = request(1, &[], None);
    let w = Some(Duration::from_secs(60));
    assert_eq!(
        r.review(&user("rita", &[]), Verdict::Approve, "", w, T0),
        Err(ReviewError::WindowNotPermitted)
    );
    let mut r = request(1, &[], Some(Duration::from_secs(60)));
    let too_long = Some(Duration::from_secs(61));
    assert!(matches!(
        r.review(&user("rita", &[]), Verdict::Approve, "", too_long, T0),
        Err(ReviewError::WindowTooLong { .. })
    ));
    assert!(r.reviews.is_empty(), "a refused review leaves no trace");
}

#[test]
fn the_requesting_agent_cannot_review() {
    let mut r = request(1, &[], None);
    let bot = Reviewer {
        principal: Principal::Agent("bot".into()),
        groups: ["reviewers".to_string()].into(),
    };
    assert!(matches!(
        approve(&mut r, &bot),
        Err(ReviewError::AgentCannotReview(_))
    ));
}

#[test]
fn no_agent_reviews_even_in_a_reviewer_group() {
    let mut r = request(1, &["reviewers"], None);
    let other_bot = Reviewer {
        principal: Principal::Agent("helper".into()),
        groups: ["reviewers".to_string()].into(),
    };
    assert!(matches!(
        approve(&mut r, &other_bot),
        Err(ReviewError::AgentCannotReview(_))
    ));
    assert_eq!(r.status, ApprovalStatus::Pending);
}

#[test]
fn the_on_behalf_of_human_cannot_approve_even_as_a_reviewer() {
    let mut r = request(1, &["reviewers"], None);
    let owner = user("olivia", &["reviewers", "admins"]);
    assert!(matches!(
        approve(&mut r, &owner),
        Err(ReviewError::SelfApproval { .. })
    ));
    assert_eq!(r.status, ApprovalStatus::Pending);
}

#[test]
fn a_human_requester_cannot_approve_their_own_request() {
    let mut r = request(1, &[], None);
    r.action.principal = Principal::User("uma".into());
    r.action.on_behalf_of = "uma".into();
    assert!(matches!(
        approve(&mut r, &user("uma", &[])),
        Err(ReviewError::SelfApproval { .. })
    ));
}

#[test]
fn reviewers_must_be_in_a_reviewer_group() {
    let mut r = request(1, &["dba"], None);
    assert!(matches!(
        approve(&mut r, &user("sam", &["sre"])),
        Err(ReviewError::NotAReviewer { .. })
    ));
    approve(&mut r, &user("dana", &["dba"])).unwrap();
}

#[test]
fn one_human_counts_once_whatever_their_groups() {
    let mut r = request(2, &["sre", "dba"], None);
    let both = user("pat", &["sre", "dba"]);
    let out = approve(&mut r, &both).unwrap();
    assert_eq!(out.approvals_received, 1);
    assert_eq!(out.status, ApprovalStatus::Pending);
    assert!(matches!(
        approve(&mut r, &both),
        Err(ReviewError::AlreadyReviewed(_))
    ));
    assert_eq!(r.status, ApprovalStatus::Pending);
    let out = approve(&mut r, &user("quinn", &["dba"])).unwrap();
    assert_eq!(out.status, ApprovalStatus::Approved);
}

#[test]
fn a_reviewer_reviews_once_even_to_change_their_mind() {
    let mut r = request(2, &[], None);
    approve(&mut r, &user("rita", &[])).unwrap();
    let again = r.review(
        &user("rita", &[]),
        Verdict::Deny,
        "changed my mind",
        None,
        T0,
    );
    assert!(matches!(again, Err(ReviewError::AlreadyReviewed(_))));
}

#[test]
fn any_deny_denies() {
    let mut r = request(3, &[], None);
    approve(&mut r, &user("a", &[])).unwrap();
    approve(&mut r, &user("b", &[])).unwrap();
    let out = r
        .review(&user("c", &[]), Verdict::Deny, "not today", None, T0)
        .unwrap();
    assert_eq!(out.status, ApprovalStatus::Denied);
    assert!(r.grant.is_none());
    let fp = r.fingerprint.clone();
    assert!(r.consume_grant(&fp, T0).is_err());
}

#[test]
fn a_deny_needs_a_comment() {
    let mut r = request(1, &[], None);
    assert_eq!(
        r.review(&user("a", &[]), Verdict::Deny, "  ", None, T0),
        Err(ReviewError::DenyNeedsComment)
    );
}

#[test]
fn pending_requests_expire_and_then_cannot_be_reviewed() {
    let mut r = request(1, &[], None);
    let late = T0 + Duration::from_secs(3600);
    assert!(matches!(
        r.review(&user("a", &[]), Verdict::Approve, "", None, late),
        Err(ReviewError::Expired(_))
    ));
    assert!(r.expire_if_due(late));
    assert_eq!(r.status, ApprovalStatus::Expired);
    assert!(matches!(
        approve(&mut r, &user("a", &[])),
        Err(ReviewError::NotPending(_))
    ));
}

#[test]
fn resolved_requests_cannot_be_reviewed() {
    let mut r = request(1, &[], None);
    approve(&mut r, &user("a", &[])).unwrap();
    assert!(matches!(
        approve(&mut r, &user("b", &[])),
        Err(ReviewError::NotPending(_))
    ));
}

#[test]
fn only_the_requester_cancels() {
    let mut r = request(1, &[], None);
    assert!(r.cancel(&Principal::User("mallory".into()), T0).is_err());
    r.cancel(&Principal::Agent("bot".into()), T0).unwrap();
    assert_eq!(r.status, ApprovalStatus::Cancelled);
}

#[test]
fn outcome_moves_approved_to_executed_or_failed_once() {
    let mut r = request(1, &[], None);
    approve(&mut r, &user("a", &[])).unwrap();
    r.record_outcome(false);
    assert_eq!(r.status, ApprovalStatus::Failed);
    r.record_outcome(true);
    assert_eq!(r.status, ApprovalStatus::Failed);
}

#[test]
fn annotations_read_as_one_line_and_old_requests_have_none() {
    let mut r = request(1, &[], None);
    assert_eq!(r.annotations_line(), None);
    r.annotations = Some(serde_json::json!({ "destructiveHint": true, "title": "Delete a repo" }));
    assert_eq!(
        r.annotations_line().as_deref(),
        Some("destructiveHint: true, title: Delete a repo")
    );
    assert_eq!(annotations_line(&serde_json::json!({})), None);
    assert_eq!(annotations_line(&serde_json::json!("destructive")), None);
    // A request stored before annotations existed still reads.
    let stored = serde_json::to_value(request(1, &[], None)).unwrap();
    assert!(stored.get("annotations").is_none(), "{stored}");
    let back: ApprovalRequest = serde_json::from_value(stored).unwrap();
    assert_eq!(back.annotations, None);
}
