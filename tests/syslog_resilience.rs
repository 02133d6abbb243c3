//! The syslog sink when things go wrong, against a real rsyslogd: a receiver outage, an untrusted or
//! unwilling TLS receiver, UDP's size limit.

#[path = "support/rsyslog.rs"]
mod rsyslog;
#[path = "support/syslog_events.rs"]
mod syslog_events;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use atp_forwarder::sink::SendOutcome;
use serde_json::{json, Value};

use rsyslog::{Listeners, Rsyslog, TlsListener};
use syslog_events::{batches, deliver, events, sink};

/// Record Ids found in rsyslog's output with how often each arrived (RFC 5424 structured data).
fn ids(received: &[Value]) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for message in received {
        let sd = message["structured_data"].as_str().unwrap_or_default();
        if let Some(rest) = sd.split_once(" id=\"").map(|(_, rest)| rest) {
            let id = rest.split('"').next().unwrap_or_default();
            *ids.entry(id.to_string()).or_insert(0) += 1;
        }
    }
    ids
}

/// Streams 600 events in batches of 20; once a third has arrived, stops rsyslogd (SIGTERM) for 10 s and
/// starts it again. Every event must arrive; the sink must have reconnected by itself.
async fn no_event_is_lost_over_a_10s_outage(mut rsyslog: Rsyslog, listener: &str, config: Value) {
    const COUNT: usize = 600;
    let events = events(COUNT, "7e11", true);
    let mut sink = sink(config);
    let sender = tokio::spawn(async move {
        let mut retries = 0;
        for batch in batches(&events, 20) {
            retries += deliver(sink.as_mut(), &batch, Duration::from_secs(60))
                .await
                .retries;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        retries
    });
    let before = rsyslog
        .wait_for(listener, Duration::from_secs(30), |r| r.len() >= COUNT / 3)
        .await;
    assert!(before.len() >= COUNT / 3, "{}", rsyslog.log());
    rsyslog.stop();
    let stopped = Instant::now();
    let at_stop = rsyslog.received(listener).len();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        rsyslog.received(listener).len(),
        at_stop,
        "nothing can arrive while rsyslogd is down"
    );
    rsyslog.restart();
    let retries = tokio::time::timeout(Duration::from_secs(90), sender)
        .await
        .expect("sender finishes after the restart")
        .expect("sender task");
    let received = rsyslog
        .wait_for(listener, Duration::from_secs(20), |r| ids(r).len() >= COUNT)
        .await;
    let ids = ids(&received);
    let duplicates: usize = ids.values().map(|n| n - 1).sum();
    println!(
        "{listener}: {at_stop} received before the stop, {:?} from the stop to the last delivery, \
         {retries} retried sends, {} distinct events, {duplicates} duplicates (resent after reconnecting)",
        stopped.elapsed(),
        ids.len()
    );
    assert!(retries > 0, "the outage must have been noticed");
    assert_eq!(ids.len(), COUNT, "every event arrives:\n{}", rsyslog.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_loses_no_event_when_rsyslog_stops_for_10s() {
    let rsyslog = Rsyslog::start(Listeners::default());
    let config = json!({ "transport": "tcp", "address": rsyslog.address("tcp") });
    no_event_is_lost_over_a_10s_outage(rsyslog, "tcp", config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_loses_no_event_when_rsyslog_stops_for_10s() {
    let rsyslog = Rsyslog::start(Listeners {
        tls: Some(TlsListener::Mutual),
        ..Default::default()
    });
    let config = json!({
        "transport": "tls",
        "address": rsyslog.address("tls"),
        "ca_file": rsyslog.pki.ca_cert,
        "client_cert_file": rsyslog.pki.client_cert,
        "client_key_file": rsyslog.pki.client_key,
    });
    no_event_is_lost_over_a_10s_outage(rsyslog, "tls", config).await;
}

#[tokio::test]
async fn an_untrusted_tls_receiver_is_refused_with_a_clear_error() {
    let rsyslog = Rsyslog::start(Listeners {
        tls: Some(TlsListener::Rogue),
        ..Default::default()
    });
    for ca_file in [Some(&rsyslog.pki.ca_cert), None] {
        let mut config = json!({ "transport": "tls", "address": rsyslog.address("tls") });
        if let Some(ca_file) = ca_file {
            config["ca_file"] = json!(ca_file);
        }
        let mut sink = sink(config);
        let error = sink
            .probe()
            .await
            .expect_err("untrusted certificate refused");
        let message = error.to_string();
        assert!(
            message.contains("certificate is not trusted") && message.contains("ca_file"),
            "{message}"
        );
        assert!(message.contains(&rsyslog.address("tls")), "{message}");

        let batch = &batches(&events(3, "0bad", false), 3)[0];
        match sink.send(batch).await {
            SendOutcome::Retry { error, .. } => {
                assert!(error.to_string().contains("not trusted"), "{error}")
            }
            other => panic!("expected Retry, got {other:?}"),
        }
    }
    assert!(rsyslog.received("tls").is_empty());
}

#[tokio::test]
async fn tls_verify_false_accepts_an_untrusted_receiver() {
    let rsyslog = Rsyslog::start(Listeners {
        tls: Some(TlsListener::Rogue),
        ..Default::default()
    });
    let config =
        json!({ "transport": "tls", "address": rsyslog.address("tls"), "tls_verify": false });
    let mut sink = sink(config);
    let batch = &batches(&events(5, "0f0f", false), 5)[0];
    deliver(sink.as_mut(), batch, Duration::from_secs(10)).await;
    let received = rsyslog
        .wait_for("tls", Duration::from_secs(10), |r| r.len() >= 5)
        .await;
    assert_eq!(received.len(), 5);
}

#[tokio::test]
async fn a_receiver_requiring_a_client_certificate_refuses_us_with_a_clear_error() {
    let rsyslog = Rsyslog::start(Listeners {
        tls: Some(TlsListener::Mutual),
        ..Default::default()
    });
    let config = json!({
        "transport": "tls", "address": rsyslog.address("tls"), "ca_file": rsyslog.pki.ca_cert,
    });
    let mut sink = sink(config);
    let error = sink.probe().await.expect_err("no client certificate");
    assert!(error.to_string().contains("client_cert_file"), "{error}");
    let batch = &batches(&events(3, "0c0c", false), 3)[0];
    assert!(matches!(sink.send(batch).await, SendOutcome::Retry { .. }));
}

#[tokio::test]
async fn probe_connects_and_handshakes() {
    let rsyslog = Rsyslog::start(Listeners {
        udp: true,
        tls: Some(TlsListener::Mutual),
        ..Default::default()
    });
    let mut tls = sink(json!({
        "transport": "tls", "address": rsyslog.address("tls"), "ca_file": rsyslog.pki.ca_cert,
        "client_cert_file": rsyslog.pki.client_cert, "client_key_file": rsyslog.pki.client_key,
    }));
    tls.probe().await.expect("TLS probe");
    let mut tcp = sink(json!({ "transport": "tcp", "address": rsyslog.address("tcp") }));
    tcp.probe().await.expect("TCP probe");
    let mut udp = sink(json!({ "transport": "udp", "address": rsyslog.address("udp") }));
    udp.probe()
        .await
        .expect("UDP probe (best effort: nothing to confirm)");
    rsyslog_stopped_probe_fails(rsyslog).await;
}

async fn rsyslog_stopped_probe_fails(mut rsyslog: Rsyslog) {
    let address = rsyslog.address("tcp");
    rsyslog.stop();
    let mut tcp = sink(json!({ "transport": "tcp", "address": address }));
    let error = tcp.probe().await.expect_err("nobody listens");
    assert!(error.to_string().contains(&address), "{error}");
}

#[tokio::test]
async fn udp_truncates_long_messages_to_a_valid_datagram() {
    let rsyslog = Rsyslog::start(Listeners {
        udp: true,
        ..Default::default()
    });
    // Every 50th event carries about 12 KB; the default limit over UDP is 2048 bytes.
    let events = events(100, "0d0d", true);
    let mut sink = sink(json!({ "transport": "udp", "address": rsyslog.address("udp") }));
    let mut sent = 0;
    for batch in batches(&events, 25) {
        deliver(sink.as_mut(), &batch, Duration::from_secs(10)).await;
        sent += batch.len();
        // Pace datagrams so that the receiver's socket buffer never overflows.
        rsyslog
            .wait_for("udp", Duration::from_secs(10), |r| r.len() >= sent)
            .await;
    }
    let received = rsyslog
        .wait_for("udp", Duration::from_secs(10), |r| r.len() >= 100)
        .await;
    let ids = ids(&received);
    assert_eq!(received.len(), 100, "{}", rsyslog.log());
    for event in events.iter() {
        assert_eq!(ids.get(&event.record.id), Some(&1), "{}", event.record.id);
    }
    let mut truncated = 0;
    for message in &received {
        let msg = message["msg"].as_str().unwrap_or_default();
        let sd = message["structured_data"].as_str().unwrap_or_default();
        let id = sd.split('"').nth(1).unwrap_or_default();
        let event = events.iter().find(|e| e.record.id == id).expect("known id");
        let raw: &str = &event.record.raw;
        if msg.len() < raw.len() {
            truncated += 1;
            assert!(
                raw.starts_with(msg),
                "a truncated MSG is a prefix of the payload"
            );
            assert!(
                raw.len() > 2048 - 200 && msg.len() > 1500,
                "only long payloads are cut"
            );
        } else {
            assert_eq!(msg, raw);
        }
    }
    assert_eq!(truncated, 2, "events 49 and 99 are the long ones");
}
