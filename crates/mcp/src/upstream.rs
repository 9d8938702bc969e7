//! Upstream MCP servers: how to reach one, and connecting as a client.

use std::collections::BTreeMap;

use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};

/// An upstream MCP server, as configured for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// A command speaking MCP on stdin/stdout, started once per session.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("the upstream did not complete the MCP handshake: {0}")]
    Handshake(String),
}

impl Upstream {
    /// Connects and completes the MCP handshake as a client.
    pub async fn connect(&self) -> Result<RunningService<RoleClient, ()>, UpstreamError> {
        match self {
            Upstream::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).envs(env);
                let transport =
                    TokioChildProcess::new(cmd).map_err(|source| UpstreamError::Spawn {
                        command: command.clone(),
                        source,
                    })?;
                ().serve(transport)
                    .await
                    .map_err(|e| UpstreamError::Handshake(e.to_string()))
            }
        }
    }
}
