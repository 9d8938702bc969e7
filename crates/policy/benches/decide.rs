//! Classify + decide for SQL and exec actions against 100 policies, beside a
//! bare Cedar `is_authorized` on the same request. `bench/run.sh` prints the ratio.

use criterion::{criterion_group, criterion_main, Criterion};
use signoff_core::{ActionKind, Payload, Principal};
use signoff_policy::testdata::{directory, hundred_policies};
use signoff_policy::{ApprovalDefaults, DecisionRequest, PolicyEngine};

pub fn bench(c: &mut Criterion) {
    let engine = PolicyEngine::load(
        &hundred_policies(),
        &directory(),
        ApprovalDefaults::default(),
    )
    .unwrap();
    assert_eq!(engine.policy_count(), 100);
    let principal = Principal::Agent("bot".into());
    let now = time::OffsetDateTime::now_utc();
    for (name, kind, text) in [
        (
            "sql",
            ActionKind::Sql,
            "DELETE FROM payments_0 WHERE id = 42",
        ),
        (
            "exec",
            ActionKind::Exec,
            "kubectl delete pod api-0 -n payments",
        ),
    ] {
        let payload = Payload::from_text(kind, text).unwrap();
        let classification = signoff_classify::classify(&payload);
        let req = DecisionRequest {
            principal: &principal,
            on_behalf_of: "u1",
            target: "t1",
            kind,
            classification: &classification,
            reason: "",
            now,
        };
        let request = engine.cedar_request(&req).unwrap();
        let mut g = c.benchmark_group(name);
        g.bench_function("cedar_is_authorized", |b| {
            b.iter(|| {
                engine
                    .cedar_is_authorized(std::hint::black_box(&request))
                    .decision()
            })
        });
        g.bench_function("signoff_decide", |b| {
            b.iter(|| engine.decide(std::hint::black_box(&req)))
        });
        // A repeated statement: the memo answers when the slice never reads
        // the time (otherwise this is `signoff_decide`).
        g.bench_function("signoff_decide_memoized", |b| {
            b.iter(|| engine.decide_memoized(std::hint::black_box(&req), text))
        });
        g.bench_function("signoff_classify_and_decide", |b| {
            b.iter(|| {
                let classification = signoff_classify::classify(std::hint::black_box(&payload));
                engine.decide(&DecisionRequest {
                    classification: &classification,
                    ..DecisionRequest { ..req_clone(&req) }
                })
            })
        });
        g.finish();
    }
}

fn req_clone<'a>(r: &DecisionRequest<'a>) -> DecisionRequest<'a> {
    DecisionRequest {
        principal: r.principal,
        on_behalf_of: r.on_behalf_of,
        target: r.target,
        kind: r.kind,
        classification: r.classification,
        reason: r.reason,
        now: r.now,
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
