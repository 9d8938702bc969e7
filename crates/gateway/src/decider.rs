//! Classify, then decide: the pure half of the gateway, also used offline by
//! `signoff explain` and `signoff policy test`.

use std::collections::HashMap;
use std::sync::Mutex;

use signoff_config::Config;
use signoff_core::{Action, Classification, Decision, Directory, Payload};
use signoff_policy::{DecisionRequest, PolicyEngine, PolicyError};
use time::OffsetDateTime;

pub struct Decider {
    engine: PolicyEngine,
    directory: Directory,
    /// SQL classifications by statement text: a prepared statement executed
    /// many times is parsed once (classification depends on the text only).
    sql_cache: Mutex<HashMap<String, Classification>>,
}

const SQL_CACHE_ENTRIES: usize = 4096;
const SQL_CACHE_MAX_TEXT: usize = 4096;

/// What the engine concluded about one action.
#[derive(Clone, Debug)]
pub struct Evaluation {
    pub classification: Classification,
    pub decision: Decision,
}

impl Decider {
    pub fn from_config(config: &Config) -> Result<Decider, PolicyError> {
        let sources = config.policy_sources()?;
        let engine = PolicyEngine::load(&sources, &config.directory, config.approval_defaults())?;
        Ok(Decider::new(engine, config.directory.clone()))
    }

    pub fn new(engine: PolicyEngine, directory: Directory) -> Decider {
        Decider {
            engine,
            directory,
            sql_cache: Mutex::new(HashMap::new()),
        }
    }

    fn classify(&self, payload: &Payload) -> Classification {
        let Payload::Sql(sql) = payload else {
            return signoff_classify::classify(payload);
        };
        if sql.sql.len() > SQL_CACHE_MAX_TEXT {
            return signoff_classify::classify(payload);
        }
        if let Some(hit) = self
            .sql_cache
            .lock()
            .ok()
            .and_then(|c| c.get(&sql.sql).cloned())
        {
            return hit;
        }
        let classification = signoff_classify::classify(payload);
        if let Ok(mut cache) = self.sql_cache.lock() {
            if cache.len() >= SQL_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(sql.sql.clone(), classification.clone());
        }
        classification
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn policy_count(&self) -> usize {
        self.engine.policy_count()
    }

    /// See [`PolicyEngine::tool_always_denied`].
    pub fn tool_always_denied(
        &self,
        principal: &signoff_core::Principal,
        target: &str,
        tool: &str,
    ) -> bool {
        self.engine.tool_always_denied(principal, target, tool)
    }

    pub fn evaluate(&self, action: &Action, reason: &str, now: OffsetDateTime) -> Evaluation {
        let classification = self.classify(&action.payload);
        let decision = self.engine.decide(&DecisionRequest {
            principal: &action.principal,
            on_behalf_of: &action.on_behalf_of,
            target: &action.target,
            kind: action.kind(),
            classification: &classification,
            reason,
            now,
        });
        Evaluation {
            classification,
            decision,
        }
    }
}
