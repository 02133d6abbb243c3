//! State: checkpoints, committed blobs, recent record Ids and dead letters.
//!
//! One [`StateStore`] trait, implemented by SQLite (the embedded default, one replica) and PostgreSQL (shared
//! by several replicas in cluster mode). A blob is committed in one transaction together with its record Ids
//! and the stream's new checkpoint, so a crash either keeps all of it or none of it.
//!
//! Cluster mode adds [leases](lease): each stream is owned by at most one replica, and a *fenced* commit is
//! accepted only while its replica still holds the stream's lease with the same epoch.

mod detached;
mod lease;
mod postgres;
mod record_key;
mod sqlite;

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use detached::Detached;
pub use lease::{default_replica_id, quota, Acquired, Lease, LeaseInfo};
pub use postgres::{PostgresOptions, PostgresStore};
pub use record_key::RecordKey;
pub use sqlite::{all_record_ids as sqlite_record_ids, SqliteStore};

/// How long committed record Ids are kept for deduplication (the API holds content 7 days).
pub const RECORD_ID_RETENTION: chrono::Duration = chrono::Duration::days(8);

/// A stream: one tenant × one content type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// Configured tenant name.
    pub tenant: String,
    /// Content type, e.g. `Audit.General`.
    pub content_type: String,
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.content_type)
    }
}

/// Everything that moves together when a blob is done.
#[derive(Debug, Clone)]
pub struct BlobCommit {
    /// The stream the blob belongs to.
    pub stream: StreamKey,
    /// The blob's contentId.
    pub content_id: String,
    /// When it became available.
    pub content_created: DateTime<Utc>,
    /// When the API forgets it (kept until then so it is never fetched twice).
    pub content_expiration: DateTime<Utc>,
    /// Record Ids delivered from this blob.
    pub record_ids: Vec<RecordKey>,
    /// The stream's checkpoint after this commit, when it moves.
    pub checkpoint: Option<DateTime<Utc>>,
}

/// Several blobs and checkpoint moves committed together in one transaction (group commit).
#[derive(Debug, Clone, Default)]
pub struct CommitBatch {
    /// Blobs done, each with its record Ids.
    pub blobs: Vec<BlobCommit>,
    /// New checkpoints, at most one per stream.
    pub checkpoints: Vec<(StreamKey, DateTime<Utc>)>,
}

impl CommitBatch {
    /// True when every blob and checkpoint of the batch is of `stream` (what a fenced commit, made under
    /// that stream's lease, must hold).
    pub fn holds_only(&self, stream: &StreamKey) -> bool {
        self.blobs.iter().all(|blob| blob.stream == *stream)
            && self
                .checkpoints
                .iter()
                .all(|(checkpoint_stream, _)| checkpoint_stream == stream)
    }
}

/// What kind of thing was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterKind {
    /// A whole blob (not JSON, expired, vanished).
    Blob,
    /// One record that could not be decoded into its model (still delivered with its common fields).
    Record,
    /// One event a sink refused for good.
    Sink,
}

impl DeadLetterKind {
    /// Stable name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterKind::Blob => "blob",
            DeadLetterKind::Record => "record",
            DeadLetterKind::Sink => "sink",
        }
    }

    fn parse(text: &str) -> DeadLetterKind {
        match text {
            "blob" => DeadLetterKind::Blob,
            "record" => DeadLetterKind::Record,
            _ => DeadLetterKind::Sink,
        }
    }
}

/// Something that could not be delivered or decoded, kept so that nothing is dropped silently.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What it is.
    pub kind: DeadLetterKind,
    /// The stream it came from.
    pub stream: StreamKey,
    /// The blob it came from.
    pub content_id: String,
    /// The blob's URI (for replay of a blob).
    pub content_uri: String,
    /// The record, when it is about one record.
    pub record_id: Option<String>,
    /// The sink that refused it, for sink dead letters.
    pub sink: Option<String>,
    /// Why.
    pub reason: String,
    /// The record's raw JSON (records and sink refusals), or empty.
    pub payload: String,
}

/// One stream as `state show` prints it.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    /// The stream.
    pub stream: StreamKey,
    /// Time up to which every blob is committed.
    pub checkpoint: Option<DateTime<Utc>>,
    /// Blobs committed and not yet expired.
    pub committed_blobs: u64,
    /// Dead letters recorded for the stream.
    pub dead_letters: u64,
}

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state store {location}: {operation} failed: {source}; check that the file or database is reachable and writable")]
    Database {
        location: String,
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("state store {location}: cannot create {path}: {source}")]
    Create {
        location: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state store {location}: schema migration failed: {message}")]
    Migrate { location: String, message: String },
    #[error("stream {stream}: commit by replica {replica} under lease epoch {epoch} rejected by the fencing \
             check: the lease is no longer held with this epoch (another replica took the stream over); this \
             replica gives the stream up and the new owner fetches its uncommitted blobs")]
    Fenced {
        stream: StreamKey,
        replica: String,
        epoch: i64,
    },
}

impl StateError {
    /// True when a fenced commit was refused because the lease moved on (never worth retrying).
    pub fn is_fenced(&self) -> bool {
        matches!(self, StateError::Fenced { .. })
    }
}

