//! Sink drivers: one task per sink that takes the next group of queued batches (one batch, or several of one
//! tenant joined for an HTTP sink: see `gather`), encodes it in the sink's format and hands it to the sink
//! until every event is acknowledged or dead-lettered, retrying with jittered backoff that honours the
//! sink's `retry_after`. Only then is each batch released to its blob's tracker.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::commit::BlobTracker;
use super::gather::{Gatherer, Group};
use crate::api::RetryPolicy;
use crate::encode::Format;
use crate::event::Event;
use crate::sink::{EncodedBatch, Grouping, ItemOutcome, SendOutcome, Sink};
use crate::state::{DeadLetter, DeadLetterKind, StateStore};
use crate::telemetry::Metrics;

/// Events of one blob on their way to every sink.
pub(crate) struct Batch {
    pub tenant: Arc<str>,
    pub events: Arc<Vec<Event>>,
    pub tracker: Arc<BlobTracker>,
}

/// The stream side of a sink: where batches are queued (bounded: a slow sink slows the streams).
#[derive(Clone)]
pub(crate) struct SinkQueue {
    pub name: Arc<str>,
    pub sender: mpsc::Sender<Arc<Batch>>,
}

/// One sink and what it needs to deliver.
pub(crate) struct SinkDriver {
    pub name: Arc<str>,
    pub format: Format,
    pub sink: Box<dyn Sink>,
    /// How queued batches are joined into one send.
    pub grouping: Grouping,
    pub store: Arc<dyn StateStore>,
    pub metrics: Arc<Metrics>,
    pub retry: RetryPolicy,
    /// Cancelled when the shutdown bound has passed: stop retrying.
    pub abort: CancellationToken,
    /// The run's shutdown: cancelled by a sink whose destination is gone for good
    /// ([`SendOutcome::Closed`]).
    pub stop_run: CancellationToken,
}

/// Why a driver stopped delivering before its queue closed.
enum Stop {
    /// The shutdown bound passed.
    Aborted,
    /// The destination is gone for good: the reason (naming the sink).
    Closed(String),
}

// === impl SinkDriver ===

impl SinkDriver {
    /// Delivers batches until the queue closes (or the abort token fires). Returns why the sink closed for
    /// good, if it did (the run then stops: see [`SendOutcome::Closed`]).
    pub(crate) async fn run(mut self, queue: mpsc::Receiver<Arc<Batch>>) -> Option<String> {
        let labels = Metrics::sink(&self.name);
        let alive = self.metrics.health.register_loop("sink", &self.name, None);
        let mut gatherer = Gatherer::new(queue, self.grouping);
        let abort = self.abort.clone();
        loop {
            let waiting = alive.waiting();
            let group = gatherer.next(&abort).await;
            drop(waiting);
            let Some(group) = group else { break };
            self.metrics
                .sink_queue_depth
                .get_or_create(&labels)
                .set(gatherer.queued() as i64);
            let encoded = EncodedBatch::encode(
                self.format,
                group.tenant.clone(),
                group.events.clone(),
                0..group.events.len(),
            );
            // Stopped: the blobs stay uncommitted and are fetched again on the next start.
            match self.deliver(&group, encoded).await {
                Ok(()) => {}
                Err(Stop::Aborted) => break,
                Err(Stop::Closed(reason)) => {
                    tracing::error!(sink = %self.name, error = %reason, "the sink's destination is gone for good; the run stops (what it did not acknowledge is fetched again on the next start)");
                    self.stop_run.cancel();
                    return Some(reason);
                }
            }
            for batch in &group.batches {
                batch.tracker.release().await;
            }
        }
        None
    }

