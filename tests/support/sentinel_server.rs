//! A strict Azure Monitor Logs Ingestion API and token endpoint on loopback: the token request must ask for
//! the monitor scope; the ingestion request must carry that token, `api-version=2023-01-01`, a gzip'd JSON
//! array of objects with `TimeGenerated`, and stay within 1 MB compressed and uncompressed (else 413).
//! The client authenticates with its secret, or, once a certificate is registered
//! ([`SentinelServer::register_certificate`]), with a client assertion (RS256 JWT) signed by its key:
//! `iss` = `sub` = client id, `aud` = this token endpoint, not expired.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

use super::http_sink_kit::RequestLog;

/// The API's request limit.
pub const LIMIT: usize = 1_000_000;

/// The test server.
#[derive(Debug)]
pub struct SentinelServer {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub dcr_id: String,
    pub stream: String,
    pub log: RequestLog,
    /// Scopes asked for, one per token request.
    pub scopes: Mutex<Vec<String>>,
    /// The token currently valid.
    pub token: Mutex<String>,
    /// Record Ids received.
    pub received: Mutex<Vec<String>>,
    /// (compressed, uncompressed) size of each ingestion request.
    pub sizes: Mutex<Vec<(usize, usize)>>,
    /// The registered certificate's RSA public key (PKCS#1 DER), when assertions are accepted.
    pub assertion_key: Mutex<Option<Vec<u8>>>,
    /// Client assertions accepted.
    pub assertions: Mutex<u32>,
}

impl SentinelServer {
    pub fn new(tenant_id: &str, client_id: &str, client_secret: &str) -> Arc<SentinelServer> {
        Arc::new(SentinelServer {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            dcr_id: "dcr-00112233445566778899aabbccddeeff".into(),
            stream: "Custom-O365AtpEvents".into(),
            log: RequestLog::default(),
            scopes: Mutex::new(Vec::new()),
            token: Mutex::new(String::new()),
            received: Mutex::new(Vec::new()),
            sizes: Mutex::new(Vec::new()),
            assertion_key: Mutex::new(None),
            assertions: Mutex::new(0),
        })
    }

    /// Registers the app's certificate by its RSA public key (PKCS#1 DER): client assertions signed with
    /// its key are accepted from now on.
    pub fn register_certificate(&self, public_key_pkcs1_der: Vec<u8>) {
        *self.assertion_key.lock().unwrap() = Some(public_key_pkcs1_der);
    }

    pub fn router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/dataCollectionRules/{dcr}/streams/{stream}", post(ingest))
            .with_state(self.clone())
    }

    /// Makes the current token invalid (as if revoked): the next request gets 401.
    pub fn revoke(&self) {
        *self.token.lock().unwrap() = "revoked".into();
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids = self.received.lock().unwrap().clone();
        ids.sort();
        ids
    }
}

async fn token(
    State(server): State<Arc<SentinelServer>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    server
        .scopes
        .lock()
        .unwrap()
        .push(form.get("scope").cloned().unwrap_or_default());
    // The client may authenticate in the body or with HTTP basic (RFC 6749 §2.3.1).
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let credentials = match basic {
        Some(pair) => pair.split_once(':').map(|(id, secret)| {
            let decode = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .unwrap()
                    .1
                    .into_owned()
            };
            (decode(id), decode(secret))
        }),
        None => form
            .get("client_id")
            .cloned()
            .zip(form.get("client_secret").cloned()),
    };
    let authenticated = match form.get("client_assertion") {
        Some(assertion) => {
            form.get("client_assertion_type").map(String::as_str)
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                && valid_assertion(&server, &tenant, assertion)
        }
        None => credentials == Some((server.client_id.clone(), server.client_secret.clone())),
    };
    let valid = tenant == server.tenant_id
        && form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && authenticated;
    if !valid {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})),
        )
            .into_response();
    }
    let issued = format!("token-{}", uuid::Uuid::new_v4());
    *server.token.lock().unwrap() = issued.clone();
    Json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": issued}))
        .into_response()
}

/// An RS256 client assertion of the registered key, for this client and this token endpoint.
fn valid_assertion(server: &SentinelServer, tenant: &str, assertion: &str) -> bool {
    use base64::Engine as _;
    let Some(key) = server.assertion_key.lock().unwrap().clone() else {
        return false;
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return false;
    };
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .ok()
    };
    let (Some(header_json), Some(claims), Some(signature)) =
        (decode(header), decode(payload), decode(signature))
    else {
        return false;
    };
    let header_json: Value = serde_json::from_slice(&header_json).unwrap_or_default();
    let claims: Value = serde_json::from_slice(&claims).unwrap_or_default();
    let signed = format!("{header}.{payload}");
    let signature_ok =
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &key)
            .verify(signed.as_bytes(), &signature)
            .is_ok();
    let now = chrono::Utc::now().timestamp();
    let ok = signature_ok
        && header_json["alg"] == "RS256"
        && header_json["x5t"].is_string()
        && claims["iss"] == server.client_id.as_str()
        && claims["sub"] == server.client_id.as_str()
        && claims["aud"]
            .as_str()
            .is_some_and(|aud| aud.ends_with(&format!("/{tenant}/oauth2/v2.0/token")))
        && claims["exp"].as_i64().is_some_and(|exp| exp > now);
    if ok {
        *server.assertions.lock().unwrap() += 1;
    }
    ok
}

async fn ingest(
    State(server): State<Arc<SentinelServer>>,
    Path((dcr, stream)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(throttled) = server.log.arrive() {
        return throttled;
    }
    let expected = format!("Bearer {}", server.token.lock().unwrap());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "InvalidToken"}})),
        )
            .into_response();
    }
    if query.get("api-version").map(String::as_str) != Some("2023-01-01") {
        return server
            .log
            .violation(format!("api-version {:?}", query.get("api-version")));
    }
    if dcr != server.dcr_id || stream != server.stream {
        return (StatusCode::NOT_FOUND, "no such DCR or stream").into_response();
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return server
            .log
            .violation(format!("content-type {:?}", headers.get("content-type")));
    }
    if headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        != Some("gzip")
    {
        return server.log.violation("body not gzip'd".into());
    }
    let compressed = body.len();
    let body = match super::http_sink_kit::body_of(&headers, &body) {
        Ok(body) => body,
        Err(message) => return server.log.violation(message),
    };
    server.sizes.lock().unwrap().push((compressed, body.len()));
    if compressed > LIMIT || body.len() > LIMIT {
        server
            .log
            .violation(format!("request of {compressed}/{} bytes", body.len()));
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    }
    let Ok(objects) = serde_json::from_slice::<Vec<Value>>(&body) else {
        return server.log.violation("body is not a JSON array".into());
    };
    let mut ids = Vec::new();
    for object in &objects {
        let time = object
            .get("TimeGenerated")
            .and_then(Value::as_str)
            .unwrap_or("");
        let creation = object
            .get("CreationTime")
            .and_then(Value::as_str)
            .unwrap_or("?");
        match chrono::DateTime::parse_from_rfc3339(time) {
            Ok(parsed) if parsed.naive_utc().to_string().replace(' ', "T") == creation => {}
            _ => {
                return server.log.violation(format!(
                    "TimeGenerated {time:?} for CreationTime {creation}"
                ))
            }
        }
        match object.get("Id").and_then(Value::as_str) {
            Some(id) => ids.push(id.to_string()),
            None => return server.log.violation("object without Id".into()),
        }
    }
    server.received.lock().unwrap().extend(ids);
    StatusCode::NO_CONTENT.into_response()
}
