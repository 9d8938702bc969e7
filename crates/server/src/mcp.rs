//! `/mcp/{name}`: every MCP target over streamable HTTP, behind bearer auth,
//! with the gateway as the gate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use signoff_config::McpUpstream;
use signoff_core::action::McpPayload;
use signoff_core::{Caller, Payload};
use signoff_gateway::{CheckOptions, CheckRequest, CheckVerdict, Gateway, OnHold};
use signoff_mcp::{
    envelope, jsonrpc, BoxFuture, CallOutcome, Gate, GateVerdict, KnownAnnotations, OutcomeReport,
    PendingReview, PendingTx, Proxy, SharedUpstreams, Splice, SpliceConfig, ToolCall, Upstream,
    UpstreamError,
};

/// What the MCP routes need besides the gateway.
pub struct McpSettings {
    pub upstreams: BTreeMap<String, McpUpstream>,
    /// How long a tool call that needs approval is held open.
    pub hold: Duration,
    /// Masks tool results of targets with `masking.results` on.
    pub masker: Option<Arc<signoff_mask::Masker>>,
    /// Hosts the `Host` header may name (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// The largest JSON-RPC message accepted (`server.max_body_bytes`).
    pub max_message_bytes: usize,
}

/// One streamable-HTTP MCP endpoint per upstream, at `/mcp/{name}`: HTTP
/// upstreams spliced, stdio ones behind an rmcp session pair.
pub fn routes(gateway: Gateway, settings: McpSettings) -> Result<Router, UpstreamError> {
    let gate: Arc<dyn Gate> = Arc::new(GatewayGate {
        gateway: gateway.clone(),
        hold: settings.hold,
    });
    let mut router = Router::new();
    for (name, up) in settings.upstreams {
        let path = format!("/mcp/{name}");
        let upstream = match up {
            McpUpstream::Stdio { command, args, env } => Upstream::Stdio { command, args, env },
            McpUpstream::Http { url, headers } => {
                let config = SpliceConfig {
                    server: name,
                    url,
                    headers,
                    allowed_hosts: settings.allowed_hosts.clone(),
                };
                let splice = Arc::new(Splice::new(config, gate.clone(), settings.masker.clone())?);
                router = router.route(&path, any(move |r: Request| spliced(splice.clone(), r)));
                continue;
            }
        };
        let (gate, masker, server) = (gate.clone(), settings.masker.clone(), name.clone());
        // rmcp gives each stateless request a `Proxy` of its own; this is
        // where they find their principal's upstream session.
        let shared = SharedUpstreams::start();
        let known = KnownAnnotations::default();
        let mut config = StreamableHttpServerConfig::default();
        config.allowed_hosts = settings.allowed_hosts.clone();
        config.max_request_body_bytes = settings.max_message_bytes;
        let service = StreamableHttpService::new(
            move || {
                Ok(Proxy::new(
                    server.clone(),
                    upstream.clone(),
                    Some(gate.clone()),
                    masker.clone(),
                )
                .sharing(shared.clone())
                .knowing(known.clone()))
            },
            Arc::new(LocalSessionManager::default()),
            config,
        );
        let checked = Router::new()
            .nest_service(&path, service)
            .layer(middleware::from_fn(envelope_checked));
        router = router.merge(checked);
    }
    let limit = settings.max_message_bytes;
    Ok(router
        .layer(middleware::from_fn(move |r, n| jsonrpc_only(limit, r, n)))
        .layer(middleware::from_fn_with_state(gateway, authenticate)))
}

/// The POST body `jsonrpc_only` read and checked, for the splice.
#[derive(Clone)]
struct Checked {
    bytes: Bytes,
    message: serde_json::Value,
}

/// One request to an HTTP target, handed to its splice. Only a POST's body
/// is read (by `jsonrpc_only`, within the limit); others are ignored.
async fn spliced(splice: Arc<Splice>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let Some(caller) = parts.extensions.remove::<Caller>() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let (body, message) = match parts.extensions.remove::<Checked>() {
        Some(c) => (c.bytes, Some(c.message)),
        None => (Bytes::new(), None),
    };
    splice.serve(caller, parts, body, message).await
}

/// Answers a POST that is not one JSON-RPC message the way JSON-RPC says:
/// HTTP 400 with a `-32700` parse error or a `-32600` invalid request (and
/// 413 for a body over the limit), before rmcp sees it. Valid messages pass
/// on unchanged.
async fn jsonrpc_only(limit: usize, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            let mut r = jsonrpc::Rejection::too_large(limit);
            r.message
                .push_str(" (`server.max_body_bytes` in signoff.toml)");
            // The rest of the body is never read, so the connection cannot
            // carry another request: say so, or a client may reuse it.
            let mut response = jsonrpc_error(StatusCode::PAYLOAD_TOO_LARGE, &r);
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    let message = match jsonrpc::check_message(&bytes) {
        Ok(message) => message,
        Err(r) => return jsonrpc_error(StatusCode::BAD_REQUEST, &r),
    };
    let mut request = Request::from_parts(parts, axum::body::Body::from(bytes.clone()));
    request.extensions_mut().insert(Checked { bytes, message });
    next.run(request).await
}

