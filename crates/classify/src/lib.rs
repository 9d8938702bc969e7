//! Classifiers: facts derived from an action's payload.
//!
//! Classification never fails: what cannot be understood is reported with the
//! `unknown` effect, which policy treats as sensitive (DESIGN invariant 1).

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod exec;
mod http;
mod shell;
mod split;
mod sql;

use std::collections::BTreeSet;

use signoff_core::action::{CustomPayload, McpPayload};
use signoff_core::classification::{CustomFacts, Facts, McpFacts};
use signoff_core::{Classification, Effect, Payload};

pub use exec::{classify_argv, classify_shell};
pub use http::classify_http;
pub use split::{literal_shape, split_statements};
pub use sql::classify_sql;

/// Classifies any payload.
pub fn classify(payload: &Payload) -> Classification {
    match payload {
        Payload::Sql(p) => classify_sql(&p.sql),
        Payload::Exec(signoff_core::action::ExecPayload::Argv { argv }) => classify_argv(argv),
        Payload::Exec(signoff_core::action::ExecPayload::Shell { command }) => {
            classify_shell(command)
        }
        Payload::Http(p) => classify_http(&p.method, &p.path),
        Payload::McpTool(p) => classify_mcp(p),
        Payload::Custom(p) => classify_custom(p),
    }
}

/// MCP tools declare their own effects in hints, which signoff never trusts:
/// every call is a write until a policy says otherwise about that tool.
fn classify_mcp(p: &McpPayload) -> Classification {
    Classification {
        effects: BTreeSet::from([Effect::Write]),
        summary: format!("MCP tool `{}` on `{}`", p.tool, p.server),
        facts: Facts::McpTool(McpFacts {
            server: p.server.clone(),
            tool: p.tool.clone(),
            arguments: p.arguments.clone(),
        }),
    }
}

fn classify_custom(p: &CustomPayload) -> Classification {
    let summary = match &p.resource {
        Some(r) => format!("`{}` on `{}`", p.operation, r),
        None => format!("`{}`", p.operation),
    };
    Classification {
        effects: BTreeSet::from([Effect::Write]),
        summary,
        facts: Facts::Custom(CustomFacts {
            operation: p.operation.clone(),
            resource: p.resource.clone(),
        }),
    }
}
