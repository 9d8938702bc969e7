//! The PostgreSQL front door against the real server at `SIGNOFF_TEST_PG_URL`,
//! driven by clients nobody here wrote: tokio-postgres (extended protocol),
//! psql and pgbench (simple and extended), and psycopg (`tests/pg/client.py`).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::*;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

const POLICY: &str = r#"
@id("no-drop-table")
@reason("dropping tables is forbidden through signoff")
forbid (principal, action == Action::"sql", resource)
when { context.sql.statements.contains("drop_table") };
"#;

fn pg_url() -> String {
    std::env::var("SIGNOFF_TEST_PG_URL")
        .unwrap_or_else(|_| panic!("SIGNOFF_TEST_PG_URL is not set: run the suite with ./test"))
}

struct Setup {
    server: Server,
    port: u16,
    agent: String,
    reviewer: String,
    _dir: tempfile::TempDir,
}

/// A server whose `db` target fronts the test database; `extra` goes into
/// the target's table.
fn start(max_hold: &str, extra: &str) -> Setup {
    start_in_front_of(&pg_url(), max_hold, extra)
}

fn start_in_front_of(url: &str, max_hold: &str, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("policies")).unwrap();
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/starter");
    for f in std::fs::read_dir(starter).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, d.join("policies").join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(d.join("policies/pg.cedar"), POLICY).unwrap();
    let port = free_port();
    let config = d.join("signoff.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
data_dir = "data"
key_recheck = "200ms"
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
name = "db"
kind = "postgres"
labels = {{ env = "test" }}
listen = "127.0.0.1:{port}"
upstream = "{url}"
{extra}
"#,
        ),
    )
    .unwrap();
    let agent = create_key(d, &config, "agent:bot");
    let reviewer = create_key(d, &config, "user:rita");
    let server = Server::with_config(d, &config);
    Setup {
        server,
        port,
        agent,
        reviewer,
        _dir: dir,
    }
}

