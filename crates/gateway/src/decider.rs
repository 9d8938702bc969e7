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
    /// SQL classifications by statement shape: a statement run many times
    /// with other numbers or parameters is parsed once.
    /// Looked up per statement: seeded foldhash, as in the policy memo.
    sql_cache: Mutex<HashMap<String, Classification, foldhash::quality::RandomState>>,
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
            sql_cache: Mutex::new(HashMap::default()),
        }
    }

    /// The classification, and for SQL the statement's shape when that
    /// identifies the classification (see `literal_shape`).
    fn classify(&self, payload: &Payload) -> (Classification, Option<String>) {
        let Payload::Sql(sql) = payload else {
            return (signoff_classify::classify(payload), None);
        };
        if sql.sql.len() > SQL_CACHE_MAX_TEXT {
            return (signoff_classify::classify(payload), None);
        }
        // Keyed by shape, so `WHERE id = 1` and `WHERE id = 2` share an
        // entry (see `literal_shape` for why that is safe).
        let shape = signoff_classify::literal_shape(&sql.sql).into_owned();
        if let Some(hit) = self
            .sql_cache
            .lock()
            .ok()
            .and_then(|c| c.get(&shape).cloned())
        {
            return (hit, Some(shape));
        }
        let classification = signoff_classify::classify(payload);
        // An unparseable statement's summary quotes the parser's error, which
        // may name a number, so it is never shared by shape.
        if classification.is_unknown() {
            return (classification, None);
        }
        if let Ok(mut cache) = self.sql_cache.lock() {
            if cache.len() >= SQL_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(shape.clone(), classification.clone());
        }
        (classification, Some(shape))
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
        let (classification, shape) = self.classify(&action.payload);
        let req = DecisionRequest {
            principal: &action.principal,
            on_behalf_of: &action.on_behalf_of,
            target: &action.target,
            kind: action.kind(),
            classification: &classification,
            reason,
            now,
        };
        let decision = match &shape {
            Some(shape) => self.engine.decide_memoized(&req, shape),
            None => self.engine.decide(&req),
        };
        Evaluation {
            classification,
            decision,
        }
    }
}
