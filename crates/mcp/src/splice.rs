//! HTTP targets, spliced: the agent's streamable-HTTP session is relayed to
//! the upstream's one message at a time, the bytes of both directions
//! unchanged. Only `tools/call` waits for the gate; its answer passes through
//! an event splitter on the side, for the audit, and is not re-encoded.
//! signoff writes a message of its own only where it must: refusals, held
//! calls (progress, the review page, then the answer), `tools/list` without
//! the hidden tools, and masked results.
//!
//! Stdio targets, which have no HTTP session to splice, keep the rmcp session
//! pair in `proxy.rs`; both apply the same [`Gate`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use signoff_core::{Caller, Principal};
use tokio::sync::{mpsc, oneshot};

use crate::envelope::PROTOCOL_VERSION;
use crate::proxy::{
    AbortOnDrop, ReportOnDrop, ASKED_FOR_INPUT, ELICITATION_COMPLETE, PROGRESS_EVERY, WITHHELD,
};
use crate::sse;
use crate::{envelope, jsonrpc};
use crate::{BoxFuture, Gate, GateVerdict, PendingReview, ToolCall, UpstreamError, REASON_META};

const SESSION: HeaderName = HeaderName::from_static("mcp-session-id");
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// Ids of signoff's own requests to the client (review-page elicitations),
/// so their answers are not relayed upstream.
const OWN_ID_PREFIX: &str = "signoff-";
/// A session nobody used for this long is forgotten.
const SESSION_IDLE: Duration = Duration::from_secs(3600);
/// The most of an answer signoff reads whole (masking, `tools/list`).
const MAX_ANSWER: usize = 64 * 1024 * 1024;
/// JSON-RPC's internal error, for an upstream that cannot be reached.
const INTERNAL_ERROR: i64 = -32603;

/// A streamable-HTTP upstream and how to reach it.
pub struct SpliceConfig {
    /// The target's name in signoff.toml.
    pub server: String,
    pub url: String,
    /// Sent upstream on every request (credentials); never shown to the agent.
    pub headers: BTreeMap<String, String>,
    /// Hosts the agent's `Host` header may name (DNS-rebinding protection);
    /// empty allows any.
    pub allowed_hosts: Vec<String>,
}

pub struct Splice {
    server: String,
    /// Parsed once: reqwest would parse (and IDNA-map) a string per request.
    url: reqwest13::Url,
    held_headers: HeaderMap,
    allowed_hosts: Vec<String>,
    gate: Arc<dyn Gate>,
    masker: Option<Arc<signoff_mask::Masker>>,
    client: reqwest13::Client,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    epoch: Instant,
}

/// One agent session and the upstream session it is spliced to.
struct Session {
    upstream_id: Option<HeaderValue>,
    /// INVARIANT: only the principal that initialized a session may use it;
    /// a session id alone grants nothing.
    owner: Principal,
    /// The client declared URL-mode elicitation (MCP 2025-11-25; in
    /// 2026-07-28, in each request's `_meta`).
    url_elicitation: bool,
    /// One request of a stateless revision (MCP 2026-07-28), not a session.
    stateless: bool,
    /// Seconds since the splice's epoch.
    used: AtomicU64,
    /// Calls in flight by JSON-RPC id, for `notifications/cancelled`.
    calls: Mutex<HashMap<String, Flight>>,
}

enum Flight {
    /// Waiting for a human: cancelling ends the hold.
    Held(tokio::task::AbortHandle),
    /// Forwarded: the upstream hears of a cancel itself; this is for the audit.
    Forwarded { cancelled: bool },
}

type Answer = Response<Body>;

impl Splice {
    pub fn new(
        config: SpliceConfig,
        gate: Arc<dyn Gate>,
        masker: Option<Arc<signoff_mask::Masker>>,
    ) -> Result<Splice, UpstreamError> {
        let held_headers = crate::upstream::header_map(&config.headers)?;
        let url = reqwest13::Url::parse(&config.url).map_err(|e| UpstreamError::Url {
            url: config.url.clone(),
            reason: e.to_string(),
        })?;
        Ok(Splice {
            server: config.server,
            url,
            held_headers,
            allowed_hosts: config.allowed_hosts,
            gate,
            masker,
            client: crate::upstream::http_client()?,
            sessions: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
        })
    }

