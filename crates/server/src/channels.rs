//! Reviewer channels: built from `[slack]`, `[teams]` and `[[webhooks]]`,
//! fed by the outbox dispatcher, and `/slack/interactions` for the clicks.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use signoff_channels::slack::{Interaction, SlackUser};
use signoff_channels::{
    Channel, ChannelMetrics, Dispatcher, DispatcherConfig, Slack, Teams, Webhook,
};
use signoff_config::Config;
use signoff_core::{AuthMethod, Principal, Verdict};
use signoff_gateway::Gateway;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Why the channels could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelSetupError {
    #[error("{channel} needs the environment variable `{env}`; set it or remove the `{section}` section")]
    MissingEnv {
        channel: &'static str,
        env: String,
        section: &'static str,
    },
    #[error(transparent)]
    Channel(#[from] signoff_channels::ChannelError),
    #[error("cannot start the outbox: {0}")]
    Store(#[from] signoff_store::StoreError),
}

/// The configured channels, ready to start.
pub struct Channels {
    pub list: Vec<Channel>,
    pub slack: Option<Arc<Slack>>,
    pub metrics: Arc<ChannelMetrics>,
}

fn env(
    var: &str,
    channel: &'static str,
    section: &'static str,
) -> Result<String, ChannelSetupError> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ChannelSetupError::MissingEnv {
            channel,
            env: var.to_owned(),
            section,
        })
}

impl Channels {
    pub fn from_config(config: &Config) -> Result<Channels, ChannelSetupError> {
        let c = &config.channels;
        let mut list = Vec::new();
        let mut slack = None;
        if let Some(s) = &c.slack {
            let token = env(&s.bot_token_env, "Slack", "[slack]")?;
            let secret = env(&s.signing_secret_env, "Slack", "[slack]")?;
            let built = Arc::new(Slack::new(c, s.clone(), &token, &secret)?);
            slack = Some(built.clone());
            list.push(Channel::Slack(built));
        }
        if let Some(t) = &c.teams {
            let url = env(&t.webhook_url_env, "Teams", "[teams]")?;
            list.push(Channel::Teams(Teams::new(&url)?));
        }
        for w in &c.webhooks {
            let secret = env(&w.secret_env, "A webhook", "[[webhooks]]")?;
            list.push(Channel::Webhook(Webhook::new(w.clone(), &secret)?));
        }
        Ok(Channels {
            list,
            slack,
            metrics: Arc::new(ChannelMetrics::new()),
        })
    }

    /// Starts delivery. The dispatcher is woken by every gateway event and
    /// also polls, so events written by other replicas go out too.
    pub async fn start(
        &mut self,
        gateway: &Gateway,
        config: &Config,
    ) -> Result<Vec<JoinHandle<()>>, ChannelSetupError> {
        if self.list.is_empty() {
            return Ok(Vec::new());
        }
        let dispatcher = Dispatcher::new(
            gateway.store().clone(),
            std::mem::take(&mut self.list),
            DispatcherConfig {
                review_url_base: gateway.review_url_prefix(),
                labels: config
                    .directory
                    .targets
                    .iter()
                    .map(|t| (t.name.clone(), t.labels.clone()))
                    .collect(),
                ..DispatcherConfig::default()
            },
            self.metrics.clone(),
        );
        let wake = dispatcher.waker();
        let mut events = gateway.subscribe();
        let mut handles = dispatcher.start().await?;
        handles.push(tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            // A lagged receiver still means there is news.
            while let Ok(_) | Err(RecvError::Lagged(_)) = events.recv().await {
                wake.notify_one();
            }
        }));
        Ok(handles)
    }
}

#[derive(Clone)]
struct SlackState {
    gateway: Gateway,
    slack: Arc<Slack>,
}

/// `POST /slack/interactions`.
pub fn slack_routes(gateway: Gateway, slack: Arc<Slack>) -> Router {
    Router::new()
        .route("/slack/interactions", post(interactions))
        .with_state(SlackState { gateway, slack })
}

/// Verifies, answers at once (Slack wants an answer within 3 s) and does the
/// work in the background.
async fn interactions(State(s): State<SlackState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Err(e) = s.slack.verify(
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
        now,
    ) {
        tracing::warn!(error = %e, "slack interaction refused");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": "bad_signature", "message": e.to_string() } })),
        )
            .into_response();
    }
    let interaction = match Interaction::parse(&body) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "malformed slack interaction");
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": { "code": "bad_request", "message": e.to_string() } })),
            )
                .into_response();
        }
    };
    match interaction {
        Interaction::Button {
            verdict: Verdict::Deny,
            request,
            trigger_id,
            response_url,
            ..
        } => {
            // The trigger id is valid for 3 seconds: open the modal right away.
            tokio::spawn(async move {
                if let Err(e) = s
                    .slack
                    .open_deny_modal(&trigger_id, request, response_url.as_deref())
                    .await
                {
                    tracing::warn!(error = %e, "could not open the slack deny dialog");
                    s.slack
                        .tell(response_url.as_deref(), &format!("Could not open the deny dialog ({e}); deny from the review page instead."))
                        .await;
                }
            });
        }
        Interaction::Button {
            verdict: Verdict::Approve,
            request,
            user,
            response_url,
            ..
        } => {
            tokio::spawn(review(
                s,
                request,
                user,
                Verdict::Approve,
                String::new(),
                response_url,
            ));
        }
        Interaction::DenySubmitted { comment, .. } if comment.is_empty() => {
            return Json(json!({ "response_action": "errors", "errors": { "comment": "Say why you deny it: the requester sees this." } })).into_response();
        }
        Interaction::DenySubmitted {
            request,
            user,
            comment,
            response_url,
        } => {
            tokio::spawn(review(
                s,
                request,
                user,
                Verdict::Deny,
                comment,
                response_url,
            ));
        }
        Interaction::Other(kind) => tracing::debug!(%kind, "slack interaction ignored"),
    }
    StatusCode::OK.into_response()
}

async fn review(
    s: SlackState,
    request: Uuid,
    user: SlackUser,
    verdict: Verdict,
    comment: String,
    response_url: Option<String>,
) {
    let tell = |text: String| {
        let (slack, url) = (s.slack.clone(), response_url.clone());
        async move { slack.tell(url.as_deref(), &text).await }
    };
    let id = match s.slack.reviewer(&user).await {
        Ok(id) => id,
        Err(e) => return tell(e.to_string()).await,
    };
    let auth = AuthMethod::Slack {
        team: user.team.clone(),
        user: user.id.clone(),
    };
    let caller = match s.gateway.caller_for(Principal::User(id.clone()), auth) {
        Ok(c) => c,
        Err(e) => return tell(format!("signoff does not know you as `{id}`: {e}")).await,
    };
    // The message itself is updated through the outbox; only refusals are
    // answered here, to the clicker alone.
    if let Err(e) = s
        .gateway
        .review(&caller, request, verdict, comment, None::<Duration>)
        .await
    {
        tell(format!("Your {} was not accepted: {e}", verdict.as_str())).await;
    }
}
