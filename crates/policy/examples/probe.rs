use signoff_core::*;
use signoff_policy::testdata as bench;
use signoff_policy::*;

fn main() {
    starter_only();
    let e = PolicyEngine::load(
        &bench::hundred_policies(),
        &bench::directory(),
        ApprovalDefaults::default(),
    )
    .unwrap();
    let p = Principal::Agent("bot".into());
    let payload =
        Payload::from_text(ActionKind::Sql, "DELETE FROM payments_0 WHERE id = 42").unwrap();
    let c = signoff_classify::classify(&payload);
    let req = DecisionRequest {
        principal: &p,
        on_behalf_of: "u1",
        target: "t1",
        kind: ActionKind::Sql,
        classification: &c,
        reason: "",
        now: time::OffsetDateTime::now_utc(),
    };
    let n = 50000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(signoff_classify::classify(&payload));
    }
    println!(
        "classify        {:>6.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(e.cedar_request(&req));
    }
    println!(
        "context+request {:>6.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(e.decide(&req));
    }
    println!(
        "decide          {:>6.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

#[allow(dead_code)]
fn starter_only() {
    let e = PolicyEngine::load(
        &PolicySource::starter(),
        &bench::directory(),
        ApprovalDefaults::default(),
    )
    .unwrap();
    let p = Principal::Agent("bot".into());
    let payload =
        Payload::from_text(ActionKind::Sql, "DELETE FROM payments_0 WHERE id = 42").unwrap();
    let c = signoff_classify::classify(&payload);
    let req = DecisionRequest {
        principal: &p,
        on_behalf_of: "u1",
        target: "t1",
        kind: ActionKind::Sql,
        classification: &c,
        reason: "",
        now: time::OffsetDateTime::now_utc(),
    };
    let r = e.cedar_request(&req).unwrap();
    let n = 50000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(e.cedar_is_authorized(&r));
    }
    println!(
        "cedar on 4 starter policies {:>6.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(e.decide(&req));
    }
    println!(
        "decide on 4 starter policies {:>6.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
