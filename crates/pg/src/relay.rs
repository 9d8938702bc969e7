//! The upstream half of a session: forwards responses in order, masks rows,
//! swaps probe errors for signoff's refusals, and reports outcomes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::frame::{FrameError, FrameReader};
use crate::rows::{self, Columns};
use crate::{Gate, Outcome, RowMasking};

/// What the client half sent upstream, in order, so responses can be matched.
pub(crate) enum Expect<T> {
    /// A statement run; ends at CommandComplete, EmptyQuery, PortalSuspended
    /// or an error.
    Run {
        ticket: T,
        started: Instant,
        /// Extended protocol: the portal whose description applies.
        portal: Option<String>,
    },
    /// A refused statement's probe: its error is replaced by this one.
    Refused {
        error: Bytes,
    },
    /// Sync, or the end of a Query: ReadyForQuery.
    Ready,
    // Only when masking rows, to know each portal's columns:
    Parse {
        statement: String,
    },
    Bind {
        portal: String,
        statement: String,
    },
    Describe {
        kind: u8,
        name: String,
    },
    Close {
        kind: u8,
        name: String,
    },
    /// Send this to the client now and end the session (a fatal error).
    Fatal(Bytes),
    /// Send this to the client now (a NoticeResponse about a hold).
    Notice(Bytes),
}

impl<T> Expect<T> {
    fn answers(&self, tag: u8) -> bool {
        match self {
            Expect::Run { .. } => matches!(tag, b'C' | b'I' | b's'),
            Expect::Ready => tag == b'Z',
            Expect::Parse { .. } => tag == b'1',
            Expect::Bind { .. } => tag == b'2',
            Expect::Describe { .. } => matches!(tag, b'T' | b'n'),
            Expect::Close { .. } => tag == b'3',
            Expect::Refused { .. } | Expect::Fatal(_) | Expect::Notice(_) => false,
        }
    }
}

/// The client half's end of the expectations. Entries are queued without
/// waking the relay, which reads them when the response arrives (an entry is
/// always queued before its message is written upstream); only a fatal error,
/// a notice or the end of the client half wakes it.
pub(crate) struct Expectations<T> {
    queue: Arc<std::sync::Mutex<VecDeque<Expect<T>>>>,
    wake: mpsc::UnboundedSender<Expect<T>>,
}

/// The relay's end.
pub(crate) struct Incoming<T> {
    queue: Arc<std::sync::Mutex<VecDeque<Expect<T>>>>,
    wake: mpsc::UnboundedReceiver<Expect<T>>,
}

pub(crate) fn expectations<T>() -> (Expectations<T>, Incoming<T>) {
    let queue = Arc::new(std::sync::Mutex::new(VecDeque::new()));
    let (wake, woken) = mpsc::unbounded_channel();
    (
        Expectations {
            queue: queue.clone(),
            wake,
        },
        Incoming { queue, wake: woken },
    )
}

impl<T> Expectations<T> {
    /// Fails once the relay has ended.
    pub fn send(&self, e: Expect<T>) -> Result<(), ()> {
        if self.wake.is_closed() {
            return Err(());
        }
        match e {
            Expect::Fatal(_) | Expect::Notice(_) => self.wake.send(e).map_err(drop),
            e => {
                self.queue.lock().map_err(drop)?.push_back(e);
                Ok(())
            }
        }
    }
}

impl<T> Incoming<T> {
    fn drain_into(&self, queue: &mut VecDeque<Expect<T>>) {
        if let Ok(mut q) = self.queue.lock() {
            queue.extend(q.drain(..));
        }
    }
}

pub(crate) struct Relay<G: Gate, R, W> {
    pub gate: Arc<G>,
    pub upstream: FrameReader<R>,
    pub client: W,
    pub expect: Incoming<G::Ticket>,
    pub masking: Option<RowMasking>,
}

#[derive(Default)]
struct Descriptions {
    statements: HashMap<String, Columns>,
    portals: HashMap<String, Columns>,
    /// From a RowDescription inside the current run (simple protocol).
    current: Option<Columns>,
}

