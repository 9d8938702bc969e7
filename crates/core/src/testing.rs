//! Example values for other crates' tests (feature `testing`).

use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::action::{McpPayload, Payload};
use crate::approval::NewRequest;
use crate::{Action, ApprovalRequest, ApprovalRequirement, Classification, Principal};

/// A request opened at `at` for `payload` on target `prod`, asked by
/// `agent:bot` for olivia and needing `requirement`; nil id, rule `p`.
pub fn pending(
    payload: Payload,
    requirement: ApprovalRequirement,
    annotations: Option<Value>,
    at: OffsetDateTime,
) -> ApprovalRequest {
    let action = Action {
        principal: Principal::Agent("bot".into()),
        on_behalf_of: "olivia".into(),
        target: "prod".into(),
        payload,
    };
    ApprovalRequest::open(
        NewRequest {
            id: Uuid::nil(),
            fingerprint: action.fingerprint(),
            action,
            classification: Classification::default(),
            requirement,
            policies: vec!["p".into()],
            reason: None,
            annotations,
        },
        at,
    )
}

/// One approval from anyone, for an hour, single use.
pub fn one_approval() -> ApprovalRequirement {
    ApprovalRequirement {
        approvals: 1,
        reviewer_groups: vec![],
        ttl: Duration::from_secs(3600),
        max_window: None,
    }
}

/// A pending request for an agent's MCP call (`delete_repo` of server
/// `github`, on target `prod`), one approval from anyone, with what the tool
/// said of itself.
pub fn held_mcp_call(annotations: Option<Value>) -> ApprovalRequest {
    let payload = Payload::McpTool(McpPayload {
        server: "github".into(),
        tool: "delete_repo".into(),
        arguments: json!({ "name": "signoff" }),
    });
    pending(
        payload,
        one_approval(),
        annotations,
        OffsetDateTime::UNIX_EPOCH,
    )
}
