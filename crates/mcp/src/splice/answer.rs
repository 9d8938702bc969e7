//! An upstream's answer on its way back: read chunk by chunk, split into
//! JSON-RPC messages, streamed to the agent unchanged while the call's
//! outcome is read on the side for the audit.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use serde::Deserialize;
use serde_json::Value;

use super::session::InFlight;
use super::{Answer, MAX_ANSWER};
use crate::proxy::{ReportOnDrop, ASKED_FOR_INPUT};
use crate::sse;

/// An upstream response body, chunk by chunk; the default has ended.
#[derive(Default)]
pub(super) struct Chunks {
    pub(super) up: Option<reqwest13::Response>,
    pub(super) content_type: Option<HeaderValue>,
}

impl Chunks {
    pub(super) fn new(up: reqwest13::Response) -> Chunks {
        Chunks {
            content_type: up.headers().get(CONTENT_TYPE).cloned(),
            up: Some(up),
        }
    }

    /// The next chunk; after an error, the end.
    pub(super) async fn next(&mut self) -> Option<Result<Bytes, reqwest13::Error>> {
        let up = self.up.as_mut()?;
        match up.chunk().await {
            Ok(Some(chunk)) => Some(Ok(chunk)),
            Ok(None) => {
                self.up = None;
                None
            }
            Err(e) => {
                self.up = None;
                Some(Err(e))
            }
        }
    }
}

/// The JSON-RPC messages of an upstream answer: SSE events, or one JSON
/// body read to its end.
pub(super) struct Splitter {
    events: Option<sse::Events>,
    json: Vec<u8>,
    /// A message grew past `MAX_ANSWER`: the bytes still pass, unread.
    overflowed: bool,
}

impl Splitter {
    pub(super) fn new(content_type: &Option<HeaderValue>) -> Splitter {
        Splitter {
            events: is_sse(content_type.as_ref()).then(sse::Events::default),
            json: Vec::new(),
            overflowed: false,
        }
    }

    /// The messages complete with `chunk`; `None` is the end of the body.
    pub(super) fn messages(&mut self, chunk: Option<&[u8]>) -> Vec<String> {
        if self.overflowed {
            return Vec::new();
        }
        match (&mut self.events, chunk) {
            (Some(events), Some(chunk)) => {
                events.push(chunk);
                let done = std::iter::from_fn(|| events.next_event())
                    .filter_map(|e| sse::data(&e))
                    .collect();
                if events.pending() > MAX_ANSWER {
                    self.overflowed = true;
                    self.events = None;
                }
                done
            }
            (Some(events), None) => events
                .rest()
                .and_then(|e| sse::data(&e))
                .into_iter()
                .collect(),
            (None, Some(chunk)) => {
                self.json.extend_from_slice(chunk);
                if self.json.len() > MAX_ANSWER {
                    self.overflowed = true;
                    self.json = Vec::new();
                }
                Vec::new()
            }
            (None, None) => {
                let json = std::mem::take(&mut self.json);
                String::from_utf8(json).ok().into_iter().collect()
            }
        }
    }
}

