//! Masking throughput on a 10 MB mixed corpus (logs, JSON, SQL) and latency
//! on 1 KB payloads, every detector on. `bench/mask.py` runs Presidio beside it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use signoff_mask::{MaskConfig, Masker};

/// Deterministic mixed text: log lines, JSON documents and SQL, about one in
/// three lines holding a sensitive value. `bench/mask.py` builds the same text.
pub fn mixed_corpus(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 256);
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(LINES[i % LINES.len()]);
        out.push('\n');
        i += 1;
    }
    out
}

const LINES: [&str; 16] = [
    "2026-11-22T03:59:53.120Z INFO request_id=7f3a9c1b path=/v1/orders status=200 latency_ms=12",
    r#"{"event":"checkout","order_id":918273645,"items":3,"total":"129.90","currency":"EUR","ts":"2026-11-22T04:00:01Z"}"#,
    "SELECT o.id, o.total FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.created_at > now() - interval '1 day'",
    "2026-11-22T03:59:54.002Z WARN retrying upstream call attempt=2 backoff_ms=250 host=api.internal",
    r#"{"event":"login","user":"alice@example.com","ip":"203.0.113.42","ua":"Mozilla/5.0"}"#,
    "UPDATE accounts SET status = 'active' WHERE id = 4412 AND tenant = 'acme'",
    "2026-11-22T03:59:55.310Z DEBUG cache hit key=session:8f2b ttl=300 size=1432",
    "charge card 4111 1111 1111 1111 amount=42.00 merchant=acme",
    "2026-11-22T03:59:56.777Z INFO job finished id=31337 duration=1.82s rows=10422",
    r#"{"config":{"db":"postgres://app:s3cr3tpw@db.internal:5432/prod","pool":20}}"#,
    "INSERT INTO audit_log (actor, action, at) VALUES ('svc-billing', 'refund', now())",
    "2026-11-22T03:59:57.015Z ERROR token=ghp_abcdefghijklmnopqrstuvwxyz0123456789 rejected",
    "2026-11-22T03:59:58.500Z INFO healthz ok uptime=86400s version=1.42.7",
    r#"{"metrics":{"p50":1.2,"p99":8.4,"rps":14855},"host":"web-3","region":"eu-west-1"}"#,
    "DELETE FROM sessions WHERE expires_at < now() - interval '7 days'",
    "2026-11-22T03:59:59.999Z INFO user bob.smith@corp.example.org changed plan to pro",
];

fn bench(c: &mut Criterion) {
    let masker = Masker::new(&MaskConfig::default()).unwrap();
    let corpus = mixed_corpus(10 * 1024 * 1024);
    let mut g = c.benchmark_group("mask");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(corpus.len() as u64));
    g.bench_function("corpus_10mb_per_line", |b| {
        b.iter(|| corpus.lines().map(|l| masker.mask(l).len()).sum::<usize>())
    });
    g.finish();
    let text = mixed_corpus(2048);
    let payload = &text[..text[..1024].rfind('\n').unwrap_or(1024)];
    let mut g = c.benchmark_group("mask_1kb");
    g.throughput(Throughput::Bytes(payload.len() as u64));
    g.bench_function("payload", |b| {
        b.iter(|| masker.mask(std::hint::black_box(payload)).len())
    });
    g.finish();
    // The worst case (see `Masker::mask_counting`): each hostile input alone.
    let mut g = c.benchmark_group("mask_hostile");
    g.sample_size(10);
    for (i, text) in signoff_mask::testing::hostile_inputs(256 * 1024)
        .iter()
        .enumerate()
    {
        g.throughput(Throughput::Bytes(text.len() as u64));
        let name: String = text.chars().take(8).collect();
        g.bench_function(format!("{i:02}_{}", name.trim()), |b| {
            b.iter(|| masker.mask(text).len())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
