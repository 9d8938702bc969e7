//! `signoff hook claude-code` fed recorded Claude Code `PreToolUse` inputs,
//! against the real server.

mod support;

use std::process::Child;

use serde_json::{json, Value};
use support::*;

const BASH: &str = include_str!("fixtures/claude-code/bash.json");
const BASH_RM: &str = include_str!("fixtures/claude-code/bash_rm.json");
const READ: &str = include_str!("fixtures/claude-code/read.json");
const MCP: &str = include_str!("fixtures/claude-code/mcp.json");

fn spawn_hook(s: &Server, input: &str, extra: &[&str]) -> Child {
    let mut args = vec!["hook", "claude-code", "--shell-target", "demo-shell"];
    args.extend_from_slice(extra);
    spawn_with_stdin(&s.url, &s.agent(), &args, input)
}

/// The hook's answer: (permissionDecision, permissionDecisionReason), or
/// `None` when it printed nothing.
fn answer(child: Child) -> Option<(String, String)> {
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    if stdout.trim().is_empty() {
        return None;
    }
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let o = &v["hookSpecificOutput"];
    assert_eq!(o["hookEventName"], "PreToolUse", "{v}");
    Some((
        o["permissionDecision"].as_str().unwrap().to_owned(),
        o["permissionDecisionReason"].as_str().unwrap().to_owned(),
    ))
}

fn hook(s: &Server, input: &str, extra: &[&str]) -> Option<(String, String)> {
    answer(spawn_hook(s, input, extra))
}

#[test]
fn reads_are_allowed_and_ungated_tools_get_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let (decision, reason) = hook(&s, BASH, &[]).unwrap();
    assert_eq!(decision, "allow", "{reason}");
    assert!(reason.contains("reads-allowed"), "{reason}");
    assert_eq!(hook(&s, READ, &[]), None);
}

#[test]
fn a_held_call_is_allowed_once_a_reviewer_approves() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let child = spawn_hook(&s, BASH_RM, &["--wait", "60s"]);
    let id = s.first_pending(&s.reviewer(1));
    let (status, view) = s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.reviewer(1),
        &json!({"verdict": "approve", "comment": "cache only"}),
    );
    assert_eq!(status, 200, "{view}");
    let (decision, reason) = answer(child).unwrap();
    assert_eq!(decision, "allow", "{reason}");
    assert!(reason.contains(&id), "{reason}");
    let (_, v) = s.get(&format!("/v1/approvals/{id}"), &s.reviewer(1));
    assert_eq!(v["grant"]["uses"], 1, "{v}");
    assert_eq!(v["payload"]["command"], "sh -c 'rm -rf build/cache'");
}

#[test]
fn a_reviewer_deny_reaches_the_model_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let child = spawn_hook(&s, BASH_RM, &["--wait", "60s"]);
    let id = s.first_pending(&s.reviewer(1));
    s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.reviewer(1),
        &json!({"verdict": "deny", "comment": "not during the release"}),
    );
    let (decision, reason) = answer(child).unwrap();
    assert_eq!(decision, "deny");
    assert!(reason.contains("not during the release"), "{reason}");
}

#[test]
fn a_wait_that_runs_out_denies_naming_the_request_or_asks_if_configured() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let (decision, reason) = hook(&s, BASH_RM, &["--wait", "1s"]).unwrap();
    assert_eq!(decision, "deny");
    let id = s.first_pending(&s.reviewer(1));
    assert!(
        reason.contains(&id)
            && reason.contains("reviewers")
            && reason.contains(&format!("/ui/requests/{id}"))
            && reason.contains("repeating this exact call"),
        "{reason}"
    );
    let (decision, again) = hook(&s, BASH_RM, &["--wait", "1s", "--ask-on-timeout"]).unwrap();
    assert_eq!(decision, "ask");
    assert!(
        again.contains(&id),
        "the same call joins the open request: {again}"
    );
}

#[test]
fn failures_deny_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    // No MCP target named `github` in the embedded default.
    let (decision, reason) = hook(&s, MCP, &[]).unwrap();
    assert_eq!(decision, "deny");
    assert!(reason.contains("github"), "{reason}");
    let (decision, reason) = hook(&s, "{not json", &[]).unwrap();
    assert_eq!(decision, "deny");
    assert!(reason.contains("hook input"), "{reason}");
    // Unreachable server: fail closed.
    let child = spawn_with_stdin(
        &format!("http://127.0.0.1:{}", free_port()),
        "sk_nothing",
        &["hook", "claude-code", "--shell-target", "demo-shell"],
        BASH,
    );
    let (decision, reason) = answer(child).unwrap();
    assert_eq!(decision, "deny");
    assert!(reason.contains("could not decide"), "{reason}");
}
