//! Round trips of an allowed `tools/call` over streamable HTTP, at 1 and 32
//! concurrent clients: latency percentiles for one endpoint. `bench/run.sh
//! mcp` runs it against the upstream directly and through signoff.
//!
//! MCP_BENCH_URL (endpoint), MCP_BENCH_TOKEN (optional bearer),
//! MCP_BENCH_CALLS (per client, default 200). Without MCP_BENCH_URL it exits.

use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use signoff_mcp::Upstream;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn client(url: String, token: Option<String>, calls: usize) -> Vec<Duration> {
    let upstream = Upstream::Http {
        url,
        bearer: token,
        headers: Default::default(),
    };
    let session = upstream
        .connect(signoff_mcp::Relay::default())
        .await
        .expect("connect");
    let args = serde_json::json!({"text": "ping"});
    let mut out = Vec::with_capacity(calls);
    for _ in 0..calls {
        let mut req = CallToolRequestParams::new("echo");
        req.arguments = args.as_object().cloned();
        let t = Instant::now();
        let r = session.peer().call_tool(req).await.expect("call");
        out.push(t.elapsed());
        assert_ne!(r.is_error, Some(true), "the bench call must be allowed");
    }
    out
}

fn main() {
    let Ok(url) = std::env::var("MCP_BENCH_URL") else {
        eprintln!("set MCP_BENCH_URL (bench/run.sh mcp does)");
        return;
    };
    let token = std::env::var("MCP_BENCH_TOKEN").ok();
    let calls: usize = std::env::var("MCP_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for clients in [1usize, 32] {
        let mut all: Vec<Duration> = rt.block_on(async {
            let tasks: Vec<_> = (0..clients)
                .map(|_| tokio::spawn(client(url.clone(), token.clone(), calls)))
                .collect();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("client task"));
            }
            all
        });
        all.sort();
        println!(
            "clients={clients} calls={} p50_us={} p99_us={}",
            all.len(),
            percentile(&all, 0.50).as_micros(),
            percentile(&all, 0.99).as_micros()
        );
    }
}
