//! The web inbox: HTTP-level checks of sessions and CSRF, then headless
//! Chromium (Debian's, driven by playwright-core) signs in, watches the
//! pending list update live, approves and reads the audit log.
//! Screenshots land in `target/ui-screenshots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use support::{create_key, text, Server};

struct Setup {
    server: Server,
    agent: String,
    rita: String,
    olivia: String,
    _dir: tempfile::TempDir,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("policies")).unwrap();
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/starter");
    for f in std::fs::read_dir(starter).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, d.join("policies").join(f.file_name().unwrap())).unwrap();
    }
    let config = d.join("signoff.toml");
    std::fs::write(
        &config,
        r#"
[server]
data_dir = "data"
[policy]
dir = "policies"
[[users]]
id = "rita"
groups = ["reviewers"]
[[users]]
id = "olivia"
groups = ["reviewers"]
[[agents]]
name = "bot"
owner = "olivia"
[[targets]]
name = "prod-shell"
kind = "shell"
labels = { env = "prod" }
"#,
    )
    .unwrap();
    let agent = create_key(d, &config, "agent:bot");
    let rita = create_key(d, &config, "user:rita");
    let olivia = create_key(d, &config, "user:olivia");
    Setup {
        server: Server::with_config(d, &config),
        agent,
        rita,
        olivia,
        _dir: dir,
    }
}

impl Setup {
    fn ask(&self, command: &str) -> String {
        let (status, v) = self.server.post(
            "/v1/actions",
            &self.agent,
            &json!({ "target": "prod-shell", "kind": "exec", "payload": { "command": command }, "reason": "disk is full" }),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["decision"], "pending", "{v}");
        v["approval"]["id"].as_str().unwrap().to_owned()
    }

