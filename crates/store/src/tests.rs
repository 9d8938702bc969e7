use super::*;
use serde_json::{json, Value};
use signoff_core::{
    ActionKind, AllowedRead, AuditEvent, AuditKind, Effect, ExecutionOutcome, ReadRecord,
};

fn event(i: usize) -> AuditEvent {
    let mut e = AuditEvent::new(
        AuditKind::ActionDecided,
        "agent:bot",
        signoff_core::audit::timestamp(time::OffsetDateTime::now_utc()),
    );
    e.details = json!({ "i": i });
    e
}

/// An allowed read by `agent:bot`, numbered `i` in its summary.
fn read_record(i: usize) -> ReadRecord {
    ReadRecord {
        read: AllowedRead {
            event: AuditEvent {
                details: Value::Null,
                ..event(i)
            },
            policies: vec!["reads-allowed".into()],
            effects: std::collections::BTreeSet::from([Effect::Read]),
            kind: ActionKind::Sql,
            summary: i.to_string(),
        },
        outcome: ExecutionOutcome {
            succeeded: true,
            exit_code: None,
            duration_ms: Some(1),
            detail: Some("SELECT 1".into()),
        },
    }
}

/// The number [`read_record`] gave a read, from its written details.
fn read_number(details: &Value) -> usize {
    details["summary"].as_str().unwrap().parse().unwrap()
}

fn raw(store: &Store) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(store.path()).unwrap();
    // A forger drops the append-only triggers first.
    c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    c
}

fn verify_store(store: &Store) -> VerifyReport {
    store.read_blocking(|c| verify(c, None, |_| {})).unwrap()
}

fn assert_whole_chain(store: &Store, events: u64) {
    let report = verify_store(store);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.events, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_form_one_unbroken_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.write(move |tx| tx.append(event(i))).await.unwrap()
        }));
    }
    let mut seqs: Vec<i64> = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    assert_whole_chain(&store, 200);
}

#[tokio::test]
async fn a_failing_job_rolls_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let ok1 = store.write(|tx| tx.append(event(1)));
    let bad = store.write(|tx| {
        tx.append(event(2))?;
        Err::<(), _>(StoreError::Rejected("no".into()))
    });
    let ok2 = store.write(|tx| tx.append(event(3)));
    let (a, b, c) = tokio::join!(ok1, bad, ok2);
    assert!(a.is_ok() && b.is_err() && c.is_ok());
    let events = store
        .read(|c| read::events(c, &read::AuditFilter::default()))
        .await
        .unwrap();
    let is: Vec<i64> = events
        .iter()
        .map(|e| e.details["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        is,
        vec![1, 3],
        "the failed job's event is gone and the chain has no gap"
    );
    assert!(verify_store(&store).ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaited_appends_share_a_commit_with_a_failing_job_and_keep_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            match i % 10 {
                // No savepoint of its own: the failing job's rollback to its
                // savepoint must not take the appends around it along.
                5 => s
                    .write(move |tx| {
                        tx.append(event(i))?;
                        Err::<(), _>(StoreError::Rejected("no".into()))
                    })
                    .await
                    .is_err(),
                _ => s.append(event(i)).await.is_ok(),
            }
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
    let events = store
        .read(|c| read::events(c, &read::AuditFilter::default()))
        .await
        .unwrap();
    let mut is: Vec<u64> = events
        .iter()
        .map(|e| e.details["i"].as_u64().unwrap())
        .collect();
    is.sort();
    let want: Vec<u64> = (0..100).filter(|i| i % 10 != 5).collect();
    assert_eq!(is, want);
    assert_whole_chain(&store, 90);
}

#[tokio::test]
async fn an_append_after_shutdown_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.append(event(1)).await.unwrap();
    store.shutdown();
    assert_eq!(store.append(event(2)).await, Err(StoreError::Closed));
    assert_whole_chain(&store, 1);
}

#[tokio::test]
async fn the_log_is_append_only_through_sql() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.write(|tx| tx.append(event(1))).await.unwrap();
    let c = rusqlite::Connection::open(store.path()).unwrap();
    assert!(c.execute("UPDATE audit SET actor = 'x'", []).is_err());
    assert!(c.execute("DELETE FROM audit", []).is_err());
}

