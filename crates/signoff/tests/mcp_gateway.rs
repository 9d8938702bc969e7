//! The MCP front door with real clients and a real upstream: the official
//! Python SDK on both sides (`tests/mcp/client.py`, `tests/mcp/upstream.py`),
//! the real binary in between. The upstream is reached on stdio (`fixture`,
//! through an rmcp session pair) and over streamable HTTP (`fixturehttp`,
//! spliced); each scenario runs against both. `./test` installs the SDK and
//! sets `SIGNOFF_TEST_PYTHON`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};
use support::*;

const POLICY: &str = r#"
@id("echo-allowed")
permit (principal, action == Action::"mcp_tool", resource)
when { ["echo", "lookup_customer", "crash"].contains(context.mcp.tool) }
unless { context.mcp.arguments like "*\"count\":3*" };

@id("loud-echo-needs-approval")
@approval("required")
@approvals("1")
@reviewers("reviewers")
@ttl("1h")
permit (principal, action == Action::"mcp_tool", resource)
when { context.mcp.tool == "echo" && context.mcp.arguments like "*\"count\":3*" };

@id("no-repo-deletes")
@reason("deleting repositories is forbidden through signoff")
forbid (principal, action == Action::"mcp_tool", resource)
when { context.mcp.tool == "delete_repo" };
"#;

fn python() -> String {
    std::env::var("SIGNOFF_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "SIGNOFF_TEST_PYTHON is not set: run the suite with ./test, which installs the MCP SDK"
        )
    })
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp")
        .join(name)
}

/// The same Python upstream on stdio and over streamable HTTP.
const TARGETS: [&str; 2] = ["fixture", "fixturehttp"];

