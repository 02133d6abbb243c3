//! `elasticsearch` sink: the bulk API (`POST {url}/_bulk`, NDJSON) with `create` actions whose `_id` is the
//! record `Id`, so a resent event is a harmless per-item 409.
//!
//! Acknowledgement is per item: 200/201 and 409 (already indexed) are delivered, 429 and 5xx items (and
//! 401/403/404: privileges, missing index) are retried alone, every other item is rejected with its status,
//! error type and reason. Works with OpenSearch too.
//!
//! Source documents: json/ecs payloads as they are; cef/leef lines as `{"@timestamp": <CreationTime>,
//! "message": <line>}`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

use super::config::{check_url, defaults, http_sink_config, problem, resolve_secret, Problems};
use super::core::body::{is_text, write_json_string, write_json_value};
use super::core::body::{Fragments, Framing};
use super::core::outcome::Outcomes;
use super::core::service::{Auth, HttpCore};
use super::retry::{classify_item, verdict_of, Verdict};
use crate::config::Secret;
use crate::encode::Format;
use crate::sink::{EncodedBatch, ItemOutcome, SendOutcome, Sink, SinkError};

/// Characters Elasticsearch refuses in an index name.
const INDEX_FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

fn default_index() -> String {
    "o365-atp-%Y.%m.%d".to_string()
}

http_sink_config! {
    /// `type = "elasticsearch"`: the bulk API of Elasticsearch or OpenSearch.
    pub struct ElasticsearchSinkConfig {
        /// Sink name (unique).
        pub name: String,
        /// Payload format: json (default), ecs, cef, leef (cef/leef become `{"@timestamp", "message"}`).
        #[serde(default)]
        pub format: Format,
        /// Base URL of the cluster, e.g. `https://es.example.net:9200`.
        pub url: String,
        /// Target index; strftime fields take the record's CreationTime (UTC). Default `o365-atp-%Y.%m.%d`.
        #[serde(default = "default_index")]
        pub index: String,
        /// User name for basic authentication (with `password_file` or `password_env`).
        #[serde(default)]
        pub username: Option<String>,
        /// File holding the password.
        #[serde(default)]
        pub password_file: Option<PathBuf>,
        /// Environment variable holding the password.
        #[serde(default)]
        pub password_env: Option<String>,
        /// File holding an API key in its encoded form (the `encoded` value Elasticsearch returns), sent as
        /// `Authorization: ApiKey …`. Instead of `username`.
        #[serde(default)]
        pub api_key_file: Option<PathBuf>,
        /// Environment variable holding the encoded API key.
        #[serde(default)]
        pub api_key_env: Option<String>,
        /// The resolved password or API key (filled by validation).
        #[serde(skip)]
        pub(crate) secret: Option<Secret>,
    }
}

// === impl ElasticsearchSinkConfig ===

impl ElasticsearchSinkConfig {
    /// Checks every key and reads the secret; returns every problem as (key, message).
    pub(crate) fn validate(&mut self) -> Problems {
        let mut problems = Vec::new();
        self.common(defaults::BATCH_MAX_BYTES, false)
            .validate(None, &mut problems);
        check_url(&mut problems, "url", &self.url);
        if let Err(message) = check_index_pattern(&self.index) {
            problem(&mut problems, "index", &message);
        }
        let password = resolve_secret(
            &mut problems,
            "password",
            self.password_file.as_deref(),
            self.password_env.as_deref(),
        );
        let api_key = resolve_secret(
            &mut problems,
            "api_key",
            self.api_key_file.as_deref(),
            self.api_key_env.as_deref(),
        );
        match (&self.username, password, api_key) {
            (Some(_), Some(password), None) => self.secret = Some(password),
            (None, None, Some(api_key)) => self.secret = Some(api_key),
            (None, None, None) => {}
            (Some(_), None, None) => problem(
                &mut problems,
                "password_file",
                "required with username (or password_env)",
            ),
            (None, Some(_), None) => problem(&mut problems, "username", "required with a password"),
            (_, _, Some(_)) => problem(
                &mut problems,
                "api_key_file",
                "use either username + password or an API key, not both",
            ),
        }
        problems
    }
}

