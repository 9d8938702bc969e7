use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use signoff_core::{AgentEntry, Decision, Directory, Payload, TargetEntry, UserEntry};
use time::macros::datetime;

use super::*;

fn directory() -> Directory {
    Directory {
        users: vec![
            UserEntry {
                id: "olivia".into(),
                groups: BTreeSet::new(),
            },
            UserEntry {
                id: "rita".into(),
                groups: ["reviewers".to_string()].into(),
            },
        ],
        agents: vec![AgentEntry {
            name: "bot".into(),
            owner: "olivia".into(),
            groups: BTreeSet::new(),
        }],
        targets: vec![
            TargetEntry {
                name: "prod-db".into(),
                kind: "postgres".into(),
                labels: BTreeMap::from([("env".into(), "prod".into())]),
                masking: Default::default(),
            },
            TargetEntry {
                name: "dev-db".into(),
                kind: "postgres".into(),
                labels: BTreeMap::from([("env".into(), "dev".into())]),
                masking: Default::default(),
            },
            TargetEntry {
                name: "shell".into(),
                kind: "shell".into(),
                labels: BTreeMap::new(),
                masking: Default::default(),
            },
        ],
    }
}

fn engine(extra: &[(&str, &str)]) -> Result<PolicyEngine, PolicyError> {
    let mut sources = PolicySource::starter();
    sources.extend(extra.iter().map(|(n, t)| PolicySource {
        name: n.to_string(),
        text: t.to_string(),
    }));
    PolicyEngine::load(&sources, &directory(), ApprovalDefaults::default())
}

fn decide(e: &PolicyEngine, target: &str, kind: ActionKind, text: &str) -> Decision {
    let payload = Payload::from_text(kind, text).unwrap();
    let c = signoff_classify::classify(&payload);
    e.decide(&DecisionRequest {
        principal: &Principal::Agent("bot".into()),
        on_behalf_of: "olivia",
        target,
        kind,
        classification: &c,
        reason: "",
        now: datetime!(2026-01-05 10:00 UTC),
    })
}

fn approvals(d: &Decision) -> Option<u32> {
    match d {
        Decision::RequireApproval { requirement, .. } => Some(requirement.approvals),
        _ => None,
    }
}

#[test]
fn quickstart_outcomes() {
    let e = engine(&[]).unwrap();
    let cases: &[(ActionKind, &str, &str)] = &[
        (ActionKind::Sql, "SELECT * FROM orders", "allow"),
        (ActionKind::Sql, "BEGIN", "allow"),
        (ActionKind::Sql, "DELETE FROM orders", "require_approval"),
        (
            ActionKind::Sql,
            "INSERT INTO t VALUES (1)",
            "require_approval",
        ),
        (ActionKind::Sql, "DROP DATABASE prod", "deny"),
        (ActionKind::Sql, "SELEC oops", "require_approval"),
        (ActionKind::Exec, "ls -la", "allow"),
        (
            ActionKind::Exec,
            "kubectl delete ns payments",
            "require_approval",
        ),
        (ActionKind::Exec, "echo $(id)", "require_approval"),
        (ActionKind::Http, "GET /v1/things", "allow"),
        (ActionKind::Http, "DELETE /v1/things/1", "require_approval"),
    ];
    for (kind, text, want) in cases {
        let d = decide(&e, "prod-db", *kind, text);
        assert_eq!(d.outcome(), *want, "{kind} `{text}`: {d:?}");
    }
    assert_eq!(
        approvals(&decide(
            &e,
            "prod-db",
            ActionKind::Sql,
            "GRANT ALL ON t TO x"
        )),
        Some(2)
    );
    assert_eq!(
        approvals(&decide(&e, "prod-db", ActionKind::Sql, "DELETE FROM t")),
        Some(1)
    );
}

