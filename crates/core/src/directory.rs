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
