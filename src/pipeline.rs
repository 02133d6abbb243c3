//! The pipeline, top to bottom:
//!
//! ```text
//! per tenant × content type: StreamTask ── list windows ─► fetch blobs (bounded) ─► records ─► dedup ─► events
//!                                                                                      │
//!                         bounded queue per sink ◄───────── one Arc<Batch> per chunk ◄─┘
//!                                   │
//!                    SinkDriver per sink: encode (format) ─► send ─► retry / dead-letter ─► release
//!                                   │
//!                    BlobTracker: when every sink acknowledged every batch ─► committer
//!                                   │
//!                    committer: blob + record Ids + checkpoint in one state transaction
//! ```
//!
//! Backpressure instead of buffering: every queue is bounded, so a sink that is down stops the streams from
//! pulling; the API keeps the data for 7 days and the state says where to resume.
//!
//! Shutdown: when `shutdown` fires, streams stop listing and reading; sinks keep draining what is queued
//! for at most `collector.shutdown_timeout`; whatever is fully acknowledged by then is committed; the rest
//! is fetched again on the next start (at-least-once).

mod cluster;
mod commit;
mod deliver;
mod gather;
mod held;
mod progress;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::{self, ApiClient, RetryPolicy};
use crate::auth::TokenSource;
use crate::config::Config;
use crate::event::NormalizeContext;
use crate::sink::{SinkConfig, SinkError};
use crate::state::{DeadLetter, StateStore, StreamKey};
use crate::telemetry::{DeadLetterLabels, Metrics};

pub use cluster::ClusterOptions;
pub use stream::StreamError;

use commit::run_committer;
use deliver::{SinkDriver, SinkQueue};
use progress::InFlightIds;
use stream::StreamTask;

