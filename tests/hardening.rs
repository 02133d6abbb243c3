//! Hostile answers from the API, with the real binary: links to other hosts are refused without sending the
//! bearer token anywhere, and the `[limits]` bound what a blob or a listing may cost.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::*;
use tokio::io::AsyncReadExt;

/// A second server that only records: how many connections reached it and what bytes they sent.
struct Trap {
    url: String,
    connections: Arc<AtomicUsize>,
    received: Arc<std::sync::Mutex<Vec<u8>>>,
}

async fn start_trap() -> Trap {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("trap binds");
    let url = format!("http://{}", listener.local_addr().expect("trap address"));
    let connections = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (count, bytes) = (connections.clone(), received.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                while let Ok(read) = socket.read(&mut buffer).await {
                    if read == 0 {
                        break;
                    }
                    bytes.lock().unwrap().extend_from_slice(&buffer[..read]);
                }
            });
        }
    });
    Trap {
        url,
        connections,
        received,
    }
}

// === impl Trap ===

impl Trap {
    fn assert_untouched(&self) {
        let received = self.received.lock().unwrap();
        assert_eq!(
            self.connections.load(Ordering::SeqCst),
            0,
            "the second server was contacted; it received:\n{}",
            String::from_utf8_lossy(&received)
        );
        assert!(received.is_empty());
    }
}

/// Runs `run --once` with a deadline (a refused link must not make the run hang).
async fn run_once(config: &std::path::Path) -> std::process::Output {
    let config = config.to_str().expect("utf-8 path").to_string();
    tokio::time::timeout(
        Duration::from_secs(60),
        run_binary(&["run", "--once", "--config", &config]),
    )
    .await
    .expect("run --once ends within 60 s")
}

/// An emulator whose links (`contentUri`, `NextPageUri`) all point at a trap, and one `run --once` of the
/// daemon against the emulator's real address. Returns the trap, the emulator, the workdir and the log.
async fn run_against_foreign_links(
    blob_interval: Duration,
    page_size: usize,
) -> (Trap, atp_forwarder::emulator::Emulator, Workdir, String) {
    let trap = start_trap().await;
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(3 * 3600);
        config.blob_interval = blob_interval;
        config.records_per_blob = 10;
        config.page_size = page_size;
        config.public_base_url = Some(trap.url.clone());
    })
    .await;
    let work = Workdir::new();
    // base_url() is the public base (the trap); the daemon talks to the emulator's real address.
    let api = format!("http://{}", emulator.local_addr());
    let config = work.config(&api, SECRET, "");
    let output = run_once(&config).await;
    let log = text(&output);
    trap.assert_untouched();
    assert!(log.contains("refused to follow"), "{log}");
    (trap, emulator, work, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_content_uri_on_another_host_is_refused_and_dead_lettered_without_sending_the_token() {
    let (_trap, emulator, work, _log) =
        run_against_foreign_links(Duration::from_secs(3600), 200).await;

    assert!(work.delivered().is_empty(), "nothing came from the trap");
    assert_eq!(emulator.stats().blobs_served, 0);
    let dead = dead_letters(&work.path("state/state.db")).await;
    let dead_blobs: std::collections::BTreeSet<&str> = dead
        .iter()
        .map(|(_, content_id, _)| content_id.as_str())
        .collect();
    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    assert!(!expected.is_empty());
    for record in &expected {
        assert!(
            dead_blobs.contains(record.content_id.as_str()),
            "blob {} is dead-lettered: {dead:?}",
            record.content_id
        );
    }
    assert!(dead
        .iter()
        .all(|(_, _, reason)| reason.contains("does not point at the configured API host")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_page_link_to_another_host_is_refused_without_sending_the_token() {
    let (trap, _emulator, _work, log) =
        run_against_foreign_links(Duration::from_secs(600), 2).await;

    assert!(
        log.contains(&trap.url),
        "the log names the refused link: {log}"
    );
    assert!(!log.contains("Bearer"), "no token in the log: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_over_max_blob_bytes_is_refused_and_the_others_delivered() {
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(3 * 3600);
        config.blob_interval = Duration::from_secs(3600);
        config.records_per_blob = 20;
        config.huge_blob_bytes = Some(8 * 1024 * 1024);
    })
    .await;
    let work = Workdir::new();
    let config = work.config(
        &emulator.base_url(),
        SECRET,
        "[limits]\nmax_blob_bytes = 2_000_000\nmax_record_bytes = 65_536",
    );

    let output = run_once(&config).await;
    let log = text(&output);

    assert!(log.contains("limits.max_blob_bytes = 2000000"), "{log}");
    let dead = dead_letters(&work.path("state/state.db")).await;
    assert_eq!(dead.len(), 1, "only the huge blob is refused: {dead:?}");
    assert!(dead[0].2.contains("larger than limits.max_blob_bytes"));
    let delivered: Vec<String> = id_counts(&work.delivered()).into_keys().collect();
    assert!(
        !delivered.is_empty(),
        "the other blobs are delivered:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_with_more_pages_than_max_pages_per_window_is_refused() {
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(3 * 3600);
        config.blob_interval = Duration::from_secs(600);
        config.records_per_blob = 5;
        config.page_size = 2;
    })
    .await;
    let work = Workdir::new();
    let config = work.config(
        &emulator.base_url(),
        SECRET,
        "[limits]\nmax_pages_per_window = 3",
    );

    let output = run_once(&config).await;
    let log = text(&output);

    assert!(
        log.contains("more than limits.max_pages_per_window = 3 pages"),
        "{log}"
    );
    assert!(work.delivered().is_empty(), "no partial listing is used");
}
