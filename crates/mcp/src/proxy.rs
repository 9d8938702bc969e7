//! One agent session: an MCP server facing the agent, a client facing the
//! upstream, and the gate between them on `tools/call`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::RequestMetaObject;
use rmcp::model::{
    CacheScope, CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult,
    ClientRequest, ContentBlock, CustomNotification, DiscoverResult, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, InitializeRequestParams, InitializeResult,
    InputRequiredResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ProgressToken,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResultType, ServerCapabilities, ServerConfig, ServerNotification, ServerResult,
};
use rmcp::service::{ElicitationMode, PeerRequestOptions, RequestContext, RunningService};
use rmcp::{ErrorData as McpError, Peer, RoleClient, RoleServer, ServerHandler};
use serde_json::Value;
use signoff_core::Caller;
use tokio::sync::OnceCell;

use crate::envelope;
use crate::relay::Relay;
use crate::upstream::{Lifecycle, SharedUpstreams};
use crate::KnownAnnotations;
use crate::Upstream;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One tool call, as the gate sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The target: the upstream MCP server's name in signoff.toml.
    pub server: String,
    pub tool: String,
    pub arguments: Value,
    /// From `_meta["signoff/reason"]` on the `tools/call` request.
    pub reason: Option<String>,
    /// What the tool said of itself in the upstream's latest `tools/list`
    /// (`destructiveHint`, …): for reviewers only, never for deciding.
    pub annotations: Option<Arc<Value>>,
}

#[derive(Debug)]
pub enum GateVerdict {
    /// Forward the call; mask the result if the target asks for it, and
    /// tell `report` how it went.
    Allow {
        mask_results: bool,
        report: OutcomeReport,
    },
    /// Do not forward. The text is what the model reads: why, or, for a
    /// hold that ran out, the request id, who must approve and the link.
    Refuse(String),
}

/// How a forwarded call went, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallOutcome {
    /// The upstream answered and the result is not `isError`.
    pub succeeded: bool,
    pub detail: String,
    pub duration: Duration,
}

/// Where a forwarded call's outcome goes; called at most once. A call whose
/// client cancelled it reports that too.
pub struct OutcomeReport(Option<Box<dyn FnOnce(CallOutcome) + Send>>);

impl OutcomeReport {
    pub fn new(f: impl FnOnce(CallOutcome) + Send + 'static) -> OutcomeReport {
        OutcomeReport(Some(Box::new(f)))
    }

    /// Reports nothing (the bridge, whose far end gates and audits).
    pub fn none() -> OutcomeReport {
        OutcomeReport(None)
    }

    fn send(mut self, outcome: CallOutcome) {
        if let Some(f) = self.0.take() {
            f(outcome);
        }
    }
}

impl std::fmt::Debug for OutcomeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutcomeReport")
    }
}

/// A call that became pending review: sent by the gate while it holds, so
/// the proxy can point the user at the review page.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingReview {
    pub request_id: String,
    pub review_url: String,
    /// What the user reads next to the link.
    pub message: String,
}

impl PendingReview {
    /// The params of a URL-mode `elicitation/create` that shows the review
    /// page, in a session's request and in 2026-07-28's input requests.
    pub(crate) fn elicitation_params(&self) -> Value {
        serde_json::json!({
            "mode": "url",
            "message": self.message,
            "url": self.review_url,
            "elicitationId": self.request_id,
        })
    }
}

pub type PendingTx = tokio::sync::oneshot::Sender<PendingReview>;

/// Decides tool calls; the gateway implements it. May hold (pending review),
/// and then says so once on `pending`.
pub trait Gate: Send + Sync + 'static {
    fn check<'a>(
        &'a self,
        caller: &'a Caller,
        call: ToolCall,
        pending: PendingTx,
    ) -> BoxFuture<'a, GateVerdict>;

    /// Whether `tool` is denied to `caller` whatever its arguments; such
    /// tools are left out of `tools/list`.
    fn hides(&self, caller: &Caller, server: &str, tool: &str) -> bool;
}

/// The `_meta` key for the caller's reason on `tools/call`.
pub const REASON_META: &str = "signoff/reason";

/// The outcome of a call the tool answered with `input_required`.
pub(crate) const ASKED_FOR_INPUT: &str =
    "the tool asked the client for input (`input_required`); the client's retry is a call of its own";

