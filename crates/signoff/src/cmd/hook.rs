//! `signoff hook claude-code`: a Claude Code `PreToolUse` hook.
//!
//! Reads the hook's JSON from stdin, turns the tool call into a signoff action,
//! asks the server (holding while a review is pending), and prints the
//! documented `hookSpecificOutput` with `permissionDecision` `allow`, `deny` or
//! `ask`. Tools it does not gate (`Read`, `Grep`, …) get no output, so Claude
//! Code's own permission rules apply to them. Any failure denies (fail closed).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use signoff_api::{CheckRequest, CheckResponse};

use crate::setup::{self, Remote};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Gate Claude Code tool calls (a `PreToolUse` hook; JSON on stdin and stdout).
    #[command(after_help = CLAUDE_CODE_HELP)]
    ClaudeCode(ClaudeCodeArgs),
}

const CLAUDE_CODE_HELP: &str = "\
Tools and the actions they become:
  Bash                      exec on --shell-target (the command string)
  mcp__SERVER__TOOL         mcp_tool on the target named SERVER
  Write, Edit, MultiEdit,   custom `file.write` / `file.edit` on --files-target,
  NotebookEdit                with the path as resource and the edit as attributes
  WebFetch                  http GET on --http-target
Other tools get no output: Claude Code's own permission rules apply.

In .claude/settings.json (keep --wait under the hook's timeout):
  {\"hooks\": {\"PreToolUse\": [{\"matcher\": \"*\", \"hooks\": [{\"type\": \"command\",
    \"command\": \"signoff hook claude-code --shell-target prod-shell --wait 50s\",
    \"timeout\": 60}]}]}}";

#[derive(clap::Args)]
pub struct ClaudeCodeArgs {
    /// The target `Bash` commands act on.
    #[arg(long, env = "SIGNOFF_SHELL_TARGET", value_name = "TARGET")]
    shell_target: Option<String>,
    /// The target file edits act on.
    #[arg(long, env = "SIGNOFF_FILES_TARGET", value_name = "TARGET")]
    files_target: Option<String>,
    /// The target `WebFetch` requests act on.
    #[arg(long, env = "SIGNOFF_HTTP_TARGET", value_name = "TARGET")]
    http_target: Option<String>,
    /// How long to hold a call that needs approval. Keep it under the hook's
    /// `timeout` in settings.json (60 s by default).
    #[arg(long, default_value = "50s", value_parser = setup::duration, value_name = "DURATION")]
    wait: Duration,
    /// When the wait runs out, answer `ask` (Claude Code asks the user) instead
    /// of `deny`. Approving there does not approve the signoff request.
    #[arg(long)]
    ask_on_timeout: bool,
    #[command(flatten)]
    remote: Remote,
}

/// The fields of Claude Code's `PreToolUse` input that signoff reads.
#[derive(Debug, Deserialize)]
pub struct HookInput {
    pub tool_name: String,
    #[serde(default)]
    pub tool_input: Value,
    #[serde(default)]
    pub tool_use_id: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
}

/// Which target each family of tools acts on.
#[derive(Debug, Default)]
pub struct Targets {
    pub shell: Option<String>,
    pub files: Option<String>,
    pub http: Option<String>,
}

/// The action a tool call becomes: `Ok(None)` for tools signoff does not gate,
/// `Err` (a message for the model) for a gated tool that cannot be mapped.
pub fn to_check(input: &HookInput, targets: &Targets) -> Result<Option<CheckRequest>, String> {
    let field = |name: &str| input.tool_input.get(name).and_then(Value::as_str);
    let need = |target: &Option<String>, flag: &str| {
        target.clone().ok_or_else(|| {
            format!(
                "signoff has no target for `{}`; run the hook with {flag}",
                input.tool_name
            )
        })
    };
    let (target, kind, payload) = match input.tool_name.as_str() {
        "Bash" => {
            let command = field("command").ok_or("a `Bash` call without `command`")?;
            (
                need(&targets.shell, "--shell-target")?,
                "exec",
                json!({ "command": command }),
            )
        }
        "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => {
            let path = field("file_path")
                .or_else(|| field("notebook_path"))
                .ok_or_else(|| format!("a `{}` call without a path", input.tool_name))?;
            let mut attributes: Map<String, Value> =
                input.tool_input.as_object().cloned().unwrap_or_default();
            attributes.remove("file_path");
            attributes.remove("notebook_path");
            let operation = match input.tool_name.as_str() {
                "Write" => "file.write",
                _ => "file.edit",
            };
            (
                need(&targets.files, "--files-target")?,
                "custom",
                json!({ "operation": operation, "resource": path, "attributes": attributes }),
            )
        }
        "WebFetch" => {
            let url = field("url").ok_or("a `WebFetch` call without `url`")?;
            (
                need(&targets.http, "--http-target")?,
                "http",
                json!({ "method": "GET", "path": path_of(url) }),
            )
        }
        name => match name.strip_prefix("mcp__").and_then(|s| s.split_once("__")) {
            Some((server, tool)) if !server.is_empty() && !tool.is_empty() => (
                server.to_owned(),
                "mcp_tool",
                json!({ "server": server, "tool": tool, "arguments": input.tool_input }),
            ),
            _ => return Ok(None),
        },
    };
    let reason = match field("description") {
        Some(d) => format!("Claude Code: {d}"),
        None => format!("Claude Code `{}` call", input.tool_name),
    };
    Ok(Some(CheckRequest {
        target,
        kind: kind.into(),
        payload,
        reason: Some(reason),
        trace_id: input
            .tool_use_id
            .clone()
            .or_else(|| input.session_id.clone()),
    }))
}

/// `https://host/a/b?c` → `/a/b?c`: the target names the host.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].to_owned(),
        None => "/".to_owned(),
    }
}

