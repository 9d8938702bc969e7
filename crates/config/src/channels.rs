//! `[slack]`, `[teams]` and `[[webhooks]]`: where reviewers are asked and
//! where events go. Secrets are named by environment variable, never written
//! in the file.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::ConfigError;

pub const SLACK_API: &str = "https://slack.com/api";

/// The events a webhook can subscribe to (their audit kinds).
pub const WEBHOOK_EVENTS: [&str; 4] = [
    "request.created",
    "review.submitted",
    "request.resolved",
    "action.executed",
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelsConfig {
    pub slack: Option<SlackConfig>,
    pub teams: Option<TeamsConfig>,
    pub webhooks: Vec<WebhookConfig>,
    /// Slack channel per target (`slack_channel` on a target).
    pub target_slack_channels: BTreeMap<String, String>,
    /// signoff user id per e-mail address (`email` on a user), lowercased.
    pub user_emails: BTreeMap<String, String>,
}

impl ChannelsConfig {
    pub fn is_empty(&self) -> bool {
        self.slack.is_none() && self.teams.is_none() && self.webhooks.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackConfig {
    pub bot_token_env: String,
    pub signing_secret_env: String,
    /// Where requests are posted unless a rule or target names a channel.
    pub channel: String,
    pub api_base: String,
    /// Slack user id → signoff user id, checked before `users.info` e-mail.
    pub users: BTreeMap<String, String>,
    /// Policy id → channel, for requests that rule fired on.
    pub rule_channels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamsConfig {
    /// The Workflows "When a Teams webhook request is received" URL, from the
    /// environment: the URL itself is the credential.
    pub webhook_url_env: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    /// Holds the `whsec_…` signing secret.
    pub secret_env: String,
    pub events: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlack {
    bot_token_env: Option<String>,
    signing_secret_env: Option<String>,
    channel: Spanned<String>,
    api_base: Option<Spanned<String>>,
    #[serde(default)]
    users: BTreeMap<String, String>,
    #[serde(default)]
    rule_channels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTeams {
    webhook_url_env: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    name: Spanned<String>,
    url: Spanned<String>,
    secret_env: String,
    events: Option<Vec<Spanned<String>>>,
}

fn http_url(
    url: &Spanned<String>,
    what: &str,
    invalid: &dyn Fn(usize, String) -> ConfigError,
) -> Result<String, ConfigError> {
    let u = url.get_ref();
    if u.starts_with("https://") || u.starts_with("http://") {
        Ok(u.trim_end_matches('/').to_owned())
    } else {
        Err(invalid(
            url.span().start,
            format!("{what} must start with https:// or http://, not `{u}`"),
        ))
    }
}

pub(crate) fn slack(
    raw: Option<RawSlack>,
    users: &[String],
    invalid: &dyn Fn(usize, String) -> ConfigError,
) -> Result<Option<SlackConfig>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.channel.get_ref().trim().is_empty() {
        return Err(invalid(
            raw.channel.span().start,
            "`channel` names the Slack channel id requests go to, like `C0123456789`".into(),
        ));
    }
    if let Some(unknown) = raw.users.values().find(|u| !users.contains(u)) {
        return Err(invalid(
            raw.channel.span().start,
            format!("[slack.users] maps to `{unknown}`, who is not a [[users]] entry"),
        ));
    }
    let api_base = match &raw.api_base {
        Some(b) => http_url(b, "`api_base`", invalid)?,
        None => SLACK_API.to_owned(),
    };
    Ok(Some(SlackConfig {
        bot_token_env: raw
            .bot_token_env
            .unwrap_or_else(|| "SLACK_BOT_TOKEN".into()),
        signing_secret_env: raw
            .signing_secret_env
            .unwrap_or_else(|| "SLACK_SIGNING_SECRET".into()),
        channel: raw.channel.into_inner(),
        api_base,
        users: raw.users,
        rule_channels: raw.rule_channels,
    }))
}

pub(crate) fn teams(raw: Option<RawTeams>) -> Option<TeamsConfig> {
    raw.map(|t| TeamsConfig {
        webhook_url_env: t.webhook_url_env,
    })
}

pub(crate) fn webhooks(
    raw: Vec<RawWebhook>,
    invalid: &dyn Fn(usize, String) -> ConfigError,
) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut out: Vec<WebhookConfig> = Vec::new();
    for w in raw {
        let name = w.name.get_ref();
        if out.iter().any(|o| &o.name == name) {
            return Err(invalid(
                w.name.span().start,
                format!("webhook `{name}` is defined twice"),
            ));
        }
        let url = http_url(&w.url, "a webhook `url`", invalid)?;
        let events = match w.events {
            None => WEBHOOK_EVENTS.map(String::from).to_vec(),
            Some(list) => {
                let mut events = Vec::new();
                for e in list {
                    if !WEBHOOK_EVENTS.contains(&e.get_ref().as_str()) {
                        return Err(invalid(
                            e.span().start,
                            format!(
                                "unknown webhook event `{}`; use any of {}",
                                e.get_ref(),
                                WEBHOOK_EVENTS.join(", ")
                            ),
                        ));
                    }
                    events.push(e.into_inner());
                }
                events
            }
        };
        out.push(WebhookConfig {
            name: name.clone(),
            url,
            secret_env: w.secret_env,
            events,
        });
    }
    Ok(out)
}
