//! Upstream MCP servers: how to reach one, and connecting as a client.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use tokio::sync::OnceCell;

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

/// How signoff's session with an upstream begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// `initialize`, in a handshake revision (to 2025-11-25).
    Handshake,
    /// `server/discover`, then self-contained requests (2026-07-28), for
    /// an HTTP upstream; a stdio one is always a handshake session.
    Stateless,
}

impl Upstream {
    /// Connects and begins the session as a client; `relay` carries the
    /// upstream's notifications and elicitations to the agent.
    pub async fn connect(
        &self,
        relay: Relay,
        lifecycle: Lifecycle,
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
                let transport = StreamableHttpClientTransport::with_client(http_client()?, config);
                let started = match lifecycle {
                    Lifecycle::Handshake => relay.serve(transport).await,
                    Lifecycle::Stateless => {
                        let preferred_versions = vec![ProtocolVersion::V_2026_07_28];
                        let mode = ClientLifecycleMode::Discover { preferred_versions };
                        relay.serve_with_lifecycle(transport, mode).await
                    }
                };
                started.map_err(|e| UpstreamError::Handshake(e.to_string()))
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
    // reqwest is built without a default TLS provider; ring is ours (no cmake
    // for aws-lc-rs). rustls 0.23.48 deprecates it for lacking post-quantum
    // key exchange; it stays supported.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest13::Client::builder()
        .tcp_nodelay(true)
        .redirect(reqwest13::redirect::Policy::none())
        .build()
        .map_err(|e| UpstreamError::Handshake(e.to_string()))?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

/// A principal's upstream session unused for this long is closed.
const SHARED_IDLE: Duration = Duration::from_secs(600);
/// How often idle sessions are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Upstream sessions for stateless requests (MCP 2026-07-28), one per
/// principal and target. That revision has no session of its own, and a
/// stdio target started per request would cost a process per call and lose
/// whatever the server keeps between calls. A closed session (the upstream
/// exited) is replaced on the next request; an idle one is closed.
#[derive(Clone)]
pub struct SharedUpstreams(Arc<Mutex<HashMap<String, Shared>>>);

type Sessions = Mutex<HashMap<String, Shared>>;

type Connection = Arc<RunningService<RoleClient, Relay>>;

struct Shared {
    conn: Arc<OnceCell<Connection>>,
    used: Instant,
}

impl SharedUpstreams {
    /// No sessions yet; idle ones are swept while this lives (in a tokio
    /// runtime; outside one, only when the next request comes).
    pub fn start() -> SharedUpstreams {
        let shared = SharedUpstreams(Arc::default());
        let sessions = Arc::downgrade(&shared.0);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(SWEEP_EVERY);
                loop {
                    tick.tick().await;
                    let Some(sessions) = sessions.upgrade() else {
                        return;
                    };
                    close_idle(&sessions, Instant::now());
                }
            });
        }
        shared
    }

    /// `principal`'s session with `upstream`, connected on first use.
    pub(crate) async fn connect(
        &self,
        principal: &str,
        upstream: &Upstream,
    ) -> Result<Connection, UpstreamError> {
        let cell = {
            let now = Instant::now();
            close_idle(&self.0, now);
            let mut shared = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let entry = shared
                .entry(principal.to_owned())
                .or_insert_with(|| Shared {
                    conn: Arc::default(),
                    used: now,
                });
            if entry
                .conn
                .get()
                .is_some_and(|c| c.is_closed() || c.peer().is_transport_closed())
            {
                entry.conn = Arc::default();
            }
            entry.used = now;
            entry.conn.clone()
        };
        cell.get_or_try_init(|| async {
            let conn = upstream.connect(Relay::default(), Lifecycle::Handshake);
            conn.await.map(Arc::new)
        })
        .await
        .cloned()
    }

    /// Forgets `conn` as `principal`'s session (its upstream went away),
    /// unless it was already replaced.
    pub(crate) fn forget(&self, principal: &str, conn: &Connection) {
        let mut shared = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let current = shared.get(principal).and_then(|s| s.conn.get());
        if current.is_some_and(|c| Arc::ptr_eq(c, conn)) {
            shared.remove(principal);
        }
    }
}

/// Forgets sessions unused for `SHARED_IDLE`; dropping the last handle
/// closes one (a stdio upstream's process is killed). In-flight calls hold
/// their connection, so this never cuts a call short.
fn close_idle(sessions: &Sessions, now: Instant) {
    let mut sessions = sessions.lock().unwrap_or_else(|e| e.into_inner());
    sessions.retain(|_, s| now.duration_since(s.used) < SHARED_IDLE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_unused_for_the_idle_time_are_closed_and_others_kept() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        for (later, kept) in [
            (Duration::ZERO, true),
            (SHARED_IDLE - second, true),
            (SHARED_IDLE, false),
            (SHARED_IDLE + second, false),
        ] {
            let sessions: Sessions = Mutex::default();
            let idle = Shared {
                conn: Arc::default(),
                used: t0,
            };
            sessions.lock().unwrap().insert("agent:bot".into(), idle);
            close_idle(&sessions, t0 + later);
            assert_eq!(sessions.lock().unwrap().len() == 1, kept, "{later:?}");
        }
    }
}
