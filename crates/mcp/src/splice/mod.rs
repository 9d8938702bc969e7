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
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use serde_json::{json, Value};
use signoff_core::Caller;
use tokio::sync::oneshot;

use crate::envelope::PROTOCOL_VERSION;
use crate::proxy::{ReportOnDrop, WITHHELD};
use crate::sse;
use crate::{envelope, jsonrpc};
use crate::{BoxFuture, Gate, GateVerdict, KnownAnnotations, ToolCall, UpstreamError, REASON_META};

mod answer;
mod held;
mod reply;
mod session;

use answer::{is_sse, outcome_of, passed_headers, watched, Chunks};
use held::HeldCall;
use reply::{error, json_message, no_session, only_post, plain, refusal, status};
use session::{InFlight, Session};

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
    /// What the upstream's tools say of themselves, for reviewers.
    annotations: KnownAnnotations,
    epoch: Instant,
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
            annotations: KnownAnnotations::default(),
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
        let annotations = self.annotations.of(&tool);
        let call = ToolCall {
            server: self.server.clone(),
            tool,
            arguments,
            reason: meta
                .and_then(|m| m.get(REASON_META))
                .and_then(Value::as_str)
                .map(str::to_owned),
            annotations,
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
                self.annotations.learn_json(tools);
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
}
