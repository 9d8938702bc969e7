//! Starts the real `signoff` binary in a temp dir and drives it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_signoff");

pub struct Server {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub keys: std::collections::HashMap<String, String>,
    pub stderr: Vec<String>,
}

/// A child process killed when dropped.
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something listens on `port` of 127.0.0.1.
pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// The embedded default in `dir` (demo keys on first start).
    pub fn embedded(dir: &Path) -> Server {
        Server::start(
            dir,
            &["serve", "--data-dir", dir.join("data").to_str().unwrap()],
        )
    }

    pub fn with_config(dir: &Path, config: &Path) -> Server {
        Server::with_config_env(dir, config, &[])
    }

    /// With extra environment variables (secrets named in the config).
    pub fn with_config_env(dir: &Path, config: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_env(dir, &["--config", config.to_str().unwrap(), "serve"], env)
    }

    fn start(dir: &Path, args: &[&str]) -> Server {
        Server::start_env(dir, args, &[])
    }

    fn start_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = Command::new(BIN)
            .args(args)
            .args(["--listen", &listen])
            .current_dir(dir)
            .env(
                "SIGNOFF_LOG",
                std::env::var("SIGNOFF_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let mut keys = std::collections::HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Read the banner up to its blank line.
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line
                .trim_start()
                .strip_prefix("agent:")
                .map(|r| ("agent:", r))
                .or_else(|| {
                    line.trim_start()
                        .strip_prefix("user:")
                        .map(|r| ("user:", r))
                })
            {
                let mut parts = rest.1.split_whitespace();
                if let (Some(name), Some(key)) = (parts.next(), parts.next()) {
                    if key.starts_with("so_") {
                        keys.insert(format!("{}{name}", rest.0), key.to_owned());
                    }
                }
            }
            let done = line.contains("Press Ctrl-C to stop");
            seen.push(line);
            if done || Instant::now() > deadline {
                break;
            }
        }
        // Keep draining so the server never blocks on a full pipe; its
        // warnings show with a failing test's output.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("server: {line}");
            }
        });
        let url = format!("http://{listen}");
        let s = Server {
            child,
            url,
            dir: dir.to_path_buf(),
            keys,
            stderr: seen,
        };
        s.wait_healthy();
        s
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if reqwest::blocking::get(format!("{}/healthz", self.url))
                .map(|r| r.status().is_success())
                .unwrap_or(false)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not become healthy; banner: {:?}", self.stderr);
    }

    pub fn key(&self, principal: &str) -> String {
        self.keys
            .get(principal)
            .cloned()
            .unwrap_or_else(|| panic!("no key for {principal} in {:?}", self.stderr))
    }

    pub fn agent(&self) -> String {
        self.key("agent:demo-agent")
    }

    pub fn reviewer(&self, n: usize) -> String {
        self.key(&format!("user:demo-reviewer-{n}"))
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }

    pub fn client(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client()
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// Runs the CLI against this server.
    pub fn cli(&self, token: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env("SIGNOFF_URL", &self.url)
            .env("SIGNOFF_TOKEN", token)
            .env_remove("SIGNOFF_CONFIG")
            .output()
            .unwrap()
    }

    pub fn spawn_cli(&self, token: &str, args: &[&str]) -> Child {
        Command::new(BIN)
            .args(args)
            .current_dir(&self.dir)
            .env("SIGNOFF_URL", &self.url)
            .env("SIGNOFF_TOKEN", token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Approves request `id` as the reviewer holding `token`.
    pub fn approve(&self, id: &str, token: &str) {
        let (status, v) = self.post(
            &format!("/v1/approvals/{id}/reviews"),
            token,
            &json!({"verdict": "approve", "comment": "ok"}),
        );
        assert_eq!(status, 200, "{v}");
    }

    /// Polls until a pending request exists and returns its id.
    pub fn first_pending(&self, token: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let (_, v) = self.get("/v1/approvals?status=pending", token);
            if let Some(id) = v["approvals"][0]["id"].as_str() {
                return id.to_owned();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no pending request appeared");
    }

    /// Polls until the pending exec request whose argv[index] is `arg` exists.
    pub fn pending_for_argv(&self, index: usize, arg: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let (_, v) = self.get("/v1/approvals?status=pending", &self.reviewer(1));
            let found = v["approvals"].as_array().and_then(|list| {
                list.iter()
                    .find(|a| a["payload"]["argv"][index] == arg)
                    .cloned()
            });
            if let Some(a) = found {
                return a["id"].as_str().unwrap().to_owned();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no pending request for `{arg}` appeared");
    }

    pub fn audit_kinds(&self) -> Vec<String> {
        let (_, v) = self.get("/v1/audit?limit=1000", &self.reviewer(1));
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("SIGNOFF_CONFIG")
        .output()
        .unwrap()
}

/// Creates an API key offline for `principal` in the config at `config`.
pub fn create_key(dir: &Path, config: &Path, principal: &str) -> String {
    let out = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "keys",
            "create",
            "--principal",
            principal,
        ],
        dir,
    );
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts the CLI against `url` with `token`, writes `input` to its stdin and
/// closes it; read the answer with `wait_with_output`.
pub fn spawn_with_stdin(url: &str, token: &str, args: &[&str], input: &str) -> Child {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env("SIGNOFF_URL", url)
        .env("SIGNOFF_TOKEN", token)
        .env_remove("SIGNOFF_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
