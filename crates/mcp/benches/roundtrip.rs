//! Round trips of an allowed `tools/call` over streamable HTTP, at 1 and 32
//! concurrent clients: latency percentiles for one endpoint. `bench/run.sh
//! mcp` runs it against the upstream directly and through signoff.
//!
//! MCP_BENCH_URL (endpoint), MCP_BENCH_TOKEN (optional bearer),
//! MCP_BENCH_CALLS (per client, default 200), MCP_BENCH_CLIENTS (the counts
//! to run, default `1,32`). Without MCP_BENCH_URL it exits.
//! With MCP_BENCH_STATELESS=1 each call is one self-contained request of MCP
//! 2026-07-28 (envelope in `_meta`, routing headers, no session) instead of
//! a call in an rmcp session.

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
        .connect(
            signoff_mcp::Relay::default(),
            signoff_mcp::Lifecycle::Handshake,
        )
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

/// A 2026-07-28 client: one POST per call, the answer read to its end.
async fn stateless_client(url: String, token: Option<String>, calls: usize) -> Vec<Duration> {
    let http = reqwest13::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": "echo", "arguments": {"text": "ping"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    })
    .to_string();
    let mut out = Vec::with_capacity(calls);
    for _ in 0..calls {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo")
            .body(body.clone());
        if let Some(t) = &token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let t = Instant::now();
        let answer = req
            .send()
            .await
            .expect("call")
            .text()
            .await
            .expect("answer");
        out.push(t.elapsed());
        assert!(
            answer.contains("\"result\"") && !answer.contains("\"isError\":true"),
            "the bench call must be allowed: {answer}"
        );
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
    let stateless = std::env::var("MCP_BENCH_STATELESS").is_ok_and(|v| v == "1");
    // reqwest is built without a default TLS provider (as in signoff).
    #[allow(deprecated)] // see `upstream::http_client`
    let _ = rustls::crypto::ring::default_provider().install_default();
    let counts: Vec<usize> = std::env::var("MCP_BENCH_CLIENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 32]);
    for clients in counts {
        let mut all: Vec<Duration> = rt.block_on(async {
            let tasks: Vec<_> = (0..clients)
                .map(|_| match stateless {
                    true => tokio::spawn(stateless_client(url.clone(), token.clone(), calls)),
                    false => tokio::spawn(client(url.clone(), token.clone(), calls)),
                })
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