/// What a masked result says in place of what could not be masked.
pub(crate) const WITHHELD: &str = "[result withheld: signoff could not mask it]";

/// How often a held call reports progress to a client that asked for it.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(5);

pub struct Proxy {
    server: String,
    upstream: Upstream,
    /// `None` forwards every call: for a bridge whose far end gates.
    gate: Option<Arc<dyn Gate>>,
    masker: Option<Arc<signoff_mask::Masker>>,
    relay: Relay,
    /// This agent session's upstream session.
    conn: OnceCell<Connection>,
    /// Where stateless requests (MCP 2026-07-28) find their principal's
    /// upstream session, when each request gets a `Proxy` of its own (HTTP).
    /// Without it they use `conn`: one stdio session is one `Proxy`.
    shared: Option<SharedUpstreams>,
    /// Whether the agent began with `initialize`: a handshake session.
    in_session: AtomicBool,
    /// What the target's tools say of themselves, for reviewers.
    annotations: KnownAnnotations,
}

type Connection = Arc<RunningService<RoleClient, Relay>>;

impl Proxy {
    pub fn new(
        server: String,
        upstream: Upstream,
        gate: Option<Arc<dyn Gate>>,
        masker: Option<Arc<signoff_mask::Masker>>,
    ) -> Proxy {
        Proxy {
            server,
            upstream,
            gate,
            masker,
            relay: Relay::default(),
            conn: OnceCell::new(),
            shared: None,
            in_session: AtomicBool::new(false),
            annotations: KnownAnnotations::default(),
        }
    }

    /// Keeps what the target's tools say of themselves in `known`, shared
    /// with the target's other sessions, so a call's reviewers see it even
    /// when another session listed the tools.
    pub fn knowing(mut self, known: KnownAnnotations) -> Proxy {
        self.annotations = known;
        self
    }

    /// Serves stateless requests on `shared`'s per-principal sessions.
    pub fn sharing(mut self, shared: SharedUpstreams) -> Proxy {
        self.shared = Some(shared);
        self
    }

    /// Whether the request is of a stateless revision (MCP 2026-07-28 on): it
    /// carries its own version, with no session behind it. A session's
    /// `initialize` may ask for that revision and settle on an older one.
    fn stateless(&self, context: &RequestContext<RoleServer>) -> bool {
        !self.in_session.load(Ordering::Relaxed)
            && context
                .protocol_version()
                .is_some_and(|v| v.as_str() >= envelope::STATELESS_SINCE)
    }

    /// How this request's upstream session begins: stateless only for the
    /// bridge's HTTP upstream (the signoff server) under a stateless client,
    /// so the server can offer the review page as an input request.
    fn lifecycle(&self, context: &RequestContext<RoleServer>) -> Lifecycle {
        let bridged = self.gate.is_none() && matches!(self.upstream, Upstream::Http { .. });
        match bridged && self.stateless(context) {
            true => Lifecycle::Stateless,
            false => Lifecycle::Handshake,
        }
    }

    /// The upstream session for this request, started on first use.
    async fn upstream(&self, context: &RequestContext<RoleServer>) -> Result<Connection, McpError> {
        let connected = match &self.shared {
            Some(shared) if self.stateless(context) => {
                let principal = caller(context)?.principal.to_string();
                shared.connect(&principal, &self.upstream).await
            }
            _ => self
                .conn
                .get_or_try_init(|| async {
                    let lifecycle = self.lifecycle(context);
                    let conn = self.upstream.connect(self.relay.clone(), lifecycle);
                    conn.await.map(Arc::new)
                })
                .await
                .cloned(),
        };
        connected.map_err(|e| {
            tracing::warn!(server = %self.server, error = %e, "upstream unavailable");
            McpError::internal_error(
                format!("upstream MCP server `{}` is unavailable: {e}", self.server),
                None,
            )
        })
    }

    /// Sends one request upstream, mapping its failure to a clear error.
    async fn forward<T: Complete, F>(
        &self,
        context: &RequestContext<RoleServer>,
        send: impl FnOnce(Peer<RoleClient>) -> F,
    ) -> Result<T, McpError>
    where
        F: Future<Output = Result<T, rmcp::ServiceError>>,
    {
        let conn = self.upstream(context).await?;
        send(conn.peer().clone())
            .await
            .map(Complete::complete)
            .map_err(|e| self.failed(context, &conn, e))
    }

