//! Acknowledgement accounting and the committer.
//!
//! A [`BlobTracker`] counts what is still unacknowledged for one blob: one hold while the blob is being
//! read, plus one per (batch × sink). When the count reaches zero the tracker goes to the committer, which
//! commits the blob, its record Ids and the stream's new checkpoint in one transaction. The committer is a
//! single task, so checkpoint moves never race with blob commits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::held::LeasedCommits;
use super::progress::{InFlightIds, SentIds, StreamProgress};
use crate::api::ContentBlob;
use crate::state::{BlobCommit, CommitBatch, RecordKey, StateStore};
use crate::telemetry::Metrics;

/// Work for the committer.
pub(crate) enum CommitMsg {
    /// Every event of the blob is acknowledged (or dead-lettered): commit it.
    Blob(Arc<BlobTracker>),
    /// The stream listed everything before this time; move the checkpoint if nothing is open.
    Listed(Arc<StreamProgress>, DateTime<Utc>),
}

#[derive(Default)]
struct Ids {
    /// Ids this blob delivers (committed with it).
    sent: SentIds,
    /// Ids this blob claimed in the tenant's in-flight map.
    claimed: Vec<RecordKey>,
}

/// Acknowledgement count of one blob.
pub(crate) struct BlobTracker {
    pub blob: ContentBlob,
    pub content_id: Arc<str>,
    pub progress: Arc<StreamProgress>,
    in_flight_ids: Arc<InFlightIds>,
    committer: mpsc::Sender<CommitMsg>,
    pending: AtomicUsize,
    abandoned: AtomicBool,
    ids: Mutex<Ids>,
}

// === impl BlobTracker ===

impl BlobTracker {
    /// A tracker holding one count for the reader.
    pub(crate) fn new(
        blob: ContentBlob,
        progress: Arc<StreamProgress>,
        in_flight_ids: Arc<InFlightIds>,
        committer: mpsc::Sender<CommitMsg>,
    ) -> Arc<BlobTracker> {
        Arc::new(BlobTracker {
            content_id: blob.content_id.as_str().into(),
            blob,
            progress,
            in_flight_ids,
            committer,
            pending: AtomicUsize::new(1),
            abandoned: AtomicBool::new(false),
            ids: Mutex::new(Ids::default()),
        })
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Decides which of `ids` this blob delivers: not already sent by it, not in flight in another blob.
    /// Returns one flag per id, in order, and records the kept ones as sent. An Id twice in `ids` is kept
    /// once.
    pub(crate) fn keep(&self, ids: &[RecordKey]) -> Vec<bool> {
        let mut own = self.ids();
        let Ids { sent, claimed } = &mut *own;
        let mut in_flight = self.in_flight_ids.lock();
        ids.iter()
            .map(|id| {
                if sent.contains(id) {
                    return false;
                }
                let keep = in_flight.claim(&self.content_id, id, claimed);
                if keep {
                    sent.insert(id.clone());
                }
                keep
            })
            .collect()
    }

    /// Adds `count` outstanding acknowledgements (one per sink for a new batch).
    pub(crate) fn expect(&self, count: usize) {
        self.pending.fetch_add(count, Ordering::AcqRel);
    }

    /// One acknowledgement arrived (or the reader finished); the last one sends the blob to the committer.
    pub(crate) async fn release(self: &Arc<Self>) {
        let before = self.pending.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(
            before > 0,
            "more releases than expected for {}",
            self.blob.content_id
        );
        if before == 1 && !self.abandoned.load(Ordering::Acquire) {
            // The committer only stops after every tracker is gone, so a failed send means shutdown.
            let _ = self.committer.send(CommitMsg::Blob(self.clone())).await;
        }
    }

    /// The blob will not be committed in this cycle (read failed or shutdown).
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
        self.progress.fail(&self.blob);
    }

    /// The Ids this blob delivered.
    fn sent_ids(&self) -> Vec<RecordKey> {
        self.ids().sent.iter().cloned().collect()
    }
}

impl Drop for BlobTracker {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut self.ids().claimed);
        self.in_flight_ids.release(&self.content_id, &ids);
    }
}

/// Most messages folded into one transaction.
const GROUP: usize = 64;