    /// Answers one HTTP request of the agent's. `message` is the POST body,
    /// already checked to be one JSON-RPC message.
    pub async fn serve(
        self: &Arc<Self>,
        caller: Caller,
        parts: Parts,
        body: Bytes,
        message: Option<Value>,
    ) -> Answer {
        if !host_allowed(&parts.headers, &self.allowed_hosts) {
            tracing::warn!(host = ?parts.headers.get(HOST), "refused a disallowed Host header (possible DNS rebinding)");
            return plain(
                StatusCode::FORBIDDEN,
                "Forbidden: the Host header is not allowed",
            );
        }
        match (&parts.method, message) {
            (&Method::POST, Some(message)) => {
                self.post(caller, &parts.headers, body, message).await
            }
            (&Method::GET, _) | (&Method::DELETE, _) => {
                if !parts.headers.contains_key(SESSION)
                    && envelope::is_stateless(&parts.headers, &Value::Null)
                {
                    // 2026-07-28 has no session to stream or end: POST only.
                    return only_post();
                }
                let Some(session) = self.session(&parts.headers, &caller) else {
                    return no_session(&parts.headers, Value::Null);
                };
                let ending = parts.method == Method::DELETE;
                let answer = match self
                    .send(parts.method, Some(&session), &parts.headers, None)
                    .await
                {
                    Ok(up) => self.relayed(up, None),
                    Err(e) => self.unreachable(Value::Null, &e),
                };
                if ending && answer.status().is_success() {
                    self.forget(&parts.headers);
                }
                answer
            }
            _ => {
                let mut r = plain(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MCP over streamable HTTP takes POST, GET and DELETE",
                );
                r.headers_mut().insert(
                    http::header::ALLOW,
                    HeaderValue::from_static("GET, POST, DELETE"),
                );
                r
            }
        }
    }

    async fn post(
        self: &Arc<Self>,
        caller: Caller,
        headers: &HeaderMap,
        body: Bytes,
        message: Value,
    ) -> Answer {
        let id = message.get("id").cloned();
        let method = message.get("method").and_then(Value::as_str);
        let session = match (headers.contains_key(SESSION), method) {
            (true, _) => self.session(headers, &caller),
            (false, Some("initialize")) => {
                return self.initialize(caller, headers, body, &message).await
            }
            (false, _) if envelope::is_stateless(headers, &message) => {
                match self.stateless(&caller, headers, &message) {
                    Ok(session) => Some(session),
                    Err(e) => {
                        let mut r = json_message(&e.response(id.unwrap_or(Value::Null)));
                        *r.status_mut() = StatusCode::BAD_REQUEST;
                        return r;
                    }
                }
            }
            (false, _) => None,
        };
        let Some(session) = session else {
            return no_session(headers, id.unwrap_or(Value::Null));
        };
        match (method, id) {
            (Some("tools/call"), Some(id)) => {
                self.call(session, caller, headers, body, message, id).await
            }
            (Some("tools/list"), Some(id)) => self.list(&session, &caller, headers, body, id).await,
            (None, Some(Value::String(id))) if id.starts_with(OWN_ID_PREFIX) => {
                tracing::debug!(%id, "the client answered a review-page elicitation");
                status(StatusCode::ACCEPTED)
            }
            (method, id) => {
                if method == Some("notifications/cancelled") {
                    session.cancel(message.pointer("/params/requestId"));
                }
                match self
                    .send(Method::POST, Some(&session), headers, Some(body))
                    .await
                {
                    Ok(up) => {
                        if up.status() == StatusCode::NOT_FOUND {
                            // The upstream lost the session: so do we, and the
                            // client's 404 tells it to initialize again.
                            self.forget(headers);
                        }
                        self.relayed(up, None)
                    }
                    Err(e) => self.unreachable(id.unwrap_or(Value::Null), &e),
                }
            }
        }
    }

