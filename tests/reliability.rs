//! Delivery guarantees under faults, shown with the real binary against the emulator: kill -9 loops, a
//! hostile API, throttling, and SIGTERM.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use atp_forwarder::emulator::{EmulatorConfig, ThrottleStyle};
use rand::{Rng, SeedableRng};
use support::*;

/// Starts `run` (following, or `--once`) with output captured in files of the work directory.
fn spawn_run(work: &Workdir, config: &std::path::Path, once: bool, log: &str) -> Child {
    let mut command = binary();
    command.arg("run").arg("--config").arg(config);
    if once {
        command.arg("--once");
    }
    let stderr = std::fs::File::create(work.path(log)).expect("log file");
    command
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("binary starts")
}

fn log(work: &Workdir, name: &str) -> String {
    std::fs::read_to_string(work.path(name)).unwrap_or_default()
}

/// These tests load both cores; they run one at a time so their timing bounds hold.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn large_history(config: &mut EmulatorConfig) {
    config.history = Duration::from_secs(26 * 3600);
    config.blob_interval = Duration::from_secs(7 * 60);
    config.records_per_blob = 400;
    config.atp_fraction = 0.6;
    config.page_size = 50;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kill_9s_lose_nothing_and_duplicate_only_blobs_in_flight() {
    let _serial = SERIAL.lock().await;
    let emulator = start_emulator(large_history).await;
    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    let blob_of: BTreeMap<String, String> = expected
        .iter()
        .map(|r| (r.id.clone(), r.content_id.clone()))
        .collect();
    let blobs: BTreeSet<&String> = expected.iter().map(|r| &r.content_id).collect();
    assert!(
        expected.len() >= 50_000 && blobs.len() >= 200,
        "{} events in {} blobs",
        expected.len(),
        blobs.len()
    );

    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "batch_events = 200");
    let state = work.path("state/state.db");
    let seed: u64 = rand::thread_rng().gen();
    println!("kill loop seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Blobs that were not committed at the moment of some kill: the only ones allowed to repeat events.
    let mut open_at_a_kill: BTreeSet<String> = BTreeSet::new();
    let mut kills_mid_work = 0;
    let events_file = work.path("events.jsonl");
    let delivered_bytes = || std::fs::metadata(&events_file).map_or(0, |meta| meta.len());
    for kill in 0..20 {
        let before = delivered_bytes();
        let mut child = spawn_run(&work, &config, true, &format!("run-{kill}.log"));
        // Kill while work is in flight, whatever the machine's speed: once this run has delivered a random
        // amount, up to about 2,000 of the history's ~53,000 events (a delay after the first delivery let a
        // faster daemon finish the history within a few runs, so later kills hit nothing).
        let target = before + rng.gen_range(1..=6_000_000);
        let started = std::time::Instant::now();
        while delivered_bytes() < target
            && started.elapsed() < Duration::from_secs(10)
            && child.try_wait().expect("try_wait").is_none()
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let finished = child.try_wait().expect("try_wait").is_some();
        if !finished {
            signal(&child, "KILL");
            kills_mid_work += 1;
        }
        let _ = child.wait();
        let (committed_blobs, committed_records) = committed(&state).await;
        if finished {
            println!("{}", log(&work, &format!("run-{kill}.log")));
        }
        println!("after kill {kill}: finished={finished} delivered lines {} committed records {} committed blobs {}", read_jsonl_torn(&work.path("events.jsonl")).0.len(), committed_records.len(), committed_blobs.len());
        open_at_a_kill.extend(
            blobs
                .iter()
                .filter(|blob| !committed_blobs.contains(**blob))
                .map(|blob| blob.to_string()),
        );
    }
    let output = run_binary(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    assert!(
        output.status.success(),
        "the last run completes:\n{}",
        text(&output)
    );

    let (delivered, torn) = read_jsonl_torn(&work.path("events.jsonl"));
    assert!(
        torn <= kills_mid_work,
        "{torn} torn lines for {kills_mid_work} kills"
    );
    let counts = id_counts(&delivered);
    let missing: Vec<&String> = blob_of
        .keys()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} events lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    let unexpected: Vec<&String> = counts
        .keys()
        .filter(|id| !blob_of.contains_key(*id))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} events that are not ATP records of the history",
        unexpected.len()
    );
    let duplicates: Vec<(&String, &usize)> =
        counts.iter().filter(|(_, count)| **count > 1).collect();
    let duplicate_events: usize = duplicates.iter().map(|(_, count)| *count - 1).sum();
    println!(
        "kill loop: {} kills mid-work, {} events expected, all delivered, {} duplicate deliveries of {} events, {} lines torn by a kill",
        kills_mid_work,
        expected.len(),
        duplicate_events,
        duplicates.len(),
        torn
    );
    for (id, _) in &duplicates {
        let blob = &blob_of[*id];
        assert!(
            open_at_a_kill.contains(blob),
            "event {id} was repeated but its blob {blob} was committed at every kill"
        );
    }
    assert!(
        kills_mid_work >= 10,
        "the kills hit running work ({kills_mid_work})"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_api_loses_nothing_dead_letters_poison_and_never_storms() {
    let _serial = SERIAL.lock().await;
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(26 * 3600);
        config.blob_interval = Duration::from_secs(30 * 60);
        config.records_per_blob = 40;
        config.page_size = 7;
        let faults = &mut config.faults;
        faults.requests_per_minute = Some(50);
        faults.throttle_style = ThrottleStyle::Http403;
        faults.retry_after = Some(Duration::from_secs(1));
        faults.server_error_every = Some(29);
        faults.server_error_burst = 2;
        faults.server_error_status = 503;
        faults.truncated_blob_fraction = 0.06;
        faults.connection_reset_fraction = 0.05;
        faults.truncate_times = 2;
        faults.malformed_blob_fraction = 0.04;
        faults.late_blob_fraction = 0.08;
        faults.late_by = Duration::from_secs(4);
        faults.duplicate_record_fraction = 0.1;
        // About 5 of the 52 blobs; which ones depends on the content ids, i.e. on the clock. At 0.04 a run
        // had none about one time in eight, and then nothing below checked the expiry path.
        faults.expired_blob_fraction = 0.1;
        faults.clock_skew_secs = -1200;
    })
    .await;
    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "");
    // Our budget: 100 per minute, above the emulator's 50, so throttling happens and must be waited out.
    let text_config = std::fs::read_to_string(&config)
        .unwrap()
        .replace("api_url =", "requests_per_minute = 100\napi_url =");
    std::fs::write(&config, text_config).unwrap();
    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    let expected_ids: BTreeSet<String> = expected.iter().map(|r| r.id.clone()).collect();

    let mut child = spawn_run(&work, &config, false, "hostile.log");
    let delivered_all = wait_for(Duration::from_secs(240), || {
        let counts = id_counts(&work.delivered());
        expected_ids.iter().all(|id| counts.contains_key(id))
    })
    .await;
    // Poison and expired blobs hold no expected events: give their reads time to end in a dead letter.
    let state = work.path("state/state.db");
    for _ in 0..60 {
        let letters = dead_letters(&state).await;
        let poison = letters
            .iter()
            .filter(|(kind, _, reason)| kind == "blob" && !reason.contains("expired"))
            .count();
        let expired = letters
            .iter()
            .filter(|(kind, _, reason)| kind == "blob" && reason.contains("expired"))
            .count();
        if (emulator.stats().faults.malformed_blobs == 0 || poison > 0) && expired > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    signal(&child, "TERM");
    let status = child.wait().expect("wait");
    let counts = id_counts(&work.delivered());
    let missing = expected_ids
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .count();
    assert!(
        delivered_all,
        "{missing} of {} events missing; log tail:\n{}",
        expected_ids.len(),
        tail(&log(&work, "hostile.log"))
    );
    assert!(status.success(), "SIGTERM exits 0");
    let stats = emulator.stats();
    println!("hostile API: {stats:#?}");
    assert!(
        stats.faults.server_errors > 0
            && stats.faults.truncated_bodies + stats.faults.connection_resets > 0
    );
    assert!(stats.throttled > 0, "the emulator throttled");
    let max_per_minute = stats
        .max_requests_per_window
        .values()
        .copied()
        .max()
        .unwrap_or(0);
    assert!(
        max_per_minute <= 100,
        "requests in a rolling minute: {max_per_minute} > budget 100"
    );
    let letters = dead_letters(&work.path("state/state.db")).await;
    let poison = letters
        .iter()
        .filter(|(kind, _, reason)| kind == "blob" && !reason.contains("expired"))
        .count();
    let expired = letters
        .iter()
        .filter(|(kind, _, reason)| kind == "blob" && reason.contains("expired"))
        .count();
    println!("dead letters: {poison} poison blobs, {expired} expired blobs");
    assert!(
        poison as u64 >= stats.faults.malformed_blobs.min(1),
        "malformed blobs are dead-lettered"
    );
    assert!(
        expired as u64 >= stats.faults.expired_content.min(1),
        "expired blobs are dead-lettered"
    );
    assert!(
        expired > 0,
        "the run met expired content (the seed chose none?)"
    );
    let log_text = log(&work, "hostile.log");
    assert!(
        log_text.contains("lost"),
        "expired content is reported loudly"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_below_the_api_limit_is_never_throttled() {
    let _serial = SERIAL.lock().await;
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(25 * 3600);
        config.blob_interval = Duration::from_secs(3600);
        config.records_per_blob = 10;
        // Time-scaled: the API allows 11 requests in any 2 s and the daemon's budget is 10; the run needs
        // about 30, so the budget fills and the daemon waits for the window to roll several times.
        config.faults.requests_per_minute = Some(11);
        config.faults.budget_window = Duration::from_secs(2);
    })
    .await;
    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "");
    let text_config = std::fs::read_to_string(&config).unwrap().replace(
        "api_url =",
        "requests_per_minute = 10\nbudget_window = \"2s\"\napi_url =",
    );
    std::fs::write(&config, text_config).unwrap();
    let started = Instant::now();
    let output = run_binary(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", text(&output));
    let stats = emulator.stats();
    assert_eq!(
        stats.throttled, 0,
        "no 429 with a budget under the limit: {stats:?}"
    );
    let api_requests = stats.api_requests();
    assert!(api_requests > 20, "the run fills the budget: {stats:?}");
    // n requests at 10 per 2 s need at least (n − 1) / 10 full windows.
    let windows = (api_requests - 1) / 10;
    assert!(
        elapsed >= Duration::from_secs(2 * windows),
        "{api_requests} requests in {elapsed:?}: faster than the budget allows"
    );
    assert_eq!(
        id_counts(&work.delivered()).len(),
        emulator.expected_records(TENANT_ID, &ATP_TYPES).len()
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_is_waited_out_as_told() {
    let _serial = SERIAL.lock().await;
    let retry_after = Duration::from_secs(2);
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(25 * 3600);
        config.blob_interval = Duration::from_secs(3600);
        config.records_per_blob = 10;
        config.faults.requests_per_minute = Some(6);
        config.faults.budget_window = Duration::from_secs(5);
        config.faults.throttle_style = ThrottleStyle::Http429;
        config.faults.retry_after = Some(retry_after);
    })
    .await;
    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "max_concurrent_fetches = 2");
    let started = Instant::now();
    let output = run_binary(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    let elapsed = started.elapsed();
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        id_counts(&work.delivered()).len(),
        emulator.expected_records(TENANT_ID, &ATP_TYPES).len()
    );
    let stats = emulator.stats();
    // Each of the (at most 3) concurrent requesters waits Retry-After after every 429: no storm.
    let allowed = 3 * (elapsed.as_secs_f64() / retry_after.as_secs_f64()).ceil() as u64 + 3;
    println!(
        "429 storm: {} throttled answers in {:.1}s (at most {allowed} when waiting as told)",
        stats.throttled,
        elapsed.as_secs_f64()
    );
    assert!(stats.throttled > 0, "the emulator throttled");
    assert!(
        stats.throttled <= allowed,
        "{} 429s in {:.1}s: Retry-After was not honoured",
        stats.throttled,
        elapsed.as_secs_f64()
    );
    emulator.shutdown().await;
}

