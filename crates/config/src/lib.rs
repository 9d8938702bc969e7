//! `signoff.toml`: reading, checking, and the embedded default.
//!
//! Every error names the file, line and column, so `serve` can refuse to start
//! with a message that says exactly what to fix (DESIGN invariant 1).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use signoff_core::principal::valid_name;
use signoff_core::{
    AgentEntry, Directory, Location, Principal, TargetEntry, TargetMasking, UserEntry,
};
use toml::Spanned;

mod channels;

pub use channels::{ChannelsConfig, SlackConfig, TeamsConfig, WebhookConfig, WEBHOOK_EVENTS};

/// The commented config `signoff init` writes.
pub const INIT_TEMPLATE: &str = include_str!("init.toml");

/// Names of the embedded default's demo identities.
pub mod demo {
    pub const AGENT: &str = "demo-agent";
    pub const OPERATOR: &str = "demo-operator";
    pub const REVIEWERS: [&str; 2] = ["demo-reviewer-1", "demo-reviewer-2"];
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    #[error("cannot read config `{path}`: {message}")]
    Io { path: String, message: String },
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The file this came from; `None` for the embedded default.
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    pub policy_dir: Option<PathBuf>,
    pub approvals: ApprovalConfig,
    pub directory: Directory,
    /// API key hashes listed in the config, per principal.
    pub key_hashes: Vec<(Principal, String)>,
    /// What reviewers and the audit log see of payloads.
    pub masking: signoff_mask::MaskConfig,
    /// How to start each `mcp` target's upstream server, by target name.
    pub mcp_upstreams: BTreeMap<String, McpUpstream>,
    /// The PostgreSQL front door of each `postgres` target with a `listen`.
    pub pg_listeners: BTreeMap<String, PgListener>,
    /// Slack, Teams and outgoing webhooks.
    pub channels: ChannelsConfig,
}

/// A `postgres` target served on the wire protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgListener {
    pub listen: SocketAddr,
    /// `postgres://user:password@host:port/db`; signoff alone holds it.
    pub upstream: String,
    /// Read the upstream password from this environment variable instead.
    pub password_env: Option<String>,
    pub max_message_bytes: usize,
    /// PEM certificate and key for TLS towards clients.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Result columns masked whatever they hold (with `masking.results`).
    pub masked_columns: Vec<String>,
}

pub const DEFAULT_PG_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// An upstream MCP server. signoff holds its environment and headers:
/// credentials never reach agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McpUpstream {
    /// Speaks on stdin/stdout; one process per agent session.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
    },
    /// A streamable-HTTP endpoint.
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: String,
    /// `public_url` was not set, so it is `http://{listen}` and follows a new
    /// listen address ([`ServerConfig::listen_on`]).
    pub public_url_from_listen: bool,
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    /// How long a verified API key is trusted before the store is asked
    /// again: the longest a revoked key keeps working in a running server.
    pub key_recheck: Duration,
}

impl ServerConfig {
    /// Listens on `addr` instead; a public URL that was derived from the old
    /// address moves with it, so review links and the banner stay reachable.
    pub fn listen_on(&mut self, addr: SocketAddr) {
        self.listen = addr;
        if self.public_url_from_listen {
            self.public_url = format!("http://{addr}");
        }
    }
}

