//! Facts derived from a payload by a classifier, never supplied by the caller.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A coarse effect, shared by every action kind so that one policy can speak of
/// "anything destructive" whether it arrives as SQL, a shell command or an API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Reads data or state.
    Read,
    /// Changes data or state.
    Write,
    /// Removes data or state.
    Delete,
    /// A write or delete with no row filter (`DELETE FROM t`, `UPDATE t SET …`).
    UnboundedWrite,
    /// Changes schema or structure (`CREATE`, `ALTER`, `DROP`, `TRUNCATE`).
    Ddl,
    /// Hard to undo: deletes, unbounded writes, drops, truncates, `rm -rf`.
    Destructive,
    /// Changes who may do what (`GRANT`, roles, IAM, RBAC, `sudo`).
    Privilege,
    /// Moves data out (`COPY … TO`, `SELECT … INTO`, uploads).
    Export,
    /// Runs code whose effect cannot be seen (`DO`, `CALL`, functions, `eval`).
    Opaque,
    /// Starts a program on the server (`COPY … TO PROGRAM`).
    RunsProgram,
    /// The classifier could not understand the payload. Treated as sensitive.
    Unknown,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Write => "write",
            Effect::Delete => "delete",
            Effect::UnboundedWrite => "unbounded_write",
            Effect::Ddl => "ddl",
            Effect::Destructive => "destructive",
            Effect::Privilege => "privilege",
            Effect::Export => "export",
            Effect::Opaque => "opaque",
            Effect::RunsProgram => "runs_program",
            Effect::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The classification of one action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub effects: BTreeSet<Effect>,
    pub facts: Facts,
    /// One line for reviewers, e.g. `DELETE on orders without WHERE`.
    pub summary: String,
}

impl Classification {
    pub fn is_unknown(&self) -> bool {
        self.effects.contains(&Effect::Unknown)
    }

    pub fn has(&self, effect: Effect) -> bool {
        self.effects.contains(&effect)
    }
}

/// Kind-specific facts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Facts {
    #[default]
    None,
    Sql(SqlFacts),
    Exec(ExecFacts),
    Http(HttpFacts),
    McpTool(McpFacts),
    Custom(CustomFacts),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SqlFacts {
    pub statements: Vec<SqlStatement>,
    /// Why parsing failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

impl SqlFacts {
    /// Every statement kind, including those hidden in CTEs and EXPLAIN ANALYZE.
    pub fn kinds(&self) -> BTreeSet<String> {
        self.statements
            .iter()
            .flat_map(|s| std::iter::once(s.kind.clone()).chain(s.hidden.iter().cloned()))
            .collect()
    }

    pub fn tables(&self) -> BTreeSet<String> {
        self.statements
            .iter()
            .flat_map(|s| s.tables.iter().cloned())
            .collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SqlStatement {
    /// `select`, `insert`, `update`, `delete`, `drop_table`, `drop_database`, `grant`, …
    pub kind: String,
    pub tables: Vec<String>,
    /// Writes found inside the statement (a DELETE in a CTE, the target of EXPLAIN ANALYZE).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<String>,
    /// For UPDATE and DELETE: whether a WHERE clause limits the rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_where: Option<bool>,
    /// Functions called that are not known built-ins: their effect is opaque.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecFacts {
    /// Every command of every pipeline and list, after seeing through wrappers.
    pub commands: Vec<ExecCommand>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecCommand {
    /// The program's base name (`kubectl`, not `/usr/local/bin/kubectl`).
    pub program: String,
    /// Subcommand words, e.g. `delete` for kubectl, `iam attach-role-policy` for aws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subcommand: Option<String>,
    /// Flags as written, e.g. `-rf`, `--force`, `-auto-approve`.
    pub flags: Vec<String>,
    /// Positional arguments after the subcommand.
    pub args: Vec<String>,
    /// Wrappers seen through, outermost first (`sudo`, `sh -c`, `env`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wrappers: Vec<String>,
}

impl ExecCommand {
    /// `program` or `program subcommand`.
    pub fn command_line(&self) -> String {
        match &self.subcommand {
            Some(sub) => format!("{} {}", self.program, sub),
            None => self.program.clone(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpFacts {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesFacts>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KubernetesFacts {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// Empty for the core group.
    pub api_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct McpFacts {
    pub server: String,
    pub tool: String,
    pub arguments: Value,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomFacts {
    pub operation: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}
