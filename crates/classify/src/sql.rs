//! SQL, PostgreSQL dialect.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::ops::ControlFlow;

use signoff_core::classification::{Facts, SqlFacts, SqlStatement};
use signoff_core::{Classification, Effect};
use sqlparser::ast::{
    CopySource, CopyTarget, Expr, ObjectName, ObjectType, Set, SetExpr, Statement, TableFactor,
    Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// Built-in functions with no side effects. Anything else is opaque: a user
/// function can do anything, and so can `pg_terminate_backend` or `lo_export`.
const PURE_FUNCTIONS: &[&str] = &[
    "abs",
    "age",
    "array_agg",
    "array_length",
    "avg",
    "bool_and",
    "bool_or",
    "btrim",
    "cast",
    "ceil",
    "ceiling",
    "char_length",
    "character_length",
    "coalesce",
    "concat",
    "concat_ws",
    "count",
    "current_date",
    "current_schema",
    "current_setting",
    "current_time",
    "current_timestamp",
    "current_user",
    "date_part",
    "date_trunc",
    "extract",
    "floor",
    "format",
    "generate_series",
    "greatest",
    "initcap",
    "json_agg",
    "json_build_object",
    "jsonb_agg",
    "jsonb_build_object",
    "jsonb_array_elements",
    "jsonb_each",
    "jsonb_extract_path",
    "jsonb_path_query",
    "json_extract_path",
    "least",
    "left",
    "length",
    "localtime",
    "localtimestamp",
    "lower",
    "lpad",
    "ltrim",
    "make_date",
    "max",
    "md5",
    "min",
    "mod",
    "now",
    "nullif",
    "octet_length",
    "pg_sleep",
    "position",
    "power",
    "random",
    "rank",
    "regexp_match",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "round",
    "row_number",
    "rpad",
    "rtrim",
    "session_user",
    "sign",
    "split_part",
    "sqrt",
    "starts_with",
    "string_agg",
    "strpos",
    "substr",
    "substring",
    "sum",
    "timezone",
    "to_char",
    "to_date",
    "to_json",
    "to_jsonb",
    "to_number",
    "to_timestamp",
    "trim",
    "trunc",
    "unnest",
    "upper",
    "version",
    "dense_rank",
    // Catalog introspection that drivers and psql's `\d` commands send.
    "array_position",
    "array_to_string",
    "current_schemas",
    "current_schema",
    "current_database",
    "current_user",
    "session_user",
    "pg_backend_pid",
    "format_type",
    "pg_get_userbyid",
    "pg_table_is_visible",
    "pg_type_is_visible",
    "pg_function_is_visible",
    "obj_description",
    "col_description",
    "pg_get_expr",
    "pg_get_constraintdef",
    "pg_get_indexdef",
    "pg_get_viewdef",
    "pg_encoding_to_char",
    "pg_size_pretty",
    "pg_relation_size",
    "pg_total_relation_size",
    "quote_ident",
    "has_table_privilege",
    "has_schema_privilege",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "percentile_cont",
    "stddev",
    "variance",
];

/// Functions with a known side effect, reported as writes rather than opaque.
const WRITING_FUNCTIONS: &[&str] = &["nextval", "setval", "set_config"];

pub fn classify_sql(sql: &str) -> Classification {
    let statements = match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(s) => s,
        Err(e) => return unparseable(sql, e.to_string()),
    };
    let mut effects = BTreeSet::new();
    let mut facts = SqlFacts::default();
    for stmt in &statements {
        facts
            .statements
            .push(classify_statement(stmt, &mut effects));
    }
    let summary = summarize(&facts, &effects);
    Classification {
        effects,
        summary,
        facts: Facts::Sql(facts),
    }
}

/// Unparseable SQL is `unknown`. A leading keyword still tells reviewers and
/// policy something when it names a statement the parser does not support.
fn unparseable(sql: &str, error: String) -> Classification {
    let mut effects = BTreeSet::from([Effect::Unknown]);
    let upper: String = sql
        .trim_start()
        .chars()
        .take(24)
        .collect::<String>()
        .to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().collect();
    let hint = match words.as_slice() {
        ["DO", ..] => Some(("do", Effect::Opaque)),
        ["ALTER", "SYSTEM", ..] => Some(("alter_system", Effect::Privilege)),
        ["GRANT", ..] => Some(("grant", Effect::Privilege)),
        ["REVOKE", ..] => Some(("revoke", Effect::Privilege)),
        ["CREATE" | "ALTER" | "DROP", "USER" | "ROLE" | "GROUP", ..] => {
            Some(("role", Effect::Privilege))
        }
        _ => None,
    };
    let mut statements = Vec::new();
    if let Some((kind, effect)) = hint {
        effects.insert(effect);
        statements.push(SqlStatement {
            kind: kind.into(),
            ..Default::default()
        });
    }
    Classification {
        summary: format!("unparseable SQL ({error})"),
        effects,
        facts: Facts::Sql(SqlFacts {
            statements,
            parse_error: Some(error),
        }),
    }
}

