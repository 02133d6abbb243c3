//! The syslog sink against a real rsyslogd: every transport × protocol × framing combination delivers a few
//! hundred real-shaped events, and rsyslog's parsed view of each message is checked.

#[path = "support/rsyslog.rs"]
mod rsyslog;
#[path = "support/syslog_events.rs"]
mod syslog_events;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use rsyslog::{Listeners, Rsyslog, TlsListener};
use syslog_events::{batches, deliver, events, sink, TENANT};

const EVENTS: usize = 300;
const HOSTNAME: &str = "fwd-test-01";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// MSG arrives byte for byte (octet counting, UDP).
    Unchanged,
    /// LF framing: each LF of the payload arrives as a space.
    LfAsSpace,
}

/// The structured data we expect rsyslog to show for a record.
fn expected_sd(id: &str, record_type: i64) -> String {
    let tenant = TENANT
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]");
    format!("[o365@32473 id=\"{id}\" recordType=\"{record_type}\" tenant=\"{tenant}\"]")
}

fn text<'a>(message: &'a Value, key: &str) -> &'a str {
    message[key].as_str().unwrap_or_default()
}

/// Sends EVENTS events through a sink built from `config` (address filled in) to `listener` and checks that
/// rsyslog parsed every one as expected.
async fn delivers_every_event(
    rsyslog: &Rsyslog,
    listener: &str,
    mut config: Value,
    rfc5424: bool,
    expect: Expect,
) {
    config["address"] = json!(rsyslog.address(listener));
    config["hostname"] = json!(HOSTNAME);
    config["protocol"] = json!(if rfc5424 { "rfc5424" } else { "rfc3164" });
    let udp = config["transport"] == "udp";
    let mut sink = sink(config);
    let events = events(EVENTS, "3b2d", !udp);
    let batch_size = if udp { 25 } else { 50 };
    let mut sent = 0;
    for batch in batches(&events, batch_size) {
        deliver(sink.as_mut(), &batch, Duration::from_secs(20)).await;
        sent += batch.len();
        if udp {
            // Pace datagrams so that a loopback socket buffer never overflows.
            rsyslog
                .wait_for(listener, Duration::from_secs(10), |r| r.len() >= sent)
                .await;
        }
    }
    let received = rsyslog
        .wait_for(listener, Duration::from_secs(20), |r| r.len() >= EVENTS)
        .await;
    assert_eq!(received.len(), EVENTS, "rsyslog log:\n{}", rsyslog.log());

    let by_id: HashMap<&str, &atp_forwarder::event::Event> =
        events.iter().map(|e| (e.record.id.as_str(), e)).collect();
    let mut seen = HashMap::new();
    for message in &received {
        let mut msg = text(message, "msg");
        if !rfc5424 {
            // rsyslog keeps the space after the RFC 3164 TAG's colon as the first character of MSG.
            msg = msg.strip_prefix(' ').unwrap_or(msg);
        }
        // The payload is the raw record; its Id identifies the event (in RFC 3164 it is the only place).
        let payload: Value = serde_json::from_str(msg)
            .unwrap_or_else(|error| panic!("MSG is not the JSON record ({error}): {msg:?}"));
        let id = payload["Id"].as_str().expect("Id in payload");
        let event = by_id.get(id).unwrap_or_else(|| panic!("unknown Id {id}"));
        let record = &event.record;
        *seen.entry(id.to_string()).or_insert(0) += 1;

        let raw: &str = &record.raw;
        match expect {
            Expect::Unchanged => assert_eq!(msg, raw, "payload changed in transit"),
            Expect::LfAsSpace => assert_eq!(msg, raw.replace('\n', " ")),
        }
        assert_eq!(text(message, "hostname"), HOSTNAME);
        assert_eq!(text(message, "app_name"), "atp-forwarder");
        assert_eq!(text(message, "facility"), "16", "local0");
        // severity = "info" (6) by default, alert_severity = "warning" (4) for events that are alerts.
        let severity = if event.is_alert() { "4" } else { "6" };
        assert_eq!(text(message, "severity"), severity);
        if rfc5424 {
            assert_eq!(text(message, "protocol_version"), "1");
            assert_eq!(text(message, "msgid"), record.operation);
            assert_eq!(
                text(message, "structured_data"),
                expected_sd(&record.id, record.record_type)
            );
            assert!(
                text(message, "timestamp").starts_with(&record.creation_time),
                "timestamp {} for CreationTime {}",
                text(message, "timestamp"),
                record.creation_time
            );
        } else {
            assert_eq!(text(message, "syslogtag"), "atp-forwarder:");
            assert_eq!(text(message, "msgid"), "-");
            assert_eq!(text(message, "structured_data"), "-");
            // No year in RFC 3164: compare month, day and time.
            let timestamp = text(message, "timestamp");
            assert_eq!(&timestamp[5..19], &record.creation_time[5..19]);
        }
    }
    assert_eq!(seen.len(), EVENTS, "every event arrives");
    assert!(seen.values().all(|&count| count == 1), "no duplicates");
}

