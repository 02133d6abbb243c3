//! Prometheus metrics (`atp_forwarder_` prefix), labelled by tenant, content type and sink.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of per-stream metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// Tenant name.
    pub tenant: String,
    /// Content type.
    pub content_type: String,
}

/// Labels of per-sink metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// Sink name.
    pub sink: String,
}

/// Labels of dead-letter counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLetterLabels {
    /// Tenant name.
    pub tenant: String,
    /// `blob`, `record` or `sink`.
    pub kind: String,
}

/// Labels of API request counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// Tenant name.
    pub tenant: String,
    /// `list subscriptions`, `list content`, `fetch blob`, …
    pub operation: String,
    /// `ok`, `throttled`, `retried`, `failed`, `transport_error`.
    pub outcome: String,
}

/// Every metric of the daemon.
pub struct Metrics {
    registry: Registry,
    /// Records of wanted types read from blobs.
    pub events_received: Family<StreamLabels, Counter>,
    /// Records of other types skipped.
    pub events_filtered: Family<StreamLabels, Counter>,
    /// Records skipped because their Id was already delivered.
    pub events_duplicate: Family<StreamLabels, Counter>,
    /// Events acknowledged by a sink.
    pub events_delivered: Family<SinkLabels, Counter>,
    /// Dead letters written.
    pub dead_letters: Family<DeadLetterLabels, Counter>,
    /// Blobs found by listing (new ones).
    pub blobs_listed: Family<StreamLabels, Counter>,
    /// Blobs fetched completely.
    pub blobs_fetched: Family<StreamLabels, Counter>,
    /// Blobs committed.
    pub blobs_committed: Family<StreamLabels, Counter>,
    /// Blobs lost (expired before they could be fetched).
    pub blobs_lost: Family<StreamLabels, Counter>,
    /// API requests by outcome.
    pub api_requests: Family<ApiLabels, Counter>,
    /// Tokens obtained per tenant.
    pub token_refreshes: Family<StreamLabels, Counter>,
    /// now − oldest uncommitted contentCreated (or the checkpoint).
    pub stream_lag_seconds: Family<StreamLabels, Gauge<f64, AtomicU64>>,
    /// Failed sends per sink.
    pub sink_errors: Family<SinkLabels, Counter>,
    /// Batches waiting for a sink.
    pub sink_queue_depth: Family<SinkLabels, Gauge>,
    /// Cluster mode: 1 while this replica holds the stream's lease, else 0.
    pub stream_owned: Family<StreamLabels, Gauge>,
    /// Cluster mode: leases taken over from a replica whose lease had expired.
    pub lease_takeovers: Family<StreamLabels, Counter>,
    /// Cluster mode: leases lost (taken over, refused at renewal or commit, or expired locally).
    pub lease_losses: Family<StreamLabels, Counter>,
    /// Cluster mode: commits and checkpoint moves refused by the fencing check.
    pub commits_fenced: Family<StreamLabels, Counter>,
    /// Cluster mode: replicas with a live heartbeat, as this replica last saw them.
    pub replicas_live: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

// === impl Metrics ===

impl Metrics {
    /// A registry with every metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("atp_forwarder");
        let metrics = Metrics {
            registry: Registry::default(),
            events_received: Family::default(),
            events_filtered: Family::default(),
            events_duplicate: Family::default(),
            events_delivered: Family::default(),
            dead_letters: Family::default(),
            blobs_listed: Family::default(),
            blobs_fetched: Family::default(),
            blobs_committed: Family::default(),
            blobs_lost: Family::default(),
            api_requests: Family::default(),
            token_refreshes: Family::default(),
            stream_lag_seconds: Family::default(),
            sink_errors: Family::default(),
            sink_queue_depth: Family::default(),
            stream_owned: Family::default(),
            lease_takeovers: Family::default(),
            lease_losses: Family::default(),
            commits_fenced: Family::default(),
            replicas_live: Gauge::default(),
        };
        registry.register(
            "events_received",
            "Records of forwarded types read from blobs",
            metrics.events_received.clone(),
        );
        registry.register(
            "events_filtered",
            "Records of other types skipped",
            metrics.events_filtered.clone(),
        );
        registry.register(
            "events_duplicate",
            "Records skipped because their Id was already delivered",
            metrics.events_duplicate.clone(),
        );
        registry.register(
            "events_delivered",
            "Events acknowledged by a sink",
            metrics.events_delivered.clone(),
        );
        registry.register(
            "dead_letters",
            "Dead letters written (blobs, records, sink refusals)",
            metrics.dead_letters.clone(),
        );
        registry.register(
            "blobs_listed",
            "New content blobs found by listing",
            metrics.blobs_listed.clone(),
        );
        registry.register(
            "blobs_fetched",
            "Content blobs read completely",
            metrics.blobs_fetched.clone(),
        );
        registry.register(
            "blobs_committed",
            "Content blobs committed to state",
            metrics.blobs_committed.clone(),
        );
        registry.register(
            "blobs_lost",
            "Content blobs expired before they could be fetched",
            metrics.blobs_lost.clone(),
        );
        registry.register(
            "api_requests",
            "Management Activity API requests by outcome",
            metrics.api_requests.clone(),
        );
        registry.register(
            "token_refreshes",
            "Access tokens obtained",
            metrics.token_refreshes.clone(),
        );
        registry.register(
            "stream_lag_seconds",
            "Seconds between now and the oldest uncommitted content",
            metrics.stream_lag_seconds.clone(),
        );
        registry.register(
            "sink_errors",
            "Failed sends per sink",
            metrics.sink_errors.clone(),
        );
        registry.register(
            "sink_queue_depth",
            "Batches waiting for a sink",
            metrics.sink_queue_depth.clone(),
        );
        registry.register(
            "stream_owned",
            "1 while this replica holds the stream's lease (cluster mode)",
            metrics.stream_owned.clone(),
        );
        registry.register(
            "lease_takeovers",
            "Stream leases taken over from a replica whose lease had expired",
            metrics.lease_takeovers.clone(),
        );
        registry.register(
            "lease_losses",
            "Stream leases lost: taken over, refused at renewal or commit, or expired locally",
            metrics.lease_losses.clone(),
        );
        registry.register(
            "commits_fenced",
            "Commits and checkpoint moves refused by the lease fencing check",
            metrics.commits_fenced.clone(),
        );
        registry.register(
            "replicas_live",
            "Replicas with a live heartbeat (cluster mode)",
            metrics.replicas_live.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }

    /// Stream labels.
    pub fn stream(tenant: &str, content_type: &str) -> StreamLabels {
        StreamLabels {
            tenant: tenant.to_string(),
            content_type: content_type.to_string(),
        }
    }

    /// Sink labels.
    pub fn sink(sink: &str) -> SinkLabels {
        SinkLabels {
            sink: sink.to_string(),
        }
    }
}
