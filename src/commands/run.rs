//! `atp-forwarder run`: the daemon.
//!
//! Start-up order: config (exit 2 if unusable) → logging → state store → telemetry endpoints → a probe of
//! every sink (readiness) → the pipeline. systemd hears `READY=1` once a first token is obtained, then
//! `STATUS=`/`WATCHDOG=1` while it runs and `STOPPING=1` on SIGTERM (see `telemetry::notify`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{open_store, shutdown_on_signals, Exit};
use crate::api::RetryPolicy;
use crate::config::{Config, StateBackend};
use crate::pipeline::{self, ClusterOptions, RunOptions};
use crate::telemetry::{
    init_logging, supervise, Health, Metrics, Notifier, Progress, TelemetryServer,
};

/// A loop that has not ticked for this many poll intervals (and at least [`MIN_STALL`]) is stalled.
const STALL_POLLS: u32 = 5;
/// The least time without a tick before a loop counts as stalled (an API call may wait out a long
/// `Retry-After`, a blob may take minutes to stream).
const MIN_STALL: Duration = Duration::from_secs(10 * 60);
/// How long the start-up probe of one sink may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs the pipeline of `config` (read by the caller, [`super::load_config`]) until SIGTERM/SIGINT, or once
/// to catch up with `once`.
pub async fn run(config: Config, once: bool) -> anyhow::Result<()> {
    init_logging(config.telemetry.log_format, &config.telemetry.log_level);
    let worker_threads = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::info!(config = %config.source.display(), tenants = config.tenants.len(), sinks = config.sinks.len(), worker_threads, once, "starting");
    let notifier = Notifier::from_env();
    let store = open_store(&config).await?;
    let pruned = store
        .prune(chrono::Utc::now())
        .await
        .context("pruning the state store")?;
    tracing::debug!(pruned, "state pruned");
    let metrics = Arc::new(Metrics::new());
    let health = metrics.health.clone();
    health.set_stall_after((config.collector.poll_interval * STALL_POLLS).max(MIN_STALL));
    health.config_loaded(
        config.tenants.iter().map(|tenant| tenant.name.as_str()),
        config.sinks.iter().map(|sink| sink.name()),
    );
    let server = match TelemetryServer::start(&config.telemetry.listen, metrics.clone()).await {
        Ok(server) => server,
        // A catch-up run is not scraped; another instance holding the port must not stop it.
        Err(error) if once => {
            tracing::warn!(%error, "telemetry endpoints not served for this --once run");
            None
        }
        Err(error) => return Err(error.into()),
    };
    probe_sinks(&config, &health).await;

    let shutdown = shutdown_on_signals();
    let supervisor = tokio::spawn(supervise(
        notifier,
        metrics.clone(),
        progress_of(&config),
        shutdown.clone(),
    ));
    let options = RunOptions {
        source: pipeline::Source::Follow,
        once,
        shutdown: shutdown.clone(),
        retry: RetryPolicy::default(),
    };
    let report = match config.state.backend {
        // One SQLite file serves one replica: every stream runs, no leases.
        StateBackend::Sqlite => pipeline::run(&config, store, metrics, options).await,
        // A shared PostgreSQL store: cluster mode, streams run under leases.
        StateBackend::Postgres => {
            let cluster = ClusterOptions {
                replica: config.state.replica_id(),
                lease: config.state.lease,
            };
            pipeline::run_cluster(&config, store, metrics, options, cluster).await
        }
    };
    // The supervisor sends STOPPING=1 when `shutdown` fires (at once on SIGTERM; here after `--once`).
    shutdown.cancel();
    let _ = supervisor.await;
    if let Some(server) = server {
        server.stop().await;
    }
    let report = report?;
    tracing::info!(
        blobs_committed = report.blobs_committed,
        peak_rss_kib = peak_rss_kib().unwrap_or(0),
        "stopped"
    );
    // A sink whose destination went away stops any run; a stream that did not catch up fails `--once`
    // (a daemon tries again at its next poll).
    let problems = if once {
        report.problems()
    } else {
        report.closed_sinks
    };
    if !problems.is_empty() {
        return Err(anyhow::Error::new(Exit {
            code: 1,
            message: format!("the run did not complete:\n  {}", problems.join("\n  ")),
        }));
    }
    Ok(())
}

/// Probes every sink once (readiness starts from the result); an unreachable sink is logged, not fatal:
/// the pipeline waits for it (backpressure).
async fn probe_sinks(config: &Config, health: &Health) {
    for sink_config in &config.sinks {
        let name = sink_config.name();
        let result = match sink_config.build() {
            Ok(mut sink) => match tokio::time::timeout(PROBE_TIMEOUT, sink.probe()).await {
                Ok(result) => result.map_err(|error| error.to_string()),
                Err(_) => Err(format!(
                    "sink {name}: no answer within {}s",
                    PROBE_TIMEOUT.as_secs()
                )),
            },
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = &result {
            tracing::warn!(sink = name, %error, "sink unreachable at start; events wait for it (nothing is lost)");
        }
        health.sink_result(name, result);
    }
}

/// The streams and (tenant, sink) pairs the `STATUS=` line sums up.
fn progress_of(config: &Config) -> Progress {
    Progress {
        streams: config
            .tenants
            .iter()
            .flat_map(|tenant| {
                tenant
                    .content_types
                    .iter()
                    .map(|content_type| Metrics::stream(&tenant.name, content_type))
            })
            .collect(),
        deliveries: config
            .tenants
            .iter()
            .flat_map(|tenant| {
                config
                    .sinks
                    .iter()
                    .map(|sink| Metrics::delivery(&tenant.name, sink.name()))
            })
            .collect(),
    }
}

/// The process's peak resident set size (`VmHWM`), in KiB, where /proc is available.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
