//! `signoff openai approve`: answers OpenAI Responses `mcp_approval_request`
//! items with `mcp_approval_response` items, decided by signoff.
//!
//! An item `{"type": "mcp_approval_request", "id", "server_label", "name",
//! "arguments": "<JSON string>"}` becomes the action `mcp_tool` on the target
//! named `server_label`, with `{"server": server_label, "tool": name,
//! "arguments": <parsed>}`. The answer is `{"type": "mcp_approval_response",
//! "approval_request_id": id, "approve": bool, "reason"}`: `approve` is true
//! only when signoff allows the call, directly or after its reviewers approve.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use signoff_api::CheckRequest;

use crate::setup::{self, Remote};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Read a Responses API response (or its `output` items) on stdin and print
    /// the `mcp_approval_response` items to send back as the next `input`.
    #[command(after_help = "\
Example:
  curl -s https://api.openai.com/v1/responses ... | signoff openai approve --wait 2m
Prints a JSON array of mcp_approval_response items, one per mcp_approval_request.
A call still pending when --wait runs out is answered `approve: false` with the
request id in `reason`; once reviewers approve, the same request is allowed.")]
    Approve(ApproveArgs),
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// How long to hold each request that needs a review.
    #[arg(long, default_value = "2m", value_parser = setup::duration, value_name = "DURATION")]
    wait: Duration,
    #[command(flatten)]
    remote: Remote,
}

/// One approval request and the check it becomes (or why it cannot be).
pub struct Pending {
    pub id: String,
    pub check: Result<CheckRequest, String>,
}

/// The `mcp_approval_request` items in a response, an item list or one item.
pub fn approval_requests(input: &Value) -> Vec<Pending> {
    let items: Vec<&Value> = match input {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o) => match o.get("output") {
            Some(Value::Array(items)) => items.iter().collect(),
            _ => vec![input],
        },
        _ => vec![],
    };
    items
        .into_iter()
        .filter(|i| i["type"] == "mcp_approval_request")
        .map(|i| Pending {
            id: i["id"].as_str().unwrap_or_default().to_owned(),
            check: to_check(i),
        })
        .collect()
}

fn to_check(item: &Value) -> Result<CheckRequest, String> {
    let field = |name: &str| {
        item[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the approval request has no `{name}`"))
    };
    let (server, tool, text) = (field("server_label")?, field("name")?, field("arguments")?);
    let arguments: Value = serde_json::from_str(if text.is_empty() { "{}" } else { &text })
        .map_err(|e| format!("the tool arguments are not JSON: {e}"))?;
    Ok(CheckRequest {
        target: server.clone(),
        kind: "mcp_tool".into(),
        payload: json!({ "server": server, "tool": tool, "arguments": arguments }),
        reason: Some("OpenAI Responses MCP approval request".into()),
        trace_id: Some(field("id")?),
    })
}

pub async fn run(config: Option<PathBuf>, command: Command) -> Result<ExitCode> {
    let Command::Approve(args) = command;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
        .context("cannot read stdin")?;
    let input: Value = serde_json::from_str(&text)
        .context("stdin is not JSON: pipe in a Responses API response or its output items")?;
    let client = args.remote.client(config.as_deref())?;
    let mut answers = Vec::new();
    for pending in approval_requests(&input) {
        let (approve, reason) = match pending.check {
            Err(why) => (false, why),
            Ok(check) => match client.check(&check, Some(args.wait)).await {
                Err(e) => (false, format!("signoff could not decide: {e}")),
                Ok(r) => match r.decision.as_str() {
                    "allow" => (true, format!("allowed by signoff ({})", r.policies.join(", "))),
                    "deny" => (
                        false,
                        format!("denied by signoff: {}", r.reason.unwrap_or_default()),
                    ),
                    _ => (
                        false,
                        match r.approval {
                            Some(a) => format!(
                                "pending review in signoff: request {} ({}); ask again once it is approved",
                                a.id, a.review_url
                            ),
                            None => "pending review in signoff".into(),
                        },
                    ),
                },
            },
        };
        answers.push(json!({
            "type": "mcp_approval_response",
            "approval_request_id": pending.id,
            "approve": approve,
            "reason": reason,
        }));
    }
    println!("{}", Value::Array(answers));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = include_str!("../../tests/fixtures/openai/response.json");

    #[test]
    fn approval_requests_become_mcp_tool_checks() {
        let found = approval_requests(&serde_json::from_str(RESPONSE).unwrap());
        assert_eq!(found.len(), 2, "only mcp_approval_request items");
        let first = found[0].check.as_ref().unwrap();
        assert_eq!(
            found[0].id,
            "mcpr_682d498e3bd4819196a0ce1664f8e77b04ad1e533afccbfa"
        );
        assert_eq!(first.target, "fixture");
        assert_eq!(
            first.payload,
            json!({"server": "fixture", "tool": "echo", "arguments": {"text": "hi", "count": 2}})
        );
        first.typed_payload().unwrap();
        let err = found[1].check.as_ref().err().unwrap();
        assert!(err.contains("not JSON"), "{err}");
        // One item alone, or a bare list, works too.
        let item = &serde_json::from_str::<Value>(RESPONSE).unwrap()["output"][1];
        assert_eq!(approval_requests(item).len(), 1);
    }
}