fn classify_statement(stmt: &Statement, effects: &mut BTreeSet<Effect>) -> SqlStatement {
    // EXPLAIN without ANALYZE plans but does not run its statement.
    if let Statement::Explain {
        analyze,
        statement,
        options,
        ..
    } = stmt
    {
        let analyze = *analyze
            || options.iter().flatten().any(|o| {
                o.name.value.eq_ignore_ascii_case("analyze")
                    && !o.arg.as_ref().is_some_and(|a| {
                        let v = a.to_string().to_ascii_lowercase();
                        v == "false" || v == "off" || v == "0"
                    })
            });
        let inner = classify_statement(statement, &mut BTreeSet::new());
        if !analyze {
            effects.insert(Effect::Read);
            return SqlStatement {
                kind: "explain".into(),
                tables: inner.tables,
                ..Default::default()
            };
        }
        let inner = classify_statement(statement, effects);
        let mut hidden = vec![inner.kind];
        hidden.extend(inner.hidden);
        return SqlStatement {
            kind: "explain_analyze".into(),
            tables: inner.tables,
            hidden,
            has_where: inner.has_where,
            functions: inner.functions,
        };
    }

    // One walk finds nested statements, relations and function calls.
    let mut walk = Walk {
        effects,
        out: SqlStatement::default(),
        first: true,
    };
    let _ = stmt.visit(&mut walk);
    let mut out = walk.out;
    add_named_objects(stmt, &mut out.tables);
    // A query body can itself be a data-modifying statement.
    if let Statement::Query(q) = stmt {
        if let SetExpr::Select(select) = q.body.as_ref() {
            if select.into.is_some() {
                out.kind = "select_into".into();
                effects.extend([Effect::Write, Effect::Ddl]);
            }
        }
    }
    // Reading from another table while writing (INSERT … SELECT, CREATE TABLE AS).
    let reads_source = match stmt {
        Statement::Insert(i) => i
            .source
            .as_ref()
            .is_some_and(|q| !matches!(q.body.as_ref(), SetExpr::Values(_))),
        Statement::CreateTable(c) => c.query.is_some(),
        _ => false,
    };
    if reads_source {
        effects.insert(Effect::Read);
    }
    out
}

/// The kind of one statement and its own effects, not looking inside.
fn shallow(stmt: &Statement, effects: &mut BTreeSet<Effect>) -> (String, Option<bool>) {
    use Effect::*;
    let mut add = |e: &[Effect]| effects.extend(e.iter().copied());
    let kind: String = match stmt {
        Statement::Query(_) => {
            add(&[Read]);
            "select".into()
        }
        Statement::Insert(_) => {
            add(&[Write]);
            "insert".into()
        }
        Statement::Update(u) => {
            let bounded = u.selection.is_some();
            add(&[Write]);
            if !bounded {
                add(&[UnboundedWrite, Destructive]);
            }
            return ("update".into(), Some(bounded));
        }
        Statement::Delete(d) => {
            let bounded = d.selection.is_some();
            add(&[Write, Delete]);
            if !bounded {
                add(&[UnboundedWrite, Destructive]);
            }
            return ("delete".into(), Some(bounded));
        }
        Statement::Merge(_) => {
            add(&[Write, Delete]);
            "merge".into()
        }
        Statement::Truncate(_) => {
            add(&[Write, Delete, Ddl, UnboundedWrite, Destructive]);
            "truncate".into()
        }
        Statement::Drop { object_type, .. } => {
            add(&[Ddl, Delete, Destructive]);
            if *object_type == ObjectType::Role || *object_type == ObjectType::User {
                add(&[Privilege]);
            }
            format!("drop_{}", snake(&format!("{object_type:?}")))
        }
        Statement::Copy { to, target, .. } => {
            match target {
                CopyTarget::Program { .. } => add(&[RunsProgram, Opaque]),
                CopyTarget::File { .. } if *to => add(&[Export]),
                _ => {}
            }
            if *to {
                add(&[Read, Export]);
                "copy_to".into()
            } else {
                add(&[Write]);
                "copy_from".into()
            }
        }
        Statement::Grant(_) => {
            add(&[Privilege]);
            "grant".into()
        }
        Statement::Revoke(_) => {
            add(&[Privilege]);
            "revoke".into()
        }
        Statement::CreateRole(_)
        | Statement::AlterRole { .. }
        | Statement::CreateUser(_)
        | Statement::AlterUser(_) => {
            add(&[Privilege, Ddl]);
            variant_name(stmt)
        }
        Statement::Set(Set::SetRole { .. }) | Statement::Set(Set::SetSessionAuthorization(_)) => {
            add(&[Privilege]);
            "set_role".into()
        }
        Statement::Set(_) | Statement::ShowVariable { .. } | Statement::ShowVariables { .. } => {
            "set".into()
        }
        Statement::Call(_) | Statement::Execute { .. } => {
            add(&[Opaque]);
            variant_name(stmt)
        }
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. }
        | Statement::Deallocate { .. }
        | Statement::Discard { .. }
        | Statement::Close { .. } => variant_name(stmt),
        Statement::Declare { .. } | Statement::Fetch { .. } => {
            add(&[Read]);
            variant_name(stmt)
        }
        other => {
            let name = variant_name(other);
            if name.starts_with("show") || name.starts_with("explain") {
                add(&[Read]);
            } else if name.starts_with("drop") {
                add(&[Ddl, Delete, Destructive]);
            } else if name.starts_with("create")
                || name.starts_with("alter")
                || name.starts_with("rename")
                || name == "comment"
            {
                add(&[Ddl, Write]);
            } else {
                // Not modelled: treat as a write rather than guess it is harmless.
                add(&[Write]);
            }
            name
        }
    };
    (kind, None)
}

