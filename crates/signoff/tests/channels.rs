//! Reviewer channels against loopback fakes that follow the documented
//! shapes: Slack's Web API and interactivity, a Teams Workflows webhook and a
//! Standard Webhooks receiver (checked by the `standardwebhooks` package).

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use support::{create_key, Server};

const TOKEN: &str = "xoxb-test-token";
const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request the fakes received.
#[derive(Clone, Debug)]
struct Call {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
struct Fakes {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Shape violations: requests Slack would reject.
    violations: Arc<Mutex<Vec<String>>>,
    /// This many `chat.postMessage` calls get 429 with `Retry-After: 1`.
    rate_limited_posts: Arc<AtomicUsize>,
    webhook_down: Arc<AtomicBool>,
    next_ts: Arc<AtomicUsize>,
}

impl Fakes {
    fn record(&self, path: &str, headers: &HeaderMap, body: &[u8]) -> Call {
        let call = Call {
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        };
        self.calls.lock().unwrap().push(call.clone());
        call
    }

    fn violation(&self, what: String) -> Response {
        self.violations.lock().unwrap().push(what.clone());
        Json(json!({ "ok": false, "error": "invalid_arguments", "detail": what })).into_response()
    }

    fn calls(&self, path: &str) -> Vec<Call> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has received at least `n` calls.
    fn wait_for(&self, path: &str, n: usize) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.calls(path);
            if calls.len() >= n || Instant::now() > deadline {
                assert!(
                    calls.len() >= n,
                    "{path}: {} calls, wanted {n}; all: {:?}",
                    calls.len(),
                    self.calls.lock().unwrap()
                );
                return calls;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Checks what every Slack Web API call must carry.
#[allow(clippy::result_large_err)] // a test fake: the error is the reply
fn slack_call(f: &Fakes, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, Response> {
    let call = f.record(path, headers, body);
    if call.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Err(Json(json!({ "ok": false, "error": "invalid_auth" })).into_response());
    }
    if !call
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(f.violation(format!(
            "{path}: content-type {:?}",
            call.header("content-type")
        )));
    }
    let v = call.json();
    if !v.is_object() {
        return Err(f.violation(format!("{path}: body is not a JSON object")));
    }
    Ok(v)
}

fn check_blocks(f: &Fakes, path: &str, v: &Value) -> Option<Response> {
    let Some(blocks) = v["blocks"].as_array() else {
        return Some(f.violation(format!("{path}: no blocks array")));
    };
    if blocks.len() > 50 || v["text"].as_str().is_none_or(str::is_empty) {
        return Some(f.violation(format!("{path}: more than 50 blocks or no fallback text")));
    }
    for b in blocks {
        let text = b["text"]["text"].as_str().unwrap_or("");
        let limit = if b["type"] == "header" { 150 } else { 3000 };
        if text.chars().count() > limit || b["type"].as_str().is_none() {
            return Some(f.violation(format!("{path}: block over its text limit: {b}")));
        }
    }
    None
}

async fn post_message(State(f): State<Fakes>, headers: HeaderMap, body: Bytes) -> Response {
    let v = match slack_call(&f, "chat.postMessage", &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = check_blocks(&f, "chat.postMessage", &v) {
        return r;
    }
    let Some(channel) = v["channel"].as_str() else {
        return f.violation("chat.postMessage: no channel".into());
    };
    if f.rate_limited_posts
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            Json(json!({ "ok": false, "error": "ratelimited" })),
        )
            .into_response();
    }
    let ts = format!("1700000000.{:06}", f.next_ts.fetch_add(1, Ordering::SeqCst));
    Json(json!({ "ok": true, "channel": channel, "ts": ts, "message": { "text": v["text"], "ts": ts } })).into_response()
}

async fn update(State(f): State<Fakes>, headers: HeaderMap, body: Bytes) -> Response {
    let v = match slack_call(&f, "chat.update", &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = check_blocks(&f, "chat.update", &v) {
        return r;
    }
    if v["ts"].as_str().is_none() || v["channel"].as_str().is_none() {
        return f.violation("chat.update: needs channel and ts".into());
    }
    Json(json!({ "ok": true, "channel": v["channel"], "ts": v["ts"], "text": v["text"] }))
        .into_response()
}

async fn views_open(State(f): State<Fakes>, headers: HeaderMap, body: Bytes) -> Response {
    let v = match slack_call(&f, "views.open", &headers, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let view = &v["view"];
    if v["trigger_id"].as_str().is_none()
        || view["type"] != "modal"
        || view["title"]["text"]
            .as_str()
            .is_none_or(|t| t.chars().count() > 24)
        || view["private_metadata"]
            .as_str()
            .is_none_or(|m| m.len() > 3000)
    {
        return f.violation(format!("views.open: bad view {v}"));
    }
    Json(json!({ "ok": true, "view": { "id": "V0001", "type": "modal" } })).into_response()
}

async fn users_info(
    State(f): State<Fakes>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    f.record(
        "users.info",
        &headers,
        q.get("user").map(String::as_bytes).unwrap_or(b""),
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return Json(json!({ "ok": false, "error": "invalid_auth" })).into_response();
    }
    match q.get("user").map(String::as_str) {
        Some("U_SAM") => Json(json!({ "ok": true, "user": { "id": "U_SAM", "profile": { "email": "Sam@Example.com" } } })).into_response(),
        Some("U_STRANGER") => Json(json!({ "ok": true, "user": { "id": "U_STRANGER", "profile": { "email": "nobody@example.com" } } })).into_response(),
        _ => Json(json!({ "ok": false, "error": "user_not_found" })).into_response(),
    }
}

async fn response_url(State(f): State<Fakes>, headers: HeaderMap, body: Bytes) -> Response {
    let call = f.record("response_url", &headers, &body);
    if call.json()["response_type"] != "ephemeral" {
        return f.violation(format!("response_url: not ephemeral: {}", call.body));
    }
    StatusCode::OK.into_response()
}

async fn webhook(State(f): State<Fakes>, headers: HeaderMap, body: Bytes) -> Response {
    if f.webhook_down.load(Ordering::SeqCst) {
        f.record("webhook-refused", &headers, &body);
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    f.record("webhook", &headers, &body);
    StatusCode::NO_CONTENT.into_response()
}

async fn teams(State(f): State<Fakes>, headers: HeaderMap, body: Bytes) -> Response {
    f.record("teams", &headers, &body);
    StatusCode::ACCEPTED.into_response()
}

/// Starts the fakes on a loopback port; they live as long as the test.
fn start_fakes(f: Fakes) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/api/chat.postMessage", post(post_message))
        .route("/api/chat.update", post(update))
        .route("/api/views.open", post(views_open))
        .route("/api/users.info", get(users_info))
        .route("/response", post(response_url))
        .route("/webhook", post(webhook))
        .route("/teams", post(teams))
        .with_state(f);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    port
}

struct Setup {
    server: Server,
    fakes: Fakes,
    fake_port: u16,
    agent: String,
    rita: String,
    dir: tempfile::TempDir,
}

fn config(dir: &Path, fake_port: u16) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/starter");
    for f in std::fs::read_dir(starter).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join("policies").join(f.file_name().unwrap())).unwrap();
    }
    let config = dir.join("signoff.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
data_dir = "data"
[policy]
dir = "policies"
[[users]]
id = "rita"
groups = ["reviewers"]
[[users]]
id = "sam"
groups = ["reviewers"]
email = "sam@example.com"
[[users]]
id = "olivia"
groups = ["reviewers"]
[[agents]]
name = "bot"
owner = "olivia"
[[targets]]
name = "prod-shell"
kind = "shell"
labels = {{ env = "prod", team = "payments" }}
slack_channel = "C_PROD"
[[targets]]
name = "scratch"
kind = "shell"

[slack]
channel = "C_DEFAULT"
api_base = "http://127.0.0.1:{fake_port}/api"
[slack.users]
U_RITA = "rita"
U_OLIVIA = "olivia"

[teams]
webhook_url_env = "TEST_TEAMS_URL"

[[webhooks]]
name = "audit-sink"
url = "http://127.0.0.1:{fake_port}/webhook"
secret_env = "TEST_WEBHOOK_SECRET"
"#
        ),
    )
    .unwrap();
    config
}