/// Commits blobs and checkpoints until every sender is gone. Whatever is waiting is committed together in
/// one transaction (group commit), so commits keep up with delivery and the work that a crash can repeat
/// stays small.
pub(crate) async fn run_committer(
    store: Arc<dyn StateStore>,
    metrics: Arc<Metrics>,
    mut inbox: mpsc::Receiver<CommitMsg>,
) -> u64 {
    let mut committed = 0;
    let mut messages = Vec::with_capacity(GROUP);
    while inbox.recv_many(&mut messages, GROUP).await > 0 {
        let mut batch = CommitBatch::default();
        // Cluster mode: one batch per lease, each committed under its fencing check.
        let mut leased = LeasedCommits::default();
        let mut touched: Vec<Arc<StreamProgress>> = Vec::new();
        // Held until their commit is written: dropping a tracker releases its record Ids from the in-flight
        // set, and until the store has them another blob's copy of a record must still find them there.
        let mut trackers: Vec<Arc<BlobTracker>> = Vec::new();
        for message in messages.drain(..) {
            let progress = match message {
                CommitMsg::Blob(tracker) => {
                    let progress = tracker.progress.clone();
                    // A leased group (with its commit guard) exists before `finish`, so the lease is
                    // released only after this commit.
                    let target = match &progress.lease {
                        Some(held) => leased.batch(held),
                        None => &mut batch,
                    };
                    progress.finish(&tracker.blob);
                    target.blobs.push(BlobCommit {
                        stream: progress.stream.clone(),
                        content_id: tracker.blob.content_id.clone(),
                        content_created: tracker.blob.content_created,
                        content_expiration: tracker.blob.content_expiration,
                        record_ids: tracker.sent_ids(),
                        checkpoint: None,
                    });
                    trackers.push(tracker);
                    progress
                }
                CommitMsg::Listed(progress, until) => {
                    progress.listed_until(until);
                    progress
                }
            };
            if !touched.iter().any(|seen| Arc::ptr_eq(seen, &progress)) {
                touched.push(progress);
            }
        }
        // Checkpoints after every blob of the group is out of the in-flight sets.
        for progress in &touched {
            if let Some(checkpoint) = progress.checkpoint() {
                let target = match &progress.lease {
                    Some(held) => leased.batch(held),
                    None => &mut batch,
                };
                target
                    .checkpoints
                    .push((progress.stream.clone(), checkpoint));
            }
        }
        if !batch.blobs.is_empty() || !batch.checkpoints.is_empty() {
            persist(&*store, &batch).await;
            for commit in &batch.blobs {
                let labels = Metrics::stream(&commit.stream.tenant, &commit.stream.content_type);
                metrics.blobs_committed.get_or_create(&labels).inc();
                tracing::debug!(stream = %commit.stream, content_id = %commit.content_id, records = commit.record_ids.len(), "blob committed");
            }
            committed += batch.blobs.len() as u64;
        }
        committed += leased.persist(&*store, &metrics).await;
        drop(trackers);
    }
    committed
}

/// Commits, retrying while the store fails: nothing may be acknowledged without being recorded.
async fn persist(store: &dyn StateStore, batch: &CommitBatch) {
    let mut delay = Duration::from_millis(200);
    while let Err(error) = store.commit(batch).await {
        tracing::error!(blobs = batch.blobs.len(), %error, "cannot commit delivered blobs; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// A tracker of blob `content_id` of a stream of tenant `t`, for tests.
#[cfg(test)]
pub(crate) fn test_tracker(
    content_id: &str,
    in_flight_ids: &Arc<InFlightIds>,
    committer: &mpsc::Sender<CommitMsg>,
) -> Arc<BlobTracker> {
    let created = Utc::now();
    let blob = ContentBlob {
        content_type: "Audit.General".into(),
        content_id: content_id.into(),
        content_uri: format!("https://x/{content_id}"),
        content_created: created,
        content_expiration: created + chrono::Duration::days(7),
    };
    let progress = StreamProgress::new(crate::state::StreamKey {
        tenant: "t".into(),
        content_type: "Audit.General".into(),
    });
    BlobTracker::new(blob, progress, in_flight_ids.clone(), committer.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_tracker as tracker;

    #[test]
    fn an_id_twice_in_a_chunk_is_kept_once_and_the_flags_stay_in_order() {
        let in_flight_ids = Arc::new(InFlightIds::default());
        let (committer, _inbox) = mpsc::channel(1);
        let other = tracker("other", &in_flight_ids, &committer);
        let this = tracker("this", &in_flight_ids, &committer);
        let key = |id: &str| RecordKey::new(id);
        let (twice, elsewhere, fresh) = (
            key("0b6b0ae4-2b2b-4d63-a01a-08de2b3c1e44"),
            key("1b6b0ae4-2b2b-4d63-a01a-08de2b3c1e44"),
            key("not-a-guid"),
        );
        assert_eq!(other.keep(std::slice::from_ref(&elsewhere)), vec![true]);

        let chunk = [twice.clone(), twice.clone(), elsewhere, fresh.clone()];
        assert_eq!(
            this.keep(&chunk),
            vec![true, false, false, true],
            "the record after the duplicate keeps its own flag: in flight elsewhere is skipped, fresh is kept"
        );
        let mut sent: Vec<String> = this.sent_ids().iter().map(RecordKey::to_string).collect();
        sent.sort();
        assert_eq!(sent, vec![twice.to_string(), fresh.to_string()]);
        assert_eq!(
            this.keep(&chunk),
            vec![false; 4],
            "a later chunk of the same read does not send them again"
        );

        drop(other);
        let reread = tracker("other", &in_flight_ids, &committer);
        assert_eq!(
            reread.keep(&chunk),
            vec![false, false, true, false],
            "released by the other blob; still in flight in this one"
        );
    }
}