    fn browser(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Signs in over plain HTTP; returns the session cookie and CSRF token.
    fn sign_in(&self, key: &str) -> (String, String) {
        let c = self.browser();
        let form = c
            .get(format!("{}/ui/login", self.server.url))
            .send()
            .unwrap();
        let login_cookie = cookie_pair(&form, "signoff_login");
        let html = form.text().unwrap();
        let csrf = hidden(&html, "csrf");
        let r = c
            .post(format!("{}/ui/login", self.server.url))
            .header("cookie", &login_cookie)
            .form(&[("key", key), ("csrf", &csrf), ("next", "/ui/requests")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 303, "{:?}", r.text());
        let set = set_cookie(&r, "signoff_session");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/ui"] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(
            !set.contains("Secure"),
            "no Secure flag over plain http: {set}"
        );
        let session = set.split(';').next().unwrap().to_owned();
        let page = c
            .get(format!("{}/ui/requests", self.server.url))
            .header("cookie", &session)
            .send()
            .unwrap();
        assert_eq!(page.status(), 200);
        let csrf = hidden(&page.text().unwrap(), "csrf");
        (session, csrf)
    }
}

fn set_cookie(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", r.headers()))
        .to_owned()
}

fn cookie_pair(r: &reqwest::blocking::Response, name: &str) -> String {
    set_cookie(r, name).split(';').next().unwrap().to_owned()
}

fn hidden(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no hidden {name} in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[test]
fn sessions_and_csrf_protect_every_post() {
    let s = start();
    let id = s.ask("rm -rf /srv/a");
    let c = s.browser();
    let url = &s.server.url;

    // Signed out: pages send you to sign in, and come back after.
    let r = c.get(format!("{url}/ui/requests/{id}")).send().unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/ui/login?next=%2Fui%2Frequests%2F{id}").as_str()
    );

    // A login without the form's token is refused (login CSRF).
    let r = c
        .post(format!("{url}/ui/login"))
        .form(&[("key", s.rita.as_str()), ("csrf", "x")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // Agents never sign in; bad keys neither.
    let form = c.get(format!("{url}/ui/login")).send().unwrap();
    let login = cookie_pair(&form, "signoff_login");
    let token = hidden(&form.text().unwrap(), "csrf");
    for (key, status, why) in [
        (s.agent.as_str(), 403, "Agents cannot sign in"),
        ("so_nope", 401, "not valid"),
    ] {
        let r = c
            .post(format!("{url}/ui/login"))
            .header("cookie", &login)
            .form(&[("key", key), ("csrf", token.as_str())])
            .send()
            .unwrap();
        assert_eq!(r.status(), status);
        assert!(r.text().unwrap().contains(why));
    }
    // An open redirect through `next` is not possible.
    let r = c
        .post(format!("{url}/ui/login"))
        .header("cookie", &login)
        .form(&[
            ("key", s.rita.as_str()),
            ("csrf", token.as_str()),
            ("next", "//evil.example/ui/"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.headers()["location"], "/ui/requests");

    let (session, csrf) = s.sign_in(&s.rita);
    // Reviews need the session's CSRF token.
    for bad in ["", "0000", &csrf[..csrf.len() - 1]] {
        let r = c
            .post(format!("{url}/ui/requests/{id}/review"))
            .header("cookie", &session)
            .form(&[("csrf", bad), ("verdict", "approve")])
            .send()
            .unwrap();
        assert_eq!(r.status(), 403, "csrf {bad:?}");
    }
    let (_, v) = s.server.get(&format!("/v1/approvals/{id}"), &s.rita);
    assert_eq!(v["status"], "pending");
    // With it, the review goes through.
    let r = c
        .post(format!("{url}/ui/requests/{id}/review"))
        .header("cookie", &session)
        .form(&[
            ("csrf", csrf.as_str()),
            ("verdict", "deny"),
            ("comment", "no"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("?done=deny"));
    let (_, v) = s.server.get(&format!("/v1/approvals/{id}"), &s.rita);
    assert_eq!(v["status"], "denied");

    // Pages carry a strict CSP and are not cached.
    let page = c
        .get(format!("{url}/ui/requests/{id}"))
        .header("cookie", &session)
        .send()
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.headers()["cache-control"], "no-store");
    // Hostile ids and payloads come back escaped or as a clear 404.
    let r = c
        .get(format!("{url}/ui/requests/%3Cscript%3E"))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(!r.text().unwrap().contains("<script>"));
    let xss = s.ask("echo '<script>alert(1)</script>' > /tmp/x");
    let html = c
        .get(format!("{url}/ui/requests/{xss}"))
        .header("cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"),
        "{html}"
    );

    // Signing out ends the session server-side.
    let r = c
        .post(format!("{url}/ui/logout"))
        .header("cookie", &session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(format!("{url}/ui/requests"))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "the old cookie no longer works");
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn chromium_signs_in_sees_the_request_live_and_approves_it() {
    let s = start();
    let id = s.ask("rm -rf /var/log/payments/old token=ghp_abcdefghijklmnopqrstuvwxyz0123456789");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp");
    let shots = screenshots();
    let out = Command::new("node")
        .arg(dir.join("ui-e2e.cjs"))
        .args([&s.server.url, &s.rita, &s.olivia, &s.agent, &id])
        .arg(&shots)
        .current_dir(&dir)
        .output()
        .expect("node is installed");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("ui ok"), "{t}");
    for n in 1..=6 {
        let found = std::fs::read_dir(&shots)
            .unwrap()
            .filter_map(Result::ok)
            .any(|f| {
                f.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{n}-"))
            });
        assert!(found, "screenshot {n} missing");
    }

    // What the browser did is what the gateway recorded.
    let (_, v) = s.server.get(&format!("/v1/approvals/{id}"), &s.rita);
    assert_eq!(v["status"], "approved", "{v}");
    assert_eq!(v["reviews"][0]["reviewer"], "rita");
    assert_eq!(v["reviews"][0]["comment"], "checked the disk, go ahead");
    let (_, audit) = s
        .server
        .get(&format!("/v1/audit?approval_id={id}"), &s.rita);
    let refused: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "review.refused")
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "olivia's forced review is evidence: {audit}"
    );
    assert_eq!(refused[0]["actor"], "user:olivia");
}
