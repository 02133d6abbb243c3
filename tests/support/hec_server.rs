//! A strict Splunk HTTP Event Collector on loopback: `/services/collector/event`, `/services/collector/ack`
//! and `/services/collector/health/1.0`, with indexer acknowledgement as Splunk does it (per channel, a `true`
//! is reported once and then forgotten) and HEC's answer codes.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};

use super::http_sink_kit::RequestLog;

/// Envelope keys HEC accepts.
const ENVELOPE_KEYS: [&str; 7] = [
    "time",
    "host",
    "source",
    "sourcetype",
    "index",
    "event",
    "fields",
];

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct HecBehaviour {
    pub token: String,
    /// Indexer acknowledgement enabled on the token.
    pub ack: bool,
    /// How long after receipt an ack turns true.
    pub ack_delay: Duration,
    /// Ack ids that never turn true.
    pub withheld: HashSet<u64>,
    pub sourcetype: String,
    pub index: Option<String>,
}

#[derive(Debug, Default)]
struct AckState {
    next_id: u64,
    /// ack id → (channel, when it turns true)
    pending: HashMap<u64, (String, Instant)>,
}

/// The HEC test server.
#[derive(Debug)]
pub struct HecServer {
    pub behaviour: Mutex<HecBehaviour>,
    pub log: RequestLog,
    /// Record Ids in the order received (a resend shows up twice).
    pub received: Mutex<Vec<String>>,
    /// Event POSTs that carried events.
    pub event_posts: Mutex<usize>,
    /// Ack ids reported true.
    pub acked: Mutex<Vec<u64>>,
    acks: Mutex<AckState>,
}

impl HecServer {
    pub fn new(behaviour: HecBehaviour) -> Arc<HecServer> {
        Arc::new(HecServer {
            behaviour: Mutex::new(behaviour),
            log: RequestLog::default(),
            received: Mutex::new(Vec::new()),
            event_posts: Mutex::new(0),
            acked: Mutex::new(Vec::new()),
            acks: Mutex::new(AckState::default()),
        })
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/services/collector/event", post(event))
            .route("/services/collector/ack", post(ack))
            .route("/services/collector/health/1.0", get(health))
            .with_state(self.clone())
    }

    /// Distinct record Ids received, sorted.
    pub fn distinct_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.received.lock().unwrap().clone();
        ids.sort();
        ids.dedup();
        ids
    }

    fn authorized(&self, headers: &HeaderMap) -> Option<Response> {
        let token = self.behaviour.lock().unwrap().token.clone();
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            None => Some(hec(StatusCode::UNAUTHORIZED, 2, "Token is required")),
            Some(value) if value == format!("Splunk {token}") => None,
            Some(value) if !value.starts_with("Splunk ") => {
                Some(hec(StatusCode::UNAUTHORIZED, 3, "Invalid authorization"))
            }
            Some(_) => Some(hec(StatusCode::FORBIDDEN, 4, "Invalid token")),
        }
    }

    /// The request's channel when acks are on; a refusal (status, HEC code, text) when it is missing or bad.
    fn channel(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<String>, (StatusCode, u32, &'static str)> {
        if !self.behaviour.lock().unwrap().ack {
            return Ok(None);
        }
        match headers
            .get("x-splunk-request-channel")
            .and_then(|v| v.to_str().ok())
        {
            None => Err((StatusCode::BAD_REQUEST, 10, "Data channel is missing")),
            Some(channel) if uuid::Uuid::parse_str(channel).is_ok() => {
                Ok(Some(channel.to_string()))
            }
            Some(_) => Err((StatusCode::BAD_REQUEST, 11, "Invalid data channel")),
        }
    }

    /// Checks one envelope strictly; returns the record Id.
    fn check_envelope(&self, envelope: &Value) -> Result<String, String> {
        let behaviour = self.behaviour.lock().unwrap().clone();
        let object = envelope.as_object().ok_or("envelope is not an object")?;
        if let Some(key) = object.keys().find(|k| !ENVELOPE_KEYS.contains(&k.as_str())) {
            return Err(format!("unknown envelope key {key}"));
        }
        let time = object
            .get("time")
            .and_then(Value::as_f64)
            .ok_or("time missing or not a number")?;
        if !(1.7e9..2.0e9).contains(&time) {
            return Err(format!("time {time} is not epoch seconds of 2025"));
        }
        for key in ["host", "source"] {
            match object.get(key).and_then(Value::as_str) {
                Some(value) if !value.is_empty() => {}
                _ => return Err(format!("{key} missing or empty")),
            }
        }
        if object.get("sourcetype").and_then(Value::as_str) != Some(&behaviour.sourcetype) {
            return Err(format!("sourcetype is {:?}", object.get("sourcetype")));
        }
        if object.get("index").and_then(Value::as_str) != behaviour.index.as_deref() {
            return Err(format!("index is {:?}", object.get("index")));
        }
        let event = object.get("event").ok_or("event missing")?;
        let id = match event {
            Value::Object(record) => record.get("Id").and_then(Value::as_str).map(str::to_string),
            // A cef/leef line: the Id is in externalId=… (or the raw json line in these tests).
            Value::String(line) => serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v.get("Id").and_then(Value::as_str).map(str::to_string)),
            _ => None,
        };
        let id = id.ok_or("event carries no record Id")?;
        let expected = chrono::DateTime::parse_from_rfc3339(&format!(
            "{}Z",
            event_creation_time(event).ok_or("event has no CreationTime")?
        ))
        .map_err(|e| e.to_string())?
        .timestamp() as f64;
        if (time - expected).abs() > 0.001 {
            return Err(format!("time {time} is not CreationTime {expected}"));
        }
        Ok(id)
    }
}

