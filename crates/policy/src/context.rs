//! The Cedar context for one action: classification, reason, accountable human, time.

use cedar_policy::{Context, ContextCreationError, RestrictedExpression as X};
use signoff_core::Facts;

use crate::DecisionRequest;

/// Context attribute names that policies mention. Attributes no policy text
/// mentions cannot be read (attribute access and `has` both need the name), so
/// they are left out of the context, which is most of the cost of building it.
#[derive(Debug, Default)]
pub(crate) struct Referenced(std::collections::HashSet<&'static str>);

const OPTIONAL: &[&str] = &[
    "summary",
    "reason",
    "on_behalf_of",
    "now",
    "sql",
    "statements",
    "tables",
    "functions",
    "statement_count",
    "exec",
    "programs",
    "commands",
    "flags",
    "args",
    "wrappers",
    "http",
    "method",
    "path",
    "k8s_verb",
    "k8s_resource",
    "k8s_namespace",
    "k8s_name",
    "k8s_group",
    "mcp",
    "server",
    "tool",
    "argument_names",
    "arguments",
    "custom",
    "operation",
    "resource",
];

impl Referenced {
    pub(crate) fn scan<'a>(texts: impl Iterator<Item = &'a str>) -> Referenced {
        let mut found = std::collections::HashSet::new();
        for text in texts {
            for name in OPTIONAL {
                if text.contains(name) {
                    found.insert(*name);
                }
            }
        }
        Referenced(found)
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains(name)
    }
}

fn set<'a>(items: impl IntoIterator<Item = &'a String>) -> X {
    X::new_set(items.into_iter().map(|s| X::new_string(s.clone())))
}

fn record(pairs: Vec<(&str, X)>) -> X {
    // INVARIANT: keys are distinct literals, the only way new_record fails.
    X::new_record(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)))
        .unwrap_or_else(|_| unreachable!("distinct record keys"))
}

pub(crate) fn build(
    req: &DecisionRequest<'_>,
    refs: &Referenced,
) -> Result<Context, Box<ContextCreationError>> {
    let c = req.classification;
    let mut pairs = vec![(
        "effects".to_owned(),
        X::new_set(
            c.effects
                .iter()
                .map(|e| X::new_string(e.as_str().to_owned())),
        ),
    )];
    if refs.has("summary") {
        pairs.push(("summary".to_owned(), X::new_string(c.summary.clone())));
    }
    if refs.has("reason") {
        pairs.push(("reason".to_owned(), X::new_string(req.reason.to_owned())));
    }
    if refs.has("on_behalf_of") {
        pairs.push((
            "on_behalf_of".to_owned(),
            X::new_entity_uid(crate::uid("User", req.on_behalf_of)),
        ));
    }
    if refs.has("now") {
        let now = req.now.to_offset(time::UtcOffset::UTC);
        let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            [now.weekday().number_days_from_monday() as usize];
        pairs.push((
            "now".to_owned(),
            record(vec![
                ("unix", X::new_long(now.unix_timestamp())),
                ("hour", X::new_long(now.hour() as i64)),
                ("weekday", X::new_string(weekday.to_owned())),
            ]),
        ));
    }
    let facts = match &c.facts {
        Facts::Sql(f) if refs.has("sql") => Some(("sql", {
            let mut r = Vec::new();
            if refs.has("statements") {
                r.push(("statements", set(&f.kinds())));
            }
            if refs.has("tables") {
                r.push(("tables", set(&f.tables())));
            }
            if refs.has("functions") {
                r.push((
                    "functions",
                    set(f.statements.iter().flat_map(|s| &s.functions)),
                ));
            }
            if refs.has("statement_count") {
                r.push(("statement_count", X::new_long(f.statements.len() as i64)));
            }
            r
        })),
        Facts::Exec(f) if refs.has("exec") => Some(("exec", {
            let mut r = Vec::new();
            if refs.has("programs") {
                r.push(("programs", set(f.commands.iter().map(|c| &c.program))));
            }
            if refs.has("commands") {
                let commands: Vec<String> = f.commands.iter().map(|c| c.command_line()).collect();
                r.push(("commands", set(&commands)));
            }
            if refs.has("flags") {
                r.push(("flags", set(f.commands.iter().flat_map(|c| &c.flags))));
            }
            if refs.has("args") {
                r.push(("args", set(f.commands.iter().flat_map(|c| &c.args))));
            }
            if refs.has("wrappers") {
                r.push(("wrappers", set(f.commands.iter().flat_map(|c| &c.wrappers))));
            }
            r
        })),
        Facts::Http(f) if refs.has("http") => Some(("http", {
            let mut r = Vec::new();
            if refs.has("method") {
                r.push(("method", X::new_string(f.method.clone())));
            }
            if refs.has("path") {
                r.push(("path", X::new_string(f.path.clone())));
            }
            if let Some(k) = &f.kubernetes {
                let mut opt = |name: &'static str, v: Option<&String>| {
                    if let (true, Some(v)) = (refs.has(name), v) {
                        r.push((name, X::new_string(v.clone())));
                    }
                };
                opt("k8s_verb", Some(&k.verb));
                opt("k8s_resource", Some(&k.resource));
                opt("k8s_group", Some(&k.api_group));
                opt("k8s_namespace", k.namespace.as_ref());
                opt("k8s_name", k.name.as_ref());
            }
            r
        })),
        Facts::McpTool(f) if refs.has("mcp") => Some(("mcp", {
            let mut r = Vec::new();
            if refs.has("server") {
                r.push(("server", X::new_string(f.server.clone())));
            }
            if refs.has("tool") {
                r.push(("tool", X::new_string(f.tool.clone())));
            }
            if refs.has("argument_names") {
                let names: Vec<String> = f
                    .arguments
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                r.push(("argument_names", set(&names)));
            }
            if refs.has("arguments") {
                r.push((
                    "arguments",
                    X::new_string(signoff_core::canonical::to_string(&f.arguments)),
                ));
            }
            r
        })),
        Facts::Custom(f) if refs.has("custom") => Some(("custom", {
            let mut r = Vec::new();
            if refs.has("operation") {
                r.push(("operation", X::new_string(f.operation.clone())));
            }
            if let (true, Some(res)) = (refs.has("resource"), &f.resource) {
                r.push(("resource", X::new_string(res.clone())));
            }
            r
        })),
        _ => None,
    };
    if let Some((k, r)) = facts {
        pairs.push((k.to_owned(), record(r)));
    }
    Context::from_pairs(pairs).map_err(Box::new)
}