async fn five(store: &Store) {
    for i in 0..5 {
        store.write(move |tx| tx.append(event(i))).await.unwrap();
    }
}

#[tokio::test]
async fn an_edit_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    five(&store).await;
    raw(&store)
        .execute("UPDATE audit SET actor = 'user:mallory' WHERE seq = 3", [])
        .unwrap();
    let p = verify_store(&store).problem.unwrap();
    assert!(p.contains("#3") && p.contains("edited"), "{p}");
}

#[tokio::test]
async fn a_deletion_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    five(&store).await;
    raw(&store)
        .execute("DELETE FROM audit WHERE seq = 2", [])
        .unwrap();
    let p = verify_store(&store).problem.unwrap();
    assert!(p.contains("#3") && p.contains("deleted"), "{p}");
}

#[tokio::test]
async fn a_reorder_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    five(&store).await;
    raw(&store)
        .execute_batch("UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 100;")
        .unwrap();
    let p = verify_store(&store).problem.unwrap();
    assert!(p.contains("#2"), "{p}");
}

#[tokio::test]
async fn an_insertion_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    five(&store).await;
    let c = raw(&store);
    c.execute_batch("UPDATE audit SET seq = seq + 100 WHERE seq >= 3; UPDATE audit SET seq = seq - 99 WHERE seq >= 103;").unwrap();
    c.execute(
        "INSERT INTO audit SELECT 3, id, at, kind, 'user:forger', on_behalf_of, target, action_id, approval_id, fingerprint, reason, payload, details, trace_id, hash, hash FROM audit WHERE seq = 2",
        [],
    )
    .unwrap();
    let p = verify_store(&store).problem.unwrap();
    assert!(p.contains("#3"), "{p}");
}

#[tokio::test]
async fn truncation_after_a_checkpoint_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    five(&store).await;
    store.shutdown(); // signs a checkpoint at the head
    let store = Store::open(dir.path()).unwrap();
    let report = verify_store(&store);
    assert!(report.ok() && report.checkpoints == 1, "{report:?}");
    raw(&store)
        .execute("DELETE FROM audit WHERE seq = 5", [])
        .unwrap();
    let p = verify_store(&store).problem.unwrap();
    assert!(p.contains("truncated"), "{p}");
}

#[tokio::test]
async fn state_survives_a_restart_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    five(&store).await;
    store.shutdown();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let e = store.write(|tx| tx.append(event(9))).await.unwrap();
    assert_eq!(e.seq, 6);
    assert!(verify_store(&store).ok());
}

#[tokio::test]
async fn a_version_1_database_gains_scram_verifiers_and_keeps_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.shutdown();
    }
    let path = dir.path().join("signoff.db");
    {
        // Roll the file back to what version 1 wrote.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "DROP TABLE api_keys; \
             CREATE TABLE api_keys (hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE, principal TEXT NOT NULL, \
             label TEXT, created_at TEXT NOT NULL, revoked_at TEXT); \
             INSERT INTO api_keys VALUES ('h', 'so_old', 'agent:a', NULL, '2026-01-01T00:00:00Z', NULL); \
             DROP TABLE outbox; DROP TABLE channel_refs; \
             DROP INDEX audit_of_approvals; CREATE INDEX audit_by_approval ON audit (approval_id); \
             UPDATE meta SET value = '1' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let old = store
        .read(|c| crate::read::key_by_hash(c, "h"))
        .await
        .unwrap();
    assert_eq!(old.unwrap().key_id, "so_old", "old keys still authenticate");
    let none = store
        .read(|c| crate::read::scram_verifiers(c, "agent:a"))
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "an old key has no verifier, so no PostgreSQL login"
    );
    let p: signoff_core::Principal = "agent:a".parse().unwrap();
    store
        .write(move |tx| {
            tx.insert_key(
                "h2",
                "so_new",
                &p,
                None,
                "SCRAM-SHA-256$1:AA==$AA==:AA==",
                time::OffsetDateTime::now_utc(),
            )
        })
        .await
        .unwrap();
    let one = store
        .read(|c| crate::read::scram_verifiers(c, "agent:a"))
        .await
        .unwrap();
    assert_eq!(
        one,
        vec![(
            "so_new".to_owned(),
            "SCRAM-SHA-256$1:AA==$AA==:AA==".to_owned()
        )]
    );
    let version: String = raw(&store)
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, "4");
    let indexes: Vec<String> = rusqlite::Connection::open(store.path())
        .unwrap()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        indexes,
        ["audit_by_action", "audit_by_at", "audit_of_approvals"]
    );
    let outbox: i64 = rusqlite::Connection::open(store.path())
        .unwrap()
        .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(outbox, 0, "version 3 tables exist after the migration");
}