/// Checks an index pattern: valid strftime fields, and a name Elasticsearch accepts once formatted.
fn check_index_pattern(pattern: &str) -> Result<(), String> {
    if StrftimeItems::new(pattern).any(|item| matches!(item, Item::Error)) {
        return Err(format!("`{pattern}` has an invalid strftime field"));
    }
    let sample = index_name(pattern, DateTime::UNIX_EPOCH);
    if sample.is_empty() || sample.len() > 255 {
        return Err("the index name must have 1 to 255 bytes".into());
    }
    if sample.starts_with(['-', '_', '+']) || sample == "." || sample == ".." {
        return Err("the index name must not start with -, _ or + nor be . or ..".into());
    }
    if sample.contains(INDEX_FORBIDDEN) {
        return Err(format!(
            "the index name must not contain any of {}",
            INDEX_FORBIDDEN.iter().collect::<String>()
        ));
    }
    Ok(())
}

/// The index for an event of `time`: the pattern formatted, lowercased (Elasticsearch refuses capitals).
fn index_name(pattern: &str, time: DateTime<Utc>) -> String {
    let mut name = String::with_capacity(pattern.len() + 8);
    if write!(name, "{}", time.format(pattern)).is_err() {
        // Only an invalid pattern fails, and validation refuses those.
        name = pattern.to_string();
    }
    name.to_lowercase()
}

/// Builds the `elasticsearch` sink from a validated config.
pub(crate) fn build_elasticsearch(
    config: &ElasticsearchSinkConfig,
) -> Result<Box<dyn Sink>, SinkError> {
    let core = HttpCore::new(&config.common(defaults::BATCH_MAX_BYTES, false))?;
    let auth = match (&config.username, &config.secret) {
        (Some(username), Some(password)) => Auth::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        (None, Some(api_key)) => Auth::scheme(&config.name, "ApiKey", api_key)?,
        (_, None) => Auth::None,
    };
    let base = config.url.trim_end_matches('/');
    Ok(Box::new(ElasticsearchSink {
        core,
        base: base.to_string(),
        bulk_url: format!("{base}/_bulk"),
        index: config.index.clone(),
        format: config.format,
        auth,
    }))
}

/// The `elasticsearch` sink.
#[derive(Debug)]
struct ElasticsearchSink {
    core: HttpCore,
    base: String,
    bulk_url: String,
    index: String,
    format: Format,
    auth: Auth,
}

/// A bulk answer: per-item results in request order.
#[derive(Debug, Deserialize)]
struct BulkResponse {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<BTreeMap<String, BulkItem>>,
}

/// One item of a bulk answer (under its action name).
#[derive(Debug, Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

// === impl ElasticsearchSink ===

