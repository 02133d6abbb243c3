//! A strict receiver for the generic `http` sink: checks the `Authorization` value, the content type and
//! encoding, and the body (NDJSON ending in a newline, or one JSON array); can refuse large bodies with 413.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use super::http_sink_kit::RequestLog;

/// What the receiver expects.
#[derive(Debug, Clone)]
pub struct Expect {
    pub authorization: Option<String>,
    /// `application/x-ndjson` or `application/json`.
    pub content_type: &'static str,
    pub gzip: bool,
    /// Bodies (uncompressed) larger than this get 413.
    pub max_body: Option<usize>,
    /// Answer every request with this status and body instead.
    pub refuse: Option<(u16, &'static str)>,
    /// A header that must be present with this value.
    pub header: Option<(&'static str, &'static str)>,
}

/// The test receiver.
#[derive(Debug)]
pub struct GenericServer {
    pub expect: Expect,
    pub log: RequestLog,
    pub received: Mutex<Vec<String>>,
    /// Events per accepted request.
    pub sizes: Mutex<Vec<usize>>,
}

impl GenericServer {
    pub fn new(expect: Expect) -> Arc<GenericServer> {
        Arc::new(GenericServer {
            expect,
            log: RequestLog::default(),
            received: Mutex::new(Vec::new()),
            sizes: Mutex::new(Vec::new()),
        })
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/ingest", post(ingest))
            .with_state(self.clone())
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids = self.received.lock().unwrap().clone();
        ids.sort();
        ids
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn ingest(
    State(server): State<Arc<GenericServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(throttled) = server.log.arrive() {
        return throttled;
    }
    let expect = &server.expect;
    if header(&headers, "authorization") != expect.authorization.as_deref() {
        return (StatusCode::UNAUTHORIZED, "who are you").into_response();
    }
    if header(&headers, "content-type") != Some(expect.content_type) {
        return server
            .log
            .violation(format!("content-type {:?}", headers.get("content-type")));
    }
    if let Some((name, value)) = expect.header {
        if header(&headers, name) != Some(value) {
            return server.log.violation(format!("header {name} missing"));
        }
    }
    if expect.gzip != (header(&headers, "content-encoding") == Some("gzip")) {
        return server.log.violation(format!(
            "content-encoding {:?}",
            headers.get("content-encoding")
        ));
    }
    let body = match super::http_sink_kit::body_of(&headers, &body) {
        Ok(body) => body,
        Err(message) => return server.log.violation(message),
    };
    if let Some((status, text)) = expect.refuse {
        return (StatusCode::from_u16(status).unwrap(), text).into_response();
    }
    if expect.max_body.is_some_and(|max| body.len() > max) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            "413 Request Entity Too Large",
        )
            .into_response();
    }
    let values: Result<Vec<Value>, String> = if expect.content_type == "application/json" {
        serde_json::from_slice::<Vec<Value>>(&body).map_err(|e| e.to_string())
    } else {
        match body.strip_suffix(b"\n") {
            // The sink's probe (`check`, readiness): an empty body, no events.
            None if body.is_empty() => return StatusCode::OK.into_response(),
            None => Err("NDJSON body does not end with a newline".into()),
            Some(lines) => lines
                .split(|&b| b == b'\n')
                .map(|line| serde_json::from_slice::<Value>(line).map_err(|e| e.to_string()))
                .collect(),
        }
    };
    let values = match values {
        Ok(values) => values,
        Err(message) => return server.log.violation(message),
    };
    let mut ids = Vec::new();
    for value in &values {
        match value.get("Id").and_then(Value::as_str) {
            Some(id) => ids.push(id.to_string()),
            None => return server.log.violation(format!("value without Id: {value}")),
        }
    }
    server.sizes.lock().unwrap().push(ids.len());
    server.received.lock().unwrap().extend(ids);
    StatusCode::OK.into_response()
}