    /// The session of one request of a stateless revision (MCP 2026-07-28),
    /// once it is checked the way that revision's servers check it: its own,
    /// reachable from nowhere else, with no session upstream either. A held
    /// call ends with its stream, which is how this revision cancels.
    fn stateless(
        &self,
        caller: &Caller,
        headers: &HeaderMap,
        message: &Value,
    ) -> Result<Arc<Session>, envelope::EnvelopeError> {
        envelope::check(headers, message)?;
        let url_elicitation = envelope::meta(message, envelope::CAPABILITIES_META)
            .and_then(|c| c.pointer("/elicitation/url"))
            .is_some();
        Ok(Arc::new(Session::new(
            None,
            caller.principal.clone(),
            url_elicitation,
            true,
            self.now(),
        )))
    }

    async fn initialize(
        &self,
        caller: Caller,
        headers: &HeaderMap,
        body: Bytes,
        message: &Value,
    ) -> Answer {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let up = match self.send(Method::POST, None, headers, Some(body)).await {
            Ok(up) => up,
            Err(e) => return self.unreachable(id, &e),
        };
        if !up.status().is_success() {
            return self.relayed(up, None);
        }
        let session_id = format!("{:032x}", rand::random::<u128>());
        let session = Session::new(
            up.headers().get(SESSION).cloned(),
            caller.principal,
            message
                .pointer("/params/capabilities/elicitation/url")
                .is_some(),
            false,
            self.now(),
        );
        if let Ok(mut sessions) = self.sessions.lock() {
            let now = self.now();
            // `saturating_sub`: a session may be used after `now` was read.
            sessions.retain(|_, s| {
                now.saturating_sub(s.used.load(Ordering::Relaxed)) < SESSION_IDLE.as_secs()
            });
            sessions.insert(session_id.clone(), Arc::new(session));
        }
        self.relayed(up, Some(&session_id))
    }

    /// `tools/call` through the gate.
    async fn call(
        self: &Arc<Self>,
        session: Arc<Session>,
        caller: Caller,
        headers: &HeaderMap,
        body: Bytes,
        mut message: Value,
        id: Value,
    ) -> Answer {
        let Some(tool) = message
            .pointer("/params/name")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return error(
                StatusCode::OK,
                id,
                jsonrpc::INVALID_PARAMS,
                "invalid params: `tools/call` needs `params.name`",
            );
        };
        // Moved, not copied: the gate owns the arguments from here.
        let arguments = message.pointer_mut("/params/arguments").map(Value::take);
        let meta = message.pointer("/params/_meta");
        let arguments = match arguments {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(a @ Value::Object(_)) => a,
            Some(_) => {
                return error(
                    StatusCode::OK,
                    id,
                    jsonrpc::INVALID_PARAMS,
                    "invalid params: `arguments` must be an object",
                )
            }
        };
        let call = ToolCall {
            server: self.server.clone(),
            tool,
            arguments,
            reason: meta
                .and_then(|m| m.get(REASON_META))
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        let progress = meta.and_then(|m| m.get("progressToken")).cloned();
        let review_seen = session.stateless
            && message
                .pointer("/params/inputResponses")
                .and_then(|r| r.get(envelope::REVIEW_INPUT))
                .is_some();
        // The answer to the review page is signoff's, not the upstream's,
        // whatever the gate says this time.
        let body = match review_seen {
            true => without_review_answer(&body),
            false => body,
        };
        let (pending_tx, mut pending_rx) = oneshot::channel();
        let gate = self.gate.clone();
        let mut check: BoxFuture<'static, GateVerdict> =
            Box::pin(async move { gate.check(&caller, call, pending_tx).await });
        let review = tokio::select! {
            biased;
            verdict = &mut check => return self.answer_now(&session, headers, body, id, verdict).await,
            review = &mut pending_rx => review,
        };
        let Ok(review) = review else {
            // The gate decided without holding.
            let verdict = check.await;
            return self.answer_now(&session, headers, body, id, verdict).await;
        };
        let offer_page = session.stateless
            && session.url_elicitation
            && !review_seen
            && url::Url::parse(&review.review_url).is_ok();
        if offer_page {
            // 2026-07-28's URL-mode elicitation: the review page as an input
            // request. Dropping the hold leaves the request pending; the
            // client's retry carries the answer and is held then.
            drop(check);
            let result = envelope::review_input_required(&review);
            return json_message(&json!({ "jsonrpc": "2.0", "id": id, "result": result }));
        }
        let call = HeldCall {
            headers: headers.clone(),
            body,
            id,
            progress,
            review,
            check,
        };
        self.hold(session, call)
    }