/// The durable state of the daemon.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync {
    /// The stream's checkpoint, if it has one.
    async fn checkpoint(&self, stream: &StreamKey) -> Result<Option<DateTime<Utc>>, StateError>;
    /// Which of `content_ids` are already committed for the stream.
    async fn committed_blobs(
        &self,
        stream: &StreamKey,
        content_ids: &[String],
    ) -> Result<HashSet<String>, StateError>;
    /// Which of `record_ids` were committed for the tenant in the retention period: every commit made
    /// before the call counts, by this handle or any other (another process sharing the store).
    async fn seen_records(
        &self,
        tenant: &str,
        record_ids: &[&str],
    ) -> Result<HashSet<String>, StateError>;
    /// Like [`seen_records`](Self::seen_records), but a store that keeps the Ids in memory may answer from
    /// there without asking the database: every commit made through this handle counts, another handle's
    /// only once a [`seen_records`](Self::seen_records) call has read it. The pipeline asks
    /// `seen_records` for the first chunk of a stream's first blob, and then of the first blob that starts
    /// a second or more after the last such call, and this for the rest: another process's commits count
    /// within about a second, and a database round trip is paid at most about once a second per stream
    /// (see `StreamProgress::exact_lookup_due`). Stores without such a memory answer as `seen_records` does.
    async fn seen_records_here(
        &self,
        tenant: &str,
        record_ids: &[&str],
    ) -> Result<HashSet<String>, StateError> {
        self.seen_records(tenant, record_ids).await
    }
    /// Commits blobs, their record Ids and checkpoint moves in one transaction: all or nothing.
    async fn commit(&self, batch: &CommitBatch) -> Result<(), StateError>;
    /// Commits one blob, its record Ids and its stream's new checkpoint in one transaction.
    async fn commit_blob(&self, commit: &BlobCommit) -> Result<(), StateError> {
        let checkpoints = commit
            .checkpoint
            .map(|checkpoint| (commit.stream.clone(), checkpoint));
        self.commit(&CommitBatch {
            blobs: vec![commit.clone()],
            checkpoints: checkpoints.into_iter().collect(),
        })
        .await
    }
    /// Moves a checkpoint (a listing found nothing new).
    async fn set_checkpoint(
        &self,
        stream: &StreamKey,
        checkpoint: DateTime<Utc>,
    ) -> Result<(), StateError> {
        self.commit(&CommitBatch {
            blobs: Vec::new(),
            checkpoints: vec![(stream.clone(), checkpoint)],
        })
        .await
    }
    /// Records a dead letter.
    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<(), StateError>;
    /// The most recent dead letters, newest first.
    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StateError>;
    /// Blob dead letters of a tenant (all tenants when `None`), oldest first: what `replay --dead-letters`
    /// fetches again.
    async fn blob_dead_letters(&self, tenant: Option<&str>) -> Result<Vec<DeadLetter>, StateError>;
    /// Forgets blob dead letters whose blobs were delivered by a replay.
    async fn remove_blob_dead_letters(
        &self,
        stream: &StreamKey,
        content_ids: &[String],
    ) -> Result<u64, StateError>;
    /// Every stream known to the store.
    async fn streams(&self) -> Result<Vec<StreamSummary>, StateError>;
    /// Forgets expired blobs and record Ids older than the retention; returns rows removed.
    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, StateError>;
    /// Forgets a stream's checkpoint and committed blobs (all streams when `None`).
    async fn reset(&self, stream: Option<&StreamKey>) -> Result<(), StateError>;

    // --- cluster mode: leases and fenced commits ---

    /// Records that `replica` is alive for `ttl`; returns how many replicas are alive, this one included.
    async fn heartbeat(&self, replica: &str, ttl: Duration) -> Result<usize, StateError>;
    /// Forgets the replica's heartbeat (clean shutdown), so the others rebalance without waiting.
    async fn leave(&self, replica: &str) -> Result<(), StateError>;
    /// Takes the stream's lease for `ttl` when it is free, released, expired or already this replica's; the
    /// epoch goes up by one. `None` while another replica holds it.
    async fn acquire_lease(
        &self,
        stream: &StreamKey,
        replica: &str,
        ttl: Duration,
    ) -> Result<Option<Acquired>, StateError>;
    /// Extends a lease by `ttl` from now; false when it is no longer held by its owner with its epoch.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool, StateError>;
    /// Gives a lease up so another replica can take it at once (nothing happens when it moved on already).
    async fn release_lease(&self, lease: &Lease) -> Result<(), StateError>;
    /// Every lease row, by stream.
    async fn leases(&self) -> Result<Vec<LeaseInfo>, StateError>;
    /// [`commit`](StateStore::commit) of a batch of one stream, accepted only while `lease` is still held
    /// with its epoch — checked inside the same transaction; otherwise [`StateError::Fenced`] and nothing is
    /// written.
    async fn commit_fenced(&self, batch: &CommitBatch, lease: &Lease) -> Result<(), StateError>;
    /// [`commit_blob`](StateStore::commit_blob) under the fencing check.
    async fn commit_blob_fenced(
        &self,
        commit: &BlobCommit,
        lease: &Lease,
    ) -> Result<(), StateError> {
        let checkpoints = commit
            .checkpoint
            .map(|checkpoint| (commit.stream.clone(), checkpoint));
        let batch = CommitBatch {
            blobs: vec![commit.clone()],
            checkpoints: checkpoints.into_iter().collect(),
        };
        self.commit_fenced(&batch, lease).await
    }
    /// Moves the lease's stream's checkpoint under the fencing check.
    async fn set_checkpoint_fenced(
        &self,
        checkpoint: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<(), StateError> {
        let batch = CommitBatch {
            blobs: Vec::new(),
            checkpoints: vec![(lease.stream.clone(), checkpoint)],
        };
        self.commit_fenced(&batch, lease).await
    }
}

/// Times are stored as fixed-width UTC text so that they compare correctly as strings.
pub(crate) fn time_text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub(crate) fn parse_time_text(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}
