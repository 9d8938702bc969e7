//! Who and what exists: users, agents and targets, as configured.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    pub users: Vec<UserEntry>,
    pub agents: Vec<AgentEntry>,
    pub targets: Vec<TargetEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    pub id: String,
    pub groups: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentEntry {
    pub name: String,
    /// The accountable human: every action of the agent is on their behalf.
    pub owner: String,
    pub groups: BTreeSet<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetEntry {
    pub name: String,
    /// `postgres`, `shell`, `http`, `kubernetes`, `mcp`, …
    pub kind: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub masking: TargetMasking,
}

/// Where a target's data is masked. Reviewers always see masked payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetMasking {
    /// Payloads in audit events (on unless a target turns it off).
    pub audit: bool,
    /// What the target returns: MCP tool results, SQL result rows.
    pub results: bool,
}

impl Default for TargetMasking {
    fn default() -> Self {
        TargetMasking {
            audit: true,
            results: false,
        }
    }
}

impl Directory {
    pub fn user(&self, id: &str) -> Option<&UserEntry> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn agent(&self, name: &str) -> Option<&AgentEntry> {
        self.agents.iter().find(|a| a.name == name)
    }

    pub fn target(&self, name: &str) -> Option<&TargetEntry> {
        self.targets.iter().find(|t| t.name == name)
    }
}
