//! One agent session: an MCP server facing the agent, a client facing the
//! upstream, and the gate between them on `tools/call`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, ClientRequest,
    ContentBlock, CustomNotification, GetPromptRequestParams, GetPromptResponse,
    InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProgressNotificationParam,
    ProgressToken, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig, ServerNotification, ServerResult,
};
use rmcp::service::{ElicitationMode, PeerRequestOptions, RequestContext, RunningService};
use rmcp::{ErrorData as McpError, Peer, RoleClient, RoleServer, ServerHandler};
use serde_json::Value;
use signoff_core::Caller;
use tokio::sync::OnceCell;

use crate::relay::Relay;
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
    conn: OnceCell<RunningService<RoleClient, Relay>>,
}

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
        }
    }

    /// The upstream session, started on first use.
    async fn upstream(&self) -> Result<&Peer<RoleClient>, McpError> {
        let conn = self
            .conn
            .get_or_try_init(|| self.upstream.connect(self.relay.clone()))
            .await
            .map_err(|e| {
                tracing::warn!(server = %self.server, error = %e, "upstream unavailable");
                McpError::internal_error(
                    format!("upstream MCP server `{}` is unavailable: {e}", self.server),
                    None,
                )
            })?;
        Ok(conn.peer())
    }

    /// Sends one request upstream, mapping its failure to a clear error.
    async fn forward<'a, T, F>(
        &'a self,
        send: impl FnOnce(&'a Peer<RoleClient>) -> F,
    ) -> Result<T, McpError>
    where
        F: Future<Output = Result<T, rmcp::ServiceError>>,
    {
        send(self.upstream().await?)
            .await
            .map_err(|e| self.upstream_error(e))
    }

    /// Forwards a call, relaying the upstream's progress for it under the
    /// agent's own progress token. If this future is dropped before the
    /// answer (the agent cancelled), the upstream is told to cancel too.
    async fn forward_call(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let peer = self.upstream().await?;
        let handle = peer
            .send_request_with_option(
                ClientRequest::CallToolRequest(CallToolRequest::new(request)),
                PeerRequestOptions::no_options(),
            )
            .await
            .map_err(|e| self.upstream_error(e))?;
        let _mapping = context.meta.get_progress_token().map(|agent| {
            self.relay
                .map_progress(handle.progress_token.clone(), agent)
        });
        let mut cancel_upstream = CancelUpstream(Some((peer.clone(), handle.id.clone())));
        let answer = handle.await_response().await;
        cancel_upstream.0 = None;
        match answer.map_err(|e| self.upstream_error(e))? {
            ServerResult::CallToolResult(r) => Ok(r),
            other => {
                Err(self.upstream_error(format!("unexpected answer to tools/call: {other:?}")))
            }
        }
    }

    /// `tools/call` through the gate: allow forwards (masking the result
    /// if asked), refuse answers with an `isError` result the model reads.
    async fn gated_call(
        &self,
        request: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let Some(gate) = &self.gate else {
            return self.forward_call(request, context).await;
        };
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
        };
        let (pending_tx, mut pending_rx) = tokio::sync::oneshot::channel();
        // URL-mode elicitation (MCP 2025-11-25): a client that declared it is
        // shown the review page while the call is held. The requester can
        // watch the page; the page never lets them approve. Started only once
        // the call is held, so an allowed call spawns nothing.
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
                    if let Ok(review) = review {
                        _elicitor = Some(AbortOnDrop(tokio::spawn(elicit_while_held(
                            context.peer.clone(),
                            review,
                            elicited.clone(),
                        ))));
                    }
                    // Tell the client the call is alive meanwhile.
                    let _ticker = context
                        .meta
                        .get_progress_token()
                        .map(|token| tick_progress(context.peer.clone(), token));
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
                return Ok(CallToolResult::error(vec![ContentBlock::text(text)]))
            }
            GateVerdict::Allow {
                mask_results,
                report,
            } => (mask_results, report),
        };
        let report = ReportOnDrop::start(report);
        let result = self.forward_call(request, context).await;
        let (succeeded, detail) = match &result {
            Ok(r) if r.is_error == Some(true) => (false, "the tool answered with isError".into()),
            Ok(_) => (true, "the tool answered".into()),
            Err(e) => (false, e.message.to_string()),
        };
        report.finish(succeeded, detail);
        Ok(match mask_results {
            true => self.mask(result?),
            false => result?,
        })
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
/// `PROGRESS_EVERY` until dropped.
fn tick_progress(peer: Peer<RoleServer>, token: ProgressToken) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut n = 0u32;
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            n += 1;
            let mut p = ProgressNotificationParam::new(token.clone(), f64::from(n));
            p.message = Some("waiting for approval".into());
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
    /// The revisions with an `initialize` handshake, 2024-11-05 to 2025-11-25.
    /// 2026-07-28 (stateless per-request envelope, tasks) is not offered yet.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    fn get_info(&self) -> ServerConfig {
        // The upstream's capabilities, name and instructions, as the agent
        // would see them directly; the protocol version is negotiated here.
        match self.conn.get().and_then(|c| c.peer().peer_info()) {
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

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        context.peer.set_peer_info(request.clone());
        self.relay.attach(
            context.peer.clone(),
            request.capabilities.elicitation.clone(),
        );
        self.upstream().await?;
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let mut list = self.forward(|peer| peer.list_tools(request)).await?;
        if let Some(gate) = &self.gate {
            let caller = caller(&context)?;
            list.tools
                .retain(|t| !gate.hides(&caller, &self.server, &t.name));
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
            result = self.gated_call(request, &context) => result.map(Into::into),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.forward(|peer| peer.list_resources(request)).await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.forward(|peer| peer.list_resource_templates(request))
            .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.forward(|peer| peer.read_resource(request))
            .await
            .map(Into::into)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.forward(|peer| peer.list_prompts(request)).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.forward(|peer| peer.get_prompt(request))
            .await
            .map(Into::into)
    }
}
