//! One stream (tenant × content type): list windows, fetch new blobs, turn records into events, and queue
//! them to every sink — then wait for the next poll.

use std::sync::Arc;

use chrono::Utc;
use futures::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::commit::{BlobTracker, CommitMsg};
use super::deliver::{Batch, SinkQueue};
use super::progress::{InFlightIds, StreamProgress};
use crate::api::{ApiClient, ApiError, ContentBlob, RetryPolicy};
use crate::config::CollectorConfig;
use crate::event::{Event, NormalizeContext};
use crate::source::{
    plan_windows, split_span, until_just_after_a_second, BlobReader, ReadError, Window,
};
use crate::state::{DeadLetter, DeadLetterKind, RecordKey, StateError, StateStore, StreamKey};
use crate::telemetry::{Metrics, StreamLabels};

/// Attempts to read one blob in a cycle before it is left for the next one.
const BLOB_ATTEMPTS: u32 = 5;

/// Why a poll cycle of a stream did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("stream {stream}: {count} blob(s) could not be read this cycle; they are retried at the next poll")]
    BlobsFailed { stream: String, count: usize },
}

/// Everything a stream task needs (cloned per lease in cluster mode, with its own `shutdown`).
#[derive(Clone)]
pub(crate) struct StreamTask {
    pub stream: StreamKey,
    pub api: Arc<ApiClient>,
    pub store: Arc<dyn StateStore>,
    pub metrics: Arc<Metrics>,
    pub collector: CollectorConfig,
    pub retry: RetryPolicy,
    pub sinks: Arc<[SinkQueue]>,
    pub committer: mpsc::Sender<CommitMsg>,
    pub in_flight_ids: Arc<InFlightIds>,
    pub normalize: NormalizeContext,
    /// Whether any sink reads typed models (else records pass through undecoded; see
    /// [`crate::sink::SinkConfig::reads_models`]).
    pub decode_models: bool,
    pub tenant: Arc<str>,
    pub shutdown: CancellationToken,
    pub once: bool,
    pub source: super::Source,
}

enum BlobEnd {
    /// Read to the end (or dead-lettered): release the reader's hold so it commits.
    Done,
    /// Not readable now: leave it for the next cycle.
    Abandon,
}

// === impl StreamTask ===

impl StreamTask {
    /// Polls until shutdown; with `once`, returns after one complete catch-up (every blob committed).
    pub(crate) async fn run(self: Arc<Self>) -> Result<(), StreamError> {
        let progress = StreamProgress::new(self.stream.clone());
        self.run_with(progress).await
    }

    /// [`run`](Self::run) with a given progress (cluster mode: one that carries the stream's lease).
    pub(crate) async fn run_with(
        self: Arc<Self>,
        progress: Arc<StreamProgress>,
    ) -> Result<(), StreamError> {
        let labels = Metrics::stream(&self.stream.tenant, &self.stream.content_type);
        let alive = self.metrics.health.register_loop(
            "stream",
            &self.stream.to_string(),
            Some(&self.stream.tenant),
        );
        // When the current cycle was due (see `next_cycle`).
        let mut due = tokio::time::Instant::now();
        loop {
            alive.tick();
            let cycle = self.poll_once(&progress, &labels).await;
            if let Err(error) = &cycle {
                tracing::error!(tenant = %self.stream.tenant, content_type = %self.stream.content_type, %error, "poll cycle failed");
            }
            if self.once {
                let _draining = alive.waiting();
                // A sink that never recovers must not hold a shutdown: what is not committed is fetched again.
                tokio::select! {
                    () = progress.wait_idle() => {}
                    () = self.shutdown.cancelled() => {}
                }
                return cycle;
            }
            due = self.next_cycle(due);
            let _between_polls = alive.waiting();
            tokio::select! {
                // A shutdown wins over a poll that is already due (after a catch-up): no cycle is begun
                // only to be left at once.
                biased;
                () = self.shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep_until(due) => {}
            }
        }
    }

