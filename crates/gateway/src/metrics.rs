//! Prometheus metrics for decisions, approvals, waiters and the audit's
//! group commits.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabels {
    pub verdict: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub decisions: Family<OutcomeLabels, Counter>,
    pub decision_seconds: Histogram,
    pub pending: Gauge,
    pub waiters: Gauge,
    pub reviews: Family<VerdictLabels, Counter>,
    pub auth_failures: Counter,
    pub expired: Counter,
    /// Every durable decision waits for one of these (DESIGN invariant 5),
    /// so their time is a floor under a gated call's added latency.
    pub commit_seconds: Histogram,
    pub commit_jobs: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("signoff");
        let decisions = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "decisions",
            "Actions decided, by outcome and action kind",
            decisions.clone(),
        );
        // 1 µs .. ~1 s
        let decision_seconds = Histogram::new(exponential_buckets(0.000_001, 2.5, 16));
        registry.register(
            "decision_latency_seconds",
            "Time to classify and evaluate policy for one action",
            decision_seconds.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "approvals_pending",
            "Approval requests waiting for reviewers",
            pending.clone(),
        );
        let waiters = Gauge::default();
        registry.register(
            "waiters",
            "Callers holding a connection open for a decision",
            waiters.clone(),
        );
        let reviews = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "reviews",
            "Reviews accepted or refused, by verdict",
            reviews.clone(),
        );
        let auth_failures = Counter::default();
        registry.register(
            "auth_failures",
            "Requests refused for missing or invalid credentials",
            auth_failures.clone(),
        );
        let expired = Counter::default();
        registry.register(
            "approvals_expired",
            "Approval requests that expired unreviewed",
            expired.clone(),
        );
        // 10 µs .. ~5 s
        let commit_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 20));
        registry.register(
            "audit_commit_seconds",
            "Time of one audit group commit, fsync included; a durable decision waits for one",
            commit_seconds.clone(),
        );
        let commit_jobs = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        registry.register(
            "audit_commit_jobs",
            "Jobs (events, batched reads, approval changes) per audit group commit",
            commit_jobs.clone(),
        );
        Metrics {
            registry,
            decisions,
            decision_seconds,
            pending,
            waiters,
            reviews,
            auth_failures,
            expired,
            commit_seconds,
            commit_jobs,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        self.encode_with(|_| {})
    }

    /// Encodes these metrics, then what `more` appends, then `# EOF`.
    pub fn encode_with(&self, more: impl FnOnce(&mut String)) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        let _ = encode_registry(&mut out, &self.registry);
        more(&mut out);
        let _ = encode_eof(&mut out);
        out
    }
}
