//! The Cedar context for one action: classification, reason, accountable human, time.

use cedar_policy::{Context, ContextCreationError, RestrictedExpression as X};
use signoff_core::Facts;

use crate::DecisionRequest;

fn set<'a>(items: impl IntoIterator<Item = &'a String>) -> X {
    X::new_set(items.into_iter().map(|s| X::new_string(s.clone())))
}

fn record(pairs: Vec<(&str, X)>) -> X {
    // INVARIANT: keys are distinct literals, the only way new_record fails.
    X::new_record(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)))
        .unwrap_or_else(|_| unreachable!("distinct record keys"))
}

pub(crate) fn build(req: &DecisionRequest<'_>) -> Result<Context, ContextCreationError> {
    let c = req.classification;
    let now = req.now.to_offset(time::UtcOffset::UTC);
    let weekday = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [now.weekday().number_days_from_monday() as usize];
    let mut pairs = vec![
        (
            "effects".to_owned(),
            X::new_set(
                c.effects
                    .iter()
                    .map(|e| X::new_string(e.as_str().to_owned())),
            ),
        ),
        ("summary".to_owned(), X::new_string(c.summary.clone())),
        ("reason".to_owned(), X::new_string(req.reason.to_owned())),
        (
            "on_behalf_of".to_owned(),
            X::new_entity_uid(crate::uid("User", req.on_behalf_of)),
        ),
        (
            "now".to_owned(),
            record(vec![
                ("unix", X::new_long(now.unix_timestamp())),
                ("hour", X::new_long(now.hour() as i64)),
                ("weekday", X::new_string(weekday.to_owned())),
            ]),
        ),
    ];
    let facts = match (&c.facts, req.kind) {
        (Facts::Sql(f), _) => Some((
            "sql",
            record(vec![
                ("statements", set(&f.kinds())),
                ("tables", set(&f.tables())),
                (
                    "functions",
                    set(f.statements.iter().flat_map(|s| &s.functions)),
                ),
                ("statement_count", X::new_long(f.statements.len() as i64)),
            ]),
        )),
        (Facts::Exec(f), _) => {
            let commands: Vec<String> = f.commands.iter().map(|c| c.command_line()).collect();
            Some((
                "exec",
                record(vec![
                    ("programs", set(f.commands.iter().map(|c| &c.program))),
                    ("commands", set(&commands)),
                    ("flags", set(f.commands.iter().flat_map(|c| &c.flags))),
                    ("args", set(f.commands.iter().flat_map(|c| &c.args))),
                    ("wrappers", set(f.commands.iter().flat_map(|c| &c.wrappers))),
                ]),
            ))
        }
        (Facts::Http(f), _) => {
            let mut r = vec![
                ("method", X::new_string(f.method.clone())),
                ("path", X::new_string(f.path.clone())),
            ];
            if let Some(k) = &f.kubernetes {
                r.push(("k8s_verb", X::new_string(k.verb.clone())));
                r.push(("k8s_resource", X::new_string(k.resource.clone())));
                r.push(("k8s_group", X::new_string(k.api_group.clone())));
                if let Some(ns) = &k.namespace {
                    r.push(("k8s_namespace", X::new_string(ns.clone())));
                }
                if let Some(n) = &k.name {
                    r.push(("k8s_name", X::new_string(n.clone())));
                }
            }
            Some(("http", record(r)))
        }
        (Facts::McpTool(f), _) => {
            let names: Vec<String> = f
                .arguments
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            Some((
                "mcp",
                record(vec![
                    ("server", X::new_string(f.server.clone())),
                    ("tool", X::new_string(f.tool.clone())),
                    ("argument_names", set(&names)),
                    (
                        "arguments",
                        X::new_string(signoff_core::canonical::to_string(&f.arguments)),
                    ),
                ]),
            ))
        }
        (Facts::Custom(f), _) => {
            let mut r = vec![("operation", X::new_string(f.operation.clone()))];
            if let Some(res) = &f.resource {
                r.push(("resource", X::new_string(res.clone())));
            }
            Some(("custom", record(r)))
        }
        (Facts::None, _) => None,
    };
    if let Some((k, v)) = facts {
        pairs.push((k.to_owned(), v));
    }
    Context::from_pairs(pairs)
}