/// Checks a stateless request's envelope (MCP 2026-07-28) as the splice
/// does, so every target refuses routing headers that disagree with the
/// body, whichever library serves it.
async fn envelope_checked(request: Request, next: Next) -> Response {
    let refused = match request.extensions().get::<Checked>() {
        Some(c)
            if !request.headers().contains_key("mcp-session-id")
                && c.message.get("method").and_then(|m| m.as_str()) != Some("initialize")
                && envelope::is_stateless(request.headers(), &c.message) =>
        {
            envelope::check(request.headers(), &c.message)
                .err()
                .map(|e| e.response(c.message.get("id").cloned().unwrap_or_default()))
        }
        _ => None,
    };
    match refused {
        Some(answer) => (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response(),
        None => next.run(request).await,
    }
}

fn jsonrpc_error(status: StatusCode, r: &jsonrpc::Rejection) -> Response {
    (status, axum::Json(r.response())).into_response()
}

/// Bearer auth: the caller rides on the request to the proxy.
async fn authenticate(
    State(gateway): State<Gateway>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match gateway.authenticate(header.as_deref()).await {
        Ok(caller) => {
            request.extensions_mut().insert::<Caller>(caller);
            next.run(request).await
        }
        Err(e) => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(jsonrpc::error_response(
                serde_json::Value::Null,
                -32001,
                &e.to_string(),
            )),
        )
            .into_response(),
    }
}

struct GatewayGate {
    gateway: Gateway,
    hold: Duration,
}

impl Gate for GatewayGate {
    fn hides(&self, caller: &Caller, server: &str, tool: &str) -> bool {
        self.gateway.tool_always_denied(caller, server, tool)
    }

    fn check<'a>(
        &'a self,
        caller: &'a Caller,
        call: ToolCall,
        pending: PendingTx,
    ) -> BoxFuture<'a, GateVerdict> {
        Box::pin(async move {
            let request = CheckRequest {
                target: call.server.clone(),
                payload: Payload::McpTool(McpPayload {
                    server: call.server.clone(),
                    tool: call.tool.clone(),
                    arguments: call.arguments,
                }),
                reason: call.reason,
                annotations: call.annotations,
                trace_id: None,
            };
            let (tool, server) = (call.tool.clone(), call.server.clone());
            let on_hold = OnHold::new(move |request, review_url| {
                let _ = pending.send(PendingReview {
                    request_id: request.id.to_string(),
                    review_url,
                    message: format!(
                        "`{tool}` on `{server}` is waiting for approval ({}). Follow the review here; someone else must approve it.",
                        request.classification.summary
                    ),
                });
            });
            let options = CheckOptions {
                wait: Some(self.hold),
                on_hold: Some(on_hold),
                ..CheckOptions::default()
            };
            let outcome = match self.gateway.check_with(caller, request, options).await {
                Ok(o) => o,
                Err(e) => {
                    return GateVerdict::Refuse(format!("signoff could not decide this call: {e}"))
                }
            };
            match outcome.verdict {
                CheckVerdict::Allow => {
                    let gateway = self.gateway.clone();
                    // The outcome goes on the audit chain after the effect,
                    // and moves an approved request to executed or failed.
                    let report = OutcomeReport::new(move |done: CallOutcome| {
                        let executed = signoff_gateway::ExecutionOutcome {
                            succeeded: done.succeeded,
                            exit_code: None,
                            duration_ms: Some(done.duration.as_millis() as u64),
                            detail: Some(done.detail),
                        };
                        if let Err(e) = gateway.record_outcome(outcome, executed) {
                            tracing::error!(error = %e, "could not record a tool call's outcome");
                        }
                    });
                    GateVerdict::Allow {
                        mask_results: self.gateway.results_masked(&call.server),
                        report,
                    }
                }
                CheckVerdict::Deny { reason } => {
                    GateVerdict::Refuse(format!("signoff denied this call: {reason}"))
                }
                CheckVerdict::Pending => GateVerdict::Refuse(match outcome.approval {
                    Some(a) => {
                        format!(
                            "signoff: `{}` on `{}` needs {}; still pending after {}. \
                             Request {}: {}. Once it is approved, repeating this identical call runs it once.",
                            call.tool,
                            call.server,
                            a.requirement.in_words(),
                            humantime::format_duration(self.hold),
                            a.id,
                            self.gateway.review_url(a.id),
                        )
                    }
                    None => "signoff: this call is pending review".into(),
                }),
            }
        })
    }
}
