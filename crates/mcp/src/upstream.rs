//! Upstream MCP servers: how to reach one, and connecting as a client.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};

use crate::relay::Relay;

/// An upstream MCP server, as configured for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// A command speaking MCP on stdin/stdout, started once per session.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    /// A streamable-HTTP endpoint. The headers (credentials) stay here.
    Http {
        url: String,
        /// `Bearer` token, sent as `Authorization`.
        bearer: Option<String>,
        headers: BTreeMap<String, String>,
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
    #[error("header `{name}` is not a valid HTTP header")]
    Header { name: String },
    #[error("`{url}` is not a URL: {reason}")]
    Url { url: String, reason: String },
}

impl Upstream {
    /// Connects and completes the MCP handshake as a client; `relay` carries
    /// the upstream's notifications and elicitations to the agent.
    pub async fn connect(
        &self,
        relay: Relay,
    ) -> Result<RunningService<RoleClient, Relay>, UpstreamError> {
        match self {
            Upstream::Stdio { command, args, env } => {
                let mut cmd = tokio::process::Command::new(command);
                cmd.args(args).envs(env);
                let transport =
                    TokioChildProcess::new(cmd).map_err(|source| UpstreamError::Spawn {
                        command: command.clone(),
                        source,
                    })?;
                relay
                    .serve(transport)
                    .await
                    .map_err(|e| UpstreamError::Handshake(e.to_string()))
            }
            Upstream::Http {
                url,
                bearer,
                headers,
            } => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                config.auth_header = bearer.clone();
                for (name, value) in &header_map(headers)? {
                    config.custom_headers.insert(name.clone(), value.clone());
                }
                let client = http_client()?;
                relay
                    .serve(StreamableHttpClientTransport::with_client(client, config))
                    .await
                    .map_err(|e| UpstreamError::Handshake(e.to_string()))
            }
        }
    }
}

/// Configured headers as HTTP headers, each checked.
pub(crate) fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, UpstreamError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let bad = || UpstreamError::Header { name: name.clone() };
        map.insert(
            HeaderName::try_from(name.as_str()).map_err(|_| bad())?,
            HeaderValue::try_from(value.as_str()).map_err(|_| bad())?,
        );
    }
    Ok(map)
}

/// The HTTP client of every streamable-HTTP upstream session. rmcp's default
/// opens a connection per request; this one pools them (TCP_NODELAY, so an
/// unread stream tail never stalls the next request) and never follows
/// redirects, so held headers go nowhere else. Built once: building loads
/// the system's root certificates, about 4 ms of CPU (perf over 32 session
/// starts), which every session start paid before.
pub(crate) fn http_client() -> Result<reqwest13::Client, UpstreamError> {
    static CLIENT: OnceLock<reqwest13::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    // reqwest is built without a default TLS provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest13::Client::builder()
        .tcp_nodelay(true)
        .redirect(reqwest13::redirect::Policy::none())
        .build()
        .map_err(|e| UpstreamError::Handshake(e.to_string()))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}