    /// When the cycle after the one `due` then starts.
    ///
    /// Cycles start `poll_interval` apart, counted from when each was due, so that neither the cycle's own
    /// time nor late wake-ups add to the wait (they did, and a blob listable just after a list waited the
    /// interval plus a cycle); after a cycle longer than the interval (a catch-up) the next starts at once,
    /// or, with the rule below, at the next whole second. When the interval is a whole number of seconds,
    /// cycles start just after a whole second of the API's clock: a listing window ends on a whole second
    /// at or before the list (the API takes no fractions), so a blob that became listable in the part of a
    /// second before the list waited a whole further interval (the benchmark's lag p99 at a 60 s poll
    /// reached 61.06 s).
    fn next_cycle(&self, due: tokio::time::Instant) -> tokio::time::Instant {
        let now = tokio::time::Instant::now();
        let interval = self.collector.poll_interval;
        let next = (due + interval).max(now);
        if interval.subsec_nanos() != 0 || interval.is_zero() {
            return next;
        }
        let server_at_next =
            self.api.server_now() + chrono::TimeDelta::from_std(next - now).unwrap_or_default();
        next + until_just_after_a_second(server_at_next)
    }

    async fn poll_once(
        &self,
        progress: &Arc<StreamProgress>,
        labels: &StreamLabels,
    ) -> Result<(), StreamError> {
        progress.start_cycle();
        let checkpoint = match progress.checkpoint() {
            Some(in_memory) => Some(in_memory),
            None => self.store.checkpoint(&self.stream).await?,
        };
        let now = self.api.server_now();
        self.update_lag(progress, labels, checkpoint);
        let windows = match &self.source {
            super::Source::Follow => plan_windows(
                checkpoint,
                now,
                self.collector.relist,
                self.collector.backfill,
            ),
            super::Source::Span { since, until } => split_span(*since, *until),
            super::Source::Blobs(blobs) => {
                let mine: Vec<ContentBlob> = blobs
                    .iter()
                    .filter(|(stream, _)| *stream == self.stream)
                    .map(|(_, blob)| blob.clone())
                    .collect();
                progress.register(&mine);
                futures::stream::iter(mine)
                    .for_each_concurrent(self.collector.max_concurrent_fetches, |blob| {
                        self.process_blob(progress, blob)
                    })
                    .await;
                Vec::new()
            }
        };
        for window in windows {
            if self.shutdown.is_cancelled() {
                return Ok(());
            }
            let listed = self.list_window(window).await?;
            let new = self.new_blobs(progress, listed).await?;
            self.metrics
                .blobs_listed
                .get_or_create(labels)
                .inc_by(new.len() as u64);
            self.metrics.health.tick("stream", &self.stream.to_string());
            progress.register(&new);
            progress.relisted(window.end);
            futures::stream::iter(new)
                .for_each_concurrent(self.collector.max_concurrent_fetches, |blob| {
                    self.process_blob(progress, blob)
                        .map(|()| self.metrics.health.tick("stream", &self.stream.to_string()))
                })
                .await;
            // Fails only when the committer is gone, i.e. at shutdown.
            let _ = self
                .committer
                .send(CommitMsg::Listed(progress.clone(), window.end))
                .await;
            self.update_lag(progress, labels, progress.checkpoint());
        }
        match progress.failed_count() {
            0 => Ok(()),
            count => Err(StreamError::BlobsFailed {
                stream: self.stream.to_string(),
                count,
            }),
        }
    }

