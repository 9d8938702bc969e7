//! `signoff exec`: ask, wait if needed, run exactly the approved argv, report.
//!
//! Exit codes (besides the command's own):
//! - 75: still pending when `--wait` ran out; run the same command again after approval
//! - 77: denied, by policy or by a reviewer
//! - 78: the request expired or was cancelled before anyone approved it
//! - 69: signoff could not be reached or refused the request
//! - 126/127: the approved command could not be started / was not found

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use signoff_api::{ApprovalView, CheckRequest, CheckResponse, OutcomeRequest};

use crate::setup::{self, Remote};

pub const EXIT_PENDING: u8 = 75;
pub const EXIT_DENIED: u8 = 77;
pub const EXIT_EXPIRED: u8 = 78;
pub const EXIT_UNAVAILABLE: u8 = 69;

#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: the command's own when it ran; 75 still pending after --wait; \
77 denied; 78 expired or cancelled; 69 signoff unreachable or refused; 126/127 the command could not start."
)]
pub struct Args {
    /// The target the command acts on, as named in signoff.toml.
    #[arg(long, env = "SIGNOFF_TARGET", value_name = "TARGET")]
    target: String,
    /// Why you are running this; shown to reviewers.
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// How long to wait for approval before giving up (exit 75).
    #[arg(long, default_value = "5m", value_parser = setup::duration, value_name = "DURATION")]
    wait: Duration,
    #[command(flatten)]
    remote: Remote,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    argv: Vec<String>,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> Result<ExitCode> {
    let client = args.remote.client(config.as_deref())?;
    let request = CheckRequest {
        target: args.target.clone(),
        kind: "exec".into(),
        payload: json!({ "argv": args.argv }),
        reason: args.reason.clone(),
        trace_id: None,
    };
    let first = match client.check(&request, None).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signoff: {e}");
            return Ok(ExitCode::from(EXIT_UNAVAILABLE));
        }
    };
    let allowed = match first.decision.as_str() {
        "allow" => first,
        "deny" => {
            eprintln!(
                "signoff: denied: {}",
                first.reason.as_deref().unwrap_or("by policy")
            );
            return Ok(ExitCode::from(EXIT_DENIED));
        }
        _ => match wait_for_approval(&client, &request, &first, args.wait).await? {
            Ok(allowed) => allowed,
            Err(code) => return Ok(ExitCode::from(code)),
        },
    };
    Ok(run_and_report(&client, &allowed, &args.argv).await)
}

/// Waits with a spinner; on approval, asks again to use the grant.
async fn wait_for_approval(
    client: &signoff_client::Client,
    request: &CheckRequest,
    first: &CheckResponse,
    wait: Duration,
) -> Result<Result<CheckResponse, u8>> {
    let Some(approval) = &first.approval else {
        eprintln!("signoff: pending without an approval request; this is a bug");
        return Ok(Err(EXIT_UNAVAILABLE));
    };
    let id = approval.id;
    eprintln!(
        "signoff: `{}` needs approval ({})",
        first.classification.summary,
        first.policies.join(", ")
    );
    eprintln!("  request:  {id}");
    eprintln!("  who:      {}", who_must_approve(approval));
    eprintln!("  review:   {}", approval.review_url);
    eprintln!("  or:       signoff approve {id}");
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} waiting for approval of {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(id.to_string());
    spinner.enable_steady_tick(Duration::from_millis(120));
    let started = Instant::now();
    let outcome = loop {
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            break Err(EXIT_PENDING);
        }
        // Long-poll: the server answers the moment the request is decided.
        let view = match client
            .approval(id, Some(left.min(Duration::from_secs(30))))
            .await
        {
            Ok(v) => v,
            Err(e) if e.status().is_none() => {
                spinner.set_message(format!("{id} (reconnecting: {e})"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                spinner.finish_and_clear();
                eprintln!("signoff: {e}");
                return Ok(Err(EXIT_UNAVAILABLE));
            }
        };
        spinner.set_message(format!(
            "{id} ({}/{} approvals)",
            view.approvals_received, view.approvals_required
        ));
        match view.status.as_str() {
            "pending" => continue,
            "approved" => break Ok(view),
            "denied" => {
                let why = view
                    .reviews
                    .iter()
                    .find(|r| r.verdict == "deny")
                    .map(|r| format!("by {}: {}", r.reviewer, r.comment))
                    .unwrap_or_default();
                spinner.finish_and_clear();
                eprintln!("signoff: denied {why}");
                return Ok(Err(EXIT_DENIED));
            }
            other => {
                spinner.finish_and_clear();
                eprintln!("signoff: the request was {other} before it was approved");
                return Ok(Err(EXIT_EXPIRED));
            }
        }
    };
    spinner.finish_and_clear();
    let view = match outcome {
        Ok(v) => v,
        Err(code) => {
            eprintln!("signoff: still pending after {}; run the same command again once `{id}` is approved", humantime::format_duration(wait));
            return Ok(Err(code));
        }
    };
    let approvers: Vec<&str> = view
        .reviews
        .iter()
        .filter(|r| r.verdict == "approve")
        .map(|r| r.reviewer.as_str())
        .collect();
    eprintln!(
        "signoff: approved by {} after {}s",
        approvers.join(", "),
        started.elapsed().as_secs()
    );
    // The approval yielded a grant for this exact argv: asking again uses it.
    let again = match client.check(request, None).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signoff: {e}");
            return Ok(Err(EXIT_UNAVAILABLE));
        }
    };
    match again.decision.as_str() {
        "allow" => Ok(Ok(again)),
        _ => {
            eprintln!("signoff: approved, but the grant was already used; ask again");
            Ok(Err(EXIT_DENIED))
        }
    }
}

pub(crate) fn who_must_approve(a: &ApprovalView) -> String {
    let groups = if a.reviewer_groups.is_empty() {
        "any human but you".to_string()
    } else {
        a.reviewer_groups.join(" or ")
    };
    let expires = a.expires_at.split('.').next().unwrap_or(&a.expires_at);
    format!(
        "{} approval(s) from {groups} ({} so far); expires {expires}Z",
        a.approvals_required, a.approvals_received
    )
}

/// Runs exactly the argv that was checked and reports the outcome.
async fn run_and_report(
    client: &signoff_client::Client,
    allowed: &CheckResponse,
    argv: &[String],
) -> ExitCode {
    let started = Instant::now();
    let status = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .await;
    let elapsed = started.elapsed();
    let (code, report) = match status {
        Ok(s) => {
            let code = s.code().unwrap_or_else(|| 128 + signal_of(&s));
            (
                code,
                OutcomeRequest {
                    succeeded: s.success(),
                    exit_code: Some(code),
                    duration_ms: Some(elapsed.as_millis() as u64),
                    detail: None,
                },
            )
        }
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!("signoff: cannot run `{}`: {e}", argv[0]);
            (
                code,
                OutcomeRequest {
                    succeeded: false,
                    exit_code: Some(code),
                    duration_ms: Some(elapsed.as_millis() as u64),
                    detail: Some(e.to_string()),
                },
            )
        }
    };
    if let Err(e) = client.outcome(allowed.action_id, &report).await {
        eprintln!("signoff: the command ran, but its outcome could not be recorded: {e}");
    }
    ExitCode::from(code.clamp(0, 255) as u8)
}

#[cfg(unix)]
fn signal_of(s: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.signal().unwrap_or(0)
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> i32 {
    0
}
