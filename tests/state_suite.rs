//! The state-store contract, run against both implementations: SQLite (a temporary file) and PostgreSQL (a
//! throwaway schema on the server at 127.0.0.1:5432, database `test`). Every case runs once per backend:
//! `sqlite::<case>` and `postgres::<case>`.

#[path = "support/postgres.rs"]
mod pg;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use atp_forwarder::state::{
    BlobCommit, DeadLetter, DeadLetterKind, Lease, PostgresOptions, PostgresStore, SqliteStore,
    StateError, StateStore, StreamKey,
};
use chrono::{DateTime, Utc};

/// Where the store under test lives; `open` can be called again to reopen the same store.
enum Fixture {
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

const LEASE: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_millis(300);

fn stream(tenant: &str) -> StreamKey {
    StreamKey {
        tenant: tenant.into(),
        content_type: "Audit.General".into(),
    }
}

fn blob(stream: &StreamKey, id: &str, records: usize) -> BlobCommit {
    let now = Utc::now();
    BlobCommit {
        stream: stream.clone(),
        content_id: id.into(),
        content_created: now,
        content_expiration: now + chrono::Duration::days(7),
        record_ids: (0..records).map(|i| format!("{id}-record-{i}")).collect(),
        checkpoint: Some(now),
    }
}

fn micros(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(|time| time.timestamp_micros())
}

async fn acquire(
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
async fn until_expired(store: &dyn StateStore, stream: &StreamKey) {
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

async fn committed(store: &dyn StateStore, stream: &StreamKey, id: &str) -> bool {
    store
        .committed_blobs(stream, &[id.to_string()])
        .await
        .expect("read committed blobs")
        .contains(id)
}

// --- data ---

async fn a_committed_blob_is_remembered_with_its_records_and_checkpoint(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let commit = blob(&contoso, "blob-1", 1000);
    store.commit_blob(&commit).await.expect("commit");
    let found = store
        .committed_blobs(&contoso, &["blob-1".into(), "blob-2".into()])
        .await
        .expect("committed blobs");
    assert_eq!(found, HashSet::from(["blob-1".to_string()]));
    let seen = store
        .seen_records(
            "contoso",
            &["blob-1-record-5", "blob-1-record-999", "other"],
        )
        .await
        .expect("seen records");
    assert_eq!(seen.len(), 2);
    assert!(
        store
            .seen_records("fabrikam", &["blob-1-record-5"])
            .await
            .expect("seen records")
            .is_empty(),
        "record ids are per tenant"
    );
    assert_eq!(
        micros(store.checkpoint(&contoso).await.expect("checkpoint")),
        micros(commit.checkpoint)
    );
    assert_eq!(
        store
            .checkpoint(&stream("fabrikam"))
            .await
            .expect("checkpoint"),
        None
    );
}

async fn reopening_runs_the_migrations_again_and_keeps_the_data(fixture: Fixture) {
    let store = fixture.open().await;
    store
        .commit_blob(&blob(&stream("contoso"), "blob-1", 3))
        .await
        .expect("commit");
    drop(store);
    let store = fixture.open().await;
    let streams = store.streams().await.expect("streams");
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0].committed_blobs, 1);
}

async fn pruning_forgets_expired_blobs_and_old_record_ids(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let mut old = blob(&contoso, "old", 2);
    old.content_expiration = Utc::now() - chrono::Duration::days(1);
    store.commit_blob(&old).await.expect("commit old");
    store
        .commit_blob(&blob(&contoso, "fresh", 0))
        .await
        .expect("commit fresh");
    assert_eq!(
        store.prune(Utc::now()).await.expect("prune"),
        1,
        "the expired blob"
    );
    assert!(!committed(&*store, &contoso, "old").await);
    assert!(committed(&*store, &contoso, "fresh").await);
    // Nine days later the record ids are past their retention too.
    let later = Utc::now() + chrono::Duration::days(9);
    assert_eq!(
        store.prune(later).await.expect("prune"),
        3,
        "fresh blob + 2 record ids"
    );
    assert!(store
        .seen_records("contoso", &["old-record-0"])
        .await
        .expect("seen")
        .is_empty());
}

async fn reset_forgets_one_stream_or_every_stream(fixture: Fixture) {
    let store = fixture.open().await;
    let (contoso, fabrikam) = (stream("contoso"), stream("fabrikam"));
    store
        .commit_blob(&blob(&contoso, "a", 1))
        .await
        .expect("commit");
    store
        .commit_blob(&blob(&fabrikam, "b", 1))
        .await
        .expect("commit");
    store.reset(Some(&contoso)).await.expect("reset one");
    assert_eq!(store.checkpoint(&contoso).await.expect("checkpoint"), None);
    assert!(!committed(&*store, &contoso, "a").await);
    assert!(committed(&*store, &fabrikam, "b").await);
    store.reset(None).await.expect("reset all");
    assert!(store.streams().await.expect("streams").is_empty());
    assert!(store
        .seen_records("fabrikam", &["b-record-0"])
        .await
        .expect("seen")
        .is_empty());
}

async fn dead_letters_come_back_newest_first(fixture: Fixture) {
    let store = fixture.open().await;
    for (index, kind) in [
        DeadLetterKind::Blob,
        DeadLetterKind::Record,
        DeadLetterKind::Sink,
    ]
    .into_iter()
    .enumerate()
    {
        let letter = DeadLetter {
            at: Utc::now(),
            kind,
            stream: stream("contoso"),
            content_id: format!("blob-{index}"),
            content_uri: format!("https://example.test/{index}"),
            record_id: (index > 0).then(|| format!("record-{index}")),
            sink: (kind == DeadLetterKind::Sink).then(|| "siem".to_string()),
            reason: format!("reason {index}"),
            payload: "{}".into(),
        };
        store.add_dead_letter(&letter).await.expect("dead letter");
    }
    let letters = store.dead_letters(2).await.expect("dead letters");
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[0].kind, DeadLetterKind::Sink);
    assert_eq!(letters[0].sink.as_deref(), Some("siem"));
    assert_eq!(letters[1].record_id.as_deref(), Some("record-1"));
    assert_eq!(
        store.streams().await.expect("streams").len(),
        0,
        "no checkpoint row needed"
    );
}