fn event_creation_time(event: &Value) -> Option<String> {
    match event {
        Value::Object(record) => record.get("CreationTime")?.as_str().map(str::to_string),
        Value::String(line) => serde_json::from_str::<Value>(line)
            .ok()?
            .get("CreationTime")?
            .as_str()
            .map(str::to_string),
        _ => None,
    }
}

fn hec(status: StatusCode, code: u32, text: &str) -> Response {
    (status, Json(json!({ "text": text, "code": code }))).into_response()
}

async fn event(State(server): State<Arc<HecServer>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(throttled) = server.log.arrive() {
        return throttled;
    }
    if let Some(refused) = server.authorized(&headers) {
        return refused;
    }
    let channel = match server.channel(&headers) {
        Ok(channel) => channel,
        Err((status, code, text)) => return hec(status, code, text),
    };
    let body = match super::http_sink_kit::body_of(&headers, &body) {
        Ok(body) => body,
        Err(message) => return server.log.violation(message),
    };
    if body.is_empty() {
        return hec(StatusCode::BAD_REQUEST, 5, "No data");
    }
    let mut ids = Vec::new();
    for (number, envelope) in serde_json::Deserializer::from_slice(&body)
        .into_iter::<Value>()
        .enumerate()
    {
        let checked = envelope
            .map_err(|e| e.to_string())
            .and_then(|envelope| server.check_envelope(&envelope));
        match checked {
            Ok(id) => ids.push(id),
            Err(message) => {
                server.log.violation(format!("event {number}: {message}"));
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"text": "Invalid data format", "code": 6, "invalid-event-number": number})),
                )
                    .into_response();
            }
        }
    }
    server.received.lock().unwrap().extend(ids);
    *server.event_posts.lock().unwrap() += 1;
    let Some(channel) = channel else {
        return hec(StatusCode::OK, 0, "Success");
    };
    let delay = server.behaviour.lock().unwrap().ack_delay;
    let mut acks = server.acks.lock().unwrap();
    let ack_id = acks.next_id;
    acks.next_id += 1;
    acks.pending
        .insert(ack_id, (channel, Instant::now() + delay));
    (
        StatusCode::OK,
        Json(json!({"text": "Success", "code": 0, "ackId": ack_id})),
    )
        .into_response()
}

async fn ack(State(server): State<Arc<HecServer>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = server.authorized(&headers) {
        return refused;
    }
    let channel = match server.channel(&headers) {
        Ok(Some(channel)) => channel,
        Ok(None) => return hec(StatusCode::BAD_REQUEST, 14, "ACK is disabled"),
        Err((status, code, text)) => return hec(status, code, text),
    };
    let Ok(query) = serde_json::from_slice::<Value>(&body) else {
        return server.log.violation("ack query is not JSON".into());
    };
    let Some(ids) = query.get("acks").and_then(Value::as_array) else {
        return server
            .log
            .violation(format!("ack query without acks: {query}"));
    };
    let withheld = server.behaviour.lock().unwrap().withheld.clone();
    let mut acks = server.acks.lock().unwrap();
    let mut answer = serde_json::Map::new();
    for id in ids.iter().filter_map(Value::as_u64) {
        let ready = matches!(acks.pending.get(&id), Some((owner, at))
            if *owner == channel && Instant::now() >= *at && !withheld.contains(&id));
        if ready {
            // Splunk reports a true once, then forgets the id.
            acks.pending.remove(&id);
            server.acked.lock().unwrap().push(id);
        }
        answer.insert(id.to_string(), Value::Bool(ready));
    }
    (StatusCode::OK, Json(json!({ "acks": answer }))).into_response()
}

async fn health() -> Response {
    hec(StatusCode::OK, 17, "HEC is healthy")
}