    /// Forwards a call, relaying the upstream's progress for it under the
    /// agent's own progress token. If this future is dropped before the
    /// answer (the agent cancelled), the upstream is told to cancel too.
    async fn forward_call(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let conn = self.upstream(context).await?;
        let peer = conn.peer();
        let mut options = PeerRequestOptions::no_options();
        // A stateless upstream hears what this client can do (URL
        // elicitation) from each request, as the client said it.
        if self.lifecycle(context) == Lifecycle::Stateless {
            if let Some(c) = context.meta.client_capabilities() {
                let mut meta = RequestMetaObject::default();
                meta.set_client_capabilities(c);
                options = options.with_meta(meta);
            }
        }
        let handle = peer
            .send_request_with_option(
                ClientRequest::CallToolRequest(CallToolRequest::new(request)),
                options,
            )
            .await
            .map_err(|e| self.failed(context, &conn, e))?;
        let _mapping = context.meta.get_progress_token().map(|agent| {
            conn.service()
                .map_progress(handle.progress_token.clone(), context.peer.clone(), agent)
        });
        let mut cancel_upstream = CancelUpstream(Some((peer.clone(), handle.id.clone())));
        let answer = handle.await_response().await;
        cancel_upstream.0 = None;
        match answer.map_err(|e| self.failed(context, &conn, e))? {
            ServerResult::CallToolResult(r) => Ok(r.complete().into()),
            // Only a stateless upstream asks: the review page, through the bridge.
            ServerResult::InputRequiredResult(r) => Ok(r.into()),
            other => {
                Err(self.upstream_error(format!("unexpected answer to tools/call: {other:?}")))
            }
        }
    }

    /// `tools/call` through the gate: allow forwards (masking the result
    /// if asked), refuse answers with an `isError` result the model reads.
    async fn gated_call(
        &self,
        mut request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let Some(gate) = &self.gate else {
            // The bridge: the server behind it asked, and reads the answer.
            return self.forward_call(request, context).await;
        };
        let stateless = self.stateless(context);
        // The answer to the review page is signoff's, not the upstream's,
        // whatever the gate says this time.
        let review_seen = stateless && take_review_answer(&mut request);
        let caller = caller(context)?;
        let call = ToolCall {
            server: self.server.clone(),
            tool: request.name.to_string(),
            arguments: Value::Object(request.arguments.clone().unwrap_or_default()),
            reason: context
                .meta
                .get(REASON_META)
                .and_then(Value::as_str)
                .map(str::to_owned),
            annotations: self.annotations.of(&request.name),
        };
        let (pending_tx, mut pending_rx) = tokio::sync::oneshot::channel();
        // URL-mode elicitation: a client that declared it is shown the review
        // page while the call is held (MCP 2025-11-25: a request to the
        // client; 2026-07-28, which sends clients no requests: an
        // `input_required` answer, whose retry is held). The requester can
        // watch the page; the page never lets them approve. Started only
        // once the call is held, so an allowed call spawns nothing.
        let elicited = Arc::new(std::sync::Mutex::new(None::<String>));
        // Lives to the end of the call, as the page may still be open.
        let mut _elicitor = None;
        let verdict = {
            let check = gate.check(&caller, call, pending_tx);
            tokio::pin!(check);
            tokio::select! {
                verdict = &mut check => verdict,
                review = &mut pending_rx => {
                    // Held: a human decides.
                    let mut waiting = "waiting for approval".to_owned();
                    if let Ok(review) = review {
                        waiting = format!("waiting for approval: {}", review.review_url);
                        if !stateless {
                            _elicitor = Some(AbortOnDrop(tokio::spawn(elicit_while_held(
                                context.peer.clone(),
                                review,
                                elicited.clone(),
                            ))));
                        } else if !review_seen && elicits_urls(context) {
                            // Dropping the hold leaves the request pending;
                            // the client's retry carries the answer.
                            if let Some(asked) = review_page_input(&review) {
                                return Ok(asked.into());
                            }
                        }
                    }
                    // Tell the client the call is alive meanwhile.
                    let _ticker = context
                        .meta
                        .get_progress_token()
                        .map(|token| tick_progress(context.peer.clone(), token, waiting));
                    // INVARIANT: the ticker ends with this future, also when
                    // the client cancels the call.
                    check.await
                }
            }
        };
        let offered = elicited.lock().ok().and_then(|mut e| e.take());
        if let Some(id) = offered {
            let done = CustomNotification::new(
                ELICITATION_COMPLETE,
                Some(serde_json::json!({ "elicitationId": id })),
            );
            let _ = context
                .peer
                .send_notification(ServerNotification::CustomNotification(done))
                .await;
        }
        let (mask_results, report) = match verdict {
            GateVerdict::Refuse(text) => {
                return Ok(CallToolResult::error(vec![ContentBlock::text(text)]).into())
            }
            GateVerdict::Allow {
                mask_results,
                report,
            } => (mask_results, report),
        };
        let report = ReportOnDrop::start(report);
        let result = self.forward_call(request, context).await;
        let (succeeded, detail) = match &result {
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => {
                (false, "the tool answered with isError".into())
            }
            Ok(CallToolResponse::Complete(_)) => (true, "the tool answered".into()),
            Ok(_) => (true, ASKED_FOR_INPUT.into()),
            Err(e) => (false, e.message.to_string()),
        };
        report.finish(succeeded, detail);
        Ok(match (result?, mask_results) {
            (CallToolResponse::Complete(r), true) => self.mask(r).into(),
            (answer, _) => answer,
        })
    }

