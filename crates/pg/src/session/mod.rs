//! One client connection: negotiation, login, then the client half of the
//! session (reading messages in order and deciding each statement).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::cancel::Registry;
use crate::frame::{message, FrameReader};
use crate::relay::Relay;
use crate::{upstream, Gate, Settings};

mod client;
mod login;

pub(crate) use client::ClientHalf;
use login::login;

/// How often the client of a held statement hears that it still waits.
const HOLD_REMINDER: Duration = Duration::from_secs(30);

const SSL_REQUEST: i32 = 80877103;
const GSSENC_REQUEST: i32 = 80877104;
const CANCEL_REQUEST: i32 = 80877102;
const PROTOCOL_3: i32 = 196608;

/// Session parameters passed to the database; the rest are dropped, since
/// `options` and friends could change settings no statement was decided for.
const PASSED_PARAMS: [&str; 7] = [
    "application_name",
    "client_encoding",
    "datestyle",
    "timezone",
    "extra_float_digits",
    "intervalstyle",
    "standard_conforming_strings",
];

/// What a refused statement is replaced with: it fails to parse, so the
/// database enters its error state exactly as for a failed statement.
const PROBE_SQL: &str = "signoff refused this statement";

pub(crate) async fn serve_connection<G: Gate>(
    mut tcp: TcpStream,
    peer: SocketAddr,
    settings: Arc<Settings>,
    gate: Arc<G>,
    sessions: Registry,
) {
    let (first, sent_after) = {
        let mut reader = FrameReader::new(&mut tcp, settings.max_message_bytes);
        let packet = reader.startup_packet().await;
        let sent_after = reader.into_parts().1;
        match packet {
            Ok(Some(p)) => (p, sent_after),
            Ok(None) => return,
            Err(e) => {
                tracing::info!(%peer, error = %e, "bad startup packet");
                let text = format!("invalid startup packet: {e}");
                let _ = fatal(&mut tcp, "08P01", &text).await;
                return;
            }
        }
    };
    match code(&first) {
        // INVARIANT: nothing the client sent before the answer to its SSL
        // request is read as part of the session (as PostgreSQL since
        // CVE-2021-23214): it could have been injected before TLS.
        SSL_REQUEST if !sent_after.is_empty() => {
            tracing::info!(%peer, "data after an SSL request, before its answer");
            let _ = fatal(
                &mut tcp,
                "08P01",
                "received unencrypted data after SSL request",
            )
            .await;
        }
        SSL_REQUEST => match &settings.tls {
            Some(tls) => {
                if tcp.write_all(b"S").await.is_err() {
                    return;
                }
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
                match acceptor.accept(tcp).await {
                    Ok(stream) => {
                        run(stream, None, sent_after, peer, settings, gate, sessions).await
                    }
                    Err(e) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                }
            }
            None => {
                if tcp.write_all(b"N").await.is_ok() {
                    run(tcp, None, sent_after, peer, settings, gate, sessions).await;
                }
            }
        },
        _ => run(tcp, Some(first), sent_after, peer, settings, gate, sessions).await,
    }
}

