//! Slack interaction payloads (`application/x-www-form-urlencoded`, one
//! `payload` field of JSON): button clicks and the deny modal's submission.

use serde_json::Value;
use signoff_core::Verdict;
use uuid::Uuid;

use super::blocks::{APPROVE, COMMENT_BLOCK, DENY, DENY_VIEW};

/// Who clicked, as Slack identifies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackUser {
    pub id: String,
    pub team: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interaction {
    /// Approve or Deny pressed on a request message.
    Button {
        verdict: Verdict,
        request: Uuid,
        user: SlackUser,
        trigger_id: String,
        response_url: Option<String>,
    },
    /// The deny modal submitted with its comment.
    DenySubmitted {
        request: Uuid,
        user: SlackUser,
        comment: String,
        response_url: Option<String>,
    },
    /// Anything else (other apps' buttons, modal closes): acknowledged, ignored.
    Other(String),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum InteractionError {
    #[error("the body has no `payload` field; Slack sends interactions as `payload=<json>`")]
    NoPayload,
    #[error("`payload` is not JSON: {0}")]
    NotJson(String),
    #[error("`payload` lacks `{0}`")]
    Missing(&'static str),
    #[error("`{0}` is not a signoff request id")]
    BadRequestId(String),
}

/// What the deny modal carries from the click to the submission.
pub fn modal_metadata(request: Uuid, response_url: Option<&str>) -> String {
    serde_json::json!({ "request": request, "response_url": response_url }).to_string()
}

impl Interaction {
    pub fn parse(body: &[u8]) -> Result<Interaction, InteractionError> {
        let payload = form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())
            .ok_or(InteractionError::NoPayload)?;
        let v: Value =
            serde_json::from_str(&payload).map_err(|e| InteractionError::NotJson(e.to_string()))?;
        let kind = v["type"]
            .as_str()
            .ok_or(InteractionError::Missing("type"))?;
        let user = || -> Result<SlackUser, InteractionError> {
            Ok(SlackUser {
                id: v["user"]["id"]
                    .as_str()
                    .ok_or(InteractionError::Missing("user.id"))?
                    .to_owned(),
                team: v["user"]["team_id"]
                    .as_str()
                    .or_else(|| v["team"]["id"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            })
        };
        let request_id = |text: &str| {
            Uuid::parse_str(text).map_err(|_| InteractionError::BadRequestId(text.to_owned()))
        };
        match kind {
            "block_actions" => {
                let Some(action) = v["actions"].as_array().and_then(|a| {
                    a.iter()
                        .find(|a| matches!(a["action_id"].as_str(), Some(APPROVE | DENY)))
                }) else {
                    return Ok(Interaction::Other(kind.to_owned()));
                };
                let verdict = if action["action_id"] == APPROVE {
                    Verdict::Approve
                } else {
                    Verdict::Deny
                };
                Ok(Interaction::Button {
                    verdict,
                    request: request_id(
                        action["value"]
                            .as_str()
                            .ok_or(InteractionError::Missing("actions[].value"))?,
                    )?,
                    user: user()?,
                    trigger_id: v["trigger_id"]
                        .as_str()
                        .ok_or(InteractionError::Missing("trigger_id"))?
                        .to_owned(),
                    response_url: v["response_url"].as_str().map(str::to_owned),
                })
            }
            "view_submission" if v["view"]["callback_id"] == DENY_VIEW => {
                let meta: Value = v["view"]["private_metadata"]
                    .as_str()
                    .and_then(|m| serde_json::from_str(m).ok())
                    .ok_or(InteractionError::Missing("view.private_metadata"))?;
                Ok(Interaction::DenySubmitted {
                    request: request_id(meta["request"].as_str().unwrap_or_default())?,
                    user: user()?,
                    comment: v["view"]["state"]["values"][COMMENT_BLOCK][COMMENT_BLOCK]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                    response_url: meta["response_url"].as_str().map(str::to_owned),
                })
            }
            other => Ok(Interaction::Other(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(payload: &Value) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes()
    }

    const ID: &str = "0190e5b2-7c1a-7000-8000-000000000001";

    #[test]
    fn approve_click() {
        let body = form(&serde_json::json!({
            "type": "block_actions",
            "user": { "id": "U123", "username": "rita", "team_id": "T9" },
            "trigger_id": "123.456.abc",
            "response_url": "https://hooks.slack.com/actions/T9/1/x",
            "actions": [{ "action_id": "signoff_approve", "block_id": "signoff_review", "value": ID, "type": "button" }],
        }));
        let got = Interaction::parse(&body).unwrap();
        assert_eq!(
            got,
            Interaction::Button {
                verdict: Verdict::Approve,
                request: Uuid::parse_str(ID).unwrap(),
                user: SlackUser {
                    id: "U123".into(),
                    team: "T9".into()
                },
                trigger_id: "123.456.abc".into(),
                response_url: Some("https://hooks.slack.com/actions/T9/1/x".into()),
            }
        );
    }

    #[test]
    fn deny_submission_carries_the_comment() {
        let meta = modal_metadata(
            Uuid::parse_str(ID).unwrap(),
            Some("https://hooks.slack.com/r"),
        );
        let body = form(&serde_json::json!({
            "type": "view_submission",
            "user": { "id": "U123", "team_id": "T9" },
            "view": { "callback_id": "signoff_deny_comment", "private_metadata": meta,
                      "state": { "values": { "comment": { "comment": { "type": "plain_text_input", "value": " too broad " } } } } },
        }));
        match Interaction::parse(&body).unwrap() {
            Interaction::DenySubmitted {
                comment,
                response_url,
                ..
            } => {
                assert_eq!(comment, "too broad");
                assert_eq!(response_url.as_deref(), Some("https://hooks.slack.com/r"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hostile_bodies_get_errors() {
        let cases: [(&[u8], InteractionError); 4] = [
            (b"", InteractionError::NoPayload),
            (
                b"payload=%7Bnot",
                InteractionError::NotJson("key must be a string at line 1 column 2".into()),
            ),
            (b"payload=%7B%7D", InteractionError::Missing("type")),
            (
                &form(
                    &serde_json::json!({"type":"block_actions","user":{"id":"U"},"trigger_id":"t",
                "actions":[{"action_id":"signoff_deny","value":"../../etc"}]}),
                ),
                InteractionError::BadRequestId("../../etc".into()),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(Interaction::parse(body), Err(want));
        }
        let other = form(&serde_json::json!({"type":"view_closed","user":{"id":"U"}}));
        assert_eq!(
            Interaction::parse(&other),
            Ok(Interaction::Other("view_closed".into()))
        );
    }
}