    /// A failed upstream request. A shared session whose upstream went away
    /// is forgotten at once, so the principal's next request starts anew.
    fn failed(
        &self,
        context: &RequestContext<RoleServer>,
        conn: &Connection,
        e: rmcp::ServiceError,
    ) -> McpError {
        let gone = matches!(
            e,
            rmcp::ServiceError::TransportClosed | rmcp::ServiceError::TransportSend(_)
        );
        if let (true, Some(shared), true) = (gone, &self.shared, self.stateless(context)) {
            if let Ok(caller) = caller(context) {
                shared.forget(&caller.principal.to_string(), conn);
            }
        }
        self.upstream_error(e)
    }

    fn upstream_error(&self, e: impl std::fmt::Display) -> McpError {
        McpError::internal_error(
            format!("upstream MCP server `{}` failed: {e}", self.server),
            None,
        )
    }

    /// The result with its values masked; withheld whole if that cannot be
    /// done (fail closed).
    fn mask(&self, result: CallToolResult) -> CallToolResult {
        let withheld = || CallToolResult::error(vec![ContentBlock::text(WITHHELD)]);
        let (Some(masker), Ok(value)) = (&self.masker, serde_json::to_value(&result)) else {
            return withheld();
        };
        serde_json::from_value(masker.mask_json_owned(value)).unwrap_or_else(|_| withheld())
    }
}

/// Sends `notifications/progress` under the client's `token` every
/// `PROGRESS_EVERY` until dropped, saying `message`.
fn tick_progress(peer: Peer<RoleServer>, token: ProgressToken, message: String) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut n = 0u32;
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            n += 1;
            let mut p = ProgressNotificationParam::new(token.clone(), f64::from(n));
            p.message = Some(message.clone());
            if peer.notify_progress(p).await.is_err() {
                break;
            }
        }
    }))
}

/// Sent when a held call is decided, so the client can close the page it
/// opened for the elicitation.
pub const ELICITATION_COMPLETE: &str = "notifications/elicitation/complete";

/// Waits for the gate to report a pending review, then, if the client
/// supports URL-mode elicitation, asks it to show the review page. The
/// elicitation id (the request id) is left in `elicited` for the completion
/// notification.
async fn elicit_while_held(
    peer: Peer<RoleServer>,
    review: PendingReview,
    elicited: Arc<std::sync::Mutex<Option<String>>>,
) {
    if !peer
        .supported_elicitation_modes()
        .contains(&ElicitationMode::Url)
    {
        return;
    }
    let Ok(url) = url::Url::parse(&review.review_url) else {
        tracing::warn!(url = %review.review_url, "review link is not a URL; no elicitation");
        return;
    };
    if let Ok(mut e) = elicited.lock() {
        *e = Some(review.request_id.clone());
    }
    match peer
        .elicit_url(review.message, url, review.request_id)
        .await
    {
        Ok(action) => tracing::debug!(?action, "review page elicitation answered"),
        Err(e) => tracing::debug!(error = %e, "review page elicitation not shown"),
    }
}

