//! What the engine answers for one action.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How many humans must approve, from which groups, and for how long the
/// request may wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequirement {
    pub approvals: u32,
    /// Groups whose members may review. Empty means any human who is not the requester.
    pub reviewer_groups: Vec<String>,
    #[serde(with = "secs")]
    pub ttl: Duration,
    /// The longest time window a reviewer may grant; `None` means single use only.
    #[serde(default, with = "opt_secs")]
    pub max_window: Option<Duration>,
}

impl ApprovalRequirement {
    /// Who must approve, in words for the waiting caller:
    /// `2 approvals by someone in dba or sre`.
    pub fn in_words(&self) -> String {
        let count = match self.approvals {
            1 => "1 approval".to_owned(),
            n => format!("{n} approvals"),
        };
        match self.reviewer_groups.as_slice() {
            [] => format!("{count} by a human other than the requester and its owner"),
            groups => format!("{count} by someone in {}", groups.join(" or ")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Allow {
        policies: Vec<String>,
    },
    Deny {
        reason: String,
        policies: Vec<String>,
    },
    RequireApproval {
        requirement: ApprovalRequirement,
        policies: Vec<String>,
    },
}

impl Decision {
    pub fn outcome(&self) -> &'static str {
        match self {
            Decision::Allow { .. } => "allow",
            Decision::Deny { .. } => "deny",
            Decision::RequireApproval { .. } => "require_approval",
        }
    }

    pub fn policies(&self) -> &[String] {
        match self {
            Decision::Allow { policies }
            | Decision::Deny { policies, .. }
            | Decision::RequireApproval { policies, .. } => policies,
        }
    }
}

pub mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

pub mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requirement_in_words_names_the_count_and_the_groups() {
        let cases = [
            (
                1,
                vec![],
                "1 approval by a human other than the requester and its owner",
            ),
            (1, vec!["dba"], "1 approval by someone in dba"),
            (
                2,
                vec!["dba", "sre"],
                "2 approvals by someone in dba or sre",
            ),
        ];
        for (approvals, groups, words) in cases {
            let r = ApprovalRequirement {
                approvals,
                reviewer_groups: groups.into_iter().map(String::from).collect(),
                ttl: Duration::from_secs(60),
                max_window: None,
            };
            assert_eq!(r.in_words(), words);
        }
    }
}