// --- leases ---

async fn a_lease_is_granted_to_one_replica_at_a_time(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let first = store
        .acquire_lease(&contoso, "replica-a", LEASE)
        .await
        .expect("acquire")
        .expect("a free stream is granted");
    assert_eq!(first.lease.epoch, 1);
    assert_eq!(first.taken_from, None);
    assert!(
        store
            .acquire_lease(&contoso, "replica-b", LEASE)
            .await
            .expect("acquire")
            .is_none(),
        "a held lease is not granted to another replica"
    );
    let leases = store.leases().await.expect("leases");
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].live_owner(), Some("replica-a"));
    assert_eq!(leases[0].epoch, 1);
}

async fn an_expired_lease_is_taken_over_with_a_higher_epoch(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let old = acquire(&*store, &contoso, "replica-a", SHORT).await;
    until_expired(&*store, &contoso).await;
    let taken = store
        .acquire_lease(&contoso, "replica-b", LEASE)
        .await
        .expect("acquire")
        .expect("an expired lease is granted");
    assert_eq!(taken.lease.epoch, old.epoch + 1);
    assert_eq!(taken.taken_from.as_deref(), Some("replica-a"));
    assert_eq!(
        store.leases().await.expect("leases")[0].live_owner(),
        Some("replica-b")
    );
}

async fn a_released_lease_is_free_at_once_and_the_next_epoch_is_higher(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let lease = acquire(&*store, &contoso, "replica-a", LEASE).await;
    store.release_lease(&lease).await.expect("release");
    assert_eq!(store.leases().await.expect("leases")[0].live_owner(), None);
    let next = store
        .acquire_lease(&contoso, "replica-b", LEASE)
        .await
        .expect("acquire")
        .expect("a released lease is granted at once");
    assert_eq!(next.lease.epoch, lease.epoch + 1);
    assert_eq!(next.taken_from, None, "a release is not a takeover");
    // Releasing an old lease again changes nothing.
    store.release_lease(&lease).await.expect("release again");
    assert_eq!(
        store.leases().await.expect("leases")[0].live_owner(),
        Some("replica-b")
    );
}

async fn the_same_replica_takes_its_lease_again_with_a_new_epoch(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let before = acquire(&*store, &contoso, "replica-a", LEASE).await;
    let again = acquire(&*store, &contoso, "replica-a", LEASE).await;
    assert_eq!(
        again.epoch,
        before.epoch + 1,
        "a restarted replica fences its old self"
    );
    assert!(!store.renew_lease(&before, LEASE).await.expect("renew"));
    assert!(store.renew_lease(&again, LEASE).await.expect("renew"));
}

