//! The MCP front door (DESIGN §5–6): a proxy that speaks MCP to the agent and
//! to an upstream MCP server, and gates every `tools/call` on the tool *and
//! its arguments*.
//!
//! The proxy never decides: a [`Gate`] (the gateway, wired in by the server)
//! does. Allowed calls are forwarded and their results returned unchanged
//! (masked when the target asks for it); denied and timed-out calls become
//! tool results with `isError: true`, so the model reads why. Everything else
//! (tools/list, resources, prompts, ping) passes through.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod annotations;
pub mod envelope;
pub mod jsonrpc;
mod proxy;
mod relay;
mod splice;
pub mod sse;
pub mod stdio;
mod upstream;

pub use annotations::KnownAnnotations;
pub use proxy::{
    BoxFuture, CallOutcome, Gate, GateVerdict, OutcomeReport, PendingReview, PendingTx, Proxy,
    ToolCall, ELICITATION_COMPLETE, REASON_META,
};
pub use relay::Relay;
pub use splice::{Splice, SpliceConfig};
pub use upstream::{Lifecycle, SharedUpstreams, Upstream, UpstreamError};

use rmcp::ServiceExt;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("the MCP session on stdio failed: {0}")]
    Session(String),
}

/// `signoff mcp --server NAME`: MCP on stdin/stdout, relayed to the signoff
/// server's `/mcp/NAME` with the agent's key. The server gates; the agent's
/// MCP config just runs this command.
pub async fn bridge_stdio(server: &str, base_url: &str, token: &str) -> Result<(), BridgeError> {
    let upstream = Upstream::Http {
        url: format!("{}/mcp/{server}", base_url.trim_end_matches('/')),
        bearer: Some(token.to_owned()),
        headers: Default::default(),
    };
    let proxy = Proxy::new(server.to_owned(), upstream, None, None);
    let (input, output) =
        stdio::framed(tokio::io::stdin(), tokio::io::stdout(), stdio::MAX_MESSAGE);
    let running = proxy
        .serve((input, output))
        .await
        .map_err(|e| BridgeError::Session(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| BridgeError::Session(e.to_string()))?;
    Ok(())
}
