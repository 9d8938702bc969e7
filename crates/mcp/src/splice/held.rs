//! A held `tools/call`: answered at once as an event stream that carries
//! the review page and progress while a human decides, then the answer.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::answer::{drain_after_answer, outcome_of, Chunks, Splitter};
use super::reply::refusal;
use super::session::{Flight, Session};
use super::{Answer, Splice, INTERNAL_ERROR, OWN_ID_PREFIX};
use crate::jsonrpc;
use crate::proxy::{AbortOnDrop, ReportOnDrop, ELICITATION_COMPLETE, PROGRESS_EVERY};
use crate::sse;
use crate::{BoxFuture, GateVerdict, PendingReview};

/// A `tools/call` the gate holds, and what forwarding it later takes.
pub(super) struct HeldCall {
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
    pub(super) id: Value,
    /// The client's progressToken, if it gave one.
    pub(super) progress: Option<Value>,
    pub(super) review: PendingReview,
    pub(super) check: BoxFuture<'static, GateVerdict>,
}

/// Ends a held call when its event stream is dropped.
struct HeldGuard {
    _task: AbortOnDrop,
    session: Arc<Session>,
    key: String,
}

impl Drop for HeldGuard {
    fn drop(&mut self) {
        self.session.release(&self.key);
    }
}

impl Splice {
    /// A held call: answered as an event stream at once, which carries the
    /// review page and progress while a human decides, then the answer.
    pub(super) fn hold(self: &Arc<Self>, session: Arc<Session>, call: HeldCall) -> Answer {
        let (events, out) = mpsc::channel::<Bytes>(16);
        let key = call.id.to_string();
        let splice = self.clone();
        let held_session = session.clone();
        let held_key = key.clone();
        let task = tokio::spawn(async move {
            splice.held_call(&held_session, call, events).await;
            held_session.release(&held_key);
        });
        if let Ok(mut calls) = session.calls.lock() {
            calls.insert(key.clone(), Flight::Held(task.abort_handle()));
        }
        // A client that goes away is taken to have given up: a call nobody
        // waits for is not run (the audit records its end).
        let guard = HeldGuard {
            _task: AbortOnDrop(task),
            session,
            key,
        };
        let stream = futures_util::stream::unfold((out, guard), |(mut out, guard)| async move {
            out.recv()
                .await
                .map(|bytes| (Ok::<_, std::convert::Infallible>(bytes), (out, guard)))
        });
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        r.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        r
    }

    async fn held_call(&self, session: &Session, call: HeldCall, events: mpsc::Sender<Bytes>) {
        let HeldCall {
            headers,
            body,
            id,
            progress,
            review,
            mut check,
        } = call;
        let send = |message: Value| {
            let events = events.clone();
            async move {
                let _ = events.send(sse::event(&message.to_string())).await;
            }
        };
        // URL-mode elicitation (MCP 2025-11-25): the review page, which the
        // requester can watch and never approve from.
        let elicited = session.url_elicitation
            && !session.stateless
            && url::Url::parse(&review.review_url).is_ok();
        if elicited {
            send(json!({
                "jsonrpc": "2.0",
                "id": format!("{OWN_ID_PREFIX}{}", review.request_id),
                "method": "elicitation/create",
                "params": review.elicitation_params(),
            }))
            .await;
        }
        // Without the elicitation, progress is where the link shows.
        let waiting = match elicited {
            true => "waiting for approval".to_owned(),
            false => format!("waiting for approval: {}", review.review_url),
        };
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        let mut n = 0u32;
        let verdict = loop {
            tokio::select! {
                verdict = &mut check => break verdict,
                _ = ticks.tick(), if progress.is_some() => {
                    n += 1;
                    send(json!({
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": { "progressToken": progress, "progress": n, "message": waiting },
                    }))
                    .await;
                }
            }
        };
        if elicited {
            send(json!({
                "jsonrpc": "2.0",
                "method": ELICITATION_COMPLETE,
                "params": { "elicitationId": review.request_id },
            }))
            .await;
        }
        let (mask_results, report) = match verdict {
            GateVerdict::Refuse(text) => return send(refusal(session, id, text)).await,
            GateVerdict::Allow {
                mask_results,
                report,
            } => (mask_results, report),
        };
        let report = ReportOnDrop::start(report);
        let up = match self
            .send(Method::POST, Some(session), &headers, Some(body))
            .await
        {
            Ok(up) => up,
            Err(e) => {
                report.finish(false, self.unreachable_text(&e));
                return send(jsonrpc::error_response(
                    id,
                    INTERNAL_ERROR,
                    &self.unreachable_text(&e),
                ))
                .await;
            }
        };
        // The upstream's messages, re-framed as events of this stream, which
        // ends with the answer (see `watched`).
        let mut up = Chunks::new(up);
        let mut split = Splitter::new(&up.content_type);
        loop {
            // `None` is the end of the body, whose last messages still count.
            let chunk = match up.next().await {
                Some(Ok(chunk)) => Some(chunk),
                Some(Err(e)) => {
                    report.finish(false, format!("the upstream's answer broke off: {e}"));
                    return;
                }
                None => None,
            };
            for text in split.messages(chunk.as_deref()) {
                let Ok(mut message) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if message.get("id") == Some(&id) {
                    if mask_results {
                        self.mask(&mut message);
                    }
                    let (succeeded, detail) = outcome_of(&message);
                    report.finish(succeeded, detail);
                    send(message).await;
                    if chunk.is_some() {
                        tokio::spawn(drain_after_answer(up));
                    }
                    return;
                }
                send(message).await;
            }
            if chunk.is_none() {
                break;
            }
        }
        report.finish(false, "the upstream ended without an answer".into());
    }
}
