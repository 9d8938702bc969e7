//! The `signoff` command: a thin layer over the library crates.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cmd;
mod setup;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// A statement stream allocates small, short-lived values on every worker
// thread; mimalloc's thread-local heaps make that markedly cheaper than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// signoff: an identity-aware approval gateway for AI agents and automation.
///
/// Agents send actions (SQL, shell commands, HTTP and MCP calls) through signoff.
/// Policy allows, denies, or pauses each one until enough humans approve that
/// exact action. Every request, decision and review lands in a verifiable audit log.
///
/// Quick start: `signoff serve` runs the embedded default (SQLite, demo keys).
#[derive(Parser)]
#[command(
    name = "signoff",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// The config file. Without it, commands use the embedded default.
    #[arg(long, global = true, env = "SIGNOFF_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log format for `serve`: `text` or `json`. Levels come from SIGNOFF_LOG (default `info`).
    #[arg(long, global = true, default_value = "text", value_name = "FORMAT")]
    log_format: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: the HTTP API, the expiry sweep, and the audit log.
    Serve(cmd::serve::Args),
    /// Write a commented signoff.toml and starter policies into DIR.
    Init(cmd::init::Args),
    /// Ask signoff before running a command; wait for approval if needed; run it.
    Exec(cmd::exec::Args),
    /// List or show approval requests.
    #[command(subcommand)]
    Approvals(cmd::approvals::ListCommand),
    /// Approve a pending request.
    Approve(cmd::approvals::ApproveArgs),
    /// Deny a pending request, saying why.
    Deny(cmd::approvals::DenyArgs),
    /// Cancel your own pending request.
    Cancel(cmd::approvals::CancelArgs),
    /// Show how one action is classified and decided, and which policies decided it.
    Explain(cmd::explain::Args),
    /// Validate, test, or print the schema of policies.
    #[command(subcommand)]
    Policy(cmd::explain::PolicyCommand),
    /// Verify or export the audit log (works offline on the data directory).
    #[command(subcommand)]
    Audit(cmd::audit::Command),
    /// Mask PII and secrets in stdin, line by line, to stdout.
    Mask(cmd::mask::Args),
    /// Serve an MCP target on stdio for an agent's MCP config; signoff gates every call.
    Mcp(cmd::mcp::Args),
    /// OpenAI Responses API: answer MCP approval requests with signoff's decision.
    #[command(subcommand)]
    Openai(cmd::openai::Command),
    /// Agent hooks: gate an agent's tool calls through signoff.
    #[command(subcommand)]
    Hook(cmd::hook::Command),
    /// Manage API keys (works offline on the data directory).
    #[command(subcommand)]
    Keys(cmd::keys::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => cmd::serve::run(cli.config, &cli.log_format, args).await,
            Command::Init(args) => cmd::init::run(args),
            Command::Exec(args) => cmd::exec::run(cli.config, args).await,
            Command::Approvals(c) => cmd::approvals::list(cli.config, c).await,
            Command::Approve(args) => cmd::approvals::approve(cli.config, args).await,
            Command::Deny(args) => cmd::approvals::deny(cli.config, args).await,
            Command::Cancel(args) => cmd::approvals::cancel(cli.config, args).await,
            Command::Explain(args) => cmd::explain::explain(cli.config, args),
            Command::Policy(c) => cmd::explain::policy(cli.config, c),
            Command::Audit(c) => cmd::audit::run(cli.config, c).await,
            Command::Keys(c) => cmd::keys::run(cli.config, c).await,
            Command::Mask(args) => cmd::mask::run(args),
            Command::Hook(c) => cmd::hook::run(cli.config, c).await,
            Command::Mcp(args) => cmd::mcp::run(cli.config, args).await,
            Command::Openai(c) => cmd::openai::run(cli.config, c).await,
        }
    });
    // A read of stdin blocked on a thread (`signoff mcp`) must not keep the
    // process alive once the command is done: the client waits for us to exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
