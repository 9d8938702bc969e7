//! Microsoft Teams: an Adaptive Card posted to a Workflows webhook ("When a
//! Teams webhook request is received"). The card links to the review page,
//! where the reviewer signs in; Workflows cards cannot carry an
//! authenticated vote.

use serde_json::{json, Value};
use signoff_core::AuditKind;
use uuid::Uuid;

use crate::view::{truncated, RequestView};
use crate::{http, ChannelError, Delivery, DeliveryError};

/// Teams refuses messages over 28 KB.
pub const MAX_BYTES: usize = 28 * 1024;
pub const CARD_VERSION: &str = "1.4";

pub struct Teams {
    url: String,
    client: reqwest::Client,
}

impl Teams {
    pub fn new(webhook_url: &str) -> Result<Teams, ChannelError> {
        Ok(Teams {
            url: webhook_url.to_owned(),
            client: http::client()?,
        })
    }

    pub fn name(&self) -> String {
        "teams".into()
    }

    pub fn wants(&self, kind: AuditKind, approval: Option<Uuid>) -> bool {
        approval.is_some() && matches!(kind, AuditKind::RequestCreated | AuditKind::RequestResolved)
    }

    pub async fn deliver(&self, d: &Delivery) -> Result<(), DeliveryError> {
        let Some(view) = &d.view else {
            return Err(DeliveryError::Permanent(
                "the request this event belongs to is gone".into(),
            ));
        };
        let body = message(view, d.event.kind == AuditKind::RequestCreated);
        let request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        http::send(request, "teams workflow webhook")
            .await
            .map(drop)
    }
}

/// The webhook body: one Adaptive Card attachment, at most [`MAX_BYTES`].
pub fn message(view: &RequestView, new_request: bool) -> String {
    let mut budget = 20_000;
    loop {
        let text = envelope(card(view, new_request, budget)).to_string();
        if text.len() <= MAX_BYTES || budget < 200 {
            return text;
        }
        budget /= 2;
    }
}

fn envelope(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

fn card(v: &RequestView, new_request: bool, payload_bytes: usize) -> Value {
    let title = if new_request {
        format!("Approval needed: {}", v.summary)
    } else {
        format!("Request {}: {}", v.status, v.summary)
    };
    let fact = |title: &str, value: &str| json!({ "title": title, "value": value });
    let mut facts = vec![
        fact("Who", &v.who.replace('`', "")),
        fact(
            "Where",
            &format!(
                "{} {}",
                v.target,
                if v.labels.is_empty() {
                    String::new()
                } else {
                    format!("({})", v.labels)
                }
            ),
        ),
        fact("Why", &truncated(&v.why, 2000)),
    ];
    if !v.annotations.is_empty() {
        facts.push(fact(
            "The tool says (not verified)",
            &truncated(&v.annotations, 1000),
        ));
    }
    facts.extend([
        fact("Rule", &v.rules),
        fact("Approvals", &v.approvals),
        fact("Expires", &v.expires),
        fact("Status", &v.status_line()),
    ]);
    for review in &v.reviews {
        facts.push(fact("Review", &truncated(&review.replace('`', ""), 1000)));
    }
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": [
            { "type": "TextBlock", "text": truncated(&title, 300), "weight": "Bolder", "size": "Medium", "wrap": true },
            { "type": "FactSet", "facts": facts },
            { "type": "TextBlock", "text": format!("What: {}", v.effects.join(", ")), "weight": "Bolder", "wrap": true },
            { "type": "TextBlock", "text": truncated(&v.what, payload_bytes), "fontType": "Monospace", "wrap": true },
            { "type": "TextBlock", "text": format!("Request {}", v.id), "isSubtle": true, "size": "Small", "wrap": true },
        ],
        "actions": [
            { "type": "Action.OpenUrl", "title": if new_request { "Review in signoff" } else { "Open in signoff" }, "url": v.link },
        ],
    })
}
