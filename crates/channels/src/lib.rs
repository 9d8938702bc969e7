//! Reviewer channels and outgoing events (DESIGN §7): Slack, Microsoft Teams
//! and Standard Webhooks, fed by a durable outbox over the audit log.
//!
//! Channels never decide. They tell reviewers about requests; reviews come
//! back through the server, which hands them to the gateway.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod dispatch;
mod http;
pub mod slack;
pub mod teams;
pub mod view;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use signoff_core::{ApprovalRequest, AuditEvent, AuditKind};
use signoff_store::Store;
use uuid::Uuid;

pub use dispatch::{ChannelMetrics, Dispatcher, DispatcherConfig};
pub use slack::Slack;
pub use teams::Teams;
pub use view::RequestView;
pub use webhook::Webhook;

/// Why a channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{channel}: the secret in `{env}` is unusable: {message}")]
    Secret {
        channel: String,
        env: String,
        message: String,
    },
    #[error("cannot build an HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Why one delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again (network, 429, 5xx), no sooner than `after`.
    #[error("{message}")]
    Retry {
        message: String,
        after: Option<Duration>,
    },
    /// Will fail the same way every time (bad channel, revoked token).
    #[error("{0}")]
    Permanent(String),
    #[error("store: {0}")]
    Store(#[from] signoff_store::StoreError),
}

/// One event for one channel, with the request as it stands now.
pub struct Delivery {
    pub event: AuditEvent,
    pub request: Option<ApprovalRequest>,
    pub view: Option<RequestView>,
    pub review_url: String,
}

/// One configured destination.
pub enum Channel {
    Slack(std::sync::Arc<Slack>),
    Teams(Teams),
    Webhook(Webhook),
}

impl Channel {
    pub fn name(&self) -> String {
        match self {
            Channel::Slack(s) => s.name(),
            Channel::Teams(t) => t.name(),
            Channel::Webhook(w) => w.name(),
        }
    }

    /// Whether this channel hears of an event. Webhooks hear of executions
    /// only for actions that went through approval: every statement's
    /// outcome is in the audit log, not worth a webhook each.
    pub fn wants(&self, kind: AuditKind, approval: Option<Uuid>) -> bool {
        match self {
            Channel::Slack(s) => s.wants(kind, approval),
            Channel::Teams(t) => t.wants(kind, approval),
            Channel::Webhook(w) => {
                w.wants(kind.as_str()) && (kind != AuditKind::ActionExecuted || approval.is_some())
            }
        }
    }

    async fn deliver(&self, d: &Delivery, refs: &Refs) -> Result<(), DeliveryError> {
        match self {
            Channel::Slack(s) => s.deliver(d, refs).await,
            Channel::Teams(t) => t.deliver(d).await,
            Channel::Webhook(w) => w.deliver(d).await,
        }
    }
}

/// What a channel remembers about one request (e.g. the Slack message).
pub struct Refs {
    store: Store,
    channel: String,
    approval: Uuid,
}

impl Refs {
    pub async fn get(&self, name: &str) -> Result<Option<String>, DeliveryError> {
        let (channel, approval, name) = (self.channel.clone(), self.approval, name.to_owned());
        Ok(self
            .store
            .read(move |c| signoff_store::outbox::channel_ref(c, &channel, approval, &name))
            .await?)
    }

    pub async fn set(&self, name: &str, value: &str) -> Result<(), DeliveryError> {
        let (channel, approval) = (self.channel.clone(), self.approval);
        let (name, value) = (name.to_owned(), value.to_owned());
        Ok(self
            .store
            .write(move |tx| tx.set_channel_ref(&channel, approval, &name, &value))
            .await?)
    }
}

/// Labels per target, for the "where" of a request.
pub type TargetLabels = BTreeMap<String, BTreeMap<String, String>>;