/// The upstream's answer streamed to the agent as it arrives, watched on
/// the side for the call's outcome.
pub(super) async fn watched(
    up: reqwest13::Response,
    id: Value,
    report: ReportOnDrop,
    flight: InFlight,
) -> Answer {
    let status = up.status();
    let headers = passed_headers(up.headers(), [CONTENT_TYPE, CONTENT_LENGTH]);
    let split = Splitter::new(&headers.get(CONTENT_TYPE).cloned());
    let mut watch = Watch {
        // A body of stated length must be sent whole.
        ends_at_answer: split.events.is_some() && !headers.contains_key(CONTENT_LENGTH),
        split,
        chunks: Chunks::new(up),
        id,
        flight,
        report: Some(report),
        next: None,
    };
    let first = match watch.ends_at_answer {
        true => watch.first_write().await,
        false => None,
    };
    let rest = futures_util::stream::unfold(watch, |mut w| async move {
        let item = match w.next.take() {
            Some(next) => next,
            None => w.read().await?,
        };
        match &item {
            Some(Ok(chunk)) => {
                w.observe(Some(chunk));
            }
            Some(Err(_)) => {}
            None => {
                w.observe(None);
            }
        }
        w.yielded(item)
    });
    let stream = futures_util::stream::iter(first.map(Ok)).chain(rest);
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// How long the start of an event stream waits for its first message, so
/// that the headers, MCP 2025-11-25's priming event and a quick tool's
/// answer leave in one write and the agent's client wakes once.
const COALESCE: Duration = Duration::from_millis(2);
/// Past this, what was gathered goes out without waiting for a message.
const FIRST_WRITE_MAX: usize = 64 * 1024;

type Item = Option<Result<Bytes, reqwest13::Error>>;

impl Watch {
    /// The next chunk of the answer; `None` when the stream should end here.
    async fn read(&mut self) -> Option<Item> {
        Some(match self.ends_at_answer && self.report.is_none() {
            // The answer is out and the spec has the server close the stream
            // now. An end already here goes in the same write as the answer:
            // a client that stops reading at the answer (the Python SDK does)
            // would otherwise leave a half-read body, and its connection
            // could not be used again. A stream that stays open is drained
            // on the side, so the upstream connection goes back to the pool.
            true => match self.chunks.next().now_or_never() {
                Some(item) => item,
                None => {
                    tokio::spawn(drain_after_answer(std::mem::take(&mut self.chunks)));
                    return None;
                }
            },
            false => self.chunks.next().await,
        })
    }

    /// The start of an event stream, gathered for one write: what arrives
    /// within `COALESCE`, up to the first chunk that holds a message (or
    /// `FIRST_WRITE_MAX` bytes).
    async fn first_write(&mut self) -> Option<Bytes> {
        let deadline = tokio::time::Instant::now() + COALESCE;
        let mut gathered = bytes::BytesMut::new();
        loop {
            match tokio::time::timeout_at(deadline, self.chunks.next()).await {
                Ok(Some(Ok(chunk))) => {
                    let message = self.observe(Some(&chunk));
                    gathered.extend_from_slice(&chunk);
                    if message || gathered.len() >= FIRST_WRITE_MAX {
                        break;
                    }
                }
                // The end or an error: yielded after what was gathered.
                Ok(after) => {
                    self.next = Some(after);
                    break;
                }
                Err(_) => break,
            }
        }
        (!gathered.is_empty()).then(|| gathered.freeze())
    }

    /// Reads the messages `chunk` completes (`None`: the end) and finishes
    /// the audit report if the answer is among them. Whether any message,
    /// not just comments or an empty priming event, was complete.
    fn observe(&mut self, chunk: Option<&[u8]>) -> bool {
        let seen = self.split.messages(chunk);
        let message = seen.iter().any(|text| !text.trim().is_empty());
        for text in seen {
            if let Some(outcome) = answer_outcome(&text, &self.id) {
                if let Some(r) = self.report.take() {
                    r.finish(outcome.0, outcome.1);
                }
            }
        }
        message
    }

    /// What the stream yields for `item`.
    fn yielded(mut self, item: Item) -> Option<(Result<Bytes, reqwest13::Error>, Watch)> {
        match item {
            Some(Err(e)) => {
                if let Some(r) = self.report.take() {
                    r.finish(false, format!("the upstream's answer broke off: {e}"));
                }
                Some((Err(e), self))
            }
            Some(Ok(chunk)) => Some((Ok(chunk), self)),
            None => {
                if let Some(r) = self.report.take() {
                    match self.split.overflowed {
                        true => r.finish(
                            true,
                            format!(
                                "the tool answered (over {MAX_ANSWER} bytes, not read for isError)"
                            ),
                        ),
                        false => r.finish(false, self.flight.unanswered()),
                    }
                }
                None
            }
        }
    }
}

/// One forwarded call's answer as it streams: the bytes, the messages in
/// them, and the audit report until the answer is seen.
struct Watch {
    chunks: Chunks,
    split: Splitter,
    id: Value,
    /// Registered for cancellation while the answer streams.
    flight: InFlight,
    report: Option<ReportOnDrop>,
    /// An event stream: it ends with the answer (see `watched`).
    ends_at_answer: bool,
    /// What ended `first_write`'s gathering: the end or an error, yielded
    /// after what it gathered.
    next: Option<Item>,
}

/// How long an upstream's event stream is read after its answer.
const DRAIN_AFTER_ANSWER: Duration = Duration::from_secs(30);

/// Reads what an upstream sends after the answer on a call's stream, which
/// no client reads (see `watched`), so its connection can be used again.
pub(super) async fn drain_after_answer(mut chunks: Chunks) {
    let mut extra = 0;
    let read = async {
        while let Some(Ok(chunk)) = chunks.next().await {
            extra += chunk.len();
        }
    };
    let _ = tokio::time::timeout(DRAIN_AFTER_ANSWER, read).await;
    if extra > 0 {
        tracing::debug!(
            bytes = extra,
            "the upstream sent more after its answer on a call's stream; not relayed"
        );
    }
}

/// `names` of `from` that are passed on as they came. Content-Length is
/// safe to pass because the bytes are: with it the agent's client knows
/// where the body ends without waiting for a last chunk.
pub(super) fn passed_headers<const N: usize>(
    from: &HeaderMap,
    names: [HeaderName; N],
) -> HeaderMap {
    let mut to = HeaderMap::new();
    for name in names {
        if let Some(v) = from.get(&name) {
            to.insert(name, v.clone());
        }
    }
    to
}

/// What the answer says for the audit, if `text` is the answer to `id`.
fn answer_outcome(text: &str, id: &Value) -> Option<(bool, String)> {
    let brief: Brief = serde_json::from_str(text).ok()?;
    (brief.id.as_ref() == Some(id)).then(|| brief.outcome())
}

/// An answer's outcome, read from a message signoff already parsed.
pub(super) fn outcome_of(message: &Value) -> (bool, String) {
    match Brief::deserialize(message) {
        Ok(brief) => brief.outcome(),
        Err(_) => (
            false,
            "the upstream's answer is not a JSON-RPC response".into(),
        ),
    }
}

/// The parts of an answer the audit needs; the rest is skipped unread.
#[derive(serde::Deserialize)]
struct Brief {
    id: Option<Value>,
    result: Option<ResultBrief>,
    error: Option<ErrorBrief>,
}

#[derive(serde::Deserialize)]
struct ResultBrief {
    #[serde(rename = "isError")]
    is_error: Option<bool>,
    #[serde(rename = "resultType")]
    result_type: Option<ResultType>,
}

/// MCP 2026-07-28's `resultType`, as far as the audit tells them apart.
#[derive(serde::Deserialize)]
enum ResultType {
    #[serde(rename = "input_required")]
    InputRequired,
    #[serde(other)]
    Other,
}

#[derive(serde::Deserialize)]
struct ErrorBrief {
    code: Option<i64>,
    message: Option<String>,
}

impl Brief {
    fn outcome(self) -> (bool, String) {
        match (self.result, self.error) {
            (
                Some(ResultBrief {
                    is_error: Some(true),
                    ..
                }),
                _,
            ) => (false, "the tool answered with isError".into()),
            (
                Some(ResultBrief {
                    result_type: Some(ResultType::InputRequired),
                    ..
                }),
                _,
            ) => (true, ASKED_FOR_INPUT.into()),
            (Some(_), _) => (true, "the tool answered".into()),
            (None, Some(e)) => (
                false,
                format!(
                    "upstream MCP error {}: {}",
                    e.code.unwrap_or_default(),
                    e.message.unwrap_or_default()
                ),
            ),
            (None, None) => (
                false,
                "the upstream's answer has neither result nor error".into(),
            ),
        }
    }
}

pub(super) fn is_sse(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use signoff_core::Principal;
    use tokio::sync::mpsc;

    use super::*;
    use crate::splice::session::Session;

    #[test]
    fn an_answer_too_large_to_read_is_passed_on_unread() {
        let chunk = vec![b' '; 1 << 20];
        for content_type in ["application/json", "text/event-stream"] {
            let mut split = Splitter::new(&Some(HeaderValue::from_static(content_type)));
            assert!(split.messages(Some(b"data: {")).is_empty());
            for _ in 0..=MAX_ANSWER / chunk.len() {
                assert!(split.messages(Some(&chunk)).is_empty());
            }
            assert!(split.overflowed, "{content_type}");
            assert!(split.messages(Some(b"}\n\n")).is_empty());
            assert!(split.messages(None).is_empty(), "{content_type}");
        }
    }

    #[test]
    fn outcomes_are_read_from_the_answer_to_the_call() {
        let id = json!(7);
        let cases = [
            (
                r#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#,
                Some(true),
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"result":{"isError":true}}"#,
                Some(false),
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"x"}}"#,
                Some(false),
            ),
            (r#"{"jsonrpc":"2.0","id":8,"result":{}}"#, None),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#,
                None,
            ),
            ("not json", None),
        ];
        for (text, succeeded) in cases {
            assert_eq!(answer_outcome(text, &id).map(|o| o.0), succeeded, "{text}");
        }
        // MCP 2026-07-28: the tool wants more input before it finishes.
        let asked_again = r#"{"jsonrpc":"2.0","id":7,"result":{"resultType":"input_required","requestState":"s"}}"#;
        assert_eq!(answer_outcome(asked_again, &id).map(|o| o.0), Some(true));
        let asked = r#"{"jsonrpc":"2.0","id":7,"result":{"resultType":"input_required","inputRequests":{}}}"#;
        let (_, detail) = answer_outcome(asked, &id).unwrap();
        assert!(detail.contains("`input_required`"), "{detail}");
    }

    /// An upstream's event stream as reqwest hands it over, fed by the test.
    fn upstream_stream(chunks: mpsc::UnboundedReceiver<Bytes>) -> reqwest13::Response {
        let frames = futures_util::stream::unfold(chunks, |mut rx| async move {
            let chunk = rx.recv().await?;
            Some((
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(chunk)),
                rx,
            ))
        });
        let body = reqwest13::Body::wrap(http_body_util::StreamBody::new(frames));
        let mut r = http::Response::new(body);
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        reqwest13::Response::from(r)
    }

    /// `watched` over `up`, with the outcome it reports.
    async fn watch(
        up: reqwest13::Response,
    ) -> (Answer, std::sync::mpsc::Receiver<crate::CallOutcome>) {
        let session = Arc::new(Session::new(
            None,
            Principal::Agent("a".into()),
            false,
            false,
            0,
        ));
        let id = json!(7);
        let (tx, outcomes) = std::sync::mpsc::channel();
        let report = ReportOnDrop::start(crate::OutcomeReport::new(move |o| {
            let _ = tx.send(o);
        }));
        let flight = InFlight::start(&session, &id);
        (watched(up, id, report, flight).await, outcomes)
    }

    async fn next_write(body: &mut Body) -> Option<Bytes> {
        use http_body_util::BodyExt;
        let frame = body.frame().await?.unwrap();
        Some(frame.into_data().unwrap())
    }

    const PRIMING: &[u8] = b"id: 0/1\nretry: 3000\ndata: \n\n";
    const ANSWER: &[u8] = b"data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"content\":[]}}\n\n";

    #[tokio::test]
    async fn a_quick_answer_leaves_with_its_priming_event_in_one_write() {
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(Bytes::from_static(PRIMING)).unwrap();
        tx.send(Bytes::from_static(ANSWER)).unwrap();
        drop(tx);
        let (answer, outcomes) = watch(upstream_stream(rx)).await;
        let mut body = answer.into_body();
        assert_eq!(
            next_write(&mut body).await.unwrap(),
            [PRIMING, ANSWER].concat()
        );
        assert!(next_write(&mut body).await.is_none());
        assert!(outcomes.try_recv().unwrap().succeeded);
    }

    #[tokio::test]
    async fn a_slow_answer_does_not_hold_back_the_priming_event() {
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(Bytes::from_static(PRIMING)).unwrap();
        // The answer is sent only once the priming event is out.
        let (answer, outcomes) = watch(upstream_stream(rx)).await;
        let mut body = answer.into_body();
        assert_eq!(next_write(&mut body).await.unwrap(), PRIMING);
        assert!(outcomes.try_recv().is_err(), "no outcome before the answer");
        tx.send(Bytes::from_static(ANSWER)).unwrap();
        assert_eq!(next_write(&mut body).await.unwrap(), ANSWER);
        assert!(outcomes.try_recv().unwrap().succeeded);
        drop(tx);
        assert!(next_write(&mut body).await.is_none());
    }
}