impl ElasticsearchSink {
    /// Appends the action line, a newline and the source document of one event.
    fn write_item(
        &self,
        event: &crate::event::Event,
        payload: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), String> {
        let time = event.creation_time();
        let index = index_name(&self.index, time.unwrap_or_else(Utc::now));
        buf.extend_from_slice(br#"{"create":{"_index":"#);
        write_json_string(&index, buf);
        if !event.record.id.is_empty() {
            buf.extend_from_slice(br#","_id":"#);
            write_json_string(&event.record.id, buf);
        }
        buf.extend_from_slice(b"}}\n");
        if is_text(self.format) {
            let stamp = time
                .unwrap_or_else(Utc::now)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true);
            buf.extend_from_slice(br#"{"@timestamp":"#);
            write_json_string(&stamp, buf);
            buf.extend_from_slice(br#","message":"#);
            write_json_value(self.format, payload, buf)?;
            buf.push(b'}');
            Ok(())
        } else {
            write_json_value(self.format, payload, buf)
        }
    }

    /// Per-item outcomes of a bulk answer for a request of `count` items, or a verdict for all of them.
    fn read_answer(answer: Result<super::retry::Answer, Verdict>, count: usize) -> BulkResult {
        let verdict = verdict_of(&answer);
        let (Verdict::Success, Ok(answer)) = (&verdict, answer) else {
            return BulkResult::All(verdict);
        };
        let response: BulkResponse = match serde_json::from_slice(&answer.body) {
            Ok(response) => response,
            Err(error) => {
                return BulkResult::All(Verdict::Retry {
                    reason: format!("unreadable bulk answer: {error}"),
                    retry_after: None,
                })
            }
        };
        if !response.errors {
            return BulkResult::Each(vec![ItemOutcome::Delivered; count]);
        }
        if response.items.len() != count {
            return BulkResult::All(Verdict::Retry {
                reason: format!(
                    "bulk answer lists {} items for {count} actions",
                    response.items.len()
                ),
                retry_after: None,
            });
        }
        let outcomes = response
            .items
            .into_iter()
            .map(|item| match item.into_values().next() {
                Some(item) => classify_item(item.status, || describe(item.error.as_ref())),
                None => ItemOutcome::Retry {
                    reason: "bulk answer item without an action".into(),
                    retry_after: None,
                },
            })
            .collect();
        BulkResult::Each(outcomes)
    }
}

/// What a bulk request came to.
#[derive(Debug)]
enum BulkResult {
    /// One verdict for every item (HTTP-level failure or unreadable answer).
    All(Verdict),
    /// One outcome per item, in request order.
    Each(Vec<ItemOutcome>),
}

/// `type: reason` of a bulk item error.
fn describe(error: Option<&serde_json::Value>) -> String {
    let Some(error) = error else {
        return "no error details".into();
    };
    let field = |name: &str| error.get(name).and_then(|value| value.as_str());
    match (field("type"), field("reason")) {
        (Some(kind), Some(reason)) => format!("{kind}: {reason}"),
        _ => super::retry::excerpt(error.to_string().as_bytes()),
    }
}

#[async_trait::async_trait]
impl Sink for ElasticsearchSink {
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome {
        let mut outcomes = Outcomes::new(&self.core.name, batch.len());
        let fragments = Fragments::of(batch, &mut outcomes, |event, payload, buf| {
            self.write_item(event, payload, buf)
        });
        let chunks = fragments.plan(Framing::Lines, self.core.limits());
        let sent = self
            .core
            .dispatch(chunks, |body| async {
                let request = self
                    .auth
                    .apply(self.core.client().post(&self.bulk_url))
                    .header(CONTENT_TYPE, "application/x-ndjson");
                self.core.send(request, body).await
            })
            .await;
        for request in sent {
            match Self::read_answer(request.result, request.positions.len()) {
                BulkResult::Each(items) => {
                    let retried = items
                        .iter()
                        .filter(|i| matches!(i, ItemOutcome::Retry { .. }));
                    let rejected = items
                        .iter()
                        .filter(|i| matches!(i, ItemOutcome::Rejected { .. }));
                    let (retried, rejected) = (retried.count(), rejected.count());
                    if retried + rejected > 0 {
                        tracing::warn!(sink = %self.core.name, events = items.len(), retried, rejected,
                            "bulk request with item failures");
                    }
                    for (position, item) in request.positions.iter().zip(items) {
                        outcomes.set(*position, item);
                    }
                }
                BulkResult::All(verdict) => {
                    self.core
                        .settle(&mut outcomes, &request.positions, request.bytes, &verdict);
                }
            }
        }
        outcomes.finish()
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        let request = self
            .auth
            .apply(self.core.client().get(format!("{}/", self.base)));
        let answer = self.core.send(request, Vec::new()).await;
        if let Ok(answer) = &answer {
            if answer.status == reqwest::StatusCode::FORBIDDEN {
                // Authenticated, without the `monitor` privilege: enough to write.
                tracing::info!(sink = %self.core.name, "cluster info refused (403); the credentials lack the \
                    monitor privilege, which writing does not need");
                return Ok(());
            }
        }
        self.core.probe_verdict(&self.base, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_takes_the_date_of_the_event_in_lowercase() {
        let time = DateTime::parse_from_rfc3339("2025-11-24T10:03:19Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(index_name("o365-atp-%Y.%m.%d", time), "o365-atp-2025.11.24");
        assert_eq!(index_name("ATP-%b", time), "atp-nov");
    }

    #[test]
    fn bad_index_patterns_are_refused() {
        assert!(check_index_pattern("o365-atp-%Y.%m.%d").is_ok());
        assert!(check_index_pattern("atp").is_ok());
        assert!(check_index_pattern("atp-%Q").is_err());
        assert!(check_index_pattern("_atp").is_err());
        assert!(check_index_pattern("atp index").is_err());
        assert!(check_index_pattern("").is_err());
    }

    #[test]
    fn a_bulk_answer_without_errors_delivers_every_item() {
        let answer = super::super::retry::Answer {
            status: reqwest::StatusCode::OK,
            headers: Default::default(),
            body: bytes::Bytes::from_static(br#"{"took":3,"errors":false,"items":[]}"#),
        };
        match ElasticsearchSink::read_answer(Ok(answer), 2) {
            BulkResult::Each(items) => assert_eq!(items, vec![ItemOutcome::Delivered; 2]),
            other => panic!("{other:?}"),
        }
    }
}