fn tls_config(rsyslog: &Rsyslog) -> Value {
    json!({
        "transport": "tls",
        "ca_file": rsyslog.pki.ca_cert,
        "client_cert_file": rsyslog.pki.client_cert,
        "client_key_file": rsyslog.pki.client_key,
    })
}

#[tokio::test]
async fn udp_rfc5424_delivers_every_event() {
    let rsyslog = Rsyslog::start(Listeners {
        udp: true,
        ..Default::default()
    });
    let config = json!({ "transport": "udp" });
    delivers_every_event(&rsyslog, "udp", config, true, Expect::Unchanged).await;
}

#[tokio::test]
async fn udp_rfc3164_delivers_every_event() {
    let rsyslog = Rsyslog::start(Listeners {
        udp: true,
        ..Default::default()
    });
    let config = json!({ "transport": "udp" });
    delivers_every_event(&rsyslog, "udp", config, false, Expect::Unchanged).await;
}

#[tokio::test]
async fn tcp_rfc5424_octet_counting_delivers_every_event_with_newlines_intact() {
    let rsyslog = Rsyslog::start(Listeners::default());
    let config = json!({ "transport": "tcp", "framing": "octet-counting" });
    delivers_every_event(&rsyslog, "tcp", config, true, Expect::Unchanged).await;
}

#[tokio::test]
async fn tcp_rfc5424_lf_framing_delivers_every_event_with_newlines_as_spaces() {
    let rsyslog = Rsyslog::start(Listeners::default());
    let config = json!({ "transport": "tcp", "framing": "lf" });
    delivers_every_event(&rsyslog, "tcp", config, true, Expect::LfAsSpace).await;
}

#[tokio::test]
async fn tcp_rfc3164_octet_counting_delivers_every_event() {
    let rsyslog = Rsyslog::start(Listeners::default());
    let config = json!({ "transport": "tcp" });
    delivers_every_event(&rsyslog, "tcp", config, false, Expect::Unchanged).await;
}

#[tokio::test]
async fn tcp_rfc3164_lf_framing_delivers_every_event() {
    let rsyslog = Rsyslog::start(Listeners::default());
    let config = json!({ "transport": "tcp", "framing": "lf" });
    delivers_every_event(&rsyslog, "tcp", config, false, Expect::LfAsSpace).await;
}

#[tokio::test]
async fn mutual_tls_rfc5424_delivers_every_event_with_newlines_intact() {
    let rsyslog = Rsyslog::start(Listeners {
        tls: Some(TlsListener::Mutual),
        ..Default::default()
    });
    let config = tls_config(&rsyslog);
    delivers_every_event(&rsyslog, "tls", config, true, Expect::Unchanged).await;
}

#[tokio::test]
async fn mutual_tls_rfc3164_delivers_every_event() {
    let rsyslog = Rsyslog::start(Listeners {
        tls: Some(TlsListener::Mutual),
        ..Default::default()
    });
    let config = tls_config(&rsyslog);
    delivers_every_event(&rsyslog, "tls", config, false, Expect::Unchanged).await;
}

#[tokio::test]
async fn tls_with_server_name_override_and_no_client_certificate_delivers_every_event() {
    let rsyslog = Rsyslog::start(Listeners {
        tls: Some(TlsListener::ServerOnly),
        ..Default::default()
    });
    let config = json!({
        "transport": "tls", "ca_file": rsyslog.pki.ca_cert, "server_name": "localhost",
    });
    delivers_every_event(&rsyslog, "tls", config, true, Expect::Unchanged).await;
}
