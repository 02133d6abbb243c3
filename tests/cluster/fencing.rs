//! A replica paused past its lease: its late commits are refused by the fencing check.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::harness::*;
use crate::pg;
use crate::LEASE_TEXT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_replica_s_late_commit_is_rejected_by_the_fencing_check_and_it_gives_the_stream_up(
) {
    pg::with_schema(|schema| async move {
        let tenants = tenants(2);
        let types = ["Audit.General", "Audit.Exchange"];
        let emulator =
            start_emulator(&tenants, &types, |config| config.records_per_blob = 20).await;
        let work = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            work.path(),
            &emulator.base_url(),
            &schema.url(),
            &tenants,
            &types,
            LEASE_TEXT,
        );
        let pool = schema.pool().await;
        // The paused replica's stdout is not read: once the pipe is full its sink cannot acknowledge, so
        // it holds blobs that are read and queued but not committed.
        let mut paused = Replica::start(&config, "replica-a", true);
        let mut other = Replica::start(&config, "replica-b", false);
        wait_for(
            "each replica to hold two streams",
            Duration::from_secs(60),
            || {
                let pool = pool.clone();
                async move {
                    let shares: Vec<usize> = by_owner(&leases(&pool).await)
                        .values()
                        .map(BTreeSet::len)
                        .collect();
                    shares == vec![2, 2]
                }
            },
        )
        .await;
        wait_for(
            "replica-a to hold its streams for a while",
            Duration::from_secs(60),
            || {
                let pool = pool.clone();
                async move {
                    let held: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM leases WHERE owner = 'replica-a' AND expires_at > now() \
                     AND acquired_at < now() - interval '2 seconds'",
                )
                .fetch_one(&pool)
                .await
                .expect("leases");
                    held == 2
                }
            },
        )
        .await;
        let before = leases(&pool).await;
        let paused_streams: BTreeMap<String, i64> = before
            .iter()
            .filter(|row| row.owner.as_deref() == Some("replica-a"))
            .map(|row| (row.stream.clone(), row.epoch))
            .collect();

        // Pause it past its lease; the other replica takes its streams over and catches them up.
        paused.signal("STOP");
        wait_for(
            "replica-b to take every stream over",
            Duration::from_secs(30),
            || {
                let pool = pool.clone();
                async move {
                    let rows = leases(&pool).await;
                    rows.len() == 4
                        && rows
                            .iter()
                            .all(|row| row.live && row.owner.as_deref() == Some("replica-b"))
                }
            },
        )
        .await;
        let takeover: BTreeMap<String, i64> = leases(&pool)
            .await
            .into_iter()
            .filter(|row| paused_streams.contains_key(&row.stream))
            .map(|row| (row.stream, row.epoch))
            .collect();
        for (stream, epoch) in &paused_streams {
            assert!(
                takeover[stream] > *epoch,
                "{stream}: the takeover raised the epoch"
            );
        }
        let blobs = all_blobs(&emulator, &tenants);
        wait_for(
            "every blob to be committed by replica-b",
            Duration::from_secs(60),
            || {
                let pool = pool.clone();
                let blobs = blobs.clone();
                async move {
                    let committed: BTreeSet<BlobKey> = committed(&pool).await.into_keys().collect();
                    blobs.is_subset(&committed)
                }
            },
        )
        .await;
        let took_over_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&pool)
            .await
            .expect("now");

        // Resume it: the blobs it held are acknowledged now, and their commits are refused.
        paused.read_stdout();
        paused.signal("CONT");
        wait_for(
            "replica-a's late commit to be rejected",
            Duration::from_secs(30),
            || {
                let log = paused.log();
                async move { log.contains("commit rejected by the fencing check") }
            },
        )
        .await;
        wait_for(
            "replica-a to give its streams up",
            Duration::from_secs(30),
            || {
                let log = paused.log();
                async move { log.contains("lease lost; stream stopped") }
            },
        )
        .await;
        let log = paused.log();
        let field = |line: &str, name: &str| {
            line.split(&format!(" {name}="))
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(|value| value.trim_matches('"').to_string())
        };
        let rejected: Vec<BlobKey> = log
            .lines()
            .filter(|line| line.contains("commit rejected by the fencing check"))
            .filter_map(|line| Some((field(line, "tenant")?, field(line, "content_id")?)))
            .filter(|(_, content_id)| content_id != "-")
            .collect();
        assert!(!rejected.is_empty(), "a blob commit was rejected:\n{log}");
        let committed = committed(&pool).await;
        for blob in &rejected {
            let row = committed.get(blob).unwrap_or_else(|| {
                panic!("the rejected blob {blob:?} is committed by the new owner")
            });
            assert_eq!(row.owner.as_deref(), Some("replica-b"), "{blob:?}");
            assert_eq!(
                row.epoch,
                takeover.get(&row.stream).copied(),
                "{blob:?} under the takeover epoch"
            );
            assert_eq!(row.commits, 1, "{blob:?} was committed once");
        }
        let stale: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM committed_blobs WHERE owner = 'replica-a' AND committed_at >= $1",
        )
        .bind(took_over_at)
        .fetch_one(&pool)
        .await
        .expect("stale commits");
        let others: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(other_owner_commits), 0) FROM committed_blobs")
                .fetch_one(&pool)
                .await
                .expect("commit owners");
        assert_eq!(
            (stale, others),
            (0, 0),
            "no commit from the stale owner, no blob committed by two owners"
        );

        // Nothing is lost, and both replicas stop cleanly.
        let expected = expected(&emulator, &tenants);
        wait_for(
            "every record to be delivered",
            Duration::from_secs(30),
            || {
                let delivered = counts(&[&paused, &other]);
                let done = expected.keys().all(|id| delivered.contains_key(id));
                async move { done }
            },
        )
        .await;
        eprintln!(
            "{} late commit(s) rejected: {rejected:?}; epochs {paused_streams:?} -> {takeover:?}",
            rejected.len()
        );
        for replica in [&mut paused, &mut other] {
            let status = replica.terminate(Duration::from_secs(30)).await;
            assert!(
                status.success(),
                "{} exited with {status}:\n{}",
                replica.id,
                replica.log()
            );
        }
        emulator.shutdown().await;
    })
    .await;
}
