//! The CLI's offline commands and start-up checks.

mod support;

use serde_json::{json, Value};
use support::*;

fn init(dir: &std::path::Path) -> std::path::PathBuf {
    let out = run(&["init", dir.to_str().unwrap()], dir);
    assert!(out.status.success(), "{}", text(&out));
    dir.join("signoff.toml")
}

/// Replaces `from` with `to` in the file at `path`.
fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` is not in {}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Creates an API key for the init template's `agent:deploy-bot`, offline.
fn deploy_bot_key(dir: &std::path::Path, config: &std::path::Path) -> String {
    create_key(dir, config, "agent:deploy-bot")
}

/// `signoff exec` of `rm -rf` on the init template's `prod-shell`, which
/// needs a reviewer; `wait` is how long it waits for one.
fn exec_held_rm(s: &Server, key: &str, wait: &str) -> std::process::Output {
    s.cli(
        key,
        &[
            "exec",
            "--target",
            "prod-shell",
            "--wait",
            wait,
            "--",
            "rm",
            "-rf",
            "/tmp/x",
        ],
    )
}

#[test]
fn init_writes_a_config_that_validates() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path());
    assert!(dir.path().join("policies/20-approvals.cedar").exists());
    let out = run(
        &["--config", config.to_str().unwrap(), "policy", "validate"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 policies valid"), "{}", text(&out));
    let again = run(&["init", dir.path().to_str().unwrap()], dir.path());
    assert!(
        !again.status.success() && text(&again).contains("--force"),
        "{}",
        text(&again)
    );
}

#[test]
fn serve_refuses_an_invalid_policy_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path());
    let bad = dir.path().join("policies/50-bad.cedar");
    std::fs::write(&bad, "// a typo on line 3\n@id(\"x\")\npermit (principal, action == Action::\"sql\", resource) when { context.sql.tabels.contains(\"a\") };\n").unwrap();
    let out = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains(&format!("{}:3:", bad.display())), "{t}");
    assert!(t.contains("tabels"), "{t}");
}

#[test]
fn serve_refuses_an_invalid_config_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path());
    edit(&config, "owner = \"olivia\"", "owner = \"nobody\"");
    let out = run(&["--config", config.to_str().unwrap(), "serve"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    let line = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .position(|l| l.contains("nobody"))
        .unwrap()
        + 1;
    assert!(t.contains(&format!("{}:{line}:9", config.display())), "{t}");
    assert!(t.contains("nobody"), "{t}");
}

#[test]
fn policy_test_reports_each_mismatch_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        r#"
[[case]]
name = "reads are allowed"
principal = "agent:demo-agent"
target = "demo-db"
kind = "sql"
payload = "SELECT * FROM orders"
expect = "allow"

[[case]]
name = "grants need two"
principal = "agent:demo-agent"
target = "demo-db"
kind = "sql"
payload = "GRANT ALL ON orders TO x"
expect = "require_approval"
approvals = 2

[[case]]
name = "a wrong expectation"
principal = "agent:demo-agent"
target = "demo-shell"
kind = "exec"
payload = "kubectl delete ns payments"
expect = "allow"
"#,
    )
    .unwrap();
    let out = run(&["policy", "test", cases.to_str().unwrap()], dir.path());
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FAIL  a wrong expectation: expected allow, got require_approval"),
        "{t}"
    );
    assert!(t.contains("2 passed, 1 failed"), "{t}");
}

#[test]
fn explain_shows_classification_decision_and_policies() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "explain",
            "--principal",
            "agent:demo-agent",
            "--target",
            "demo-db",
            "--kind",
            "sql",
            "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
        ],
        dir.path(),
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("unbounded_write")
            && t.contains("require_approval")
            && t.contains("changes-need-approval"),
        "{t}"
    );
    let out = run(
        &[
            "explain",
            "--json",
            "--principal",
            "agent:demo-agent",
            "--target",
            "demo-db",
            "--kind",
            "sql",
            "DROP DATABASE x",
        ],
        dir.path(),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"]["decision"], "deny");
    assert_eq!(v["decision"]["policies"], json!(["no-drop-database"]));
}

#[test]
fn help_exists_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["init", "--help"],
        vec!["exec", "--help"],
        vec!["approvals", "list", "--help"],
        vec!["approvals", "show", "--help"],
        vec!["approve", "--help"],
        vec!["deny", "--help"],
        vec!["explain", "--help"],
        vec!["policy", "validate", "--help"],
        vec!["policy", "test", "--help"],
        vec!["policy", "schema", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["audit", "export", "--help"],
        vec!["keys", "create", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "revoke", "--help"],
        vec!["cancel", "--help"],
        vec!["mask", "--help"],
        vec!["mcp", "--help"],
        vec!["hook", "claude-code", "--help"],
        vec!["openai", "approve", "--help"],
    ] {
        let out = run(&cmd, dir.path());
        assert!(
            out.status.success() && out.stdout.len() > 100,
            "{cmd:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn keys_audit_verify_export_work_offline_and_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::embedded(dir.path());
    for q in ["SELECT 1", "DELETE FROM a", "SELECT 2"] {
        s.post(
            "/v1/actions",
            &s.agent(),
            &json!({"target": "demo-db", "kind": "sql", "payload": {"sql": q}}),
        );
    }
    s.stop();
    let d = data.to_str().unwrap();
    let out = run(
        &[
            "keys",
            "create",
            "--principal",
            "user:demo-reviewer-1",
            "--data-dir",
            d,
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(key.starts_with("so_"), "{key}");
    let key_id = &key[..11];

    // Listed by id, never by key; revoked once; a second revoke says what to do.
    let list = |args: &[&str]| {
        let out = run(
            &[&["keys", "list", "--data-dir", d][..], args].concat(),
            dir.path(),
        );
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let table = list(&[]);
    let row = table.lines().find(|l| l.starts_with(key_id)).unwrap();
    assert!(
        row.contains("user:demo-reviewer-1") && !table.contains(&key),
        "{table}"
    );
    let out = run(&["keys", "revoke", key_id, "--data-dir", d], dir.path());
    assert!(
        out.status.success() && text(&out).contains("revoked"),
        "{}",
        text(&out)
    );
    let listed: Vec<Value> = list(&["--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let revoked = listed.iter().find(|k| k["key_id"] == key_id).unwrap();
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    let out = run(&["keys", "revoke", key_id, "--data-dir", d], dir.path());
    assert!(
        !out.status.success() && text(&out).contains("keys list"),
        "{}",
        text(&out)
    );
    let out = run(
        &[
            "keys",
            "create",
            "--principal",
            "agent:ghost",
            "--data-dir",
            d,
        ],
        dir.path(),
    );
    assert!(!out.status.success() && text(&out).contains("ghost"));

    let out = run(&["audit", "verify", "--data-dir", d], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ok:"), "{}", text(&out));

    let out = run(
        &["audit", "export", "--data-dir", d, "--format", "jsonl"],
        dir.path(),
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 7, "{}", lines.len());
    assert!(lines.iter().any(|e| e["kind"] == "key.created"));
    assert!(lines
        .iter()
        .any(|e| e["kind"] == "key.revoked" && e["details"]["key_id"] == key_id));
    let out = run(
        &["audit", "export", "--data-dir", d, "--format", "csv"],
        dir.path(),
    );
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.starts_with("seq,id,at,kind"), "{csv}");
    assert_eq!(csv.lines().count(), lines.len() + 1);
    let out = run(
        &[
            "audit",
            "export",
            "--data-dir",
            d,
            "--since",
            "2999-01-01T00:00:00Z",
        ],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());

    // A forger edits a decision with sqlite.
    let db = rusqlite::Connection::open(data.join("signoff.db")).unwrap();
    db.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit SET details = replace(details, 'require_approval', 'allow') WHERE kind = 'action.decided' AND details LIKE '%require_approval%';").unwrap();
    let seq: i64 = db.query_row("SELECT seq FROM audit WHERE details LIKE '%\"decision\":\"allow\"%' AND payload LIKE '%DELETE%' AND kind = 'action.decided'", [], |r| r.get(0)).unwrap();
    let out = run(&["audit", "verify", "--data-dir", d], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("event #{seq}")),
        "{}",
        text(&out)
    );
}

#[test]
fn an_unreviewed_request_expires_and_exec_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path());
    edit(&config, "default_ttl = \"1h\"", "default_ttl = \"2s\"");
    let policies = dir.path().join("policies/20-approvals.cedar");
    edit(&policies, "@ttl(\"1h\")\n", "");
    let s = Server::with_config(dir.path(), &config);
    let key = deploy_bot_key(dir.path(), &config);
    let out = exec_held_rm(&s, &key, "30s");
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("expired"),
        "the sweep expired it before the 30s wait: {}",
        text(&out)
    );
}

#[test]
fn serve_listen_moves_the_review_links_of_a_config_without_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path());
    // `Server` passes `--listen` on a free port, never the file's 8080.
    let s = Server::with_config(dir.path(), &config);
    assert!(
        s.stderr
            .iter()
            .any(|l| l.ends_with(&format!("listening on {}", s.url))),
        "{:?}",
        s.stderr
    );
    let key = deploy_bot_key(dir.path(), &config);
    let out = exec_held_rm(&s, &key, "1s");
    assert!(
        text(&out).contains(&format!("review:   {}/", s.url)),
        "{}",
        text(&out)
    );
}

#[test]
fn mask_streams_one_line_per_line_with_a_report() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["mask", "--report"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = "login alice@example.com from 10.0.0.7\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\n{\"password\":\"x\"}\nplain line\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), input.lines().count(), "{stdout}");
    assert_eq!(lines[0], "login [EMAIL] from [IPV4]");
    assert!(
        !stdout.contains("MHcCAQEEIB") && !stdout.contains("alice"),
        "{stdout}"
    );
    assert_eq!(lines[5], "plain line");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("email") && stderr.contains("private_key") && stderr.contains("total"),
        "{stderr}"
    );
    let bad = run(&["mask", "--style", "hash"], dir.path());
    assert!(!bad.status.success() && text(&bad).contains("SIGNOFF_MASK_KEY"));
}

#[test]
fn mask_refuses_a_line_longer_than_64_mib_and_keeps_what_came_before() {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .arg("mask")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(b"kept a@b.io\n");
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..70 {
            if stdin.write_all(&chunk).is_err() {
                break; // refused: the pipe closed
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("longer than 64 MiB"), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept [EMAIL]\n");
}

#[test]
fn mask_answers_each_line_while_the_pipe_stays_open() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(BIN)
        .arg("mask")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for (input, want) in [
        ("ping alice@example.com", "ping [EMAIL]"),
        ("from 10.1.2.3", "from [IPV4]"),
    ] {
        writeln!(stdin, "{input}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim_end(),
            want,
            "the line came back before stdin closed"
        );
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn serve_applies_the_configured_masking() {
    let dir = tempfile::tempdir().unwrap();
    let config = init(dir.path());
    edit(&config, "deny_words = []", "deny_words = [\"falcon\"]");
    let s = Server::with_config(dir.path(), &config);
    let key = deploy_bot_key(dir.path(), &config);
    let body = json!({"target": "prod-db", "kind": "sql", "payload": {"sql": "DELETE FROM projects WHERE name = 'falcon' AND owner = 'eve@example.com'"}});
    let (status, v) = s.post("/v1/actions", &key, &body);
    assert_eq!(status, 200, "{v}");
    let shown = v["approval"]["payload"]["sql"].as_str().unwrap();
    assert_eq!(
        shown,
        "DELETE FROM projects WHERE name = '[DENIED_WORD]' AND owner = '[EMAIL]'"
    );
}
