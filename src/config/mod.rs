//! Typed configuration: one TOML file, overridable by `ATP_FORWARDER__SECTION__KEY` environment variables,
//! validated at start so that every problem is reported at once, each naming its key and the file.
//!
//! Every struct denies unknown keys. Durations are humane (`"60s"`, `"12h"`). Secrets are resolved during
//! validation (from `…_file` or `…_env` keys) and held in [`Secret`].

mod limits;
mod load;
mod secret;
mod tenant;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use limits::InputLimits;
pub(crate) use load::{resolve_credential, CredentialKeys};
pub use load::{ConfigError, Problem};
pub use secret::{read_bounded, read_secret_env, read_secret_file, Secret, SecretError};
pub use tenant::{Cloud, Endpoints, TenantConfig};

use crate::sink::SinkConfig;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where checkpoints, committed blobs, recent record Ids and dead letters are kept.
    #[serde(default)]
    pub state: StateConfig,
    /// How streams are polled and what is kept.
    #[serde(default)]
    pub collector: CollectorConfig,
    /// The Microsoft 365 tenants to collect from (at least one).
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// Where events go (at least one).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Logs, metrics and health endpoints.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Bounds on what the API may send (blob, record and header sizes, nesting, pages).
    #[serde(default)]
    pub limits: InputLimits,
    /// The file this configuration was read from (for messages).
    #[serde(skip)]
    pub source: PathBuf,
}

/// Which state store backs the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// One SQLite file (the embedded default).
    #[default]
    Sqlite,
    /// A shared PostgreSQL database (several replicas).
    Postgres,
}

/// `[state]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `sqlite` (default) or `postgres`.
    #[serde(default)]
    pub backend: StateBackend,
    /// SQLite file; parent directories are created. Default `/var/lib/atp-forwarder/state.db`.
    #[serde(default = "defaults::state_path")]
    pub path: PathBuf,
    /// PostgreSQL URL (backend = "postgres"), without the password, e.g.
    /// `postgres://atpf@db.example.net:5432/atpf`; append `?options=-csearch_path%3Dmyschema` for a schema
    /// other than `public`.
    #[serde(default)]
    pub url: Option<String>,
    /// File holding the PostgreSQL password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Name of an environment variable holding the PostgreSQL password (instead of `password_file`;
    /// `PGPASSWORD` and `~/.pgpass` are honoured when neither is set).
    #[serde(default)]
    pub password_env: Option<String>,
    /// This replica's identity in cluster mode (lease owner, logs, `state show`); must be unique among the
    /// replicas. Default `<hostname>-<pid>`; in Kubernetes set it to the pod name.
    #[serde(default)]
    pub replica_id: Option<String>,
    /// How long a stream's lease lasts without renewal (cluster mode): owners renew every third of it, and
    /// a dead replica's streams are taken over once it has passed. Default `30s`, at least `1s`.
    #[serde(with = "humantime_serde", default = "defaults::lease")]
    pub lease: Duration,
    /// The PostgreSQL password, resolved from `password_file` or `password_env` during validation.
    #[serde(skip)]
    pub password: Option<Secret>,
}

// === impl StateConfig ===

impl StateConfig {
    /// The configured replica id, or the default `<hostname>-<pid>`.
    pub fn replica_id(&self) -> String {
        self.replica_id
            .clone()
            .unwrap_or_else(crate::state::default_replica_id)
    }
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            backend: StateBackend::Sqlite,
            path: defaults::state_path(),
            url: None,
            password_file: None,
            password_env: None,
            replica_id: None,
            lease: defaults::lease(),
            password: None,
        }
    }
}