    /// The answer to a call decided without a hold.
    async fn answer_now(
        &self,
        session: &Arc<Session>,
        headers: &HeaderMap,
        body: Bytes,
        id: Value,
        verdict: GateVerdict,
    ) -> Answer {
        let (mask_results, report) = match verdict {
            GateVerdict::Refuse(text) => return json_message(&refusal(session, id, text)),
            GateVerdict::Allow {
                mask_results,
                report,
            } => (mask_results, report),
        };
        let report = ReportOnDrop::start(report);
        // In flight before it is sent: a cancel may come before the answer's headers.
        let flight = InFlight::start(session, &id);
        let up = match self
            .send(Method::POST, Some(session), headers, Some(body))
            .await
        {
            Ok(up) => up,
            Err(e) => {
                report.finish(false, self.unreachable_text(&e));
                return self.unreachable(id, &e);
            }
        };
        if !mask_results {
            return watched(up, id, report, flight).await;
        }
        let masked = self
            .rewrite(up, &id, Unread::Withheld, |m| self.mask(m))
            .await;
        match masked {
            Ok((answer, outcome)) => {
                let (succeeded, detail) =
                    outcome.unwrap_or((false, "the upstream ended without an answer".into()));
                report.finish(succeeded, detail);
                answer
            }
            Err(e) => {
                report.finish(false, e.clone());
                error(StatusCode::OK, id, INTERNAL_ERROR, &e)
            }
        }
    }

