//! A strict Elasticsearch `_bulk` endpoint on loopback: NDJSON pairs of `create` action + source ending in a
//! newline, `_id` must equal the record Id, a repeated `_id` is a per-item 409, scripted per-item failures.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

use super::http_sink_kit::RequestLog;

/// The test server.
#[derive(Debug)]
pub struct EsServer {
    /// The expected `Authorization` value.
    pub authorization: String,
    /// The expected index prefix (the date follows).
    pub index_prefix: String,
    pub log: RequestLog,
    /// Stored documents by `_id`.
    pub documents: Mutex<HashMap<String, Value>>,
    /// Per-`_id` statuses to answer before indexing (e.g. 429 once, 400 forever via a long list).
    pub script: Mutex<HashMap<String, VecDeque<u16>>>,
    /// The `_id`s of each bulk request, in order.
    pub requests: Mutex<Vec<Vec<String>>>,
}

impl EsServer {
    pub fn new(authorization: &str, index_prefix: &str) -> Arc<EsServer> {
        Arc::new(EsServer {
            authorization: authorization.to_string(),
            index_prefix: index_prefix.to_string(),
            log: RequestLog::default(),
            documents: Mutex::new(HashMap::new()),
            script: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
        })
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/_bulk", post(bulk))
            .with_state(self.clone())
    }

    /// Stored `_id`s, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.documents.lock().unwrap().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Checks one action + source pair; returns the `_id` and the document.
    fn check_pair(&self, action: &str, source: &str) -> Result<(String, String, Value), String> {
        let action: Value =
            serde_json::from_str(action).map_err(|e| format!("action line: {e}"))?;
        let object = action.as_object().ok_or("action is not an object")?;
        if object.len() != 1 {
            return Err(format!("action has {} keys", object.len()));
        }
        let create = object
            .get("create")
            .and_then(Value::as_object)
            .ok_or("action is not create")?;
        let index = create
            .get("_index")
            .and_then(Value::as_str)
            .ok_or("no _index")?;
        let id = create.get("_id").and_then(Value::as_str).ok_or("no _id")?;
        let document: Value =
            serde_json::from_str(source).map_err(|e| format!("source line: {e}"))?;
        let record_id = document
            .get("Id")
            .and_then(Value::as_str)
            .ok_or("source has no Id")?;
        if record_id != id {
            return Err(format!("_id {id} is not the record Id {record_id}"));
        }
        let day = document
            .get("CreationTime")
            .and_then(Value::as_str)
            .and_then(|t| t.get(..10))
            .ok_or("source has no CreationTime")?
            .replace('-', ".");
        if index != format!("{}{day}", self.index_prefix) {
            return Err(format!(
                "_index {index} does not carry the event's date {day}"
            ));
        }
        Ok((index.to_string(), id.to_string(), document))
    }
}

async fn bulk(State(server): State<Arc<EsServer>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(throttled) = server.log.arrive() {
        return throttled;
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&server.authorization) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "security_exception", "status": 401})),
        )
            .into_response();
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-ndjson") {
        return server
            .log
            .violation(format!("content-type {:?}", headers.get("content-type")));
    }
    let body = match super::http_sink_kit::body_of(&headers, &body) {
        Ok(body) => body,
        Err(message) => return server.log.violation(message),
    };
    let Ok(text) = String::from_utf8(body) else {
        return server.log.violation("body is not UTF-8".into());
    };
    let Some(text) = text.strip_suffix('\n') else {
        return server
            .log
            .violation("bulk body does not end with a newline".into());
    };
    let lines: Vec<&str> = text.split('\n').collect();
    if lines.len() % 2 != 0 {
        return server
            .log
            .violation(format!("{} lines: not action/source pairs", lines.len()));
    }
    let mut items = Vec::new();
    let mut ids = Vec::new();
    let mut errors = false;
    for pair in lines.chunks(2) {
        let (index, id, document) = match server.check_pair(pair[0], pair[1]) {
            Ok(checked) => checked,
            Err(message) => return server.log.violation(message),
        };
        ids.push(id.clone());
        let scripted = server
            .script
            .lock()
            .unwrap()
            .get_mut(&id)
            .and_then(VecDeque::pop_front);
        let mut documents = server.documents.lock().unwrap();
        let status = match scripted {
            Some(status) => status,
            None if documents.contains_key(&id) => 409,
            None => {
                documents.insert(id.clone(), document);
                201
            }
        };
        let mut item = json!({"_index": index, "_id": id, "status": status});
        let error = match status {
            409 => Some((
                "version_conflict_engine_exception",
                "document already exists",
            )),
            429 => Some((
                "es_rejected_execution_exception",
                "rejected execution of coordinating operation",
            )),
            400 => Some((
                "mapper_parsing_exception",
                "failed to parse field [Padding] of type [long]",
            )),
            _ => None,
        };
        if let Some((kind, reason)) = error {
            errors = true;
            item["error"] = json!({"type": kind, "reason": reason});
        }
        items.push(json!({ "create": item }));
    }
    server.requests.lock().unwrap().push(ids);
    (
        StatusCode::OK,
        Json(json!({"took": 3, "errors": errors, "items": items})),
    )
        .into_response()
}
