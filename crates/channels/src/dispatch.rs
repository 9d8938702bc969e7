//! The outbox dispatcher: one feeder turns new audit events into outbox
//! rows, one worker per channel delivers them with retries.
//!
//! A channel outage only delays that channel's own rows: nothing here is on
//! the path of a decision or a review.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use signoff_store::outbox::{self, OutboxRow};
use signoff_store::{Store, StoreError};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::{Channel, Delivery, DeliveryError, Refs, RequestView, TargetLabels};

/// Events read per feeder transaction.
const FEED_BATCH: u32 = 500;
/// Deliveries in flight per channel.
const DELIVERY_BATCH: u32 = 16;
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

pub struct DispatcherConfig {
    /// Prefix of review links: the request id is appended.
    pub review_url_base: String,
    pub labels: TargetLabels,
    /// How often to look for work without being woken (other replicas,
    /// retries coming due).
    pub poll: Duration,
    /// Attempts before a delivery is given up (`dead` in the outbox).
    pub max_attempts: u32,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            review_url_base: String::new(),
            labels: TargetLabels::new(),
            poll: Duration::from_secs(2),
            max_attempts: 12,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub channel: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    pub channel: String,
}

#[derive(Default)]
pub struct ChannelMetrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    pending: Gauge,
    dead: Gauge,
    failing: Family<ChannelLabels, Gauge>,
}

impl ChannelMetrics {
    pub fn new() -> ChannelMetrics {
        let mut registry = Registry::with_prefix("signoff");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "channel_deliveries",
            "Notification attempts by channel and result (delivered, retry, dead)",
            deliveries.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "outbox_pending",
            "Notifications waiting to be delivered",
            pending.clone(),
        );
        let dead = Gauge::default();
        registry.register(
            "outbox_dead",
            "Notifications given up on after repeated failures",
            dead.clone(),
        );
        let failing = Family::<ChannelLabels, Gauge>::default();
        registry.register(
            "channel_failing",
            "1 while a channel's last delivery attempt failed",
            failing.clone(),
        );
        ChannelMetrics {
            registry,
            deliveries,
            pending,
            dead,
            failing,
        }
    }

    /// Appends these metrics to an OpenMetrics text (without `# EOF`).
    pub fn encode_into(&self, out: &mut String) {
        let _ = prometheus_client::encoding::text::encode_registry(out, &self.registry);
    }

    fn count(&self, channel: &str, result: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                channel: channel.to_owned(),
                result: result.to_owned(),
            })
            .inc();
        self.failing
            .get_or_create(&ChannelLabels {
                channel: channel.to_owned(),
            })
            .set(i64::from(result != "delivered"));
    }
}

struct Shared {
    store: Store,
    channels: Vec<Arc<Channel>>,
    config: DispatcherConfig,
    metrics: Arc<ChannelMetrics>,
}

