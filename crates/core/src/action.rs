//! Actions: one concrete thing a principal asks to do to a target.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::canonical;
use crate::principal::Principal;

/// The name of a target as configured (`prod-db`, `k8s-prod`).
pub type TargetName = String;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Sql,
    Exec,
    Http,
    McpTool,
    Custom,
}

impl ActionKind {
    pub const ALL: [ActionKind; 5] = [
        ActionKind::Sql,
        ActionKind::Exec,
        ActionKind::Http,
        ActionKind::McpTool,
        ActionKind::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Sql => "sql",
            ActionKind::Exec => "exec",
            ActionKind::Http => "http",
            ActionKind::McpTool => "mcp_tool",
            ActionKind::Custom => "custom",
        }
    }

    pub fn parse(text: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the action does, exactly as the caller will run it. The payload is
/// fingerprinted byte for byte: no normalisation, so a changed byte is a new action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload", rename_all = "snake_case")]
pub enum Payload {
    Sql(SqlPayload),
    Exec(ExecPayload),
    Http(HttpPayload),
    McpTool(McpPayload),
    Custom(CustomPayload),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlPayload {
    /// One or more statements, as sent to the database.
    pub sql: String,
    /// Bound parameters of an extended-protocol statement, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Value>,
}

/// A command, either as an argv (what `signoff exec` runs) or as a shell string
/// (what an agent's shell tool runs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum ExecPayload {
    Argv { argv: Vec<String> },
    Shell { command: String },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPayload {
    pub method: String,
    /// Path and query, e.g. `/api/v1/namespaces/payments/pods?watch=true`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpPayload {
    pub server: String,
    pub tool: String,
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPayload {
    /// What the caller wants to do, in its own vocabulary (`file.write`, `refund`).
    pub operation: String,
    /// What it acts on (a path, an account id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub attributes: Value,
}

/// Why a payload given as text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadParseError(pub String);

impl Payload {
    /// Reads a payload as a person types it on the command line: SQL text, a
    /// shell command, `METHOD /path`, or JSON for `mcp_tool` and `custom`.
    pub fn from_text(kind: ActionKind, text: &str) -> Result<Payload, PayloadParseError> {
        let json = |what: &str| {
            serde_json::from_str::<Value>(text).map_err(|e| {
                PayloadParseError(format!(
                    "a {what} payload is JSON such as {}: {e}",
                    example(kind)
                ))
            })
        };
        Ok(match kind {
            ActionKind::Sql => Payload::Sql(SqlPayload {
                sql: text.to_owned(),
                params: vec![],
            }),
            ActionKind::Exec => Payload::Exec(ExecPayload::Shell {
                command: text.to_owned(),
            }),
            ActionKind::Http => {
                let (method, path) = text.trim().split_once(' ').ok_or_else(|| {
                    PayloadParseError(format!(
                        "an http payload is `METHOD /path`, such as {}",
                        example(kind)
                    ))
                })?;
                Payload::Http(HttpPayload {
                    method: method.to_owned(),
                    path: path.trim().to_owned(),
                    body: None,
                })
            }
            ActionKind::McpTool => {
                Payload::McpTool(serde_json::from_value(json("mcp_tool")?).map_err(|e| {
                    PayloadParseError(format!(
                        "bad mcp_tool payload: {e}; expected {}",
                        example(kind)
                    ))
                })?)
            }
            ActionKind::Custom => {
                Payload::Custom(serde_json::from_value(json("custom")?).map_err(|e| {
                    PayloadParseError(format!(
                        "bad custom payload: {e}; expected {}",
                        example(kind)
                    ))
                })?)
            }
        })
    }

    pub fn kind(&self) -> ActionKind {
        match self {
            Payload::Sql(_) => ActionKind::Sql,
            Payload::Exec(_) => ActionKind::Exec,
            Payload::Http(_) => ActionKind::Http,
            Payload::McpTool(_) => ActionKind::McpTool,
            Payload::Custom(_) => ActionKind::Custom,
        }
    }

    /// The payload body alone, as JSON (without the kind tag).
    pub fn body_json(&self) -> Value {
        // Each body on its own: serializing the tagged enum and taking its
        // `payload` out copied every body twice.
        let body = match self {
            // Built by hand: serde would walk each parameter, already a
            // `Value`, into its copy, most of what bound parameters cost here.
            Payload::Sql(p) => {
                let mut body = serde_json::Map::with_capacity(2);
                if !p.params.is_empty() {
                    body.insert("params".into(), Value::Array(p.params.clone()));
                }
                body.insert("sql".into(), Value::String(p.sql.clone()));
                Ok(Value::Object(body))
            }
            Payload::Exec(p) => serde_json::to_value(p),
            Payload::Http(p) => serde_json::to_value(p),
            Payload::McpTool(p) => serde_json::to_value(p),
            Payload::Custom(p) => serde_json::to_value(p),
        };
        body.unwrap_or(Value::Null)
    }
}

fn example(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Sql => "`DELETE FROM orders WHERE id = 1`",
        ActionKind::Exec => "`kubectl delete pod api-0`",
        ActionKind::Http => "`DELETE /api/v1/namespaces/prod/pods/api-0`",
        ActionKind::McpTool => {
            r#"`{"server":"github","tool":"delete_repo","arguments":{"repo":"x"}}`"#
        }
        ActionKind::Custom => r#"`{"operation":"refund","resource":"order-42"}`"#,
    }
}

/// A SHA-256 over the canonical encoding of (principal, on_behalf_of, target,
/// kind, payload), as 64 lowercase hex characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Fingerprint {
    /// The first 12 hex characters, for display.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

/// One concrete action. The reason is the caller's stated intent: shown to
/// reviewers and given to policy, but not part of the fingerprint, because the
/// same action for a different stated reason is still the same action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub principal: Principal,
    pub on_behalf_of: String,
    pub target: TargetName,
    #[serde(flatten)]
    pub payload: Payload,
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        self.payload.kind()
    }

    /// The canonical encoding the fingerprint is computed over.
    pub fn canonical(&self) -> Value {
        json!({
            "principal": self.principal.to_string(),
            "on_behalf_of": self.on_behalf_of,
            "target": self.target,
            "kind": self.kind().as_str(),
            "payload": self.payload.body_json(),
        })
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint_with_body(&self.payload.body_json())
    }

    /// [`Action::fingerprint`] given the payload's `body_json`, written
    /// straight in canonical order instead of building [`Action::canonical`]
    /// (the test `streamed_fingerprint_is_the_documented_one` holds them equal).
    pub fn fingerprint_with_body(&self, body: &Value) -> Fingerprint {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"kind\":");
        canonical::write_str(self.kind().as_str(), &mut out);
        out.extend_from_slice(b",\"on_behalf_of\":");
        canonical::write_str(&self.on_behalf_of, &mut out);
        out.extend_from_slice(b",\"payload\":");
        canonical::write(body, &mut out);
        out.extend_from_slice(b",\"principal\":");
        canonical::write_str(&self.principal.text(), &mut out);
        out.extend_from_slice(b",\"target\":");
        canonical::write_str(&self.target, &mut out);
        out.push(b'}');
        Fingerprint(canonical::sha256_hex_of(&out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_json_is_the_tagged_forms_payload() {
        let payloads = [
            Payload::Sql(SqlPayload {
                sql: "SELECT $1".into(),
                params: vec![json!("x"), Value::Null],
            }),
            Payload::Sql(SqlPayload {
                sql: "SELECT 1".into(),
                params: vec![],
            }),
            Payload::Exec(ExecPayload::Argv {
                argv: vec!["ls".into(), "-l".into()],
            }),
            Payload::Exec(ExecPayload::Shell {
                command: "sh -c 'kubectl delete ns x'".into(),
            }),
            Payload::Http(HttpPayload {
                method: "DELETE".into(),
                path: "/v1/x".into(),
                body: Some("{}".into()),
            }),
            Payload::McpTool(McpPayload {
                server: "github".into(),
                tool: "delete_repo".into(),
                arguments: json!({ "repo": "x" }),
            }),
            Payload::Custom(CustomPayload {
                operation: "refund".into(),
                resource: None,
                attributes: Value::Null,
            }),
        ];
        for p in payloads {
            let tagged = serde_json::to_value(&p).unwrap();
            assert_eq!(p.body_json(), tagged["payload"], "{p:?}");
        }
    }

    fn delete_all() -> Action {
        Action {
            principal: Principal::Agent("bot".into()),
            on_behalf_of: "alice".into(),
            target: "prod-db".into(),
            payload: Payload::Sql(SqlPayload {
                sql: "DELETE FROM orders".into(),
                params: vec![],
            }),
        }
    }

    #[test]
    fn fingerprint_is_stable_and_hex() {
        let fp = delete_all().fingerprint();
        assert_eq!(fp, delete_all().fingerprint());
        assert_eq!(
            fp.0,
            canonical::sha256_hex(&delete_all().canonical()),
            "streamed_fingerprint_is_the_documented_one"
        );
        assert_eq!(fp.0.len(), 64);
        assert!(fp.0.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn every_field_is_bound_into_the_fingerprint() {
        let base = delete_all().fingerprint();
        let mut changed = Vec::new();
        let mut a = delete_all();
        a.principal = Principal::Agent("bot2".into());
        changed.push(a);
        let mut a = delete_all();
        a.on_behalf_of = "bob".into();
        changed.push(a);
        let mut a = delete_all();
        a.target = "staging-db".into();
        changed.push(a);
        let mut a = delete_all();
        a.payload = Payload::Sql(SqlPayload {
            sql: "DELETE FROM orders ".into(),
            params: vec![],
        });
        changed.push(a);
        let mut a = delete_all();
        a.payload = Payload::Custom(CustomPayload {
            operation: "DELETE FROM orders".into(),
            resource: None,
            attributes: Value::Null,
        });
        changed.push(a);
        for a in changed {
            assert_ne!(a.fingerprint(), base, "{a:?}");
            // The streamed encoding is the documented `canonical()` form.
            assert_eq!(
                a.fingerprint().0,
                canonical::sha256_hex(&a.canonical()),
                "{a:?}"
            );
        }
    }

    #[test]
    fn wire_form_is_kind_plus_payload() {
        let v = serde_json::to_value(delete_all()).unwrap();
        assert_eq!(v["kind"], "sql");
        assert_eq!(v["payload"]["sql"], "DELETE FROM orders");
        let back: Action = serde_json::from_value(v).unwrap();
        assert_eq!(back, delete_all());
    }

    #[test]
    fn exec_payload_accepts_argv_or_shell_string() {
        let a: ExecPayload = serde_json::from_str(r#"{"argv":["ls","-l"]}"#).unwrap();
        assert!(matches!(a, ExecPayload::Argv { .. }));
        let s: ExecPayload = serde_json::from_str(r#"{"command":"ls -l"}"#).unwrap();
        assert!(matches!(s, ExecPayload::Shell { .. }));
    }
}
