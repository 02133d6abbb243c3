//! Phases 4 and 5: the request budget over a time-scaled 7-day backfill, and the lag of live arrivals.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::child::{self, Usage};
use crate::floor::ATP_TYPES;
use crate::receiver;
use crate::setup::{self, SinkSpec, Workdir, TENANT};

/// The API's budget: requests per (scaled) minute.
pub const BUDGET: u64 = 2000;

/// Phase 4's result.
#[derive(Debug, Clone)]
pub struct Budget {
    /// The daemon's cost.
    pub usage: Usage,
    /// The scaled minute.
    pub window: Duration,
    /// API requests made (token requests excluded).
    pub api_requests: u64,
    /// Throttled answers (429 or AF429).
    pub throttled: u64,
    /// The busiest rolling window the emulator saw.
    pub busiest_window: u64,
    /// Blobs in the backfill.
    pub blobs: u64,
    /// `api_requests / (BUDGET × wall / window)`.
    pub used: f64,
}

/// Phase 4: 7 days of history, one small blob a minute (10,080 blobs), an API that allows [`BUDGET`]
/// requests in any rolling `window`, and a daemon configured with the same budget and window.
pub async fn budget(bin: &Path, window: Duration) -> anyhow::Result<Budget> {
    let emulator = setup::emulator(|config| {
        // Just under the 7 days the daemon backfills (it caps the start just under the API's limit).
        config.history = Duration::from_secs(7 * 24 * 3600 - 3600);
        config.blob_interval = Duration::from_secs(60);
        config.records_per_blob = 4;
        config.faults.requests_per_minute = Some(BUDGET);
        config.faults.budget_window = window;
    })
    .await?;
    let work = Workdir::new()?;
    let recv = receiver::start(false).await?;
    let sink = SinkSpec::Syslog {
        addr: recv.addr,
        format: "ecs",
    };
    let tenant = format!(
        "requests_per_minute = {BUDGET}\nbudget_window = \"{}ms\"",
        window.as_millis()
    );
    let config = work.config(&emulator, &sink, "", &tenant)?;
    let config = config.to_string_lossy().into_owned();
    let usage = child::run_once(bin, &config, &work.path("daemon.log")).await?;
    let stats = emulator.stats();
    let api_requests = stats.api_requests();
    let windows = usage.wall.as_secs_f64() / window.as_secs_f64();
    let result = Budget {
        window,
        api_requests,
        throttled: stats.throttled,
        busiest_window: stats
            .max_requests_per_window
            .values()
            .copied()
            .max()
            .unwrap_or(0),
        blobs: stats.blobs_served,
        used: api_requests as f64 / (BUDGET as f64 * windows),
        usage,
    };
    emulator.shutdown().await;
    Ok(result)
}

/// Phase 5's result for one poll interval.
#[derive(Debug, Clone)]
pub struct Lag {
    /// The daemon's poll interval.
    pub poll_interval: Duration,
    /// Blobs added while the daemon ran (and measured).
    pub blobs: usize,
    /// Blobs whose ATP events were not all delivered before the daemon stopped.
    pub incomplete: usize,
    /// Median time from a blob becoming listable to its last event delivered.
    pub p50: Duration,
    /// 99th percentile of the same.
    pub p99: Duration,
    /// Longest.
    pub max: Duration,
}

/// Phase 5 for one poll interval: after the daemon has caught up a short history, one blob becomes
/// listable every `every` for `span`; the receiver notes when each record Id arrives.
pub async fn lag(
    bin: &Path,
    poll_interval: Option<Duration>,
    every: Duration,
    span: Duration,
) -> anyhow::Result<Lag> {
    let emulator = setup::emulator(|config| {
        config.history = Duration::from_secs(25 * 3600);
        config.blob_interval = Duration::from_secs(3600);
        config.records_per_blob = 200;
    })
    .await?;
    let work = Workdir::new()?;
    let recv = receiver::start(true).await?;
    let sink = SinkSpec::Syslog {
        addr: recv.addr,
        format: "ecs",
    };
    let collector = poll_interval
        .map(|p| format!("poll_interval = \"{}ms\"", p.as_millis()))
        .unwrap_or_default();
    let poll = poll_interval.unwrap_or(Duration::from_secs(60));
    let config = work.config(&emulator, &sink, &collector, "")?;
    let config = config.to_string_lossy().into_owned();
    let history = emulator.expected_records(TENANT, &ATP_TYPES).len() as u64;
    let log = work.path("daemon.log");
    let bin = bin.to_owned();
    let stop = CancellationToken::new();
    let stop_daemon = stop.clone();
    let daemon = tokio::spawn(async move {
        child::run(&bin, &["run", "--config", &config], &log, Some(stop_daemon)).await
    });
    // Arrivals start once the history is delivered and the daemon waits for its next poll.
    let catch_up_limit = Duration::from_secs(120);
    let started = Instant::now();
    while recv.received.messages() < history && started.elapsed() < catch_up_limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if recv.received.messages() < history {
        stop.cancel();
        let _ = daemon.await;
        anyhow::bail!("the daemon did not deliver the history within {catch_up_limit:?}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut added: HashMap<String, Instant> = HashMap::new();
    let arrivals_start = Instant::now();
    while arrivals_start.elapsed() < span {
        for content_id in emulator.add_blobs(TENANT, "Audit.General", 1) {
            added.insert(content_id, Instant::now());
        }
        tokio::time::sleep(every).await;
    }
    // Every blob gets a full poll interval and 5 s more; the daemon then stops (SIGTERM).
    let wanted: Vec<String> = emulator
        .expected_records(TENANT, &ATP_TYPES)
        .into_iter()
        .filter(|record| added.contains_key(&record.content_id))
        .map(|record| record.id)
        .collect();
    let deadline = Instant::now() + poll + Duration::from_secs(5);
    while Instant::now() < deadline {
        let arrivals = recv.received.arrivals();
        if wanted.iter().all(|id| arrivals.contains_key(id)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.cancel();
    daemon.await??.succeeded()?;
    let arrivals = recv.received.arrivals();
    let mut last: HashMap<String, Option<Instant>> = HashMap::new();
    for record in emulator.expected_records(TENANT, &ATP_TYPES) {
        if !added.contains_key(&record.content_id) {
            continue;
        }
        let at = arrivals.get(&record.id).copied();
        let entry = last.entry(record.content_id).or_insert(at);
        *entry = match (*entry, at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    emulator.shutdown().await;
    let mut lags: Vec<Duration> = last
        .iter()
        .filter_map(|(content_id, at)| Some(at.as_ref()?.duration_since(added[content_id])))
        .collect();
    lags.sort();
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    Ok(Lag {
        poll_interval: poll,
        blobs: last.len(),
        incomplete: last.values().filter(|at| at.is_none()).count(),
        p50: pct(0.5),
        p99: pct(0.99),
        max: lags.last().copied().unwrap_or_default(),
    })
}
