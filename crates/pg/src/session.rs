//! One client connection: negotiation, login, then the client half of the
//! session (reading messages in order and deciding each statement).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::Authentication;
use pgwire::messages::{DecodeContext, Message};
use serde_json::Value;
use signoff_core::scram::principal_salt;
use signoff_core::Caller;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::cancel::Registry;
use crate::frame::{message, Frame, FrameError, FrameReader};
use crate::messages;
use crate::relay::{Expect, Relay};
use crate::{scram, upstream, Gate, Held, Outcome, Settings, Statement, Verdict};

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

/// SCRAM-SHA-256 with the caller's API key as the password.
async fn login<R, W, G>(
    client: &mut FrameReader<R>,
    write: &mut W,
    user: &str,
    gate: &G,
) -> Result<Caller, String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    G: Gate,
{
    let known = gate.login(user).await?;
    // An unknown user goes through the same exchange, so that a client cannot
    // tell unknown users from wrong keys.
    let (keys, salt, iterations) = match known {
        Some(l) => (l.keys, l.salt, l.iterations),
        None => (
            Vec::new(),
            principal_salt(user),
            signoff_core::scram::ITERATIONS,
        ),
    };
    send(write, Authentication::SASL(vec![scram::MECHANISM.into()])).await?;
    let first = password_message(client).await?;
    let Some(first) = messages::sasl_initial(first.body()) else {
        let why = "malformed SASL initial response";
        let _ = fatal(write, "08P01", why).await;
        return Err(why.into());
    };
    let exchange = match scram::server_first(first.mechanism, first.data, &salt, iterations) {
        Ok(x) => x,
        Err(e) => {
            let _ = fatal(write, "28000", &format!("SCRAM authentication failed: {e}")).await;
            return Err(e.to_string());
        }
    };
    send(
        write,
        Authentication::SASLContinue(Bytes::copy_from_slice(
            exchange.server_first_message().as_bytes(),
        )),
    )
    .await?;
    let last = password_message(client).await?;
    let verifiers: Vec<_> = keys.iter().map(|(_, v)| v.clone()).collect();
    let (matched, server_final) = match exchange.finish(last.body(), &verifiers) {
        Ok(ok) => ok,
        Err(e) => {
            let _ = fatal_with_hint(
                write,
                "28P01",
                &format!("password authentication failed for user \"{user}\""),
                Some("log in as a signoff principal (`agent:NAME` or `user:NAME`) with one of its API keys as the password; create one with `signoff keys create --principal agent:NAME`"),
            )
            .await;
            return Err(e.to_string());
        }
    };
    let caller = match gate.caller(user, &keys[matched].0) {
        Ok(c) => c,
        Err(e) => {
            let _ = fatal(write, "28000", &e).await;
            return Err(e);
        }
    };
    send(write, Authentication::SASLFinal(Bytes::from(server_final))).await?;
    Ok(caller)
}

async fn password_message<R: AsyncRead + Unpin>(
    client: &mut FrameReader<R>,
) -> Result<Frame, String> {
    let frame = client
        .next()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the client left during login")?;
    if frame.tag != b'p' {
        return Err(format!(
            "expected a password message, got `{}`",
            frame.tag as char
        ));
    }
    Ok(frame)
}

