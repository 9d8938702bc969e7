//! Approve → waiter wake latency: a caller holds on a pending request; a
//! reviewer approves; how long until the holder has its answer? Includes the
//! review's durable commit (fsync), the notification, and the waiter's re-read.
//! Prints p50/p99 over many rounds; `bench/run.sh` records them.

use std::time::{Duration, Instant};

use signoff_config::{demo, Config};
use signoff_core::action::SqlPayload;
use signoff_core::{AuthMethod, Payload, Verdict};
use signoff_gateway::{CheckRequest, Decider, Gateway, GatewaySettings};
use signoff_store::Store;

fn main() {
    let rounds: usize = std::env::var("WAKE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::embedded(dir.path().to_path_buf());
    let gw = Gateway::new(
        Decider::from_config(&config).unwrap(),
        Store::open(dir.path()).unwrap(),
        GatewaySettings {
            public_url: "http://bench".into(),
            max_hold: Duration::from_secs(60),
            masking: Default::default(),
            key_recheck: Duration::from_secs(30),
        },
        vec![],
    );
    let auth = || AuthMethod::ApiKey {
        key_id: "bench".into(),
    };
    let agent = gw
        .caller_for(format!("agent:{}", demo::AGENT).parse().unwrap(), auth())
        .unwrap();
    let reviewer = gw
        .caller_for(
            format!("user:{}", demo::REVIEWERS[0]).parse().unwrap(),
            auth(),
        )
        .unwrap();
    let mut samples = rt.block_on(async {
        let mut samples = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let req = CheckRequest {
                target: "demo-db".into(),
                payload: Payload::Sql(SqlPayload {
                    sql: format!("DELETE FROM orders WHERE id = {i}"),
                    params: vec![],
                }),
                reason: None,
                annotations: None,
                trace_id: None,
            };
            let id = gw
                .check(&agent, req, None)
                .await
                .unwrap()
                .approval
                .unwrap()
                .id;
            let waiter = {
                let gw = gw.clone();
                tokio::spawn(async move {
                    let r = gw.wait_for(id, Duration::from_secs(30)).await.unwrap();
                    (Instant::now(), r.status)
                })
            };
            // Let the waiter subscribe and park.
            tokio::time::sleep(Duration::from_millis(3)).await;
            let approved_at = Instant::now();
            gw.review(&reviewer, id, Verdict::Approve, String::new(), None)
                .await
                .unwrap();
            let (woke_at, status) = waiter.await.unwrap();
            assert_eq!(status, signoff_core::ApprovalStatus::Approved);
            samples.push(woke_at.duration_since(approved_at));
        }
        samples
    });
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "approve_to_wake rounds={rounds} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3
    );
    gw.store().shutdown();
}
