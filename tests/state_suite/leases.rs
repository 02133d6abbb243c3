//! The cluster half of the contract: leases, epochs, heartbeats and fenced commits.

use atp_forwarder::state::{Lease, StateError};
use chrono::Utc;

use crate::*;

pub(crate) async fn a_lease_is_granted_to_one_replica_at_a_time(fixture: Fixture) {
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

pub(crate) async fn an_expired_lease_is_taken_over_with_a_higher_epoch(fixture: Fixture) {
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

pub(crate) async fn a_released_lease_is_free_at_once_and_the_next_epoch_is_higher(
    fixture: Fixture,
) {
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

pub(crate) async fn the_same_replica_takes_its_lease_again_with_a_new_epoch(fixture: Fixture) {
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

pub(crate) async fn renewal_is_refused_once_another_replica_took_over(fixture: Fixture) {
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

pub(crate) async fn a_commit_under_the_held_lease_is_accepted_and_records_its_owner(
    fixture: Fixture,
) {
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

pub(crate) async fn a_commit_with_a_stale_epoch_is_rejected_and_writes_nothing(fixture: Fixture) {
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

pub(crate) async fn a_checkpoint_move_with_a_stale_epoch_is_rejected(fixture: Fixture) {
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

pub(crate) async fn a_commit_for_a_stream_never_leased_is_rejected(fixture: Fixture) {
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

pub(crate) async fn heartbeats_count_live_replicas_until_they_leave_or_expire(fixture: Fixture) {
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
