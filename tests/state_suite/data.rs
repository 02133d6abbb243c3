//! The data half of the contract: blobs, record Ids, checkpoints, dead letters, pruning, reset.

use std::collections::HashSet;

use atp_forwarder::state::{DeadLetter, DeadLetterKind};
use chrono::Utc;

use crate::*;

pub(crate) async fn a_committed_blob_is_remembered_with_its_records_and_checkpoint(
    fixture: Fixture,
) {
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

pub(crate) async fn record_ids_committed_through_another_handle_are_seen(fixture: Fixture) {
    // Two handles on one store, as the daemon and a `replay` beside it: each sees the other's commits,
    // including after it has already answered a lookup (SQLite keeps the Ids in memory between lookups).
    let daemon = fixture.open().await;
    let other = fixture.open().await;
    let contoso = stream("contoso");
    daemon
        .commit_blob(&blob(&contoso, "blob-1", 3))
        .await
        .expect("commit");
    let asked = ["blob-1-record-0", "blob-2-record-1", "blob-3-record-2"];
    assert_eq!(
        daemon
            .seen_records("contoso", &asked)
            .await
            .expect("seen")
            .len(),
        1
    );
    other
        .commit_blob(&blob(&contoso, "blob-2", 3))
        .await
        .expect("commit through the other handle");
    daemon
        .commit_blob(&blob(&contoso, "blob-3", 3))
        .await
        .expect("commit");
    let seen = daemon.seen_records("contoso", &asked).await.expect("seen");
    assert_eq!(
        seen,
        asked
            .iter()
            .map(|id| id.to_string())
            .collect::<HashSet<_>>()
    );
    let seen = other.seen_records("contoso", &asked).await.expect("seen");
    assert_eq!(seen.len(), 3, "{seen:?}");
}

pub(crate) async fn the_memory_lookup_sees_this_handles_commits_at_once(fixture: Fixture) {
    // `seen_records_here` (a blob's later chunks) may skip the database, but never this handle's own
    // commits, even when the set was built before them, and it is never behind a `seen_records` call.
    let daemon = fixture.open().await;
    let other = fixture.open().await;
    let contoso = stream("contoso");
    let asked = ["blob-1-record-0", "blob-2-record-1", "blob-3-record-2"];
    assert!(daemon
        .seen_records_here("contoso", &asked)
        .await
        .expect("seen")
        .is_empty());
    daemon
        .commit_blob(&blob(&contoso, "blob-1", 3))
        .await
        .expect("commit");
    let seen = daemon
        .seen_records_here("contoso", &asked)
        .await
        .expect("seen");
    assert_eq!(seen, HashSet::from(["blob-1-record-0".to_string()]));
    other
        .commit_blob(&blob(&contoso, "blob-2", 3))
        .await
        .expect("commit through the other handle");
    assert_eq!(
        daemon
            .seen_records("contoso", &asked)
            .await
            .expect("seen")
            .len(),
        2,
        "the exact lookup reads the other handle's commit"
    );
    daemon
        .commit_blob(&blob(&contoso, "blob-3", 3))
        .await
        .expect("commit");
    let seen = daemon
        .seen_records_here("contoso", &asked)
        .await
        .expect("seen");
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(daemon
        .seen_records_here("fabrikam", &asked)
        .await
        .expect("seen")
        .is_empty());
}

pub(crate) async fn reopening_runs_the_migrations_again_and_keeps_the_data(fixture: Fixture) {
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

pub(crate) async fn pruning_forgets_expired_blobs_and_old_record_ids(fixture: Fixture) {
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

pub(crate) async fn reset_forgets_one_stream_or_every_stream(fixture: Fixture) {
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

pub(crate) async fn dead_letters_come_back_newest_first(fixture: Fixture) {
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