    fn update_lag(
        &self,
        progress: &StreamProgress,
        labels: &StreamLabels,
        checkpoint: Option<chrono::DateTime<Utc>>,
    ) {
        if let Some(oldest) = progress.oldest_open().or(checkpoint) {
            let lag = (Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0;
            self.metrics
                .stream_lag_seconds
                .get_or_create(labels)
                .set(lag);
        }
    }

    /// Lists a window; starts the subscription once when the API says there is none (AF20022).
    async fn list_window(&self, window: Window) -> Result<Vec<ContentBlob>, ApiError> {
        let content_type = &self.stream.content_type;
        match self
            .api
            .list_content(content_type, window.start, window.end)
            .await
        {
            Err(error) if error.code() == Some("AF20022") => {
                tracing::info!(tenant = %self.stream.tenant, content_type = %content_type, "no subscription yet (AF20022); starting it");
                self.api.start_subscription(content_type).await?;
                self.api
                    .list_content(content_type, window.start, window.end)
                    .await
            }
            other => other,
        }
    }

    /// Blobs neither committed nor already in flight, oldest first.
    async fn new_blobs(
        &self,
        progress: &StreamProgress,
        listed: Vec<ContentBlob>,
    ) -> Result<Vec<ContentBlob>, StateError> {
        let ids: Vec<String> = listed.iter().map(|blob| blob.content_id.clone()).collect();
        let committed = self.store.committed_blobs(&self.stream, &ids).await?;
        let mut new: Vec<ContentBlob> = listed
            .into_iter()
            .filter(|blob| !committed.contains(&blob.content_id) && !progress.is_known(blob))
            .collect();
        new.sort_by(|a, b| {
            (a.content_created, &a.content_id).cmp(&(b.content_created, &b.content_id))
        });
        new.dedup_by(|a, b| a.content_id == b.content_id);
        Ok(new)
    }

    async fn process_blob(&self, progress: &Arc<StreamProgress>, blob: ContentBlob) {
        let tracker = BlobTracker::new(
            blob,
            progress.clone(),
            self.in_flight_ids.clone(),
            self.committer.clone(),
        );
        match self.read_blob_with_retries(&tracker).await {
            BlobEnd::Done => {
                let labels = Metrics::stream(&self.stream.tenant, &self.stream.content_type);
                self.metrics.blobs_fetched.get_or_create(&labels).inc();
                tracker.release().await;
            }
            BlobEnd::Abandon => tracker.abandon(),
        }
    }

    async fn read_blob_with_retries(&self, tracker: &Arc<BlobTracker>) -> BlobEnd {
        let blob = &tracker.blob;
        let labels = Metrics::stream(&self.stream.tenant, &self.stream.content_type);
        if self.shutdown.is_cancelled() {
            // Not begun before the shutdown: not fetched only to be left (it holds the checkpoint, failed).
            return BlobEnd::Abandon;
        }
        if blob.content_expiration <= Utc::now() {
            self.metrics.blobs_lost.get_or_create(&labels).inc();
            tracing::error!(tenant = %self.stream.tenant, content_type = %self.stream.content_type, content_id = %blob.content_id, expired = %blob.content_expiration, "content expired before it could be fetched: its events are lost");
            self.dead_letter_blob(
                blob,
                "content expired before it could be fetched: its events are lost",
            )
            .await;
            return BlobEnd::Done;
        }
        let mut attempt = 0;
        loop {
            let error = match self.read_blob(tracker).await {
                Ok(()) => return BlobEnd::Done,
                Err(None) => return BlobEnd::Abandon, // shutdown
                Err(Some(error)) => error,
            };
            attempt += 1;
            let code = match &error {
                ReadError::Api(api) => api.code(),
                _ => None,
            };
            if code == Some("AF20051") {
                self.metrics.blobs_lost.get_or_create(&labels).inc();
                tracing::error!(tenant = %self.stream.tenant, content_type = %self.stream.content_type, content_id = %blob.content_id, "content expired (AF20051): its events are lost");
                self.dead_letter_blob(blob, &error.to_string()).await;
                return BlobEnd::Done;
            }
            // A blob that stays truncated, or that the API keeps saying does not exist, is poison once the
            // attempts are used up; throttling and server errors only postpone it to the next poll.
            let stays_broken = code == Some("AF20050")
                || matches!(error, ReadError::Body(_) | ReadError::Split(_));
            let poison = !error.is_transient() || (stays_broken && attempt >= BLOB_ATTEMPTS);
            if poison {
                tracing::error!(tenant = %self.stream.tenant, content_type = %self.stream.content_type, content_id = %blob.content_id, %error, "blob cannot be read; dead-lettered, the stream goes on");
                self.dead_letter_blob(blob, &error.to_string()).await;
                return BlobEnd::Done;
            }
            if attempt >= BLOB_ATTEMPTS {
                tracing::warn!(tenant = %self.stream.tenant, content_type = %self.stream.content_type, content_id = %blob.content_id, %error, "blob still unreadable; it will be tried again next poll");
                return BlobEnd::Abandon;
            }
            let wait = self.retry.backoff(attempt);
            tracing::warn!(tenant = %self.stream.tenant, content_type = %self.stream.content_type, content_id = %blob.content_id, %error, attempt, "reading the blob failed; fetching it again");
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.shutdown.cancelled() => return BlobEnd::Abandon,
            }
        }
    }

