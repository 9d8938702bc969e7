//! Table-driven classifier tests. Cases live in `cases/*.toml`; each names an
//! input and the exact effects expected, plus optional kinds, tables or commands.

use std::collections::BTreeSet;

use serde::Deserialize;
use signoff_classify::{classify_http, classify_shell, classify_sql};
use signoff_core::{Classification, Facts};

#[derive(Deserialize)]
struct File {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    input: String,
    #[serde(default)]
    method: Option<String>,
    effects: Vec<String>,
    #[serde(default)]
    kinds: Option<Vec<String>>,
    #[serde(default)]
    tables: Option<Vec<String>>,
    #[serde(default)]
    commands: Option<Vec<String>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    k8s: Option<String>,
}

fn run(file: &str, classify: impl Fn(&Case) -> Classification) -> usize {
    let text =
        std::fs::read_to_string(format!("{}/tests/cases/{file}", env!("CARGO_MANIFEST_DIR")))
            .unwrap();
    let cases: File = toml::from_str(&text).unwrap();
    let mut failures = Vec::new();
    for case in &cases.case {
        let c = classify(case);
        let got: BTreeSet<String> = c.effects.iter().map(|e| e.to_string()).collect();
        let want: BTreeSet<String> = case.effects.iter().cloned().collect();
        let mut problems = Vec::new();
        if got != want {
            problems.push(format!("effects {got:?}, want {want:?}"));
        }
        match &c.facts {
            Facts::Sql(f) => {
                if let Some(kinds) = &case.kinds {
                    let want: BTreeSet<String> = kinds.iter().cloned().collect();
                    if f.kinds() != want {
                        problems.push(format!("kinds {:?}, want {want:?}", f.kinds()));
                    }
                }
                if let Some(tables) = &case.tables {
                    let want: BTreeSet<String> = tables.iter().cloned().collect();
                    if f.tables() != want {
                        problems.push(format!("tables {:?}, want {want:?}", f.tables()));
                    }
                }
            }
            Facts::Exec(f) => {
                if let Some(cmds) = &case.commands {
                    let got: Vec<String> = f.commands.iter().map(|c| c.command_line()).collect();
                    if &got != cmds {
                        problems.push(format!("commands {got:?}, want {cmds:?}"));
                    }
                }
                if let Some(flags) = &case.flags {
                    let all: BTreeSet<&String> = f.commands.iter().flat_map(|c| &c.flags).collect();
                    for fl in flags {
                        if !all.contains(fl) {
                            problems.push(format!("flag {fl} missing from {all:?}"));
                        }
                    }
                }
            }
            Facts::Http(f) => {
                if let Some(k) = &case.k8s {
                    let got = f.kubernetes.as_ref().map(|k| {
                        format!(
                            "{} {} {}",
                            k.verb,
                            k.resource,
                            k.namespace.clone().unwrap_or_else(|| "-".into())
                        )
                    });
                    if got.as_deref() != Some(k.as_str()) {
                        problems.push(format!("k8s {got:?}, want {k}"));
                    }
                }
            }
            _ => {}
        }
        if !problems.is_empty() {
            failures.push(format!(
                "`{}`: {} (summary: {})",
                case.input,
                problems.join("; "),
                c.summary
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {file} cases failed:\n{}",
        failures.len(),
        cases.case.len(),
        failures.join("\n")
    );
    cases.case.len()
}

#[test]
fn sql_cases() {
    let n = run("sql.toml", |c| classify_sql(&c.input));
    assert!(n >= 80, "only {n} SQL cases");
}

#[test]
fn exec_cases() {
    let n = run("exec.toml", |c| classify_shell(&c.input));
    assert!(n >= 40, "only {n} exec cases");
}

#[test]
fn http_cases() {
    run("http.toml", |c| {
        classify_http(c.method.as_deref().unwrap_or("GET"), &c.input)
    });
}

#[test]
fn argv_sees_through_wrappers_like_a_shell_string() {
    let argv: Vec<String> = [
        "sudo",
        "-u",
        "root",
        "bash",
        "-lc",
        "kubectl delete ns payments",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let c = signoff_classify::classify_argv(&argv);
    let Facts::Exec(f) = &c.facts else { panic!() };
    assert_eq!(f.commands[0].command_line(), "kubectl delete");
    assert_eq!(f.commands[0].wrappers, vec!["sudo", "bash -c"]);
    assert!(c.has(signoff_core::Effect::Destructive) && c.has(signoff_core::Effect::Privilege));
}

#[test]
fn hostile_inputs_never_panic() {
    let deep = "(".repeat(10_000);
    let nested = format!("{}SELECT 1{}", "SELECT (".repeat(500), ")".repeat(500));
    for input in [
        deep.as_str(),
        nested.as_str(),
        "\0",
        "'",
        "$$",
        "DO $$",
        "\u{202e}DELETE",
    ] {
        let _ = classify_sql(input);
        let _ = classify_shell(input);
        let _ = classify_http(input, input);
    }
    let nested = format!("{}rm -rf /", "eval ".repeat(20));
    assert!(
        classify_shell(&nested).is_unknown(),
        "nesting past the limit is unknown"
    );
}