/// `[collector]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// How often each stream lists new content once it has caught up. Cycles start this far apart; a
    /// whole number of seconds also puts each list just after a whole second of the API's clock, where the
    /// listing window (which ends on a whole second) leaves out next to nothing.
    #[serde(with = "humantime_serde", default = "defaults::poll_interval")]
    pub poll_interval: Duration,
    /// How far back each poll lists again, because blobs appear late and out of order.
    #[serde(with = "humantime_serde", default = "defaults::relist")]
    pub relist: Duration,
    /// How far back a stream without a checkpoint starts (capped just under the API's 7 days).
    #[serde(with = "humantime_serde", default = "defaults::backfill")]
    pub backfill: Duration,
    /// Blobs fetched at the same time per stream.
    #[serde(default = "defaults::max_concurrent_fetches")]
    pub max_concurrent_fetches: usize,
    /// AuditLogRecordType values to forward; others are skipped without being built.
    #[serde(default = "defaults::record_types")]
    pub record_types: Vec<i64>,
    /// Events per batch handed to the sinks (default 100: each queued batch holds its events and their
    /// encodings, so this bounds memory; larger batches did not save CPU).
    #[serde(default = "defaults::batch_events")]
    pub batch_events: usize,
    /// How long SIGTERM waits for in-flight work before exiting.
    #[serde(with = "humantime_serde", default = "defaults::shutdown_timeout")]
    pub shutdown_timeout: Duration,
    /// HTTP timeout for one API request (a blob fetch may stream longer while bytes arrive).
    #[serde(with = "humantime_serde", default = "defaults::request_timeout")]
    pub request_timeout: Duration,
    /// Threads that run the pipeline (`run` and `replay`); 0 means one per CPU core. Default 1: the
    /// pipeline is paced by the API and the sinks, and one thread decodes and encodes about 200 MB of
    /// blobs per CPU-second into `ecs`; a second thread only added wake-ups between threads (about 10 %
    /// more CPU per event in the benchmark, the same wall time). Raise it when one core is busy: many
    /// tenants, or a long backfill into `ecs`/`cef`/`leef` sinks.
    #[serde(default = "defaults::worker_threads")]
    pub worker_threads: usize,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            poll_interval: defaults::poll_interval(),
            relist: defaults::relist(),
            backfill: defaults::backfill(),
            max_concurrent_fetches: defaults::max_concurrent_fetches(),
            record_types: defaults::record_types(),
            batch_events: defaults::batch_events(),
            shutdown_timeout: defaults::shutdown_timeout(),
            request_timeout: defaults::request_timeout(),
            worker_threads: defaults::worker_threads(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[telemetry]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoints; empty string disables them.
    #[serde(default = "defaults::telemetry_listen")]
    pub listen: String,
    /// `text` or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Default log filter (overridden by `RUST_LOG`), e.g. `info` or `atp_forwarder=debug`.
    #[serde(default = "defaults::log_level")]
    pub log_level: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            listen: defaults::telemetry_listen(),
            log_format: LogFormat::Text,
            log_level: defaults::log_level(),
        }
    }
}

pub(crate) mod defaults {
    use std::path::PathBuf;
    use std::time::Duration;

    pub fn state_path() -> PathBuf {
        PathBuf::from("/var/lib/atp-forwarder/state.db")
    }
    pub fn lease() -> Duration {
        Duration::from_secs(30)
    }
    pub fn poll_interval() -> Duration {
        Duration::from_secs(60)
    }
    pub fn relist() -> Duration {
        Duration::from_secs(12 * 3600)
    }
    pub fn backfill() -> Duration {
        Duration::from_secs(7 * 24 * 3600)
    }
    pub fn max_concurrent_fetches() -> usize {
        8
    }
    pub fn record_types() -> Vec<i64> {
        crate::event::ATP_RECORD_TYPES.to_vec()
    }
    pub fn batch_events() -> usize {
        100
    }
    pub fn worker_threads() -> usize {
        1
    }
    pub fn shutdown_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn request_timeout() -> Duration {
        Duration::from_secs(60)
    }
    pub fn telemetry_listen() -> String {
        "127.0.0.1:9464".to_string()
    }
    pub fn log_level() -> String {
        "info".to_string()
    }
    pub fn content_types() -> Vec<String> {
        vec!["Audit.General".to_string()]
    }
    pub fn requests_per_minute() -> u32 {
        1800
    }

    pub fn budget_window() -> Duration {
        Duration::from_secs(60)
    }
}
