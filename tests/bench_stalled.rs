//! Phase 3's stalled sink (`bench --phases stalled`), here with the test build of the daemon: it must
//! report the daemon's peak RSS while a TCP syslog receiver never reads, and it must refuse a run in which
//! the sink never stalled, since its number would then say nothing about a SIEM that is down.

use std::process::{Command, Output};

fn stalled(daemon: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args([
            "--daemon",
            daemon,
            "--phases",
            "stalled",
            "--stall-hold",
            "15s",
        ])
        .env("BENCH_WRAP", "")
        .output()
        .expect("bench runs")
}

#[test]
fn a_stalled_sink_reports_the_peak_rss_of_a_daemon_that_kept_running() {
    let out = stalled(env!("CARGO_BIN_EXE_atp-forwarder"));
    let log = String::from_utf8_lossy(&out.stderr);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench --phases stalled failed:\n{log}"
    );
    let row = table
        .lines()
        .find(|line| line.starts_with("| (a) syslog TCP, ecs, receiver never reads |"))
        .unwrap_or_else(|| panic!("no stalled-sink row:\n{table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | target | history records | ATP records | records fetched | CPU s | peak RSS MiB |
    let fetched: u64 = cells[4].parse().expect("records fetched");
    let rss: f64 = cells[6].parse().expect("peak RSS");
    assert!(fetched > 0, "the daemon fetched nothing: {row}");
    assert!(rss > 1.0, "no peak RSS measured: {row}");
    assert!(
        table.contains("| peak RSS, sink stalled 15 s, 2 % ATP (ours) | ≤ 64 MiB |"),
        "no target row:\n{table}"
    );
}

#[test]
fn a_run_whose_sink_never_stalled_is_refused() {
    // `true` exits 0 at once, whatever its arguments: its sink never had anything to stall on.
    let out = stalled("/bin/true");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a run without a stall passed:\n{log}"
    );
    assert!(
        log.contains("the sink never stalled"),
        "the failure does not say why:\n{log}"
    );
}
