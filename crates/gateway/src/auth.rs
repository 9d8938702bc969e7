//! Authentication: a bearer credential becomes a [`Caller`].
//!
//! API keys are the only credential today. A JWT verifier slots in beside them:
//! it too ends in [`Gateway::caller_for`], which is where a principal gets its
//! groups and its accountable human from the directory.

use std::collections::HashMap;
use std::sync::RwLock;

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
pub(crate) struct KeyCache {
    known: RwLock<HashMap<String, (Principal, String)>>,
}

impl KeyCache {
    pub(crate) fn new(config_hashes: Vec<(Principal, String)>) -> KeyCache {
        let known = config_hashes
            .into_iter()
            .map(|(p, h)| {
                let id = format!("config:{}", &h[..8.min(h.len())]);
                (h, (p, id))
            })
            .collect();
        KeyCache {
            known: RwLock::new(known),
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
        if let Err(err) = self.inner.store.write(move |tx| tx.append(event)).await {
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
        let cached = self
            .inner
            .keys
            .known
            .read()
            .ok()
            .and_then(|k| k.get(&hash).cloned());
        let (principal, key_id) = match cached {
            Some(hit) => hit,
            None => {
                let h = hash.clone();
                let record = self
                    .inner
                    .store
                    .read(move |c| signoff_store::read::key_by_hash(c, &h))
                    .await?;
                let record = record.ok_or(AuthError::InvalidKey)?;
                let hit = (record.principal, record.key_id);
                if let Ok(mut k) = self.inner.keys.known.write() {
                    k.insert(hash, hit.clone());
                }
                hit
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
