//! A stream run under a lease (cluster mode): the lease it holds, how it ends, and fenced commits.
//!
//! A [`HeldLease`] is lost when the keeper's renewal is refused (another replica took the stream), when the
//! store refuses a fenced commit, or when its local deadline passes without a renewal (the database is
//! unreachable, or this process was paused): [`supervise`] then drops the stream task at once. Blobs whose
//! events were already queued still reach the committer; their fenced commits are refused, counted and
//! logged, and the new owner fetches them again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::progress::StreamProgress;
use super::stream::{StreamError, StreamTask};
use crate::state::{CommitBatch, Lease, StateError, StateStore};
use crate::telemetry::Metrics;

/// Why a lease was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loss {
    /// The renewal was refused: another replica holds the stream now.
    TakenOver,
    /// The store refused a commit or checkpoint move under this lease.
    Fenced,
    /// No renewal succeeded before the lease ran out by this replica's clock.
    Expired,
}

impl Loss {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Loss::TakenOver => "another replica took the stream over",
            Loss::Fenced => "a commit was refused by the fencing check",
            Loss::Expired => "the lease expired before it could be renewed",
        }
    }
}

/// A lease this replica holds for a running stream.
pub(crate) struct HeldLease {
    /// The lease (owner and fencing epoch) every commit of the stream carries.
    pub lease: Lease,
    lost: CancellationToken,
    loss: Mutex<Option<Loss>>,
    deadline: watch::Sender<Instant>,
    committing: AtomicUsize,
    committed: Notify,
}

// === impl HeldLease ===

impl HeldLease {
    /// A lease valid until `deadline` by this replica's clock.
    pub(crate) fn new(lease: Lease, deadline: Instant) -> Arc<HeldLease> {
        Arc::new(HeldLease {
            lease,
            lost: CancellationToken::new(),
            loss: Mutex::new(None),
            deadline: watch::Sender::new(deadline),
            committing: AtomicUsize::new(0),
            committed: Notify::new(),
        })
    }

    /// A renewal succeeded: the lease now runs until `deadline`.
    pub(crate) fn extend(&self, deadline: Instant) {
        self.deadline.send_if_modified(|current| {
            let later = deadline > *current;
            if later {
                *current = deadline;
            }
            later
        });
    }

    /// Marks the lease lost (the first reason wins); the stream stops at once.
    pub(crate) fn lose(&self, why: Loss) {
        let mut loss = self
            .loss
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loss.get_or_insert(why);
        self.lost.cancel();
    }

    /// Waits until the lease is lost, by [`lose`](Self::lose) or by its deadline passing.
    pub(crate) async fn lost(&self) -> Loss {
        let mut deadline = self.deadline.subscribe();
        loop {
            let until = *deadline.borrow_and_update();
            tokio::select! {
                () = self.lost.cancelled() => break,
                () = tokio::time::sleep_until(until) => {
                    if *deadline.borrow() <= Instant::now() {
                        self.lose(Loss::Expired);
                        break;
                    }
                }
                _ = deadline.changed() => {}
            }
        }
        self.loss
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .unwrap_or(Loss::Expired)
    }

    /// True once the lease is lost.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Counts a commit in progress until the guard drops (the keeper releases the lease only after).
    pub(crate) fn committing(self: &Arc<Self>) -> CommitGuard {
        self.committing.fetch_add(1, Ordering::AcqRel);
        CommitGuard(self.clone())
    }

