//! The foundation's promises, shown with the real binary against the emulator over HTTP.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::*;

fn emulator_with_long_history(config: &mut atp_forwarder::emulator::EmulatorConfig) {
    config.history = Duration::from_secs(31 * 3600);
    config.blob_interval = Duration::from_secs(20 * 60);
    config.records_per_blob = 20;
    config.page_size = 5;
    let tenant = &mut config.tenants[0];
    tenant.subscriptions_started = false;
    tenant.backfill_on_start = true;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_every_atp_record_exactly_once_and_then_only_new_blobs() {
    let emulator = start_emulator(emulator_with_long_history).await;
    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "");
    let config = config.to_str().unwrap();

    // First run: the subscription is not started; the whole 31 h history is listed in ≤24 h windows.
    let output = run_binary(&["run", "--once", "--config", config]).await;
    assert!(
        output.status.success(),
        "first run failed:\n{}",
        text(&output)
    );
    assert!(
        emulator.subscription_enabled(TENANT_ID, "Audit.General"),
        "the run starts the subscription"
    );
    let delivered = work.delivered();
    let counts = id_counts(&delivered);
    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    assert!(
        expected.len() > 200,
        "the history holds {} ATP records",
        expected.len()
    );
    assert_eq!(
        counts.keys().cloned().collect::<Vec<_>>(),
        expected_ids(&expected),
        "every ATP record and nothing else"
    );
    assert!(
        counts.values().all(|&count| count == 1),
        "each record exactly once"
    );
    assert!(delivered
        .iter()
        .all(|record| ATP_TYPES.contains(&record["RecordType"].as_i64().unwrap())));
    let stats = emulator.stats();
    assert_eq!(
        stats.windows_rejected, 0,
        "the client never sends an invalid window"
    );
    assert_eq!(
        stats.missing_publisher_identifier, 0,
        "PublisherIdentifier on every call"
    );
    assert!(
        stats.content_pages > 20,
        "paging with page size 5 was followed ({} pages)",
        stats.content_pages
    );

    // Second run: nothing new.
    let output = run_binary(&["run", "--once", "--config", config]).await;
    assert!(
        output.status.success(),
        "second run failed:\n{}",
        text(&output)
    );
    assert_eq!(
        work.delivered().len(),
        delivered.len(),
        "a second run delivers nothing new"
    );

    // More blobs arrive; the third run delivers exactly their ATP records.
    let before: BTreeSet<String> = expected_ids(&expected).into_iter().collect();
    let new_blobs = emulator.add_blobs(TENANT_ID, "Audit.General", 3);
    assert_eq!(new_blobs.len(), 3);
    // Listing windows end at whole seconds: let the new blobs' second pass.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let output = run_binary(&["run", "--once", "--config", config]).await;
    assert!(
        output.status.success(),
        "third run failed:\n{}",
        text(&output)
    );
    let after = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    let new_ids: Vec<String> = expected_ids(&after)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    assert!(!new_ids.is_empty(), "the new blobs carry ATP records");
    let third: Vec<String> = id_counts(&work.delivered()[delivered.len()..])
        .into_keys()
        .collect();
    assert_eq!(
        third, new_ids,
        "the third run delivers exactly the new records"
    );
    assert_eq!(
        work.delivered().len(),
        delivered.len() + new_ids.len(),
        "each once"
    );
    emulator.shutdown().await;
}