/// The outbox keeps a request's notifications in order, skips what no
/// channel wants, and retries only when due.
#[tokio::test]
async fn outbox_orders_per_request_and_retries_when_due() {
    use crate::outbox::{outbox_counts, outbox_due};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.write(|tx| tx.init_outbox_cursor()).await.unwrap();
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    store
        .write(move |tx| {
            for (kind, approval) in [
                (AuditKind::RequestCreated, Some(a)),
                (AuditKind::ActionDecided, None),
                (AuditKind::RequestCreated, Some(b)),
                (AuditKind::RequestResolved, Some(a)),
            ] {
                let mut e = event(0);
                e.kind = kind;
                e.approval_id = approval;
                tx.append(e)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let read = store
        .write(move |tx| {
            tx.enqueue_outbox(
                &["slack".to_owned()],
                |_, kind, _| kind != AuditKind::ActionDecided,
                100,
                now,
            )
        })
        .await
        .unwrap();
    assert_eq!(read, 4);
    let due = |at| {
        let store = store.clone();
        async move {
            store
                .read(move |c| outbox_due(c, "slack", at, 10))
                .await
                .unwrap()
        }
    };
    let first = due(now).await;
    assert_eq!(
        first.iter().map(|r| r.approval_id).collect::<Vec<_>>(),
        [Some(a), Some(b)],
        "a's resolution waits for a's creation"
    );
    let (ra, rb) = (first[0].id, first[1].id);
    let later = now + time::Duration::seconds(30);
    store
        .write(move |tx| {
            tx.outbox_delivered(ra, now)?;
            tx.outbox_failed(rb, "HTTP 503", Some(later))
        })
        .await
        .unwrap();
    let next = due(now).await;
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].approval_id, Some(a));
    assert_eq!(next[0].attempts, 0);
    let retried = due(later).await;
    assert_eq!(retried.len(), 2, "b is due again at its retry time");
    assert_eq!(retried.iter().find(|r| r.id == rb).unwrap().attempts, 1);
    // Nothing new: the cursor moved past every event.
    let again = store
        .write(move |tx| tx.enqueue_outbox(&["slack".to_owned()], |_, _, _| true, 100, now))
        .await
        .unwrap();
    assert_eq!(again, 0);
    let counts = store.read(outbox_counts).await.unwrap();
    assert_eq!((counts.pending, counts.dead), (2, 0));
}

fn count(store: &Store) -> i64 {
    store
        .read_blocking(|c| Ok(c.query_row("SELECT count(*) FROM audit", [], |r| r.get(0))?))
        .unwrap()
}

/// Waits (up to a minute, far beyond any linger) for `n` audit rows.
async fn eventually_count(store: &Store, n: i64) -> i64 {
    for _ in 0..600 {
        if count(store) >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    count(store)
}

/// A queued job commits without any awaited write after it, whether the
/// writer was idle or had just committed.
#[tokio::test]
async fn a_queued_job_commits_without_an_awaited_write_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    tokio::time::sleep(DETACHED_LINGER * 20).await;
    store.append_detached(event(1)).unwrap();
    assert_eq!(
        eventually_count(&store, 1).await,
        1,
        "queued to an idle writer"
    );
    store.append(event(2)).await.unwrap();
    store.append_detached(event(3)).unwrap();
    assert_eq!(
        eventually_count(&store, 3).await,
        3,
        "queued after a commit"
    );
    tokio::time::sleep(DETACHED_LINGER * 20).await;
    store.append_read(read_record(4)).unwrap();
    assert_eq!(eventually_count(&store, 4).await, 4, "a read queued later");
    assert_whole_chain(&store, 4);
}

/// Detached jobs and appends are batched without a waiter, yet none is
/// lost: an awaited write commits every one queued before it, and a clean
/// shutdown commits the rest. A failing detached job takes only itself down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_writes_are_batched_and_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for i in 0..2000 {
        if i % 2 == 0 {
            store.append_detached(event(i)).unwrap();
        } else {
            store
                .write_detached(move |tx| tx.append(event(i)).map(drop))
                .unwrap();
        }
        if i == 1000 {
            store
                .write_detached(|tx| {
                    tx.append(event(usize::MAX))?;
                    Err(StoreError::Rejected("refused after appending".into()))
                })
                .unwrap();
        }
    }
    let last = store.write(|tx| tx.append(event(2000))).await.unwrap();
    assert_eq!(last.seq, 2001, "queued before it, so chained before it");
    assert_eq!(count(&store), 2001);
    for i in 0..700 {
        store.append_detached(event(i)).unwrap();
    }
    store.shutdown();
    assert!(
        store
            .write_detached(|tx| tx.append(event(0)).map(drop))
            .is_err(),
        "a stopped store refuses work instead of dropping it"
    );
    assert!(store.append_detached(event(0)).is_err());
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(count(&reopened), 2701);
    let report = verify_store(&reopened);
    assert!(report.ok(), "{report:?}");
}