/// `run --once` whose only sink never accepts (its file is a directory) waits for it — until SIGTERM, which
/// ends it within `shutdown_timeout`, committing nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_once_run_whose_sink_is_down_in_time() {
    let _serial = SERIAL.lock().await;
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(3 * 3600);
        config.records_per_blob = 20;
    })
    .await;
    let work = Workdir::new();
    std::fs::create_dir_all(work.path("events.jsonl"))
        .expect("a directory where the file should be");
    let config = work.config(&emulator.base_url(), SECRET, "shutdown_timeout = \"2s\"");
    let mut child = spawn_run(&work, &config, true, "once-down.log");
    assert!(
        wait_for(Duration::from_secs(30), || emulator.stats().blobs_served
            > 0)
        .await,
        "the run fetched something"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "a --once run with its sink down keeps waiting for it"
    );
    let signalled = Instant::now();
    signal(&child, "TERM");
    let exited = wait_for(Duration::from_secs(15), || {
        matches!(child.try_wait(), Ok(Some(_)))
    })
    .await;
    let took = signalled.elapsed();
    if !exited {
        let _ = child.kill();
    }
    assert!(
        exited,
        "still running {took:?} after SIGTERM (shutdown_timeout 2 s)\n{}",
        tail(&log(&work, "once-down.log"))
    );
    let (blobs, _) = committed(&work.path("state/state.db")).await;
    assert!(
        blobs.is_empty(),
        "nothing was delivered, so nothing is committed: {blobs:?}"
    );
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_exits_0_in_time_and_the_next_run_repeats_nothing_committed() {
    let _serial = SERIAL.lock().await;
    let emulator = start_emulator(large_history).await;
    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "shutdown_timeout = \"5s\"");
    let mut child = spawn_run(&work, &config, false, "term.log");
    assert!(
        wait_for(Duration::from_secs(60), || work.delivered().len() > 2000).await,
        "delivery started"
    );
    let signalled = Instant::now();
    signal(&child, "TERM");
    let status = child.wait().expect("wait");
    let took = signalled.elapsed();
    assert!(
        status.success(),
        "exit code after SIGTERM: {status:?}\n{}",
        tail(&log(&work, "term.log"))
    );
    assert!(
        took < Duration::from_secs(8),
        "shutdown took {took:?} (bound 5 s)"
    );
    let first_run = work.delivered().len();
    let (_, committed_ids) = committed(&work.path("state/state.db")).await;
    assert!(
        !committed_ids.is_empty(),
        "something was committed before the signal"
    );

    let output = run_binary(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", text(&output));
    let delivered = work.delivered();
    let again: Vec<String> = delivered[first_run..]
        .iter()
        .filter_map(|record| record["Id"].as_str().map(str::to_string))
        .filter(|id| committed_ids.contains(id))
        .collect();
    assert!(
        again.is_empty(),
        "{} committed events delivered again",
        again.len()
    );
    let counts = id_counts(&delivered);
    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    let missing = never_delivered(&expected, &counts);
    if !missing.is_empty() {
        let (blobs, ids) = committed(&work.path("state/state.db")).await;
        let described: Vec<String> = missing
            .iter()
            .take(20)
            .map(|r| {
                format!(
                    "{} (blob {}, blob committed: {}, Id committed: {}, committed before the signal: {})",
                    r.id,
                    r.content_id,
                    blobs.contains(&r.content_id),
                    ids.contains(&r.id),
                    committed_ids.contains(&r.id)
                )
            })
            .collect();
        panic!(
            "{} of {} records never delivered (first run {first_run}, in all {}):\n{}\nfirst run:\n{}\nsecond run:\n{}",
            missing.len(),
            expected.len(),
            delivered.len(),
            described.join("\n"),
            tail(&log(&work, "term.log")),
            tail(&text(&output))
        );
    }
    emulator.shutdown().await;
}