    async fn commits_done(&self) {
        loop {
            let notified = self.committed.notified();
            if self.committing.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A commit in progress under a lease.
pub(crate) struct CommitGuard(Arc<HeldLease>);

impl Drop for CommitGuard {
    fn drop(&mut self) {
        let before = self.0.committing.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "more commit guards dropped than taken");
        self.0.committed.notify_waiters();
    }
}

/// How a stream run under a lease ended.
pub(crate) enum StreamEnd {
    /// The stream task returned (shutdown, or caught up with `once`); the lease is still held.
    Finished(Result<(), StreamError>),
    /// The keeper asked for the stream back: it stopped, its delivered blobs are committed (or the bound
    /// passed); the lease can be released.
    Drained,
    /// The lease was lost; the task was dropped at once.
    Lost(Loss),
}

/// Runs the stream while the lease holds. `stop` is the task's own shutdown token: when it fires without
/// `shutdown` (a release for balancing), the run waits — at most `drain` — for the blobs it already read to
/// be committed, so that the next owner does not deliver them again.
pub(crate) async fn supervise(
    task: Arc<StreamTask>,
    progress: Arc<StreamProgress>,
    held: Arc<HeldLease>,
    shutdown: CancellationToken,
    drain: Duration,
) -> StreamEnd {
    let stop = task.shutdown.clone();
    let result = tokio::select! {
        biased;
        loss = held.lost() => return StreamEnd::Lost(loss),
        result = task.run_with(progress.clone()) => result,
    };
    if !stop.is_cancelled() || shutdown.is_cancelled() {
        return StreamEnd::Finished(result);
    }
    let committed = async {
        progress.wait_idle().await;
        held.commits_done().await;
    };
    tokio::select! {
        biased;
        loss = held.lost() => StreamEnd::Lost(loss),
        _ = tokio::time::timeout(drain, committed) => StreamEnd::Drained,
    }
}

/// Cluster mode part of a group commit: one batch per lease (a stream's old and new lease may both have
/// work waiting), each committed in its own transaction under its fencing check.
#[derive(Default)]
pub(crate) struct LeasedCommits {
    groups: Vec<(Arc<HeldLease>, CommitGuard, CommitBatch)>,
}

// === impl LeasedCommits ===

impl LeasedCommits {
    /// The batch of this lease, created — with its commit guard — on first use.
    pub(crate) fn batch(&mut self, held: &Arc<HeldLease>) -> &mut CommitBatch {
        let index = match self
            .groups
            .iter()
            .position(|(group, _, _)| Arc::ptr_eq(group, held))
        {
            Some(index) => index,
            None => {
                self.groups
                    .push((held.clone(), held.committing(), CommitBatch::default()));
                self.groups.len() - 1
            }
        };
        &mut self.groups[index].2
    }

    /// Commits every batch, retrying while the store fails; a batch refused by the fencing check is
    /// dropped (the new owner fetches its blobs again) and its lease is marked lost. Returns the blobs
    /// committed.
    pub(crate) async fn persist(self, store: &dyn StateStore, metrics: &Metrics) -> u64 {
        let mut committed = 0;
        for (held, _guard, batch) in self.groups {
            if commit_fenced(store, metrics, &held, &batch).await {
                for commit in &batch.blobs {
                    let labels =
                        Metrics::stream(&commit.stream.tenant, &commit.stream.content_type);
                    metrics.blobs_committed.get_or_create(&labels).inc();
                    tracing::debug!(replica = %held.lease.owner, stream = %commit.stream, content_id = %commit.content_id, epoch = held.lease.epoch, records = commit.record_ids.len(), "blob committed");
                }
                committed += batch.blobs.len() as u64;
            }
        }
        committed
    }
}

/// Commits one lease's batch, retrying while the store fails; false when the fencing check refused it.
async fn commit_fenced(
    store: &dyn StateStore,
    metrics: &Metrics,
    held: &HeldLease,
    batch: &CommitBatch,
) -> bool {
    let stream = &held.lease.stream;
    let mut delay = Duration::from_millis(200);
    loop {
        match store.commit_fenced(batch, &held.lease).await {
            Ok(()) => return true,
            Err(error) if error.is_fenced() => {
                refused(metrics, held, batch, &error);
                return false;
            }
            Err(error) => {
                tracing::error!(replica = %held.lease.owner, tenant = %stream.tenant, content_type = %stream.content_type, blobs = batch.blobs.len(), %error, "cannot commit delivered blobs; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Counts and logs a refused batch (one line per blob, for the record) and gives the stream up.
fn refused(metrics: &Metrics, held: &HeldLease, batch: &CommitBatch, error: &StateError) {
    let stream = &held.lease.stream;
    metrics
        .commits_fenced
        .get_or_create(&Metrics::stream(&stream.tenant, &stream.content_type))
        .inc();
    let content_ids: Vec<&str> = batch
        .blobs
        .iter()
        .map(|commit| commit.content_id.as_str())
        .collect();
    for content_id in if content_ids.is_empty() {
        vec!["-"]
    } else {
        content_ids
    } {
        tracing::warn!(
            replica = %held.lease.owner,
            tenant = %stream.tenant,
            content_type = %stream.content_type,
            epoch = held.lease.epoch,
            content_id = %content_id,
            %error,
            "commit rejected by the fencing check; giving the stream up"
        );
    }
    held.lose(Loss::Fenced);
}
