//! Slack: a Block Kit message per request with Approve and Deny, kept up to
//! date with `chat.update` and a thread reply per review; signed
//! interactions verified here and mapped to signoff users.

mod api;
pub mod blocks;
mod interaction;
mod verify;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use signoff_config::{ChannelsConfig, SlackConfig};
use signoff_core::AuditKind;
use uuid::Uuid;

pub use api::{MessageRef, SlackApi};
pub use interaction::{modal_metadata, Interaction, InteractionError, SlackUser};
pub use verify::{verify, ReplayGuard, SignatureError, MAX_SKEW_SECS};

use crate::view::review_line;
use crate::{ChannelError, Delivery, DeliveryError, Refs};

const MESSAGE_REF: &str = "message";

pub struct Slack {
    config: SlackConfig,
    api: SlackApi,
    signing_secret: Vec<u8>,
    replays: ReplayGuard,
    target_channels: BTreeMap<String, String>,
    user_emails: BTreeMap<String, String>,
    /// Slack user id → signoff user id found through `users.info`.
    looked_up: Mutex<HashMap<String, String>>,
}

/// Why a Slack user may not review through Slack.
#[derive(Debug, thiserror::Error)]
pub enum ReviewerError {
    #[error("your Slack account (`{0}`) is not linked to a signoff user: ask an admin to add it under `[slack.users]` or to set your Slack e-mail on your `[[users]]` entry")]
    Unmapped(String),
    #[error("could not look up your Slack profile: {0}")]
    Lookup(String),
}

impl Slack {
    pub fn new(
        channels: &ChannelsConfig,
        config: SlackConfig,
        token: &str,
        signing_secret: &str,
    ) -> Result<Slack, ChannelError> {
        Ok(Slack {
            api: SlackApi::new(&config.api_base, token)?,
            config,
            signing_secret: signing_secret.as_bytes().to_vec(),
            replays: ReplayGuard::default(),
            target_channels: channels.target_slack_channels.clone(),
            user_emails: channels.user_emails.clone(),
            looked_up: Mutex::new(HashMap::new()),
        })
    }

    pub fn name(&self) -> String {
        "slack".into()
    }

    pub fn wants(&self, kind: AuditKind, approval: Option<Uuid>) -> bool {
        approval.is_some()
            && matches!(
                kind,
                AuditKind::RequestCreated
                    | AuditKind::ReviewSubmitted
                    | AuditKind::RequestResolved
                    | AuditKind::ActionExecuted
            )
    }

    /// Checks an interaction's signature and that it was not seen before.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let ts = verify(&self.signing_secret, timestamp, signature, body, now)?;
        // Checked after the signature, so forgeries cannot fill the guard.
        if self
            .replays
            .first_time(signature.unwrap_or_default(), ts, now)
        {
            Ok(())
        } else {
            Err(SignatureError::Replayed)
        }
    }

    /// The signoff user id of a Slack user: the explicit mapping first, then
    /// the e-mail on their Slack profile.
    pub async fn reviewer(&self, user: &SlackUser) -> Result<String, ReviewerError> {
        if let Some(id) = self.config.users.get(&user.id) {
            return Ok(id.clone());
        }
        if let Some(id) = lock(&self.looked_up).get(&user.id) {
            return Ok(id.clone());
        }
        let email = self
            .api
            .user_email(&user.id)
            .await
            .map_err(|e| ReviewerError::Lookup(e.to_string()))?;
        let id = email
            .and_then(|e| self.user_emails.get(&e).cloned())
            .ok_or_else(|| ReviewerError::Unmapped(user.id.clone()))?;
        lock(&self.looked_up).insert(user.id.clone(), id.clone());
        Ok(id)
    }

    /// Tells the clicking user something only they see; failures are logged,
    /// since there is nobody else to tell.
    pub async fn tell(&self, response_url: Option<&str>, text: &str) {
        let Some(url) = response_url else {
            tracing::warn!(%text, "slack interaction has no response_url; the reviewer was not told");
            return;
        };
        if let Err(e) = self.api.respond_ephemeral(url, text).await {
            tracing::warn!(error = %e, "could not answer a slack reviewer");
        }
    }

    pub async fn open_deny_modal(
        &self,
        trigger_id: &str,
        request: Uuid,
        response_url: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let view = blocks::deny_modal(&request.to_string(), &modal_metadata(request, response_url));
        self.api.open_view(trigger_id, &view).await
    }

    /// The channel a request goes to: a rule's, else the target's, else the default.
    fn channel_for(&self, d: &Delivery) -> String {
        d.request
            .as_ref()
            .and_then(|r| {
                r.policies
                    .iter()
                    .find_map(|p| self.config.rule_channels.get(p))
                    .or_else(|| self.target_channels.get(r.action.target.as_str()))
            })
            .cloned()
            .unwrap_or_else(|| self.config.channel.clone())
    }

    pub async fn deliver(&self, d: &Delivery, refs: &Refs) -> Result<(), DeliveryError> {
        let (Some(request), Some(view)) = (&d.request, &d.view) else {
            return Err(DeliveryError::Permanent(
                "the request this event belongs to is gone".into(),
            ));
        };
        let text = blocks::fallback_text(view);
        let message = blocks::message(view);
        let posted = refs.get(MESSAGE_REF).await?.and_then(|r| parse_ref(&r));
        let at = match posted {
            Some(at) => at,
            None => {
                let at = self
                    .api
                    .post_message(&self.channel_for(d), &text, &message, None)
                    .await?;
                refs.set(MESSAGE_REF, &format!("{} {}", at.channel, at.ts))
                    .await?;
                if d.event.kind == AuditKind::RequestCreated {
                    return Ok(());
                }
                at
            }
        };
        // One thread reply per review or outcome; a retried delivery does not
        // repeat it.
        let reply = match d.event.kind {
            AuditKind::ReviewSubmitted => request
                .reviews
                .iter()
                .find(|r| d.event.actor.strip_prefix("user:") == Some(r.reviewer.as_str()))
                .map(|r| (format!("review:{}", r.reviewer), review_line(r))),
            AuditKind::ActionExecuted => Some((
                format!("executed:{}", d.event.seq),
                format!(
                    "Executed: {}",
                    d.event.details["detail"]
                        .as_str()
                        .or(d.event.details["outcome"].as_str())
                        .unwrap_or("done")
                ),
            )),
            _ => None,
        };
        if let Some((key, line)) = reply {
            if refs.get(&key).await?.is_none() {
                self.api
                    .post_message(
                        &at.channel,
                        &line,
                        &serde_json::json!([{ "type": "section", "text": { "type": "mrkdwn", "text": blocks::escape(&line) } }]),
                        Some(&at.ts),
                    )
                    .await?;
                refs.set(&key, "posted").await?;
            }
        }
        self.api.update(&at, &text, &message).await
    }
}

fn parse_ref(text: &str) -> Option<MessageRef> {
    let (channel, ts) = text.split_once(' ')?;
    Some(MessageRef {
        channel: channel.to_owned(),
        ts: ts.to_owned(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