/// A blob that no attempt of a poll could read holds the checkpoint and is fetched at a later poll, however
/// old it is: that poll lists from it, not only `relist` back. (Failed blobs were forgotten when the next
/// poll began, so one older than `relist` was never fetched again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_no_attempt_of_a_poll_could_read_is_fetched_at_a_later_poll_however_old() {
    let _serial = SERIAL.lock().await;
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(6 * 3600);
        config.blob_interval = Duration::from_secs(20 * 60);
        config.records_per_blob = 20;
        config.atp_fraction = 0.6;
        let faults = &mut config.faults;
        // About 7 of the 18 blobs (which ones depends on the content ids, i.e. on the clock).
        faults.unavailable_blob_fraction = 0.4;
        // A poll's attempts at one blob: 8 requests (the API client) for each of 5 reads. Two polls give up
        // on it, the third gets it. (The second poll of a run may still start from the stored checkpoint;
        // the third lists from what the run holds in memory.)
        faults.unavailable_times = 80;
        faults.unavailable_retry_after = Some(Duration::ZERO);
    })
    .await;
    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    let work = Workdir::new();
    // Every blob is older than `relist`: only the checkpoint brings a poll back to them.
    let config = work.config(&emulator.base_url(), SECRET, "relist = \"1m\"");
    let mut child = spawn_run(&work, &config, false, "unavailable.log");
    let delivered_all = wait_for(Duration::from_secs(180), || {
        never_delivered(&expected, &id_counts(&work.delivered())).is_empty()
    })
    .await;
    signal(&child, "TERM");
    let status = child.wait().expect("wait");
    let log = log(&work, "unavailable.log");
    let counts = id_counts(&work.delivered());
    assert!(
        delivered_all,
        "{} of {} records never delivered:\n{}",
        never_delivered(&expected, &counts).len(),
        expected.len(),
        tail(&log)
    );
    assert!(
        emulator.stats().faults.unavailable_answers >= 80,
        "a blob stayed unavailable for two whole polls: {:?}",
        emulator.stats().faults
    );
    assert!(
        log.contains("could not be read this cycle"),
        "a poll left a blob for the next one:\n{}",
        tail(&log)
    );
    assert!(
        counts.values().all(|count| *count == 1),
        "nothing delivered twice"
    );
    assert!(status.success(), "exit code after SIGTERM: {status:?}");
    emulator.shutdown().await;
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
