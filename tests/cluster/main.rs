//! Cluster mode with real binaries: several `atp-forwarder run` replicas share the streams of a
//! multi-tenant emulator through the PostgreSQL server at 127.0.0.1:5432 (database `test`, a throwaway
//! schema per test). Leases last 3 s, so the tests stay short.

#[path = "../support/postgres.rs"]
mod pg;

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use harness::*;

const LEASE: Duration = Duration::from_secs(3);
const LEASE_TEXT: &str = "3s";
const THREE_TYPES: [&str; 3] = ["Audit.General", "Audit.Exchange", "Audit.SharePoint"];

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
                expected = harness::expected(&emulator, &tenants);
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

fn live_arrivals(config: &mut atp_forwarder::emulator::EmulatorConfig) {
    config.live = Some(atp_forwarder::emulator::LiveArrivals {
        interval: Duration::from_millis(700),
        blobs_per_tick: 1,
    });
}

/// The streams a replica's log says it holds: acquired, and not released or lost since.
fn believed_streams(log: &str) -> BTreeSet<String> {
    let field = |line: &str, name: &str| {
        line.split(&format!(" {name}="))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    };
    let mut held = BTreeSet::new();
    for line in log.lines() {
        let (Some(tenant), Some(content_type)) =
            (field(line, "tenant"), field(line, "content_type"))
        else {
            continue;
        };
        let stream = format!("{tenant}/{content_type}");
        if line.contains("lease acquired") {
            held.insert(stream);
        } else if line.contains("lease released") || line.contains("lease lost") {
            held.remove(&stream);
        }
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_s_streams_are_resumed_within_two_lease_periods_and_nothing_is_lost() {
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
        let mut survivors = vec![
            Replica::start(&config, "replica-1", false),
            Replica::start(&config, "replica-3", false),
        ];
        // The victim's stdout is read only after its death: its sink backs up, so it dies holding blobs
        // that are partly delivered (in the pipe) but not committed — its in-flight work.
        let mut victim = Replica::start(&config, "replica-2", true);
        wait_for("three replicas holding four streams each", Duration::from_secs(60), || {
            let pool = pool.clone();
            async move {
                let shares: Vec<usize> = by_owner(&leases(&pool).await).values().map(BTreeSet::len).collect();
                shares == vec![4, 4, 4]
            }
        })
        .await;
        wait_for("the victim to work on its streams for a while", Duration::from_secs(60), || {
            let pool = pool.clone();
            async move {
                let held: Vec<bool> = sqlx::query_scalar(
                    "SELECT acquired_at < now() - interval '2 seconds' FROM leases WHERE owner = 'replica-2'",
                )
                .fetch_all(&pool)
                .await
                .expect("leases");
                held.len() == 4 && held.iter().all(|old| *old)
            }
        })
        .await;
        let before = leases(&pool).await;
        let victims_streams = by_owner(&before).remove("replica-2").unwrap_or_default();
        assert_eq!(victims_streams.len(), 4, "{before:?}");

        let killed = Instant::now();
        victim.kill();
        victim.read_stdout();
        let resumed_after = loop {
            let rows = leases(&pool).await;
            let taken = rows
                .iter()
                .filter(|row| victims_streams.contains(&row.stream))
                .all(|row| row.live && row.owner.as_deref().is_some_and(|owner| owner != "replica-2"));
            if taken {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(30),
                "the victim's streams were not taken over: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            resumed_after <= 2 * LEASE,
            "the killed replica's streams were resumed after {resumed_after:?}, more than two lease periods"
        );

        // Nothing lost: every record served up to now is delivered by someone.
        let expected = expected(&emulator, &tenants);
        wait_for("every record to be delivered", Duration::from_secs(90), || {
            let refs: Vec<&Replica> = survivors.iter().chain([&victim]).collect();
            let delivered = counts(&refs);
            let done = expected.keys().all(|id| delivered.contains_key(id));
            async move { done }
        })
        .await;

        // Duplicates only from the victim's in-flight blobs: delivered by the victim, but committed by
        // the survivor that took its stream over.
        let refs: Vec<&Replica> = survivors.iter().chain([&victim]).collect();
        let delivered = counts(&refs);
        let by_victim: BTreeSet<String> = victim.delivered().into_iter().collect();
        let committed = committed(&pool).await;
        let mut duplicates = 0;
        for (id, count) in delivered.iter().filter(|(_, count)| **count > 1) {
            duplicates += 1;
            assert_eq!(*count, 2, "{id} delivered {count} times");
            assert!(by_victim.contains(id), "{id} duplicated without the victim");
            let blob = expected.get(id).unwrap_or_else(|| panic!("{id} is not expected"));
            let row = committed
                .get(blob)
                .unwrap_or_else(|| panic!("{blob:?} not committed"));
            assert!(
                victims_streams.contains(&row.stream),
                "{id}: blob {blob:?} of {}, not the victim's",
                row.stream
            );
            assert_ne!(
                row.owner.as_deref(),
                Some("replica-2"),
                "{id}: blob {blob:?} was committed by the victim"
            );
        }
        let others: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(other_owner_commits), 0) FROM committed_blobs")
            .fetch_one(&pool)
            .await
            .expect("commit owners");
        assert_eq!(others, 0, "no blob was committed by two owners");
        // (Usually a few: the victim's pipe holds part of a blob it never committed; none when the cut fell
        // between blobs.)
        eprintln!(
            "streams resumed {resumed_after:?} after SIGKILL; {} records, {duplicates} duplicated from in-flight blobs",
            expected.len()
        );
        for replica in &mut survivors {
            let status = replica.terminate(Duration::from_secs(30)).await;
            assert!(status.success(), "{} exited with {status}:\n{}", replica.id, replica.log());
        }
        emulator.shutdown().await;
    })
    .await;
}

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
