//! `batch_timeout` of the HTTP sinks, through the real binary: queued batches of several blobs are joined
//! into fuller requests (at most `batch_max_events`), and with `batch_timeout = "0s"` each blob's batch is
//! sent as it comes. Either way every ATP record arrives, and the blobs commit.

mod support;

#[path = "support/generic_http_server.rs"]
mod generic_http_server;
#[path = "support/http_sink_kit.rs"]
mod http_sink_kit;

use std::time::Duration;

use generic_http_server::{Expect, GenericServer};
use support::*;

/// Runs `run --once` over a history of many small blobs into an `http` sink with the given `batch_timeout`;
/// returns the number of events in each request the receiver accepted, and the most ATP records in one blob.
async fn request_sizes(batch_timeout: &str, max_events: usize) -> (Vec<usize>, usize) {
    let server = GenericServer::new(Expect {
        authorization: None,
        content_type: "application/x-ndjson",
        gzip: false,
        max_body: None,
        refuse: None,
        header: None,
    });
    let url = http_sink_kit::spawn(server.router()).await;
    let emulator = start_emulator(|config| {
        config.history = Duration::from_secs(4 * 3600);
        config.blob_interval = Duration::from_secs(300);
        config.records_per_blob = 20;
    })
    .await;
    let work = Workdir::new();
    let sink = format!(
        "\n[[sinks]]\nname = \"collector\"\ntype = \"http\"\nurl = \"{url}/ingest\"\n\
         batch_max_events = {max_events}\nbatch_timeout = \"{batch_timeout}\"\n"
    );
    let config = work.config(&emulator.base_url(), SECRET, &sink);
    let output = run_binary(&["run", "--once", "--config", config.to_str().unwrap()]).await;
    assert!(output.status.success(), "{}", text(&output));

    let expected = emulator.expected_records(TENANT_ID, &ATP_TYPES);
    assert_eq!(server.log.violations(), Vec::<String>::new());
    let mut received = server.ids();
    received.dedup();
    assert_eq!(
        received,
        expected_ids(&expected),
        "every ATP record arrives"
    );
    let mut per_blob = std::collections::BTreeMap::new();
    for record in &expected {
        *per_blob.entry(record.content_id.clone()).or_insert(0usize) += 1;
    }
    let largest_blob = per_blob.values().copied().max().unwrap_or(0);
    let sizes = server.sizes.lock().unwrap().clone();
    (sizes, largest_blob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_several_blobs_are_joined_up_to_batch_max_events() {
    let (sizes, largest_blob) = request_sizes("2s", 40).await;
    assert!(
        sizes.iter().all(|&size| size <= 40),
        "no request over batch_max_events: {sizes:?}"
    );
    assert!(
        sizes.iter().any(|&size| size > largest_blob),
        "some request holds more than one blob's events (largest blob {largest_blob}): {sizes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_batch_timeout_sends_each_blob_as_it_comes() {
    let (sizes, largest_blob) = request_sizes("0s", 40).await;
    assert!(
        sizes.iter().all(|&size| size <= largest_blob),
        "no request holds more than one blob's events (largest blob {largest_blob}): {sizes:?}"
    );
}
