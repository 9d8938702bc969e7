//! Drives both halves of a session over arbitrary bytes, for `cargo fuzz`
//! (target `pg_session`): what a hostile client sends and what a broken
//! database answers, with a gate that allows or refuses by statement text.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use signoff_core::{AuthMethod, Caller, Principal};
use tokio::sync::Notify;

use crate::frame::FrameReader;
use crate::relay::{Expectations, Relay};
use crate::session::ClientHalf;
use crate::{
    BoxFuture, Gate, Login, Outcome, RowMasking, Settings, Statement, UpstreamConfig, Verdict,
};

/// Allows or refuses by statement length; also the relay tests' gate.
pub(crate) struct FuzzGate;

impl Gate for FuzzGate {
    type Ticket = ();
    fn login<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Login>, String>> {
        Box::pin(async { Ok(None) })
    }
    fn caller(&self, _: &str, _: &str) -> Result<Caller, String> {
        Err("no logins while fuzzing".into())
    }
    fn login_failed<'a>(&'a self, _: &'a str, _: String) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
    fn check<'a>(
        &'a self,
        _: &'a Caller,
        s: Statement,
        _: crate::HeldTx,
    ) -> BoxFuture<'a, Verdict<()>> {
        Box::pin(async move {
            match s.sql.len() % 3 {
                0 => Verdict::Refuse {
                    sqlstate: crate::SQLSTATE_DENIED,
                    message: "denied".into(),
                },
                _ => Verdict::Allow(()),
            }
        })
    }
    fn outcome(&self, _: (), _: Outcome, _: Duration) {}
}

/// Runs a session after login: `client` as the client's bytes, `upstream`
/// as the database's. Must never panic or hang.
pub fn session(client: &[u8], upstream: &[u8]) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    rt.block_on(async {
        // Built once: compiling the detectors dominates a run otherwise.
        static MASKER: std::sync::OnceLock<Option<Arc<signoff_mask::Masker>>> =
            std::sync::OnceLock::new();
        let masker = MASKER
            .get_or_init(|| {
                signoff_mask::Masker::new(&signoff_mask::MaskConfig::default())
                    .ok()
                    .map(Arc::new)
            })
            .clone();
        let settings = offline_settings(masker.map(|masker| RowMasking {
            masker,
            columns: vec!["secret".into()],
        }));
        let (tx, rx) = crate::relay::expectations();
        let relay = Relay {
            gate: Arc::new(FuzzGate),
            upstream: FrameReader::new(upstream, 1 << 16),
            client: tokio::io::sink(),
            expect: rx,
            masking: settings.masking.clone(),
        };
        let mut half = client_half(Arc::new(FuzzGate), settings, tokio::io::sink(), tx);
        let mut reader = FrameReader::new(client, 1 << 16);
        let _ = half.run(&mut reader).await;
        drop(half);
        let _ = relay.run().await;
    });
}

/// Settings of a target `db` whose sessions never dial the database.
pub(crate) fn offline_settings(masking: Option<RowMasking>) -> Arc<Settings> {
    Arc::new(Settings {
        target: "db".into(),
        upstream: UpstreamConfig {
            addr: crate::UpstreamAddr::Tcp {
                host: "127.0.0.1".into(),
                port: 1,
            },
            user: "u".into(),
            password: None,
            database: "d".into(),
            connect_timeout: Duration::from_secs(1),
        },
        max_message_bytes: 1 << 16,
        masking,
        tls: None,
    })
}

/// The client half of a session logged in as `agent:fuzz`.
pub(crate) fn client_half<G: Gate, W>(
    gate: Arc<G>,
    settings: Arc<Settings>,
    upstream: W,
    expect: Expectations<G::Ticket>,
) -> ClientHalf<G, W> {
    ClientHalf {
        gate,
        caller: Caller {
            principal: Principal::Agent("fuzz".into()),
            on_behalf_of: "owner".into(),
            groups: Default::default(),
            auth: AuthMethod::ApiKey {
                key_id: "so_fuzz".into(),
            },
        },
        settings,
        upstream,
        expect,
        hold: Arc::new(Notify::new()),
        statements: HashMap::new(),
        portals: HashMap::new(),
        skipping: false,
        out: BytesMut::new(),
    }
}