/// DROP, TRUNCATE and COPY name their objects outside relation position.
fn add_named_objects(stmt: &Statement, tables: &mut Vec<String>) {
    let mut add = |name: &ObjectName| {
        let t = object_name(name);
        if !tables.contains(&t) {
            tables.push(t);
        }
    };
    match stmt {
        Statement::Drop { names, .. } => names.iter().for_each(&mut add),
        Statement::Truncate(t) => t.table_names.iter().for_each(|tt| add(&tt.name)),
        Statement::Copy {
            source: CopySource::Table { table_name, .. },
            ..
        } => add(table_name),
        _ => {}
    }
}

/// `public."Orders"` → `public.Orders`; unquoted parts fold to lower case as PostgreSQL does.
fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(id) if id.quote_style.is_some() => id.value.clone(),
            Some(id) => id.value.to_lowercase(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// One pass over a statement: the kinds of nested statements (a DELETE in a
/// CTE), the relations touched, and calls to functions that are not known pure
/// built-ins, in expressions and in FROM (`dblink(…)`, `pg_read_file(…)`).
struct Walk<'a> {
    effects: &'a mut BTreeSet<Effect>,
    out: SqlStatement,
    first: bool,
}

impl Walk<'_> {
    fn call(&mut self, name: &ObjectName) {
        let name = last_ident(name);
        if WRITING_FUNCTIONS.contains(&name.as_str()) {
            self.effects.insert(Effect::Write);
        } else if !PURE_FUNCTIONS.contains(&name.as_str()) {
            self.effects.insert(Effect::Opaque);
            if !self.out.functions.contains(&name) {
                self.out.functions.push(name);
            }
        }
    }
}

impl Visitor for Walk<'_> {
    type Break = ();

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
        let (kind, has_where) = shallow(s, self.effects);
        if self.first {
            self.out.kind = kind;
            self.out.has_where = has_where;
            self.first = false;
        } else if kind != "select" {
            self.out.hidden.push(kind);
            if has_where == Some(false) {
                self.out.has_where = Some(false);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
        let t = object_name(name);
        if !self.out.tables.contains(&t) {
            self.out.tables.push(t);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            self.call(&f.name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            } => self.call(name),
            TableFactor::Function { name, .. } => self.call(name),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn last_ident(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(|i| i.value.to_lowercase())
        .unwrap_or_default()
}

/// The enum variant's name in snake case, read from the start of its Debug
/// rendering without formatting the rest of the tree.
fn variant_name(stmt: &Statement) -> String {
    struct Head(String);
    impl std::fmt::Write for Head {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if !c.is_ascii_alphanumeric() {
                    return Err(std::fmt::Error);
                }
                self.0.push(c);
            }
            Ok(())
        }
    }
    let mut head = Head(String::new());
    let _ = write!(head, "{stmt:?}");
    snake(&head.0)
}

fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn summarize(facts: &SqlFacts, effects: &BTreeSet<Effect>) -> String {
    let mut parts: Vec<String> = facts
        .statements
        .iter()
        .map(|s| {
            let mut p = s.kind.to_uppercase().replace('_', " ");
            if !s.tables.is_empty() {
                p.push_str(" on ");
                p.push_str(&s.tables.join(", "));
            }
            if s.has_where == Some(false) {
                p.push_str(" without WHERE");
            }
            if !s.hidden.is_empty() {
                p.push_str(&format!(" (runs {})", s.hidden.join(", ").to_uppercase()));
            }
            p
        })
        .collect();
    if parts.is_empty() {
        parts.push("empty SQL".into());
    }
    let flags: Vec<&str> = [
        (Effect::Export, "exports data"),
        (Effect::Privilege, "changes privileges"),
        (Effect::RunsProgram, "runs a program"),
        (Effect::Opaque, "opaque code"),
    ]
    .iter()
    .filter(|(e, _)| effects.contains(e))
    .map(|(_, s)| *s)
    .collect();
    let mut s = parts.join("; ");
    if !flags.is_empty() {
        s.push_str(" [");
        s.push_str(&flags.join(", "));
        s.push(']');
    }
    s
}
