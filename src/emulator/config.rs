//! Emulator configuration: tenants, generated history, paging, token lifetime, live arrivals and faults.
//!
//! Every knob has a default that gives a small, fast, well-behaved emulator; presets cover the common cases
//! ([`EmulatorConfig::single_tenant`] for tests, [`EmulatorConfig::demo`] for `atp-forwarder demo`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::faults::FaultConfig;

/// The five content types the Management Activity API knows; anything else is AF20020.
pub const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

/// The tenant GUID of the [`EmulatorConfig::demo`] preset.
pub const DEMO_TENANT_ID: &str = "6c1f2f7e-5a1b-4c3d-9e8f-0a1b2c3d4e5f";
/// The application (client) id of the [`EmulatorConfig::demo`] preset.
pub const DEMO_CLIENT_ID: &str = "2b7c9d1e-3f4a-4b5c-8d6e-7f8091a2b3c4";
/// The client secret of the [`EmulatorConfig::demo`] preset (public on purpose: it only opens the emulator).
pub const DEMO_CLIENT_SECRET: &str = "demo-secret-emulator-only";

/// Everything the emulator serves and how it misbehaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmulatorConfig {
    /// Seed of every generated thing (content ids, records, listing order, fault selection).
    pub seed: u64,
    /// The tenants (directories) the emulator knows, each with one app registration.
    pub tenants: Vec<EmulatedTenant>,
    /// The resource accepted in v1 `resource=` and v2 `scope=<resource>/.default`.
    pub resource: String,
    /// Lifetime of issued access tokens (reported as `expires_in`); short values force refreshes.
    #[serde(with = "humantime_serde")]
    pub token_lifetime: Duration,
    /// How far back the generated history reaches from `anchor` (must exceed 24 h to exercise windows).
    #[serde(with = "humantime_serde")]
    pub history: Duration,
    /// One generated blob per content type every `blob_interval` across the history.
    #[serde(with = "humantime_serde")]
    pub blob_interval: Duration,
    /// Records in each generated blob.
    pub records_per_blob: usize,
    /// Share (0..=1) of `Audit.General` records that are ATP types 28/41/47/64.
    pub atp_fraction: f64,
    /// Blobs per content listing page; more remaining → a `NextPageUri` header.
    pub page_size: usize,
    /// Name of the paging header: `NextPageUri` (current) or `NextPageUrl` (old docs).
    pub next_page_header: NextPageHeader,
    /// AF code for an invalid time window: `AF20055` (default) or `AF20030`.
    pub window_error_code: String,
    /// When set, one `Audit.General` blob of the first tenant is about this many bytes (streamed, never held
    /// in memory).
    pub huge_blob_bytes: Option<u64>,
    /// End of the generated history; defaults to the start time of the emulator (fix it for determinism
    /// across runs).
    pub anchor: Option<DateTime<Utc>>,
    /// Base URL written into contentUri and NextPageUri; defaults to `http://<bound address>`.
    pub public_base_url: Option<String>,
    /// New blobs appearing while the emulator runs.
    pub live: Option<LiveArrivals>,
    /// Fault injection, all off by default.
    pub faults: FaultConfig,
}

/// One directory with one app registration and its audit data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmulatedTenant {
    /// Directory (tenant) GUID, as used in token and API URLs.
    pub tenant_id: String,
    /// Application (client) id of the registered app.
    pub client_id: String,
    /// The app's client secret.
    pub client_secret: String,
    /// Content types that have data in this tenant (others are valid but empty).
    pub content_types: Vec<String>,
    /// Whether subscriptions to every valid content type are already enabled at start.
    pub subscriptions_started: bool,
    /// When a subscription is started later, expose history created before the start (real API: no).
    pub backfill_on_start: bool,
    /// The secret has expired: the token endpoint answers AADSTS7000222.
    pub secret_expired: bool,
    /// The app holds `ActivityFeed.Read`; false → every API call answers AF10001.
    pub activity_feed_read: bool,
    /// Unified audit logging is on; false → every API call answers AF20011 (DataServiceException).
    pub audit_log_enabled: bool,
    /// PEM certificate registered for the app: client assertions (RS256/PS256 JWTs) are verified against it.
    /// Without one, assertions are refused with AADSTS700027.
    pub certificate_pem: Option<String>,
}

/// Which header carries the next page link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum NextPageHeader {
    /// `NextPageUri` (what the service sends today).
    #[default]
    NextPageUri,
    /// `NextPageUrl` (what older documentation shows).
    NextPageUrl,
}

