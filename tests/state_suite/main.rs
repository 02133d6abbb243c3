//! The state-store contract, run against both implementations: SQLite (a temporary file) and PostgreSQL (a
//! throwaway schema on the server at 127.0.0.1:5432, database `test`). Every case runs once per backend:
//! `sqlite::<case>` and `postgres::<case>`.

#[path = "../support/postgres.rs"]
mod pg;

mod data;
mod leases;

use data::*;
use leases::*;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use atp_forwarder::state::{
    BlobCommit, Lease, PostgresOptions, PostgresStore, RecordKey, SqliteStore, StateStore,
    StreamKey,
};
use chrono::{DateTime, Utc};

/// Where the store under test lives; `open` can be called again to reopen the same store.
pub(crate) enum Fixture {
    Sqlite(tempfile::TempDir),
    Postgres(Arc<pg::TestSchema>),
}

impl Fixture {
    async fn open(&self) -> Arc<dyn StateStore> {
        match self {
            Fixture::Sqlite(dir) => Arc::new(
                SqliteStore::open(&dir.path().join("a/b/state.db"))
                    .await
                    .expect("open SQLite"),
            ),
            Fixture::Postgres(schema) => Arc::new(
                PostgresStore::open(&PostgresOptions {
                    url: schema.url(),
                    password: None,
                    lease: Duration::from_secs(2),
                    max_connections: 3,
                })
                .await
                .expect("open PostgreSQL"),
            ),
        }
    }
}

async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    case(Fixture::Sqlite(tempfile::tempdir().expect("tempdir"))).await;
}

async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    pg::with_schema(|schema| case(Fixture::Postgres(schema))).await;
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::on_sqlite(super::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::on_postgres(super::$case).await;
                }
            )*
        }
    };
}

suite!(
    a_committed_blob_is_remembered_with_its_records_and_checkpoint,
    reopening_runs_the_migrations_again_and_keeps_the_data,
    record_ids_committed_through_another_handle_are_seen,
    the_memory_lookup_sees_this_handles_commits_at_once,
    pruning_forgets_expired_blobs_and_old_record_ids,
    reset_forgets_one_stream_or_every_stream,
    dead_letters_come_back_newest_first,
    a_lease_is_granted_to_one_replica_at_a_time,
    an_expired_lease_is_taken_over_with_a_higher_epoch,
    a_released_lease_is_free_at_once_and_the_next_epoch_is_higher,
    the_same_replica_takes_its_lease_again_with_a_new_epoch,
    renewal_is_refused_once_another_replica_took_over,
    a_commit_under_the_held_lease_is_accepted_and_records_its_owner,
    a_commit_with_a_stale_epoch_is_rejected_and_writes_nothing,
    a_checkpoint_move_with_a_stale_epoch_is_rejected,
    a_commit_for_a_stream_never_leased_is_rejected,
    heartbeats_count_live_replicas_until_they_leave_or_expire,
);

// --- helpers ---

pub(crate) const LEASE: Duration = Duration::from_secs(30);
pub(crate) const SHORT: Duration = Duration::from_millis(300);

pub(crate) fn stream(tenant: &str) -> StreamKey {
    StreamKey {
        tenant: tenant.into(),
        content_type: "Audit.General".into(),
    }
}

pub(crate) fn blob(stream: &StreamKey, id: &str, records: usize) -> BlobCommit {
    let now = Utc::now();
    BlobCommit {
        stream: stream.clone(),
        content_id: id.into(),
        content_created: now,
        content_expiration: now + chrono::Duration::days(7),
        record_ids: (0..records)
            .map(|i| RecordKey::new(&format!("{id}-record-{i}")))
            .collect(),
        checkpoint: Some(now),
    }
}

pub(crate) fn micros(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(|time| time.timestamp_micros())
}

pub(crate) async fn acquire(
    store: &dyn StateStore,
    stream: &StreamKey,
    replica: &str,
    ttl: Duration,
) -> Lease {
    store
        .acquire_lease(stream, replica, ttl)
        .await
        .expect("acquire")
        .unwrap_or_else(|| panic!("{replica} gets the lease of {stream}"))
        .lease
}

/// Waits (polling the store, at most 5 s) until the stream's lease is no longer live.
pub(crate) async fn until_expired(store: &dyn StateStore, stream: &StreamKey) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let leases = store.leases().await.expect("leases");
        let live = leases
            .iter()
            .any(|info| &info.stream == stream && info.live);
        if !live {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease of {stream} never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn committed(store: &dyn StateStore, stream: &StreamKey, id: &str) -> bool {
    store
        .committed_blobs(stream, &[id.to_string()])
        .await
        .expect("read committed blobs")
        .contains(id)
}

/// SQLite answers `seen_records_here` from memory: another handle's commit is not read until an exact
/// lookup (that is the database round trip a blob's later chunks save); an Id with a `\n`, which a set row
/// cannot store, is not in memory either (memory follows the table).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_answers_the_memory_lookup_without_reading_the_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let daemon = SqliteStore::open(&path).await.expect("open");
    let other = SqliteStore::open(&path).await.expect("open again");
    let contoso = stream("contoso");
    let mut first = blob(&contoso, "blob-1", 2);
    first.record_ids.push("torn\nid".into());
    daemon.commit_blob(&first).await.expect("commit");
    other
        .commit_blob(&blob(&contoso, "blob-2", 2))
        .await
        .expect("commit through the other handle");
    let asked = ["blob-1-record-0", "blob-2-record-0", "torn\nid"];
    // The set is built at the first lookup, from the table: both commits are in it.
    assert_eq!(
        daemon
            .seen_records_here("contoso", &asked)
            .await
            .expect("seen")
            .len(),
        2
    );
    other
        .commit_blob(&blob(&contoso, "blob-3", 2))
        .await
        .expect("commit through the other handle");
    let later = ["blob-3-record-0"];
    assert!(
        daemon
            .seen_records_here("contoso", &later)
            .await
            .expect("seen")
            .is_empty(),
        "answered from memory"
    );
    assert_eq!(
        daemon
            .seen_records("contoso", &later)
            .await
            .expect("seen")
            .len(),
        1
    );
    assert_eq!(
        daemon
            .seen_records_here("contoso", &later)
            .await
            .expect("seen")
            .len(),
        1
    );
}

/// Record Ids written one row each by earlier versions (schema 1's `seen_records`) still count after the
/// upgrade to one row per blob, and the pruning still forgets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_record_ids_of_earlier_versions_still_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .expect("second connection");
    // The store's fixed-width time text.
    let text = |time: DateTime<Utc>| time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let old = text(Utc::now() - chrono::Duration::days(9));
    let recent = text(Utc::now());
    for (id, at) in [("legacy-old", &old), ("legacy-recent", &recent)] {
        sqlx::query(
            "INSERT INTO seen_records (tenant, record_id, committed_at) VALUES ('contoso', ?, ?)",
        )
        .bind(id)
        .bind(at)
        .execute(&pool)
        .await
        .expect("write a version-1 row");
    }
    let asked = ["legacy-old", "legacy-recent", "never"];
    let seen = store.seen_records("contoso", &asked).await.expect("seen");
    assert_eq!(seen.len(), 2, "{seen:?}");
    store.prune(Utc::now()).await.expect("prune");
    let seen = store.seen_records("contoso", &asked).await.expect("seen");
    assert_eq!(
        seen,
        std::collections::HashSet::from(["legacy-recent".to_string()])
    );
    pool.close().await;
}