/// Batches queued per sink before the streams wait.
const SINK_QUEUE: usize = 4;
/// Commit requests queued before sinks wait for the committer (bounds the work a crash can repeat).
const COMMIT_QUEUE: usize = 64;
/// How often expired blobs and old record Ids are pruned while the daemon runs.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// What the streams read.
#[derive(Clone, Debug, Default)]
pub enum Source {
    /// Follow each stream from its checkpoint (the daemon).
    #[default]
    Follow,
    /// List exactly this past span, once (replay; use with a [`crate::state::Detached`] store).
    Span {
        /// Inclusive start.
        since: chrono::DateTime<chrono::Utc>,
        /// Exclusive end.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// Fetch exactly these blobs again, once (replay of dead letters).
    Blobs(Vec<(StreamKey, api::ContentBlob)>),
}

/// How to run.
#[derive(Clone)]
pub struct RunOptions {
    /// Catch up to now, drain, commit, return (always true for replays).
    pub once: bool,
    /// What the streams read.
    pub source: Source,
    /// Fires on SIGTERM / SIGINT.
    pub shutdown: CancellationToken,
    /// Retry policy of API calls and sinks.
    pub retry: RetryPolicy,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Blobs committed.
    pub blobs_committed: u64,
    /// Streams whose last cycle did not complete, with the reason.
    pub failed_streams: Vec<String>,
    /// Sinks whose destination went away for good, which stopped the run, with the reason.
    pub closed_sinks: Vec<String>,
}

impl RunReport {
    /// What kept the run from completing, one line each: sinks whose destination went away, then streams
    /// that did not catch up.
    pub fn problems(&self) -> Vec<String> {
        self.closed_sinks
            .iter()
            .chain(&self.failed_streams)
            .cloned()
            .collect()
    }
}

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    #[error(transparent)]
    Api(#[from] crate::api::ApiError),
}

/// Runs every stream of `config` into every sink until shutdown (or, with `once`, until caught up).
pub async fn run(
    config: &Config,
    store: Arc<dyn StateStore>,
    metrics: Arc<Metrics>,
    options: RunOptions,
) -> Result<RunReport, PipelineError> {
    run_with(config, store, metrics, options, None).await
}

/// [`run`] in cluster mode: this replica runs only the streams whose lease it holds (see `cluster`), and
/// every commit is fenced with the lease's epoch.
pub async fn run_cluster(
    config: &Config,
    store: Arc<dyn StateStore>,
    metrics: Arc<Metrics>,
    options: RunOptions,
    cluster: ClusterOptions,
) -> Result<RunReport, PipelineError> {
    run_with(config, store, metrics, options, Some(cluster)).await
}

async fn run_with(
    config: &Config,
    store: Arc<dyn StateStore>,
    metrics: Arc<Metrics>,
    options: RunOptions,
    cluster: Option<ClusterOptions>,
) -> Result<RunReport, PipelineError> {
    let http = api::http_client(config.collector.request_timeout)
        .map_err(|error| PipelineError::Http(error.to_string()))?;

    // Sinks: a driver task per sink, fed through a bounded queue.
    let abort_sinks = CancellationToken::new();
    let mut sink_tasks = JoinSet::new();
    let mut queues = Vec::new();
    for sink_config in &config.sinks {
        let (sender, receiver) = mpsc::channel(SINK_QUEUE);
        let name: Arc<str> = sink_config.name().into();
        let driver = SinkDriver {
            name: name.clone(),
            format: sink_config.format(),
            sink: sink_config.build()?,
            grouping: sink_config.grouping(),
            store: store.clone(),
            metrics: metrics.clone(),
            retry: options.retry.clone(),
            abort: abort_sinks.clone(),
            stop_run: options.shutdown.clone(),
        };
        sink_tasks.spawn(driver.run(receiver));
        queues.push(SinkQueue { name, sender });
    }
    let queues: Arc<[SinkQueue]> = queues.into();

    // Committer: blobs whose events every sink acknowledged, and checkpoints.
    let (committer, inbox) = mpsc::channel(COMMIT_QUEUE);
    let committer_task = tokio::spawn(run_committer(store.clone(), metrics.clone(), inbox));

    // Pruning: expired blobs and record Ids older than the retention, hourly while following.
    if !options.once && matches!(options.source, Source::Follow) {
        tokio::spawn(prune_periodically(store.clone(), options.shutdown.clone()));
    }

    // Records are decoded into their models only when a sink reads them (not for raw `json` everywhere).
    let decode_models = config.sinks.iter().any(SinkConfig::reads_models);
    // Streams: one task per tenant × content type.
    let mut tasks = Vec::new();
    for tenant in &config.tenants {
        let tokens = Arc::new(
            TokenSource::for_tenant(tenant, http.clone())
                .with_metrics(metrics.clone(), &tenant.name),
        );
        let api = Arc::new(
            ApiClient::new(tenant, http.clone(), tokens, options.retry.clone())?
                .with_limits(config.limits)
                .with_metrics(metrics.clone()),
        );
        let in_flight_ids = Arc::new(InFlightIds::default());
        for content_type in &tenant.content_types {
            tasks.push(Arc::new(StreamTask {
                stream: StreamKey {
                    tenant: tenant.name.clone(),
                    content_type: content_type.clone(),
                },
                api: api.clone(),
                store: store.clone(),
                metrics: metrics.clone(),
                collector: config.collector.clone(),
                retry: options.retry.clone(),
                sinks: queues.clone(),
                committer: committer.clone(),
                in_flight_ids: in_flight_ids.clone(),
                normalize: NormalizeContext {
                    tenant: tenant.name.as_str().into(),
                    fetched_at: chrono::Utc::now(),
                    dataset: "o365.atp".into(),
                    include_original: false,
                },
                decode_models,
                tenant: tenant.name.as_str().into(),
                shutdown: options.shutdown.clone(),
                once: options.once || !matches!(options.source, Source::Follow),
                source: options.source.clone(),
            }));
        }
    }
    drop((queues, committer));

    // Run them: all of them, or (cluster mode) those whose lease this replica holds. Streams end after one
    // catch-up (`once`) or at shutdown.
    let mut report = RunReport::default();
    let mut keeper = None;
    match cluster {
        None => {
            let mut streams = JoinSet::new();
            for task in tasks {
                let stream = task.stream.to_string();
                streams.spawn(async move { (stream, task.run().await) });
            }
            while let Some(joined) = streams.join_next().await {
                match joined {
                    Ok((_, Ok(()))) => {}
                    Ok((stream, Err(error))) => {
                        report.failed_streams.push(format!("{stream}: {error}"))
                    }
                    Err(error) => report
                        .failed_streams
                        .push(format!("a stream task ended abnormally: {error}")),
                }
            }
        }
        Some(cluster) => {
            let (streams_over, over) = tokio::sync::oneshot::channel();
            let stop = CancellationToken::new();
            let run = cluster::Keeper::new(
                store.clone(),
                metrics.clone(),
                cluster,
                options.shutdown.clone(),
                options.once,
                tasks,
            )
            .run(streams_over, stop.clone());
            keeper = Some((tokio::spawn(run), stop));
            report.failed_streams = over.await.unwrap_or_default();
        }
    }

    // Drain: sinks finish what is queued (bounded once a shutdown comes, also one that comes while draining,
    // e.g. SIGTERM to a `--once` run whose sink is down), then the committer commits it.
    let mut closed_sinks = Vec::new();
    let drained_in_time = {
        let mut drain = std::pin::pin!(join_sinks(&mut sink_tasks, &mut closed_sinks));
        tokio::select! {
            () = &mut drain => true,
            () = options.shutdown.cancelled() => {
                tokio::time::timeout(config.collector.shutdown_timeout, &mut drain)
                    .await
                    .is_ok()
            }
        }
    };
    if !drained_in_time {
        tracing::warn!(timeout_s = config.collector.shutdown_timeout.as_secs(), "sinks did not drain in time; unacknowledged blobs will be fetched again on the next start");
        abort_sinks.cancel();
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            join_sinks(&mut sink_tasks, &mut closed_sinks),
        )
        .await;
        sink_tasks.abort_all();
    }
    report.closed_sinks = closed_sinks;
    report.blobs_committed = committer_task.await.unwrap_or_default();
    // Cluster mode: the last commit is through; release the leases and leave.
    if let Some((keeper, stop)) = keeper {
        stop.cancel();
        if let Err(error) = keeper.await {
            tracing::error!(%error, "the lease keeper ended abnormally; its leases expire on their own");
        }
    }
    Ok(report)
}