impl NextPageHeader {
    /// The header name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::NextPageUri => "NextPageUri",
            Self::NextPageUrl => "NextPageUrl",
        }
    }
}

/// Blobs that appear while the emulator runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveArrivals {
    /// Time between arrivals.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Blobs added per tenant and content type at each arrival.
    pub blobs_per_tick: usize,
}

// === impl EmulatorConfig ===

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            seed: 0x00A7_F0B0,
            tenants: vec![EmulatedTenant::default()],
            resource: "https://manage.office.com".to_owned(),
            token_lifetime: Duration::from_secs(3599),
            history: Duration::from_secs(30 * 3600),
            blob_interval: Duration::from_secs(10 * 60),
            records_per_blob: 20,
            atp_fraction: 0.3,
            page_size: 200,
            next_page_header: NextPageHeader::default(),
            window_error_code: "AF20055".to_owned(),
            huge_blob_bytes: None,
            anchor: None,
            public_base_url: None,
            live: None,
            faults: FaultConfig::default(),
        }
    }
}

impl EmulatorConfig {
    /// One tenant with one app, `Audit.General` data, subscriptions already started.
    pub fn single_tenant(tenant_id: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            tenants: vec![EmulatedTenant::new(tenant_id, client_id, client_secret)],
            ..Self::default()
        }
    }

    /// The `atp-forwarder demo` preset: one tenant with the well-known [`DEMO_TENANT_ID`],
    /// [`DEMO_CLIENT_ID`] and [`DEMO_CLIENT_SECRET`], 30 h of history and a new blob every 5 seconds.
    pub fn demo() -> Self {
        Self {
            tenants: vec![EmulatedTenant::new(
                DEMO_TENANT_ID,
                DEMO_CLIENT_ID,
                DEMO_CLIENT_SECRET,
            )],
            blob_interval: Duration::from_secs(15 * 60),
            records_per_blob: 12,
            atp_fraction: 0.5,
            live: Some(LiveArrivals {
                interval: Duration::from_secs(5),
                blobs_per_tick: 1,
            }),
            ..Self::default()
        }
    }

    /// The tenant with this id.
    pub(crate) fn tenant(&self, tenant_id: &str) -> Option<&EmulatedTenant> {
        self.tenants
            .iter()
            .find(|t| t.tenant_id.eq_ignore_ascii_case(tenant_id))
    }
}

// === impl EmulatedTenant ===

impl Default for EmulatedTenant {
    fn default() -> Self {
        Self {
            tenant_id: DEMO_TENANT_ID.to_owned(),
            client_id: DEMO_CLIENT_ID.to_owned(),
            client_secret: DEMO_CLIENT_SECRET.to_owned(),
            content_types: vec!["Audit.General".to_owned()],
            subscriptions_started: true,
            backfill_on_start: false,
            secret_expired: false,
            activity_feed_read: true,
            audit_log_enabled: true,
            certificate_pem: None,
        }
    }
}

impl EmulatedTenant {
    /// A tenant with `Audit.General` data and started subscriptions.
    pub fn new(tenant_id: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            ..Self::default()
        }
    }
}

impl Default for LiveArrivals {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            blobs_per_tick: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_deserializes_with_humantime_durations_and_defaults() {
        let json = r#"{"seed": 3, "history": "26h", "page_size": 5,
            "live": {"interval": "2s"},
            "faults": {"requests_per_minute": 10, "late_by": "1h"},
            "tenants": [{"tenant_id": "t", "client_id": "c", "client_secret": "s"}]}"#;
        let cfg: EmulatorConfig = serde_json::from_str(json).unwrap();
        assert_eq!(cfg.history, Duration::from_secs(26 * 3600));
        assert_eq!(cfg.page_size, 5);
        assert_eq!(cfg.live.unwrap().interval, Duration::from_secs(2));
        assert_eq!(cfg.faults.requests_per_minute, Some(10));
        assert_eq!(cfg.tenants[0].content_types, vec!["Audit.General"]);
        assert!(cfg.tenants[0].subscriptions_started);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = serde_json::from_str::<EmulatorConfig>(r#"{"sead": 1}"#).unwrap_err();
        assert!(err.to_string().contains("sead"));
    }

    #[test]
    fn the_demo_preset_has_history_beyond_a_day_and_live_arrivals() {
        let cfg = EmulatorConfig::demo();
        assert!(cfg.history > Duration::from_secs(24 * 3600));
        assert!(cfg.live.is_some());
        assert_eq!(cfg.tenants[0].tenant_id, DEMO_TENANT_ID);
    }
}
