//! The training run of the profile-guided release build (`bench --phases train`, run by
//! `scripts/release-build.sh` with instrumented binaries), here with the test build of the daemon: it must
//! deliver every ATP record in every format, and it must fail when a daemon delivers nothing, so that a
//! broken instrumented build never trains the release one.

use std::process::{Command, Output};

fn train(daemon: &str, blobs: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(["--daemon", daemon, "--phases", "train", "--blobs", blobs])
        .args(["--records-per-blob", "150"])
        .env("BENCH_WRAP", "")
        .output()
        .expect("bench runs")
}

#[test]
fn the_training_run_delivers_every_atp_record_in_every_format() {
    let out = train(env!("CARGO_BIN_EXE_atp-forwarder"), "3");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench --phases train failed:\n{log}");
    for target in [
        "(a) syslog TCP, ecs",
        "(b) file, json",
        "(training) file, cef",
        "(training) file, leef",
    ] {
        let line = log
            .lines()
            .find(|line| line.contains(&format!("training, {target}:")))
            .unwrap_or_else(|| panic!("no training line for {target}:\n{log}"));
        let counts = line
            .split(", ")
            .find(|part| part.ends_with("ATP events delivered"))
            .and_then(|part| part.split_whitespace().next())
            .and_then(|counts| counts.split_once('/'))
            .unwrap_or_else(|| panic!("no delivered count in {line:?}"));
        assert_eq!(counts.0, counts.1, "{line}");
        assert_ne!(counts.0, "0", "{line}");
    }
    // Nothing but the log: the training run prints no table.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_training_run_fails_when_the_daemon_delivers_nothing() {
    // `true` exits 0 at once, whatever its arguments: a "daemon" that delivers nothing.
    let out = train("/bin/true", "1");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an empty delivery passed:\n{log}");
    assert!(
        log.contains("delivered 0 of"),
        "the failure does not say what was missing:\n{log}"
    );
}
