use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use signoff_api::{ApprovalView, ReviewRequest};
use uuid::Uuid;

use crate::setup::{self, Remote};

#[derive(clap::Subcommand)]
pub enum ListCommand {
    /// List requests, newest first.
    List {
        /// Only requests with this status (pending, approved, denied, expired, cancelled, executed, failed).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one request with everything a reviewer needs.
    Show {
        id: Uuid,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(clap::Args)]
pub struct ApproveArgs {
    /// The approval request id.
    id: Uuid,
    /// A note for the audit log.
    #[arg(long)]
    comment: Option<String>,
    /// Approve identical actions for this long instead of once, if policy permits (`@max_window`).
    #[arg(long = "for", value_parser = setup::duration, value_name = "DURATION")]
    window: Option<Duration>,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct DenyArgs {
    /// The approval request id.
    id: Uuid,
    /// Why; the requester sees it.
    #[arg(long)]
    comment: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args)]
pub struct CancelArgs {
    /// The approval request id.
    id: Uuid,
    #[command(flatten)]
    remote: Remote,
}

pub async fn list(config: Option<PathBuf>, c: ListCommand) -> Result<ExitCode> {
    match c {
        ListCommand::List {
            status,
            limit,
            json,
            remote,
        } => {
            let client = remote.client(config.as_deref())?;
            let list = client.approvals(status.as_deref(), limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.approvals.is_empty() {
                println!(
                    "no approval requests{}",
                    status
                        .map(|s| format!(" with status {s}"))
                        .unwrap_or_default()
                );
            } else {
                println!(
                    "{:<36}  {:<9}  {:<5}  {:<22}  {:<12}  SUMMARY",
                    "ID", "STATUS", "VOTES", "PRINCIPAL", "TARGET"
                );
                for a in &list.approvals {
                    println!(
                        "{:<36}  {:<9}  {:<5}  {:<22}  {:<12}  {}",
                        a.id,
                        a.status,
                        format!("{}/{}", a.approvals_received, a.approvals_required),
                        truncate(&a.principal, 22),
                        truncate(&a.target, 12),
                        truncate(&a.classification.summary, 60)
                    );
                }
            }
        }
        ListCommand::Show { id, json, remote } => {
            let client = remote.client(config.as_deref())?;
            let a = client.approval(id, None).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                print_view(&a);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

pub fn print_view(a: &ApprovalView) {
    println!("request   {}", a.id);
    println!(
        "status    {} ({} of {} approvals)",
        a.status, a.approvals_received, a.approvals_required
    );
    println!("who       {} on behalf of {}", a.principal, a.on_behalf_of);
    println!(
        "what      {} {}",
        a.kind,
        serde_json::to_string(&a.payload).unwrap_or_default()
    );
    println!(
        "          {} [{}]",
        a.classification.summary,
        a.classification.effects.join(", ")
    );
    println!("where     {}", a.target);
    println!(
        "why       {}",
        a.reason.as_deref().unwrap_or("(no reason given)")
    );
    if let Some(said) = a
        .annotations
        .as_ref()
        .and_then(signoff_core::approval::annotations_line)
    {
        println!("tool says {said} (the upstream's claim, not verified)");
    }
    println!("rule      {}", a.policies.join(", "));
    println!(
        "reviewers {}",
        if a.reviewer_groups.is_empty() {
            "any human but the requester".into()
        } else {
            a.reviewer_groups.join(", ")
        }
    );
    println!("expires   {}", a.expires_at);
    for r in &a.reviews {
        println!(
            "review    {} {} at {}{}",
            r.reviewer,
            r.verdict,
            r.at,
            if r.comment.is_empty() {
                String::new()
            } else {
                format!(": {}", r.comment)
            }
        );
    }
    if let Some(g) = &a.grant {
        println!(
            "grant     {} until {} (used {}x)",
            g.mode, g.expires_at, g.uses
        );
    }
    println!("link      {}", a.review_url);
}

pub async fn approve(config: Option<PathBuf>, args: ApproveArgs) -> Result<ExitCode> {
    let client = args.remote.client(config.as_deref())?;
    let req = ReviewRequest {
        verdict: "approve".into(),
        comment: args.comment,
        window: args.window.map(|w| format!("{}s", w.as_secs())),
    };
    let a = client
        .review(args.id, &req)
        .await
        .context("the approval was not recorded")?;
    println!(
        "approved {}: now {} ({} of {} approvals)",
        a.id, a.status, a.approvals_received, a.approvals_required
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn deny(config: Option<PathBuf>, args: DenyArgs) -> Result<ExitCode> {
    let client = args.remote.client(config.as_deref())?;
    let req = ReviewRequest {
        verdict: "deny".into(),
        comment: Some(args.comment),
        window: None,
    };
    let a = client
        .review(args.id, &req)
        .await
        .context("the denial was not recorded")?;
    println!("denied {}: now {}", a.id, a.status);
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(config: Option<PathBuf>, args: CancelArgs) -> Result<ExitCode> {
    let client = args.remote.client(config.as_deref())?;
    let a = client
        .cancel(args.id)
        .await
        .context("the request was not cancelled")?;
    println!("cancelled {}", a.id);
    Ok(ExitCode::SUCCESS)
}