#[test]
fn forbid_reason_is_the_deny_message() {
    let e = engine(&[]).unwrap();
    match decide(
        &e,
        "prod-db",
        ActionKind::Sql,
        "SELECT 1; DROP DATABASE prod",
    ) {
        Decision::Deny { reason, policies } => {
            assert!(reason.contains("DROP DATABASE is forbidden"), "{reason}");
            assert_eq!(policies, vec!["no-drop-database"]);
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn nothing_matching_denies() {
    let sources = [PolicySource {
        name: "only.cedar".into(),
        text: r#"permit(principal, action == Action::"exec", resource);"#.into(),
    }];
    let e = PolicyEngine::load(&sources, &directory(), ApprovalDefaults::default()).unwrap();
    match decide(&e, "prod-db", ActionKind::Sql, "SELECT 1") {
        Decision::Deny { reason, .. } => assert!(reason.contains("no policy permits"), "{reason}"),
        d => panic!("{d:?}"),
    }
}

#[test]
fn unknown_targets_are_denied() {
    let e = engine(&[]).unwrap();
    assert_eq!(
        decide(&e, "nope", ActionKind::Sql, "SELECT 1").outcome(),
        "deny"
    );
}

#[test]
fn strictest_approval_wins_and_labels_are_tags() {
    let prod = r#"
@id("prod-deletes")
@approvals("3") @reviewers("dba") @ttl("10m")
permit (principal, action == Action::"sql", resource)
when { resource.hasTag("env") && resource.getTag("env") == "prod" && context.effects.contains("unbounded_write") };
"#;
    let e = engine(&[("prod.cedar", prod)]).unwrap();
    match decide(&e, "prod-db", ActionKind::Sql, "DELETE FROM orders") {
        Decision::RequireApproval {
            requirement,
            policies,
        } => {
            assert_eq!(requirement.approvals, 3);
            assert_eq!(requirement.reviewer_groups, vec!["dba"]);
            assert_eq!(requirement.ttl, Duration::from_secs(600));
            assert_eq!(
                requirement.max_window, None,
                "one policy without a window means none"
            );
            assert_eq!(policies, vec!["changes-need-approval", "prod-deletes"]);
        }
        d => panic!("{d:?}"),
    }
    assert_eq!(
        approvals(&decide(&e, "dev-db", ActionKind::Sql, "DELETE FROM orders")),
        Some(1)
    );
}

#[test]
fn a_plain_permit_beats_an_approval_permit_but_not_for_unknown() {
    let allow_all = r#"@id("dev-anything") permit (principal, action, resource) when { resource.hasTag("env") && resource.getTag("env") == "dev" };"#;
    let e = engine(&[("dev.cedar", allow_all)]).unwrap();
    assert_eq!(
        decide(&e, "dev-db", ActionKind::Sql, "DELETE FROM orders").outcome(),
        "allow"
    );
    // INVARIANT: unknown stays sensitive unless a policy says @allow_unknown.
    assert_eq!(
        decide(&e, "dev-db", ActionKind::Sql, "DELEET x").outcome(),
        "require_approval"
    );
    let opt_in = r#"@id("dev-anything") @allow_unknown("true") permit (principal, action, resource) when { resource.hasTag("env") && resource.getTag("env") == "dev" };"#;
    let e = engine(&[("dev.cedar", opt_in)]).unwrap();
    assert_eq!(
        decide(&e, "dev-db", ActionKind::Sql, "DELEET x").outcome(),
        "allow"
    );
}

#[test]
fn unknown_without_any_permit_still_needs_approval_from_defaults() {
    let only_plain = [PolicySource {
        name: "p.cedar".into(),
        text: r#"permit(principal, action, resource);"#.into(),
    }];
    let e = PolicyEngine::load(&only_plain, &directory(), ApprovalDefaults::default()).unwrap();
    match decide(&e, "shell", ActionKind::Exec, "echo `id`") {
        Decision::RequireApproval { requirement, .. } => {
            assert_eq!(requirement.reviewer_groups, vec!["reviewers"])
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn group_membership_and_owner_are_visible_to_policy() {
    let p = r#"@id("owner-olivia") permit (principal is Agent, action == Action::"custom", resource) when { principal.owner == User::"olivia" && context.on_behalf_of == User::"olivia" };"#;
    let e = engine(&[("o.cedar", p)]).unwrap();
    assert_eq!(
        decide(&e, "shell", ActionKind::Custom, r#"{"operation":"x"}"#).outcome(),
        "allow"
    );
}

fn located(r: Result<PolicyEngine, PolicyError>) -> (String, usize, usize, String) {
    match r {
        Err(PolicyError::Syntax { at, message }) | Err(PolicyError::Annotation { at, message }) => {
            (at.file, at.line, at.column, message)
        }
        Err(e) => panic!("unlocated error: {e}"),
        Ok(_) => panic!("loaded"),
    }
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    let (file, line, col, msg) = located(engine(&[(
        "bad.cedar",
        "// ok\npermit (principal, action, resource)\nwhen { context.effects.contains( };",
    )]));
    assert_eq!(file, "bad.cedar");
    assert_eq!(line, 3, "{msg}");
    assert!(col > 1, "{msg}");
}

#[test]
fn validation_errors_name_file_line_and_column() {
    let text = "@id(\"typo\")\npermit (principal, action == Action::\"sql\", resource)\nwhen { context.sql.tabels.contains(\"x\") };";
    let (file, line, _col, msg) = located(engine(&[("typo.cedar", text)]));
    assert_eq!(file, "typo.cedar");
    assert_eq!(line, 3, "{msg}");
    assert!(msg.contains("tabels"), "{msg}");
}

#[test]
fn annotation_errors_name_file_line_and_column() {
    let cases = [
        ("@approvals(\"many\")", "whole number"),
        ("@ttl(\"soon\")", "duration"),
        ("@approvls(\"2\")", "unknown annotation"),
        ("@approval(\"maybe\")", "not understood"),
        ("@reviewers(\" , \")", "names no group"),
    ];
    for (ann, want) in cases {
        let text = format!("// header\n\n{ann}\npermit (principal, action, resource);");
        let (_, line, col, msg) = located(engine(&[("a.cedar", &text)]));
        assert_eq!((line, col), (3, 1), "{ann}: {msg}");
        assert!(msg.contains(want), "{ann}: {msg}");
    }
}

#[test]
fn duplicate_ids_are_refused() {
    let p = r#"@id("reads-allowed") permit (principal, action, resource);"#;
    assert!(matches!(
        engine(&[("dup.cedar", p)]),
        Err(PolicyError::DuplicateId { .. })
    ));
}

#[test]
fn the_published_schema_parses() {
    schema().unwrap();
}

#[test]
fn slicing_and_memoizing_never_change_a_decision() {
    use crate::testdata::{directory, hundred_policies};
    let e = PolicyEngine::load(
        &hundred_policies(),
        &directory(),
        ApprovalDefaults::default(),
    )
    .unwrap();
    let payloads: &[(ActionKind, &str)] = &[
        (ActionKind::Sql, "SELECT * FROM reporting_3"),
        (ActionKind::Sql, "DELETE FROM payments_0"),
        (ActionKind::Sql, "DELETE FROM ledger_6 WHERE id = 1"),
        (ActionKind::Sql, "GRANT ALL ON t TO x"),
        (ActionKind::Sql, "DROP DATABASE prod"),
        (ActionKind::Sql, "SELEC oops"),
        (ActionKind::Exec, "terraform destroy-1"),
        (ActionKind::Exec, "ls -la"),
        (ActionKind::Exec, "rm -rf /"),
        (ActionKind::Http, "DELETE /api/v1/namespaces/ns-4/pods/x"),
        (ActionKind::Http, "GET /api/v1/namespaces/ns-10/pods"),
        (
            ActionKind::McpTool,
            r#"{"server":"s","tool":"drop_5","arguments":{}}"#,
        ),
        (
            ActionKind::McpTool,
            r#"{"server":"s","tool":"read","arguments":{"a":1}}"#,
        ),
        (ActionKind::Custom, r#"{"operation":"refund"}"#),
    ];
    let mut principals: Vec<Principal> =
        (0..20).map(|i| Principal::User(format!("u{i}"))).collect();
    principals.push(Principal::Agent("bot".into()));
    principals.push(Principal::Agent("stranger".into()));
    let mut compared = 0;
    for hour in [3, 12] {
        let now = datetime!(2026-01-05 00:00 UTC) + Duration::from_secs(hour * 3600);
        for p in &principals {
            for t in 0..12 {
                for (kind, text) in payloads {
                    let c = signoff_classify::classify(&Payload::from_text(*kind, text).unwrap());
                    let target = format!("t{t}");
                    let req = DecisionRequest {
                        principal: p,
                        on_behalf_of: "u1",
                        target: &target,
                        kind: *kind,
                        classification: &c,
                        reason: "",
                        now,
                    };
                    let full = e.decide_unsliced(&req);
                    assert_eq!(
                        e.decide(&req),
                        full,
                        "{p} {kind} `{text}` on {target} at {hour}h"
                    );
                    // The payload text identifies its classification. At 12h
                    // the memo holds every 3h decision: slices with the
                    // `hours-*` policies must not reuse them.
                    let memo_key = format!("{kind}:{text}");
                    assert_eq!(
                        e.decide_memoized(&req, &memo_key),
                        full,
                        "memoized: {p} {kind} `{text}` on {target} at {hour}h"
                    );
                    compared += 1;
                }
            }
        }
    }
    assert!(compared > 7000);
}

#[test]
fn tools_denied_in_every_context_are_found_by_partial_evaluation() {
    let forbids = r#"
@id("no-repo-deletes")
forbid (principal, action == Action::"mcp_tool", resource)
when { context.mcp.tool == "delete_repo" };
@id("no-prod-pushes")
forbid (principal, action == Action::"mcp_tool", resource)
when { context.mcp.tool == "push" && context.mcp.arguments like "*prod*" };
"#;
    let e = engine(&[("mcp.cedar", forbids)]).unwrap();
    let bot = Principal::Agent("bot".into());
    assert!(e.tool_always_denied(&bot, "shell", "delete_repo"));
    assert!(
        !e.tool_always_denied(&bot, "shell", "push"),
        "denied only for some arguments"
    );
    assert!(
        !e.tool_always_denied(&bot, "shell", "echo"),
        "approval is possible"
    );
    assert!(
        e.tool_always_denied(&bot, "nowhere", "echo"),
        "unknown target"
    );
    // Without any permit for MCP tools, every tool is denied.
    let only = PolicyEngine::load(
        &[PolicySource {
            name: "reads.cedar".into(),
            text: r#"permit (principal, action == Action::"sql", resource);"#.into(),
        }],
        &directory(),
        ApprovalDefaults::default(),
    )
    .unwrap();
    assert!(only.tool_always_denied(&bot, "shell", "echo"));
}

#[test]
fn decisions_that_read_the_time_are_never_memoized() {
    let policy = r#"
@id("office-hours")
permit (principal, action == Action::"sql", resource)
when { context has now && context.now.hour >= 9 && context.now.hour < 17 };
"#;
    let source = PolicySource {
        name: "hours.cedar".into(),
        text: policy.into(),
    };
    let e = PolicyEngine::load(&[source], &directory(), ApprovalDefaults::default()).unwrap();
    let c = signoff_classify::classify(&Payload::from_text(ActionKind::Sql, "SELECT 1").unwrap());
    let at = |hour: u64| datetime!(2026-01-05 00:00 UTC) + Duration::from_secs(hour * 3600);
    let decide = |hour| {
        let agent = Principal::Agent("bot".into());
        e.decide_memoized(
            &DecisionRequest {
                principal: &agent,
                on_behalf_of: "olivia",
                target: "prod-db",
                kind: ActionKind::Sql,
                classification: &c,
                reason: "",
                now: at(hour),
            },
            "select-1",
        )
    };
    assert!(matches!(decide(10), Decision::Allow { .. }));
    assert!(
        matches!(decide(20), Decision::Deny { .. }),
        "20h is outside office hours"
    );
    assert!(matches!(decide(11), Decision::Allow { .. }));
}
