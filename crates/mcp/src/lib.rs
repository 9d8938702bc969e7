//! The MCP front door (DESIGN §5–6): a proxy that speaks MCP to the agent and
//! to an upstream MCP server, and gates every `tools/call` on the tool *and
//! its arguments*.
//!
//! The proxy never decides: a [`Gate`] (the gateway, wired in by the server)
//! does. Allowed calls are forwarded and their results returned unchanged
//! (masked when the target asks for it); denied and timed-out calls become
//! tool results with `isError: true`, so the model reads why. Everything else
//! (tools/list, resources, prompts, ping) passes through.

mod proxy;
mod upstream;

pub use proxy::{BoxFuture, Gate, GateVerdict, Proxy, ToolCall, REASON_META};
pub use upstream::{Upstream, UpstreamError};