struct Setup {
    server: Server,
    agent: String,
    reviewer: String,
    _http_upstream: Kill,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// How many stdio upstream processes signoff has started.
    fn upstream_starts(&self) -> usize {
        std::fs::read_to_string(self._dir.path().join("upstream-starts"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

fn start(max_hold: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("policies")).unwrap();
    std::fs::write(d.join("policies/mcp.cedar"), POLICY).unwrap();
    let port = free_port();
    let http_upstream = Kill(
        Command::new(python())
            .arg(fixture("upstream.py"))
            .args(["--http", &port.to_string()])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port);
    let config = d.join("signoff.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
data_dir = "data"
[policy]
dir = "policies"
[approvals]
max_hold = "{max_hold}"
[[users]]
id = "rita"
groups = ["reviewers"]
[[users]]
id = "olivia"
groups = []
[[agents]]
name = "bot"
owner = "olivia"
[[targets]]
name = "fixture"
kind = "mcp"
labels = {{ env = "test" }}
command = [{python:?}, {upstream:?}]
masking = {{ results = true }}
[[targets]]
name = "fixturehttp"
kind = "mcp"
labels = {{ env = "test" }}
url = "http://127.0.0.1:{port}/mcp"
masking = {{ results = true }}
[[targets]]
name = "everything"
kind = "mcp"
command = ["node", {everything:?}, "stdio"]
"#,
            python = python(),
            upstream = fixture("upstream.py").to_str().unwrap(),
            everything =
                fixture("node_modules/@modelcontextprotocol/server-everything/dist/index.js")
                    .to_str()
                    .unwrap(),
        ),
    )
    .unwrap();
    let key = |principal: &str| create_key(d, &config, principal);
    let (agent, reviewer) = (key("agent:bot"), key("user:rita"));
    // The stdio upstreams note each start here.
    let starts = d.join("upstream-starts");
    let server = Server::with_config_env(
        d,
        &config,
        &[("SIGNOFF_TEST_UPSTREAM_STARTS", starts.to_str().unwrap())],
    );
    Setup {
        server,
        agent,
        reviewer,
        _http_upstream: http_upstream,
        _dir: dir,
    }
}

/// The official SDK clients: Python (`client.py`) and TypeScript
/// (`client.mjs`: v1, or v2 negotiating the revision on its own).
#[derive(Clone, Copy)]
enum Sdk {
    Python,
    TypeScript,
    TypeScriptV2,
}

fn sdk_command(sdk: Sdk) -> Command {
    match sdk {
        Sdk::Python => {
            let mut c = Command::new(python());
            c.arg(fixture("client.py"));
            c
        }
        Sdk::TypeScript | Sdk::TypeScriptV2 => {
            assert!(
                fixture("node_modules/@modelcontextprotocol/client").exists(),
                "run the suite with ./test, which installs the TypeScript MCP SDKs"
            );
            let mut c = Command::new("node");
            c.arg(fixture("client.mjs"));
            if let Sdk::TypeScriptV2 = sdk {
                c.envs(NEGOTIATED);
            }
            c
        }
    }
}

fn sdk_results(sdk: Sdk, endpoint: &str, token: &str, steps: Value) -> Vec<Value> {
    let child = sdk_command(sdk)
        .arg(endpoint)
        .arg(token)
        .arg(steps.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (greeting, mut lines) = greeted(child);
    lines.insert(0, greeting);
    lines
}

fn spawn_client(s: &Setup, target: &str, steps: Value) -> Child {
    spawn_client_with(s, target, steps, &[])
}

/// `spawn_client` with settings for `client.py` (`SIGNOFF_TEST_*`). A
/// target named `bridge:NAME` is reached through `signoff mcp --server NAME`.
fn spawn_client_with(s: &Setup, target: &str, steps: Value, env: &[(&str, &str)]) -> Child {
    let endpoint = match target.strip_prefix("bridge:") {
        Some(name) => format!("stdio:{BIN}:{name}:{}", s.server.url),
        None => format!("{}/mcp/{target}", s.server.url),
    };
    Command::new(python())
        .arg(fixture("client.py"))
        .arg(endpoint)
        .arg(&s.agent)
        .arg(steps.to_string())
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The SDK's `Client` negotiating on its own: the stateless 2026-07-28
/// revision where the far end serves it, `initialize` where it does not.
const NEGOTIATED: [(&str, &str); 1] = [("SIGNOFF_TEST_MCP_MODE", "auto")];

/// The greeting (`{"server": …}`) and one JSON line per step.
fn greeted(child: Child) -> (Value, Vec<Value>) {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines.remove(0), lines)
}

/// One JSON line per step, after the greeting.
fn results(child: Child) -> Vec<Value> {
    let (greeting, lines) = greeted(child);
    assert_eq!(
        greeting["server"], "fixture",
        "the upstream's name passes through"
    );
    lines
}

fn client(s: &Setup, target: &str, steps: Value) -> Vec<Value> {
    results(spawn_client(s, target, steps))
}

/// A listing, then an allowed, a denied and a masked call.
fn gated_steps() -> Vec<Value> {
    vec![
        json!(["list"]),
        json!(["call", "echo", {"text": "hi", "count": 2}]),
        json!(["call", "delete_repo", {"name": "shop"}]),
        json!(["call", "lookup_customer", {"email": "alice@example.com"}]),
    ]
}

/// What `gated_steps` answer: a hidden tool, the upstream's result, the
/// policy's reason and a masked result.
fn gated_as_expected(r: &[Value]) {
    assert_eq!(
        r[0]["tools"],
        json!(["crash", "echo", "lookup_customer"]),
        "delete_repo is forbidden whatever its arguments, so it is not listed"
    );
    assert_eq!(
        r[1],
        json!({"isError": false, "text": "hi hi", "progress": 0})
    );
    assert_eq!(r[2]["isError"], true, "{}", r[2]);
    assert!(
        r[2]["text"]
            .as_str()
            .unwrap()
            .contains("deleting repositories is forbidden"),
        "{}",
        r[2]
    );
    let masked = r[3]["text"].as_str().unwrap();
    assert_eq!(r[3]["isError"], false);
    assert!(
        masked.contains("[EMAIL]") && masked.contains("[CREDIT_CARD]") && !masked.contains("alice"),
        "{masked}"
    );
}

#[test]
fn allowed_calls_pass_through_denied_ones_explain_why_and_results_are_masked() {
    let s = start("30s");
    for target in TARGETS {
        let r = client(&s, target, Value::Array(gated_steps()));
        gated_as_expected(&r);
        // Every call is in the audit log with its arguments.
        let (_, audit) = s.server.get("/v1/audit?limit=100", &s.reviewer);
        let tools: Vec<&str> = audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "action.decided" && e["target"] == target)
            .filter_map(|e| e["payload"]["tool"].as_str())
            .collect();
        assert_eq!(tools, ["echo", "delete_repo", "lookup_customer"], "{audit}");
    }
}

#[test]
fn a_held_call_completes_when_a_reviewer_approves() {
    // Both targets in a session, and stateless (2026-07-28), also through
    // `signoff mcp`.
    let cases: [(&str, &[(&str, &str)]); 5] = [
        ("fixture", &[]),
        ("fixturehttp", &[]),
        ("fixture", &NEGOTIATED),
        ("fixturehttp", &NEGOTIATED),
        ("bridge:fixture", &NEGOTIATED),
    ];
    for (target, env) in cases {
        let s = start("60s");
        let child = spawn_client_with(
            &s,
            target,
            json!([["call", "echo", {"text": "hi", "count": 3}]]),
            env,
        );
        let id = s.server.first_pending(&s.reviewer);
        // Held past one progress interval (5 s): the client hears progress.
        std::thread::sleep(std::time::Duration::from_secs(6));
        s.server.approve(&id, &s.reviewer);
        let r = results(child);
        assert_eq!(r[0]["isError"], false, "{}", r[0]);
        assert_eq!(r[0]["text"], "hi hi hi");
        assert!(
            r[0]["progress"].as_u64().unwrap() >= 1,
            "progress while held: {}",
            r[0]
        );
        // A client that does not elicit finds the review page in progress.
        let said = r[0]["progress_message"].as_str().unwrap();
        assert!(
            said.starts_with("waiting for approval: ")
                && said.ends_with(&format!("/ui/requests/{id}")),
            "{target} {env:?}: {said}"
        );
        let (_, v) = s.server.get(&format!("/v1/approvals/{id}"), &s.reviewer);
        assert_eq!(v["grant"]["uses"], 1, "{v}");
    }
}

/// URL-mode elicitation (MCP 2025-11-25): a client that declares it is shown
/// the review page while its call is held, and told when the hold ends. The
/// page lets the requester watch, never approve.
#[test]
fn a_held_call_shows_the_review_page_to_clients_that_elicit() {
    for target in TARGETS {
        let s = start("60s");
        let (id, r) = review_page_shown(&s, target, &[("SIGNOFF_TEST_ELICIT", "1")]);
        assert_eq!(
            r[0]["completed"],
            json!([id]),
            "the hold's end is announced"
        );
    }
}

/// A call held for a reviewer, from a client that elicits, then an allowed
/// one: the first showed the review page once and ran when approved, the
/// second elicited nothing. The request's id and the steps' results.
fn review_page_shown(s: &Setup, target: &str, env: &[(&str, &str)]) -> (String, Vec<Value>) {
    let child = spawn_client_with(
        s,
        target,
        json!([["call", "echo", {"text": "hi", "count": 3}], ["call", "echo", {"text": "free"}]]),
        env,
    );
    let id = s.server.first_pending(&s.reviewer);
    s.server.approve(&id, &s.reviewer);
    let r = results(child);
    assert_eq!(r[0]["text"], "hi hi hi", "{}", r[0]);
    let elicited = r[0]["elicited"].as_array().unwrap();
    assert_eq!(elicited.len(), 1, "{}", r[0]);
    assert_eq!(elicited[0]["mode"], "url");
    assert_eq!(elicited[0]["elicitationId"], id.as_str());
    assert!(
        elicited[0]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/ui/requests/{id}")),
        "{}",
        r[0]
    );
    assert!(elicited[0]["message"]
        .as_str()
        .unwrap()
        .contains("someone else must approve"));
    // An allowed call is not held, so nothing is elicited.
    assert_eq!(r[1]["text"], "free");
    assert_eq!(r[1]["elicited"], json!([]), "{}", r[1]);
    (id, r)
}

#[test]
fn a_hold_that_runs_out_names_the_request_and_the_retry_uses_the_grant_once() {
    for target in TARGETS {
        let s = start("1s");
        let call = json!(["call", "echo", {"text": "hi", "count": 3}]);
        let r = client(&s, target, json!([call]));
        let text = r[0]["text"].as_str().unwrap();
        assert_eq!(r[0]["isError"], true);
        let id = s.server.first_pending(&s.reviewer);
        assert!(
            text.contains(&id)
                && text.contains("reviewers")
                && text.contains(&format!("/ui/requests/{id}"))
                && text.contains("repeating this identical call runs it once"),
            "{text}"
        );
        s.server.approve(&id, &s.reviewer);
        let changed = json!(["call", "echo", {"text": "ho", "count": 3}]);
        let r = client(&s, target, json!([call, call, changed]));
        assert_eq!(r[0]["text"], "hi hi hi", "{}", r[0]);
        assert_eq!(r[1]["isError"], true, "the grant is used once: {}", r[1]);
        assert_eq!(
            r[2]["isError"], true,
            "changed arguments need their own approval: {}",
            r[2]
        );
        assert!(!r[2]["text"].as_str().unwrap().contains(&id), "{}", r[2]);
    }
}

#[test]
fn an_upstream_crash_is_a_clear_error_and_other_sessions_keep_working() {
    let s = start("30s");
    // On stdio, the session's own child process dies; a new session works.
    let r = client(
        &s,
        "fixture",
        json!([["call", "crash", {}], ["call", "echo", {"text": "after"}]]),
    );
    assert!(
        r[0].get("error").is_some() || r[0]["isError"] == true,
        "{}",
        r[0]
    );
    let r = client(&s, "fixture", json!([["call", "echo", {"text": "fine"}]]));
    assert_eq!(r[0]["text"], "fine", "{}", r[0]);
    // Over HTTP, the one upstream server dies: its calls name it, and the
    // other targets keep serving.
    let r = client(
        &s,
        "fixturehttp",
        json!([["call", "crash", {}], ["call", "echo", {"text": "after"}]]),
    );
    let said = r[1].to_string();
    assert!(
        said.contains("upstream MCP server `fixturehttp` is unavailable"),
        "{}",
        said
    );
    let r = client(
        &s,
        "fixture",
        json!([["call", "echo", {"text": "still fine"}]]),
    );
    assert_eq!(r[0]["text"], "still fine", "{}", r[0]);
}

#[test]
fn bad_requests_get_json_rpc_errors_and_no_key_gets_401() {
    let s = start("30s");
    let url = format!("{}/mcp/fixture", s.server.url);
    let http = s.server.client();
    let post = |body: &str, token: Option<&str>| {
        let mut b = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_owned());
        if let Some(t) = token {
            b = b.bearer_auth(t);
        }
        match b.send() {
            Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
            // The server may refuse a huge body before it is all sent.
            Err(e) => (0, e.to_string()),
        }
    };
    let (status, _) = post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, None);
    assert_eq!(status, 401);
    // Invalid JSON is JSON-RPC's parse error (mcp_protocol.rs has the rest).
    let (status, body) = post("{not json", Some(&s.agent));
    assert!(status == 400 && body.contains("-32700"), "{status} {body}");
    // Unknown methods inside a session get -32601: see mcp_protocol.rs.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}}}}"#,
        "x".repeat(8 << 20)
    );
    let (status, body) = post(&huge, Some(&s.agent));
    assert!(
        status == 413 || status == 400 || status == 0,
        "{status} {body}"
    );
    // The server still answers.
    let r = client(
        &s,
        "fixture",
        json!([["call", "echo", {"text": "still here"}]]),
    );
    assert_eq!(r[0]["text"], "still here");
}

