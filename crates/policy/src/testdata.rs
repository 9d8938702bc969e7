//! A realistic 100-policy set and directory, shared by the benchmarks and the
//! differential tests of policy slicing.

use std::collections::{BTreeMap, BTreeSet};

use signoff_core::{AgentEntry, Directory, TargetEntry, UserEntry};

use crate::{ApprovalDefaults, PolicyEngine, PolicySource};

/// The starter set plus generated policies shaped like real ones: per-team
/// targets, table lists, command lists, time windows and forbids.
pub fn hundred_policies() -> Vec<PolicySource> {
    let mut sources = PolicySource::starter();
    let mut text = String::new();
    let mut n = PolicyEngine::load(&sources, &directory(), ApprovalDefaults::default())
        .map(|e| e.policy_count())
        .unwrap_or(0);
    let mut i = 0;
    while n < 100 {
        let team = format!("team{}", i % 12);
        let policy = match i % 6 {
            0 => format!("@id(\"sql-{i}\") @approvals(\"2\") @reviewers(\"dba\") @ttl(\"30m\")\npermit (principal, action == Action::\"sql\", resource)\nwhen {{ resource.hasTag(\"team\") && resource.getTag(\"team\") == \"{team}\" && context.sql.tables.containsAny([\"payments_{i}\", \"ledger_{i}\"]) && context.effects.contains(\"unbounded_write\") }};\n"),
            1 => format!("@id(\"exec-{i}\")\nforbid (principal, action == Action::\"exec\", resource)\nwhen {{ resource.hasTag(\"env\") && resource.getTag(\"env\") == \"prod\" && context.exec.commands.contains(\"terraform destroy-{i}\") }};\n"),
            2 => format!("@id(\"hours-{i}\") @approvals(\"1\") @reviewers(\"sre\")\npermit (principal in Group::\"{team}\", action, resource)\nwhen {{ context.now.hour < 6 && context.effects.contains(\"write\") }};\n"),
            3 => format!("@id(\"read-{i}\")\npermit (principal in Group::\"{team}\", action == Action::\"sql\", resource)\nwhen {{ context.sql.tables.contains(\"reporting_{i}\") && [\"read\"].containsAll(context.effects) }};\n"),
            4 => format!("@id(\"k8s-{i}\") @approvals(\"1\")\npermit (principal, action == Action::\"http\", resource)\nwhen {{ context.http has k8s_namespace && context.http.k8s_namespace == \"ns-{i}\" }};\n"),
            _ => format!("@id(\"mcp-{i}\")\nforbid (principal, action == Action::\"mcp_tool\", resource)\nwhen {{ context.mcp.tool == \"drop_{i}\" }};\n"),
        };
        text.push_str(&policy);
        n += 1;
        i += 1;
    }
    sources.push(PolicySource {
        name: "generated.cedar".into(),
        text,
    });
    sources
}

pub fn directory() -> Directory {
    Directory {
        users: (0..20)
            .map(|i| UserEntry {
                id: format!("u{i}"),
                groups: BTreeSet::from([format!("team{}", i % 12), "reviewers".into()]),
            })
            .collect(),
        agents: vec![AgentEntry {
            name: "bot".into(),
            owner: "u1".into(),
            groups: BTreeSet::from(["team1".into()]),
        }],
        targets: (0..12)
            .map(|i| TargetEntry {
                name: format!("t{i}"),
                kind: "postgres".into(),
                labels: BTreeMap::from([
                    ("env".into(), "prod".into()),
                    ("team".into(), format!("team{i}")),
                ]),
                masking: Default::default(),
            })
            .collect(),
    }
}
