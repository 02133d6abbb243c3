//! RELP against a real rsyslogd (`imrelp`, Debian package `rsyslog-relp`): thousands of events over RELP and
//! RELP+TLS, and a receiver killed with SIGKILL mid-stream loses nothing (compared with plain TCP).

#[path = "support/rsyslog.rs"]
mod rsyslog;
#[path = "support/syslog_events.rs"]
mod syslog_events;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use rsyslog::{Listeners, Rsyslog};
use syslog_events::{batches, deliver, events, sink};

const COUNT: usize = 3000;

/// Record Ids found in rsyslog's output with how often each arrived.
fn ids(received: &[Value]) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for message in received {
        let sd = message["structured_data"].as_str().unwrap_or_default();
        if let Some((_, rest)) = sd.split_once(" id=\"") {
            let id = rest.split('"').next().unwrap_or_default();
            *ids.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    ids
}

fn relp_tls_config(rsyslog: &Rsyslog) -> Value {
    json!({
        "transport": "relp+tls",
        "address": rsyslog.address("relp_tls"),
        "ca_file": rsyslog.pki.ca_cert,
        "client_cert_file": rsyslog.pki.client_cert,
        "client_key_file": rsyslog.pki.client_key,
    })
}

async fn delivers_thousands(rsyslog: &Rsyslog, listener: &str, config: Value) {
    let events = events(COUNT, "5e1f", true);
    let mut sink = sink(config);
    for batch in batches(&events, 500) {
        deliver(sink.as_mut(), &batch, Duration::from_secs(30)).await;
    }
    let received = rsyslog
        .wait_for(listener, Duration::from_secs(30), |r| ids(r).len() >= COUNT)
        .await;
    let ids = ids(&received);
    for event in events.iter() {
        assert!(
            ids.contains_key(&event.record.id),
            "{} missing",
            event.record.id
        );
    }
    let first = &received[0];
    assert_eq!(first["app_name"], "atp-forwarder");
    assert!(!first["msgid"].as_str().unwrap_or_default().is_empty());
}

#[tokio::test]
async fn relp_delivers_thousands_of_events() {
    let rsyslog = Rsyslog::start(Listeners {
        relp: true,
        ..Default::default()
    });
    let config = json!({ "transport": "relp", "address": rsyslog.address("relp") });
    delivers_thousands(&rsyslog, "relp", config).await;
}

#[tokio::test]
async fn relp_over_mutual_tls_delivers_thousands_of_events() {
    let rsyslog = Rsyslog::start(Listeners {
        relp_tls: true,
        ..Default::default()
    });
    let config = relp_tls_config(&rsyslog);
    delivers_thousands(&rsyslog, "relp_tls", config).await;
}

#[tokio::test]
async fn probe_opens_and_closes_a_relp_session() {
    let rsyslog = Rsyslog::start(Listeners {
        relp: true,
        relp_tls: true,
        ..Default::default()
    });
    let mut relp = sink(json!({ "transport": "relp", "address": rsyslog.address("relp") }));
    relp.probe().await.expect("RELP probe");
    let mut relp_tls = sink(relp_tls_config(&rsyslog));
    relp_tls.probe().await.expect("RELP+TLS probe");
    // A plain TCP syslog listener does not speak RELP.
    let mut wrong =
        sink(json!({ "transport": "relp", "address": rsyslog.address("tcp"), "timeout": "1s" }));
    let error = wrong.probe().await.expect_err("not a RELP listener");
    assert!(error.to_string().contains("RELP"), "{error}");
}

/// Streams COUNT events in batches of 100; once a third arrived, kills rsyslogd with SIGKILL, starts it again
/// after 2 s, and counts the events that never arrived.
async fn lost_after_a_sigkill(mut rsyslog: Rsyslog, listener: &str, config: Value) -> usize {
    let events = events(COUNT, "9a1b", false);
    let all_ids: Vec<String> = events.iter().map(|e| e.record.id.clone()).collect();
    let mut sink = sink(config);
    let sender = tokio::spawn(async move {
        let mut retries = 0;
        for batch in batches(&events, 100) {
            retries += deliver(sink.as_mut(), &batch, Duration::from_secs(60))
                .await
                .retries;
            // A steady stream, so that the kill lands in the middle of it.
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        retries
    });
    rsyslog
        .wait_for(listener, Duration::from_secs(30), |r| r.len() >= COUNT / 3)
        .await;
    rsyslog.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    rsyslog.restart();
    let retries = tokio::time::timeout(Duration::from_secs(90), sender)
        .await
        .expect("sender finishes after the restart")
        .expect("sender task");
    assert!(retries > 0, "the kill must have interrupted the stream");
    // Give rsyslog time to write what it acknowledged.
    let received = rsyslog
        .wait_for(listener, Duration::from_secs(10), |r| ids(r).len() >= COUNT)
        .await;
    let ids = ids(&received);
    let lost = all_ids.iter().filter(|id| !ids.contains_key(*id)).count();
    let duplicates: usize = ids.values().map(|n| n - 1).sum();
    println!(
        "{listener}: SIGKILL mid-stream: {lost} events lost, {duplicates} duplicates, {retries} retried sends"
    );
    lost
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relp_loses_nothing_when_rsyslog_is_killed_mid_stream() {
    let rsyslog = Rsyslog::start(Listeners {
        relp: true,
        ..Default::default()
    });
    let config = json!({ "transport": "relp", "address": rsyslog.address("relp") });
    assert_eq!(lost_after_a_sigkill(rsyslog, "relp", config).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_tcp_may_lose_events_when_rsyslog_is_killed_mid_stream() {
    // For comparison only: plain TCP has no acknowledgement, so a crashed receiver may take events with it
    // (the sink's replay window narrows this but cannot close it). The count is printed, not asserted.
    let rsyslog = Rsyslog::start(Listeners::default());
    let config = json!({ "transport": "tcp", "address": rsyslog.address("tcp") });
    lost_after_a_sigkill(rsyslog, "tcp", config).await;
}
