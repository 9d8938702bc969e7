//! The client half of a session: reads the client's messages in order and
//! decides each statement before it reaches the database.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use pgwire::messages::simplequery::Query;
use pgwire::messages::{DecodeContext, Message};
use serde_json::Value;
use signoff_core::Caller;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::{error_frame, notice_frame, HOLD_REMINDER, PROBE_SQL};
use crate::frame::{message, Frame, FrameError, FrameReader};
use crate::messages;
use crate::relay::Expect;
use crate::{Gate, Held, Outcome, Settings, Statement, Verdict};

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
    use crate::relay::{error_fields, expectations, Relay};
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