    /// Reads the blob and queues its events; `Err(None)` on shutdown.
    async fn read_blob(&self, tracker: &Arc<BlobTracker>) -> Result<(), Option<ReadError>> {
        let labels = Metrics::stream(&self.stream.tenant, &self.stream.content_type);
        let open = BlobReader::open(
            &self.api,
            &tracker.blob.content_uri,
            &self.collector.record_types,
            self.collector.batch_events,
        );
        let mut reader = tokio::select! {
            reader = open => reader.map_err(Some)?,
            () = self.shutdown.cancelled() => return Err(None),
        };
        // Another process's commits are read at a blob's first chunk (at most once a second, see
        // `StreamProgress::exact_lookup_due`); later chunks ask the store's memory.
        let mut first_chunk = true;
        loop {
            let chunk = tokio::select! {
                chunk = reader.next_chunk() => chunk.map_err(Some)?,
                () = self.shutdown.cancelled() => return Err(None),
            };
            let Some(chunk) = chunk else { return Ok(()) };
            self.metrics
                .events_filtered
                .get_or_create(&labels)
                .inc_by(chunk.skipped);
            for invalid in chunk.invalid {
                self.dead_letter(
                    tracker,
                    DeadLetterKind::Record,
                    None,
                    &invalid.reason,
                    invalid.raw,
                )
                .await;
            }
            self.metrics
                .events_received
                .get_or_create(&labels)
                .inc_by(chunk.records.len() as u64);
            let events = self
                .fresh_events(tracker, chunk.records, std::mem::take(&mut first_chunk))
                .await
                .map_err(|error| Some(ReadError::Body(format!("state store: {error}"))))?;
            if events.is_empty() {
                continue;
            }
            if !self.dispatch(tracker, events).await {
                return Err(None);
            }
        }
    }