#[test]
fn signoff_mcp_serves_a_target_on_stdio_and_the_server_still_gates() {
    let s = start("60s");
    let stdio = format!("stdio:{BIN}:fixture:{}", s.server.url);
    let child = Command::new(python())
        .arg(fixture("client.py"))
        .arg(&stdio)
        .arg(&s.agent)
        .arg(
            json!([
                ["list"],
                ["call", "echo", {"text": "via stdio"}],
                ["call", "delete_repo", {"name": "shop"}],
                ["call", "echo", {"text": "held", "count": 3}],
            ])
            .to_string(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = s.server.first_pending(&s.reviewer);
    s.server.approve(&id, &s.reviewer);
    let r = results(child);
    assert_eq!(r[0]["tools"], json!(["crash", "echo", "lookup_customer"]));
    assert_eq!(r[1]["text"], "via stdio", "{}", r[1]);
    assert_eq!(r[2]["isError"], true, "{}", r[2]);
    assert_eq!(r[3]["text"], "held held held", "{}", r[3]);
}

/// Through `signoff mcp`, a stdio client hears what the server sends while a
/// call is held: progress and the review page, then the hold's end.
#[test]
fn signoff_mcp_relays_progress_and_the_review_page_to_stdio_clients() {
    let s = start("60s");
    let stdio = format!("stdio:{BIN}:fixture:{}", s.server.url);
    let child = Command::new(python())
        .arg(fixture("client.py"))
        .arg(&stdio)
        .arg(&s.agent)
        .arg(json!([["call", "echo", {"text": "relayed", "count": 3}]]).to_string())
        .env("SIGNOFF_TEST_ELICIT", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = s.server.first_pending(&s.reviewer);
    // Past one progress interval (5 s).
    std::thread::sleep(std::time::Duration::from_secs(6));
    s.server.approve(&id, &s.reviewer);
    let r = results(child);
    assert_eq!(r[0]["text"], "relayed relayed relayed", "{}", r[0]);
    assert!(
        r[0]["progress"].as_u64().unwrap() >= 1,
        "progress relayed: {}",
        r[0]
    );
    let elicited = r[0]["elicited"].as_array().unwrap();
    assert_eq!(elicited.len(), 1, "{}", r[0]);
    assert_eq!(elicited[0]["mode"], "url");
    assert!(elicited[0]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/ui/requests/{id}")));
    assert_eq!(r[0]["completed"], json!([id]), "{}", r[0]);
}

#[test]
fn signoff_mcp_with_a_bad_key_fails_the_handshake_clearly() {
    let s = start("30s");
    let out = Command::new(python())
        .arg(fixture("client.py"))
        .arg(format!("stdio:{BIN}:fixture:{}", s.server.url))
        .arg("so_not_a_key")
        .arg("[]")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("fixture"), "{text}");
}

#[test]
fn openai_approval_requests_are_answered_with_signoffs_decision() {
    let s = start("30s");
    let items = json!([
        {"type": "mcp_approval_request", "id": "mcpr_a", "server_label": "fixture", "name": "echo", "arguments": "{\"text\":\"hi\"}"},
        {"type": "mcp_approval_request", "id": "mcpr_b", "server_label": "fixture", "name": "delete_repo", "arguments": "{\"name\":\"shop\"}"},
        {"type": "mcp_approval_request", "id": "mcpr_c", "server_label": "fixture", "name": "echo", "arguments": "{\"text\":\"hi\",\"count\":3}"},
    ]);
    let child = spawn_with_stdin(
        &s.server.url,
        &s.agent,
        &["openai", "approve", "--wait", "1s"],
        &items.to_string(),
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let answers: Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = |i: usize| &answers[i];
    assert_eq!(a(0)["type"], "mcp_approval_response");
    assert_eq!(a(0)["approval_request_id"], "mcpr_a");
    assert_eq!(a(0)["approve"], true, "{answers}");
    assert_eq!(a(1)["approve"], false);
    assert!(
        a(1)["reason"].as_str().unwrap().contains("forbidden"),
        "{answers}"
    );
    assert_eq!(a(2)["approve"], false);
    let id = s.server.first_pending(&s.reviewer);
    assert!(a(2)["reason"].as_str().unwrap().contains(&id), "{answers}");
}

#[test]
fn the_typescript_sdk_works_over_http_and_stdio() {
    let s = start("30s");
    let steps = json!([
        ["list"],
        ["call", "echo", {"text": "from ts", "count": 2}],
        ["call", "delete_repo", {"name": "shop"}],
    ]);
    for endpoint in [
        format!("{}/mcp/fixture", s.server.url),
        format!("{}/mcp/fixturehttp", s.server.url),
        format!("stdio:{BIN}:fixture:{}", s.server.url),
        format!("stdio:{BIN}:fixturehttp:{}", s.server.url),
    ] {
        let r = sdk_results(Sdk::TypeScript, &endpoint, &s.agent, steps.clone());
        assert_eq!(r[0]["server"], "fixture", "{endpoint}");
        assert_eq!(r[1]["tools"], json!(["crash", "echo", "lookup_customer"]));
        assert_eq!(r[2]["text"], "from ts from ts", "{}", r[2]);
        assert_eq!(r[3]["isError"], true, "{}", r[3]);
    }
}

/// The v2 TypeScript SDK negotiates MCP 2026-07-28 through signoff with
/// either kind of target, over HTTP and through `signoff mcp`.
#[test]
fn the_typescript_v2_sdk_negotiates_the_stateless_revision() {
    let s = start("30s");
    let steps = json!([
        ["list"],
        ["call", "echo", {"text": "from v2", "count": 2}],
        ["call", "delete_repo", {"name": "shop"}],
    ]);
    for (endpoint, protocol) in [
        (format!("{}/mcp/fixturehttp", s.server.url), "2026-07-28"),
        (format!("{}/mcp/fixture", s.server.url), "2026-07-28"),
        (
            format!("stdio:{BIN}:fixturehttp:{}", s.server.url),
            "2026-07-28",
        ),
        (
            format!("stdio:{BIN}:fixture:{}", s.server.url),
            "2026-07-28",
        ),
    ] {
        let r = sdk_results(Sdk::TypeScriptV2, &endpoint, &s.agent, steps.clone());
        assert_eq!(
            r[0],
            json!({"server": "fixture", "protocol": protocol}),
            "{endpoint}"
        );
        assert_eq!(r[1]["tools"], json!(["crash", "echo", "lookup_customer"]));
        assert_eq!(r[2]["text"], "from v2 from v2", "{}", r[2]);
        assert_eq!(r[3]["isError"], true, "{}", r[3]);
        assert!(
            r[3]["text"]
                .as_str()
                .unwrap()
                .contains("deleting repositories is forbidden"),
            "{}",
            r[3]
        );
    }
}

#[test]
fn server_everything_from_npm_as_the_upstream() {
    let s = start("30s");
    for sdk in [Sdk::Python, Sdk::TypeScript] {
        let r = sdk_results(
            sdk,
            &format!("{}/mcp/everything", s.server.url),
            &s.agent,
            json!([
                ["list"],
                ["call", "echo", {"message": "hello everything"}],
                ["call", "get-sum", {"a": 1, "b": 2}],
            ]),
        );
        let tools = r[1]["tools"].as_array().unwrap();
        assert!(tools.contains(&json!("echo")), "{tools:?}");
        assert!(
            !tools.contains(&json!("get-sum")),
            "no policy permits get-sum, so it is hidden: {tools:?}"
        );
        assert_eq!(r[2]["isError"], false, "{}", r[2]);
        assert!(
            r[2]["text"].as_str().unwrap().contains("hello everything"),
            "{}",
            r[2]
        );
        assert_eq!(r[3]["isError"], true, "{}", r[3]);
    }
}

/// MCP 2026-07-28 has no session: each request carries its revision and
/// the client's capabilities. The SDK's own negotiation picks it through
/// signoff for either kind of target and through `signoff mcp`, and every
/// gate applies as in a session: hidden tools, denials, masking, a hold
/// that runs out, the grant used once and changed arguments asking anew.
/// A stdio target's requests share one upstream process per principal.
#[test]
fn the_stateless_revision_is_gated_like_a_session() {
    for target in ["fixturehttp", "fixture", "bridge:fixture"] {
        let s = start("1s");
        let greeting_and_steps =
            |steps: Value| greeted(spawn_client_with(&s, target, steps, &NEGOTIATED));
        let loud = json!(["call", "echo", {"text": "hi", "count": 3}]);
        let mut steps = gated_steps();
        steps.push(loud.clone());
        let (greeting, r) = greeting_and_steps(Value::Array(steps));
        assert_eq!(
            greeting,
            json!({"server": "fixture", "protocol": "2026-07-28"}),
            "{target}"
        );
        gated_as_expected(&r);
        let id = s.server.first_pending(&s.reviewer);
        let timed_out = r[4]["text"].as_str().unwrap();
        assert!(
            r[4]["isError"] == true
                && timed_out.contains(&id)
                && timed_out.contains("repeating this identical call runs it once"),
            "{}",
            r[4]
        );
        s.server.approve(&id, &s.reviewer);
        let changed = json!(["call", "echo", {"text": "ho", "count": 3}]);
        let (_, r) = greeting_and_steps(json!([loud, loud, changed]));
        assert_eq!(r[0]["text"], "hi hi hi", "{}", r[0]);
        assert_eq!(r[1]["isError"], true, "the grant is used once: {}", r[1]);
        assert!(
            !r[2]["text"].as_str().unwrap().contains(&id),
            "a new request: {}",
            r[2]
        );
        // Each call is audited as in a session, with its arguments.
        let (_, audit) = s.server.get("/v1/audit?limit=200", &s.reviewer);
        let name = target.trim_start_matches("bridge:");
        let decided = audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "action.decided" && e["target"] == name)
            .count();
        assert_eq!(decided, 7, "{target}: {audit}");
        if target == "fixture" {
            // Two clients' requests, one upstream process; one that exits
            // is replaced on the next request.
            assert_eq!(s.upstream_starts(), 1);
            let (_, r) = greeting_and_steps(json!([
                ["call", "crash", {}],
                ["call", "echo", {"text": "again"}],
            ]));
            assert!(
                r[0].get("error").is_some() || r[0]["isError"] == true,
                "{}",
                r[0]
            );
            assert_eq!(r[1]["text"], "again", "{}", r[1]);
            assert_eq!(s.upstream_starts(), 2);
        }
    }
}

/// URL-mode elicitation in MCP 2026-07-28, which sends clients no requests:
/// a held call is first answered with the review page as an input request
/// (`input_required`); the client shows it and retries with its answer, and
/// that retry is held for the reviewer, on the same request. Through
/// `signoff mcp` too, which speaks the revision to the server behind it.
#[test]
fn a_stateless_call_shows_the_review_page_as_an_input_request() {
    for target in [
        "fixturehttp",
        "fixture",
        "bridge:fixturehttp",
        "bridge:fixture",
    ] {
        let s = start("60s");
        let env = [NEGOTIATED[0], ("SIGNOFF_TEST_ELICIT", "1")];
        let (id, _) = review_page_shown(&s, target, &env);
        // The retry joined the one request and used its grant once.
        let (_, all) = s.server.get("/v1/approvals", &s.reviewer);
        assert_eq!(all["approvals"].as_array().unwrap().len(), 1, "{all}");
        let (_, v) = s.server.get(&format!("/v1/approvals/{id}"), &s.reviewer);
        assert_eq!(v["grant"]["uses"], 1, "{target}: {v}");
    }
}