/// Queued reads become one `reads.batched` event per caller and target in
/// a group commit; every read survives with its own fields, across awaited
/// writes and a clean shutdown, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_reads_are_batched_per_caller_and_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let read = |i: usize| {
        let mut r = read_record(i);
        r.read.event.actor = format!("agent:bot{}", i % 3);
        r.read.event.target = Some("db".into());
        r
    };
    for i in 0..3000 {
        store.append_read(read(i)).unwrap();
        if i % 500 == 0 {
            store
                .write(move |tx| tx.append(event(i)).map(drop))
                .await
                .unwrap();
        }
    }
    store.shutdown();
    let reopened = Store::open(dir.path()).unwrap();
    let rows: Vec<(String, String, String)> = reopened
        .read_blocking(|c| {
            let mut stmt = c.prepare("SELECT kind, actor, details FROM audit ORDER BY seq")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .unwrap();
    let mut seen = Vec::new();
    for (kind, actor, details) in &rows {
        let details: Value = serde_json::from_str(details).unwrap();
        match kind.as_str() {
            "reads.batched" => {
                let reads = details["reads"].as_array().unwrap();
                assert_eq!(details["count"], reads.len());
                for r in reads {
                    let i = read_number(&r["details"]);
                    assert_eq!(
                        actor,
                        &format!("agent:bot{}", i % 3),
                        "one caller per batch"
                    );
                    assert_eq!(r["kind"], "action.decided");
                    seen.push(i);
                }
            }
            "action.decided" if actor != "agent:bot" => seen.push(read_number(&details)),
            _ => {}
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..3000).collect::<Vec<_>>(), "every read, once");
    let report = verify_store(&reopened);
    assert!(report.ok(), "{report:?}");
}

/// Reads group by caller, human and target, in queue order, up to the cap
/// per event; other jobs keep their order.
#[test]
fn reads_split_into_groups_per_caller() {
    let read = |actor: &str, human: Option<&str>, i: usize| {
        let mut r = read_record(i);
        r.read.event.actor = actor.into();
        r.read.event.on_behalf_of = human.map(str::to_owned);
        Queued::Read(Box::new(r))
    };
    let mut batch = vec![
        read("agent:a", None, 0),
        Queued::Append(Box::new(event(100)), None),
        read("agent:b", None, 1),
        read("agent:a", None, 2),
        read("agent:a", Some("rita"), 3),
        Queued::Append(Box::new(event(101)), None),
    ];
    batch.extend((4..2100).map(|i| read("agent:b", None, i)));
    let (groups, rest) = crate::write::split_reads(batch);
    let ids = |g: &Vec<ReadRecord>| -> Vec<u64> {
        g.iter().map(|r| r.read.summary.parse().unwrap()).collect()
    };
    assert_eq!(groups.len(), 5);
    assert_eq!(ids(&groups[0]), [0, 2]);
    assert_eq!(ids(&groups[1])[..3], [1, 4, 5]);
    assert_eq!(groups[1].len(), 1024);
    assert_eq!(ids(&groups[2]), [3]);
    assert_eq!(groups[3].len(), 1024);
    assert_eq!(groups[4].len(), 2100 - 4 + 1 - 2048);
    let rest: Vec<u64> = rest
        .iter()
        .map(|q| match q {
            Queued::Append(e, _) => e.details["i"].as_u64().unwrap(),
            _ => panic!("only reads are taken out"),
        })
        .collect();
    assert_eq!(rest, [100, 101]);
}

/// Each filter selects what it names, alone or combined, and the approval
/// filter is answered from its index rather than a scan of the whole log.
#[tokio::test]
async fn audit_filters_select_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let approval = uuid::Uuid::now_v7();
    for i in 0..6usize {
        let mut e = event(i);
        e.at = format!("2026-01-0{}T00:00:00Z", i + 1);
        e.actor = if i % 2 == 0 {
            "agent:even"
        } else {
            "agent:odd"
        }
        .into();
        if i >= 4 {
            e.kind = AuditKind::RequestCreated;
            e.approval_id = Some(approval);
        }
        store.write(move |tx| tx.append(e)).await.unwrap();
    }
    let day = |d: u8| Some(format!("2026-01-0{d}T00:00:00Z"));
    let cases: Vec<(&str, read::AuditFilter, Vec<i64>)> = vec![
        (
            "everything",
            read::AuditFilter::default(),
            vec![0, 1, 2, 3, 4, 5],
        ),
        (
            "since is inclusive, until exclusive",
            read::AuditFilter {
                since: day(2),
                until: day(4),
                ..Default::default()
            },
            vec![1, 2],
        ),
        (
            "actor",
            read::AuditFilter {
                actor: Some("agent:odd".into()),
                ..Default::default()
            },
            vec![1, 3, 5],
        ),
        (
            "kind",
            read::AuditFilter {
                kind: Some(AuditKind::RequestCreated),
                ..Default::default()
            },
            vec![4, 5],
        ),
        (
            "approval and actor",
            read::AuditFilter {
                approval_id: Some(approval),
                actor: Some("agent:even".into()),
                ..Default::default()
            },
            vec![4],
        ),
        (
            "paging",
            read::AuditFilter {
                after_seq: Some(2),
                limit: Some(2),
                ..Default::default()
            },
            vec![2, 3],
        ),
    ];
    for (name, filter, want) in cases {
        let got: Vec<i64> = store
            .read(move |c| read::events(c, &filter))
            .await
            .unwrap()
            .iter()
            .map(|e| e.details["i"].as_i64().unwrap())
            .collect();
        assert_eq!(got, want, "{name}");
    }
    let plan: String = rusqlite::Connection::open(store.path())
        .unwrap()
        .query_row(
            "EXPLAIN QUERY PLAN SELECT seq FROM audit WHERE seq > ? AND approval_id = ? ORDER BY seq LIMIT ?",
            [0, 0, 1],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("audit_of_approvals"), "{plan}");
}

/// Each group commit reports its time and size before its jobs hear back,
/// so a caller who was answered has been counted.
#[tokio::test]
async fn group_commits_report_to_their_observer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::<(Duration, usize)>::new()));
    let record = seen.clone();
    let observer: CommitObserver = Box::new(move |took, jobs| {
        record.lock().unwrap().push((took, jobs));
    });
    assert!(store.observe_commits(observer).is_ok());
    assert!(
        store.observe_commits(Box::new(|_, _| {})).is_err(),
        "a second observer is refused"
    );
    store.append(event(1)).await.unwrap();
    let (a, b) = tokio::join!(store.append(event(2)), store.append(event(3)));
    a.unwrap();
    b.unwrap();
    let seen = seen.lock().unwrap().clone();
    let jobs: usize = seen.iter().map(|(_, n)| n).sum();
    assert_eq!(jobs, 3, "{seen:?}");
    assert!(seen
        .iter()
        .all(|(took, n)| *n > 0 && *took > Duration::ZERO));
}
