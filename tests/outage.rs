//! A sink outage: the SIEM refuses everything for 60 s in the middle of a run. The pipeline stops pulling
//! (backpressure, not buffering), its memory stays flat, and afterwards nothing is missing.

mod support;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use support::*;

#[derive(Default)]
struct Siem {
    refusing: AtomicBool,
    refused: AtomicU64,
    ids: Mutex<BTreeSet<String>>,
}

async fn ingest(State(siem): State<Arc<Siem>>, body: Bytes) -> StatusCode {
    if siem.refusing.load(Ordering::SeqCst) {
        siem.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let mut ids = siem.ids.lock().unwrap();
    for line in body
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
    {
        let record: serde_json::Value = serde_json::from_slice(line).expect("NDJSON line");
        ids.insert(record["Id"].as_str().expect("Id").to_string());
    }
    StatusCode::OK
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_60_second_sink_outage_loses_nothing_and_memory_stays_flat() {
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(26 * 3600);
        config.blob_interval = Duration::from_secs(7 * 60);
        config.records_per_blob = 300;
        config.atp_fraction = 0.5;
    })
    .await;
    let siem = Arc::new(Siem::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let siem_url = format!("http://{}/ingest", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/ingest", axum::routing::post(ingest))
        .with_state(siem.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        &format!("[[sinks]]\nname = \"file\"\ntype = \"file\"\npath = \"{}\"\n", work.path("events.jsonl").display()),
        &format!("[[sinks]]\nname = \"siem\"\ntype = \"http\"\nurl = \"{siem_url}\"\nbody = \"ndjson\"\n"),
    );
    assert!(text.contains("type = \"http\""));
    std::fs::write(&config, text).unwrap();
    let expected: BTreeSet<String> = emulator
        .expected_records(TENANT_ID, &ATP_TYPES)
        .into_iter()
        .map(|r| r.id)
        .collect();

    let log = std::fs::File::create(work.path("outage.log")).unwrap();
    let mut child = binary()
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(
        wait_for(Duration::from_secs(60), || siem.ids.lock().unwrap().len()
            > 3000)
        .await,
        "delivery started"
    );

    // The SIEM goes down for 60 s.
    siem.refusing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = rss_kib(pid);
    let delivered_at_start = siem.ids.lock().unwrap().len();
    let outage = Instant::now();
    let mut peak = before;
    while outage.elapsed() < Duration::from_secs(57) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak = peak.max(rss_kib(pid));
    }
    siem.refusing.store(false, Ordering::SeqCst);
    let refused = siem.refused.load(Ordering::SeqCst);
    println!("outage: RSS {before} KiB before, peak {peak} KiB during; {refused} requests refused; {delivered_at_start} of {} delivered when it began", expected.len());
    assert!(
        delivered_at_start < expected.len(),
        "the outage began mid-run"
    );
    assert!(
        refused > 0 && refused < 200,
        "the sink retried with backoff, no storm ({refused} refused requests)"
    );
    assert!(
        peak as f64 <= before as f64 * 1.10,
        "RSS grew from {before} KiB to {peak} KiB during the outage"
    );

    // Afterwards nothing is missing.
    let complete = wait_for(Duration::from_secs(180), || {
        siem.ids.lock().unwrap().is_superset(&expected)
    })
    .await;
    signal(&child, "TERM");
    let status = child.wait().unwrap();
    let missing = expected.difference(&siem.ids.lock().unwrap()).count();
    assert!(complete, "{missing} events missing after the outage");
    assert!(status.success());
    emulator.shutdown().await;
}