#[derive(Clone, Debug)]
pub struct ApprovalConfig {
    pub default_ttl: Duration,
    pub max_hold: Duration,
    pub reviewers: Vec<String>,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            default_ttl: Duration::from_secs(3600),
            max_hold: Duration::from_secs(300),
            reviewers: vec!["reviewers".into()],
        }
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
pub const DEFAULT_KEY_RECHECK: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    approvals: RawApprovals,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    agents: Vec<RawAgent>,
    #[serde(default)]
    targets: Vec<RawTarget>,
    #[serde(default)]
    masking: RawMasking,
    slack: Option<channels::RawSlack>,
    teams: Option<channels::RawTeams>,
    #[serde(default)]
    webhooks: Vec<channels::RawWebhook>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMasking {
    style: Option<Spanned<String>>,
    /// The environment variable holding the key for `style = "hash"`.
    hash_key_env: Option<String>,
    #[serde(default)]
    disable: Vec<Spanned<String>>,
    #[serde(default)]
    deny_words: Vec<String>,
    #[serde(default)]
    custom: Vec<RawPattern>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    name: String,
    pattern: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    public_url: Option<String>,
    data_dir: Option<String>,
    max_body_bytes: Option<Spanned<i64>>,
    key_recheck: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    dir: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    default_ttl: Option<Spanned<String>>,
    max_hold: Option<Spanned<String>>,
    reviewers: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    id: Spanned<String>,
    /// Matches the reviewer's Slack profile e-mail (`users.info`).
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    key_hashes: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    name: Spanned<String>,
    owner: Spanned<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    key_hashes: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Spanned<String>,
    kind: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    masking: TargetMasking,
    /// For `kind = "mcp"`: the upstream server's command and arguments…
    #[serde(default)]
    command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// … or its streamable-HTTP URL and the headers to send.
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// For `kind = "postgres"`: where the wire-protocol front door listens…
    #[serde(default)]
    listen: Option<Spanned<String>>,
    /// … and the database it forwards to.
    #[serde(default)]
    upstream: Option<Spanned<String>>,
    #[serde(default)]
    upstream_password_env: Option<String>,
    #[serde(default)]
    max_message_bytes: Option<usize>,
    #[serde(default)]
    tls: Option<RawTls>,
    #[serde(default)]
    masked_columns: Vec<String>,
    /// Where this target's approval requests are posted in Slack.
    slack_channel: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
}

/// The front door of a `postgres` target: `listen` and `upstream` together,
/// and neither on other kinds.
fn pg_listener(
    t: &RawTarget,
    invalid: &dyn Fn(usize, String) -> ConfigError,
) -> Result<Option<PgListener>, ConfigError> {
    let name = t.name.get_ref();
    if t.kind != "postgres" {
        return match (&t.listen, &t.upstream) {
            (Some(s), _) | (_, Some(s)) => Err(invalid(
                s.span().start,
                format!(
                    "`listen` and `upstream` are only for `kind = \"postgres\"` targets, not `{}`",
                    t.kind
                ),
            )),
            (None, None) => Ok(None),
        };
    }
    match (&t.listen, &t.upstream) {
        (None, None) => Ok(None),
        (Some(listen), Some(upstream)) => {
            let addr = listen.get_ref().parse::<SocketAddr>().map_err(|e| {
                invalid(listen.span().start, format!("`listen` must be an address like `127.0.0.1:6432`, not `{}`: {e}", listen.get_ref()))
            })?;
            let url = upstream.get_ref();
            let looks_right = url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains("host=");
            if !looks_right {
                return Err(invalid(upstream.span().start, "`upstream` must be a PostgreSQL URL (`postgres://user:password@host:5432/db`) or `host=… user=…`".into()));
            }
            let max = t.max_message_bytes.unwrap_or(DEFAULT_PG_MAX_MESSAGE);
            if max < 1024 {
                return Err(invalid(t.name.span().start, format!("`max_message_bytes` of target `{name}` must be at least 1024")));
            }
            Ok(Some(PgListener {
                listen: addr,
                upstream: url.clone(),
                password_env: t.upstream_password_env.clone(),
                max_message_bytes: max,
                tls: t.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone())),
                masked_columns: t.masked_columns.iter().map(|c| c.to_lowercase()).collect(),
            }))
        }
        (Some(s), None) | (None, Some(s)) => Err(invalid(
            s.span().start,
            format!("postgres target `{name}` needs both `listen = \"127.0.0.1:6432\"` and `upstream = \"postgres://…\"` to serve the wire protocol"),
        )),
    }
}

