//! The running daemon's telemetry: `/metrics` passes `promtool check metrics` and shows lag, deliveries and
//! errors per tenant; `/healthz` and `/readyz` answer JSON; systemd hears READY, STATUS, WATCHDOG and
//! STOPPING on its `NOTIFY_SOCKET`.

#[path = "support/ops_kit.rs"]
mod ops_kit;
mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ops_kit::*;
use support::ATP_TYPES;

/// A good tenant and one without the ActivityFeed.Read permission (AF10001), a file sink.
async fn good_and_forbidden(dir: &std::path::Path) -> (atp_forwarder::emulator::Emulator, String) {
    let emulator = start_emulator_with(vec![
        emulated(&GOOD),
        atp_forwarder::emulator::EmulatedTenant {
            activity_feed_read: false,
            ..emulated(&NO_PERMISSION)
        },
    ])
    .await;
    let collector = "poll_interval = \"1s\"\nshutdown_timeout = \"5s\"";
    let config = two_tenant_config(dir, &emulator.base_url(), collector);
    (emulator, config)
}

/// The value of the first sample of `name` whose labels contain every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_metrics_which_show_lag_deliveries_and_errors_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, config) = good_and_forbidden(dir.path()).await;
    let daemon = Daemon::start(&["run", "--config", &config], &[]);
    let addr = daemon.telemetry_addr().await;
    let expected: BTreeSet<String> = emulator
        .expected_records(GOOD.tenant_id, &ATP_TYPES)
        .into_iter()
        .map(|record| record.id)
        .collect();
    let events = dir.path().join("events.jsonl");
    if let Err(what) = wait_until("every record of the good tenant", || {
        let delivered: BTreeSet<String> = delivered_ids(&events).into_iter().collect();
        (delivered == expected).then_some(())
    })
    .await
    {
        panic!("{what}; output:\n{}", daemon.output());
    }
    // Scrape until the forbidden tenant's failure shows and the good stream's lag follows its commits
    // (both are updated on the next poll).
    let lag_of_contoso = |text: &str| {
        sample(
            text,
            "atp_forwarder_stream_lag_seconds",
            &["tenant=\"contoso\"", "content_type=\"Audit.General\""],
        )
    };
    let mut text = String::new();
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        let (status, body) = http_get(&addr, "/metrics").await;
        assert_eq!(status, 200);
        text = body;
        let forbidden_down =
            sample(&text, "atp_forwarder_tenant_up", &["tenant=\"tailspin\""]) == Some(0.0);
        if forbidden_down && lag_of_contoso(&text).is_some_and(|lag| lag < 600.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package prometheus; scripts/test.sh installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let delivered = sample(
        &text,
        "atp_forwarder_events_delivered_total",
        &["tenant=\"contoso\"", "sink=\"archive\""],
    );
    assert_eq!(delivered, Some(expected.len() as f64), "{text}");
    let lag = lag_of_contoso(&text).unwrap_or_else(|| panic!("no lag for contoso:\n{text}"));
    assert!(lag < 600.0, "caught up: lag {lag}s");
    let refused = sample(
        &text,
        "atp_forwarder_api_requests_total",
        &["tenant=\"tailspin\"", "outcome=\"refused\""],
    );
    assert!(refused.unwrap_or(0.0) >= 1.0, "AF10001 counted:\n{text}");
    let budget_wait = sample(
        &text,
        "atp_forwarder_api_budget_wait_seconds_total",
        &["tenant=\"contoso\""],
    );
    assert!(
        budget_wait.is_some_and(|seconds| seconds >= 0.0),
        "the budget wait is exported per tenant:\n{text}"
    );
    assert_eq!(
        sample(&text, "atp_forwarder_tenant_up", &["tenant=\"contoso\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "atp_forwarder_tenant_up", &["tenant=\"tailspin\""]),
        Some(0.0)
    );
    assert!(
        sample(
            &text,
            "atp_forwarder_token_refreshes_total",
            &["tenant=\"contoso\""]
        )
        .is_some(),
        "{text}"
    );
    assert_eq!(
        sample(&text, "atp_forwarder_sink_up", &["sink=\"archive\""]),
        Some(1.0)
    );

    let (status, body) = http_get(&addr, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("AF10001"),
        "the forbidden tenant's error: {body}"
    );
    assert!(body.contains("ActivityFeed.Read"), "and what to do: {body}");
    let (status, body) = http_get(&addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let liveness: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(liveness["healthy"], true);
    assert!(
        liveness["loops"].as_u64().unwrap() >= 3,
        "two streams and a sink: {body}"
    );

    daemon.terminate();
    let (status, output) = daemon.wait().await;
    assert!(status.success(), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_hears_ready_status_watchdog_and_stopping_on_its_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, config) = good_and_forbidden(dir.path()).await;
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let daemon = Daemon::start(
        &["run", "--config", &config],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            // Half of it, 250 ms, is how often the keep-alive comes.
            ("WATCHDOG_USEC", "500000"),
        ],
    );
    let received = tokio::task::spawn_blocking(move || {
        let mut messages: Vec<String> = Vec::new();
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        let complete = |messages: &[String]| {
            let has = |prefix: &str| {
                messages
                    .iter()
                    .any(|m| m.lines().any(|l| l.starts_with(prefix)))
            };
            has("READY=1") && has("WATCHDOG=1") && has("STATUS=")
        };
        while !complete(&messages) && started.elapsed() < DEADLINE {
            if let Ok(n) = socket.recv(&mut buf) {
                messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        (socket, messages)
    })
    .await
    .unwrap();
    let (socket, mut messages) = received;
    let all = messages.join("|");
    assert!(all.contains("READY=1"), "{all}\n{}", daemon.output());
    assert!(all.contains("WATCHDOG=1"), "{all}");
    let status = messages
        .iter()
        .flat_map(|m| m.lines())
        .find(|line| line.starts_with("STATUS=") && line.contains("events delivered"))
        .unwrap_or_else(|| panic!("a progress STATUS line: {all}"));
    assert!(status.contains("2 streams"), "{status}");
    assert!(status.contains("lag"), "{status}");

    daemon.terminate();
    let stopping = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        while started.elapsed() < DEADLINE {
            if let Ok(n) = socket.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = message.contains("STOPPING=1");
                messages.push(message);
                if done {
                    break;
                }
            }
        }
        messages
    })
    .await
    .unwrap();
    assert!(
        stopping.iter().any(|m| m.contains("STOPPING=1")),
        "{stopping:?}"
    );
    let (status, output) = daemon.wait().await;
    assert!(status.success(), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_notify_socket_or_with_endpoints_disabled_the_daemon_runs_as_usual() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, config) = good_and_forbidden(dir.path()).await;
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("listen = \"127.0.0.1:0\"", "listen = \"\"");
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&["run", "--once", "--config", &config], &[]);
    let (status, output) = daemon.wait().await;
    assert_eq!(
        status.code(),
        Some(1),
        "the forbidden tenant fails --once:\n{output}"
    );
    assert!(output.contains("telemetry endpoints disabled"), "{output}");
    assert!(output.contains("AF10001"), "{output}");
    let expected = emulator.expected_records(GOOD.tenant_id, &ATP_TYPES).len();
    assert_eq!(
        delivered_ids(&dir.path().join("events.jsonl")).len(),
        expected,
        "{output}"
    );
}