/// `collector.worker_threads` sets the threads that run the pipeline (0: one per core); each count delivers
/// the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_threads_sets_the_pipeline_threads() {
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(3 * 3600);
        config.records_per_blob = 20;
    })
    .await;
    let expected = expected_ids(&emulator.expected_records(TENANT_ID, &ATP_TYPES));
    assert!(!expected.is_empty(), "the history holds ATP records");
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    for (setting, threads) in [(None, 1), (Some(3), 3), (Some(0), cores)] {
        let work = Workdir::new();
        let extra = setting.map_or(String::new(), |n| format!("worker_threads = {n}"));
        let config = work.config(&emulator.base_url(), SECRET, &extra);
        let output = run_binary(&["run", "--once", "--config", config.to_str().unwrap()]).await;
        let log = text(&output);
        assert!(output.status.success(), "{extra}: run failed:\n{log}");
        assert!(
            log.contains(&format!("worker_threads={threads}")),
            "{extra}: the start-up line says {threads} threads:\n{log}"
        );
        let delivered = work.delivered();
        assert_eq!(
            id_counts(&delivered).keys().cloned().collect::<Vec<_>>(),
            expected,
            "{extra}: every ATP record"
        );
        assert_eq!(delivered.len(), expected.len(), "{extra}: each once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_rejects_windows_the_client_never_sends() {
    let emulator = start_emulator(|_| {}).await;
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!(
            "{}/{TENANT_ID}/oauth2/v2.0/token",
            emulator.base_url()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
            ("scope", "https://manage.office.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let now = chrono::Utc::now();
    let format = |time: chrono::DateTime<chrono::Utc>| time.format("%Y-%m-%dT%H:%M:%S").to_string();
    for (start, end) in [
        (now - chrono::Duration::hours(25), now),
        (
            now - chrono::Duration::days(8),
            now - chrono::Duration::days(8) + chrono::Duration::hours(1),
        ),
    ] {
        let response = http
            .get(format!(
                "{}/api/v1.0/{TENANT_ID}/activity/feed/subscriptions/content",
                emulator.base_url()
            ))
            .query(&[
                ("contentType", "Audit.General"),
                ("startTime", &format(start)),
                ("endTime", &format(end)),
            ])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "AF20055");
    }
    assert_eq!(emulator.stats().windows_rejected, 2);
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_gives_a_clear_aadsts_error_and_never_prints_the_secret() {
    let emulator = start_emulator(|_| {}).await;
    let work = Workdir::new();
    let wrong = "Wrong~Secret.value-that-must-not-leak";
    let config = work.config(&emulator.base_url(), wrong, "");
    let config = config.to_str().unwrap();
    for args in [
        vec!["check", "--config", config],
        vec!["run", "--once", "--config", config],
    ] {
        let output = run_binary(&args).await;
        let all = text(&output);
        assert!(!output.status.success(), "{args:?} must fail:\n{all}");
        assert!(
            all.contains("AADSTS7000215"),
            "{args:?} names the AADSTS code:\n{all}"
        );
        assert!(
            all.contains("secret is wrong"),
            "{args:?} says what to do:\n{all}"
        );
        assert!(!all.contains(wrong), "{args:?} printed the secret:\n{all}");
    }
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_good_tenant_line_by_line() {
    let emulator = start_emulator(|_| {}).await;
    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "");
    let output = run_binary(&["check", "--config", config.to_str().unwrap()]).await;
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    assert!(
        all.contains("[ OK ] tenant contoso: token obtained"),
        "{all}"
    );
    assert!(all.contains("[ OK ] sink file: reachable"), "{all}");
    emulator.shutdown().await;
}

/// The README's first command: `demo` needs no configuration. With `--once` it forwards the built-in
/// emulator's history to stdout, one event per line in the chosen format, and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_once_forwards_the_built_in_emulators_history_to_stdout() {
    for format in ["json", "ecs"] {
        let output = run_binary(&["demo", "--once", "--format", format]).await;
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "demo --format {format}:\n{log}");
        let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("{format}: not JSON ({error}): {line}"))
            })
            .collect();
        // 30 h of history, a blob every 15 minutes, 12 records each, half of them ATP types.
        assert!(
            events.len() >= 300,
            "{format}: {} events:\n{log}",
            events.len()
        );
        let (ids, types): (Vec<&str>, Vec<i64>) = events
            .iter()
            .map(|event| match format {
                "json" => (event["Id"].as_str(), event["RecordType"].as_i64()),
                _ => (
                    event["event"]["id"].as_str(),
                    event["event"]["code"]
                        .as_str()
                        .and_then(|code| code.parse().ok()),
                ),
            })
            .map(|(id, record_type)| {
                (
                    id.expect("every event has its record Id"),
                    record_type.expect("every event has its record type"),
                )
            })
            .unzip();
        assert!(
            types
                .iter()
                .all(|record_type| ATP_TYPES.contains(record_type)),
            "{format}: only the ATP record types"
        );
        let unique: BTreeSet<&str> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "{format}: no event twice");
        assert!(
            log.contains("demo finished") && !log.contains("blobs_committed=0"),
            "{format}: the history's blobs are committed:\n{log}"
        );
    }
}

/// A `stdout` sink whose reader goes away (`atp-forwarder … | head`, a log shipper that exited) cannot come
/// back: the daemon stops at once with exit code 1 instead of retrying a broken pipe forever, and what it
/// did not deliver is fetched again by the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stdout_sink_whose_reader_went_away_stops_the_daemon_and_loses_nothing() {
    use std::io::BufRead;

    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(12 * 3600);
        config.blob_interval = Duration::from_secs(10 * 60);
        config.records_per_blob = 50;
    })
    .await;
    let work = Workdir::new();
    let file_config = work.config(&emulator.base_url(), SECRET, "");
    let file_text = std::fs::read_to_string(&file_config).unwrap();
    let file_sink = format!(
        "name = \"file\"\ntype = \"file\"\npath = \"{}\"",
        work.path("events.jsonl").display()
    );
    assert!(file_text.contains(&file_sink), "{file_text}");
    let stdout_config = work.path("stdout.toml");
    std::fs::write(
        &stdout_config,
        file_text.replace(&file_sink, "name = \"console\"\ntype = \"stdout\""),
    )
    .unwrap();

    let mut child = binary()
        .args(["run", "--config", stdout_config.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(work.path("stdout-run.log")).unwrap())
        .spawn()
        .expect("binary starts");
    let reader = child.stdout.take().expect("stdout is piped");
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(reader)
            .read_line(&mut line)
            .map(|_| line)
    })
    .await
    .unwrap()
    .expect("one event read");
    assert!(first_line.contains("\"Id\""), "{first_line}");
    // The reader is dropped: the pipe is closed.
    let went_away = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            went_away.elapsed() < Duration::from_secs(15),
            "still running after its stdout closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = std::fs::read_to_string(work.path("stdout-run.log")).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.contains("gone for good") && log.contains("Broken pipe"),
        "{log}"
    );

    // What the pipe took before it closed is committed; the next run delivers the rest.
    let (_, committed_ids) = committed(&work.path("state/state.db")).await;
    let output = run_binary(&["run", "--once", "--config", file_config.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", text(&output));
    let counts = id_counts(&work.delivered());
    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    let lost: Vec<&str> = expected
        .iter()
        .map(|record| record.id.as_str())
        .filter(|id| !counts.contains_key(*id) && !committed_ids.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} records neither taken by the pipe nor delivered by the next run",
        lost.len(),
        expected.len()
    );
    assert!(
        counts.keys().all(|id| !committed_ids.contains(id)),
        "nothing the pipe took is delivered again"
    );
    emulator.shutdown().await;
}