impl<G: Gate, R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Relay<G, R, W> {
    /// Runs until either side closes. Returns why it stopped, for the log.
    pub async fn run(mut self) -> Result<(), String> {
        let mut queue: VecDeque<Expect<G::Ticket>> = VecDeque::new();
        let mut descs = Descriptions::default();
        let mut out = BytesMut::with_capacity(16 * 1024);
        loop {
            match self.expect.wake.try_recv() {
                Ok(Expect::Fatal(bytes)) => {
                    out.extend_from_slice(&bytes);
                    let _ = self.client.write_all(&out).await;
                    let _ = self.client.shutdown().await;
                    self.expect.drain_into(&mut queue);
                    self.settle(&mut queue);
                    return Err("fatal error sent to the client".into());
                }
                // Between whole messages, which is where a notice may go.
                Ok(Expect::Notice(bytes)) => out.extend_from_slice(&bytes),
                // Only fatal errors and notices are sent on the channel.
                Ok(e) => queue.push_back(e),
                Err(_) => {}
            }
            self.expect.drain_into(&mut queue);
            match self.upstream.buffered() {
                Ok(Some(frame)) => {
                    let bytes = self.handle(frame.tag, frame.bytes, &mut queue, &mut descs);
                    out.extend_from_slice(&bytes);
                    continue;
                }
                Ok(None) => {}
                Err(e) => return self.upstream_failed(e, &mut queue, out).await,
            }
            if !out.is_empty() {
                if let Err(e) = self.client.write_all(&out).await {
                    self.settle(&mut queue);
                    return Err(format!("the client went away: {e}"));
                }
                out.clear();
            }
            // The client half's word comes first: a fatal error it queued
            // must reach the client even when the database has already closed
            // the connection behind it (both are ready on the same wake, as
            // the halves share one task).
            tokio::select! {
                biased;
                e = self.expect.wake.recv() => {
                    self.expect.drain_into(&mut queue);
                    match e {
                        Some(Expect::Fatal(bytes)) => {
                            let _ = self.client.write_all(&bytes).await;
                            let _ = self.client.shutdown().await;
                            self.settle(&mut queue);
                            return Err("fatal error sent to the client".into());
                        }
                        Some(Expect::Notice(bytes)) => {
                            if let Err(e) = self.client.write_all(&bytes).await {
                                self.settle(&mut queue);
                                return Err(format!("the client went away: {e}"));
                            }
                        }
                        // Only fatal errors and notices are sent on the channel.
                        Some(e) => queue.push_back(e),
                        // The client half ended: nothing more will be sent.
                        None => {
                            self.settle(&mut queue);
                            return Ok(());
                        }
                    }
                }
                more = self.upstream.fill() => match more {
                    Ok(true) => {}
                    Ok(false) => {
                        return self
                            .upstream_failed(FrameError::Truncated, &mut queue, out)
                            .await
                    }
                    Err(e) => return self.upstream_failed(e, &mut queue, out).await,
                },
            }
        }
    }

    /// The database closed or broke the connection: tell the client, as
    /// PostgreSQL would on a shutdown, and end.
    async fn upstream_failed(
        &mut self,
        e: FrameError,
        queue: &mut VecDeque<Expect<G::Ticket>>,
        mut out: BytesMut,
    ) -> Result<(), String> {
        for entry in queue.drain(..) {
            if let Expect::Run {
                ticket, started, ..
            } = entry
            {
                let outcome = Outcome::Failed {
                    sqlstate: "08006".into(),
                    message: format!("the database connection was lost: {e}"),
                };
                self.gate.outcome(ticket, outcome, started.elapsed());
            }
        }
        out.extend_from_slice(&crate::session::error_frame(
            "FATAL",
            "08006",
            &format!("signoff lost the connection to the database: {e}"),
            Some("reconnect; signoff connects again on the next session"),
        ));
        let _ = self.client.write_all(&out).await;
        let _ = self.client.shutdown().await;
        Err(format!("upstream: {e}"))
    }

    /// Outcomes for what is still queued when the session ends.
    fn settle(&self, queue: &mut VecDeque<Expect<G::Ticket>>) {
        for entry in queue.drain(..) {
            if let Expect::Run {
                ticket, started, ..
            } = entry
            {
                self.gate
                    .outcome(ticket, Outcome::NotRun, started.elapsed());
            }
        }
    }

    /// Pops queued entries up to the first that `tag` answers, never past a
    /// Ready; runs skipped on the way did not run.
    fn pop_for(
        &self,
        tag: u8,
        queue: &mut VecDeque<Expect<G::Ticket>>,
    ) -> Option<Expect<G::Ticket>> {
        let at = queue
            .iter()
            .position(|e| e.answers(tag) || matches!(e, Expect::Ready))?;
        if !queue[at].answers(tag) {
            return None;
        }
        for skipped in queue.drain(..at) {
            if let Expect::Run {
                ticket, started, ..
            } = skipped
            {
                self.gate
                    .outcome(ticket, Outcome::NotRun, started.elapsed());
            }
        }
        queue.pop_front()
    }

