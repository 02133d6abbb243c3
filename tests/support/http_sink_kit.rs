//! Shared set-up for the HTTP sink tests: events, sinks built from config, a retry loop that mirrors the
//! pipeline's, and the bits every test server needs (spawning, gzip, throttling, a request log).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atp_forwarder::encode::Format;
use atp_forwarder::event::{Event, NormalizeContext, Record};
use atp_forwarder::sink::{EncodedBatch, ItemOutcome, SendOutcome, Sink, SinkConfig};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Events per batch, as the pipeline hands them over by default.
pub const PIPELINE_BATCH: usize = 500;

/// `n` ATP-like events with unique Ids, CreationTimes spread over five days of November 2025, and a `Padding`
/// field of `pad` bytes.
pub fn events(n: usize, pad: usize) -> Arc<Vec<Event>> {
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let id = uuid::Uuid::new_v4().to_string();
            let creation_time = format!(
                "2025-11-{:02}T10:{:02}:{:02}",
                20 + i % 5,
                (i / 60) % 60,
                i % 60
            );
            let raw = serde_json::json!({
                "CreationTime": creation_time,
                "Id": id,
                "Operation": "TIMailData",
                "RecordType": 28,
                "Workload": "ThreatIntelligence",
                "Subject": format!("Invoice \"{i}\"\nline two"),
                "DeliveryAction": "Blocked",
                "Padding": "p".repeat(pad),
            });
            event_from(raw, &id, &creation_time)
        })
        .collect();
    Arc::new(events)
}

/// An event of type 28 with this raw record.
pub fn event_from(raw: serde_json::Value, id: &str, creation_time: &str) -> Event {
    let context = NormalizeContext {
        tenant: "contoso".into(),
        fetched_at: chrono::Utc::now(),
        dataset: "Audit.General".into(),
        include_original: false,
    };
    let record = Record {
        raw: raw.to_string().into(),
        id: id.to_string(),
        record_type: 28,
        operation: "TIMailData".into(),
        creation_time: creation_time.to_string(),
        large: Default::default(),
        single_line: false,
    };
    Event::from_record(record, &context)
}

/// The events in pipeline-sized batches.
pub fn batches(events: &Arc<Vec<Event>>, format: Format) -> Vec<EncodedBatch> {
    (0..events.len())
        .step_by(PIPELINE_BATCH)
        .map(|start| {
            let end = (start + PIPELINE_BATCH).min(events.len());
            EncodedBatch::encode(format, "contoso".into(), events.clone(), start..end)
        })
        .collect()
}

/// The record Ids of `events`, sorted.
pub fn ids(events: &[Event]) -> Vec<String> {
    let mut ids: Vec<String> = events.iter().map(|e| e.record.id.clone()).collect();
    ids.sort();
    ids
}

/// Validates a sink config given as JSON (as TOML would give it) and returns the problems' keys.
pub fn problems(config: serde_json::Value) -> Vec<String> {
    let mut config: SinkConfig = serde_json::from_value(config).expect("config shape");
    config.validate().into_iter().map(|(key, _)| key).collect()
}

/// Builds a sink from a config given as JSON; panics on a validation problem.
pub fn build(config: serde_json::Value) -> Box<dyn Sink> {
    let mut config: SinkConfig = serde_json::from_value(config).expect("config shape");
    let problems = config.validate();
    assert!(problems.is_empty(), "config problems: {problems:?}");
    config.build().expect("sink builds")
}

/// A file holding `secret` (with a trailing newline, as editors leave it); deleted when dropped.
pub fn secret_file(secret: &str) -> tempfile::TempPath {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), format!("{secret}\n")).expect("write secret");
    file.into_temp_path()
}

/// What the retry loop saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Events acknowledged.
    pub delivered: usize,
    /// Rejected events: record Id and reason.
    pub rejected: Vec<(String, String)>,
    /// Calls to `send`.
    pub sends: usize,
    /// Waits between sends.
    pub waits: Vec<Duration>,
}

