//! The operator's commands besides `run` and `check`: `subscriptions list|start|stop` per tenant and
//! `state show|reset`, and a clean stop on SIGTERM while a sink is down.

#[path = "support/ops_kit.rs"]
mod ops_kit;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use atp_forwarder::emulator::{EmulatedTenant, Emulator};
use ops_kit::*;
use support::ATP_TYPES;

/// Two tenants (whose subscriptions the emulator may not have started), a file sink; returns the config
/// path.
fn config_for(emulator: &Emulator, dir: &Path, extra: &str) -> String {
    let collector = format!("poll_interval = \"1s\"\nshutdown_timeout = \"2s\"\n{extra}");
    two_tenant_config(dir, &emulator.base_url(), &collector)
}

async fn not_started(tenant: &OpsTenant) -> EmulatedTenant {
    EmulatedTenant {
        subscriptions_started: false,
        backfill_on_start: true,
        ..emulated(tenant)
    }
}

async fn run(args: &[&str]) -> (Option<i32>, String) {
    let (status, output) = Daemon::start(args, &[]).wait().await;
    (status.code(), output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_listed_started_and_stopped_per_tenant() {
    let emulator = start_emulator_with(vec![
        not_started(&GOOD).await,
        not_started(&NO_PERMISSION).await,
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&emulator, dir.path(), "");

    let (code, output) = run(&["subscriptions", "list", "--config", &config]).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(
        !output.contains("enabled"),
        "nothing started yet:\n{output}"
    );

    let (code, output) = run(&[
        "subscriptions",
        "start",
        "--tenant",
        "contoso",
        "--config",
        &config,
    ])
    .await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("contoso Audit.General enabled"), "{output}");
    assert!(emulator.subscription_enabled(GOOD.tenant_id, "Audit.General"));
    assert!(
        !emulator.subscription_enabled(NO_PERMISSION.tenant_id, "Audit.General"),
        "--tenant limits the command to one tenant"
    );

    let (code, output) = run(&["subscriptions", "list", "--config", &config]).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("contoso Audit.General enabled"), "{output}");
    assert!(!output.contains("tailspin Audit.General"), "{output}");

    let (code, output) = run(&[
        "subscriptions",
        "stop",
        "--tenant",
        "contoso",
        "--config",
        &config,
    ])
    .await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("contoso Audit.General stopped"), "{output}");
    assert!(!emulator.subscription_enabled(GOOD.tenant_id, "Audit.General"));
    let (_, output) = run(&["subscriptions", "list", "--config", &config]).await;
    assert!(
        output.contains("contoso Audit.General disabled"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_refusing_subscriptions_fails_the_command_with_the_reason() {
    let forbidden = EmulatedTenant {
        activity_feed_read: false,
        ..not_started(&NO_PERMISSION).await
    };
    let emulator = start_emulator_with(vec![not_started(&GOOD).await, forbidden]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&emulator, dir.path(), "");
    let (code, output) = run(&["subscriptions", "start", "--config", &config]).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("contoso Audit.General enabled"), "{output}");
    assert!(
        output.contains("tenant tailspin") && output.contains("AF10001"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_show_reports_each_stream_and_reset_makes_the_next_run_start_over() {
    let emulator = start_emulator_with(vec![emulated(&GOOD), emulated(&NO_PERMISSION)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&emulator, dir.path(), "");
    let events = dir.path().join("events.jsonl");
    let expected = emulator.expected_records(GOOD.tenant_id, &ATP_TYPES).len()
        + emulator
            .expected_records(NO_PERMISSION.tenant_id, &ATP_TYPES)
            .len();

    let (code, output) = run(&["run", "--once", "--config", &config]).await;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(delivered_ids(&events).len(), expected);

    let (code, output) = run(&["state", "show", "--config", &config]).await;
    assert_eq!(code, Some(0), "{output}");
    let row = |output: &str, stream: &str| {
        output
            .lines()
            .find(|line| line.starts_with(stream))
            .map(str::to_string)
    };
    let contoso = row(&output, "contoso/Audit.General")
        .unwrap_or_else(|| panic!("a row per stream:\n{output}"));
    // … BLOBS DEAD-LETTERS OWNER: the owner is `-` without cluster mode.
    let blobs: u64 = contoso
        .split_whitespace()
        .rev()
        .nth(2)
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("a blob count: {contoso}"));
    assert!(blobs > 0, "{contoso}");
    assert!(row(&output, "tailspin/Audit.General").is_some(), "{output}");

    // One stream: its checkpoint and committed blobs go; record Ids stay, so nothing is delivered twice.
    let (code, output) = run(&["state", "reset", "--tenant", "contoso", "--config", &config]).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("reset contoso/Audit.General"), "{output}");
    let (_, output) = run(&["state", "show", "--config", &config]).await;
    assert!(row(&output, "contoso/Audit.General").is_none(), "{output}");
    assert!(row(&output, "tailspin/Audit.General").is_some(), "{output}");
    let (code, output) = run(&["run", "--once", "--config", &config]).await;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(delivered_ids(&events).len(), expected, "no duplicates");
    let (_, output) = run(&["state", "show", "--config", &config]).await;
    assert!(
        row(&output, "contoso/Audit.General").is_some(),
        "listed and committed again:\n{output}"
    );

    // Everything: record Ids go too, and the next run delivers the history again.
    let (code, output) = run(&["state", "reset", "--config", &config]).await;
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("reset every stream"), "{output}");
    let (code, output) = run(&["run", "--once", "--config", &config]).await;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(delivered_ids(&events).len(), 2 * expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_a_sink_is_down_stops_within_the_shutdown_timeout_with_exit_0() {
    let emulator = start_emulator_with(vec![emulated(&GOOD), emulated(&NO_PERMISSION)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&emulator, dir.path(), "");
    // The sink's "directory" is a file: every send fails and is retried.
    write_file(dir.path(), "blocker", "not a directory");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &dir.path().join("events.jsonl").display().to_string(),
        &dir.path()
            .join("blocker/events.jsonl")
            .display()
            .to_string(),
    );
    std::fs::write(&config, text).unwrap();
    let daemon = Daemon::start(&["run", "--config", &config], &[]);
    daemon.wait_for_line("sink did not acknowledge").await;
    // Let the streams fill the sink's queue and wait on it.
    daemon.wait_for_line("attempt=2").await;
    let asked = Instant::now();
    daemon.terminate();
    let (status, output) = daemon.wait().await;
    assert!(status.success(), "{output}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "stopped in {:?} (shutdown_timeout is 2 s)",
        asked.elapsed()
    );
    assert!(
        output.contains("did not drain in time"),
        "says what happens to the undelivered events:\n{output}"
    );
}
