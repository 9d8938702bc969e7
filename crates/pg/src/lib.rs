//! The PostgreSQL front door: agents point an ordinary driver at signoff, and
//! every statement is decided on its own before the database sees it.
//!
//! One [`serve`] loop per target accepts connections, on a thread of its own
//! ([`Door`]); each connection is a session (`session/`): SCRAM login with
//! a signoff API key as the password, a login upstream with credentials only
//! signoff holds, then two halves. The client half reads messages in order
//! and asks the [`Gate`] at each statement (every statement of a Query, each
//! Execute of the extended protocol); the upstream half (`relay.rs`) forwards
//! responses, masks rows when the target asks, and reports each statement's
//! outcome.
//!
//! A refused statement is never sent. In its place goes a probe that fails to
//! parse, so the database itself enters the error state (an open transaction
//! is aborted, the extended protocol skips to Sync) and the session stays
//! consistent; the relay swaps the probe's error for signoff's.
//!
//! **Invariant:** the proxy never decides; a statement reaches the database
//! only after [`Gate::check`] answered [`Verdict::Allow`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cancel;
mod door;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
mod messages;
mod relay;
mod rows;
pub mod scram;
mod session;
mod tls;
pub mod upstream;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use signoff_core::{Caller, ScramVerifier};
use tokio::net::TcpListener;

pub use door::{Door, DoorError};
pub use tls::{load_tls, TlsError};
pub use upstream::{UpstreamAddr, UpstreamConfig, UpstreamError};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// SQLSTATE for a statement that policy denied (`insufficient_privilege`).
pub const SQLSTATE_DENIED: &str = "42501";
/// SQLSTATE for a statement still waiting for approval when the hold ended.
/// Class `SO` is in the range PostgreSQL leaves to implementations.
pub const SQLSTATE_PENDING: &str = "SO001";
/// SQLSTATE when signoff could not decide (fail closed).
pub const SQLSTATE_UNDECIDED: &str = "SO002";

/// One statement to decide.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub target: String,
    pub sql: String,
    /// Bound parameters (extended protocol): text as strings, binary as
    /// `\x…` hex, NULL as null.
    pub params: Vec<Value>,
}

/// The gate's answer.
#[derive(Debug)]
pub enum Verdict<T> {
    Allow(T),
    Refuse {
        sqlstate: &'static str,
        message: String,
    },
    /// The session may not go on (its credentials were revoked): the
    /// statement does not run and the connection ends with a FATAL error.
    End {
        sqlstate: &'static str,
        message: String,
    },
}

/// How an allowed statement went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// CommandComplete: the tag (`DELETE 3`, `SELECT 10`).
    Completed {
        tag: String,
    },
    Failed {
        sqlstate: String,
        message: String,
    },
    /// An earlier error in the same batch or transaction meant it never ran.
    NotRun,
}

/// A statement held for approval, as the client is told at once (in a
/// NoticeResponse, which psql and libpq show while the statement waits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub request_id: String,
    pub review_url: String,
    /// Who must approve, in words (`1 approval by someone in dba`).
    pub needs: String,
    /// How long the statement is held before it is refused as pending.
    pub hold: Duration,
}

/// Where [`Gate::check`] reports a hold; dropped unused when none happens.
pub type HeldTx = tokio::sync::oneshot::Sender<Held>;

/// A principal's login material.
pub struct Login {
    /// Every live key's verifier, with the key's public id.
    pub keys: Vec<(String, ScramVerifier)>,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

/// What decides: implemented by the server with the gateway.
pub trait Gate: Send + Sync + 'static {
    /// What an allowed statement carries until its outcome is known.
    type Ticket: Send + 'static;

    /// The verifiers of `user`'s keys; `None` for an unknown user.
    fn login<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Option<Login>, String>>;
    /// The caller for `user` logged in with key `key_id`.
    fn caller(&self, user: &str, key_id: &str) -> Result<Caller, String>;
    /// Audits a failed login.
    fn login_failed<'a>(&'a self, user: &'a str, why: String) -> BoxFuture<'a, ()>;
    /// Decides `statement`, holding while it awaits approval; a hold is
    /// reported on `held` as soon as it starts.
    fn check<'a>(
        &'a self,
        caller: &'a Caller,
        statement: Statement,
        held: HeldTx,
    ) -> BoxFuture<'a, Verdict<Self::Ticket>>;
    /// Records how an allowed statement went.
    fn outcome(&self, ticket: Self::Ticket, outcome: Outcome, duration: Duration);
}

/// One PostgreSQL target's front door.
#[derive(Clone, Debug)]
pub struct Settings {
    pub target: String,
    pub upstream: UpstreamConfig,
    /// The largest message accepted from either side.
    pub max_message_bytes: usize,
    /// Masks result rows when set.
    pub masking: Option<RowMasking>,
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// Which result values are masked.
#[derive(Clone)]
pub struct RowMasking {
    pub masker: Arc<signoff_mask::Masker>,
    /// Columns masked whatever they hold (lowercase names).
    pub columns: Vec<String>,
}

impl std::fmt::Debug for RowMasking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowMasking")
            .field("columns", &self.columns)
            .finish()
    }
}

pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Accepts connections until the task is dropped; each is its own task, so a
/// held statement never slows another session.
pub async fn serve<G: Gate>(listener: TcpListener, settings: Settings, gate: Arc<G>) {
    let settings = Arc::new(settings);
    let sessions = cancel::Registry::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (settings, gate, sessions) = (settings.clone(), gate.clone(), sessions.clone());
        tokio::spawn(async move {
            session::serve_connection(stream, peer, settings, gate, sessions).await;
        });
    }
}