impl Setup {
    fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=agent:bot password={} dbname=test sslmode=disable",
            self.port, self.agent
        )
    }

    /// Approves the pending request whose SQL contains `needle`, once it exists.
    fn approve_when_pending(&self, needle: &str) -> String {
        let id = self.pending(needle);
        self.server.approve(&id, &self.reviewer);
        id
    }

    /// Waits for a pending request whose SQL contains `needle`; its id.
    fn pending(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let (_, v) = self
                .server
                .get("/v1/approvals?status=pending", &self.reviewer);
            let found = v["approvals"].as_array().and_then(|list| {
                list.iter()
                    .find(|a| {
                        a["payload"]["sql"]
                            .as_str()
                            .is_some_and(|s| s.contains(needle))
                    })
                    .and_then(|a| a["id"].as_str().map(str::to_owned))
            });
            if let Some(id) = found {
                return id;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no pending request for `{needle}` appeared");
    }

    fn psql(&self, script: &str) -> Output {
        let mut child = Command::new("psql")
            .args([&self.conninfo(), "-X", "-v", "ON_ERROR_STOP=0", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("psql is installed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f`, which makes blocking HTTP calls, on a thread of its own, so it
/// can be called from inside the runtime.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().unwrap())
}

async fn connect(conninfo: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(conninfo, NoTls).await?;
    tokio::spawn(async move {
        // Shown with a failing test: why the client's connection ended.
        if let Err(e) = conn.await {
            eprintln!("connection ended: {e}");
        }
    });
    Ok(client)
}

/// The database itself, bypassing signoff: for setup and for checking what
/// really happened.
async fn direct() -> Client {
    connect(&pg_url()).await.unwrap()
}

async fn fresh_table(name: &str, rows: i32) {
    let db = direct().await;
    db.batch_execute(&format!(
        "DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (id int, email text, note text); \
         INSERT INTO {name} SELECT g, 'user' || g || '@example.com', 'n' || g FROM generate_series(1, {rows}) g;"
    ))
    .await
    .unwrap();
}

async fn count(name: &str) -> i64 {
    direct()
        .await
        .query_one(&format!("SELECT count(*) FROM {name}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// Waits until `pg_stat_activity` shows another backend for which `condition`
/// holds; fails, rather than hangs, if none shows within a minute.
async fn until_activity(condition: &str) {
    let db = direct().await;
    let sql =
        format!("SELECT 1 FROM pg_stat_activity WHERE {condition} AND pid <> pg_backend_pid()");
    for _ in 0..3000 {
        if db.query_opt(&sql, &[]).await.unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no backend with `{condition}` showed in pg_stat_activity");
}

/// The database's (or signoff's) message, else the error's own text.
fn msg(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_owned())
        .unwrap_or_else(|| format!("{e:?}"))
}

fn code(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_owned()).unwrap_or_default()
}

#[test]
fn reads_flow_denials_refuse_and_held_statements_run_once_approved() {
    let s = start("30s", "");
    let rt = rt();
    rt.block_on(fresh_table("pg_flow", 5));
    let client = rt.block_on(connect(&s.conninfo())).unwrap();

    // Allowed, with parameters on the extended protocol, byte for byte what
    // the database answers.
    let rows = rt
        .block_on(client.query(
            "SELECT id, note FROM pg_flow WHERE id <= $1 ORDER BY id",
            &[&3i32],
        ))
        .unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![(1, "n1".into()), (2, "n2".into()), (3, "n3".into())]
    );
    let stmt = rt
        .block_on(client.prepare("SELECT count(*) FROM pg_flow WHERE id > $1"))
        .unwrap();
    for i in 0..3i32 {
        let n: i64 = rt.block_on(client.query_one(&stmt, &[&i])).unwrap().get(0);
        assert_eq!(
            n,
            5 - i as i64,
            "a prepared statement is reused across executions"
        );
    }

    // Denied: 42501 with the policy's reason; the table is intact.
    let e = rt
        .block_on(client.batch_execute("DROP TABLE pg_flow"))
        .unwrap_err();
    assert_eq!(code(&e), "42501", "{e}");
    assert!(msg(&e).contains("dropping tables is forbidden"), "{e:?}");
    assert_eq!(rt.block_on(count("pg_flow")), 5);
    let e = rt
        .block_on(client.execute("DROP TABLE pg_flow", &[]))
        .unwrap_err();
    assert_eq!(
        code(&e),
        "42501",
        "the extended protocol is refused too: {e}"
    );

    // The session is fine after refusals.
    let n: i64 = rt
        .block_on(client.query_one("SELECT count(*) FROM pg_flow", &[]))
        .unwrap()
        .get(0);
    assert_eq!(n, 5);

    // A DELETE without WHERE waits for a human, then runs once.
    std::thread::scope(|scope| {
        scope.spawn(|| s.approve_when_pending("DELETE FROM pg_flow WHERE id > $1"));
        let deleted = rt
            .block_on(client.execute("DELETE FROM pg_flow WHERE id > $1", &[&3i32]))
            .unwrap();
        assert_eq!(deleted, 2);
    });
    assert_eq!(rt.block_on(count("pg_flow")), 3);

    // Every statement's decision and outcome is in the audit chain.
    drop(client);
    std::thread::sleep(Duration::from_millis(300));
    let (_, v) = s.server.get("/v1/audit?limit=1000", &s.reviewer);
    let executed = outcomes(v["events"].as_array().unwrap());
    assert!(executed.iter().any(|d| d == "DELETE 2"), "{executed:?}");
    assert!(
        executed.iter().any(|d| d.starts_with("SELECT")),
        "{executed:?}"
    );
    let config = s._dir.path().join("signoff.toml");
    let out = run(
        &["--config", config.to_str().unwrap(), "audit", "verify"],
        s._dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
}

/// Each statement's outcome: an `action.executed` event, or for an allowed
/// read the outcome in its decided event, alone or inside `reads.batched`.
fn outcomes(events: &[serde_json::Value]) -> Vec<String> {
    let mut found = Vec::new();
    for e in events {
        let outcome = match e["kind"].as_str() {
            Some("action.executed") => &e["details"]["detail"],
            Some("action.decided") => &e["details"]["outcome"]["detail"],
            Some("reads.batched") => {
                let reads = e["details"]["reads"].as_array().unwrap();
                assert_eq!(e["details"]["count"], reads.len());
                found.extend(outcomes(reads));
                continue;
            }
            _ => continue,
        };
        found.extend(outcome.as_str().map(str::to_owned));
    }
    found
}

#[test]
fn a_statement_approved_mid_transaction_keeps_its_order() {
    let s = start("30s", "");
    let rt = rt();
    rt.block_on(fresh_table("pg_tx", 2));
    let mut client = rt.block_on(connect(&s.conninfo())).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| s.approve_when_pending("INSERT INTO pg_tx"));
        rt.block_on(async {
            let tx = client.transaction().await.unwrap();
            let before: i64 = tx
                .query_one("SELECT count(*) FROM pg_tx", &[])
                .await
                .unwrap()
                .get(0);
            tx.execute("INSERT INTO pg_tx (id) VALUES ($1)", &[&10i32])
                .await
                .unwrap();
            let after: i64 = tx
                .query_one("SELECT count(*) FROM pg_tx", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(
                (before, after),
                (2, 3),
                "the held insert ran before the next select"
            );
            tx.commit().await.unwrap();
        });
    });
    assert_eq!(rt.block_on(count("pg_tx")), 3);

    // Another session runs while one is held: a slow reviewer slows nobody else.
    std::thread::scope(|scope| {
        let held = scope.spawn(|| {
            let rt = self::rt();
            let c = rt.block_on(connect(&s.conninfo())).unwrap();
            rt.block_on(c.execute("UPDATE pg_tx SET note = 'x'", &[]))
        });
        let other = rt.block_on(connect(&s.conninfo())).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = s.server.get("/v1/approvals?status=pending", &s.reviewer);
            if v["approvals"].as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..20 {
            rt.block_on(other.query_one("SELECT 1", &[])).unwrap();
        }
        s.approve_when_pending("UPDATE pg_tx SET note");
        assert_eq!(held.join().unwrap().unwrap(), 3);
    });

    // A read pipelined ahead of a held statement on the same connection is
    // answered during the hold: the reviewer approves only once the read is
    // back, so had the read waited behind the hold, the hold would run out.
    // One thread, so the client queues both requests before its connection
    // task writes them, in one write.
    let one = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let piped = one.block_on(connect(&s.conninfo())).unwrap();
    let (read, write) = one.block_on(async {
        let read = piped.prepare("SELECT count(*) FROM pg_tx").await.unwrap();
        let write = piped
            .prepare("UPDATE pg_tx SET note = 'piped'")
            .await
            .unwrap();
        (read, write)
    });
    std::thread::scope(|scope| {
        let (read_back, wait_for_read) = std::sync::mpsc::channel();
        let s = &s;
        scope.spawn(move || {
            wait_for_read.recv().unwrap();
            s.approve_when_pending("UPDATE pg_tx SET note = 'piped'")
        });
        one.block_on(async {
            let (rows, updated) = tokio::join!(
                async {
                    let rows = piped.query_one(&read, &[]).await;
                    read_back.send(()).unwrap();
                    rows
                },
                piped.execute(&write, &[]),
            );
            assert_eq!(rows.unwrap().get::<_, i64>(0), 3);
            assert_eq!(updated.unwrap(), 3, "the held update ran once approved");
        });
    });
}

#[test]
fn hostile_statements_are_caught_and_a_hold_that_runs_out_names_the_request() {
    let s = start("1s", "");
    let rt = rt();
    rt.block_on(fresh_table("pg_hostile", 4));
    let client = rt.block_on(connect(&s.conninfo())).unwrap();
    for sql in [
        "WITH gone AS (DELETE FROM pg_hostile RETURNING *) SELECT count(*) FROM gone",
        "EXPLAIN ANALYZE DELETE FROM pg_hostile",
        "COPY pg_hostile TO PROGRAM 'cat > /dev/null'",
        "SELECT 1; DELETE FROM pg_hostile",
        "SELECT 1; DROP TABLE pg_hostile",
    ] {
        let e = rt.block_on(client.batch_execute(sql)).unwrap_err();
        let c = code(&e);
        assert!(c == "SO001" || c == "42501", "{sql}: {e}");
        if c == "SO001" {
            let m = e.as_db_error().unwrap().message().to_owned();
            assert!(m.contains("Request ") && m.contains("/ui/requests/"), "{m}");
            assert!(
                m.contains("running this identical statement again runs it once"),
                "{m}"
            );
        }
        assert_eq!(rt.block_on(count("pg_hostile")), 4, "{sql} changed nothing");
    }
    // Nothing above reached the table.
    let n: i64 = rt
        .block_on(client.query_one("SELECT count(*) FROM pg_hostile", &[]))
        .unwrap()
        .get(0);
    assert_eq!(n, 4);
}

/// psql shows a held statement's request as a NOTICE while it waits, so the
/// person at the prompt knows where to send a reviewer; then that it ran.
#[test]
fn psql_hears_of_a_held_statement_while_it_waits() {
    let s = start("30s", "");
    let rt = rt();
    rt.block_on(fresh_table("pg_notice", 3));
    let mut psql = Command::new("psql")
        .args([&s.conninfo(), "-X", "-c", "DELETE FROM pg_notice"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql is installed");
    let stderr = psql.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let _ = lines_tx.send(line.unwrap());
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(30)).unwrap();
    // Still held: nobody has approved, and the table is whole.
    let id = s.pending("DELETE FROM pg_notice");
    assert_eq!(rt.block_on(count("pg_notice")), 3);
    let told = format!(
        "NOTICE:  signoff: this statement needs 1 approval by someone in reviewers and waits up to 30s for it. \
         Request {id}: "
    );
    assert!(
        first.starts_with(&told) && first.ends_with(&format!("/ui/requests/{id}")),
        "{first}"
    );
    s.server.approve(&id, &s.reviewer);
    let out = psql.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "DELETE 3");
    let rest: Vec<String> = lines.iter().collect();
    assert_eq!(
        rest,
        [format!(
            "NOTICE:  signoff: request {id} was approved; running the statement"
        )]
    );
    assert_eq!(rt.block_on(count("pg_notice")), 0);
}

#[test]
fn psql_scripts_copy_both_ways_and_masked_results() {
    let s = start(
        "30s",
        "masking = { results = true }\nmasked_columns = [\"note\"]",
    );
    let rt = rt();
    rt.block_on(fresh_table("pg_psql", 3));

    let out = s.psql(
        "SELECT id, email, note FROM pg_psql ORDER BY id;\n\
         BEGIN;\nSELECT 1 AS inside;\nDROP TABLE pg_psql;\nSELECT 2;\nROLLBACK;\nSELECT 'after' AS state;\n",
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stdout.contains("[EMAIL]") && !stdout.contains("@example.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[NOTE]") && !stdout.contains(" n1"),
        "{stdout}"
    );
    assert!(stderr.contains("dropping tables is forbidden"), "{stderr}");
    assert!(
        stderr.contains("current transaction is aborted"),
        "a refusal aborts the transaction as an error would: {stderr}"
    );
    assert!(stdout.contains("after"), "{stdout}");

    // COPY in (a write: approved while held) and out (an export: likewise).
    std::thread::scope(|scope| {
        scope.spawn(|| s.approve_when_pending("FROM STDIN"));
        let out = s.psql("\\copy pg_psql (id, email, note) FROM stdin\n7\tz@example.com\tseven\n8\ty@example.com\teight\n\\.\n");
        assert!(
            out.status.success() && text(&out).contains("COPY 2"),
            "{}",
            text(&out)
        );
    });
    assert_eq!(rt.block_on(count("pg_psql")), 5);
    std::thread::scope(|scope| {
        scope.spawn(|| s.approve_when_pending("TO STDOUT"));
        let out = s.psql("\\copy (SELECT id FROM pg_psql ORDER BY id) TO stdout\n");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1\n2\n3\n7\n8\n",
            "{}",
            text(&out)
        );
    });
}

#[test]
fn logins_need_a_principal_and_its_key() {
    let s = start("30s", "");
    let rt = rt();
    for user in ["agent:bot", "agent:nobody", "not-a-principal"] {
        let info = format!(
            "host=127.0.0.1 port={} user={user} password=so_wrong dbname=test",
            s.port
        );
        let e = rt.block_on(connect(&info)).err().unwrap();
        assert_eq!(e.code(), Some(&SqlState::INVALID_PASSWORD), "{user}: {e}");
    }
    // A reviewer's key logs in its own principal only.
    let info = format!(
        "host=127.0.0.1 port={} user=agent:bot password={} dbname=test",
        s.port, s.reviewer
    );
    assert!(rt.block_on(connect(&info)).is_err());
    // The refusal reaches the client before its audit event commits.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = s.server.get("/v1/audit?limit=1000", &s.reviewer);
        let failed = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "auth.failed")
            .count();
        if failed == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{failed} of 4 failed logins audited: {v}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A revoked key ends the sessions it opened at their next statement (the
/// revocation here comes from another process, so within `key_recheck`),
/// audited, and it cannot log in again.
#[test]
fn revoking_a_key_ends_its_open_sessions() {
    let s = start("30s", "");
    let rt = rt();
    let client = rt.block_on(connect(&s.conninfo())).unwrap();
    rt.block_on(client.simple_query("SELECT 1")).unwrap();
    let config = s._dir.path().join("signoff.toml");
    let key_id = &s.agent[..11];
    let out = run(
        &[
            "--config",
            config.to_str().unwrap(),
            "keys",
            "revoke",
            key_id,
        ],
        s._dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    // Past `key_recheck`, so the next statement asks the store again.
    std::thread::sleep(Duration::from_millis(500));
    let e = rt.block_on(client.simple_query("SELECT 1")).unwrap_err();
    assert_eq!(code(&e), "28000", "{e:?}");
    assert!(msg(&e).contains("was revoked"), "{}", msg(&e));
    assert!(client.is_closed() || rt.block_on(client.simple_query("SELECT 1")).is_err());
    let e = rt.block_on(connect(&s.conninfo())).unwrap_err();
    assert_eq!(code(&e), "28P01", "{e:?}");
    let (_, v) = s.server.get("/v1/audit?limit=1000", &s.reviewer);
    let revoked = v["events"].as_array().unwrap().iter().any(|e| {
        e["kind"] == "auth.failed" && e["details"]["key_id"] == key_id && e["actor"] == "agent:bot"
    });
    assert!(revoked, "{v}");
}

#[test]
fn cancel_ends_a_hold_and_a_running_query() {
    let s = start("60s", "");
    let rt = rt();
    rt.block_on(fresh_table("pg_cancel", 2));
    let client = rt.block_on(connect(&s.conninfo())).unwrap();
    let token = client.cancel_token();
    rt.block_on(async {
        let held = tokio::spawn(async move {
            let r = client.execute("DELETE FROM pg_cancel", &[]).await;
            (client, r)
        });
        off_runtime(|| s.pending("DELETE FROM pg_cancel"));
        token.cancel_query(NoTls).await.unwrap();
        let (client, r) = held.await.unwrap();
        let e = r.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e}");
        // A long allowed read is cancelled in the database.
        let token = client.cancel_token();
        let running = tokio::spawn(async move {
            let r = client
                .simple_query("SELECT count(*) FROM generate_series(1, 2000000000)")
                .await;
            (client, r)
        });
        // The read is running once the database shows it active (one simple
        // Query, so active means executing, not parsing).
        until_activity("query LIKE '%generate_series(1, 2000000000)%' AND state = 'active'").await;
        token.cancel_query(NoTls).await.unwrap();
        let (client, r) = running.await.unwrap();
        let e = r.unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e}");
        // That cancel is spent: the session's next hold waits for its reviewer.
        let held = tokio::spawn(async move {
            client
                .execute("DELETE FROM pg_cancel -- after the cancel", &[])
                .await
        });
        off_runtime(|| s.approve_when_pending("after the cancel"));
        assert_eq!(held.await.unwrap().unwrap(), 2, "the approved delete ran");
    });
    assert_eq!(rt.block_on(count("pg_cancel")), 0);
}

/// Raw bytes on the wire: oversized and malformed frames get a clear error,
/// and the front door keeps serving.
#[test]
fn bad_frames_and_vanishing_clients_leave_the_door_working() {
    let s = start("30s", "max_message_bytes = 65536");
    let rt = rt();
    let client = rt.block_on(connect(&s.conninfo())).unwrap();
    let big = format!("SELECT '{}'", "x".repeat(100_000));
    let e = rt.block_on(client.batch_execute(&big)).unwrap_err();
    assert!(
        msg(&e).contains("over the 65536-byte limit") || e.is_closed(),
        "{e:?}"
    );

    for junk in [
        &b"\0\0\0\x08\0\0\0\0"[..],           // protocol 0.0
        b"\x7f\xff\xff\xff",                  // absurd length
        b"\0\0\0\x09\0\x03\0\0u",             // params without terminators
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", // not PostgreSQL at all
        // An SSL request with a query sent before its answer, as a
        // man in the middle would inject it: refused, never run.
        b"\0\0\0\x08\x04\xd2\x16\x2fQ\0\0\0\x0dSELECT 1\0",
    ] {
        let mut raw = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        raw.write_all(junk).unwrap();
        let mut answer = Vec::new();
        let _ = raw.read_to_end(&mut answer);
        assert_eq!(answer.first(), Some(&b'E'), "{junk:?} got {answer:?}");
    }

    // A SASL initial response that names a mechanism and stops: a clear
    // protocol error after the authentication request, not a dropped session.
    let mut startup = Vec::new();
    startup.extend_from_slice(&196608i32.to_be_bytes());
    startup.extend_from_slice(b"user\0agent:bot\0database\0test\0\0");
    let mut raw = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(&(startup.len() as i32 + 4).to_be_bytes())
        .unwrap();
    raw.write_all(&startup).unwrap();
    raw.write_all(b"p\0\0\0\x12SCRAM-SHA-256\0").unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(answer.first(), Some(&b'R'), "{text}");
    assert!(
        text.contains("08P01") && text.contains("malformed SASL initial response"),
        "{text}"
    );

    // A client that vanishes while its statement is held.
    let c = rt.block_on(connect(&s.conninfo())).unwrap();
    rt.block_on(async {
        let held =
            tokio::spawn(async move { c.execute("DELETE FROM pg_nowhere_table", &[]).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        held.abort();
    });

    let fresh = rt.block_on(connect(&s.conninfo())).unwrap();
    let one: i32 = rt
        .block_on(fresh.query_one("SELECT 1", &[]))
        .unwrap()
        .get(0);
    assert_eq!(one, 1);
}

/// The database goes away under a session: the client hears why, and the
/// next session connects again.
#[test]
fn an_upstream_restart_ends_sessions_cleanly() {
    // A plain TCP relay in front of PostgreSQL: the upstream as signoff sees it.
    let relay = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay_port = relay.local_addr().unwrap().port();
    let upstream: tokio_postgres::Config = pg_url().parse().unwrap();
    let pg_port = upstream.get_ports().first().copied().unwrap_or(5432);
    std::thread::spawn(move || {
        for conn in relay.incoming() {
            let Ok(client) = conn else { continue };
            let Ok(server) = TcpStream::connect(("127.0.0.1", pg_port)) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pipe(client, server));
            std::thread::spawn(move || pipe(s2, c2));
        }
    });
    fn pipe(mut from: TcpStream, mut to: TcpStream) {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Both);
    }
    let url = format!(
        "postgres://{}@127.0.0.1:{relay_port}/{}",
        upstream.get_user().unwrap_or("postgres"),
        upstream.get_dbname().unwrap_or("test")
    );
    let s = start_in_front_of(&url, "30s", "");
    let rt = rt();
    let info = format!(
        "host=127.0.0.1 port={} user=agent:bot password={} dbname=test application_name=so_restart",
        s.port, s.agent
    );
    let client = rt.block_on(connect(&info)).unwrap();
    rt.block_on(client.query_one("SELECT 1", &[])).unwrap();
    // Terminate the upstream backend from the side, as a restart would.
    rt.block_on(async {
        let killed = direct()
            .await
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'so_restart'",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(killed, 1);
    });
    let e = rt.block_on(client.query_one("SELECT 1", &[])).unwrap_err();
    assert!(
        e.code()
            .is_some_and(|c| c.code().starts_with("57") || c.code() == "08006")
            || e.is_closed(),
        "{e}"
    );
    let again = rt.block_on(connect(&info)).unwrap();
    let one: i32 = rt
        .block_on(again.query_one("SELECT 1", &[]))
        .unwrap()
        .get(0);
    assert_eq!(one, 1);
}

/// The database's Unix socket as the upstream (signoff beside the database):
/// sessions, refusals and cancels all go over it.
#[test]
fn the_database_unix_socket_serves_as_the_upstream() {
    let dir = std::env::var("SIGNOFF_TEST_PG_SOCKET_DIR").unwrap_or_else(|_| {
        panic!("SIGNOFF_TEST_PG_SOCKET_DIR (the test database's socket directory) is not set: run the suite with ./test")
    });
    let tcp: tokio_postgres::Config = pg_url().parse().unwrap();
    let url = format!(
        "host={dir} port={} user={} dbname={}",
        tcp.get_ports().first().copied().unwrap_or(5432),
        tcp.get_user().unwrap_or("postgres"),
        tcp.get_dbname().unwrap_or("test")
    );
    let s = start_in_front_of(&url, "30s", "");
    let rt = rt();
    rt.block_on(fresh_table("pg_unix", 3));
    let info = format!("{} application_name=so_unix", s.conninfo());
    let client = rt.block_on(connect(&info)).unwrap();
    let n: i64 = rt
        .block_on(client.query_one("SELECT count(*) FROM pg_unix WHERE id > $1", &[&1i32]))
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
    let e = rt
        .block_on(client.batch_execute("DROP TABLE pg_unix"))
        .unwrap_err();
    assert_eq!(code(&e), "42501", "{e}");
    rt.block_on(async {
        // The session's backend came over the socket: it has no client address.
        let over_socket: bool = direct()
            .await
            .query_one(
                "SELECT bool_and(client_addr IS NULL) FROM pg_stat_activity WHERE application_name = 'so_unix'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(over_socket, "the upstream session is not on the Unix socket");
        // A cancel reaches the database over the same socket.
        let token = client.cancel_token();
        let running = tokio::spawn(async move {
            client
                .simple_query("SELECT count(*) FROM generate_series(1, 2000000000)")
                .await
        });
        until_activity("application_name = 'so_unix' AND state = 'active'").await;
        token.cancel_query(NoTls).await.unwrap();
        let e = running.await.unwrap().unwrap_err();
        assert_eq!(e.code(), Some(&SqlState::QUERY_CANCELED), "{e}");
    });
    assert_eq!(rt.block_on(count("pg_unix")), 3);

    // A socket that is not there: the client hears where signoff looked.
    let s = start_in_front_of("host=/nonexistent/dir user=postgres dbname=test", "30s", "");
    let e = rt.block_on(connect(&s.conninfo())).unwrap_err();
    assert!(msg(&e).contains("/nonexistent/dir/.s.PGSQL.5432"), "{e:?}");
}

#[test]
fn pgbench_runs_through_the_door_in_both_protocols() {
    let s = start("30s", "");
    let rt = rt();
    rt.block_on(async {
        let db = direct().await;
        db.batch_execute(
            "CREATE TABLE IF NOT EXISTS pgbench_so (aid int primary key, abalance int); \
             INSERT INTO pgbench_so SELECT g, 0 FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING;",
        )
        .await
        .unwrap();
    });
    let script = s._dir.path().join("select.sql");
    std::fs::write(
        &script,
        "\\set aid random(1, 1000)\nSELECT abalance FROM pgbench_so WHERE aid = :aid;\n",
    )
    .unwrap();
    for mode in ["simple", "extended", "prepared"] {
        let out = Command::new("pgbench")
            .args(["-n", "-c", "2", "-t", "50", "-M", mode, "-f"])
            .arg(&script)
            .arg(s.conninfo())
            .output()
            .expect("pgbench is installed");
        let t = text(&out);
        assert!(out.status.success(), "{mode}: {t}");
        assert!(
            t.contains("number of transactions actually processed: 100/100"),
            "{mode}: {t}"
        );
        assert!(
            t.contains("number of failed transactions: 0"),
            "{mode}: {t}"
        );
    }
    // A clean stop writes every queued read: all 300 statements are in the
    // chain, each with its decision and outcome, and the chain verifies.
    let Setup { server, _dir, .. } = s;
    server.stop();
    let config = _dir.path().join("signoff.toml");
    let config = config.to_str().unwrap();
    let out = run(&["--config", config, "audit", "export"], _dir.path());
    assert!(out.status.success(), "{}", text(&out));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let selects = outcomes(&events)
        .iter()
        .filter(|d| d.as_str() == "SELECT 1")
        .count();
    assert_eq!(selects, 300, "{events:?}");
    assert!(
        events.iter().any(|e| e["kind"] == "reads.batched"),
        "reads are batched"
    );
    let out = run(&["--config", config, "audit", "verify"], _dir.path());
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn psycopg_uses_the_door_with_parameters() {
    let s = start("30s", "");
    let rt = rt();
    rt.block_on(fresh_table("pg_psycopg", 3));
    let python = std::env::var("SIGNOFF_TEST_PYTHON")
        .unwrap_or_else(|_| panic!("SIGNOFF_TEST_PYTHON is not set: run the suite with ./test"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pg/client.py");
    let out = Command::new(python)
        .arg(script)
        .arg(s.conninfo())
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("rows [(1, 'n1'), (2, 'n2')]"), "{t}");
    assert!(t.contains("denied 42501"), "{t}");
    assert_eq!(rt.block_on(count("pg_psycopg")), 3);
}

#[test]
fn tls_is_offered_when_configured() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("c.pem"), certs.path().join("k.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-subj", "/CN=localhost", "-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed");
    assert!(made.status.success(), "{}", text(&made));
    let s = start(
        "30s",
        &format!(
            "tls = {{ cert = {:?}, key = {:?} }}",
            cert.to_str().unwrap(),
            key.to_str().unwrap()
        ),
    );
    let info = s.conninfo().replace("sslmode=disable", "sslmode=require");
    let out = Command::new("psql")
        .args([
            &info,
            "-X",
            "-c",
            "\\conninfo",
            "-c",
            "SELECT 41 + 1 AS answer",
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("SSL connection") && t.contains("42"), "{t}");
}