/// Sends `batch` the way the pipeline does: on `Retry` waits `retry_after` (or a doubling backoff from 100 ms)
/// and resends; on `Partial` counts the delivered, keeps the rejected and resends only the retry items.
pub async fn deliver(sink: &mut dyn Sink, batch: EncodedBatch, report: &mut Report) {
    let mut batch = batch;
    let mut backoff = Duration::from_millis(100);
    for _ in 0..30 {
        report.sends += 1;
        let wait = match sink.send(&batch).await {
            SendOutcome::Delivered => {
                report.delivered += batch.len();
                return;
            }
            SendOutcome::Rejected { reason } => {
                for (event, _) in batch.iter() {
                    report
                        .rejected
                        .push((event.record.id.clone(), reason.clone()));
                }
                return;
            }
            SendOutcome::Retry { retry_after, .. } => retry_after,
            SendOutcome::Closed { error } => panic!("an HTTP sink never closes for good: {error}"),
            SendOutcome::Partial(items) => {
                assert_eq!(items.len(), batch.len(), "one outcome per item");
                let mut retry = Vec::new();
                let mut wait = None;
                for (position, (item, (event, _))) in items.iter().zip(batch.iter()).enumerate() {
                    match item {
                        ItemOutcome::Delivered => report.delivered += 1,
                        ItemOutcome::Rejected { reason } => report
                            .rejected
                            .push((event.record.id.clone(), reason.clone())),
                        ItemOutcome::Retry { retry_after, .. } => {
                            retry.push(position);
                            wait = wait.max(*retry_after);
                        }
                    }
                }
                if retry.is_empty() {
                    return;
                }
                batch = batch.subset(&retry);
                wait
            }
        };
        let wait = wait.unwrap_or(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(2));
        report.waits.push(wait);
        tokio::time::sleep(wait).await;
    }
    panic!("batch not delivered after 30 sends: {report:?}");
}

/// Delivers every batch in turn.
pub async fn deliver_all(sink: &mut dyn Sink, batches: Vec<EncodedBatch>) -> Report {
    let mut report = Report::default();
    for batch in batches {
        deliver(sink, batch, &mut report).await;
    }
    report
}

/// Serves `router` on a loopback port; returns `http://127.0.0.1:port`.
pub async fn spawn(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{address}")
}

/// The request body, gunzip'd when `Content-Encoding: gzip` says so.
pub fn body_of(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    match headers
        .get("content-encoding")
        .map(|v| v.to_str().unwrap_or("?"))
    {
        None => Ok(body.to_vec()),
        Some("gzip") => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out)
                .map_err(|error| format!("body is not gzip: {error}"))?;
            Ok(out)
        }
        Some(other) => Err(format!("unexpected content-encoding {other}")),
    }
}

/// Answers the first `remaining` requests with `status` and `Retry-After: <retry_after>`.
#[derive(Debug, Clone)]
pub struct Throttle {
    pub remaining: usize,
    pub status: u16,
    pub retry_after: &'static str,
}

/// Every request a test server saw: when, and whether it was throttled.
#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Mutex<Vec<(Instant, bool)>>,
    throttle: Mutex<Option<Throttle>>,
    violations: Mutex<Vec<String>>,
}

impl RequestLog {
    /// Sets the throttle for the next requests.
    pub fn throttle(&self, throttle: Throttle) {
        *self.throttle.lock().unwrap() = Some(throttle);
    }

    /// Logs a request; returns the throttled answer when it is one of the throttled ones.
    pub fn arrive(&self) -> Option<Response> {
        let mut throttle = self.throttle.lock().unwrap();
        let throttled = match throttle.as_mut() {
            Some(t) if t.remaining > 0 => {
                t.remaining -= 1;
                Some((t.status, t.retry_after))
            }
            _ => None,
        };
        self.entries
            .lock()
            .unwrap()
            .push((Instant::now(), throttled.is_some()));
        throttled.map(|(status, retry_after)| {
            let status = StatusCode::from_u16(status).expect("status");
            (status, [("retry-after", retry_after)], "slow down").into_response()
        })
    }

    /// Records a protocol violation and returns the 400 answer for it.
    pub fn violation(&self, message: String) -> Response {
        self.violations.lock().unwrap().push(message.clone());
        (StatusCode::BAD_REQUEST, message).into_response()
    }

    /// Protocol violations seen so far.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    /// Number of requests.
    pub fn count(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    /// For each throttled answer, how long until the next request arrived.
    pub fn gaps_after_throttling(&self) -> Vec<Duration> {
        let entries = self.entries.lock().unwrap();
        entries
            .windows(2)
            .filter(|pair| pair[0].1)
            .map(|pair| pair[1].0.duration_since(pair[0].0))
            .collect()
    }
}

/// Asserts the retry-after promise: every throttled answer was followed by a pause of about `at_least`, and
/// no more requests went out than throttled ones plus `useful`.
pub fn assert_waited_without_storm(
    log: &RequestLog,
    throttled: usize,
    useful: usize,
    at_least: Duration,
) {
    let gaps = log.gaps_after_throttling();
    assert_eq!(
        gaps.len(),
        throttled,
        "every throttled answer was followed by a request"
    );
    for gap in &gaps {
        assert!(
            *gap >= at_least - Duration::from_millis(100),
            "Retry-After not honoured: next request after {gap:?}"
        );
    }
    assert_eq!(log.count(), throttled + useful, "no request storm");
}
