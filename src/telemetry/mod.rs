//! Telemetry: logging setup, Prometheus metrics, health endpoints.

mod logging;
mod metrics;

pub use logging::init_logging;
pub use metrics::{ApiLabels, DeadLetterLabels, Metrics, SinkLabels, StreamLabels};