    fn handle(
        &self,
        tag: u8,
        frame: Bytes,
        queue: &mut VecDeque<Expect<G::Ticket>>,
        descs: &mut Descriptions,
    ) -> Bytes {
        match tag {
            b'D' => {
                let (Some(masking), Some(columns)) = (&self.masking, current_columns(queue, descs))
                else {
                    return frame;
                };
                if columns.is_empty() {
                    return frame;
                }
                rows::mask_row(&frame, columns, masking).unwrap_or(frame)
            }
            b'T' => {
                let Some(masking) = &self.masking else {
                    return frame;
                };
                let (columns, rewritten) = rows::describe(&frame, masking);
                match queue.front() {
                    Some(Expect::Describe { .. }) => {
                        if let Some(Expect::Describe { kind, name }) = queue.pop_front() {
                            descs.store(kind, name, columns);
                        }
                    }
                    _ => descs.current = Some(columns),
                }
                rewritten.unwrap_or(frame)
            }
            b'n' => {
                if let Some(Expect::Describe { kind, name }) = self.pop_for(tag, queue) {
                    descs.store(kind, name, Columns::default());
                }
                frame
            }
            b'1' => {
                if let Some(Expect::Parse { statement }) = self.pop_for(tag, queue) {
                    descs.statements.remove(&statement);
                }
                frame
            }
            b'2' => {
                if let Some(Expect::Bind { portal, statement }) = self.pop_for(tag, queue) {
                    let columns = descs
                        .statements
                        .get(&statement)
                        .cloned()
                        .unwrap_or_default();
                    descs.portals.insert(portal, columns);
                }
                frame
            }
            b'3' => {
                if let Some(Expect::Close { kind, name }) = self.pop_for(tag, queue) {
                    match kind {
                        b'S' => descs.statements.remove(&name),
                        _ => descs.portals.remove(&name),
                    };
                }
                frame
            }
            b'C' | b'I' | b's' => {
                descs.current = None;
                if let Some(Expect::Run {
                    ticket, started, ..
                }) = self.pop_for(tag, queue)
                {
                    let tag_text = match tag {
                        b'C' => command_tag(&frame),
                        b'I' => "EMPTY".into(),
                        _ => "PORTAL SUSPENDED".into(),
                    };
                    self.gate.outcome(
                        ticket,
                        Outcome::Completed { tag: tag_text },
                        started.elapsed(),
                    );
                }
                frame
            }
            b'E' => {
                descs.current = None;
                // The error answers whatever is first in line; the rest
                // until Ready is skipped by the database.
                let first = match queue.front() {
                    Some(Expect::Ready) | None => None,
                    Some(_) => queue.pop_front(),
                };
                match first {
                    Some(Expect::Refused { error }) => error,
                    Some(Expect::Run {
                        ticket, started, ..
                    }) => {
                        let (sqlstate, message) = error_fields(&frame);
                        self.gate.outcome(
                            ticket,
                            Outcome::Failed { sqlstate, message },
                            started.elapsed(),
                        );
                        frame
                    }
                    _ => frame,
                }
            }
            b'Z' => {
                descs.current = None;
                while let Some(e) = queue.pop_front() {
                    match e {
                        Expect::Ready => break,
                        Expect::Run {
                            ticket, started, ..
                        } => self
                            .gate
                            .outcome(ticket, Outcome::NotRun, started.elapsed()),
                        _ => {}
                    }
                }
                frame
            }
            _ => frame,
        }
    }
}

impl Descriptions {
    fn store(&mut self, kind: u8, name: String, columns: Columns) {
        match kind {
            b'S' => self.statements.insert(name, columns),
            _ => self.portals.insert(name, columns),
        };
    }
}

/// The columns for a DataRow: the current run's inline description, else its
/// portal's.
fn current_columns<'a, T>(
    queue: &VecDeque<Expect<T>>,
    descs: &'a Descriptions,
) -> Option<&'a Columns> {
    if let Some(c) = &descs.current {
        return Some(c);
    }
    queue.iter().find_map(|e| match e {
        Expect::Run {
            portal: Some(p), ..
        } => descs.portals.get(p),
        _ => None,
    })
}

fn command_tag(frame: &[u8]) -> String {
    let body = &frame[5..];
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    String::from_utf8_lossy(&body[..end]).into_owned()
}

/// SQLSTATE and message of an ErrorResponse.
pub(crate) fn error_fields(frame: &[u8]) -> (String, String) {
    let mut body = &frame[5..];
    let (mut code, mut message) = (String::new(), String::new());
    while let Some((&kind, rest)) = body.split_first() {
        if kind == 0 {
            break;
        }
        body = rest;
        let Some(value) = crate::frame::cstr(&mut body) else {
            break;
        };
        match kind {
            b'C' => code = value.to_owned(),
            b'M' => message = value.to_owned(),
            _ => {}
        }
    }
    (code, message)
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::fuzzing::FuzzGate;

    /// The client half ends a session (a revoked key) by terminating upstream
    /// and queuing a fatal error; the database then closes at once. Both are
    /// ready when the relay next runs, and the client must get signoff's
    /// error, not "lost the connection to the database".
    #[tokio::test(flavor = "current_thread")]
    async fn a_queued_fatal_error_wins_over_the_database_closing() {
        let (db_side, ours) = tokio::io::duplex(1024);
        let (client_side, to_client) = tokio::io::duplex(1024);
        let (expect, incoming) = expectations::<()>();
        let relay = Relay {
            gate: Arc::new(FuzzGate),
            upstream: FrameReader::new(ours, 1024),
            client: to_client,
            expect: incoming,
            masking: None,
        }
        .run();
        tokio::pin!(relay);
        // Let the relay park on both the database and the client half.
        tokio::select! {
            biased;
            r = &mut relay => panic!("the relay ended early: {r:?}"),
            _ = tokio::task::yield_now() => {}
        }
        let fatal = crate::session::error_frame("FATAL", "28000", "the key was revoked", None);
        expect.send(Expect::Fatal(fatal.clone())).unwrap();
        drop(db_side);
        let ended = relay.await;
        assert_eq!(ended, Err("fatal error sent to the client".into()));
        let mut got = Vec::new();
        let mut client_side = client_side;
        client_side.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, fatal.to_vec());
    }
}