async fn send<W: AsyncWrite + Unpin>(write: &mut W, m: Authentication) -> Result<(), String> {
    let mut out = BytesMut::new();
    m.encode(&mut out).map_err(|e| e.to_string())?;
    write.write_all(&out).await.map_err(|e| e.to_string())
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

/// The client half: reads messages in order and decides each statement.
pub(crate) struct ClientHalf<G: Gate, W> {
    pub(crate) gate: Arc<G>,
    pub(crate) caller: Caller,
    pub(crate) settings: Arc<Settings>,
    pub(crate) upstream: W,
    pub(crate) expect: crate::relay::Expectations<G::Ticket>,
    pub(crate) hold: Arc<Notify>,
    /// Prepared statements' text, by name ("" is the unnamed one).
    pub(crate) statements: HashMap<String, String>,
    /// Bound portals: the statement text and its parameters.
    pub(crate) portals: HashMap<String, (String, Vec<Value>)>,
    /// After a refusal in the extended protocol, until Sync.
    pub(crate) skipping: bool,
    /// Frames for the database not yet written.
    pub(crate) out: BytesMut,
}

impl<G: Gate, W: AsyncWrite + Unpin> ClientHalf<G, W> {
    pub(crate) async fn run<R: AsyncRead + Unpin>(
        &mut self,
        client: &mut FrameReader<R>,
    ) -> Result<(), String> {
        loop {
            let frame = match client.buffered() {
                Ok(Some(f)) => f,
                Ok(None) => {
                    self.flush().await?;
                    match client.next().await {
                        Ok(Some(f)) => f,
                        Ok(None) => return self.terminate().await,
                        Err(e) => return self.bad_input(e).await,
                    }
                }
                Err(e) => return self.bad_input(e).await,
            };
            match frame.tag {
                b'Q' => self.query(frame, client).await?,
                b'P' => self.parse(frame)?,
                b'B' => self.bind(frame)?,
                b'E' => self.execute(frame, client).await?,
                b'D' => self.describe(frame)?,
                b'C' => self.close(frame)?,
                b'S' => {
                    self.skipping = false;
                    self.expect(Expect::Ready)?;
                    self.out.extend_from_slice(&frame.bytes);
                }
                b'H' | b'd' | b'c' | b'f' => self.out.extend_from_slice(&frame.bytes),
                b'X' => {
                    self.out.extend_from_slice(&frame.bytes);
                    self.flush().await?;
                    return Ok(());
                }
                b'F' => {
                    self.refuse_query(
                        crate::SQLSTATE_DENIED,
                        "signoff does not pass the function-call protocol; call the function in SQL so it can be decided",
                    )?;
                }
                other => {
                    return self
                        .fatal(
                            "08P01",
                            &format!("unexpected message type `{}`", other as char),
                        )
                        .await
                }
            }
        }
    }

    fn expect(&self, e: Expect<G::Ticket>) -> Result<(), String> {
        self.expect
            .send(e)
            .map_err(|_| "the database side of the session ended".to_owned())
    }

    async fn flush(&mut self) -> Result<(), String> {
        write_out(&mut self.upstream, &mut self.out).await
    }

    async fn terminate(&mut self) -> Result<(), String> {
        message(b'X', b"", &mut self.out);
        let _ = self.flush().await;
        Ok(())
    }

    async fn bad_input(&mut self, e: FrameError) -> Result<(), String> {
        let sqlstate = match e {
            FrameError::TooLarge { .. } => "54000",
            FrameError::Io(_) | FrameError::Truncated => {
                let _ = self.terminate().await;
                return Err(format!("the client went away: {e}"));
            }
            FrameError::BadLength { .. } => "08P01",
        };
        self.fatal(sqlstate, &e.to_string()).await
    }

    async fn fatal(&mut self, sqlstate: &str, text: &str) -> Result<(), String> {
        let _ = self.terminate().await;
        let _ = self.expect(Expect::Fatal(error_frame("FATAL", sqlstate, text, None)));
        Err(text.to_owned())
    }

    /// Asks the gate, holding while it waits; a cancel request or the client
    /// leaving ends the hold. Bytes the client sends meanwhile are buffered.
    /// A held statement's client is told at once, and every
    /// [`HOLD_REMINDER`], what it waits for.
    async fn decide<R: AsyncRead + Unpin>(
        &mut self,
        statement: Statement,
        client: &mut FrameReader<R>,
    ) -> Result<Verdict<G::Ticket>, String> {
        let (held_tx, mut held_rx) = tokio::sync::oneshot::channel();
        let check = self.gate.check(&self.caller, statement, held_tx);
        tokio::pin!(check);
        // Listening before anything can wait: a cancel from here on ends the hold.
        let cancelled = self.hold.notified();
        tokio::pin!(cancelled);
        cancelled.as_mut().enable();
        // A verdict ready at once (an allowed read) lets the frames before
        // the statement go to the database in the same write as it; one that
        // waits sends them first, so earlier allowed work is not held too.
        let first = std::future::poll_fn(|cx| Poll::Ready(check.as_mut().poll(cx))).await;
        if let Poll::Ready(verdict) = first {
            return Ok(verdict);
        }
        write_out(&mut self.upstream, &mut self.out).await?;
        let limit = self.settings.max_message_bytes;
        let mut hold: Option<(Held, tokio::time::Instant)> = None;
        let mut heard = false;
        let reminder = tokio::time::sleep(HOLD_REMINDER);
        tokio::pin!(reminder);
        loop {
            tokio::select! {
                verdict = &mut check => {
                    if let (Some((held, _)), Verdict::Allow(_)) = (&hold, &verdict) {
                        self.notice(&format!(
                            "signoff: request {} was approved; running the statement",
                            held.request_id
                        ))?;
                    }
                    return Ok(verdict);
                }
                _ = &mut cancelled => {
                    return Ok(Verdict::Refuse {
                        sqlstate: "57014",
                        message: "canceling statement due to user request".into(),
                    })
                }
                told = &mut held_rx, if !heard => {
                    heard = true;
                    if let Ok(held) = told {
                        self.notice_held(&held, Duration::ZERO)?;
                        let now = tokio::time::Instant::now();
                        reminder.as_mut().reset(now + HOLD_REMINDER);
                        hold = Some((held, now));
                    }
                }
                () = &mut reminder, if hold.is_some() => {
                    if let Some((held, since)) = &hold {
                        self.notice_held(held, since.elapsed())?;
                    }
                    reminder.as_mut().reset(tokio::time::Instant::now() + HOLD_REMINDER);
                }
                more = client.fill(), if client.pending_bytes() < limit => match more {
                    Ok(true) => {}
                    _ => return Err("the client went away while its statement was held".into()),
                },
            }
        }
    }

    /// Tells the client what its held statement waits for, and how long.
    fn notice_held(&self, held: &Held, waited: Duration) -> Result<(), String> {
        let text = if waited.is_zero() {
            format!(
                "signoff: this statement needs {} and waits up to {} for it. Request {}: {}",
                held.needs,
                humantime::format_duration(held.hold),
                held.request_id,
                held.review_url,
            )
        } else {
            let waited = Duration::from_secs(waited.as_secs());
            format!(
                "signoff: still waiting for {} ({} so far, up to {} left). Request {}: {}",
                held.needs,
                humantime::format_duration(waited),
                humantime::format_duration(held.hold.saturating_sub(waited)),
                held.request_id,
                held.review_url,
            )
        };
        self.notice(&text)
    }

    fn notice(&self, text: &str) -> Result<(), String> {
        self.expect(Expect::Notice(notice_frame(text)))
    }

    async fn query<R: AsyncRead + Unpin>(
        &mut self,
        frame: Frame,
        client: &mut FrameReader<R>,
    ) -> Result<(), String> {
        let mut buf = BytesMut::from(&frame.bytes[..]);
        let query = match Query::decode(&mut buf, &DecodeContext::default()) {
            Ok(Some(q)) => q,
            _ => return self.fatal("08P01", "malformed Query message").await,
        };
        let mut tickets = Vec::new();
        for sql in signoff_classify::split_statements(&query.query) {
            let statement = Statement {
                target: self.settings.target.clone(),
                sql: sql.to_owned(),
                params: Vec::new(),
            };
            match self.decide(statement, client).await? {
                Verdict::Allow(t) => tickets.push((t, Instant::now())),
                Verdict::Refuse { sqlstate, message } => {
                    self.not_run(tickets);
                    return self.refuse_query(sqlstate, &message);
                }
                Verdict::End { sqlstate, message } => {
                    self.not_run(tickets);
                    return self.fatal(sqlstate, &message).await;
                }
            }
        }
        for (ticket, started) in tickets {
            self.expect(Expect::Run {
                ticket,
                started,
                portal: None,
            })?;
        }
        self.expect(Expect::Ready)?;
        self.out.extend_from_slice(&frame.bytes);
        Ok(())
    }

    /// The statements of a Query allowed before one was refused: none runs.
    fn not_run(&self, tickets: Vec<(G::Ticket, Instant)>) {
        for (t, started) in tickets {
            self.gate.outcome(t, Outcome::NotRun, started.elapsed());
        }
    }

    /// Refuses a whole Query (or function call): the probe goes instead.
    fn refuse_query(&mut self, sqlstate: &str, text: &str) -> Result<(), String> {
        self.expect(Expect::Refused {
            error: error_frame("ERROR", sqlstate, text, None),
        })?;
        self.expect(Expect::Ready)?;
        let mut body = BytesMut::new();
        body.put_slice(PROBE_SQL.as_bytes());
        body.put_u8(0);
        message(b'Q', &body, &mut self.out);
        Ok(())
    }

    fn parse(&mut self, frame: Frame) -> Result<(), String> {
        if self.skipping {
            return Ok(());
        }
        if let Some(p) = messages::parse(frame.body()) {
            if self.settings.masking.is_some() {
                self.expect(Expect::Parse {
                    statement: p.name.to_owned(),
                })?;
            }
            self.statements
                .insert(p.name.to_owned(), p.query.to_owned());
        }
        // Undecodable: the database rejects it in its own words.
        self.out.extend_from_slice(&frame.bytes);
        Ok(())
    }

    fn bind(&mut self, frame: Frame) -> Result<(), String> {
        if self.skipping {
            return Ok(());
        }
        if let Some(b) = messages::bind(frame.body()) {
            if let Some(sql) = self.statements.get(b.statement) {
                let params = b
                    .params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let binary = match b.formats.as_slice() {
                            [] => false,
                            [one] => *one == 1,
                            many => many.get(i) == Some(&1),
                        };
                        param_json(*p, binary)
                    })
                    .collect();
                self.portals
                    .insert(b.portal.to_owned(), (sql.clone(), params));
            } else {
                self.portals.remove(b.portal);
            }
            if self.settings.masking.is_some() {
                self.expect(Expect::Bind {
                    portal: b.portal.to_owned(),
                    statement: b.statement.to_owned(),
                })?;
            }
        }
        self.out.extend_from_slice(&frame.bytes);
        Ok(())
    }

    fn describe(&mut self, frame: Frame) -> Result<(), String> {
        if self.skipping {
            return Ok(());
        }
        if self.settings.masking.is_some() {
            let body = frame.body();
            if let (Some(&kind), Some(mut rest)) = (body.first(), body.get(1..)) {
                let name = crate::frame::cstr(&mut rest).unwrap_or_default().to_owned();
                self.expect(Expect::Describe { kind, name })?;
            }
        }
        self.out.extend_from_slice(&frame.bytes);
        Ok(())
    }

    fn close(&mut self, frame: Frame) -> Result<(), String> {
        if self.skipping {
            return Ok(());
        }
        if let Some(c) = messages::close(frame.body()) {
            match c.kind {
                b'S' => self.statements.remove(c.name),
                _ => self.portals.remove(c.name).map(|(s, _)| s),
            };
            if self.settings.masking.is_some() {
                self.expect(Expect::Close {
                    kind: c.kind,
                    name: c.name.to_owned(),
                })?;
            }
        }
        self.out.extend_from_slice(&frame.bytes);
        Ok(())
    }

    async fn execute<R: AsyncRead + Unpin>(
        &mut self,
        frame: Frame,
        client: &mut FrameReader<R>,
    ) -> Result<(), String> {
        if self.skipping {
            return Ok(());
        }
        let body = frame.body();
        let mut rest = body;
        let portal = crate::frame::cstr(&mut rest).unwrap_or_default().to_owned();
        let Some((sql, params)) = self.portals.get(&portal).cloned() else {
            // Not bound through signoff (a SQL cursor, or no such portal): the
            // database runs a decided cursor or reports the missing portal.
            self.out.extend_from_slice(&frame.bytes);
            return Ok(());
        };
        let statement = Statement {
            target: self.settings.target.clone(),
            sql,
            params,
        };
        match self.decide(statement, client).await? {
            Verdict::Allow(ticket) => {
                self.expect(Expect::Run {
                    ticket,
                    started: Instant::now(),
                    portal: Some(portal),
                })?;
                self.out.extend_from_slice(&frame.bytes);
            }
            Verdict::End { sqlstate, message } => return self.fatal(sqlstate, &message).await,
            Verdict::Refuse {
                sqlstate,
                message: text,
            } => {
                self.expect(Expect::Refused {
                    error: error_frame("ERROR", sqlstate, &text, None),
                })?;
                let mut body = BytesMut::new();
                body.put_slice(b"signoff_refused\0");
                body.put_slice(PROBE_SQL.as_bytes());
                body.put_slice(&[0, 0, 0]);
                message(b'P', &body, &mut self.out);
                self.skipping = true;
            }
        }
        Ok(())
    }
}

