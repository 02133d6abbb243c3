//! Three replicas share twelve streams: balanced ownership, each stream owned by exactly one replica.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::pg;
use crate::{believed_streams, live_arrivals};
use crate::{LEASE_TEXT, THREE_TYPES};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_twelve_streams_each_owned_by_exactly_one_and_deliver_every_event() {
    pg::with_schema(|schema| async move {
        let tenants = tenants(4);
        let emulator = start_emulator(&tenants, &THREE_TYPES, live_arrivals).await;
        let work = tempfile::tempdir().expect("tempdir");
        let config = write_config(
            work.path(),
            &emulator.base_url(),
            &schema.url(),
            &tenants,
            &THREE_TYPES,
            LEASE_TEXT,
        );
        let pool = schema.pool().await;
        let ids = ["replica-1", "replica-2", "replica-3"];
        let mut replicas: Vec<Replica> = ids
            .iter()
            .map(|id| Replica::start(&config, id, false))
            .collect();

        // The cluster balances: each replica holds ceil(12 / 3) streams.
        let started = Instant::now();
        wait_for("three replicas holding four streams each", Duration::from_secs(60), || {
            let pool = pool.clone();
            async move {
                let shares: Vec<usize> = by_owner(&leases(&pool).await).values().map(BTreeSet::len).collect();
                shares == vec![4, 4, 4]
            }
        })
        .await;
        let balanced = leases(&pool).await;
        let balanced_after = started.elapsed();

        // From then on, every sample shows each stream live-owned by exactly one replica, the same one,
        // while events flow; until every record served so far is delivered (and for at least 5 s).
        let sampling = Instant::now();
        let mut samples = 0;
        let mut expected = BTreeMap::new();
        loop {
            let rows = leases(&pool).await;
            samples += 1;
            assert_eq!(rows.len(), 12, "{rows:?}");
            for (row, first) in rows.iter().zip(&balanced) {
                assert!(row.live, "stream {} has no live owner: {rows:?}", row.stream);
                assert_eq!(
                    (&row.stream, &row.owner, row.epoch),
                    (&first.stream, &first.owner, first.epoch),
                    "ownership changed in a balanced cluster"
                );
            }
            if expected.is_empty() && sampling.elapsed() > Duration::from_secs(5) {
                expected = crate::harness::expected(&emulator, &tenants);
            }
            let refs: Vec<&Replica> = replicas.iter().collect();
            let delivered = counts(&refs);
            if !expected.is_empty() && expected.keys().all(|id| delivered.contains_key(id)) {
                break;
            }
            assert!(
                sampling.elapsed() < Duration::from_secs(90),
                "not everything delivered ({} of {}); owners: {:?}",
                delivered.len(),
                expected.len(),
                by_owner(&rows),
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Each replica's own view (its log of leases acquired and given up) matches the table.
        let owners = by_owner(&balanced);
        for replica in &replicas {
            let believed = believed_streams(&replica.log());
            assert_eq!(Some(&believed), owners.get(&replica.id), "{} believes it owns {believed:?}", replica.id);
        }
        // `state show` says who owns what.
        let show = std::process::Command::new(env!("CARGO_BIN_EXE_atp-forwarder"))
            .args(["state", "show", "--config"])
            .arg(&config)
            .output()
            .expect("state show runs");
        let failure = String::from_utf8_lossy(&show.stderr).into_owned();
        let show = String::from_utf8_lossy(&show.stdout).into_owned();
        assert!(show.contains("OWNER"), "{show}{failure}");
        for row in &balanced {
            let line = show
                .lines()
                .find(|line| line.starts_with(row.stream.as_str()))
                .unwrap_or_else(|| panic!("no line for {}:\n{show}", row.stream));
            let owner = row.owner.as_deref().unwrap_or_default();
            assert!(line.contains(&format!("{owner} (epoch {})", row.epoch)), "{line}");
        }

        // Every event delivered; more than once only in a stream that changed hands while the cluster
        // formed (epoch > 1), from a blob the first owner had in flight.
        let refs: Vec<&Replica> = replicas.iter().collect();
        let delivered = counts(&refs);
        let handed_over: BTreeSet<&String> = balanced.iter().filter(|row| row.epoch > 1).map(|row| &row.stream).collect();
        let committed = committed(&pool).await;
        let mut duplicates = 0;
        for (id, _) in delivered.iter().filter(|(_, count)| **count > 1) {
            duplicates += 1;
            let stream = expected
                .get(id)
                .and_then(|blob| committed.get(blob))
                .map(|row| &row.stream);
            assert!(
                stream.is_some_and(|stream| handed_over.contains(stream)),
                "{id} delivered twice from {stream:?}, a stream that never changed hands"
            );
        }
        let others: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(other_owner_commits), 0) FROM committed_blobs")
            .fetch_one(&pool)
            .await
            .expect("commit owners");
        assert_eq!(others, 0, "no blob was committed by two owners");
        for replica in &replicas {
            assert!(!replica.delivered().is_empty(), "{} delivered nothing", replica.id);
        }
        eprintln!(
            "balanced after {balanced_after:?}; {samples} lease samples over {:?}; {} records delivered \
             ({duplicates} duplicates, {} streams handed over while forming)",
            sampling.elapsed(),
            expected.len(),
            handed_over.len()
        );

        // SIGTERM: each replica drains, commits, releases its leases and exits 0.
        for replica in &mut replicas {
            let status = replica.terminate(Duration::from_secs(30)).await;
            assert!(status.success(), "{} exited with {status}:\n{}", replica.id, replica.log());
        }
        let rows = leases(&pool).await;
        assert!(rows.iter().all(|row| row.owner.is_none()), "leases released: {rows:?}");
        let replicas_left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replicas")
            .fetch_one(&pool)
            .await
            .expect("replicas");
        assert_eq!(replicas_left, 0, "heartbeats removed at shutdown");
        emulator.shutdown().await;
    })
    .await;
}
