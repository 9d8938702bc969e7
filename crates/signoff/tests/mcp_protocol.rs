//! The MCP front door at the protocol level, in front of a real upstream
//! written with rmcp (`examples/mcp_upstream.rs`), spoken to as raw JSON-RPC
//! over streamable HTTP and over `signoff mcp`'s stdio: results identical to
//! a direct call, pass-through of lists, resources and prompts, spec error
//! codes for bad input, cancellation (a cancelled hold never runs; a
//! cancelled forwarded call is cancelled upstream), and outcomes audited.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const POLICY: &str = r#"
@id("fixture-tools")
permit (principal, action == Action::"mcp_tool", resource)
when { ["echo", "slow", "lookup_customer"].contains(context.mcp.tool) }
unless { context.mcp.arguments like "*\"count\":3*" };

@id("loud-echo-needs-approval")
@approval("required") @approvals("1") @reviewers("reviewers") @ttl("1h")
permit (principal, action == Action::"mcp_tool", resource)
when { context.mcp.tool == "echo" && context.mcp.arguments like "*\"count\":3*" };

@id("no-repo-deletes")
@reason("deleting repositories is forbidden through signoff")
forbid (principal, action == Action::"mcp_tool", resource)
when { context.mcp.tool == "delete_repo" };
"#;

/// The rmcp fixture built beside the binary (`cargo test` builds examples).
fn fixture_bin() -> PathBuf {
    let path = Path::new(BIN)
        .parent()
        .unwrap()
        .join("examples")
        .join("mcp_upstream");
    assert!(
        path.exists(),
        "{} is missing: run the suite with ./test (cargo test builds examples)",
        path.display()
    );
    path
}

struct Setup {
    server: Server,
    agent: String,
    reviewer: String,
    /// The fixture over HTTP, reached directly.
    direct: String,
    upstream_log: PathBuf,
    _upstream: Kill,
    _dir: tempfile::TempDir,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let upstream_log = d.join("upstream.log");
    let port = free_port();
    let upstream = Command::new(fixture_bin())
        .args(["--http", &port.to_string()])
        .env("MCP_UPSTREAM_LOG", &upstream_log)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let direct = format!("http://127.0.0.1:{port}/mcp");
    let locked = locked_upstream();
    let lingering = lingering_upstream();
    std::fs::create_dir_all(d.join("policies")).unwrap();
    std::fs::write(d.join("policies/mcp.cedar"), POLICY).unwrap();
    let config = d.join("signoff.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
data_dir = "data"
max_body_bytes = 1048576
[policy]
dir = "policies"
[approvals]
max_hold = "30s"
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
name = "rust"
kind = "mcp"
url = "{direct}"
headers = {{ x-fixture-key = "held-by-signoff" }}
[[targets]]
name = "rustmasked"
kind = "mcp"
url = "{direct}"
masking = {{ results = true }}
[[targets]]
name = "locked"
kind = "mcp"
url = "{locked}"
[[targets]]
name = "lingering"
kind = "mcp"
url = "{lingering}"
[[targets]]
name = "ruststdio"
kind = "mcp"
command = [{bin:?}]
"#,
            bin = fixture_bin().to_str().unwrap(),
        ),
    )
    .unwrap();
    let key = |principal: &str| create_key(d, &config, principal);
    let (agent, reviewer) = (key("agent:bot"), key("user:rita"));
    let server = Server::with_config_env(
        d,
        &config,
        &[("MCP_UPSTREAM_LOG", upstream_log.to_str().unwrap())],
    );
    let setup = Setup {
        server,
        agent,
        reviewer,
        direct,
        upstream_log,
        _upstream: Kill(upstream),
        _dir: dir,
    };
    let started = Instant::now();
    while Session::try_open(&setup.direct, None).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "fixture did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    setup
}

/// One raw streamable-HTTP MCP session.
struct Session {
    http: reqwest::blocking::Client,
    url: String,
    token: Option<String>,
    id: Option<String>,
}

/// The JSON-RPC messages of a response body: JSON, or SSE `data:` lines.
fn messages(body: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return vec![v];
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str(d.trim()).ok())
        .collect()
}

impl Session {
    fn try_open(url: &str, token: Option<&str>) -> Option<Session> {
        let mut s = Session {
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            url: url.to_owned(),
            token: token.map(str::to_owned),
            id: None,
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}});
        let r = s.post(&init.to_string()).ok()?;
        s.id = r.2;
        assert!(r.1[0]["result"]["protocolVersion"].is_string(), "{:?}", r.1);
        s.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
            .ok()?;
        Some(s)
    }

    fn open(url: &str, token: Option<&str>) -> Session {
        Session::try_open(url, token).expect("MCP session")
    }

    /// POSTs one body; the status, the messages, the session id.
    fn post(&self, body: &str) -> Result<(u16, Vec<Value>, Option<String>), reqwest::Error> {
        let mut b = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .body(body.to_owned());
        if let Some(t) = &self.token {
            b = b.bearer_auth(t);
        }
        if let Some(id) = &self.id {
            b = b.header("mcp-session-id", id);
        }
        let r = b.send()?;
        let status = r.status().as_u16();
        let id = r
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((status, messages(&r.text()?), id))
    }

    /// A request's answer (the message carrying `id`).
    fn request(&self, id: u64, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let (status, msgs, _) = self.post(&body.to_string()).unwrap();
        assert!(status < 300, "{method}: {status} {msgs:?}");
        msgs.into_iter()
            .find(|m| m["id"] == json!(id))
            .unwrap_or_else(|| panic!("no answer to {method}"))
    }
}