async fn renewal_is_refused_once_another_replica_took_over(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let lease = acquire(&*store, &contoso, "replica-a", SHORT).await;
    assert!(
        store.renew_lease(&lease, SHORT).await.expect("renew"),
        "renewal while held"
    );
    until_expired(&*store, &contoso).await;
    acquire(&*store, &contoso, "replica-b", LEASE).await;
    assert!(!store.renew_lease(&lease, LEASE).await.expect("renew"));
    assert_eq!(
        store.leases().await.expect("leases")[0].live_owner(),
        Some("replica-b")
    );
}

async fn a_commit_under_the_held_lease_is_accepted_and_records_its_owner(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let lease = acquire(&*store, &contoso, "replica-a", LEASE).await;
    let commit = blob(&contoso, "blob-1", 5);
    store
        .commit_blob_fenced(&commit, &lease)
        .await
        .expect("fenced commit");
    assert!(committed(&*store, &contoso, "blob-1").await);
    let later = Utc::now();
    store
        .set_checkpoint_fenced(later, &lease)
        .await
        .expect("fenced checkpoint");
    assert_eq!(
        micros(store.checkpoint(&contoso).await.expect("checkpoint")),
        micros(Some(later))
    );
}

async fn a_commit_with_a_stale_epoch_is_rejected_and_writes_nothing(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let stale = acquire(&*store, &contoso, "replica-a", SHORT).await;
    store
        .commit_blob_fenced(&blob(&contoso, "before", 1), &stale)
        .await
        .expect("commit while held");
    let checkpoint = store.checkpoint(&contoso).await.expect("checkpoint");
    until_expired(&*store, &contoso).await;
    let current = acquire(&*store, &contoso, "replica-b", LEASE).await;

    let late = blob(&contoso, "late", 3);
    let error = store
        .commit_blob_fenced(&late, &stale)
        .await
        .expect_err("a stale epoch is fenced");
    assert!(error.is_fenced(), "{error}");
    assert!(matches!(&error, StateError::Fenced { epoch, .. } if *epoch == stale.epoch));
    assert!(error.to_string().contains("fencing check"), "{error}");
    assert!(!committed(&*store, &contoso, "late").await, "no blob row");
    assert!(store
        .seen_records("contoso", &["late-record-0"])
        .await
        .expect("seen")
        .is_empty());
    assert_eq!(
        micros(store.checkpoint(&contoso).await.expect("checkpoint")),
        micros(checkpoint),
        "the checkpoint did not move"
    );
    store
        .commit_blob_fenced(&late, &current)
        .await
        .expect("the new owner commits");
    assert!(committed(&*store, &contoso, "late").await);
}

async fn a_checkpoint_move_with_a_stale_epoch_is_rejected(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let stale = acquire(&*store, &contoso, "replica-a", LEASE).await;
    store.release_lease(&stale).await.expect("release");
    acquire(&*store, &contoso, "replica-b", LEASE).await;
    let error = store
        .set_checkpoint_fenced(Utc::now(), &stale)
        .await
        .expect_err("fenced");
    assert!(error.is_fenced(), "{error}");
    assert_eq!(store.checkpoint(&contoso).await.expect("checkpoint"), None);
}

async fn a_commit_for_a_stream_never_leased_is_rejected(fixture: Fixture) {
    let store = fixture.open().await;
    let contoso = stream("contoso");
    let invented = Lease {
        stream: contoso.clone(),
        owner: "replica-a".into(),
        epoch: 1,
    };
    let error = store
        .commit_blob_fenced(&blob(&contoso, "x", 1), &invented)
        .await
        .expect_err("no lease row, no commit");
    assert!(error.is_fenced(), "{error}");
}

async fn heartbeats_count_live_replicas_until_they_leave_or_expire(fixture: Fixture) {
    let store = fixture.open().await;
    assert_eq!(store.heartbeat("replica-a", LEASE).await.expect("beat"), 1);
    assert_eq!(store.heartbeat("replica-b", LEASE).await.expect("beat"), 2);
    assert_eq!(store.heartbeat("replica-c", SHORT).await.expect("beat"), 3);
    assert_eq!(
        store.heartbeat("replica-a", LEASE).await.expect("beat"),
        3,
        "a beat again is one replica"
    );
    store.leave("replica-b").await.expect("leave");
    // replica-c's heartbeat runs out after 300 ms.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let live = store.heartbeat("replica-a", LEASE).await.expect("beat");
        if live == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {live} live replicas"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