/// Waits for every sink task to end, collecting why sinks closed for good (see `SendOutcome::Closed`).
async fn join_sinks(tasks: &mut JoinSet<Option<String>>, closed: &mut Vec<String>) {
    while let Some(ended) = tasks.join_next().await {
        closed.extend(ended.ok().flatten());
    }
}

async fn prune_periodically(store: Arc<dyn StateStore>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(PRUNE_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
        match store.prune(chrono::Utc::now()).await {
            Ok(pruned) => tracing::debug!(pruned, "state pruned"),
            Err(error) => {
                tracing::warn!(%error, "pruning the state store failed; retrying in an hour")
            }
        }
    }
}

/// Writes a dead letter and counts it; a store failure is logged (the event itself is never dropped silently).
pub(crate) async fn record_dead_letter(
    store: &dyn StateStore,
    metrics: &Metrics,
    letter: &DeadLetter,
) {
    let labels = DeadLetterLabels {
        tenant: letter.stream.tenant.clone(),
        kind: letter.kind.as_str().to_string(),
    };
    metrics.dead_letters.get_or_create(&labels).inc();
    if let Err(error) = store.add_dead_letter(letter).await {
        tracing::error!(tenant = %letter.stream.tenant, content_id = %letter.content_id, reason = %letter.reason, %error, "cannot write a dead letter");
    }
}
