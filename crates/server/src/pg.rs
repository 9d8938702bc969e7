//! The PostgreSQL front door of every `postgres` target with a `listen`,
//! with the gateway as the gate.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use signoff_core::action::SqlPayload;
use signoff_core::{AuthMethod, Caller, Payload};
use signoff_gateway::{
    AuditTiming, CheckOptions, CheckOutcome, CheckRequest, CheckVerdict, ExecutionOutcome, Gateway,
    OnHold,
};
use signoff_pg::{BoxFuture, Gate, Held, HeldTx, Login, Outcome, Statement, Verdict};

/// Why a PostgreSQL front door could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PgSetupError {
    #[error(transparent)]
    Upstream(#[from] signoff_pg::UpstreamError),
    #[error("environment variable `{0}` (the target's `upstream_password_env`) is not set")]
    MissingPassword(String),
    #[error(transparent)]
    Tls(#[from] signoff_pg::TlsError),
}

/// The front door settings of target `name`.
pub fn settings(
    gateway: &Gateway,
    name: &str,
    listener: &signoff_config::PgListener,
    masker: Option<Arc<signoff_mask::Masker>>,
) -> Result<signoff_pg::Settings, PgSetupError> {
    let mut upstream = signoff_pg::UpstreamConfig::parse(&listener.upstream)?;
    if let Some(var) = &listener.password_env {
        let password =
            std::env::var(var).map_err(|_| PgSetupError::MissingPassword(var.clone()))?;
        upstream.password = Some(password);
    }
    let tls = match &listener.tls {
        Some((cert, key)) => Some(signoff_pg::load_tls(cert, key)?),
        None => None,
    };
    let masking = match (gateway.results_masked(name), masker) {
        (true, Some(masker)) => Some(signoff_pg::RowMasking {
            masker,
            columns: listener.masked_columns.clone(),
        }),
        _ => None,
    };
    Ok(signoff_pg::Settings {
        target: name.to_owned(),
        upstream,
        max_message_bytes: listener.max_message_bytes,
        masking,
        tls,
    })
}

/// Implements [`Gate`] with [`Gateway::check_with`].
pub struct GatewayGate {
    pub gateway: Gateway,
    /// How long a statement that needs approval is held.
    pub hold: Duration,
}

impl GatewayGate {
    /// Ends the session once the key it logged in with is revoked (or can no
    /// longer be checked), so a revocation reaches open connections too.
    async fn revoked(&self, caller: &Caller) -> Option<Verdict<Box<CheckOutcome>>> {
        let key_id = match &caller.auth {
            AuthMethod::ApiKey { key_id } => key_id.as_str(),
            _ => "-",
        };
        let why = match self.gateway.session_key_live(caller).await {
            Ok(true) => return None,
            Ok(false) => format!(
                "the API key `{key_id}` this session logged in with was revoked; log in again with a live key"
            ),
            Err(e) => format!("signoff could not check that the session's API key is still live: {e}"),
        };
        let details = json!({ "front_door": "postgres", "key_id": key_id, "error": why });
        self.gateway
            .auth_failed(&caller.principal.to_string(), details)
            .await;
        Some(Verdict::End {
            sqlstate: "28000",
            message: why,
        })
    }
}

impl Gate for GatewayGate {
    type Ticket = Box<CheckOutcome>;

    fn login<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Option<Login>, String>> {
        Box::pin(async move {
            let found = self
                .gateway
                .scram_login(user)
                .await
                .map_err(|e| e.to_string())?;
            Ok(found.map(|(principal, keys)| Login {
                keys,
                salt: signoff_core::scram::principal_salt(&principal.to_string()),
                iterations: signoff_core::scram::ITERATIONS,
            }))
        })
    }

    fn caller(&self, user: &str, key_id: &str) -> Result<Caller, String> {
        let principal = user.parse().map_err(|e| format!("{e}"))?;
        self.gateway
            .caller_for(
                principal,
                AuthMethod::ApiKey {
                    key_id: key_id.to_owned(),
                },
            )
            .map_err(|e| e.to_string())
    }

    fn login_failed<'a>(&'a self, user: &'a str, why: String) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.gateway
                .auth_failed(user, json!({ "front_door": "postgres", "error": why }))
                .await
        })
    }

    fn check<'a>(
        &'a self,
        caller: &'a Caller,
        statement: Statement,
        held: HeldTx,
    ) -> BoxFuture<'a, Verdict<Self::Ticket>> {
        Box::pin(async move {
            if let Some(ended) = self.revoked(caller).await {
                return ended;
            }
            let request = CheckRequest {
                target: statement.target.clone(),
                payload: Payload::Sql(SqlPayload {
                    sql: statement.sql,
                    params: statement.params,
                }),
                reason: None,
                annotations: None,
                trace_id: None,
            };
            let hold = self.hold;
            let on_hold = OnHold::new(move |request, review_url| {
                let _ = held.send(Held {
                    request_id: request.id.to_string(),
                    review_url,
                    needs: request.requirement.in_words(),
                    hold,
                });
            });
            let options = CheckOptions {
                wait: Some(self.hold),
                audit: AuditTiming::ReadsQueued,
                on_hold: Some(on_hold),
            };
            let outcome = match self.gateway.check_with(caller, request, options).await {
                Ok(o) => o,
                Err(e) => {
                    return Verdict::Refuse {
                        sqlstate: signoff_pg::SQLSTATE_UNDECIDED,
                        message: format!(
                            "signoff could not decide this statement, so it did not run: {e}"
                        ),
                    }
                }
            };
            match &outcome.verdict {
                CheckVerdict::Allow => Verdict::Allow(Box::new(outcome)),
                CheckVerdict::Deny { reason } => Verdict::Refuse {
                    sqlstate: signoff_pg::SQLSTATE_DENIED,
                    message: format!("signoff denied this statement: {reason}"),
                },
                CheckVerdict::Pending => Verdict::Refuse {
                    sqlstate: signoff_pg::SQLSTATE_PENDING,
                    message: match &outcome.approval {
                        Some(a) => format!(
                            "signoff: this statement needs {} and is still pending after {}. \
                             Request {}: {}. Once it is approved, running this identical statement again runs it once.",
                            a.requirement.in_words(),
                            humantime::format_duration(self.hold),
                            a.id,
                            self.gateway.review_url(a.id),
                        ),
                        None => "signoff: this statement is pending review".into(),
                    },
                },
            }
        })
    }

    fn outcome(&self, ticket: Self::Ticket, outcome: Outcome, duration: Duration) {
        let (succeeded, detail) = match outcome {
            Outcome::Completed { tag } => (true, tag),
            Outcome::Failed { sqlstate, message } => (false, format!("{sqlstate}: {message}")),
            Outcome::NotRun => (false, "not run: an earlier statement failed".into()),
        };
        let outcome = ExecutionOutcome {
            succeeded,
            exit_code: None,
            duration_ms: Some(duration.as_millis() as u64),
            detail: Some(detail),
        };
        if let Err(e) = self.gateway.record_outcome(*ticket, outcome) {
            tracing::error!(error = %e, "could not record a statement's outcome");
        }
    }
}
