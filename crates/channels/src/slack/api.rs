//! The Slack Web API calls signoff makes, against a configurable base URL.

use serde_json::{json, Value};

use crate::{http, DeliveryError};

/// Slack `error` codes that retrying will not fix.
const PERMANENT: &[&str] = &[
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "missing_scope",
    "invalid_blocks",
    "invalid_arguments",
    "msg_too_long",
    "message_not_found",
    "cant_update_message",
    "user_not_found",
    "expired_trigger_id",
    "invalid_trigger_id",
];

#[derive(Clone)]
pub struct SlackApi {
    base: String,
    token: String,
    client: reqwest::Client,
}

/// Where a posted message lives, for `chat.update` and thread replies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

impl SlackApi {
    pub fn new(base: &str, token: &str) -> Result<SlackApi, reqwest::Error> {
        Ok(SlackApi {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            client: http::client()?,
        })
    }

    /// POSTs a JSON body to a Web API method and checks `ok`.
    async fn call(&self, method: &str, body: &Value) -> Result<Value, DeliveryError> {
        let request = self
            .client
            .post(format!("{}/{method}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string());
        let response = http::send(request, &format!("slack {method}")).await?;
        let v: Value = response.json().await.map_err(|e| DeliveryError::Retry {
            message: format!("slack {method}: unreadable response: {e}"),
            after: None,
        })?;
        check_ok(method, v)
    }

    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
        thread_ts: Option<&str>,
    ) -> Result<MessageRef, DeliveryError> {
        let mut body =
            json!({ "channel": channel, "text": text, "blocks": blocks, "unfurl_links": false });
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let v = self.call("chat.postMessage", &body).await?;
        Ok(MessageRef {
            channel: v["channel"].as_str().unwrap_or(channel).to_owned(),
            ts: v["ts"].as_str().unwrap_or_default().to_owned(),
        })
    }

    pub async fn update(
        &self,
        at: &MessageRef,
        text: &str,
        blocks: &Value,
    ) -> Result<(), DeliveryError> {
        self.call(
            "chat.update",
            &json!({ "channel": at.channel, "ts": at.ts, "text": text, "blocks": blocks }),
        )
        .await
        .map(drop)
    }

    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), DeliveryError> {
        self.call(
            "views.open",
            &json!({ "trigger_id": trigger_id, "view": view }),
        )
        .await
        .map(drop)
    }

    /// The e-mail on a Slack user's profile (needs the `users:read.email` scope).
    pub async fn user_email(&self, user: &str) -> Result<Option<String>, DeliveryError> {
        let request = self
            .client
            .get(format!("{}/users.info", self.base))
            .bearer_auth(&self.token)
            .query(&[("user", user)]);
        let response = http::send(request, "slack users.info").await?;
        let v: Value = response.json().await.map_err(|e| DeliveryError::Retry {
            message: format!("slack users.info: unreadable response: {e}"),
            after: None,
        })?;
        let v = check_ok("users.info", v)?;
        Ok(v["user"]["profile"]["email"]
            .as_str()
            .map(str::to_lowercase))
    }

    /// Tells one user something only they see, through an interaction's
    /// `response_url`.
    pub async fn respond_ephemeral(
        &self,
        response_url: &str,
        text: &str,
    ) -> Result<(), DeliveryError> {
        let request = self.client.post(response_url).json(&json!({
            "response_type": "ephemeral",
            "replace_original": false,
            "text": text,
        }));
        http::send(request, "slack response_url").await.map(drop)
    }
}

fn check_ok(method: &str, v: Value) -> Result<Value, DeliveryError> {
    if v["ok"].as_bool() == Some(true) {
        return Ok(v);
    }
    let code = v["error"].as_str().unwrap_or("unknown_error");
    let message = format!("slack {method}: `{code}`");
    if PERMANENT.contains(&code) {
        Err(DeliveryError::Permanent(message))
    } else {
        Err(DeliveryError::Retry {
            message,
            after: None,
        })
    }
}
