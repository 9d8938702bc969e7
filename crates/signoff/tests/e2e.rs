//! End-to-end: the real binary, over HTTP and through `signoff exec`.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::*;

fn sql(text: &str) -> Value {
    json!({ "target": "demo-db", "kind": "sql", "payload": { "sql": text }, "reason": "e2e" })
}

#[test]
fn exec_runs_allowed_commands_and_returns_their_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let ok = s.cli(
        &s.agent(),
        &["exec", "--target", "demo-shell", "--", "ls", "/"],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let fails = s.cli(
        &s.agent(),
        &["exec", "--target", "demo-shell", "--", "false"],
    );
    assert_eq!(fails.status.code(), Some(1), "{}", text(&fails));
    let kinds = s.audit_kinds();
    assert_eq!(
        kinds.iter().filter(|k| *k == "action.executed").count(),
        2,
        "{kinds:?}"
    );
}

#[test]
fn exec_waits_for_approval_then_runs_exactly_the_approved_argv() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let marker = dir.path().join("made-by-exec");
    let marker_s = marker.to_str().unwrap().to_owned();
    let child = s.spawn_cli(
        &s.agent(),
        &[
            "exec",
            "--target",
            "demo-shell",
            "--reason",
            "test",
            "--wait",
            "60s",
            "--",
            "touch",
            &marker_s,
        ],
    );
    let id = s.first_pending(&s.reviewer(1));
    assert!(!marker.exists(), "nothing runs before approval");
    let (status, view) = s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.reviewer(1),
        &json!({"verdict": "approve", "comment": "ok"}),
    );
    assert_eq!(status, 200, "{view}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(marker.exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&id) && stderr.contains("reviewers"),
        "{stderr}"
    );
    let (_, v) = s.get(&format!("/v1/approvals/{id}"), &s.reviewer(1));
    assert_eq!(v["status"], "executed", "{v}");
    assert_eq!(v["grant"]["uses"], 1);
}

#[test]
fn exec_exit_codes_for_denied_expired_and_still_pending() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    // Still pending when --wait runs out: 75.
    let out = s.cli(
        &s.agent(),
        &[
            "exec",
            "--target",
            "demo-shell",
            "--wait",
            "1s",
            "--",
            "rm",
            "-rf",
            "/tmp/nothing-here",
        ],
    );
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let held_rm = |path: &str| {
        s.spawn_cli(
            &s.agent(),
            &[
                "exec",
                "--target",
                "demo-shell",
                "--wait",
                "60s",
                "--",
                "rm",
                "-rf",
                path,
            ],
        )
    };
    // Denied by a reviewer: 77.
    let child = held_rm("/tmp/also-nothing");
    let id = s.pending_for_argv(2, "/tmp/also-nothing");
    let (st, _) = s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.reviewer(2),
        &json!({"verdict": "deny", "comment": "no"}),
    );
    assert_eq!(st, 200);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("demo-reviewer-2"));
    // Cancelled by the requester while waiting: 78.
    let child = held_rm("/tmp/third");
    let id = s.pending_for_argv(2, "/tmp/third");
    let (st, v) = s.post(
        &format!("/v1/approvals/{id}/cancel"),
        &s.reviewer(1),
        &json!({}),
    );
    assert_eq!(st, 403, "only the requester cancels: {v}");
    let (st, _) = s.post(
        &format!("/v1/approvals/{id}/cancel"),
        &s.agent(),
        &json!({}),
    );
    assert_eq!(st, 200);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
}

#[test]
fn check_api_holds_and_wakes_on_the_deciding_review() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let url = s.url.clone();
    let agent = s.agent();
    let held = std::thread::spawn(move || {
        let c = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let r = c
            .post(format!("{url}/v1/actions?wait=30s"))
            .bearer_auth(agent)
            .json(&sql("DELETE FROM orders"))
            .send()
            .unwrap();
        r.json::<Value>().unwrap()
    });
    let id = s.first_pending(&s.reviewer(1));
    s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.reviewer(1),
        &json!({"verdict": "approve"}),
    );
    let v = held.join().unwrap();
    assert_eq!(v["decision"], "allow", "{v}");
    assert_eq!(v["approval"]["id"], id.as_str());
    // Single use: the identical action asks again.
    let (_, again) = s.post("/v1/actions", &s.agent(), &sql("DELETE FROM orders"));
    assert_eq!(again["decision"], "pending");
    assert_ne!(again["approval"]["id"], id.as_str());
}