    /// A held call: answered as an event stream at once, which carries the
    /// review page and progress while a human decides, then the answer.
    fn hold(self: &Arc<Self>, session: Arc<Session>, call: HeldCall) -> Answer {
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

    /// `tools/list` without the tools policy denies this caller outright.
    async fn list(
        &self,
        session: &Session,
        caller: &Caller,
        headers: &HeaderMap,
        body: Bytes,
        id: Value,
    ) -> Answer {
        let up = match self
            .send(Method::POST, Some(session), headers, Some(body))
            .await
        {
            Ok(up) => up,
            Err(e) => return self.unreachable(id, &e),
        };
        let hide = |message: &mut Value| {
            if let Some(Value::Array(tools)) = message.pointer_mut("/result/tools") {
                tools.retain(|t| match t.get("name").and_then(Value::as_str) {
                    Some(name) => !self.gate.hides(caller, &self.server, name),
                    None => true,
                });
            }
            // INVARIANT: the list is this caller's, so no shared cache may
            // keep it for another. MCP 2026-07-28 reads an absent
            // `cacheScope` as public.
            if let Some(result) = message.get_mut("result").and_then(Value::as_object_mut) {
                if session.stateless || result.contains_key("cacheScope") {
                    result.insert("cacheScope".into(), Value::from("private"));
                }
            }
        };
        match self.rewrite(up, &id, Unread::Kept, hide).await {
            Ok((answer, _)) => answer,
            Err(e) => error(StatusCode::OK, id, INTERNAL_ERROR, &e),
        }
    }

    /// The upstream's answer read whole, the message that answers `id`
    /// changed by `f` and every other event kept byte for byte (data that
    /// is not JSON as `unread` says).
    async fn rewrite(
        &self,
        up: reqwest13::Response,
        id: &Value,
        unread: Unread,
        f: impl FnOnce(&mut Value),
    ) -> Result<(Answer, Option<(bool, String)>), String> {
        let status = up.status();
        let content_type = up.headers().get(CONTENT_TYPE).cloned();
        let sse = is_sse(content_type.as_ref());
        let mut up = Chunks::new(up);
        let mut whole = Vec::new();
        while let Some(chunk) = up.next().await {
            let chunk = chunk.map_err(|e| format!("the upstream's answer broke off: {e}"))?;
            whole.extend_from_slice(&chunk);
            if whole.len() > MAX_ANSWER {
                return Err(format!("the upstream's answer is over {MAX_ANSWER} bytes"));
            }
        }
        let mut f = Some(f);
        let mut outcome = None;
        let withheld = || jsonrpc::error_response(id.clone(), INTERNAL_ERROR, WITHHELD).to_string();
        let mut change = |text: &str| -> Option<String> {
            // An empty event is a priming event or a keep-alive, not a message.
            if text.trim().is_empty() {
                return None;
            }
            let Ok(mut message) = serde_json::from_str::<Value>(text) else {
                return match unread {
                    Unread::Kept => None,
                    Unread::Withheld => Some(withheld()),
                };
            };
            if message.get("id") != Some(id) {
                return None;
            }
            if let Some(f) = f.take() {
                f(&mut message);
            }
            outcome = Some(outcome_of(&message));
            Some(message.to_string())
        };
        let body = if sse {
            let mut events = sse::Events::default();
            events.push(&whole);
            let mut out = Vec::with_capacity(whole.len());
            while let Some(event) = events.next_event().or_else(|| events.rest()) {
                match sse::data(&event).and_then(|d| change(&d)) {
                    Some(new) => out.extend(sse::with_data(&event, &new)),
                    None => out.extend(event),
                }
            }
            out
        } else {
            match std::str::from_utf8(&whole).ok().and_then(&mut change) {
                Some(new) => new.into_bytes(),
                None => whole,
            }
        };
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        if let Some(ct) = content_type {
            r.headers_mut().insert(CONTENT_TYPE, ct);
        }
        Ok((r, outcome))
    }

    /// Masks an answer's result or error in place; withholds it if it
    /// cannot be masked (fail closed: no masker means the masking
    /// configuration did not load).
    fn mask(&self, message: &mut Value) {
        let Some(masker) = &self.masker else {
            if let Some(result) = message.get_mut("result") {
                let kind = result.get("resultType").cloned();
                *result =
                    json!({ "content": [{ "type": "text", "text": WITHHELD }], "isError": true });
                if let Some(kind) = kind {
                    result["resultType"] = kind;
                }
            }
            if let Some(error) = message.get_mut("error") {
                *error = json!({ "code": INTERNAL_ERROR, "message": WITHHELD });
            }
            return;
        };
        for part in ["result", "error"] {
            if let Some(value) = message.get_mut(part) {
                *value = masker.mask_json_owned(value.take());
            }
        }
    }

    /// One request upstream, for `session` (none for `initialize`). The
    /// agent's own `Authorization` never goes on; the held headers do.
    async fn send(
        &self,
        method: Method,
        session: Option<&Session>,
        agent: &HeaderMap,
        body: Option<Bytes>,
    ) -> Result<reqwest13::Response, SendError> {
        let mut headers = HeaderMap::new();
        let routing = [envelope::METHOD, envelope::NAME];
        for name in [ACCEPT, CONTENT_TYPE, PROTOCOL_VERSION, LAST_EVENT_ID]
            .iter()
            .chain(&routing)
        {
            if let Some(v) = agent.get(name) {
                headers.insert(name.clone(), v.clone());
            }
        }
        // Mirrored arguments, every copy: the upstream checks them against
        // the body that was gated (MCP 2026-07-28 has it refuse a mismatch).
        for (name, value) in agent {
            if name.as_str().starts_with(envelope::PARAM_PREFIX) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(id) = session.and_then(|s| s.upstream_id.clone()) {
            headers.insert(SESSION, id);
        }
        for (name, value) in &self.held_headers {
            headers.insert(name.clone(), value.clone());
        }
        let mut request = self
            .client
            .request(method, self.url.clone())
            .headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let up = request.send().await.map_err(SendError::Unreachable)?;
        match up.status() {
            // The credentials are signoff's, not the agent's: relayed, a 401
            // would send the agent's client into an OAuth flow of its own.
            s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(SendError::Refused(s)),
            _ => Ok(up),
        }
    }

    /// The upstream's response as it came, with signoff's session id on it
    /// when one was made.
    fn relayed(&self, up: reqwest13::Response, session_id: Option<&str>) -> Answer {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = up.status();
        *r.headers_mut() =
            passed_headers(up.headers(), [CONTENT_TYPE, CONTENT_LENGTH, CACHE_CONTROL]);
        if let Some(id) = session_id.and_then(|id| HeaderValue::try_from(id).ok()) {
            r.headers_mut().insert(SESSION, id);
        }
        let chunks = Chunks::new(up);
        *r.body_mut() = Body::from_stream(futures_util::stream::unfold(chunks, |mut c| async {
            c.next().await.map(|item| (item, c))
        }));
        r
    }

    fn unreachable_text(&self, e: &SendError) -> String {
        tracing::warn!(server = %self.server, error = %e, "upstream unavailable");
        format!("upstream MCP server `{}` {e}", self.server)
    }

    /// What the agent reads when the upstream cannot be reached: a JSON-RPC
    /// error the client surfaces, for requests; 502 otherwise.
    fn unreachable(&self, id: Value, e: &SendError) -> Answer {
        let status = match id {
            Value::Null => StatusCode::BAD_GATEWAY,
            _ => StatusCode::OK,
        };
        error(status, id, INTERNAL_ERROR, &self.unreachable_text(e))
    }

    /// The caller's session named in `headers`, if it is theirs.
    fn session(&self, headers: &HeaderMap, caller: &Caller) -> Option<Arc<Session>> {
        let id = headers.get(SESSION)?.to_str().ok()?;
        let session = self.sessions.lock().ok()?.get(id).cloned()?;
        if session.owner != caller.principal {
            tracing::warn!(principal = %caller.principal, "refused a session started by another principal");
            return None;
        }
        session.used.store(self.now(), Ordering::Relaxed);
        Some(session)
    }

    fn forget(&self, headers: &HeaderMap) {
        let id = headers.get(SESSION).and_then(|v| v.to_str().ok());
        if let (Some(id), Ok(mut sessions)) = (id, self.sessions.lock()) {
            sessions.remove(id);
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }
}

impl Session {
    fn new(
        upstream_id: Option<HeaderValue>,
        owner: Principal,
        url_elicitation: bool,
        stateless: bool,
        now: u64,
    ) -> Session {
        Session {
            upstream_id,
            owner,
            url_elicitation,
            stateless,
            used: AtomicU64::new(now),
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// The client cancelled call `id` (a JSON-RPC id): a held call ends, a
    /// forwarded one is marked so for the audit.
    fn cancel(&self, id: Option<&Value>) {
        let (Some(key), Ok(mut calls)) = (id.map(Value::to_string), self.calls.lock()) else {
            return;
        };
        match calls.get_mut(&key) {
            Some(Flight::Held(task)) => {
                tracing::info!(request = %key, "the client cancelled a held call");
                task.abort();
                calls.remove(&key);
            }
            Some(Flight::Forwarded { cancelled }) => *cancelled = true,
            None => {}
        }
    }

    fn release(&self, key: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.remove(key);
        }
    }
}

/// A forwarded call, in the session's calls until dropped.
struct InFlight {
    session: Arc<Session>,
    key: String,
}

impl InFlight {
    fn start(session: &Arc<Session>, id: &Value) -> InFlight {
        let key = id.to_string();
        if let Ok(mut calls) = session.calls.lock() {
            calls.insert(key.clone(), Flight::Forwarded { cancelled: false });
        }
        InFlight {
            session: session.clone(),
            key,
        }
    }

    /// Why the answer never came, for the audit.
    fn unanswered(&self) -> String {
        let cancelled = self.session.calls.lock().ok().is_some_and(|c| {
            matches!(
                c.get(&self.key),
                Some(Flight::Forwarded { cancelled: true })
            )
        });
        match cancelled {
            true => "the agent cancelled the call before it answered".into(),
            false => "the upstream ended without an answer".into(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.session.release(&self.key);
    }
}

/// What `rewrite` does with data that is not JSON.
#[derive(Clone, Copy)]
enum Unread {
    /// Passed on as it came (nothing in it needs changing).
    Kept,
    /// Replaced by an error: it might hold what masking would have hidden.
    Withheld,
}

/// Why a request did not reach the upstream, or was refused there.
#[derive(Debug)]
enum SendError {
    Unreachable(reqwest13::Error),
    Refused(StatusCode),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Unreachable(e) => write!(f, "is unavailable: {}", error_chain(e)),
            SendError::Refused(status) => write!(
                f,
                "refused signoff's credentials (HTTP {}); an operator must fix the target's `headers` in signoff.toml",
                status.as_u16()
            ),
        }
    }
}

/// A `tools/call` the gate holds, and what forwarding it later takes.
struct HeldCall {
    headers: HeaderMap,
    body: Bytes,
    id: Value,
    /// The client's progressToken, if it gave one.
    progress: Option<Value>,
    review: PendingReview,
    check: BoxFuture<'static, GateVerdict>,
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

/// An upstream response body, chunk by chunk; the default has ended.
#[derive(Default)]
struct Chunks {
    up: Option<reqwest13::Response>,
    content_type: Option<HeaderValue>,
}

impl Chunks {
    fn new(up: reqwest13::Response) -> Chunks {
        Chunks {
            content_type: up.headers().get(CONTENT_TYPE).cloned(),
            up: Some(up),
        }
    }

    /// The next chunk; after an error, the end.
    async fn next(&mut self) -> Option<Result<Bytes, reqwest13::Error>> {
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
struct Splitter {
    events: Option<sse::Events>,
    json: Vec<u8>,
    /// A message grew past `MAX_ANSWER`: the bytes still pass, unread.
    overflowed: bool,
}

impl Splitter {
    fn new(content_type: &Option<HeaderValue>) -> Splitter {
        Splitter {
            events: is_sse(content_type.as_ref()).then(sse::Events::default),
            json: Vec::new(),
            overflowed: false,
        }
    }

    /// The messages complete with `chunk`; `None` is the end of the body.
    fn messages(&mut self, chunk: Option<&[u8]>) -> Vec<String> {
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
async fn watched(
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
async fn drain_after_answer(mut chunks: Chunks) {
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
fn passed_headers<const N: usize>(from: &HeaderMap, names: [HeaderName; N]) -> HeaderMap {
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
fn outcome_of(message: &Value) -> (bool, String) {
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

/// A retried call's body without signoff's own input response (the rest is
/// the upstream's, kept). Unchanged if it is not that shape.
fn without_review_answer(body: &Bytes) -> Bytes {
    let Ok(mut message) = serde_json::from_slice::<Value>(body) else {
        return body.clone();
    };
    let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
        return body.clone();
    };
    if let Some(Value::Object(responses)) = params.get_mut("inputResponses") {
        responses.remove(envelope::REVIEW_INPUT);
        if responses.is_empty() {
            params.remove("inputResponses");
        }
    }
    Bytes::from(message.to_string())
}

/// signoff's own answer to a call it does not run: a tool result with
/// `isError`, which the model reads (not a transport error).
fn refusal(session: &Session, id: Value, text: String) -> Value {
    let mut result = json!({ "content": [{ "type": "text", "text": text }], "isError": true });
    if session.stateless {
        // Required on the 2026-07-28 wire; the older revisions have no such field.
        result["resultType"] = Value::from("complete");
    }
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

fn error(status: StatusCode, id: Value, code: i64, message: &str) -> Answer {
    let mut r = json_message(&jsonrpc::error_response(id, code, message));
    *r.status_mut() = status;
    r
}

/// 404 for a session that ended, was never started or is another
/// principal's: the client starts a new one (streamable HTTP's rule).
fn no_session(headers: &HeaderMap, id: Value) -> Answer {
    match headers.contains_key(SESSION) {
        true => error(
            StatusCode::NOT_FOUND,
            id,
            jsonrpc::INVALID_REQUEST,
            "session not found: it ended, or it is not yours; start a new one with `initialize`",
        ),
        false => error(
            StatusCode::BAD_REQUEST,
            id,
            jsonrpc::INVALID_REQUEST,
            "invalid request: no `Mcp-Session-Id` header; start the session with `initialize`",
        ),
    }
}

fn only_post() -> Answer {
    let mut r = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "MCP 2026-07-28 has no sessions: send each request as a POST",
    );
    r.headers_mut()
        .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
    r
}

fn json_message(message: &Value) -> Answer {
    let mut r = Response::new(Body::from(message.to_string()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn plain(code: StatusCode, text: &'static str) -> Answer {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = code;
    r
}

fn status(code: StatusCode) -> Answer {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = code;
    r
}

fn is_sse(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Whether the `Host` header names an allowed host: an entry without a
/// port allows any port.
fn host_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host.as_str(), |(name, _)| name),
    };
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == host || a == name
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::REVIEW_INPUT;

    #[test]
    fn hosts_are_checked_with_and_without_ports() {
        let allowed = ["localhost", "127.0.0.1", "::1", "signoff.example.com:8443"]
            .map(String::from)
            .to_vec();
        let check = |host: &str| {
            let mut h = HeaderMap::new();
            h.insert(HOST, HeaderValue::from_str(host).unwrap());
            host_allowed(&h, &allowed)
        };
        for ok in [
            "localhost",
            "127.0.0.1:8080",
            "[::1]:3000",
            "LOCALHOST:1",
            "signoff.example.com:8443",
        ] {
            assert!(check(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "127.0.0.1.evil:80",
            "signoff.example.com:9999",
            "[::2]:1",
        ] {
            assert!(!check(bad), "{bad}");
        }
        assert!(!host_allowed(&HeaderMap::new(), &allowed), "no Host at all");
        assert!(
            host_allowed(&HeaderMap::new(), &[]),
            "an empty list allows any"
        );
    }

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
    fn the_review_answer_is_taken_out_of_a_retried_call() {
        let retried = |responses: Value| {
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "hi"}, "inputResponses": responses}});
            let out = without_review_answer(&Bytes::from(body.to_string()));
            serde_json::from_slice::<Value>(&out).unwrap()["params"].clone()
        };
        let ours = json!({"action": "accept"});
        assert_eq!(
            retried(json!({ REVIEW_INPUT: ours })),
            json!({"name": "echo", "arguments": {"text": "hi"}}),
            "only signoff's answer: the key goes too"
        );
        assert_eq!(
            retried(json!({ REVIEW_INPUT: ours, "upstream-1": {"action": "decline"} }))
                ["inputResponses"],
            json!({"upstream-1": {"action": "decline"}}),
            "the upstream's own answers stay"
        );
        let not_json = Bytes::from_static(b"not json");
        assert_eq!(without_review_answer(&not_json), not_json);
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
        let session = Arc::new(Session {
            upstream_id: None,
            owner: Principal::Agent("a".into()),
            url_elicitation: false,
            stateless: false,
            used: AtomicU64::new(0),
            calls: Mutex::new(HashMap::new()),
        });
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
