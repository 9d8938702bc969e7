use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use signoff_api::{
    ApprovalList, ApprovalView, AuditPage, CheckRequest, CheckResponse, ErrorBody, Health,
    OutcomeRequest, ReviewRequest,
};
use signoff_core::{ApprovalStatus, AuditKind, Caller, Verdict};
use signoff_gateway::{CheckVerdict, ExecutionOutcome};
use utoipa::OpenApi;
use uuid::Uuid;

use crate::error::ApiError;
use crate::{parse_wait, AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "signoff", description = "Identity-aware approval gateway for AI agents and automation."),
    paths(check, outcome, list_approvals, get_approval, review, cancel, audit, health, metrics, openapi),
    components(schemas(CheckRequest, CheckResponse, ApprovalView, ApprovalList, ReviewRequest, OutcomeRequest, AuditPage, Health, ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The authenticated caller.
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        Ok(Authed(state.gateway.authenticate(header).await?))
    }
}

/// JSON bodies whose rejections are our JSON errors.
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(Body(v))
    }
}

fn query<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    Ok(q?.0)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// Hold the request until decided, up to this long (`30s`, `5m`), capped by `max_hold`.
    wait: Option<String>,
}

fn wait_of(q: &WaitQuery) -> Result<Option<std::time::Duration>, ApiError> {
    q.wait
        .as_deref()
        .map(|w| parse_wait(w).map_err(|e| ApiError::invalid(format!("`wait`: {e}"))))
        .transpose()
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("`{id}` is not an approval id"),
        )
    })
}