fn start(dir: tempfile::TempDir, fakes: Fakes, fake_port: u16) -> Setup {
    let d = dir.path();
    let config = config(d, fake_port);
    let agent = create_key(d, &config, "agent:bot");
    let rita = create_key(d, &config, "user:rita");
    let server = launch(d, fake_port);
    Setup {
        server,
        fakes,
        fake_port,
        agent,
        rita,
        dir,
    }
}

fn launch(d: &Path, fake_port: u16) -> Server {
    let teams = format!("http://127.0.0.1:{fake_port}/teams");
    Server::with_config_env(
        d,
        &d.join("signoff.toml"),
        &[
            ("SLACK_BOT_TOKEN", TOKEN),
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
            ("TEST_TEAMS_URL", &teams),
            ("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn signature(ts: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn form(payload: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

impl Setup {
    /// Posts an interaction as Slack would: signed, form-encoded.
    fn interact(&self, payload: &Value) -> (u16, String) {
        let body = form(payload);
        let ts = now();
        self.interact_raw(&body, Some(ts), Some(&signature(ts, &body)))
    }

    fn interact_raw(&self, body: &str, ts: Option<i64>, sig: Option<&str>) -> (u16, String) {
        let mut r = self
            .server
            .client()
            .post(format!("{}/slack/interactions", self.server.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        if let Some(ts) = ts {
            r = r.header("x-slack-request-timestamp", ts.to_string());
        }
        if let Some(sig) = sig {
            r = r.header("x-slack-signature", sig);
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    }

    fn click(&self, user: &str, action: &str, id: &str) -> (u16, String) {
        self.interact(&json!({
            "type": "block_actions",
            "user": { "id": user, "username": user.to_lowercase(), "team_id": "T_TEST" },
            "team": { "id": "T_TEST", "domain": "test" },
            "api_app_id": "A_TEST",
            "trigger_id": format!("trigger-{user}-{id}"),
            "response_url": format!("http://127.0.0.1:{}/response", self.fake_port),
            "container": { "type": "message", "channel_id": "C_PROD" },
            "actions": [{ "action_id": action, "block_id": "signoff_review", "value": id, "type": "button", "action_ts": "1700000000.1" }],
        }))
    }

    fn ask(&self, command: &str) -> Value {
        let (status, v) = self.server.post(
            "/v1/actions",
            &self.agent,
            &json!({ "target": "prod-shell", "kind": "exec", "payload": { "command": command }, "reason": "rotate the payment logs" }),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["decision"], "pending", "{v}");
        v
    }

    fn status(&self, id: &str) -> String {
        let (_, v) = self.server.get(&format!("/v1/approvals/{id}"), &self.rita);
        v["status"].as_str().unwrap_or_default().to_owned()
    }

    fn ephemeral_containing(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(c) = self.fakes.calls("response_url").into_iter().find(|c| {
                c.json()["text"]
                    .as_str()
                    .is_some_and(|t| t.contains(needle))
            }) {
                return c.json()["text"].as_str().unwrap().to_owned();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no ephemeral message with {needle:?}: {:?}",
            self.fakes.calls("response_url")
        );
    }
}

fn all_text(blocks: &Value) -> String {
    let mut out = String::new();
    for b in blocks.as_array().into_iter().flatten() {
        out.push_str(b["text"]["text"].as_str().unwrap_or(""));
        for e in b["elements"].as_array().into_iter().flatten() {
            out.push_str(
                e["text"]
                    .as_str()
                    .or(e["text"]["text"].as_str())
                    .unwrap_or(""),
            );
        }
        out.push('\n');
    }
    out
}

#[test]
fn a_request_goes_to_slack_is_approved_there_and_the_waiter_wakes() {
    let fakes = Fakes::default();
    let port = start_fakes(fakes.clone());
    let s = start(tempfile::tempdir().unwrap(), fakes.clone(), port);

    // The agent holds its call open while reviewers decide.
    let url = s.server.url.clone();
    let agent = s.agent.clone();
    let held = std::thread::spawn(move || {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .post(format!("{url}/v1/actions?wait=30s"))
            .bearer_auth(agent)
            .json(&json!({ "target": "prod-shell", "kind": "exec",
                "payload": { "command": "rm -rf /var/log/payments/old token=ghp_abcdefghijklmnopqrstuvwxyz0123456789" },
                "reason": "disk is full" }))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
    });

    let posted = fakes.wait_for("chat.postMessage", 1)[0].json();
    assert_eq!(posted["channel"], "C_PROD", "the target's channel");
    let text = all_text(&posted["blocks"]);
    let id = posted["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .map(|b| b["elements"][0]["value"].as_str().unwrap().to_owned())
        .expect("approve and deny buttons");
    for needle in [
        "`agent:bot` on behalf of `olivia`",
        "`prod-shell` (env=prod, team=payments)",
        "disk is full",
        "changes-need-approval",
        "0 of 1 (from reviewers)",
        "*Expires:*",
        "rm -rf /var/log/payments/old",
        "Approve",
        "Deny",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from {text}");
    }
    assert!(
        !text.contains("ghp_abcdefghij"),
        "secrets are masked: {text}"
    );

    // The requester's human cannot approve through Slack either.
    let (status, _) = s.click("U_OLIVIA", "signoff_approve", &id);
    assert_eq!(status, 200, "acknowledged at once");
    let told = s.ephemeral_containing("was not accepted");
    assert!(told.contains("on behalf of them"), "{told}");
    // Nor can someone Slack cannot link to a signoff user.
    s.click("U_STRANGER", "signoff_approve", &id);
    let told = s.ephemeral_containing("not linked to a signoff user");
    assert!(told.contains("U_STRANGER"), "{told}");
    assert_eq!(s.status(&id), "pending");

    // A mapped reviewer approves; the held call wakes.
    let (status, body) = s.click("U_RITA", "signoff_approve", &id);
    assert_eq!((status, body.as_str()), (200, ""));
    let v = held.join().unwrap();
    assert_eq!(v["decision"], "allow", "{v}");

    // The message is updated: no buttons, who approved; a thread reply per review.
    let deadline = Instant::now() + Duration::from_secs(30);
    let updated = loop {
        let last = fakes.calls("chat.update").last().map(Call::json);
        if let Some(u) = last.filter(|u| all_text(&u["blocks"]).contains("Approved")) {
            break u;
        }
        assert!(
            Instant::now() < deadline,
            "no update saying approved: {:?}",
            fakes.calls("chat.update")
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(updated["channel"], "C_PROD");
    assert_eq!(
        updated["ts"], "1700000000.000000",
        "the first message posted"
    );
    let text = all_text(&updated["blocks"]);
    assert!(text.contains("`rita` approved"), "{text}");
    assert!(!updated["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["type"] == "actions"));
    let replies: Vec<Value> = fakes
        .calls("chat.postMessage")
        .iter()
        .map(Call::json)
        .filter(|m| m["thread_ts"].is_string())
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0]["text"]
        .as_str()
        .unwrap()
        .contains("`rita` approved"));

    // The audit log records who approved and how they proved it.
    let (_, audit) = s
        .server
        .get(&format!("/v1/audit?approval_id={id}"), &s.rita);
    let review = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "review.submitted")
        .cloned()
        .unwrap();
    assert_eq!(review["actor"], "user:rita");
    assert_eq!(
        review["details"]["via"],
        json!({ "method": "slack", "team": "T_TEST", "user": "U_RITA" })
    );

    // Deny opens a modal; its submission needs a comment.
    let v = s.ask("rm -rf /var/log/payments/older");
    let id2 = v["approval"]["id"].as_str().unwrap().to_owned();
    fakes.wait_for("chat.postMessage", 3);
    s.click("U_SAM", "signoff_deny", &id2);
    let modal = fakes.wait_for("views.open", 1)[0].json();
    assert_eq!(modal["trigger_id"], format!("trigger-U_SAM-{id2}"));
    let submit = |comment: &str| {
        s.interact(&json!({
            "type": "view_submission",
            "user": { "id": "U_SAM", "team_id": "T_TEST" },
            "view": { "id": "V0001", "callback_id": modal["view"]["callback_id"], "private_metadata": modal["view"]["private_metadata"],
                      "state": { "values": { "comment": { "comment": { "type": "plain_text_input", "value": comment } } } } },
        }))
    };
    let (status, body) = submit("  ");
    assert_eq!(status, 200);
    let errors: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(errors["response_action"], "errors", "{body}");
    assert_eq!(s.status(&id2), "pending");
    let (status, _) = submit("not during the freeze");
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.status(&id2) != "denied" {
        assert!(
            Instant::now() < deadline,
            "sam's deny (mapped by e-mail) never landed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, r) = s.server.get(&format!("/v1/approvals/{id2}"), &s.rita);
    assert_eq!(r["reviews"][0]["reviewer"], "sam", "{r}");
    assert_eq!(r["reviews"][0]["comment"], "not during the freeze");
    assert!(fakes.calls("users.info").iter().any(|c| c.body == "U_SAM"));

    // Teams: one card per request and one per resolution, under 28 KB.
    let cards = fakes.wait_for("teams", 4);
    for c in &cards {
        assert!(c.body.len() < 28 * 1024);
        let v = c.json();
        assert_eq!(v["type"], "message");
        let card = &v["attachments"][0]["content"];
        assert_eq!(
            v["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    }
    check_adaptive_cards(&s, &cards);

    // Webhooks: every event, signed; the standardwebhooks package verifies them.
    let hooks = fakes.wait_for("webhook", 6);
    let types: Vec<String> = hooks
        .iter()
        .map(|h| h.json()["type"].as_str().unwrap().to_owned())
        .collect();
    for t in ["request.created", "review.submitted", "request.resolved"] {
        assert!(types.iter().any(|x| x == t), "{t} not in {types:?}");
    }
    verify_with_standardwebhooks(s.dir.path(), &hooks);

    assert!(
        fakes.violations.lock().unwrap().is_empty(),
        "{:?}",
        fakes.violations.lock().unwrap()
    );
}

fn python() -> String {
    std::env::var("SIGNOFF_TEST_PYTHON").unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/test-venv/bin/python")
            .to_string_lossy()
            .into_owned()
    })
}

/// An implementation nobody here wrote checks every delivery.
fn verify_with_standardwebhooks(dir: &Path, hooks: &[Call]) {
    let file = dir.join("hooks.json");
    let list: Vec<Value> = hooks
        .iter()
        .map(|h| {
            json!({ "headers": {
                "webhook-id": h.header("webhook-id"),
                "webhook-timestamp": h.header("webhook-timestamp"),
                "webhook-signature": h.header("webhook-signature") },
            "body": h.body })
        })
        .collect();
    std::fs::write(&file, serde_json::to_string(&list).unwrap()).unwrap();
    let script = r#"
import json, sys
from standardwebhooks import Webhook
hooks = json.load(open(sys.argv[1]))
wh = Webhook(sys.argv[2])
for h in hooks:
    wh.verify(h["body"], h["headers"])
try:
    tampered = hooks[0]["body"].replace("request", "requesT", 1)
    wh.verify(tampered, hooks[0]["headers"])
    print("tampered body verified")
    sys.exit(1)
except Exception:
    pass
print("verified", len(hooks))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(&file)
        .arg(WEBHOOK_SECRET)
        .output()
        .expect("the test venv is installed by ./test");
    let text = support::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("verified {}", hooks.len())),
        "{text}"
    );
}

/// Parses every card with the `adaptivecards` npm package (the reference
/// renderer's object model) and checks it against the schema version it
/// declares.
fn check_adaptive_cards(s: &Setup, cards: &[Call]) {
    let file = s.dir.path().join("cards.json");
    let list: Vec<Value> = cards
        .iter()
        .map(|c| c.json()["attachments"][0]["content"].clone())
        .collect();
    std::fs::write(&file, serde_json::to_string(&list).unwrap()).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp");
    let out = Command::new("node")
        .arg(dir.join("check-cards.cjs"))
        .arg(&file)
        .current_dir(&dir)
        .output()
        .expect("node is installed");
    let text = support::text(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("valid {}", cards.len())), "{text}");
}

/// A webhook receiver that is down, and a restart in between: nothing is
/// lost, and nothing waits for the receiver.
#[test]
fn deliveries_survive_outages_and_restarts() {
    let fakes = Fakes::default();
    fakes.webhook_down.store(true, Ordering::SeqCst);
    fakes.rate_limited_posts.store(1, Ordering::SeqCst);
    let port = start_fakes(fakes.clone());
    let s = start(tempfile::tempdir().unwrap(), fakes.clone(), port);

    let v = s.ask("systemctl restart payments");
    let id = v["approval"]["id"].as_str().unwrap().to_owned();
    // Slack said 429 once: the post is retried after Retry-After.
    let posts = fakes.wait_for("chat.postMessage", 2);
    assert_eq!(posts[0].body, posts[1].body, "the same message, retried");
    // The receiver being down blocks nothing: the review goes through.
    let (status, v) = s.server.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.rita,
        &json!({ "verdict": "approve" }),
    );
    assert_eq!(status, 200, "{v}");
    fakes.wait_for("webhook-refused", 1);
    let metrics = s
        .server
        .client()
        .get(format!("{}/metrics", s.server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(
            r#"signoff_channel_deliveries_total{channel="webhook:audit-sink",result="retry"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"signoff_channel_deliveries_total{channel="slack",result="retry"} 1"#),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"));

    // Stop, bring the receiver back, start again: the owed events arrive.
    let Setup { server, dir, .. } = s;
    server.stop();
    fakes.webhook_down.store(false, Ordering::SeqCst);
    let server = launch(dir.path(), port);
    let hooks = fakes.wait_for("webhook", 3);
    let mut types: Vec<String> = hooks
        .iter()
        .map(|h| h.json()["type"].as_str().unwrap().to_owned())
        .collect();
    types.sort();
    types.dedup();
    assert_eq!(
        types,
        ["request.created", "request.resolved", "review.submitted"]
    );
    // Each event once, with its id kept across retries.
    let mut ids: Vec<&str> = hooks
        .iter()
        .map(|h| h.header("webhook-id").unwrap())
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no event delivered twice");
    verify_with_standardwebhooks(dir.path(), &hooks);
    drop(server);
}

/// Signed requests only: bad, stale, replayed and unsigned are refused.
#[test]
fn slack_signatures_are_checked() {
    let fakes = Fakes::default();
    let port = start_fakes(fakes.clone());
    let s = start(tempfile::tempdir().unwrap(), fakes.clone(), port);
    let v = s.ask("rm -rf /srv/cache");
    let id = v["approval"]["id"].as_str().unwrap().to_owned();
    let body = form(&json!({
        "type": "block_actions", "user": { "id": "U_RITA", "team_id": "T" }, "trigger_id": "t",
        "actions": [{ "action_id": "signoff_approve", "value": id }],
    }));
    let ts = now();
    let good = signature(ts, &body);
    let cases: [(&str, Option<i64>, Option<String>, &str); 5] = [
        ("unsigned", None, None, "missing"),
        (
            "wrong secret",
            Some(ts),
            Some(format!("v0={}", "0".repeat(64))),
            "does not match",
        ),
        (
            "stale",
            Some(ts - 600),
            Some(signature(ts - 600, &body)),
            "over the 300-second window",
        ),
        (
            "another body",
            Some(ts),
            Some(signature(ts, "payload=%7B%7D")),
            "does not match",
        ),
        (
            "future",
            Some(ts + 400),
            Some(signature(ts + 400, &body)),
            "over the 300-second window",
        ),
    ];
    for (name, ts, sig, why) in cases {
        let (status, text) = s.interact_raw(&body, ts, sig.as_deref());
        assert_eq!(status, 401, "{name}: {text}");
        assert!(text.contains(why), "{name}: {text}");
    }
    assert_eq!(s.status(&id), "pending");
    let (status, _) = s.interact_raw(&body, Some(ts), Some(&good));
    assert_eq!(status, 200);
    let (status, text) = s.interact_raw(&body, Some(ts), Some(&good));
    assert_eq!(status, 401, "replayed: {text}");
    assert!(text.contains("already received"), "{text}");
    // Oversized: refused before any work, with a clear status.
    let huge = format!("payload={}", "a".repeat(3 * 1024 * 1024));
    let (status, _) = s.interact_raw(&huge, Some(ts), Some(&signature(ts, &huge)));
    assert_eq!(status, 413);
    // Signed but malformed: a clear 400.
    let junk = "payload=%5B1%2C2";
    let (status, text) = s.interact_raw(junk, Some(ts), Some(&signature(ts, junk)));
    assert_eq!(status, 400, "{text}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.status(&id) != "approved" {
        assert!(Instant::now() < deadline, "the good click never approved");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second click (freshly signed) counts nothing and posts no second reply.
    let v = s.ask("rm -rf /srv/cache2");
    let id2 = v["approval"]["id"].as_str().unwrap().to_owned();
    s.click("U_RITA", "signoff_approve", &id);
    s.ephemeral_containing("not pending");
    let (_, r) = s.server.get(&format!("/v1/approvals/{id}"), &s.rita);
    assert_eq!(r["reviews"].as_array().unwrap().len(), 1);
    // Let the outbox catch up with both requests, then count thread replies.
    fakes.wait_for("chat.postMessage", 3);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !fakes
        .calls("chat.update")
        .iter()
        .any(|c| c.body.contains("Approved"))
    {
        assert!(Instant::now() < deadline, "no approved update");
        std::thread::sleep(Duration::from_millis(20));
    }
    let replies = fakes
        .calls("chat.postMessage")
        .iter()
        .filter(|c| c.json()["thread_ts"].is_string())
        .count();
    assert_eq!(replies, 1, "one review, one thread reply");
    assert_eq!(s.status(&id2), "pending");
}