pub struct Dispatcher {
    shared: Arc<Shared>,
    wake: Arc<Notify>,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        channels: Vec<Channel>,
        config: DispatcherConfig,
        metrics: Arc<ChannelMetrics>,
    ) -> Dispatcher {
        Dispatcher {
            shared: Arc::new(Shared {
                store,
                channels: channels.into_iter().map(Arc::new).collect(),
                config,
                metrics,
            }),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Notify this when new audit events may be waiting.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Starts the feeder and one worker per channel.
    pub async fn start(self) -> Result<Vec<JoinHandle<()>>, StoreError> {
        self.shared
            .store
            .write(|tx| tx.init_outbox_cursor())
            .await?;
        let workers: Vec<(Arc<Channel>, Arc<Notify>)> = self
            .shared
            .channels
            .iter()
            .map(|c| (c.clone(), Arc::new(Notify::new())))
            .collect();
        let mut handles = Vec::new();
        let kicks: Vec<Arc<Notify>> = workers.iter().map(|(_, n)| n.clone()).collect();
        handles.push(tokio::spawn(feed(self.shared.clone(), self.wake, kicks)));
        for (channel, kick) in workers {
            handles.push(tokio::spawn(work(self.shared.clone(), channel, kick)));
        }
        Ok(handles)
    }
}

async fn feed(shared: Arc<Shared>, wake: Arc<Notify>, kicks: Vec<Arc<Notify>>) {
    let names: Vec<String> = shared.channels.iter().map(|c| c.name()).collect();
    loop {
        let channels = shared.channels.clone();
        let names = names.clone();
        let fed = shared
            .store
            .write(move |tx| {
                let wants = |name: &str, kind, approval| {
                    channels
                        .iter()
                        .any(|c| c.name() == name && c.wants(kind, approval))
                };
                tx.enqueue_outbox(&names, wants, FEED_BATCH, OffsetDateTime::now_utc())
            })
            .await;
        match fed {
            Ok(n) if n > 0 => {
                for k in &kicks {
                    k.notify_one();
                }
                if n as u32 == FEED_BATCH {
                    continue;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "outbox: cannot read new audit events"),
        }
        if let Ok(counts) = shared.store.read(outbox::outbox_counts).await {
            shared.metrics.pending.set(counts.pending);
            shared.metrics.dead.set(counts.dead);
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(shared.config.poll) => {}
        }
    }
}

async fn work(shared: Arc<Shared>, channel: Arc<Channel>, kick: Arc<Notify>) {
    let name = channel.name();
    loop {
        let n = name.clone();
        let due = shared
            .store
            .read(move |c| outbox::outbox_due(c, &n, OffsetDateTime::now_utc(), DELIVERY_BATCH))
            .await;
        let rows = match due {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(channel = %name, error = %e, "outbox: cannot read due deliveries");
                Vec::new()
            }
        };
        if rows.is_empty() {
            tokio::select! {
                _ = kick.notified() => {}
                _ = tokio::time::sleep(shared.config.poll) => {}
            }
            continue;
        }
        // Rows of one batch belong to different requests (see `outbox_due`),
        // so they may go out concurrently.
        let mut batch = JoinSet::new();
        for row in rows {
            let (shared, channel) = (shared.clone(), channel.clone());
            batch.spawn(async move {
                let result = attempt(&shared, &channel, &row).await;
                settle(&shared, &channel.name(), &row, result).await;
            });
        }
        while batch.join_next().await.is_some() {}
    }
}

async fn attempt(shared: &Shared, channel: &Channel, row: &OutboxRow) -> Result<(), DeliveryError> {
    let (seq, approval) = (row.event_seq, row.approval_id);
    let (event, request) = shared
        .store
        .read(move |c| {
            let event = outbox::event(c, seq)?;
            let request = match approval {
                Some(id) => signoff_store::read::approval(c, id)?,
                None => None,
            };
            Ok((event, request))
        })
        .await?;
    let Some(event) = event else {
        return Err(DeliveryError::Permanent(format!(
            "audit event #{seq} is missing"
        )));
    };
    let review_url = match approval {
        Some(id) => format!("{}{id}", shared.config.review_url_base),
        None => String::new(),
    };
    let view = request.as_ref().map(|r| {
        RequestView::new(
            r,
            shared.config.labels.get(r.action.target.as_str()),
            &review_url,
        )
    });
    let delivery = Delivery {
        event,
        request,
        view,
        review_url,
    };
    let refs = Refs {
        store: shared.store.clone(),
        channel: channel.name(),
        approval: approval.unwrap_or_default(),
    };
    channel.deliver(&delivery, &refs).await
}

async fn settle(
    shared: &Shared,
    channel: &str,
    row: &OutboxRow,
    result: Result<(), DeliveryError>,
) {
    let id = row.id;
    let now = OffsetDateTime::now_utc();
    let attempts = row.attempts + 1;
    let (outcome, next, error) = match result {
        Ok(()) => ("delivered", None, None),
        Err(DeliveryError::Retry { message, after }) if attempts < shared.config.max_attempts => {
            let backoff = Duration::from_secs(1u64 << (attempts - 1).min(20)).min(MAX_BACKOFF);
            let wait = after.map_or(backoff, |a| a.max(backoff));
            ("retry", Some(now + wait), Some(message))
        }
        Err(e) => ("dead", None, Some(e.to_string())),
    };
    shared.metrics.count(channel, outcome);
    match &error {
        Some(message) if outcome == "retry" => {
            tracing::warn!(%channel, event = row.event_seq, attempts, error = %message, "delivery failed; will retry")
        }
        Some(message) => {
            tracing::error!(%channel, event = row.event_seq, attempts, error = %message, "delivery given up")
        }
        None => tracing::debug!(%channel, event = row.event_seq, "delivered"),
    }
    let stored = shared
        .store
        .write(move |tx| match error {
            None => tx.outbox_delivered(id, now),
            Some(message) => tx.outbox_failed(id, &message, next),
        })
        .await;
    if let Err(e) = stored {
        tracing::error!(%channel, error = %e, "outbox: cannot record a delivery attempt");
    }
}
