//! Prometheus metrics (`atp_forwarder_` prefix), labelled by tenant, content type and sink, and the
//! daemon's [`Health`] (kept here so that every part that counts can also tick).
//!
//! [`Metrics::render`] writes the Prometheus text format (version 0.0.4), which every Prometheus scrapes and
//! `promtool check metrics` lints: counters are named `…_total`.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::health::Health;

/// Labels of per-stream metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// Tenant name.
    pub tenant: String,
    /// Content type.
    pub content_type: String,
}

/// Labels of per-tenant metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    /// Tenant name.
    pub tenant: String,
}

/// Labels of failed token requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenFailureLabels {
    /// Tenant name.
    pub tenant: String,
    /// The AADSTS code, or `unreachable`, `malformed`, `assertion`, `bad_url`.
    pub reason: String,
}

/// Labels of delivered events.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Tenant name.
    pub tenant: String,
    /// Sink name.
    pub sink: String,
}

/// Labels of the build information.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
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
    /// `ok`, `throttled`, `server_error`, `unauthorized`, `refused`, `transport_error`, `token_error`.
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
    /// Events acknowledged by a sink, per tenant.
    pub events_delivered: Family<DeliveryLabels, Counter>,
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
    /// Throttled API answers (429, AF429) per tenant.
    pub api_throttled: Family<TenantLabels, Counter>,
    /// Seconds the tenant's request budget (`requests_per_minute`) held its requests back.
    pub api_budget_wait_seconds: Family<TenantLabels, Counter<f64, AtomicU64>>,
    /// Tokens obtained per tenant.
    pub token_refreshes: Family<TenantLabels, Counter>,
    /// Token requests refused or failed, per tenant and reason.
    pub token_failures: Family<TokenFailureLabels, Counter>,
    /// 1 while the tenant's last API call or token request succeeded, 0 while it fails.
    pub tenant_up: Family<TenantLabels, Gauge>,
    /// 1 while the sink's last probe or send succeeded.
    pub sink_up: Family<SinkLabels, Gauge>,
    build_info: Family<BuildLabels, Gauge>,
    /// now − oldest uncommitted contentCreated (or the checkpoint).
    pub stream_lag_seconds: Family<StreamLabels, Gauge<f64, AtomicU64>>,
    /// Failed sends per sink.
    pub sink_errors: Family<SinkLabels, Counter>,
    /// Batches waiting for a sink.
    pub sink_queue_depth: Family<SinkLabels, Gauge>,
    /// Liveness and readiness.
    pub health: Health,
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
            api_throttled: Family::default(),
            api_budget_wait_seconds: Family::default(),
            token_refreshes: Family::default(),
            token_failures: Family::default(),
            tenant_up: Family::default(),
            sink_up: Family::default(),
            build_info: Family::default(),
            stream_lag_seconds: Family::default(),
            sink_errors: Family::default(),
            sink_queue_depth: Family::default(),
            health: Health::new(),
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
            "api_throttled_responses",
            "Throttled Management Activity API answers (429 or AF429)",
            metrics.api_throttled.clone(),
        );
        registry.register(
            "api_budget_wait_seconds",
            "Seconds the tenant's request budget (requests_per_minute) held its API requests back",
            metrics.api_budget_wait_seconds.clone(),
        );
        registry.register(
            "token_refreshes",
            "Access tokens obtained",
            metrics.token_refreshes.clone(),
        );
        registry.register(
            "token_failures",
            "Token requests refused or failed, by AADSTS code or kind",
            metrics.token_failures.clone(),
        );
        registry.register(
            "tenant_up",
            "1 while the tenant's last API call succeeded, 0 while it fails",
            metrics.tenant_up.clone(),
        );
        registry.register(
            "sink_up",
            "1 while the sink's last probe or send succeeded, 0 while it fails",
            metrics.sink_up.clone(),
        );
        registry.register(
            "build_info",
            "The running version (always 1)",
            metrics.build_info.clone(),
        );
        metrics
            .build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
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

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn render(&self) -> String {
        for (tenant, ok) in self.health.tenant_states() {
            self.tenant_up
                .get_or_create(&Metrics::tenant(&tenant))
                .set(i64::from(ok));
        }
        for (sink, ok) in self.health.sink_states() {
            self.sink_up
                .get_or_create(&Metrics::sink(&sink))
                .set(i64::from(ok));
        }
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        openmetrics_to_prometheus(&text)
    }

    /// Tenant labels.
    pub fn tenant(tenant: &str) -> TenantLabels {
        TenantLabels {
            tenant: tenant.to_string(),
        }
    }

    /// Delivery labels.
    pub fn delivery(tenant: &str, sink: &str) -> DeliveryLabels {
        DeliveryLabels {
            tenant: tenant.to_string(),
            sink: sink.to_string(),
        }
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

/// Rewrites the OpenMetrics text of `prometheus-client` as Prometheus text 0.0.4: a counter family `x` has
/// samples `x_total`, so its `# HELP` and `# TYPE` lines are renamed to match; `# EOF` and `# UNIT` go.
fn openmetrics_to_prometheus(text: &str) -> String {
    let counters: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(renamed) => out.push_str(&renamed),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_rendered_in_the_prometheus_text_format() {
        let metrics = Metrics::new();
        metrics
            .events_delivered
            .get_or_create(&Metrics::delivery("contoso", "file"))
            .inc_by(3);
        let text = metrics.render();
        assert!(
            text.contains("# TYPE atp_forwarder_events_delivered_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "atp_forwarder_events_delivered_total{tenant=\"contoso\",sink=\"file\"} 3"
            ),
            "{text}"
        );
        assert!(text.contains("atp_forwarder_build_info{version="), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
    }
}
