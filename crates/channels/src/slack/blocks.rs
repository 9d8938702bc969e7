//! Block Kit for a request: the message, its updates and the deny modal.

use serde_json::{json, Value};

use crate::view::{truncated, RequestView};

pub const APPROVE: &str = "signoff_approve";
pub const DENY: &str = "signoff_deny";
pub const DENY_VIEW: &str = "signoff_deny_comment";
pub const COMMENT_BLOCK: &str = "comment";

/// Section text is limited to 3000 characters; the payload leaves room for
/// its fence and the note on truncation.
const PAYLOAD_BYTES: usize = 2600;
/// The tool's annotations, within the same section's 3,000 characters.
const ANNOTATION_BYTES: usize = 300;

/// Escapes the three characters Slack's mrkdwn treats as control.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The notification text: what shows in push notifications and to clients
/// without blocks.
pub fn fallback_text(v: &RequestView) -> String {
    format!(
        "signoff: {} wants to act on {}: {}",
        plain(&v.who),
        v.target,
        v.summary
    )
}

fn plain(text: &str) -> String {
    text.replace('`', "")
}

pub fn message(v: &RequestView) -> Value {
    let mut header = format!("Approval needed: {}", v.summary);
    if header.chars().count() > 150 {
        header = header.chars().take(147).collect::<String>() + "…";
    }
    let labels = if v.labels.is_empty() {
        String::new()
    } else {
        format!(" ({})", escape(&v.labels))
    };
    let said = match v.annotations.is_empty() {
        true => String::new(),
        false => format!(
            "\n*The tool says (not verified):* {}",
            escape(&truncated(&v.annotations, ANNOTATION_BYTES))
        ),
    };
    let facts = format!(
        "*Who:* {}\n*Where:* `{}`{labels}\n*Why:* {}{said}\n*Rule:* {}\n*Approvals:* {}\n*Expires:* {}",
        escape(&v.who),
        escape(&v.target),
        escape(&v.why),
        escape(&v.rules),
        escape(&v.approvals),
        v.expires,
    );
    let what = format!(
        "*What:* {}\n```{}```",
        escape(&v.effects.join(", ")),
        escape(&truncated(&v.what, PAYLOAD_BYTES)),
    );
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": header } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": facts } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": what } }),
        json!({ "type": "context", "elements": [{ "type": "mrkdwn",
            "text": format!("Request `{}` · <{}|Open the review page>", v.id, v.link) }] }),
    ];
    if v.status.is_pending() {
        blocks.push(json!({
            "type": "actions",
            "block_id": "signoff_review",
            "elements": [
                { "type": "button", "action_id": APPROVE, "style": "primary", "value": v.id,
                  "text": { "type": "plain_text", "text": "Approve" } },
                { "type": "button", "action_id": DENY, "style": "danger", "value": v.id,
                  "text": { "type": "plain_text", "text": "Deny" } },
            ],
        }));
    }
    let mut status = format!("*Status:* {}", escape(&v.status_line()));
    for review in &v.reviews {
        status.push_str(&format!("\n• {}", escape(review)));
    }
    blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": status } }));
    Value::Array(blocks)
}

/// The modal that asks a denying reviewer why. `metadata` comes back with
/// the submission.
pub fn deny_modal(request_id: &str, metadata: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": DENY_VIEW,
        "private_metadata": metadata,
        "title": { "type": "plain_text", "text": "Deny request" },
        "submit": { "type": "plain_text", "text": "Deny" },
        "close": { "type": "plain_text", "text": "Cancel" },
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn",
              "text": format!("Denying request `{request_id}`. The requester sees your comment.") } },
            { "type": "input", "block_id": COMMENT_BLOCK,
              "label": { "type": "plain_text", "text": "Why deny it?" },
              "element": { "type": "plain_text_input", "action_id": COMMENT_BLOCK, "multiline": true, "max_length": 2000 } },
        ],
    })
}