    /// Sends until nothing is left to retry.
    async fn deliver(&mut self, group: &Group, mut pending: EncodedBatch) -> Result<(), Stop> {
        let labels = Metrics::sink(&self.name);
        let delivered_labels = Metrics::delivery(&group.tenant, &self.name);
        let mut attempt = 0u32;
        loop {
            let outcome = self.sink.send(&pending).await;
            let health = &self.metrics.health;
            health.tick("sink", &self.name);
            health.sink_result(&self.name, sink_health(&outcome));
            let delivered = match outcome {
                SendOutcome::Delivered => pending.len(),
                SendOutcome::Rejected { reason } => {
                    for item in pending.items() {
                        dead_letter(
                            &self.name,
                            &*self.store,
                            &self.metrics,
                            group.batch_of(item.event),
                            pending.event(item),
                            &reason,
                        )
                        .await;
                    }
                    0
                }
                SendOutcome::Retry { error, retry_after } => {
                    self.metrics.sink_errors.get_or_create(&labels).inc();
                    let wait = retry_after.unwrap_or_else(|| self.retry.backoff(attempt));
                    tracing::warn!(sink = %self.name, tenant = %group.tenant, error = %error, attempt, wait_s = wait.as_secs_f64(), "sink did not acknowledge; retrying");
                    self.wait(wait).await?;
                    attempt += 1;
                    continue;
                }
                SendOutcome::Closed { error } => return Err(Stop::Closed(error.to_string())),
                SendOutcome::Partial(outcomes) => {
                    let mut retry_positions = Vec::new();
                    let mut retry_after: Option<Duration> = None;
                    let mut delivered = 0;
                    for (position, outcome) in outcomes.iter().enumerate() {
                        let Some(item) = pending.items().get(position) else {
                            continue;
                        };
                        match outcome {
                            ItemOutcome::Delivered => delivered += 1,
                            ItemOutcome::Rejected { reason } => {
                                dead_letter(
                                    &self.name,
                                    &*self.store,
                                    &self.metrics,
                                    group.batch_of(item.event),
                                    pending.event(item),
                                    reason,
                                )
                                .await;
                            }
                            ItemOutcome::Retry {
                                retry_after: after, ..
                            } => {
                                retry_positions.push(position);
                                retry_after = retry_after.max(*after);
                            }
                        }
                    }
                    // Items the sink said nothing about are not acknowledged.
                    retry_positions.extend(outcomes.len()..pending.len());
                    self.metrics
                        .events_delivered
                        .get_or_create(&delivered_labels)
                        .inc_by(delivered as u64);
                    if retry_positions.is_empty() {
                        return Ok(());
                    }
                    self.metrics.sink_errors.get_or_create(&labels).inc();
                    let wait = retry_after.unwrap_or_else(|| self.retry.backoff(attempt));
                    tracing::warn!(sink = %self.name, tenant = %group.tenant, retrying = retry_positions.len(), wait_s = wait.as_secs_f64(), "sink acknowledged part of a batch; resending the rest");
                    pending = pending.subset(&retry_positions);
                    self.wait(wait).await?;
                    attempt += 1;
                    continue;
                }
            };
            self.metrics
                .events_delivered
                .get_or_create(&delivered_labels)
                .inc_by(delivered as u64);
            return Ok(());
        }
    }

    async fn wait(&mut self, wait: Duration) -> Result<(), Stop> {
        let abort = self.abort.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            () = abort.cancelled() => Err(Stop::Aborted),
        }
    }
}

/// What a send says about the sink's reachability (readiness): a refusal is an answer, so it is reachable.
fn sink_health(outcome: &SendOutcome) -> Result<(), String> {
    match outcome {
        SendOutcome::Retry { error, .. } | SendOutcome::Closed { error } => Err(error.to_string()),
        SendOutcome::Partial(items)
            if items
                .iter()
                .all(|item| matches!(item, ItemOutcome::Retry { .. })) =>
        {
            Err("no event of the batch was acknowledged".into())
        }
        _ => Ok(()),
    }
}

/// Dead-letters an event a sink refused for good.
async fn dead_letter(
    sink: &str,
    store: &dyn StateStore,
    metrics: &Metrics,
    batch: &Batch,
    event: &Event,
    reason: &str,
) {
    let progress = &batch.tracker.progress;
    let letter = DeadLetter {
        at: Utc::now(),
        kind: DeadLetterKind::Sink,
        stream: progress.stream.clone(),
        content_id: batch.tracker.blob.content_id.clone(),
        content_uri: batch.tracker.blob.content_uri.clone(),
        record_id: Some(event.record.id.clone()),
        sink: Some(sink.to_string()),
        reason: reason.to_string(),
        payload: event.record.raw.to_string(),
    };
    tracing::error!(sink, tenant = %batch.tenant, record_id = %event.record.id, reason, "sink refused an event for good; dead-lettered");
    super::record_dead_letter(store, metrics, &letter).await;
}
