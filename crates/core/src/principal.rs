//! Who acts: agents and humans, and how they proved it.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A principal is `agent:<name>` or `user:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    /// An AI agent or automation. Never a reviewer.
    Agent(String),
    /// A human.
    User(String),
}

impl Principal {
    pub fn is_agent(&self) -> bool {
        matches!(self, Principal::Agent(_))
    }

    /// The bare name, without the `agent:`/`user:` prefix.
    pub fn name(&self) -> &str {
        match self {
            Principal::Agent(n) | Principal::User(n) => n,
        }
    }

    /// The prefix (`agent:` or `user:`) and the bare name: the text form
    /// is the two joined.
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Principal::Agent(n) => ("agent:", n),
            Principal::User(n) => ("user:", n),
        }
    }

    /// The text form (`agent:NAME`), as `to_string` gives it, in one
    /// allocation of the right size: `to_string` grows its buffer twice, and
    /// every statement needs its principal as text (fingerprint, audit actor).
    pub fn text(&self) -> String {
        let (kind, name) = self.parts();
        let mut text = String::with_capacity(kind.len() + name.len());
        text.push_str(kind);
        text.push_str(name);
        text
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Two plain writes: `write!` parses its format pieces on every call,
        // and a statement formats its principal several times.
        let (kind, name) = self.parts();
        if f.width().is_some() || f.precision().is_some() {
            return f.pad(&self.text());
        }
        f.write_str(kind)?;
        f.write_str(name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalParseError {
    #[error("principal `{0}` must look like `agent:NAME` or `user:ID`")]
    MissingKind(String),
    #[error("principal `{0}` has an empty name")]
    EmptyName(String),
    #[error("principal `{0}` may only use letters, digits and `-_.@`")]
    BadCharacter(String),
}

/// Names are restricted so they embed safely in Cedar ids, URLs and log lines.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

impl FromStr for Principal {
    type Err = PrincipalParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, name) = s
            .split_once(':')
            .ok_or_else(|| PrincipalParseError::MissingKind(s.to_owned()))?;
        if name.is_empty() {
            return Err(PrincipalParseError::EmptyName(s.to_owned()));
        }
        if !valid_name(name) {
            return Err(PrincipalParseError::BadCharacter(s.to_owned()));
        }
        match kind {
            "agent" => Ok(Principal::Agent(name.to_owned())),
            "user" => Ok(Principal::User(name.to_owned())),
            _ => Err(PrincipalParseError::MissingKind(s.to_owned())),
        }
    }
}

impl Serialize for Principal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How a caller proved who they are. New methods (OIDC) add variants; nothing
/// downstream of authentication looks inside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum AuthMethod {
    /// A signoff API key; `key_id` is its public prefix, never the secret.
    ApiKey { key_id: String },
    /// An OIDC ID or access token.
    Oidc { issuer: String, subject: String },
    /// A signed Slack interaction from this Slack user, mapped to a signoff user.
    Slack { team: String, user: String },
}

/// An authenticated caller: the principal, the human accountable for it, and the
/// groups it belongs to. Built only by authentication, never from request bodies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub principal: Principal,
    /// The human the principal acts for: an agent's owner, or the user themself.
    pub on_behalf_of: String,
    pub groups: BTreeSet<String>,
    pub auth: AuthMethod,
}

impl Caller {
    /// The `user:` principal of the accountable human.
    pub fn accountable_human(&self) -> Principal {
        Principal::User(self.on_behalf_of.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_kinds() {
        for text in ["agent:deploy-bot", "user:alice@example.com"] {
            let p: Principal = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(p.text(), text);
            // Padding still applies, as CLI tables rely on it.
            assert_eq!(format!("{p:<24}|"), format!("{text:<24}|"));
            assert_eq!(format!("{p:>24}|"), format!("{text:>24}|"));
        }
        assert!("agent:deploy-bot".parse::<Principal>().unwrap().is_agent());
    }

    #[test]
    fn rejects_malformed_principals_with_a_hint() {
        for bad in ["alice", "robot:x", "user:", "user:a b", "agent:x\"y"] {
            let err = bad.parse::<Principal>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