    /// Drops records already delivered (committed, or in flight in another blob) and normalizes the rest.
    /// `first_chunk` asks the store for every commit, other processes' included, when the stream's last
    /// such read is a second old (see [`StreamProgress::exact_lookup_due`] and
    /// [`StateStore::seen_records_here`]).
    async fn fresh_events(
        &self,
        tracker: &Arc<BlobTracker>,
        records: Vec<crate::event::Record>,
        first_chunk: bool,
    ) -> Result<Vec<Event>, StateError> {
        let labels = Metrics::stream(&self.stream.tenant, &self.stream.content_type);
        let ids: Vec<&str> = records.iter().map(|record| record.id.as_str()).collect();
        let tenant = &self.stream.tenant;
        // When this lookup is the stream's exact one, the time it started (the next is due a second later).
        let exact_at = first_chunk
            .then(std::time::Instant::now)
            .filter(|&now| tracker.progress.exact_lookup_due(now));
        let seen = match exact_at {
            Some(started) => {
                let seen = self.store.seen_records(tenant, &ids).await?;
                tracker.progress.exact_lookup_done(started);
                seen
            }
            None => self.store.seen_records_here(tenant, &ids).await?,
        };
        let candidates: Vec<usize> = (0..records.len())
            .filter(|&index| !seen.contains(&records[index].id))
            .collect();
        let candidate_ids: Vec<RecordKey> = candidates
            .iter()
            .map(|&index| RecordKey::new(&records[index].id))
            .collect();
        let mut keep = vec![false; records.len()];
        for (index, kept) in candidates.iter().zip(tracker.keep(&candidate_ids)) {
            keep[*index] = kept;
        }
        let mut events = Vec::with_capacity(records.len());
        let mut duplicates = 0u64;
        for (record, keep) in records.into_iter().zip(keep) {
            if !keep {
                duplicates += 1;
                continue;
            }
            if !self.decode_models {
                events.push(Event::passthrough(record, &self.normalize));
                continue;
            }
            let event = Event::from_record(record, &self.normalize);
            if let Some(reason) = event.decode_error() {
                let reason = format!("record could not be decoded into its model (delivered with its common fields): {reason}");
                let raw = event.record.raw.to_string();
                let id = event.record.id.clone();
                self.dead_letter(tracker, DeadLetterKind::Record, Some(id), &reason, raw)
                    .await;
            }
            events.push(event);
        }
        self.metrics
            .events_duplicate
            .get_or_create(&labels)
            .inc_by(duplicates);
        Ok(events)
    }

    /// Queues the events to every sink (waiting while a sink's queue is full); false at shutdown.
    async fn dispatch(&self, tracker: &Arc<BlobTracker>, events: Vec<Event>) -> bool {
        let batch = Arc::new(Batch {
            tenant: self.tenant.clone(),
            events: Arc::new(events),
            tracker: tracker.clone(),
        });
        tracker.expect(self.sinks.len());
        // Waiting for a full sink queue is backpressure, not a stall: the sink's own loop is watched.
        let _backpressure = self
            .metrics
            .health
            .waiting("stream", &self.stream.to_string());
        for (index, sink) in self.sinks.iter().enumerate() {
            // A full queue (a sink that is down) must not hold up shutdown.
            let queued = tokio::select! {
                sent = sink.sender.send(batch.clone()) => sent.is_ok(),
                () = self.shutdown.cancelled() => false,
            };
            if !queued {
                // The remaining sinks will never acknowledge this batch: the blob must not commit.
                tracing::debug!(sink = %sink.name, skipped = self.sinks.len() - index, "sink queue closed or shutting down");
                return false;
            }
        }
        true
    }

    async fn dead_letter_blob(&self, blob: &ContentBlob, reason: &str) {
        let letter = DeadLetter {
            at: Utc::now(),
            kind: DeadLetterKind::Blob,
            stream: self.stream.clone(),
            content_id: blob.content_id.clone(),
            content_uri: blob.content_uri.clone(),
            record_id: None,
            sink: None,
            reason: reason.to_string(),
            payload: String::new(),
        };
        super::record_dead_letter(&*self.store, &self.metrics, &letter).await;
    }

    async fn dead_letter(
        &self,
        tracker: &BlobTracker,
        kind: DeadLetterKind,
        record_id: Option<String>,
        reason: &str,
        payload: String,
    ) {
        let letter = DeadLetter {
            at: Utc::now(),
            kind,
            stream: self.stream.clone(),
            content_id: tracker.blob.content_id.clone(),
            content_uri: tracker.blob.content_uri.clone(),
            record_id,
            sink: None,
            reason: reason.to_string(),
            payload,
        };
        super::record_dead_letter(&*self.store, &self.metrics, &letter).await;
    }
}