/// The upstream of an `mcp` target: exactly one of `command` and `url`, and
/// neither on other kinds.
fn mcp_upstream(
    t: &RawTarget,
    invalid: &dyn Fn(usize, String) -> ConfigError,
) -> Result<Option<McpUpstream>, ConfigError> {
    let name = t.name.get_ref();
    if t.kind != "mcp" {
        return match (&t.command, &t.url) {
            (Some(c), _) => Err(invalid(
                c.span().start,
                format!(
                    "`command` is only for `kind = \"mcp\"` targets, not `{}`",
                    t.kind
                ),
            )),
            (_, Some(u)) => Err(invalid(
                u.span().start,
                format!(
                    "`url` is only for `kind = \"mcp\"` targets, not `{}`",
                    t.kind
                ),
            )),
            (None, None) => Ok(None),
        };
    }
    match (&t.command, &t.url) {
        (Some(command), None) => {
            let Some((program, args)) = command.get_ref().split_first() else {
                return Err(invalid(command.span().start, "`command` needs at least the program to run".into()));
            };
            Ok(Some(McpUpstream::Stdio {
                command: program.clone(),
                args: args.to_vec(),
                env: t.env.clone(),
            }))
        }
        (None, Some(url)) => {
            if !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://")) {
                return Err(invalid(url.span().start, format!("`url` must start with http:// or https://, not `{}`", url.get_ref())));
            }
            Ok(Some(McpUpstream::Http {
                url: url.get_ref().clone(),
                headers: t.headers.clone(),
            }))
        }
        (Some(_), Some(url)) => Err(invalid(url.span().start, format!("mcp target `{name}` has both `command` and `url`; keep one"))),
        (None, None) => Err(invalid(
            t.name.span().start,
            format!("mcp target `{name}` needs `command = [\"program\", \"arg\", …]` or `url = \"https://…\"` for its upstream server"),
        )),
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text as if it came from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let at = |offset: usize| Location::at_offset(&file, text, offset);
        let invalid = |offset: usize, message: String| ConfigError::Invalid {
            at: at(offset),
            message,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            invalid(offset, e.message().trim().to_owned())
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: &str| {
            let p = PathBuf::from(p);
            if p.is_absolute() {
                p
            } else {
                base.join(p)
            }
        };

        let listen = match &raw.server.listen {
            Some(l) => l.get_ref().parse::<SocketAddr>().map_err(|e| {
                invalid(l.span().start, format!("`listen = \"{}\"` is not an address ({e}); write it like \"127.0.0.1:8080\"", l.get_ref()))
            })?,
            None => default_listen(),
        };
        let max_body_bytes = match &raw.server.max_body_bytes {
            Some(n) if *n.get_ref() < 1024 => {
                return Err(invalid(
                    n.span().start,
                    format!(
                        "`max_body_bytes = {}` is too small; use at least 1024",
                        n.get_ref()
                    ),
                ))
            }
            Some(n) => *n.get_ref() as usize,
            None => DEFAULT_MAX_BODY,
        };
        let duration =
            |d: &Option<Spanned<String>>, default: Duration| -> Result<Duration, ConfigError> {
                match d {
                    None => Ok(default),
                    Some(s) => match signoff_core::duration::parse(s.get_ref()) {
                        Ok(v) if !v.is_zero() => Ok(v),
                        Ok(_) => Err(invalid(
                            s.span().start,
                            "a duration of zero is not allowed here".into(),
                        )),
                        Err(m) => Err(invalid(s.span().start, m)),
                    },
                }
            };
        let defaults = ApprovalConfig::default();
        let approvals = ApprovalConfig {
            default_ttl: duration(&raw.approvals.default_ttl, defaults.default_ttl)?,
            max_hold: duration(&raw.approvals.max_hold, defaults.max_hold)?,
            reviewers: raw.approvals.reviewers.unwrap_or(defaults.reviewers),
        };
        let key_recheck = duration(&raw.server.key_recheck, DEFAULT_KEY_RECHECK)?;

        let mut directory = Directory::default();
        let mut key_hashes = Vec::new();
        let mut seen = BTreeSet::new();
        let check_name = |s: &Spanned<String>, what: &str| -> Result<(), ConfigError> {
            if valid_name(s.get_ref()) {
                Ok(())
            } else {
                Err(invalid(
                    s.span().start,
                    format!(
                        "{what} `{}` may only use letters, digits and `-_.@`",
                        s.get_ref()
                    ),
                ))
            }
        };
        let check_hash = |h: &Spanned<String>| -> Result<String, ConfigError> {
            let v = h.get_ref();
            match v.strip_prefix("sha256:") {
                Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(hex.to_ascii_lowercase()),
                _ => Err(invalid(h.span().start, format!("key hash `{v}` must be `sha256:` and 64 hex digits, as `signoff keys create` prints"))),
            }
        };
        for u in &raw.users {
            check_name(&u.id, "user id")?;
            if !seen.insert(format!("user:{}", u.id.get_ref())) {
                return Err(invalid(
                    u.id.span().start,
                    format!("user `{}` is defined twice", u.id.get_ref()),
                ));
            }
            for h in &u.key_hashes {
                key_hashes.push((Principal::User(u.id.get_ref().clone()), check_hash(h)?));
            }
            directory.users.push(UserEntry {
                id: u.id.get_ref().clone(),
                groups: u.groups.iter().cloned().collect(),
            });
        }
        for a in &raw.agents {
            check_name(&a.name, "agent name")?;
            if !seen.insert(format!("agent:{}", a.name.get_ref())) {
                return Err(invalid(
                    a.name.span().start,
                    format!("agent `{}` is defined twice", a.name.get_ref()),
                ));
            }
            // INVARIANT: every agent has an accountable human who exists.
            if directory.user(a.owner.get_ref()).is_none() {
                return Err(invalid(
                    a.owner.span().start,
                    format!("agent `{}` is owned by `{}`, who is not a [[users]] entry; add the user or fix the owner", a.name.get_ref(), a.owner.get_ref()),
                ));
            }
            for h in &a.key_hashes {
                key_hashes.push((Principal::Agent(a.name.get_ref().clone()), check_hash(h)?));
            }
            directory.agents.push(AgentEntry {
                name: a.name.get_ref().clone(),
                owner: a.owner.get_ref().clone(),
                groups: a.groups.iter().cloned().collect(),
            });
        }
        let mut mcp_upstreams = BTreeMap::new();
        let mut pg_listeners = BTreeMap::new();
        for t in &raw.targets {
            check_name(&t.name, "target name")?;
            if directory.target(t.name.get_ref()).is_some() {
                return Err(invalid(
                    t.name.span().start,
                    format!("target `{}` is defined twice", t.name.get_ref()),
                ));
            }
            if let Some(upstream) = mcp_upstream(t, &invalid)? {
                mcp_upstreams.insert(t.name.get_ref().clone(), upstream);
            }
            if let Some(listener) = pg_listener(t, &invalid)? {
                pg_listeners.insert(t.name.get_ref().clone(), listener);
            }
            directory.targets.push(TargetEntry {
                name: t.name.get_ref().clone(),
                kind: t.kind.clone(),
                labels: t.labels.clone(),
                masking: t.masking,
            });
        }

        let masking = masking(&raw.masking, &invalid)?;
        let user_ids: Vec<String> = directory.users.iter().map(|u| u.id.clone()).collect();
        let channels = ChannelsConfig {
            slack: channels::slack(raw.slack, &user_ids, &invalid)?,
            teams: channels::teams(raw.teams),
            webhooks: channels::webhooks(raw.webhooks, &invalid)?,
            target_slack_channels: raw
                .targets
                .iter()
                .filter_map(|t| Some((t.name.get_ref().clone(), t.slack_channel.clone()?)))
                .collect(),
            user_emails: raw
                .users
                .iter()
                .filter_map(|u| Some((u.email.as_ref()?.to_lowercase(), u.id.get_ref().clone())))
                .collect(),
        };

        Ok(Config {
            channels,
            masking,
            mcp_upstreams,
            pg_listeners,
            source: Some(path.to_path_buf()),
            server: ServerConfig {
                listen,
                public_url_from_listen: raw.server.public_url.is_none(),
                public_url: raw
                    .server
                    .public_url
                    .unwrap_or_else(|| format!("http://{listen}")),
                data_dir: resolve(raw.server.data_dir.as_deref().unwrap_or("signoff-data")),
                max_body_bytes,
                key_recheck,
            },
            policy_dir: Some(resolve(raw.policy.dir.as_deref().unwrap_or("policies"))),
            approvals,
            directory,
            key_hashes,
        })
    }

    /// The embedded default: demo identities and targets, the starter policies,
    /// SQLite in `data_dir`.
    pub fn embedded(data_dir: PathBuf) -> Config {
        let reviewers = demo::REVIEWERS.map(|id| UserEntry {
            id: id.into(),
            groups: ["reviewers".to_string()].into(),
        });
        let target = |name: &str, kind: &str| TargetEntry {
            name: name.into(),
            kind: kind.into(),
            labels: BTreeMap::from([("env".to_string(), "demo".to_string())]),
            masking: TargetMasking::default(),
        };
        let listen = default_listen();
        Config {
            mcp_upstreams: BTreeMap::new(),
            pg_listeners: BTreeMap::new(),
            channels: ChannelsConfig::default(),
            source: None,
            server: ServerConfig {
                listen,
                public_url: format!("http://{listen}"),
                public_url_from_listen: true,
                data_dir,
                max_body_bytes: DEFAULT_MAX_BODY,
                key_recheck: DEFAULT_KEY_RECHECK,
            },
            policy_dir: None,
            approvals: ApprovalConfig::default(),
            directory: Directory {
                users: std::iter::once(UserEntry {
                    id: demo::OPERATOR.into(),
                    groups: ["operators".to_string()].into(),
                })
                .chain(reviewers)
                .collect(),
                agents: vec![AgentEntry {
                    name: demo::AGENT.into(),
                    owner: demo::OPERATOR.into(),
                    groups: BTreeSet::new(),
                }],
                targets: vec![
                    target("demo-db", "postgres"),
                    target("demo-shell", "shell"),
                    target("demo-api", "http"),
                    target("demo-k8s", "kubernetes"),
                ],
            },
            key_hashes: Vec::new(),
            masking: signoff_mask::MaskConfig::default(),
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.source.is_none()
    }

    /// Policy sources: the files in the policy directory, or the starter set.
    pub fn policy_sources(
        &self,
    ) -> Result<Vec<signoff_policy::PolicySource>, signoff_policy::PolicyError> {
        match &self.policy_dir {
            Some(dir) => signoff_policy::PolicySource::read_dir(dir),
            None => Ok(signoff_policy::PolicySource::starter()),
        }
    }

    pub fn approval_defaults(&self) -> signoff_policy::ApprovalDefaults {
        signoff_policy::ApprovalDefaults {
            ttl: self.approvals.default_ttl,
            reviewers: self.approvals.reviewers.clone(),
        }
    }
}

fn masking(
    raw: &RawMasking,
    invalid: &dyn Fn(usize, String) -> ConfigError,
) -> Result<signoff_mask::MaskConfig, ConfigError> {
    use signoff_mask::{Detector, Style};
    let mut config = signoff_mask::MaskConfig::default();
    if let Some(style) = &raw.style {
        config.style = match style.get_ref().as_str() {
            "redact" => Style::Redact,
            "partial" => Style::Partial,
            "hash" => Style::Hash,
            other => {
                return Err(invalid(
                    style.span().start,
                    format!("masking style `{other}` is not one of redact, partial, hash"),
                ))
            }
        };
        if config.style == Style::Hash {
            let var = raw.hash_key_env.as_deref().unwrap_or("SIGNOFF_MASK_KEY");
            config.hash_key = std::env::var(var).unwrap_or_default().into_bytes();
            if config.hash_key.len() < 16 {
                return Err(invalid(style.span().start, format!("`style = \"hash\"` needs a key of 16+ bytes in the environment variable `{var}`")));
            }
        }
    }
    for d in &raw.disable {
        let detector = Detector::parse(d.get_ref()).ok_or_else(|| {
            let known: Vec<String> = Detector::BUILT_IN.iter().map(|d| d.to_string()).collect();
            invalid(
                d.span().start,
                format!(
                    "unknown detector `{}`; known: {}",
                    d.get_ref(),
                    known.join(", ")
                ),
            )
        })?;
        config.detectors.retain(|x| *x != detector);
    }
    config.deny_words = raw.deny_words.clone();
    for p in &raw.custom {
        let one = signoff_mask::MaskConfig {
            detectors: vec![],
            custom: vec![(p.name.clone(), p.pattern.get_ref().clone())],
            ..Default::default()
        };
        if let Err(e) = signoff_mask::Masker::new(&one) {
            return Err(invalid(p.pattern.span().start, e.to_string()));
        }
        config
            .custom
            .push((p.name.clone(), p.pattern.get_ref().clone()));
    }
    Ok(config)
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Config {
        Config::parse(text, Path::new("/etc/signoff/signoff.toml")).unwrap()
    }

    fn err(text: &str) -> (usize, usize, String) {
        match Config::parse(text, Path::new("/etc/signoff/signoff.toml")) {
            Err(ConfigError::Invalid { at, message }) => {
                assert_eq!(at.file, "/etc/signoff/signoff.toml");
                (at.line, at.column, message)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_init_template_is_valid_and_resolves_paths_next_to_it() {
        let c = Config::parse(INIT_TEMPLATE, Path::new("/srv/gw/signoff.toml")).unwrap();
        assert_eq!(c.server.data_dir, PathBuf::from("/srv/gw/signoff-data"));
        assert_eq!(c.policy_dir, Some(PathBuf::from("/srv/gw/policies")));
        assert_eq!(c.directory.agent("deploy-bot").unwrap().owner, "olivia");
        assert_eq!(c.directory.target("prod-db").unwrap().labels["env"], "prod");
        let masking = c.directory.target("prod-db").unwrap().masking;
        assert!(masking.audit && masking.results);
        assert_eq!(
            c.directory.target("prod-shell").unwrap().masking,
            TargetMasking::default()
        );
    }

    #[test]
    fn a_public_url_follows_a_new_listen_address_only_when_derived() {
        let moved: SocketAddr = "127.0.0.1:9911".parse().unwrap();
        // (the [server] table, the public URL after `listen_on(moved)`)
        let cases = [
            ("", "http://127.0.0.1:9911"),
            ("listen = \"127.0.0.1:7000\"\n", "http://127.0.0.1:9911"),
            (
                "public_url = \"https://signoff.example.com\"\n",
                "https://signoff.example.com",
            ),
        ];
        for (server, want) in cases {
            let mut c = load(&format!("[server]\n{server}"));
            c.server.listen_on(moved);
            assert_eq!(c.server.listen, moved, "{server}");
            assert_eq!(c.server.public_url, want, "{server}");
        }
        let mut c = Config::embedded(PathBuf::from("/tmp/d"));
        c.server.listen_on(moved);
        assert_eq!(c.server.public_url, "http://127.0.0.1:9911");
    }

    #[test]
    fn mcp_targets_name_their_upstream() {
        let base = "[[targets]]\nname = \"gh\"\nkind = \"mcp\"\n";
        let c = Config::parse(
            &format!("{base}command = [\"npx\", \"server-github\"]\nenv = {{ TOKEN = \"t\" }}\n"),
            Path::new("/x/signoff.toml"),
        )
        .unwrap();
        assert_eq!(
            c.mcp_upstreams["gh"],
            McpUpstream::Stdio {
                command: "npx".into(),
                args: vec!["server-github".into()],
                env: BTreeMap::from([("TOKEN".into(), "t".into())]),
            }
        );
        let c = Config::parse(
            &format!("{base}url = \"https://mcp.example.com/mcp\"\nheaders = {{ Authorization = \"Bearer x\" }}\n"),
            Path::new("/x/signoff.toml"),
        )
        .unwrap();
        assert!(
            matches!(&c.mcp_upstreams["gh"], McpUpstream::Http { url, .. } if url == "https://mcp.example.com/mcp")
        );
        let (line, _, message) = err(base);
        assert_eq!(line, 2);
        assert!(message.contains("needs `command"), "{message}");
        let (_, _, message) = err(&format!("{base}command = []\n"));
        assert!(message.contains("at least the program"), "{message}");
        let (_, _, message) = err(&format!("{base}url = \"ftp://x\"\n"));
        assert!(message.contains("http://"), "{message}");
        let (_, _, message) =
            err("[[targets]]\nname = \"db\"\nkind = \"postgres\"\ncommand = [\"x\"]\n");
        assert!(message.contains("only for `kind = \"mcp\"`"), "{message}");
    }

    #[test]
    fn postgres_targets_serve_the_wire_protocol_when_asked() {
        let base = "[[targets]]\nname = \"db\"\nkind = \"postgres\"\n";
        let c = load(&format!(
            "{base}listen = \"127.0.0.1:6432\"\nupstream = \"postgres://app@127.0.0.1/app\"\nmasked_columns = [\"SSN\"]\ntls = {{ cert = \"c.pem\", key = \"k.pem\" }}\n"
        ));
        let l = &c.pg_listeners["db"];
        assert_eq!(l.listen.port(), 6432);
        assert_eq!(l.masked_columns, vec!["ssn".to_owned()]);
        assert_eq!(l.max_message_bytes, DEFAULT_PG_MAX_MESSAGE);
        assert!(l.tls.is_some());
        assert!(load(base).pg_listeners.is_empty());
        let (_, _, m) = err(&format!("{base}listen = \"127.0.0.1:6432\"\n"));
        assert!(m.contains("needs both"), "{m}");
        let (_, _, m) = err(&format!(
            "{base}listen = \"nope\"\nupstream = \"postgres://a@b/c\"\n"
        ));
        assert!(m.contains("must be an address"), "{m}");
        let (_, _, m) = err(&format!(
            "{base}listen = \"127.0.0.1:1\"\nupstream = \"mysql://x\"\n"
        ));
        assert!(m.contains("PostgreSQL URL"), "{m}");
        let (_, _, m) =
            err("[[targets]]\nname = \"s\"\nkind = \"shell\"\nlisten = \"127.0.0.1:1\"\n");
        assert!(m.contains("only for `kind = \"postgres\"`"), "{m}");
    }

    #[test]
    fn target_masking_keys_are_checked() {
        let (_, _, message) =
            err("[[targets]]\nname = \"t\"\nkind = \"x\"\nmasking = { audti = false }\n");
        assert!(message.contains("audti"), "{message}");
    }

    #[test]
    fn syntax_errors_are_located() {
        let (line, col, msg) = err("[server]\nlisten = \"127.0.0.1:1\"\nmax_body_bytes = \n");
        assert_eq!(line, 3, "{msg}");
        assert!(col >= 1);
    }

    #[test]
    fn unknown_fields_are_located() {
        let (line, _, msg) = err("[server]\nlisten = \"127.0.0.1:1\"\nlistne = \"x\"\n");
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("listne"), "{msg}");
    }

    #[test]
    fn bad_values_are_located() {
        let (line, col, msg) = err("[approvals]\n\ndefault_ttl = \"soon\"\n");
        assert_eq!((line, col), (3, 15), "{msg}");
        let (line, _, msg) = err("[server]\nlisten = \"localhost\"\n");
        assert_eq!(line, 2, "{msg}");
    }

    #[test]
    fn an_agent_needs_an_existing_owner() {
        let (line, col, msg) =
            err("[[users]]\nid = \"a\"\n\n[[agents]]\nname = \"bot\"\nowner = \"ghost\"\n");
        assert_eq!((line, col), (6, 9), "{msg}");
        assert!(msg.contains("ghost"), "{msg}");
    }

    #[test]
    fn duplicates_and_bad_names_are_refused() {
        err("[[users]]\nid = \"a\"\n[[users]]\nid = \"a\"\n");
        err("[[users]]\nid = \"a b\"\n");
        err("[[targets]]\nname = \"t\"\nkind = \"x\"\n[[targets]]\nname = \"t\"\nkind = \"x\"\n");
        err("[[users]]\nid = \"a\"\nkey_hashes = [\"md5:abc\"]\n");
    }

    #[test]
    fn masking_is_configurable_and_checked() {
        let c = Config::parse(
            "[masking]\nstyle = \"partial\"\ndisable = [\"ipv4\"]\ndeny_words = [\"falcon\"]\n[[masking.custom]]\nname = \"emp\"\npattern = \"EMP-\\\\d+\"\n",
            Path::new("m.toml"),
        )
        .unwrap();
        assert_eq!(c.masking.style, signoff_mask::Style::Partial);
        assert!(!c.masking.detectors.contains(&signoff_mask::Detector::Ipv4));
        assert_eq!(c.masking.custom.len(), 1);
        let (line, _, msg) = err("[masking]\ndisable = [\"ipv5\"]\n");
        assert_eq!(line, 2, "{msg}");
        let (line, _, msg) = err("[masking]\n[[masking.custom]]\nname = \"x\"\npattern = \"(\"\n");
        assert_eq!(line, 4, "{msg}");
        let (line, _, msg) =
            err("[masking]\nstyle = \"hash\"\nhash_key_env = \"SIGNOFF_TEST_UNSET_KEY\"\n");
        assert!(line == 2 && msg.contains("SIGNOFF_TEST_UNSET_KEY"), "{msg}");
    }

    #[test]
    fn the_embedded_default_has_the_demo_cast() {
        let c = Config::embedded(PathBuf::from("/tmp/x"));
        assert!(c.is_embedded());
        assert_eq!(
            c.directory.agent(demo::AGENT).unwrap().owner,
            demo::OPERATOR
        );
        for r in demo::REVIEWERS {
            assert!(c.directory.user(r).unwrap().groups.contains("reviewers"));
        }
    }
}
