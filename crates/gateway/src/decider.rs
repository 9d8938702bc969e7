//! Classify, then decide: the pure half of the gateway, also used offline by
//! `signoff explain` and `signoff policy test`.

use signoff_config::Config;
use signoff_core::{Action, Classification, Decision, Directory};
use signoff_policy::{DecisionRequest, PolicyEngine, PolicyError};
use time::OffsetDateTime;

pub struct Decider {
    engine: PolicyEngine,
    directory: Directory,
}

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
        Ok(Decider {
            engine,
            directory: config.directory.clone(),
        })
    }

    pub fn new(engine: PolicyEngine, directory: Directory) -> Decider {
        Decider { engine, directory }
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
        let classification = signoff_classify::classify(&action.payload);
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
