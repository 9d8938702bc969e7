//! Authentication: a bearer credential becomes a [`Caller`].
//!
//! API keys are the only credential today. A JWT verifier slots in beside them:
//! it too ends in [`Gateway::caller_for`], which is where a principal gets its
//! groups and its accountable human from the directory.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde_json::json;
use signoff_core::audit::timestamp;
use signoff_core::scram::{self, ScramVerifier};
use signoff_core::{AuditEvent, AuditKind, AuthMethod, Caller, Principal};
use time::OffsetDateTime;

use crate::{keys, Gateway, GatewayError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <signoff API key>`")]
    Missing,
    #[error(
        "the API key is not valid; create one with `signoff keys create --principal agent:NAME`"
    )]
    InvalidKey,
    #[error("`{0}` is not defined in signoff.toml, so it cannot act; add it under [[users]] or [[agents]]")]
    UnknownPrincipal(String),
}

/// Verified key hashes, so the hot path does not touch the database.
///
/// INVARIANT: a stored key is re-read from the store once its entry is older
/// than `recheck`, so a revocation (by any process on the same store) takes
/// effect within that time. Keys from signoff.toml live as long as the config.
pub(crate) struct KeyCache {
    known: RwLock<HashMap<String, CachedKey>>,
    /// Stored keys of open sessions, by id: when each was last seen live.
    /// Looked up per statement: seeded foldhash, as in the policy memo.
    sessions: RwLock<HashMap<String, Instant, foldhash::quality::RandomState>>,
    recheck: Duration,
}

#[derive(Clone)]
struct CachedKey {
    principal: Principal,
    key_id: String,
    /// `None` for config keys, which the store cannot revoke.
    checked: Option<Instant>,
}

impl KeyCache {
    pub(crate) fn new(config_hashes: Vec<(Principal, String)>, recheck: Duration) -> KeyCache {
        let known = config_hashes
            .into_iter()
            .map(|(principal, h)| {
                let key_id = format!("config:{}", &h[..8.min(h.len())]);
                let entry = CachedKey {
                    principal,
                    key_id,
                    checked: None,
                };
                (h, entry)
            })
            .collect();
        KeyCache {
            known: RwLock::new(known),
            sessions: RwLock::new(HashMap::default()),
            recheck,
        }
    }

    /// A cached key that is still fresh enough to trust.
    fn fresh(&self, hash: &str) -> Option<(Principal, String)> {
        let known = self.known.read().ok()?;
        let hit = known.get(hash)?;
        match hit.checked {
            Some(at) if at.elapsed() >= self.recheck => None,
            _ => Some((hit.principal.clone(), hit.key_id.clone())),
        }
    }

    fn remember(&self, hash: String, principal: Principal, key_id: String) {
        if let Ok(mut known) = self.known.write() {
            let entry = CachedKey {
                principal,
                key_id,
                checked: Some(Instant::now()),
            };
            known.insert(hash, entry);
        }
    }

    fn forget(&self, hash: &str) {
        if let Ok(mut known) = self.known.write() {
            if known.get(hash).is_some_and(|k| k.checked.is_some()) {
                known.remove(hash);
            }
        }
    }

    /// Drops the stored key `key_id` at once (a revocation in this process).
    fn forget_id(&self, key_id: &str) {
        if let Ok(mut known) = self.known.write() {
            known.retain(|_, k| k.checked.is_none() || k.key_id != key_id);
        }
        if let Ok(mut sessions) = self.sessions.write() {
            sessions.remove(key_id);
        }
    }

    /// Whether session key `key_id` was seen live within `recheck`.
    fn session_fresh(&self, key_id: &str) -> bool {
        self.sessions
            .read()
            .ok()
            .and_then(|s| s.get(key_id).map(|at| at.elapsed() < self.recheck))
            .unwrap_or(false)
    }

    fn session_seen(&self, key_id: &str, live: bool) {
        if let Ok(mut sessions) = self.sessions.write() {
            match live {
                true => sessions.insert(key_id.to_owned(), Instant::now()),
                false => sessions.remove(key_id),
            };
        }
    }
}

impl Gateway {
    /// Authenticates an `Authorization` header value. Failures are audited.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, GatewayError> {
        let result = self.authenticate_inner(authorization).await;
        if let Err(GatewayError::Auth(e)) = &result {
            self.auth_failed("anonymous", json!({ "error": e.to_string() }))
                .await;
        }
        result
    }

    /// Counts and audits a failed login by `who` (as claimed, never trusted).
    pub async fn auth_failed(&self, who: &str, details: serde_json::Value) {
        self.inner.metrics.auth_failures.inc();
        let mut event = AuditEvent::new(
            AuditKind::AuthFailed,
            who,
            timestamp(OffsetDateTime::now_utc()),
        );
        event.details = details;
        // A failed audit write must not turn a refusal into something else.
        if let Err(err) = self.inner.store.append(event).await {
            tracing::error!(error = %err, "could not audit an authentication failure");
        }
    }

    /// For SCRAM logins (the PostgreSQL front door): the caller `user` names and
    /// the verifiers of its live keys. `None` when `user` is not a principal
    /// signoff knows or has no key usable for SCRAM.
    pub async fn scram_login(
        &self,
        user: &str,
    ) -> Result<Option<(Principal, Vec<(String, ScramVerifier)>)>, GatewayError> {
        let Ok(principal) = user.parse::<Principal>() else {
            return Ok(None);
        };
        let name = principal.to_string();
        let rows = self
            .inner
            .store
            .read(move |c| signoff_store::read::scram_verifiers(c, &name))
            .await?;
        let verifiers: Vec<_> = rows
            .into_iter()
            .filter_map(|(id, v)| v.parse().ok().map(|v| (id, v)))
            .collect();
        Ok((!verifiers.is_empty()).then_some((principal, verifiers)))
    }

    async fn authenticate_inner(
        &self,
        authorization: Option<&str>,
    ) -> Result<Caller, GatewayError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        if !token.starts_with(keys::KEY_PREFIX) || token.len() > 256 {
            return Err(AuthError::InvalidKey.into());
        }
        let hash = keys::hash(token);
        let cache = &self.inner.keys;
        let (principal, key_id) = match cache.fresh(&hash) {
            Some(hit) => hit,
            None => {
                let h = hash.clone();
                let record = self
                    .inner
                    .store
                    .read(move |c| signoff_store::read::key_by_hash(c, &h))
                    .await?;
                let Some(record) = record else {
                    cache.forget(&hash);
                    return Err(AuthError::InvalidKey.into());
                };
                cache.remember(hash, record.principal.clone(), record.key_id.clone());
                (record.principal, record.key_id)
            }
        };
        Ok(self.caller_for(principal, AuthMethod::ApiKey { key_id })?)
    }

    /// Resolves a principal against the directory: groups, and for agents the
    /// owner they act for.
    pub fn caller_for(&self, principal: Principal, auth: AuthMethod) -> Result<Caller, AuthError> {
        let dir = self.inner.decider.directory();
        match &principal {
            Principal::Agent(name) => {
                let agent = dir
                    .agent(name)
                    .ok_or_else(|| AuthError::UnknownPrincipal(principal.to_string()))?;
                Ok(Caller {
                    on_behalf_of: agent.owner.clone(),
                    groups: agent.groups.clone(),
                    principal,
                    auth,
                })
            }
            Principal::User(id) => {
                let user = dir
                    .user(id)
                    .ok_or_else(|| AuthError::UnknownPrincipal(principal.to_string()))?;
                Ok(Caller {
                    on_behalf_of: user.id.clone(),
                    groups: user.groups.clone(),
                    principal,
                    auth,
                })
            }
        }
    }
}

/// Creates a key for `principal` and stores its hash; returns the key, shown once.
pub async fn create_key(
    store: &signoff_store::Store,
    principal: &Principal,
    label: Option<String>,
) -> Result<(String, String), signoff_store::StoreError> {
    let (key, key_id) = keys::generate();
    let hash = keys::hash(&key);
    let scram = ScramVerifier::derive(
        &key,
        &scram::principal_salt(&principal.to_string()),
        scram::ITERATIONS,
    )
    .to_string();
    let p = principal.clone();
    let id = key_id.clone();
    store
        .write(move |tx| {
            let now = OffsetDateTime::now_utc();
            tx.insert_key(&hash, &id, &p, label.as_deref(), &scram, now)?;
            let mut e = AuditEvent::new(AuditKind::KeyCreated, "system", timestamp(now));
            e.details = json!({ "principal": p.to_string(), "key_id": id, "label": label });
            tx.append(e)?;
            Ok(())
        })
        .await?;
    Ok((key, key_id))
}

/// Revokes the live key `key_id` and audits it; returns its principal, or
/// `None` when there is no live key with that id. Running servers on the same
/// store stop accepting it within [`crate::GatewaySettings::key_recheck`]; this
/// process at once.
pub async fn revoke_key(
    store: &signoff_store::Store,
    key_id: &str,
) -> Result<Option<String>, signoff_store::StoreError> {
    let id = key_id.to_owned();
    store
        .write(move |tx| {
            let now = OffsetDateTime::now_utc();
            let Some(principal) = tx.revoke_key(&id, now)? else {
                return Ok(None);
            };
            let mut e = AuditEvent::new(AuditKind::KeyRevoked, "system", timestamp(now));
            e.details = json!({ "principal": principal, "key_id": id });
            tx.append(e)?;
            Ok(Some(principal))
        })
        .await
}

/// Every key in the store, revoked ones included; never the keys themselves.
pub async fn list_keys(
    store: &signoff_store::Store,
) -> Result<Vec<signoff_store::KeyListing>, signoff_store::StoreError> {
    store.read(signoff_store::read::keys).await
}

impl Gateway {
    /// Whether the stored API key a long-lived session (a PostgreSQL
    /// connection) logged in with is still live. Asked before each statement:
    /// within [`crate::GatewaySettings::key_recheck`] of a revocation by any
    /// process on the store, at once for one in this process, the answer is
    /// `false`. Config keys and other credentials live as long as the config.
    pub async fn session_key_live(&self, caller: &Caller) -> Result<bool, GatewayError> {
        let AuthMethod::ApiKey { key_id } = &caller.auth else {
            return Ok(true);
        };
        if key_id.starts_with("config:") || self.inner.keys.session_fresh(key_id) {
            return Ok(true);
        }
        let id = key_id.clone();
        let live = self
            .inner
            .store
            .read(move |c| signoff_store::read::key_live(c, &id))
            .await?;
        self.inner.keys.session_seen(key_id, live);
        Ok(live)
    }

    /// Revokes a key and stops accepting it in this process at once.
    pub async fn revoke_key(&self, key_id: &str) -> Result<Option<String>, GatewayError> {
        let revoked = revoke_key(&self.inner.store, key_id).await?;
        self.inner.keys.forget_id(key_id);
        Ok(revoked)
    }
}

/// On the embedded default's first start, creates the demo keys and returns
/// them to print once; `None` if they were issued before.
pub async fn bootstrap_demo_keys(
    store: &signoff_store::Store,
    principals: Vec<Principal>,
) -> Result<Option<Vec<(Principal, String)>>, signoff_store::StoreError> {
    let issued = store.write(|tx| tx.meta("demo_keys_issued")).await?;
    if issued.is_some() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for p in principals {
        let (key, _) = create_key(store, &p, Some("demo".into())).await?;
        out.push((p, key));
    }
    store
        .write(|tx| tx.set_meta("demo_keys_issued", &timestamp(OffsetDateTime::now_utc())))
        .await?;
    Ok(Some(out))
}