fn call(tool: &str, args: Value) -> Value {
    json!({"name": tool, "arguments": args})
}

#[test]
fn results_lists_resources_and_prompts_pass_through_unchanged() {
    let s = start();
    let direct = Session::open(&s.direct, None);
    let gated = Session::open(&format!("{}/mcp/rust", s.server.url), Some(&s.agent));
    let args = json!({"text": "ping", "count": 2});
    let a = direct.request(1, "tools/call", call("echo", args.clone()));
    let b = gated.request(1, "tools/call", call("echo", args));
    assert_eq!(
        serde_json::to_string(&a["result"]).unwrap(),
        serde_json::to_string(&b["result"]).unwrap(),
        "the result through signoff is the upstream's, key order included"
    );
    assert_eq!(b["result"]["structuredContent"]["text"], "ping ping");

    // Descriptions and annotations pass through; only the tools policy
    // always denies are gone: `delete_repo` (forbidden), `crash` (no permit).
    let listed =
        |sess: &Session| sess.request(2, "tools/list", json!({}))["result"]["tools"].clone();
    let mut expected: Vec<Value> = listed(&direct).as_array().unwrap().clone();
    let delete = expected
        .iter()
        .position(|t| t["name"] == "delete_repo")
        .unwrap();
    assert_eq!(expected[delete]["annotations"]["destructiveHint"], true);
    expected.retain(|t| t["name"] != "delete_repo" && t["name"] != "crash");
    assert_eq!(listed(&gated), Value::Array(expected));

    for (method, params) in [
        ("resources/list", json!({})),
        ("resources/read", json!({"uri": "fixture://readme"})),
        ("prompts/list", json!({})),
        ("prompts/get", json!({"name": "greet"})),
        ("ping", json!({})),
    ] {
        assert_eq!(
            direct.request(3, method, params.clone())["result"],
            gated.request(3, method, params)["result"],
            "{method}"
        );
    }
    // An upstream error comes back as that error, not a hang.
    let missing = gated.request(4, "resources/read", json!({"uri": "fixture://nope"}));
    assert!(
        missing["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{missing}"
    );
}

#[test]
fn bad_json_rpc_gets_spec_error_codes_over_http() {
    let s = start();
    let gated = Session::open(&format!("{}/mcp/rust", s.server.url), Some(&s.agent));
    let cases: &[(&str, u16, i64, Value)] = &[
        ("{not json", 400, -32700, Value::Null),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            400,
            -32600,
            Value::Null,
        ),
        (r#"{"jsonrpc":"2.0","id":9}"#, 400, -32600, json!(9)),
        (
            r#"{"jsonrpc":"1.0","id":10,"method":"ping"}"#,
            400,
            -32600,
            json!(10),
        ),
        ("\"just a string\"", 400, -32600, Value::Null),
    ];
    for (body, status, code, id) in cases {
        let (got, msgs, _) = gated.post(body).unwrap();
        assert_eq!(got, *status, "{body}: {msgs:?}");
        assert_eq!(msgs[0]["error"]["code"], *code, "{body}: {msgs:?}");
        assert_eq!(msgs[0]["id"], *id, "{body}");
    }
    let unknown = gated.request(11, "no/such/method", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    // A call the gate cannot read is refused as invalid params, not forwarded.
    for params in [
        json!({}),
        json!({"name": 7}),
        json!({"name": "echo", "arguments": 5}),
    ] {
        let bad = gated.request(14, "tools/call", params.clone());
        assert_eq!(bad["error"]["code"], -32602, "{params}: {bad}");
    }
    let huge = json!({"jsonrpc": "2.0", "id": 12, "method": "tools/call",
        "params": call("echo", json!({"text": "x".repeat(2 << 20)}))});
    match gated.post(&huge.to_string()) {
        Ok((status, msgs, _)) => {
            assert_eq!(status, 413, "{msgs:?}");
            assert_eq!(msgs[0]["error"]["code"], -32600);
        }
        // The server may refuse before the whole body is sent.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // The session still works, and nothing reached the upstream's tools.
    let ok = gated.request(13, "tools/call", call("echo", json!({"text": "still"})));
    assert_eq!(ok["result"]["structuredContent"]["text"], "still", "{ok}");
}

#[test]
fn bad_json_rpc_gets_spec_error_codes_over_stdio() {
    let s = start();
    let mut child = Command::new(BIN)
        .args(["mcp", "--server", "ruststdio"])
        .env("SIGNOFF_URL", &s.server.url)
        .env("SIGNOFF_TOKEN", &s.agent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}})
        .to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        "{not json".into(),
        r#"{"jsonrpc":"2.0","id":2}"#.into(),
        format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"ping","params":{{"pad":"{}"}}}}"#,
            "x".repeat(17 << 20)
        ),
        r#"{"jsonrpc":"2.0","id":4,"method":"no/such/method"}"#.into(),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": call("echo", json!({"text": "via stdio"}))})
        .to_string(),
    ];
    let writer = std::thread::spawn(move || {
        for l in lines {
            stdin.write_all(l.as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
        stdin
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let answers = read_until_answer(&mut out, 5);
    let _stdin = writer.join().unwrap();
    let code = |pred: &dyn Fn(&Value) -> bool| {
        answers
            .iter()
            .find(|a| pred(a))
            .map(|a| a["error"]["code"].clone())
    };
    assert_eq!(
        code(&|a| a["id"].is_null() && a["error"]["code"] == -32700),
        Some(json!(-32700))
    );
    assert_eq!(code(&|a| a["id"] == 2), Some(json!(-32600)), "{answers:?}");
    assert!(
        answers.iter().any(|a| a["id"].is_null()
            && a["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("limit")),
        "the oversized line is refused: {answers:?}"
    );
    assert_eq!(code(&|a| a["id"] == 4), Some(json!(-32601)), "{answers:?}");
    let echoed = answers.iter().find(|a| a["id"] == 5).unwrap();
    assert_eq!(
        echoed["result"]["structuredContent"]["text"], "via stdio",
        "{echoed}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// The messages `signoff mcp` writes, one per line, up to the answer to `id`.
fn read_until_answer(out: &mut impl BufRead, id: u64) -> Vec<Value> {
    let mut answers: Vec<Value> = Vec::new();
    let mut line = String::new();
    while !answers.iter().any(|a| a["id"] == id) {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "stdout closed: {answers:?}"
        );
        answers.push(serde_json::from_str(&line).unwrap());
    }
    answers
}

/// Approves `id`, gives a held call that would wrongly run time to, and
/// returns the request as it then stands.
fn approve_and_settle(s: &Setup, id: &str) -> Value {
    s.server.approve(id, &s.reviewer);
    std::thread::sleep(Duration::from_millis(300));
    s.server.get(&format!("/v1/approvals/{id}"), &s.reviewer).1
}

/// Sends `tools/call` with `params` on `session`, approves the request it
/// opens while the call is held, and returns the answer and the request id.
fn call_approved_while_held(
    s: &Setup,
    session: &std::sync::Arc<Session>,
    id: u64,
    params: Value,
) -> (Value, String) {
    let held = {
        let session = session.clone();
        std::thread::spawn(move || session.request(id, "tools/call", params))
    };
    let request = s.server.first_pending(&s.reviewer);
    s.server.approve(&request, &s.reviewer);
    (held.join().unwrap(), request)
}

fn audit(s: &Setup) -> Vec<Value> {
    let (_, v) = s.server.get("/v1/audit?limit=1000", &s.reviewer);
    v["events"].as_array().unwrap().clone()
}

#[test]
fn a_cancelled_hold_never_runs_and_a_cancelled_call_is_cancelled_upstream() {
    let s = start();
    let url = format!("{}/mcp/rust", s.server.url);
    let gated = std::sync::Arc::new(Session::open(&url, Some(&s.agent)));

    // A held call, cancelled by the client, then approved: it must not run.
    let held = {
        let g = gated.clone();
        std::thread::spawn(move || {
            let body = json!({"jsonrpc": "2.0", "id": 21, "method": "tools/call",
                "params": call("echo", json!({"text": "late", "count": 3}))});
            g.post(&body.to_string()).unwrap()
        })
    };
    let id = s.server.first_pending(&s.reviewer);
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 21, "reason": "changed my mind"}});
    assert_eq!(gated.post(&cancel.to_string()).unwrap().0, 202);
    let (_, answer, _) = held.join().unwrap();
    assert!(
        !answer
            .iter()
            .any(|m| m["result"]["structuredContent"]["text"] == "late late late"),
        "{answer:?}"
    );
    let r = approve_and_settle(&s, &id);
    assert_eq!(r["status"], "approved", "nobody used the grant: {r}");
    assert_eq!(r["grant"]["uses"], 0, "{r}");

    // A client that gives up on a held call's stream has cancelled it too.
    let impatient = Session {
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
        url: url.clone(),
        token: Some(s.agent.clone()),
        id: gated.id.clone(),
    };
    let body = json!({"jsonrpc": "2.0", "id": 23, "method": "tools/call",
        "params": call("echo", json!({"text": "gone", "count": 3}))});
    assert!(
        impatient.post(&body.to_string()).is_err(),
        "the hold outlasts 2 s"
    );
    let gone = s.server.first_pending(&s.reviewer);
    let r = approve_and_settle(&s, &gone);
    assert_eq!(
        r["grant"]["uses"], 0,
        "a call nobody waits for does not run: {r}"
    );

    // A forwarded call cancelled mid-flight: the upstream hears of it, and
    // the audit says how it ended.
    let slow = {
        let g = gated.clone();
        std::thread::spawn(move || {
            let body = json!({"jsonrpc": "2.0", "id": 22, "method": "tools/call",
                "params": call("slow", json!({"ms": 20000}))});
            g.post(&body.to_string()).unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 22}});
    assert_eq!(gated.post(&cancel.to_string()).unwrap().0, 202);
    let started = Instant::now();
    let _ = slow.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the cancelled call ended early"
    );
    let started = Instant::now();
    loop {
        let log = std::fs::read_to_string(&s.upstream_log).unwrap_or_default();
        if log.contains("slow cancelled") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "upstream log: {log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = Instant::now();
    loop {
        let executed: Vec<Value> = audit(&s)
            .into_iter()
            .filter(|e| e["kind"] == "action.executed")
            .collect();
        if executed.iter().any(|e| {
            e["details"]["detail"]
                .as_str()
                .unwrap_or("")
                .contains("cancelled")
        }) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{executed:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Through `signoff mcp` in the stateless revision (no `initialize`), a
/// held call the client cancels never runs once approved, on either kind of
/// target: the bridge's request to the server ends with it.
#[test]
fn a_cancelled_stateless_hold_through_the_bridge_never_runs() {
    let s = start();
    for target in ["rust", "ruststdio"] {
        let mut child = Command::new(BIN)
            .args(["mcp", "--server", target])
            .env("SIGNOFF_URL", &s.server.url)
            .env("SIGNOFF_TOKEN", &s.agent)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut send = |message: Value| {
            stdin.write_all(message.to_string().as_bytes()).unwrap();
            stdin.write_all(b"\n").unwrap();
            stdin.flush().unwrap();
        };
        let text = format!("late from {target}");
        send(enveloped(
            1,
            "tools/call",
            call("echo", json!({"text": text, "count": 3})),
        ));
        let id = s.server.first_pending(&s.reviewer);
        let mut cancel = enveloped(0, "notifications/cancelled", json!({"requestId": 1}));
        cancel.as_object_mut().unwrap().remove("id");
        send(cancel);
        // Whatever the bridge answers for the cancelled call, it is not the result.
        send(enveloped(
            2,
            "tools/call",
            call("echo", json!({"text": "after"})),
        ));
        let answers = read_until_answer(&mut out, 2);
        let after = answers.iter().find(|a| a["id"] == 2).unwrap();
        assert_eq!(
            after["result"]["structuredContent"]["text"], "after",
            "{after}"
        );
        let r = approve_and_settle(&s, &id);
        assert_eq!(
            r["status"], "approved",
            "{target}: nobody used the grant: {r}"
        );
        assert_eq!(r["grant"]["uses"], 0, "{target}: {r}");
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[test]
fn outcomes_are_audited_and_an_approved_call_ends_executed() {
    let s = start();
    let gated = std::sync::Arc::new(Session::open(
        &format!("{}/mcp/ruststdio", s.server.url),
        Some(&s.agent),
    ));
    let ok = gated.request(31, "tools/call", call("echo", json!({"text": "one"})));
    assert_eq!(ok["result"]["isError"], false, "{ok}");
    let (answer, id) = call_approved_while_held(
        &s,
        &gated,
        32,
        call("echo", json!({"text": "two", "count": 3})),
    );
    assert_eq!(
        answer["result"]["structuredContent"]["text"], "two two two",
        "{answer}"
    );
    let started = Instant::now();
    loop {
        let (_, r) = s.server.get(&format!("/v1/approvals/{id}"), &s.reviewer);
        let events = audit(&s);
        let executed = events
            .iter()
            .filter(|e| e["kind"] == "action.executed" && e["details"]["succeeded"] == true)
            .count();
        if r["status"] == "executed" && executed == 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{r} {events:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reviewers of a held call read what the tool says of itself, as the
/// upstream's last `tools/list` said it (learnt by another session of the
/// target, too), labelled as its claim; the claim lets nothing through.
#[test]
fn a_held_calls_reviewers_see_the_tools_annotations() {
    let s = start();
    for target in ["rust", "ruststdio"] {
        let url = format!("{}/mcp/{target}", s.server.url);
        let lister = Session::open(&url, Some(&s.agent));
        let tools = lister.request(1, "tools/list", json!({}))["result"]["tools"].clone();
        let echo = tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "echo")
            .unwrap()
            .clone();
        assert_eq!(echo["annotations"]["readOnlyHint"], true, "{echo}");
        // Another session's call: `readOnlyHint` does not stop the hold.
        let caller = std::sync::Arc::new(Session::open(&url, Some(&s.agent)));
        let (answer, id) = call_approved_while_held(
            &s,
            &caller,
            2,
            call("echo", json!({"text": target, "count": 3})),
        );
        assert_eq!(answer["result"]["isError"], false, "{answer}");
        let (_, request) = s.server.get(&format!("/v1/approvals/{id}"), &s.reviewer);
        assert_eq!(
            request["annotations"], echo["annotations"],
            "{target}: {request}"
        );
        let created = audit(&s)
            .into_iter()
            .find(|e| e["kind"] == "request.created" && e["approval_id"] == id.as_str())
            .unwrap();
        assert_eq!(
            created["details"]["annotations"], echo["annotations"],
            "{created}"
        );
    }
    // A tool no list has named: the call is gated as ever, with nothing to show.
    let url = format!("{}/mcp/rustmasked", s.server.url);
    let unlisted = std::sync::Arc::new(Session::open(&url, Some(&s.agent)));
    let (_, id) = call_approved_while_held(
        &s,
        &unlisted,
        3,
        call("echo", json!({"text": "unlisted", "count": 3})),
    );
    let (_, request) = s.server.get(&format!("/v1/approvals/{id}"), &s.reviewer);
    assert!(request.get("annotations").is_none(), "{request}");
}

/// A spliced session belongs to whoever started it, and the upstream sees
/// signoff's held credentials, never the agent's key.
#[test]
fn sessions_are_bound_to_their_principal_and_credentials_stay_with_signoff() {
    let s = start();
    let url = format!("{}/mcp/rust", s.server.url);
    let gated = Session::open(&url, Some(&s.agent));
    let ok = gated.request(1, "tools/call", call("echo", json!({"text": "mine"})));
    assert_eq!(ok["result"]["structuredContent"]["text"], "mine", "{ok}");

    // The reviewer holds a valid key, but not this session.
    let stolen = Session {
        http: reqwest::blocking::Client::new(),
        url: url.clone(),
        token: Some(s.reviewer.clone()),
        id: gated.id.clone(),
    };
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": call("echo", json!({"text": "theirs"}))});
    let (status, msgs, _) = stolen.post(&body.to_string()).unwrap();
    assert_eq!(status, 404, "{msgs:?}");
    assert!(msgs[0]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not yours"));
    // Without a session only `initialize` is taken.
    let (status, msgs, _) = Session { id: None, ..stolen }
        .post(&body.to_string())
        .unwrap();
    assert_eq!(
        (status, &msgs[0]["error"]["code"]),
        (400, &json!(-32600)),
        "{msgs:?}"
    );

    let log = std::fs::read_to_string(&s.upstream_log).unwrap();
    let via_signoff: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("x-fixture-key=held-by-signoff"))
        .collect();
    assert!(
        via_signoff.len() >= 3,
        "initialize, initialized, the call: {log}"
    );
    for line in via_signoff {
        assert!(line.contains("authorization=-"), "{line}");
    }
    assert!(
        !log.contains(&s.agent) && !log.contains(&s.reviewer),
        "{log}"
    );
}

/// The rest of streamable HTTP through the splice: the GET stream, DELETE
/// ending the session, other methods refused, and the `Host` check.
#[test]
fn the_spliced_session_streams_ends_and_checks_its_host() {
    let s = start();
    let url = format!("{}/mcp/rust", s.server.url);
    let gated = Session::open(&url, Some(&s.agent));
    let id = gated.id.clone().expect("a session id");
    let http = reqwest::blocking::Client::new();
    let with = |b: reqwest::blocking::RequestBuilder| {
        b.bearer_auth(&s.agent).header("mcp-session-id", &id)
    };
    // The upstream's stream of server messages, opened through signoff.
    let stream = with(http.get(&url))
        .header("accept", "text/event-stream")
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    drop(stream);

    let put = with(http.put(&url)).send().unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()["allow"], "GET, POST, DELETE");
    let rebinding = with(http.post(&url))
        .header("host", "evil.example")
        .header("content-type", "application/json")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string())
        .send()
        .unwrap();
    assert_eq!(rebinding.status(), 403);

    let ended = with(http.delete(&url)).send().unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    let body = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let (status, msgs, _) = gated.post(&body.to_string()).unwrap();
    assert_eq!(status, 404, "an ended session is gone: {msgs:?}");
}

/// An upstream that refuses every request with 401, as one does whose
/// credentials in signoff.toml are wrong.
fn locked_upstream() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    url
}

/// An upstream that answers `tools/call` on an event stream it then keeps
/// open, which the spec says a server should close after the answer; the
/// rest in JSON with Content-Length, on keep-alive connections.
fn lingering_upstream() -> String {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = Vec::new();
                // More bytes into `buf`; false once the peer is gone.
                let fill = |stream: &mut std::net::TcpStream, buf: &mut Vec<u8>| {
                    let mut more = [0u8; 65536];
                    match stream.read(&mut more) {
                        Ok(0) | Err(_) => false,
                        Ok(n) => {
                            buf.extend_from_slice(&more[..n]);
                            true
                        }
                    }
                };
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        if !fill(&mut stream, &mut buf) {
                            return;
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < end + 4 + length {
                        if !fill(&mut stream, &mut buf) {
                            return;
                        }
                    }
                    let body: Value =
                        serde_json::from_slice(&buf[end + 4..end + 4 + length]).unwrap_or_default();
                    buf.drain(..end + 4 + length);
                    let id = body["id"].clone();
                    let reply = match body["method"].as_str() {
                        Some("initialize") => json!({"jsonrpc": "2.0", "id": id, "result": {
                            "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                            "serverInfo": {"name": "lingering", "version": "1"}}}),
                        Some("tools/call") => {
                            let event = format!(
                                "data: {}\n\n",
                                json!({"jsonrpc": "2.0", "id": id, "result": {
                                    "content": [{"type": "text", "text": "answered"}]}})
                            );
                            let _ = stream.write_all(
                                format!(
                                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
                                    event.len()
                                )
                                .as_bytes(),
                            );
                            // The stream stays open; no last chunk.
                            std::thread::sleep(Duration::from_secs(300));
                            return;
                        }
                        _ => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n");
                            continue;
                        }
                    };
                    let text = reply.to_string();
                    let _ = stream.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: up-1\r\ncontent-length: {}\r\n\r\n{text}",
                            text.len()
                        )
                        .as_bytes(),
                    );
                }
            });
        }
    });
    url
}

/// A call's answer ends the agent's response at once, in the same write,
/// even when the upstream leaves its stream open, for a forwarded call and
/// a held one: a client that stops reading at the answer (as the Python SDK
/// does) keeps a reusable connection, and no client waits on an upstream
/// that never closes. JSON answers keep their Content-Length likewise.
#[test]
fn a_calls_response_ends_with_its_answer_and_lengths_pass() {
    let s = start();
    let url = format!("{}/mcp/lingering", s.server.url);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let r = http
        .post(&url)
        .bearer_auth(&s.agent)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let length = r.content_length();
    let session = Session {
        http,
        url,
        token: Some(s.agent.clone()),
        id: r
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned()),
    };
    let body = r.text().unwrap();
    assert_eq!(length, Some(body.len() as u64), "{body}");

    // Without the fix this read waits for the upstream's 300 s and fails
    // on the client's 60 s timeout.
    let answer = session.request(1, "tools/call", call("echo", json!({"text": "x"})));
    assert_eq!(
        answer["result"]["content"][0]["text"], "answered",
        "{answer}"
    );

    // A held call's stream, approved while it waits, ends with the answer too.
    let session = std::sync::Arc::new(session);
    let (answer, _) = call_approved_while_held(
        &s,
        &session,
        2,
        call("echo", json!({"text": "x", "count": 3})),
    );
    assert_eq!(
        answer["result"]["content"][0]["text"], "answered",
        "{answer}"
    );

    let started = Instant::now();
    loop {
        let executed: Vec<Value> = audit(&s)
            .into_iter()
            .filter(|e| e["kind"] == "action.executed" && e["target"] == "lingering")
            .collect();
        if executed.len() == 2 {
            assert!(
                executed.iter().all(|e| e["details"]["succeeded"] == true),
                "{executed:?}"
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{executed:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The upstream refusing signoff's own credentials is the operator's to fix:
/// the agent reads so, and never gets a 401 that would start its OAuth flow.
#[test]
fn an_upstream_refusing_signoffs_credentials_is_named_not_relayed() {
    let s = start();
    let url = format!("{}/mcp/locked", s.server.url);
    let plain = Session {
        http: reqwest::blocking::Client::new(),
        url,
        token: Some(s.agent.clone()),
        id: None,
    };
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let (status, msgs, _) = plain.post(&init.to_string()).unwrap();
    assert_eq!(status, 200, "{msgs:?}");
    let text = msgs[0]["error"]["message"].as_str().unwrap();
    assert!(
        text.contains("`locked` refused signoff's credentials (HTTP 401)")
            && text.contains("headers"),
        "{text}"
    );
}

/// Masking over an upstream that answers in SSE (with a priming event
/// first): the answer is masked, the rest of the stream kept.
#[test]
fn results_from_an_sse_upstream_are_masked() {
    let s = start();
    let gated = Session::open(&format!("{}/mcp/rustmasked", s.server.url), Some(&s.agent));
    let r = gated.request(
        1,
        "tools/call",
        call("lookup_customer", json!({"email": "alice@example.com"})),
    );
    let text = r["result"].to_string();
    assert!(
        !text.contains("alice@example.com") && text.contains("[EMAIL]"),
        "{r}"
    );
    // Unmasked through the plain target, so the masking is signoff's.
    let plain = Session::open(&format!("{}/mcp/rust", s.server.url), Some(&s.agent));
    let r = plain.request(
        1,
        "tools/call",
        call("lookup_customer", json!({"email": "alice@example.com"})),
    );
    assert!(r["result"].to_string().contains("alice@example.com"), "{r}");
}

/// One raw request of the stateless revision (MCP 2026-07-28): the
/// envelope in `_meta`, the routing headers mirroring the body, no session;
/// `headers` replaces any of them. The status and the messages.
fn stateless(
    url: &str,
    token: Option<&str>,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Vec<Value>) {
    let mut routing = vec![("mcp-protocol-version", "2026-07-28")];
    if let Some(method) = body["method"].as_str() {
        routing.push(("mcp-method", method));
    }
    // A tool's or prompt's name, or a resource's URI.
    let name = body.pointer("/params/name").or(body.pointer("/params/uri"));
    if let Some(name) = name.and_then(Value::as_str) {
        routing.push(("mcp-name", name));
    }
    let mut b = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    for (name, value) in routing {
        if !headers.iter().any(|(n, _)| *n == name) {
            b = b.header(name, value);
        }
    }
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    if let Some(t) = token {
        b = b.bearer_auth(t);
    }
    let r = b.send().unwrap();
    (r.status().as_u16(), messages(&r.text().unwrap()))
}

fn enveloped(id: u64, method: &str, mut params: Value) -> Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    });
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

#[test]
fn stateless_requests_pass_unchanged_and_an_envelope_that_disagrees_is_refused() {
    let s = start();
    let gated = format!("{}/mcp/rust", s.server.url);
    let agent = Some(s.agent.as_str());
    let echo = enveloped(
        1,
        "tools/call",
        call("echo", json!({"text": "ping", "count": 2})),
    );
    let (status, direct) = stateless(&s.direct, None, &echo, &[]);
    assert_eq!(status, 200, "{direct:?}");
    let (status, through) = stateless(&gated, agent, &echo, &[]);
    assert_eq!(status, 200, "{through:?}");
    let answer = |msgs: &[Value]| msgs.iter().find(|m| m["id"] == 1).unwrap()["result"].to_string();
    assert_eq!(
        answer(&direct),
        answer(&through),
        "the upstream's result, key order included"
    );
    let (_, listed) = stateless(&gated, agent, &enveloped(2, "tools/list", json!({})), &[]);
    let names: Vec<&str> = listed[0]["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    // One caller's list now: no shared cache may keep it for another.
    let (_, direct_list) = stateless(&s.direct, None, &enveloped(2, "tools/list", json!({})), &[]);
    assert_eq!(
        direct_list[0]["result"]["cacheScope"], "public",
        "{direct_list:?}"
    );
    assert_eq!(listed[0]["result"]["cacheScope"], "private", "{listed:?}");
    assert_eq!(listed[0]["result"]["ttlMs"], 60_000);
    assert!(
        names.contains(&"echo") && !names.contains(&"delete_repo"),
        "{names:?}"
    );

    let delete = enveloped(
        3,
        "tools/call",
        call("delete_repo", json!({"name": "shop"})),
    );
    let unsupported = {
        let mut e = echo.clone();
        e["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2027-01-01");
        e
    };
    let bare = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": call("echo", json!({"text": "x"}))});
    let cases = [
        // A header-routing hop would send this to `echo`; the body deletes.
        (
            "name header hides the tool",
            &delete,
            ("mcp-name", "echo"),
            -32020,
        ),
        (
            "name header names another tool",
            &echo,
            ("mcp-name", "delete_repo"),
            -32020,
        ),
        (
            "method header differs",
            &echo,
            ("mcp-method", "tools/list"),
            -32020,
        ),
        (
            "version header differs",
            &echo,
            ("mcp-protocol-version", "2026-12-01"),
            -32020,
        ),
        (
            "a revision signoff does not know",
            &unsupported,
            ("mcp-protocol-version", "2027-01-01"),
            -32022,
        ),
        ("no envelope", &bare, ("mcp-name", "echo"), -32602),
    ];
    for (what, body, header, code) in cases {
        let (status, msgs) = stateless(&gated, agent, body, &[header]);
        assert_eq!(
            (status, &msgs[0]["error"]["code"]),
            (400, &json!(code)),
            "{what}: {msgs:?}"
        );
        assert_eq!(msgs[0]["id"], body["id"], "{what}");
    }
    let (_, msgs) = stateless(
        &gated,
        agent,
        &unsupported,
        &[("mcp-protocol-version", "2027-01-01")],
    );
    assert_eq!(
        msgs[0]["error"]["data"]["supported"],
        json!([
            "2024-11-05",
            "2025-03-26",
            "2025-06-18",
            "2025-11-25",
            "2026-07-28"
        ]),
        "{msgs:?}"
    );
    // A call in a notification's shape cannot be gated and answered.
    let mut note = echo.clone();
    note.as_object_mut().unwrap().remove("id");
    let (status, msgs) = stateless(&gated, agent, &note, &[]);
    assert_eq!(
        (status, &msgs[0]["error"]["code"]),
        (400, &json!(-32600)),
        "{msgs:?}"
    );
    // This revision sends clients no requests, so it takes no responses.
    let (status, msgs) = stateless(
        &gated,
        agent,
        &json!({"jsonrpc": "2.0", "id": 5, "result": {}}),
        &[("mcp-method", "")],
    );
    assert_eq!(
        (status, &msgs[0]["error"]["code"]),
        (400, &json!(-32600)),
        "{msgs:?}"
    );
    // Only the one allowed call was decided: the refused ones never reached the gate.
    let decided: Vec<Value> = audit(&s)
        .into_iter()
        .filter(|e| e["kind"] == "action.decided")
        .map(|e| e["payload"]["tool"].clone())
        .collect();
    assert_eq!(decided, [json!("echo")]);
    // And a key is still needed.
    let (status, _) = stateless(&gated, None, &echo, &[]);
    assert_eq!(status, 401);
    // The revision has no session stream to open or end.
    let http = reqwest::blocking::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = http
            .request(method.clone(), &gated)
            .bearer_auth(&s.agent)
            .header("mcp-protocol-version", "2026-07-28")
            .send()
            .unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], "POST", "{method}");
    }
}

/// A stdio target serves the stateless revision too, rmcp speaking it and
/// signoff checking the envelope first as it does for the splice: a routing
/// header that disagrees with the body never reaches the gate.
#[test]
fn a_stdio_target_serves_stateless_requests_and_checks_their_envelope() {
    let s = start();
    let gated = format!("{}/mcp/ruststdio", s.server.url);
    let agent = Some(s.agent.as_str());
    let (status, found) = stateless(
        &gated,
        agent,
        &enveloped(1, "server/discover", json!({})),
        &[],
    );
    assert_eq!(status, 200, "{found:?}");
    let found = &found[0]["result"];
    assert_eq!(
        found["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "fixture",
        "the upstream's: {found}"
    );
    assert!(
        found["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{found}"
    );
    let echo = enveloped(
        2,
        "tools/call",
        call("echo", json!({"text": "ping", "count": 2})),
    );
    let (status, answer) = stateless(&gated, agent, &echo, &[]);
    assert_eq!(status, 200, "{answer:?}");
    let result = &answer.iter().find(|m| m["id"] == 2).unwrap()["result"];
    assert_eq!(result["content"][0]["text"], "ping ping", "{result}");
    assert_eq!(result["resultType"], "complete", "{result}");
    let (_, listed) = stateless(&gated, agent, &enveloped(3, "tools/list", json!({})), &[]);
    assert_eq!(listed[0]["result"]["cacheScope"], "private", "{listed:?}");
    // Resources and prompts pass through, in this revision's shape.
    for (method, params, field) in [
        ("resources/list", json!({}), "resources"),
        (
            "resources/read",
            json!({"uri": "fixture://readme"}),
            "contents",
        ),
        ("prompts/list", json!({}), "prompts"),
        ("prompts/get", json!({"name": "greet"}), "messages"),
    ] {
        let (status, got) = stateless(&gated, agent, &enveloped(5, method, params), &[]);
        let result = &got[0]["result"];
        assert_eq!(status, 200, "{method}: {got:?}");
        assert_eq!(result["resultType"], "complete", "{method}: {result}");
        assert!(
            !result[field].as_array().unwrap().is_empty(),
            "{method}: {result}"
        );
    }
    let delete = enveloped(
        4,
        "tools/call",
        call("delete_repo", json!({"name": "shop"})),
    );
    for (what, body, header) in [
        ("name header hides the tool", &delete, ("mcp-name", "echo")),
        ("method header differs", &echo, ("mcp-method", "tools/list")),
        (
            "version header differs",
            &echo,
            ("mcp-protocol-version", "2026-12-01"),
        ),
    ] {
        let (status, msgs) = stateless(&gated, agent, body, &[header]);
        assert_eq!(
            (status, &msgs[0]["error"]["code"]),
            (400, &json!(-32020)),
            "{what}: {msgs:?}"
        );
        assert_eq!(msgs[0]["id"], body["id"], "{what}");
    }
    let decided: Vec<Value> = audit(&s)
        .into_iter()
        .filter(|e| e["kind"] == "action.decided")
        .map(|e| e["payload"]["tool"].clone())
        .collect();
    assert_eq!(decided, [json!("echo")]);
}

/// The review page as a 2026-07-28 input request, on the wire: a client
/// that declares URL elicitation gets `input_required` at once, its retry
/// (with the answer) is allowed by the grant once a reviewer approved, and
/// the answer, which is signoff's, never reaches the upstream.
#[test]
fn a_stateless_held_call_offers_the_review_page_and_keeps_its_answer() {
    let s = start();
    let gated = format!("{}/mcp/rust", s.server.url);
    let agent = Some(s.agent.as_str());
    let mut loud = enveloped(
        1,
        "tools/call",
        call("echo", json!({"text": "hi", "count": 3})),
    );
    loud["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"] =
        json!({"elicitation": {"url": {}}});
    let (status, msgs) = stateless(&gated, agent, &loud, &[]);
    assert_eq!(status, 200, "{msgs:?}");
    let result = &msgs[0]["result"];
    assert_eq!(result["resultType"], "input_required", "{msgs:?}");
    let page = &result["inputRequests"]["signoff-review"];
    assert_eq!(page["method"], "elicitation/create");
    assert_eq!(page["params"]["mode"], "url");
    let id = page["params"]["elicitationId"].as_str().unwrap().to_owned();
    assert!(page["params"]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/ui/requests/{id}")));
    s.server.approve(&id, &s.reviewer);
    loud["params"]["inputResponses"] = json!({"signoff-review": {"action": "accept"}});
    let (status, msgs) = stateless(&gated, agent, &loud, &[]);
    assert_eq!(status, 200, "{msgs:?}");
    let answer = msgs.iter().find(|m| m["id"] == 1).unwrap();
    assert_eq!(
        answer["result"]["structuredContent"]["text"], "hi hi hi",
        "{answer}"
    );
    let log = std::fs::read_to_string(&s.upstream_log).unwrap_or_default();
    assert!(!log.contains("input responses"), "{log}");
    let (_, v) = s.server.get(&format!("/v1/approvals/{id}"), &s.reviewer);
    assert_eq!(v["grant"]["uses"], 1, "{v}");
}
