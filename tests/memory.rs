//! Decoding a single 100 MB blob keeps the process's peak RSS under 64 MiB: the blob is streamed record by
//! record, never held whole.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_blob_is_decoded_in_under_64_mib() {
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(25 * 3600);
        config.blob_interval = Duration::from_secs(6 * 3600);
        config.records_per_blob = 5;
        config.huge_blob_bytes = Some(100 * 1024 * 1024);
    })
    .await;
    let work = Workdir::new();
    let config = work.config(&emulator.base_url(), SECRET, "");
    let output = run_binary(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    let stats = emulator.stats();
    assert!(stats.blobs_served > 0, "{stats:?}");
    let peak_kib: u64 = all
        .split("peak_rss_kib=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .expect("the run logs its peak RSS");
    let delivered = work.delivered().len();
    println!("100 MB blob: peak RSS {peak_kib} KiB, {delivered} ATP records delivered");
    assert!(
        delivered > 10_000,
        "the huge blob's ATP records were delivered ({delivered})"
    );
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB ≥ 64 MiB");
    emulator.shutdown().await;
}