/// Check one action: allow, deny, or pending approval.
#[utoipa::path(post, path = "/v1/actions", params(WaitQuery), request_body = CheckRequest,
    responses((status = 200, body = CheckResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn check(
    State(s): State<AppState>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
    Authed(caller): Authed,
    Body(body): Body<CheckRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    let wait = wait_of(&query(q)?)?;
    let payload = body.typed_payload().map_err(ApiError::invalid)?;
    if body.target.is_empty() || body.target.len() > 128 {
        return Err(ApiError::invalid(
            "`target` must name a target from signoff.toml",
        ));
    }
    let req = signoff_gateway::CheckRequest {
        target: body.target,
        payload,
        reason: body.reason,
        annotations: None,
        trace_id: body.trace_id,
    };
    let out = s.gateway.check(&caller, req, wait).await?;
    let (decision, reason) = match &out.verdict {
        CheckVerdict::Allow => ("allow", None),
        CheckVerdict::Deny { reason } => ("deny", Some(reason.clone())),
        CheckVerdict::Pending => ("pending", None),
    };
    Ok(Json(CheckResponse {
        action_id: out.action_id,
        decision: decision.into(),
        reason,
        fingerprint: out.fingerprint,
        policies: out.decision.policies().to_vec(),
        classification: (&out.classification).into(),
        approval: out
            .approval
            .as_ref()
            .map(|r| ApprovalView::new(r, s.gateway.review_url(r.id))),
    }))
}

/// Report how an allowed action went.
#[utoipa::path(post, path = "/v1/actions/{id}/outcome", request_body = OutcomeRequest,
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn outcome(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Authed(caller): Authed,
    Body(body): Body<OutcomeRequest>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let detail = body.detail.map(|d| d.chars().take(4096).collect());
    s.gateway
        .report_outcome(
            &caller,
            id,
            ExecutionOutcome {
                succeeded: body.succeeded,
                exit_code: body.exit_code,
                duration_ms: body.duration_ms,
                detail,
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// pending, approved, denied, expired, cancelled, executed, failed
    status: Option<String>,
    /// At most this many, newest first (default 100, max 1000).
    limit: Option<u32>,
}

/// List approval requests.
#[utoipa::path(get, path = "/v1/approvals", params(ListQuery), responses((status = 200, body = ApprovalList)))]
pub async fn list_approvals(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    Authed(_caller): Authed,
) -> Result<Json<ApprovalList>, ApiError> {
    let q = query(q)?;
    let status = q
        .status
        .as_deref()
        .map(|t| ApprovalStatus::parse(t).ok_or_else(|| ApiError::invalid(format!("unknown status `{t}`; use pending, approved, denied, expired, cancelled, executed or failed"))))
        .transpose()?;
    let list = s
        .gateway
        .approvals(status, q.limit.unwrap_or(100).min(1000))
        .await?;
    Ok(Json(ApprovalList {
        approvals: list
            .iter()
            .map(|r| ApprovalView::new(r, s.gateway.review_url(r.id)))
            .collect(),
    }))
}

/// One approval request; with `?wait=`, held until it leaves `pending`.
#[utoipa::path(get, path = "/v1/approvals/{id}", params(WaitQuery), responses((status = 200, body = ApprovalView), (status = 404, body = ErrorBody)))]
pub async fn get_approval(
    State(s): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
    Authed(_caller): Authed,
) -> Result<Json<ApprovalView>, ApiError> {
    let id = parse_id(&id)?;
    let r = match wait_of(&query(q)?)? {
        Some(wait) => s.gateway.wait_for(id, wait).await?,
        None => s.gateway.approval(id).await?,
    };
    Ok(Json(ApprovalView::new(&r, s.gateway.review_url(r.id))))
}

/// Approve or deny. Requesters, their humans and agents are refused.
#[utoipa::path(post, path = "/v1/approvals/{id}/reviews", request_body = ReviewRequest,
    responses((status = 200, body = ApprovalView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn review(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Authed(caller): Authed,
    Body(body): Body<ReviewRequest>,
) -> Result<Json<ApprovalView>, ApiError> {
    let id = parse_id(&id)?;
    let verdict = match body.verdict.as_str() {
        "approve" => Verdict::Approve,
        "deny" => Verdict::Deny,
        other => {
            return Err(ApiError::invalid(format!(
                "`verdict` is `approve` or `deny`, not `{other}`"
            )))
        }
    };
    let window = body
        .window
        .as_deref()
        .map(|w| {
            signoff_core::duration::parse(w)
                .map_err(|e| ApiError::invalid(format!("`window`: {e}")))
        })
        .transpose()?;
    let comment = body.comment.unwrap_or_default();
    if comment.len() > 4096 {
        return Err(ApiError::invalid("`comment` is longer than 4096 bytes"));
    }
    let r = s
        .gateway
        .review(&caller, id, verdict, comment, window)
        .await?;
    Ok(Json(ApprovalView::new(&r, s.gateway.review_url(r.id))))
}

/// Cancel a pending request (requester only).
#[utoipa::path(post, path = "/v1/approvals/{id}/cancel", responses((status = 200, body = ApprovalView), (status = 403, body = ErrorBody)))]
pub async fn cancel(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Authed(caller): Authed,
) -> Result<Json<ApprovalView>, ApiError> {
    let id = parse_id(&id)?;
    let r = s.gateway.cancel(&caller, id).await?;
    Ok(Json(ApprovalView::new(&r, s.gateway.review_url(r.id))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// RFC 3339; events at or after.
    since: Option<String>,
    /// RFC 3339; events before.
    until: Option<String>,
    kind: Option<String>,
    actor: Option<String>,
    approval_id: Option<Uuid>,
    /// Events after this sequence number (paging).
    after: Option<i64>,
    /// Default 100, max 1000.
    limit: Option<u32>,
}

/// Read the audit log (humans only).
#[utoipa::path(get, path = "/v1/audit", params(AuditQuery), responses((status = 200, body = AuditPage), (status = 403, body = ErrorBody)))]
pub async fn audit(
    State(s): State<AppState>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
    Authed(caller): Authed,
) -> Result<Json<AuditPage>, ApiError> {
    if caller.principal.is_agent() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "agents cannot read the audit log",
        ));
    }
    let q = query(q)?;
    let ts = |v: &Option<String>, name: &str| -> Result<Option<String>, ApiError> {
        v.as_deref()
            .map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map(signoff_core::audit::timestamp)
                    .map_err(|e| {
                        ApiError::invalid(format!(
                            "`{name}` must be RFC 3339 like 2026-01-31T00:00:00Z: {e}"
                        ))
                    })
            })
            .transpose()
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let filter = signoff_store::AuditFilter {
        since: ts(&q.since, "since")?,
        until: ts(&q.until, "until")?,
        kind: q
            .kind
            .as_deref()
            .map(|k| {
                AuditKind::parse(k)
                    .ok_or_else(|| ApiError::invalid(format!("unknown event kind `{k}`")))
            })
            .transpose()?,
        actor: q.actor,
        approval_id: q.approval_id,
        after_seq: q.after,
        limit: Some(limit),
    };
    let events = s
        .gateway
        .store()
        .read(move |c| signoff_store::read::events(c, &filter))
        .await
        .map_err(signoff_gateway::GatewayError::from)?;
    let next_after = (events.len() as u32 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(AuditPage {
        events: events
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default())
            .collect(),
        next_after,
    }))
}

/// Liveness and readiness: the store answers and policy is loaded.
#[utoipa::path(get, path = "/healthz", security(()), responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn health(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    s.gateway
        .store()
        .read(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(signoff_store::StoreError::from)
        })
        .await
        .map_err(signoff_gateway::GatewayError::from)?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        policies: s.gateway.decider().policy_count(),
    }))
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(get, path = "/metrics", security(()), responses((status = 200, content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.gateway
            .metrics()
            .encode_with(|out| s.channel_metrics.encode_into(out)),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", security(()), responses((status = 200, body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint `{}`; see /v1/openapi.json", uri.path()),
    )
}
