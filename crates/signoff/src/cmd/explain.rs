use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::json;
use signoff_config::Config;
use signoff_core::{Action, ActionKind, Decision, Payload, Principal};
use signoff_gateway::{Decider, Evaluation};

use crate::setup;

#[derive(clap::Args)]
pub struct Args {
    /// Who acts: `agent:NAME` or `user:ID`.
    #[arg(long)]
    principal: Principal,
    /// The target, as named in the config.
    #[arg(long)]
    target: String,
    /// sql, exec, http, mcp_tool or custom.
    #[arg(long, value_parser = parse_kind)]
    kind: ActionKind,
    /// The caller's stated reason.
    #[arg(long)]
    reason: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// SQL text, a shell command, `METHOD /path`, or JSON for mcp_tool and custom.
    payload: String,
}

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    /// Parse and validate the policies against the schema; print any error with its location.
    Validate,
    /// Run a table of actions with expected decisions (TOML); exit 1 on any mismatch.
    Test {
        /// A TOML file of `[[case]]` tables: principal, target, kind, payload, expect.
        file: PathBuf,
    },
    /// Print the Cedar schema policies are validated against.
    Schema,
}

fn parse_kind(s: &str) -> Result<ActionKind, String> {
    ActionKind::parse(s)
        .ok_or_else(|| format!("`{s}` is not a kind; use sql, exec, http, mcp_tool or custom"))
}

fn decider(config: &Config) -> Result<Decider> {
    Decider::from_config(config).context("policies did not load")
}

fn action(
    config: &Config,
    principal: Principal,
    target: String,
    kind: ActionKind,
    payload: &str,
) -> Result<Action> {
    let on_behalf_of = match &principal {
        Principal::Agent(n) => config
            .directory
            .agent(n)
            .map(|a| a.owner.clone())
            .with_context(|| format!("`{principal}` is not in the config"))?,
        Principal::User(n) => n.clone(),
    };
    Ok(Action {
        principal,
        on_behalf_of,
        target,
        payload: Payload::from_text(kind, payload)?,
    })
}

fn describe(d: &Decision) -> String {
    match d {
        Decision::Allow { .. } => "allow".into(),
        Decision::Deny { reason, .. } => format!("deny: {reason}"),
        Decision::RequireApproval { requirement: r, .. } => format!(
            "require_approval: {} approval(s) from {}, expires after {}{}",
            r.approvals,
            if r.reviewer_groups.is_empty() {
                "any human".into()
            } else {
                r.reviewer_groups.join(" or ")
            },
            signoff_core::duration::format(r.ttl),
            r.max_window
                .map(|w| format!(
                    ", reviewers may grant up to {}",
                    signoff_core::duration::format(w)
                ))
                .unwrap_or_default()
        ),
    }
}

pub fn explain(config_path: Option<PathBuf>, args: Args) -> Result<ExitCode> {
    let config = setup::config(config_path.as_deref(), None)?;
    let decider = decider(&config)?;
    let action = action(
        &config,
        args.principal,
        args.target,
        args.kind,
        &args.payload,
    )?;
    let Evaluation {
        classification,
        decision,
    } = decider.evaluate(
        &action,
        args.reason.as_deref().unwrap_or(""),
        time::OffsetDateTime::now_utc(),
    );
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "action": action,
                "fingerprint": action.fingerprint(),
                "classification": classification,
                "decision": decision,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "action       {} on {} by {} (on behalf of {})",
        action.kind(),
        action.target,
        action.principal,
        action.on_behalf_of
    );
    println!("fingerprint  {}", action.fingerprint());
    println!("summary      {}", classification.summary);
    println!(
        "effects      {}",
        classification
            .effects
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "facts        {}",
        serde_json::to_string(&classification.facts)?
    );
    println!("decision     {}", describe(&decision));
    println!(
        "policies     {}",
        if decision.policies().is_empty() {
            "(none)".into()
        } else {
            decision.policies().join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    case: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: Option<String>,
    principal: Principal,
    target: String,
    kind: String,
    payload: String,
    #[serde(default)]
    reason: Option<String>,
    /// allow, deny or require_approval
    expect: String,
    #[serde(default)]
    approvals: Option<u32>,
    #[serde(default)]
    policies: Option<Vec<String>>,
}

pub fn policy(config_path: Option<PathBuf>, c: PolicyCommand) -> Result<ExitCode> {
    match c {
        PolicyCommand::Schema => {
            print!("{}", signoff_policy::SCHEMA);
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Validate => {
            let config = setup::config(config_path.as_deref(), None)?;
            let d = decider(&config)?;
            println!(
                "ok: {} policies valid{}",
                d.policy_count(),
                config
                    .policy_dir
                    .as_ref()
                    .map(|p| format!(" in {}", p.display()))
                    .unwrap_or_else(|| " (quickstart set)".into())
            );
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Test { file } => test(config_path.as_deref(), &file),
    }
}

fn test(config_path: Option<&Path>, file: &Path) -> Result<ExitCode> {
    let config = setup::config(config_path, None)?;
    let decider = decider(&config)?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read `{}`", file.display()))?;
    let cases: TestFile = toml::from_str(&text).map_err(|e| {
        let at = e.span().map(|s| {
            signoff_core::Location::at_offset(&file.display().to_string(), &text, s.start)
        });
        anyhow::anyhow!(
            "{}: {}",
            at.map(|a| a.to_string())
                .unwrap_or_else(|| file.display().to_string()),
            e.message()
        )
    })?;
    if cases.case.is_empty() {
        bail!("`{}` has no [[case]] tables", file.display());
    }
    let (mut passed, mut failed) = (0, 0);
    for (i, case) in cases.case.iter().enumerate() {
        let name = case
            .name
            .clone()
            .unwrap_or_else(|| format!("case {}", i + 1));
        let kind = parse_kind(&case.kind).map_err(anyhow::Error::msg)?;
        let action = action(
            &config,
            case.principal.clone(),
            case.target.clone(),
            kind,
            &case.payload,
        )
        .with_context(|| format!("case `{name}`"))?;
        let eval = decider.evaluate(
            &action,
            case.reason.as_deref().unwrap_or(""),
            time::OffsetDateTime::now_utc(),
        );
        let mut problems = Vec::new();
        if eval.decision.outcome() != case.expect {
            problems.push(format!(
                "expected {}, got {}",
                case.expect,
                describe(&eval.decision)
            ));
        }
        if let (Some(want), Decision::RequireApproval { requirement, .. }) =
            (case.approvals, &eval.decision)
        {
            if requirement.approvals != want {
                problems.push(format!(
                    "expected {want} approvals, got {}",
                    requirement.approvals
                ));
            }
        }
        if let Some(want) = &case.policies {
            let mut want = want.clone();
            want.sort();
            if want != eval.decision.policies() {
                problems.push(format!(
                    "expected policies [{}], got [{}]",
                    want.join(", "),
                    eval.decision.policies().join(", ")
                ));
            }
        }
        if problems.is_empty() {
            passed += 1;
            println!("ok    {name}");
        } else {
            failed += 1;
            println!(
                "FAIL  {name}: {} ({} `{}`: {})",
                problems.join("; "),
                case.kind,
                case.payload,
                eval.classification.summary
            );
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
