//! Audit append rate: concurrent writers share group commits (one fsync per
//! group) versus one writer waiting for each commit, and queued (detached)
//! appends, the path of allowed reads.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use signoff_core::{
    ActionKind, AllowedRead, AuditEvent, AuditKind, Effect, ExecutionOutcome, ReadRecord,
};
use signoff_store::Store;

fn event() -> AuditEvent {
    let mut e = AuditEvent::new(
        AuditKind::ActionDecided,
        "agent:bench",
        signoff_core::audit::timestamp(time::OffsetDateTime::now_utc()),
    );
    e.target = Some("demo-db".into());
    e.payload = json!({ "sql": "SELECT * FROM orders WHERE id = 42" });
    e.details = json!({ "decision": { "decision": "allow", "policies": ["reads-allowed"] }, "effects": ["read"] });
    e
}

/// An allowed read as the gate queues it: the decided event and its outcome.
fn read() -> ReadRecord {
    let mut event = event();
    event.details = serde_json::Value::Null;
    ReadRecord {
        read: AllowedRead {
            event,
            policies: vec!["reads-allowed".into()],
            effects: [Effect::Read].into(),
            kind: ActionKind::Sql,
            summary: "SELECT on orders".into(),
        },
        outcome: ExecutionOutcome {
            succeeded: true,
            exit_code: None,
            duration_ms: Some(1),
            detail: Some("SELECT 1".into()),
        },
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut g = c.benchmark_group("audit_append");
    g.sample_size(10);
    // `write` runs a job in its own savepoint; `append` is the decision
    // path's lone event without one.
    for (name, writers, lone) in [
        ("durable_events", 1usize, false),
        ("durable_events", 64, false),
        ("durable_appends", 64, true),
    ] {
        let per_iter = 512;
        g.throughput(Throughput::Elements(per_iter as u64));
        g.bench_with_input(
            BenchmarkId::new(name, format!("{writers}_writers")),
            &writers,
            |b, &writers| {
                b.iter(|| {
                    rt.block_on(async {
                        let mut tasks = Vec::new();
                        for _ in 0..writers {
                            let s = store.clone();
                            tasks.push(tokio::spawn(async move {
                                for _ in 0..per_iter / writers {
                                    match lone {
                                        true => s.append(event()).await.unwrap(),
                                        false => {
                                            s.write(|tx| tx.append(event())).await.unwrap();
                                        }
                                    }
                                }
                            }));
                        }
                        for t in tasks {
                            t.await.unwrap();
                        }
                    })
                })
            },
        );
    }
    // Allowed reads: queued without waiting, then one awaited write that
    // commits after them, so an iteration ends when all are durable.
    // One row per read (`append_detached`) versus the reads of one caller
    // folded into `reads.batched` events (`append_read`).
    for (name, batched) in [("queued_reads", false), ("queued_reads_batched", true)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    for _ in 0..511 {
                        match batched {
                            true => store.append_read(read()).unwrap(),
                            false => store.append_detached(event()).unwrap(),
                        }
                    }
                    store.write(|tx| tx.append(event())).await.unwrap();
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
