//! Telemetry: logging setup, Prometheus metrics, liveness and readiness, the HTTP endpoints that expose
//! them (`/metrics`, `/healthz`, `/readyz`) and the systemd notifications (`READY`, `WATCHDOG`, `STATUS`,
//! `STOPPING`).

mod health;
mod logging;
mod metrics;
mod notify;
mod server;

pub use health::{Health, Liveness, LoopHandle, Readiness, SinkReport, TenantReport, WaitGuard};
pub use logging::init_logging;
pub use metrics::{
    ApiLabels, DeadLetterLabels, DeliveryLabels, Metrics, SinkLabels, StreamLabels, TenantLabels,
    TokenFailureLabels,
};
pub use notify::{supervise, watchdog_interval, Notifier, Progress};
pub use server::{TelemetryError, TelemetryServer};