/// Writes the frames in `out` to the database and empties it.
async fn write_out<W: AsyncWrite + Unpin>(
    upstream: &mut W,
    out: &mut BytesMut,
) -> Result<(), String> {
    if out.is_empty() {
        return Ok(());
    }
    let r = upstream.write_all(out).await;
    out.clear();
    r.map_err(|e| format!("writing to the database: {e}"))
}

/// A bound parameter as the audit shows it.
fn param_json(value: Option<&[u8]>, binary: bool) -> Value {
    match value {
        None => Value::Null,
        Some(v) if !binary => match std::str::from_utf8(v) {
            Ok(s) => Value::String(s.to_owned()),
            Err(_) => Value::String(format!("\\x{}", hex::encode(v))),
        },
        Some(v) => Value::String(format!("\\x{}", hex::encode(v))),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::fuzzing::{client_half, offline_settings};
    use crate::relay::{error_fields, expectations};
    use crate::{BoxFuture, HeldTx, Login};

    /// Holds every statement for 45 s of a 5-minute hold, then allows it.
    struct SlowReviewer;

    impl Gate for SlowReviewer {
        type Ticket = ();
        fn login<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<Login>, String>> {
            Box::pin(async { Ok(None) })
        }
        fn caller(&self, _: &str, _: &str) -> Result<Caller, String> {
            Err("no logins here".into())
        }
        fn login_failed<'a>(&'a self, _: &'a str, _: String) -> BoxFuture<'a, ()> {
            Box::pin(async {})
        }
        fn check<'a>(
            &'a self,
            _: &'a Caller,
            _: Statement,
            held: HeldTx,
        ) -> BoxFuture<'a, Verdict<()>> {
            Box::pin(async move {
                let _ = held.send(Held {
                    request_id: "r-1".into(),
                    review_url: "http://signoff/ui/requests/r-1".into(),
                    needs: "1 approval by someone in dba".into(),
                    hold: Duration::from_secs(300),
                });
                tokio::time::sleep(Duration::from_secs(45)).await;
                Verdict::Allow(())
            })
        }
        fn outcome(&self, _: (), _: Outcome, _: Duration) {}
    }

    async fn next_frame(from: &mut (impl AsyncRead + Unpin)) -> (u8, Vec<u8>) {
        let mut head = [0u8; 5];
        from.read_exact(&mut head).await.unwrap();
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut frame = head.to_vec();
        frame.resize(1 + len, 0);
        from.read_exact(&mut frame[5..]).await.unwrap();
        (head[0], frame)
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_held_statement_tells_its_client_at_once_every_half_minute_and_when_approved() {
        let (mut client, from_client) = tokio::io::duplex(4096);
        let (to_client, mut client_reads) = tokio::io::duplex(4096);
        let (from_db, _db) = tokio::io::duplex(4096);
        let (tx, rx) = expectations();
        let relay = Relay {
            gate: Arc::new(SlowReviewer),
            upstream: FrameReader::new(from_db, 1 << 16),
            client: to_client,
            expect: rx,
            masking: None,
        };
        let mut half = client_half(
            Arc::new(SlowReviewer),
            offline_settings(None),
            tokio::io::sink(),
            tx,
        );
        let mut query = BytesMut::new();
        message(b'Q', b"DELETE FROM t\0", &mut query);
        client.write_all(&query).await.unwrap();
        let session = async {
            let mut reader = FrameReader::new(from_client, 1 << 16);
            half.run(&mut reader).await
        };
        let notices = async {
            let mut got = Vec::new();
            for _ in 0..3 {
                let (tag, frame) = next_frame(&mut client_reads).await;
                assert_eq!(tag, b'N', "a NoticeResponse");
                let (code, text) = error_fields(&frame);
                assert_eq!(code, "00000");
                got.push(text);
            }
            got
        };
        let got = tokio::select! {
            r = session => panic!("the session ended: {r:?}"),
            r = relay.run() => panic!("the relay ended: {r:?}"),
            got = notices => got,
        };
        assert_eq!(
            got,
            [
                "signoff: this statement needs 1 approval by someone in dba and waits up to 5m for it. \
                 Request r-1: http://signoff/ui/requests/r-1",
                "signoff: still waiting for 1 approval by someone in dba (30s so far, up to 4m 30s left). \
                 Request r-1: http://signoff/ui/requests/r-1",
                "signoff: request r-1 was approved; running the statement",
            ]
        );
    }
}
