//! A view of a store for replays: delivery ignores and never changes the stream's progress.
//!
//! `replay` re-delivers a past window "regardless of state": nothing counts as committed or seen, commits
//! move no checkpoint and are only remembered in memory (so the command can say what was delivered and
//! forget replayed dead letters). Dead letters still go to the real store: a replay drops nothing silently.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    Acquired, CommitBatch, DeadLetter, Lease, LeaseInfo, StateError, StateStore, StreamKey,
    StreamSummary,
};

/// Wraps a store for a replay.
pub struct Detached {
    inner: Arc<dyn StateStore>,
    delivered: Mutex<Vec<(StreamKey, String)>>,
}

impl Detached {
    /// A replay view of `inner`.
    pub fn new(inner: Arc<dyn StateStore>) -> Detached {
        Detached {
            inner,
            delivered: Mutex::new(Vec::new()),
        }
    }

    /// The blobs (stream, contentId) whose every event was delivered during the replay.
    pub fn delivered_blobs(&self) -> Vec<(StreamKey, String)> {
        self.delivered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[async_trait::async_trait]
impl StateStore for Detached {
    async fn checkpoint(&self, _stream: &StreamKey) -> Result<Option<DateTime<Utc>>, StateError> {
        Ok(None)
    }
    async fn committed_blobs(
        &self,
        _stream: &StreamKey,
        _ids: &[String],
    ) -> Result<HashSet<String>, StateError> {
        Ok(HashSet::new())
    }
    async fn seen_records(
        &self,
        _tenant: &str,
        _ids: &[&str],
    ) -> Result<HashSet<String>, StateError> {
        Ok(HashSet::new())
    }
    async fn commit(&self, batch: &CommitBatch) -> Result<(), StateError> {
        let mut delivered = self
            .delivered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        delivered.extend(
            batch
                .blobs
                .iter()
                .map(|blob| (blob.stream.clone(), blob.content_id.clone())),
        );
        Ok(())
    }
    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<(), StateError> {
        self.inner.add_dead_letter(letter).await
    }
    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StateError> {
        self.inner.dead_letters(limit).await
    }
    async fn blob_dead_letters(&self, tenant: Option<&str>) -> Result<Vec<DeadLetter>, StateError> {
        self.inner.blob_dead_letters(tenant).await
    }
    async fn remove_blob_dead_letters(
        &self,
        stream: &StreamKey,
        ids: &[String],
    ) -> Result<u64, StateError> {
        self.inner.remove_blob_dead_letters(stream, ids).await
    }
    async fn streams(&self) -> Result<Vec<StreamSummary>, StateError> {
        self.inner.streams().await
    }
    async fn prune(&self, _now: DateTime<Utc>) -> Result<u64, StateError> {
        Ok(0)
    }
    async fn reset(&self, _stream: Option<&StreamKey>) -> Result<(), StateError> {
        Ok(())
    }

    // Leases are the real store's: a replay runs outside cluster mode, but the contract is complete.
    async fn heartbeat(&self, replica: &str, ttl: Duration) -> Result<usize, StateError> {
        self.inner.heartbeat(replica, ttl).await
    }
    async fn leave(&self, replica: &str) -> Result<(), StateError> {
        self.inner.leave(replica).await
    }
    async fn acquire_lease(
        &self,
        stream: &StreamKey,
        replica: &str,
        ttl: Duration,
    ) -> Result<Option<Acquired>, StateError> {
        self.inner.acquire_lease(stream, replica, ttl).await
    }
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool, StateError> {
        self.inner.renew_lease(lease, ttl).await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<(), StateError> {
        self.inner.release_lease(lease).await
    }
    async fn leases(&self) -> Result<Vec<LeaseInfo>, StateError> {
        self.inner.leases().await
    }
    async fn commit_fenced(&self, batch: &CommitBatch, _lease: &Lease) -> Result<(), StateError> {
        self.commit(batch).await
    }
}