pub async fn run(config: Option<PathBuf>, command: Command) -> Result<ExitCode> {
    let Command::ClaudeCode(args) = command;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut text)
        .context("cannot read the hook input from stdin")?;
    let input: HookInput = match serde_json::from_str(&text) {
        Ok(i) => i,
        Err(e) => {
            print_decision(
                "deny",
                &format!("signoff could not read the hook input: {e}"),
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    let targets = Targets {
        shell: args.shell_target.clone(),
        files: args.files_target.clone(),
        http: args.http_target.clone(),
    };
    let request = match to_check(&input, &targets) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(ExitCode::SUCCESS),
        Err(message) => {
            print_decision("deny", &message);
            return Ok(ExitCode::SUCCESS);
        }
    };
    let (decision, reason) = match decide(&config, &args, &request).await {
        Ok(d) => d,
        Err(e) => ("deny", format!("signoff could not decide ({e:#}); denied")),
    };
    print_decision(decision, &reason);
    Ok(ExitCode::SUCCESS)
}

/// Asks, holding while pending until `--wait` runs out.
async fn decide(
    config: &Option<PathBuf>,
    args: &ClaudeCodeArgs,
    request: &CheckRequest,
) -> Result<(&'static str, String)> {
    let client = args.remote.client(config.as_deref())?;
    let started = Instant::now();
    loop {
        let left = args.wait.saturating_sub(started.elapsed());
        let wait = (!left.is_zero()).then_some(left.max(Duration::from_secs(1)));
        let response = client.check(request, wait).await?;
        match response.decision.as_str() {
            "allow" => return Ok(("allow", allowed(&response))),
            "deny" => {
                let why = response.reason.as_deref().unwrap_or("by policy");
                return Ok(("deny", format!("signoff denied this: {why}")));
            }
            _ if started.elapsed() < args.wait => {
                // The server holds for at most its `max_hold`; ask again.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => {
                let decision = if args.ask_on_timeout { "ask" } else { "deny" };
                return Ok((decision, still_pending(&response, args.wait)));
            }
        }
    }
}

fn allowed(r: &CheckResponse) -> String {
    match &r.approval {
        Some(a) => format!("signoff: approved (request {})", a.id),
        None => format!("signoff: allowed by {}", r.policies.join(", ")),
    }
}

fn still_pending(r: &CheckResponse, waited: Duration) -> String {
    let Some(a) = &r.approval else {
        return "signoff: pending, with no request to name".into();
    };
    format!(
        "signoff: `{}` needs {}; still pending after {}. Request {} ({}). \
         Once it is approved, repeating this exact call runs it once.",
        r.classification.summary,
        super::exec::who_must_approve(a),
        humantime::format_duration(waited),
        a.id,
        a.review_url
    )
}

fn print_decision(decision: &str, reason: &str) {
    let out = json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    });
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded `PreToolUse` inputs and the action each becomes: (fixture,
    /// target, kind, payload), or no target for tools signoff does not gate.
    const CASES: &[(&str, Option<&str>, &str, &str)] = &[
        (
            include_str!("../../tests/fixtures/claude-code/bash.json"),
            Some("shell"),
            "exec",
            r#"{"command":"ls -la"}"#,
        ),
        (
            include_str!("../../tests/fixtures/claude-code/bash_rm.json"),
            Some("shell"),
            "exec",
            r#"{"command":"sh -c 'rm -rf build/cache'"}"#,
        ),
        (
            include_str!("../../tests/fixtures/claude-code/write.json"),
            Some("files"),
            "custom",
            r#"{"operation":"file.write","resource":"/home/dev/shop/config/prod.env","attributes":{"content":"DATABASE_URL=postgres://app:s3cr3t@db:5432/shop\n"}}"#,
        ),
        (
            include_str!("../../tests/fixtures/claude-code/edit.json"),
            Some("files"),
            "custom",
            r#"{"operation":"file.edit","resource":"/home/dev/shop/src/app.py","attributes":{"old_string":"DEBUG = True","new_string":"DEBUG = False","replace_all":false}}"#,
        ),
        (
            include_str!("../../tests/fixtures/claude-code/mcp.json"),
            Some("github"),
            "mcp_tool",
            r#"{"server":"github","tool":"create_issue","arguments":{"owner":"acme","repo":"shop","title":"Flaky checkout test","body":"Fails 1 run in 20."}}"#,
        ),
        (
            include_str!("../../tests/fixtures/claude-code/webfetch.json"),
            Some("api"),
            "http",
            r#"{"method":"GET","path":"/v1/orders?status=open"}"#,
        ),
        (
            include_str!("../../tests/fixtures/claude-code/read.json"),
            None,
            "",
            "",
        ),
    ];

    fn targets() -> Targets {
        Targets {
            shell: Some("shell".into()),
            files: Some("files".into()),
            http: Some("api".into()),
        }
    }

    #[test]
    fn recorded_inputs_become_these_actions() {
        for (fixture, target, kind, payload) in CASES {
            let input: HookInput = serde_json::from_str(fixture).unwrap();
            let got = to_check(&input, &targets()).unwrap();
            let Some(target) = target else {
                assert!(got.is_none(), "{} is not gated", input.tool_name);
                continue;
            };
            let got = got.unwrap();
            assert_eq!(got.target, *target, "{}", input.tool_name);
            assert_eq!(got.kind, *kind, "{}", input.tool_name);
            let want: Value = serde_json::from_str(payload).unwrap();
            assert_eq!(got.payload, want, "{}", input.tool_name);
            assert!(got.trace_id.as_deref().unwrap().starts_with("toolu_"));
            // The payload is one the server accepts for its kind.
            got.typed_payload().unwrap();
        }
    }

    #[test]
    fn a_gated_tool_without_a_target_is_denied_with_the_flag_to_set() {
        let input: HookInput =
            serde_json::from_str(include_str!("../../tests/fixtures/claude-code/bash.json"))
                .unwrap();
        let err = to_check(&input, &Targets::default()).unwrap_err();
        assert!(err.contains("--shell-target"), "{err}");
    }
}
