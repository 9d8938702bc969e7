//! The HTTP API contract (DESIGN §10): what the server accepts and answers.
//! Shared by the server and its clients so the two cannot drift.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use serde::{Deserialize, Serialize};
use serde_json::Value;
use signoff_core::approval::rfc3339;
use signoff_core::{ActionKind, ApprovalRequest, Payload};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /v1/actions`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// A target named in signoff.toml.
    pub target: String,
    /// `sql`, `exec`, `http`, `mcp_tool` or `custom`.
    pub kind: String,
    /// Kind-specific: `{"sql": "..."}`, `{"argv": [...]}` or `{"command": "..."}`,
    /// `{"method": "DELETE", "path": "/..."}`, `{"server", "tool", "arguments"}`,
    /// `{"operation", "resource"}`.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Why the caller wants to do this; shown to reviewers and given to policy.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
}

impl CheckRequest {
    /// The typed payload, or a message saying what is wrong with it.
    pub fn typed_payload(&self) -> Result<Payload, String> {
        let kind = ActionKind::parse(&self.kind).ok_or_else(|| {
            format!(
                "unknown kind `{}`; use one of sql, exec, http, mcp_tool, custom",
                self.kind
            )
        })?;
        serde_json::from_value(serde_json::json!({ "kind": kind, "payload": self.payload }))
            .map_err(|e| format!("invalid `{kind}` payload: {e}"))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckResponse {
    /// Identifies this action in the audit log; report its outcome under it.
    pub action_id: Uuid,
    /// `allow`, `deny` or `pending`.
    pub decision: String,
    /// Why, for `deny`.
    pub reason: Option<String>,
    /// SHA-256 of (principal, on_behalf_of, target, kind, payload).
    pub fingerprint: String,
    /// Ids of the policies that determined the decision.
    pub policies: Vec<String>,
    pub classification: ClassificationView,
    pub approval: Option<ApprovalView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ClassificationView {
    pub effects: Vec<String>,
    pub summary: String,
    #[schema(value_type = Object)]
    pub facts: Value,
}

impl From<&signoff_core::Classification> for ClassificationView {
    fn from(c: &signoff_core::Classification) -> Self {
        ClassificationView {
            effects: c.effects.iter().map(|e| e.to_string()).collect(),
            summary: c.summary.clone(),
            facts: serde_json::to_value(&c.facts).unwrap_or(Value::Null),
        }
    }
}

/// An approval request as reviewers and requesters see it (payload masked).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    pub id: Uuid,
    /// pending, approved, denied, expired, cancelled, executed, failed.
    pub status: String,
    pub principal: String,
    pub on_behalf_of: String,
    pub target: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub classification: ClassificationView,
    pub reason: Option<String>,
    /// What the target says of the action (an MCP tool's `annotations`, such
    /// as `destructiveHint`), as the upstream declared it: for reviewers to
    /// read, never used to decide. Absent when the target said nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub annotations: Option<Value>,
    pub policies: Vec<String>,
    pub approvals_required: u32,
    pub approvals_received: u32,
    pub reviewer_groups: Vec<String>,
    /// The longest window a reviewer may grant, in seconds; absent means single use.
    pub max_window_secs: Option<u64>,
    pub created_at: String,
    pub expires_at: String,
    pub resolved_at: Option<String>,
    pub reviews: Vec<ReviewView>,
    pub grant: Option<GrantView>,
    pub review_url: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReviewView {
    pub reviewer: String,
    pub verdict: String,
    pub comment: String,
    pub window_secs: Option<u64>,
    pub at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    /// `once` or `window`.
    pub mode: String,
    pub expires_at: String,
    pub uses: u32,
}

impl ApprovalView {
    pub fn new(r: &ApprovalRequest, review_url: String) -> ApprovalView {
        ApprovalView {
            id: r.id,
            status: r.status.to_string(),
            principal: r.action.principal.to_string(),
            on_behalf_of: r.action.on_behalf_of.clone(),
            target: r.action.target.clone(),
            kind: r.action.kind().to_string(),
            payload: r.action.payload.body_json(),
            classification: (&r.classification).into(),
            reason: r.reason.clone(),
            annotations: r.annotations.clone(),
            policies: r.policies.clone(),
            approvals_required: r.requirement.approvals,
            approvals_received: r.approvals_received(),
            reviewer_groups: r.requirement.reviewer_groups.clone(),
            max_window_secs: r.requirement.max_window.map(|d| d.as_secs()),
            created_at: rfc3339(r.created_at),
            expires_at: rfc3339(r.expires_at),
            resolved_at: r.resolved_at.map(rfc3339),
            reviews: r
                .reviews
                .iter()
                .map(|v| ReviewView {
                    reviewer: v.reviewer.clone(),
                    verdict: v.verdict.as_str().into(),
                    comment: v.comment.clone(),
                    window_secs: v.window.map(|w| w.as_secs()),
                    at: rfc3339(v.at),
                })
                .collect(),
            grant: r.grant.as_ref().map(|g| GrantView {
                mode: match g.mode {
                    signoff_core::GrantMode::Once => "once".into(),
                    signoff_core::GrantMode::Window => "window".into(),
                },
                expires_at: rfc3339(g.expires_at),
                uses: g.uses,
            }),
            review_url,
        }
    }
}

/// `POST /v1/approvals/{id}/reviews`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `approve` or `deny`.
    pub verdict: String,
    /// Required for `deny`.
    #[serde(default)]
    pub comment: Option<String>,
    /// Approve for a time window (`30m`) instead of once, where policy permits.
    #[serde(default)]
    pub window: Option<String>,
}

/// `POST /v1/actions/{id}/outcome`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    pub succeeded: bool,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub detail: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalList {
    pub approvals: Vec<ApprovalView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub policies: usize,
}

/// Every error: a stable machine code and a message that says what to do.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// e.g. `unauthenticated`, `invalid_request`, `payload_too_large`, `not_found`,
    /// `review_refused`, `conflict`, `unavailable`.
    pub code: String,
    pub message: String,
}
