//! `signoff mcp --server NAME`: the MCP server an agent's MCP config runs.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::setup::Remote;

#[derive(clap::Args)]
#[command(after_help = "\
Every tool call goes to the signoff server, which decides it (allow, deny, or
hold for approval) and runs it against the upstream MCP server `NAME` from
signoff.toml; credentials for the upstream stay on the server. In an MCP
client's config (Claude Code, Claude Desktop, Cursor …):

  {\"mcpServers\": {\"github\": {\"command\": \"signoff\",
    \"args\": [\"mcp\", \"--server\", \"github\"],
    \"env\": {\"SIGNOFF_URL\": \"https://signoff.internal\", \"SIGNOFF_TOKEN\": \"so_…\"}}}}")]
pub struct Args {
    /// The MCP target, as named in signoff.toml.
    #[arg(long, value_name = "NAME")]
    server: String,
    #[command(flatten)]
    remote: Remote,
}

pub async fn run(config: Option<PathBuf>, args: Args) -> Result<ExitCode> {
    let (url, token) = args.remote.endpoint(config.as_deref())?;
    // stdout carries MCP; diagnostics go to stderr only.
    signoff_mcp::bridge_stdio(&args.server, &url, &token)
        .await
        .with_context(|| format!("MCP session for `{}` at {url} ended", args.server))?;
    Ok(ExitCode::SUCCESS)
}