/// Tells the upstream to cancel a forwarded request when dropped armed.
struct CancelUpstream(Option<(Peer<RoleClient>, rmcp::model::RequestId)>);

impl Drop for CancelUpstream {
    fn drop(&mut self) {
        let Some((peer, id)) = self.0.take() else {
            return;
        };
        let note = rmcp::model::CancelledNotificationParam::new(
            Some(id),
            Some("the agent cancelled the call".into()),
        );
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = peer.notify_cancelled(note).await;
            });
        }
    }
}

/// Times a forwarded call and reports it; as cancelled if it is dropped
/// before its answer.
pub(crate) struct ReportOnDrop(Option<OutcomeReport>, std::time::Instant);

impl ReportOnDrop {
    pub(crate) fn start(report: OutcomeReport) -> ReportOnDrop {
        ReportOnDrop(Some(report), std::time::Instant::now())
    }

    pub(crate) fn finish(mut self, succeeded: bool, detail: String) {
        self.send(succeeded, detail);
    }

    fn send(&mut self, succeeded: bool, detail: String) {
        if let Some(r) = self.0.take() {
            r.send(CallOutcome {
                succeeded,
                detail,
                duration: self.1.elapsed(),
            });
        }
    }
}

impl Drop for ReportOnDrop {
    fn drop(&mut self) {
        self.send(
            false,
            "the agent cancelled the call before it answered".into(),
        );
    }
}

/// Aborts a background task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An upstream result marked complete. A handshake upstream's results carry
/// no `resultType`; 2026-07-28 requires it, and rmcp drops it again for a
/// handshake peer.
trait Complete {
    fn complete(self) -> Self;
}

macro_rules! complete {
    ($($result:ty),*) => {$(
        impl Complete for $result {
            fn complete(mut self) -> Self {
                self.result_type = Some(ResultType::COMPLETE);
                self
            }
        }
    )*};
}

complete!(
    CallToolResult,
    ListToolsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ReadResourceResult,
    ListPromptsResult,
    GetPromptResult
);

/// Whether the request's client shows URL-mode elicitations.
fn elicits_urls(context: &RequestContext<RoleServer>) -> bool {
    context
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .is_some_and(|e| e.url.is_some())
}

/// Takes signoff's own answer out of a retried call, leaving the rest (the
/// upstream's) in place; whether there was one.
fn take_review_answer(request: &mut CallToolRequestParams) -> bool {
    let Some(responses) = &mut request.input_responses else {
        return false;
    };
    let seen = responses.remove(envelope::REVIEW_INPUT).is_some();
    if responses.is_empty() {
        request.input_responses = None;
    }
    seen
}

/// The review page as an `input_required` answer; `None` for a link that is
/// not a URL.
fn review_page_input(review: &PendingReview) -> Option<InputRequiredResult> {
    if url::Url::parse(&review.review_url).is_err() {
        tracing::warn!(url = %review.review_url, "review link is not a URL; no elicitation");
        return None;
    }
    serde_json::from_value(envelope::review_input_required(review)).ok()
}

/// The authenticated caller the HTTP layer put on the request.
fn caller(context: &RequestContext<RoleServer>) -> Result<Caller, McpError> {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| McpError::invalid_request("no authenticated caller on this session", None))
}