fn code(packet: &[u8]) -> i32 {
    packet
        .get(..4)
        .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

async fn run<S, G>(
    stream: S,
    first: Option<Bytes>,
    // Bytes that came after the first packet, read with it.
    sent_after: BytesMut,
    peer: SocketAddr,
    settings: Arc<Settings>,
    gate: Arc<G>,
    sessions: Registry,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    G: Gate,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut client = FrameReader::from_parts(read, sent_after, settings.max_message_bytes);
    let mut packet = first;
    let startup = loop {
        let p = match packet.take() {
            Some(p) => p,
            None => match client.startup_packet().await {
                Ok(Some(p)) => p,
                _ => return,
            },
        };
        match code(&p) {
            // A second SSL request after `N`, or GSS encryption: decline.
            SSL_REQUEST | GSSENC_REQUEST => {
                if write.write_all(b"N").await.is_err() {
                    return;
                }
            }
            CANCEL_REQUEST => {
                cancel(&p, &settings, &sessions).await;
                return;
            }
            c if c >> 16 == 3 => break p,
            c => {
                let _ = fatal(
                    &mut write,
                    "0A000",
                    &format!("unsupported frontend protocol {}.{}", c >> 16, c & 0xffff),
                )
                .await;
                return;
            }
        }
    };
    let params = match startup_params(&startup) {
        Some(p) => p,
        None => {
            let _ = fatal(&mut write, "08P01", "invalid startup packet").await;
            return;
        }
    };
    if code(&startup) != PROTOCOL_3 || params.keys().any(|k| k.starts_with("_pq_.")) {
        // Newer minor versions and protocol options: answer with what we speak.
        let unsupported: Vec<&String> = params.keys().filter(|k| k.starts_with("_pq_.")).collect();
        let mut body = BytesMut::new();
        body.put_i32(0);
        body.put_i32(unsupported.len() as i32);
        for u in unsupported {
            body.put_slice(u.as_bytes());
            body.put_u8(0);
        }
        let mut out = BytesMut::new();
        message(b'v', &body, &mut out);
        if write.write_all(&out).await.is_err() {
            return;
        }
    }
    if params
        .get("replication")
        .is_some_and(|r| !matches!(r.as_str(), "false" | "off" | "no" | "0"))
    {
        let _ = fatal(
            &mut write,
            "42501",
            "replication connections are not allowed through signoff",
        )
        .await;
        return;
    }
    let Some(user) = params.get("user").cloned() else {
        let _ = fatal(&mut write, "28000", "no user name in the startup packet").await;
        return;
    };

    let caller = match login(&mut client, &mut write, &user, &*gate).await {
        Ok(c) => c,
        Err(why) => {
            tracing::info!(%peer, %user, %why, "login refused");
            gate.login_failed(&user, why).await;
            return;
        }
    };

    let passed: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| PASSED_PARAMS.contains(&k.to_ascii_lowercase().as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let up = match upstream::connect(&settings.upstream, &passed, settings.max_message_bytes).await
    {
        Ok(up) => up,
        Err(e) => {
            tracing::warn!(target = %settings.target, error = %e, "upstream login failed");
            let _ = fatal(
                &mut write,
                "08006",
                &format!(
                    "signoff could not connect to the database of target `{}`: {e}",
                    settings.target
                ),
            )
            .await;
            return;
        }
    };
    let hold = Arc::new(Notify::new());
    let (pid, secret) = sessions.register(up.process_id, up.secret_key, hold.clone());
    let mut hello = BytesMut::new();
    message(b'R', &0i32.to_be_bytes(), &mut hello);
    for p in &up.parameters {
        hello.extend_from_slice(p);
    }
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(&pid.to_be_bytes());
    key[4..].copy_from_slice(&secret.to_be_bytes());
    message(b'K', &key, &mut hello);
    hello.extend_from_slice(&up.ready);
    if write.write_all(&hello).await.is_err() {
        sessions.remove(pid);
        return;
    }
    tracing::info!(%peer, caller = %caller.principal, target = %settings.target, "session started");

    let (expect_tx, expect_rx) = crate::relay::expectations();
    let relay = Relay {
        gate: gate.clone(),
        upstream: up.reader,
        client: write,
        expect: expect_rx,
        masking: settings.masking.clone(),
    };
    // One task drives both directions: the relay is polled in place, not
    // spawned, so there is no second task to join (it measured no faster).
    let relay = relay.run();
    tokio::pin!(relay);
    let mut half = ClientHalf {
        gate,
        caller,
        settings,
        upstream: up.writer,
        expect: expect_tx,
        hold,
        statements: HashMap::new(),
        portals: HashMap::new(),
        skipping: false,
        out: BytesMut::with_capacity(16 * 1024),
    };
    let (ended, relay_done) = tokio::select! {
        r = half.run(&mut client) => (r, false),
        r = &mut relay => (Err(match r {
            Ok(()) => "the database closed the session".into(),
            Err(e) => e,
        }), true),
    };
    // Closing our side of the channel lets the relay settle and end.
    drop(half);
    if !relay_done {
        let _ = relay.await;
    }
    sessions.remove(pid);
    match ended {
        Ok(()) => tracing::info!(%peer, "session ended"),
        Err(e) => tracing::info!(%peer, reason = %e, "session ended"),
    }
}

fn startup_params(packet: &[u8]) -> Option<HashMap<String, String>> {
    let mut body = packet.get(4..)?;
    let mut params = HashMap::new();
    loop {
        if body.first() == Some(&0) || body.is_empty() {
            return Some(params);
        }
        let k = crate::frame::cstr(&mut body)?;
        let v = crate::frame::cstr(&mut body)?;
        params.insert(k.to_owned(), v.to_owned());
    }
}

async fn cancel(packet: &[u8], settings: &Settings, sessions: &Registry) {
    if packet.len() < 12 {
        return;
    }
    let pid = i32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    let secret = i32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
    if let Some((up_pid, up_secret)) = sessions.cancel(pid, secret) {
        if let Err(e) = upstream::cancel(&settings.upstream, up_pid, up_secret).await {
            tracing::warn!(error = %e, "could not pass a cancel request to the database");
        }
    }
}

/// An ErrorResponse frame.
pub(crate) fn error_frame(severity: &str, sqlstate: &str, text: &str, hint: Option<&str>) -> Bytes {
    fields_frame(b'E', severity, sqlstate, text, hint)
}

/// A NoticeResponse, which a client shows as it arrives, even mid-statement.
pub(crate) fn notice_frame(text: &str) -> Bytes {
    fields_frame(b'N', "NOTICE", "00000", text, None)
}

/// An ErrorResponse or NoticeResponse: both are a list of typed fields.
fn fields_frame(tag: u8, severity: &str, sqlstate: &str, text: &str, hint: Option<&str>) -> Bytes {
    let mut body = BytesMut::new();
    for (kind, value) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', sqlstate),
        (b'M', text),
    ]
    .into_iter()
    .chain(hint.map(|h| (b'H', h)))
    {
        body.put_u8(kind);
        // A NUL inside a field would end it early; none comes from us.
        body.put_slice(value.replace('\0', " ").as_bytes());
        body.put_u8(0);
    }
    body.put_u8(0);
    let mut out = BytesMut::new();
    message(tag, &body, &mut out);
    out.freeze()
}

async fn fatal<W: AsyncWrite + Unpin>(
    write: &mut W,
    sqlstate: &str,
    text: &str,
) -> std::io::Result<()> {
    fatal_with_hint(write, sqlstate, text, None).await
}

async fn fatal_with_hint<W: AsyncWrite + Unpin>(
    write: &mut W,
    sqlstate: &str,
    text: &str,
    hint: Option<&str>,
) -> std::io::Result<()> {
    write
        .write_all(&error_frame("FATAL", sqlstate, text, hint))
        .await?;
    write.shutdown().await
}
