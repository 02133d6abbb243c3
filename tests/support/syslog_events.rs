//! Real-shaped Defender for Office 365 records for the syslog tests, sinks built from config values, and a
//! delivery loop that mirrors what the pipeline does with a sink's answer (resend on `Retry`).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use atp_forwarder::encode::Format;
use atp_forwarder::event::{Event, NormalizeContext, Record};
use atp_forwarder::sink::{EncodedBatch, ItemOutcome, SendOutcome, Sink, SinkConfig};
use bytestring::ByteString;
use serde_json::json;

/// The tenant name every test batch carries.
pub const TENANT: &str = "contoso \"prod\" [eu]";

/// Subjects that break naive framing and escaping.
const SUBJECTS: [&str; 6] = [
    "Invoice #4711 \"URGENT\" ] please pay",
    "Line one\nLine two\r\nLine three",
    "Réservation confirmée — 日本語の件名 — 😀",
    "[EXTERNAL] ]] \\\\server\\share \\ backslashes",
    "tab\there = equals | pipe",
    "",
];

/// Operation and record type of the four ATP record kinds, cycling.
const KINDS: [(&str, i64); 4] = [
    ("TIMailData", 28),
    ("TIUrlClickData", 41),
    ("AtpDetection", 47),
    ("AirInvestigationData", 64),
];

/// `count` events; every third raw record is pretty-printed so that its bytes contain raw newlines, and every
/// 50th carries a large attachment list (about 12 KB) when `large` is true.
pub fn events(count: usize, seed: &str, large: bool) -> Arc<Vec<Event>> {
    let context = NormalizeContext {
        tenant: TENANT.into(),
        fetched_at: chrono::Utc::now(),
        dataset: "Audit.General".into(),
        include_original: true,
    };
    let events: Vec<Event> = (0..count)
        .map(|index| {
            let (operation, record_type) = KINDS[index % KINDS.len()];
            let id = format!("{seed}-{index:06}-4c1e-9a7e-2f4a0b6c8d10");
            let creation_time = format!("2025-11-24T10:{:02}:{:02}", (index / 60) % 60, index % 60);
            let attachments: Vec<_> = if large && index % 50 == 49 {
                (0..120)
                    .map(|n| json!({ "FileName": format!("report-{n}.docm"), "SHA256": "ab".repeat(32), "FileVerdict": 1 }))
                    .collect()
            } else {
                vec![json!({ "FileName": "invoice.pdf", "FileType": "pdf", "FileVerdict": 0 })]
            };
            let value = json!({
                "CreationTime": creation_time,
                "Id": id,
                "Operation": operation,
                "OrganizationId": "4f1c2a9e-0000-4b7d-9c3a-1e2d3c4b5a69",
                "RecordType": record_type,
                "UserKey": "ThreatIntelligence",
                "UserType": 4,
                "Version": 1,
                "Workload": "ThreatIntelligence",
                "UserId": "ThreatIntelligence",
                "Subject": SUBJECTS[index % SUBJECTS.len()],
                "P1Sender": "attacker@evil.example",
                "Recipients": ["alice@contoso.example"],
                "Verdict": if index % 2 == 0 { "Phish" } else { "Malware" },
                "AttachmentData": attachments,
            });
            let raw = if index % 3 == 0 {
                serde_json::to_vec_pretty(&value)
            } else {
                serde_json::to_vec(&value)
            }
            .expect("record serializes");
            let record = Record {
                raw: ByteString::try_from(raw).expect("a serialized record is UTF-8"),
                id,
                record_type,
                operation: operation.to_string(),
                creation_time,
                large: Default::default(),
                single_line: false,
            };
            Event::from_record(record, &context)
        })
        .collect();
    Arc::new(events)
}

/// Batches of `size` events encoded as `json` (the raw records).
pub fn batches(events: &Arc<Vec<Event>>, size: usize) -> Vec<EncodedBatch> {
    (0..events.len())
        .step_by(size)
        .map(|start| {
            let end = (start + size).min(events.len());
            EncodedBatch::encode(Format::Json, TENANT.into(), events.clone(), start..end)
        })
        .collect()
}

/// A validated, built syslog sink from config values (`name` and `format` are filled in).
pub fn sink(values: serde_json::Value) -> Box<dyn Sink> {
    let mut values = values;
    values["type"] = json!("syslog");
    values["name"] = json!("soc-syslog");
    let mut config: SinkConfig = serde_json::from_value(values).expect("sink config deserializes");
    let problems = config.validate();
    assert!(problems.is_empty(), "config problems: {problems:?}");
    config.build().expect("sink builds")
}

/// What a delivery took.
#[derive(Debug, Default)]
pub struct Delivery {
    /// `send` calls that returned Retry (whole or in part).
    pub retries: usize,
    /// The error texts seen on the way.
    pub errors: Vec<String>,
}

/// Sends `batch` until every item is delivered, resending what the sink says to retry (waiting
/// `retry_after`, else 100 ms), like the pipeline does. Panics on a rejection or after `timeout`.
pub async fn deliver(sink: &mut dyn Sink, batch: &EncodedBatch, timeout: Duration) -> Delivery {
    let deadline = Instant::now() + timeout;
    let mut pending = batch.clone();
    let mut delivery = Delivery::default();
    loop {
        let wait = match sink.send(&pending).await {
            SendOutcome::Delivered => return delivery,
            SendOutcome::Retry { error, retry_after } => {
                delivery.errors.push(error.to_string());
                retry_after
            }
            SendOutcome::Rejected { reason } => panic!("batch rejected: {reason}"),
            SendOutcome::Closed { error } => panic!("a syslog sink never closes for good: {error}"),
            SendOutcome::Partial(outcomes) => {
                let mut retry = Vec::new();
                let mut wait = None;
                for (position, outcome) in outcomes.iter().enumerate() {
                    match outcome {
                        ItemOutcome::Delivered => {}
                        ItemOutcome::Retry {
                            reason,
                            retry_after,
                        } => {
                            delivery.errors.push(reason.clone());
                            wait = wait.or(*retry_after);
                            retry.push(position);
                        }
                        ItemOutcome::Rejected { reason } => panic!("item rejected: {reason}"),
                    }
                }
                if retry.is_empty() {
                    return delivery;
                }
                pending = pending.subset(&retry);
                wait
            }
        };
        delivery.retries += 1;
        assert!(
            Instant::now() < deadline,
            "not delivered within {timeout:?}; errors: {:?}",
            delivery.errors.first()
        );
        tokio::time::sleep(
            wait.unwrap_or(Duration::from_millis(100))
                .min(Duration::from_secs(2)),
        )
        .await;
    }
}