#[test]
fn self_approval_is_refused_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let (_, v) = s.post("/v1/actions", &s.agent(), &sql("DELETE FROM orders"));
    let id = v["approval"]["id"].as_str().unwrap();
    for who in [s.agent(), s.key("user:demo-operator")] {
        let (status, body) = s.post(
            &format!("/v1/approvals/{id}/reviews"),
            &who,
            &json!({"verdict": "approve"}),
        );
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "review_refused");
    }
    let (_, v) = s.get(&format!("/v1/approvals/{id}"), &s.reviewer(1));
    assert_eq!(v["status"], "pending");
    assert_eq!(v["approvals_received"], 0);
}

#[test]
fn privilege_changes_need_two_distinct_reviewers_and_drop_database_is_forbidden() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let (_, v) = s.post(
        "/v1/actions",
        &s.agent(),
        &sql("GRANT ALL ON orders TO agent"),
    );
    assert_eq!(v["approval"]["approvals_required"], 2, "{v}");
    let id = v["approval"]["id"].as_str().unwrap().to_owned();
    s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.reviewer(1),
        &json!({"verdict": "approve"}),
    );
    let (st, body) = s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.reviewer(1),
        &json!({"verdict": "approve"}),
    );
    assert_eq!(st, 409, "{body}");
    let (_, v) = s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &s.reviewer(2),
        &json!({"verdict": "approve"}),
    );
    assert_eq!(v["status"], "approved");
    let (_, v) = s.post("/v1/actions", &s.agent(), &sql("DROP DATABASE prod"));
    assert_eq!(v["decision"], "deny");
    assert!(v["reason"].as_str().unwrap().contains("forbidden"), "{v}");
    assert_eq!(v["policies"], json!(["no-drop-database"]));
}