impl ServerHandler for Proxy {
    /// Every revision to 2026-07-28: the handshake ones in a session, the
    /// stateless one per request (the upstream session stays a session).
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2026_07_28))
    }

    fn get_info(&self) -> ServerConfig {
        server_config(self.conn.get())
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        let conn = self.upstream(&context).await?;
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            server_config(Some(&conn)),
        ))
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        self.in_session.store(true, Ordering::Relaxed);
        context.peer.set_peer_info(request.clone());
        self.relay.attach(
            context.peer.clone(),
            request.capabilities.elicitation.clone(),
        );
        self.upstream(&context).await?;
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut list = self
            .forward(&context, |p| async move { p.list_tools(request).await })
            .await?;
        if let Some(gate) = &self.gate {
            let caller = caller(&context)?;
            self.annotations.learn(list.tools.iter().map(|t| {
                let said = t.annotations.as_ref();
                (
                    t.name.as_ref(),
                    said.and_then(|a| serde_json::to_value(a).ok()),
                )
            }));
            list.tools
                .retain(|t| !gate.hides(&caller, &self.server, &t.name));
            // The list is this caller's now: no shared cache may keep it for
            // another (in 2026-07-28 an absent scope reads as public).
            if self.stateless(&context) || list.cache_scope.is_some() {
                list.cache_scope = Some(CacheScope::Private);
            }
        }
        Ok(list)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // INVARIANT: rmcp only signals a client's `notifications/cancelled`
        // on `context.ct`; the handler runs on. Racing it here ends a hold
        // (a call approved later never runs for a client that gave up) and,
        // through `CancelUpstream`, cancels a forwarded call upstream.
        let cancelled = context.ct.clone();
        tokio::select! {
            biased;
            _ = cancelled.cancelled() => Err(McpError::new(
                rmcp::model::ErrorCode::INTERNAL_ERROR,
                "the client cancelled this call; it did not run through signoff",
                None,
            )),
            result = self.gated_call(request, &context) => result,
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.forward(&context, |p| async move { p.list_resources(request).await })
            .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.forward(&context, |p| async move {
            p.list_resource_templates(request).await
        })
        .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.forward(&context, |p| async move { p.read_resource(request).await })
            .await
            .map(Into::into)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.forward(&context, |p| async move { p.list_prompts(request).await })
            .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.forward(&context, |p| async move { p.get_prompt(request).await })
            .await
            .map(Into::into)
    }
}

/// The upstream's capabilities, name and instructions, as the agent would
/// see them directly; the protocol version is negotiated here.
fn server_config(conn: Option<&Connection>) -> ServerConfig {
    match conn.and_then(|c| c.peer().peer_info()) {
        Some(info) => {
            let mut config = ServerConfig::new(info.capabilities.clone());
            if let Some(server_info) = &info.server_info {
                config = config.with_server_info(server_info.clone());
            }
            if let Some(text) = &info.instructions {
                config = config.with_instructions(text.clone());
            }
            config
        }
        None => ServerConfig::new(ServerCapabilities::builder().enable_tools().build()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signoffs_answer_is_taken_out_of_a_retried_call_and_the_rest_kept() {
        let ours = json!({"action": "accept"});
        let theirs = json!({"action": "decline"});
        let cases = [
            (None, false, None),
            (Some(json!({})), false, None),
            (Some(json!({ envelope::REVIEW_INPUT: ours })), true, None),
            (
                Some(json!({ envelope::REVIEW_INPUT: ours, "upstream-1": theirs })),
                true,
                Some(json!({ "upstream-1": theirs })),
            ),
            (
                Some(json!({ "upstream-1": theirs })),
                false,
                Some(json!({ "upstream-1": theirs })),
            ),
        ];
        for (responses, seen, left) in cases {
            let mut request = CallToolRequestParams::new("echo");
            request.input_responses = responses
                .clone()
                .map(|r| serde_json::from_value(r).unwrap());
            assert_eq!(take_review_answer(&mut request), seen, "{responses:?}");
            assert_eq!(
                request
                    .input_responses
                    .map(|r| serde_json::to_value(r).unwrap()),
                left,
                "{responses:?}"
            );
        }
    }

    #[test]
    fn the_review_page_is_a_url_elicitation_in_an_input_request() {
        let review = PendingReview {
            request_id: "req_1".into(),
            review_url: "https://signoff.example/ui/requests/req_1".into(),
            message: "`echo` is waiting for approval".into(),
        };
        let asked = review_page_input(&review).unwrap();
        let wire = serde_json::to_value(&asked).unwrap();
        assert_eq!(wire["resultType"], "input_required");
        let page = &wire["inputRequests"][envelope::REVIEW_INPUT];
        assert_eq!(page["method"], "elicitation/create");
        assert_eq!(page["params"]["mode"], "url");
        assert_eq!(page["params"]["url"], review.review_url);
        assert_eq!(page["params"]["elicitationId"], "req_1");
        let not_a_url = PendingReview {
            review_url: "/ui/requests/req_1".into(),
            ..review
        };
        assert!(review_page_input(&not_a_url).is_none());
    }
}
