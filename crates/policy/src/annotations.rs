//! signoff's policy annotations: `@approval`, `@approvals`, `@reviewers`, `@ttl`,
//! `@max_window`, `@reason`, `@allow_unknown`, `@id` and `@description`.

use cedar_policy::{Effect, Policy};
use signoff_core::ApprovalRequirement;

use crate::error::{Location, PolicyError};
use crate::ApprovalDefaults;

const KNOWN: &[&str] = &[
    "id",
    "description",
    "approval",
    "approvals",
    "reviewers",
    "ttl",
    "max_window",
    "reason",
    "allow_unknown",
];

/// What signoff reads from one policy's annotations.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyMeta {
    /// `Some` for an approval permit.
    pub requirement: Option<ApprovalRequirement>,
    /// The deny message of a forbid.
    pub reason: Option<String>,
    /// Whether a plain permit also allows actions classified `unknown`.
    pub allow_unknown: bool,
    pub file: String,
}

impl PolicyMeta {
    pub fn read(
        policy: &Policy,
        file: &str,
        text: &str,
        defaults: &ApprovalDefaults,
    ) -> Result<PolicyMeta, PolicyError> {
        let err = |key: &str, value: &str, message: String| PolicyError::Annotation {
            at: locate(file, text, key, value),
            message,
        };
        for (key, value) in policy.annotations() {
            // INVARIANT: a misspelt annotation (`@approvls`) must not silently turn an
            // approval permit into a plain allow, so unknown keys are errors.
            if !KNOWN.contains(&key) {
                return Err(err(
                    key,
                    value,
                    format!(
                        "unknown annotation `@{key}`; signoff reads {}",
                        KNOWN
                            .iter()
                            .map(|k| format!("@{k}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let get = |k: &str| policy.annotation(k);
        let is_approval = match get("approval") {
            Some("required") => true,
            Some(other) => {
                return Err(err(
                    "approval",
                    other,
                    format!(
                    "`@approval(\"{other}\")` is not understood; write `@approval(\"required\")`"
                ),
                ))
            }
            None => ["approvals", "reviewers", "ttl", "max_window"]
                .iter()
                .any(|k| get(k).is_some()),
        };
        if is_approval && policy.effect() == Effect::Forbid {
            return Err(err(
                "approval",
                get("approval").unwrap_or(""),
                "approval annotations belong on `permit` policies; a `forbid` always denies".into(),
            ));
        }
        let requirement = if is_approval {
            let approvals = match get("approvals") {
                None => 1,
                Some(v) => match v.trim().parse::<u32>() {
                    Ok(n) if (1..=10).contains(&n) => n,
                    _ => {
                        return Err(err(
                            "approvals",
                            v,
                            format!("`@approvals(\"{v}\")` must be a whole number from 1 to 10"),
                        ))
                    }
                },
            };
            let reviewer_groups = match get("reviewers") {
                None => defaults.reviewers.clone(),
                Some(v) => {
                    let groups: Vec<String> = v
                        .split(',')
                        .map(|g| g.trim().to_owned())
                        .filter(|g| !g.is_empty())
                        .collect();
                    if groups.is_empty() {
                        return Err(err("reviewers", v, "`@reviewers` names no group; list groups like `@reviewers(\"sre,dba\")`".into()));
                    }
                    groups
                }
            };
            let duration = |k: &str| -> Result<Option<std::time::Duration>, PolicyError> {
                match get(k) {
                    None => Ok(None),
                    Some(v) => signoff_core::duration::parse(v)
                        .map(Some)
                        .map_err(|m| err(k, v, format!("`@{k}`: {m}"))),
                }
            };
            let ttl = duration("ttl")?.unwrap_or(defaults.ttl);
            if ttl.is_zero() {
                return Err(err(
                    "ttl",
                    get("ttl").unwrap_or(""),
                    "`@ttl` must be longer than zero".into(),
                ));
            }
            Some(ApprovalRequirement {
                approvals,
                reviewer_groups,
                ttl,
                max_window: duration("max_window")?,
            })
        } else {
            None
        };
        let allow_unknown = match get("allow_unknown") {
            None => false,
            Some("true") => true,
            Some("false") => false,
            Some(v) => {
                return Err(err(
                    "allow_unknown",
                    v,
                    "`@allow_unknown` is `\"true\"` or `\"false\"`".into(),
                ))
            }
        };
        Ok(PolicyMeta {
            requirement,
            reason: get("reason").map(str::to_owned),
            allow_unknown,
            file: file.to_owned(),
        })
    }
}

/// Cedar does not expose where a policy's annotations are, so find the text.
fn locate(file: &str, text: &str, key: &str, value: &str) -> Location {
    let needle = format!("@{key}");
    let offset = text
        .match_indices(&needle)
        .map(|(i, _)| i)
        .find(|i| {
            text[*i..]
                .chars()
                .take(needle.len() + value.len() + 8)
                .collect::<String>()
                .contains(value)
        })
        .or_else(|| text.find(&needle))
        .unwrap_or(0);
    Location::at_offset(file, text, offset)
}