#[test]
fn bad_input_gets_clear_json_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let c = s.client();
    let before = s.audit_kinds().len();
    let post_raw = |body: Vec<u8>, ctype: &str, token: Option<&str>| {
        let mut r = c
            .post(format!("{}/v1/actions", s.url))
            .header("content-type", ctype)
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let agent = s.agent();
    // (body, content type, token, expected status, expected error code)
    type Case<'a> = (Vec<u8>, &'a str, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            b"{}".to_vec(),
            "application/json",
            None,
            401,
            "unauthenticated",
        ),
        (
            b"{}".to_vec(),
            "application/json",
            Some("so_not-a-real-key"),
            401,
            "unauthenticated",
        ),
        (
            b"{\"target\": ".to_vec(),
            "application/json",
            Some(&agent),
            400,
            "invalid_request",
        ),
        (
            b"not json at all".to_vec(),
            "application/json",
            Some(&agent),
            400,
            "invalid_request",
        ),
        (
            br#"{"target":"demo-db","kind":"sql","payload":{"sql":"SELECT 1"},"extra":1}"#.to_vec(),
            "application/json",
            Some(&agent),
            422,
            "invalid_request",
        ),
        (
            br#"{"target":"demo-db","kind":"sql","payload":{"sql":42}}"#.to_vec(),
            "application/json",
            Some(&agent),
            400,
            "invalid_request",
        ),
        (
            br#"{"target":"demo-db","kind":"sql","payload":{"sql":"x","evil":1}}"#.to_vec(),
            "application/json",
            Some(&agent),
            400,
            "invalid_request",
        ),
        (
            br#"{"target":"demo-db","kind":"teleport","payload":{}}"#.to_vec(),
            "application/json",
            Some(&agent),
            400,
            "invalid_request",
        ),
        (
            br#"{"target":[],"kind":"sql","payload":{}}"#.to_vec(),
            "application/json",
            Some(&agent),
            422,
            "invalid_request",
        ),
        (
            br#"{"target":"demo-db","kind":"sql","payload":{"sql":"SELECT 1"}}"#.to_vec(),
            "text/plain",
            Some(&agent),
            415,
            "unsupported_media_type",
        ),
        (
            vec![b' '; 2 * 1024 * 1024],
            "application/json",
            Some(&agent),
            413,
            "payload_too_large",
        ),
    ];
    for (body, ctype, token, want_status, want_code) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(60)]).to_string();
        let (status, v) = post_raw(body, ctype, token);
        assert_eq!(status, want_status, "{preview}: {v}");
        assert_eq!(v["error"]["code"], want_code, "{preview}: {v}");
        assert!(
            !v["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{preview}: {v}"
        );
    }
    // Only the two authentication failures were recorded; nothing else was written.
    let after = s.audit_kinds();
    assert_eq!(after.len(), before + 2, "{after:?}");
    assert!(after[before..].iter().all(|k| k == "auth.failed"));
    let (st, v) = s.get("/v1/approvals/not-a-uuid", &agent);
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (st, v) = s.get("/v1/approvals?status=bogus", &agent);
    assert_eq!(
        (st, v["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    let (st, v) = s.get("/v1/actions?wait=forever", &agent);
    assert_eq!(st, 405, "{v}");
    let (st, v) = s.get("/v1/nope", &agent);
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")));
    let (st, _) = s.get("/v1/audit", &agent);
    assert_eq!(st, 403, "agents do not read the audit log");
}

#[test]
fn a_pending_request_survives_a_restart_and_wakes_a_reattached_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let (agent, reviewer) = (s.agent(), s.reviewer(1));
    let (_, v) = s.post("/v1/actions", &agent, &sql("DELETE FROM orders"));
    let id = v["approval"]["id"].as_str().unwrap().to_owned();
    s.stop();
    let s = Server::embedded(dir.path());
    assert!(s.keys.is_empty(), "demo keys are printed only once");
    let url = s.url.clone();
    let a2 = agent.clone();
    let id2 = id.clone();
    let waiter = std::thread::spawn(move || {
        let c = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        c.get(format!("{url}/v1/approvals/{id2}?wait=30s"))
            .bearer_auth(a2)
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    let (st, _) = s.post(
        &format!("/v1/approvals/{id}/reviews"),
        &reviewer,
        &json!({"verdict": "approve"}),
    );
    assert_eq!(st, 200);
    let v = waiter.join().unwrap();
    assert_eq!(v["status"], "approved", "{v}");
    let (_, v) = s.post("/v1/actions", &agent, &sql("DELETE FROM orders"));
    assert_eq!(v["decision"], "allow", "the grant survived too: {v}");
}

#[test]
fn openapi_health_and_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::embedded(dir.path());
    let spec: Value = reqwest::blocking::get(format!("{}/v1/openapi.json", s.url))
        .unwrap()
        .json()
        .unwrap();
    for path in [
        "/v1/actions",
        "/v1/approvals",
        "/v1/approvals/{id}",
        "/v1/approvals/{id}/reviews",
        "/v1/approvals/{id}/cancel",
        "/v1/audit",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            spec["paths"][path].is_object(),
            "{path} missing from the spec"
        );
    }
    s.post("/v1/actions", &s.agent(), &sql("SELECT 1"));
    let metrics = reqwest::blocking::get(format!("{}/metrics", s.url))
        .unwrap()
        .text()
        .unwrap();
    for m in [
        "signoff_decisions_total{outcome=\"allow\",kind=\"sql\"} 1",
        "signoff_approvals_pending",
        "signoff_decision_latency_seconds_bucket",
        "signoff_audit_commit_seconds_bucket",
        "signoff_waiters",
    ] {
        assert!(metrics.contains(m), "{m} missing:\n{metrics}");
    }
}
