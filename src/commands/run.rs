//! `atp-forwarder run`: the daemon.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::{load_config, open_store, shutdown_on_signals, Exit};
use crate::api::RetryPolicy;
use crate::config::StateBackend;
use crate::pipeline::{self, ClusterOptions, RunOptions};
use crate::telemetry::{init_logging, Metrics};

/// Runs the pipeline until SIGTERM/SIGINT, or once to catch up with `once`.
pub async fn run(config_path: Option<&Path>, once: bool) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    init_logging(config.telemetry.log_format, &config.telemetry.log_level);
    tracing::info!(config = %config.source.display(), tenants = config.tenants.len(), sinks = config.sinks.len(), once, "starting");
    let store = open_store(&config).await?;
    let pruned = store
        .prune(chrono::Utc::now())
        .await
        .context("pruning the state store")?;
    tracing::debug!(pruned, "state pruned");
    let metrics = Arc::new(Metrics::new());
    let options = RunOptions {
        source: pipeline::Source::Follow,
        once,
        shutdown: shutdown_on_signals(),
        retry: RetryPolicy::default(),
    };
    let report = match config.state.backend {
        // One SQLite file serves one replica: every stream runs, no leases.
        StateBackend::Sqlite => pipeline::run(&config, store, metrics, options).await?,
        // A shared PostgreSQL store: cluster mode, streams run under leases.
        StateBackend::Postgres => {
            let cluster = ClusterOptions {
                replica: config.state.replica_id(),
                lease: config.state.lease,
            };
            pipeline::run_cluster(&config, store, metrics, options, cluster).await?
        }
    };
    tracing::info!(
        blobs_committed = report.blobs_committed,
        peak_rss_kib = peak_rss_kib().unwrap_or(0),
        "stopped"
    );
    if once && !report.failed_streams.is_empty() {
        return Err(anyhow::Error::new(Exit {
            code: 1,
            message: format!(
                "not every stream caught up:\n  {}",
                report.failed_streams.join("\n  ")
            ),
        }));
    }
    Ok(())
}

/// The process's peak resident set size (`VmHWM`), in KiB, where /proc is available.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
