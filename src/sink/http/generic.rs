//! `http` sink: POSTs batches to any URL as NDJSON or a JSON array.
//!
//! Acknowledged on a 2xx answer; see [`retry`](super::retry) for the other statuses. cef/leef payloads are
//! text lines and are sent as JSON strings, so both bodies stay valid JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde::Deserialize;

use super::config::{check_url, http_sink_config, problem, resolve_secret, Problems};
use super::core::body::{write_json_value, Fragments, Framing};
use super::core::outcome::Outcomes;
use super::core::service::{Auth, HttpCore};
use super::retry::verdict_of;
use crate::config::Secret;
use crate::encode::Format;
use crate::sink::{EncodedBatch, SendOutcome, Sink, SinkError};

/// Request headers the sink sets itself and a `headers` table may not set.
const RESERVED_HEADERS: [&str; 4] = [
    "content-length",
    "content-encoding",
    "host",
    "transfer-encoding",
];

/// Body layout of the `http` sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    /// One JSON value per line, each line ending in `\n` (`Content-Type: application/x-ndjson`).
    #[default]
    Ndjson,
    /// One JSON array (`Content-Type: application/json`).
    JsonArray,
}

/// How the `http` sink authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Bearer <token>` (`token_file` or `token_env`).
    Bearer,
    /// HTTP basic (`username` + `password_file` or `password_env`).
    Basic,
}

http_sink_config! {
    /// `type = "http"`: POSTs batches to a URL.
    pub struct HttpSinkConfig {
        /// Sink name (unique).
        pub name: String,
        /// Payload format: json (default), ecs, cef, leef (cef/leef lines are sent as JSON strings).
        #[serde(default)]
        pub format: Format,
        /// The URL batches are POSTed to.
        pub url: String,
        /// `ndjson` (default) or `json_array`.
        #[serde(default)]
        pub body: BodyKind,
        /// Extra request headers, e.g. `{ "X-Source" = "atp" }`.
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// `none` (default), `bearer` or `basic`.
        #[serde(default)]
        pub auth: AuthKind,
        /// File holding the bearer token (`auth = "bearer"`).
        #[serde(default)]
        pub token_file: Option<PathBuf>,
        /// Environment variable holding the bearer token (instead of `token_file`).
        #[serde(default)]
        pub token_env: Option<String>,
        /// User name (`auth = "basic"`).
        #[serde(default)]
        pub username: Option<String>,
        /// File holding the password (`auth = "basic"`).
        #[serde(default)]
        pub password_file: Option<PathBuf>,
        /// Environment variable holding the password (instead of `password_file`).
        #[serde(default)]
        pub password_env: Option<String>,
        /// The resolved token or password (filled by validation).
        #[serde(skip)]
        pub(crate) secret: Option<Secret>,
    }
}

// === impl HttpSinkConfig ===

impl HttpSinkConfig {
    /// Checks every key and reads the secret; returns every problem as (key, message).
    pub(crate) fn validate(&mut self) -> Problems {
        let mut problems = Vec::new();
        self.common(super::config::defaults::BATCH_MAX_BYTES, false)
            .validate(None, &mut problems);
        check_url(&mut problems, "url", &self.url);
        for (name, value) in &self.headers {
            let key = format!("headers.{name}");
            if HeaderName::try_from(name.as_str()).is_err() {
                problem(&mut problems, &key, "is not a valid header name");
            } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                || (self.auth != AuthKind::None && name.eq_ignore_ascii_case("authorization"))
            {
                problem(&mut problems, &key, "is set by the sink itself");
            }
            if HeaderValue::try_from(value.as_str()).is_err() {
                problem(&mut problems, &key, "is not a valid header value");
            }
        }
        let (base, file, env) = match self.auth {
            AuthKind::None => return problems,
            AuthKind::Bearer => ("token", &self.token_file, &self.token_env),
            AuthKind::Basic => {
                if self.username.as_deref().is_none_or(str::is_empty) {
                    problem(&mut problems, "username", "required with auth = \"basic\"");
                }
                ("password", &self.password_file, &self.password_env)
            }
        };
        if file.is_none() && env.is_none() {
            problem(
                &mut problems,
                &format!("{base}_file"),
                &format!(
                    "required with auth = \"{}\" (or {base}_env)",
                    auth_name(self.auth)
                ),
            );
        }
        self.secret = resolve_secret(&mut problems, base, file.as_deref(), env.as_deref());
        problems
    }
}

fn auth_name(auth: AuthKind) -> &'static str {
    match auth {
        AuthKind::None => "none",
        AuthKind::Bearer => "bearer",
        AuthKind::Basic => "basic",
    }
}

/// Builds the `http` sink from a validated config.
pub(crate) fn build_http(config: &HttpSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    let core = HttpCore::new(&config.common(super::config::defaults::BATCH_MAX_BYTES, false))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        let name = HeaderName::try_from(name.as_str());
        let value = HeaderValue::try_from(value.as_str());
        let (Ok(name), Ok(value)) = (name, value) else {
            return Err(SinkError::Config {
                sink: config.name.clone(),
                message: "invalid `headers` entry; run `atp-forwarder check`".into(),
            });
        };
        headers.insert(name, value);
    }
    if !headers.contains_key(CONTENT_TYPE) {
        let content_type = match config.body {
            BodyKind::Ndjson => "application/x-ndjson",
            BodyKind::JsonArray => "application/json",
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    let auth = match (config.auth, &config.secret) {
        (AuthKind::None, _) => Auth::None,
        (AuthKind::Bearer, Some(token)) => Auth::scheme(&config.name, "Bearer", token)?,
        (AuthKind::Basic, Some(password)) => Auth::Basic {
            username: config.username.clone().unwrap_or_default(),
            password: password.clone(),
        },
        (_, None) => {
            return Err(SinkError::Config {
                sink: config.name.clone(),
                message: "the secret was not resolved; validate the config first".into(),
            })
        }
    };
    Ok(Box::new(HttpSink {
        core,
        url: config.url.clone(),
        format: config.format,
        framing: match config.body {
            BodyKind::Ndjson => Framing::Lines,
            BodyKind::JsonArray => Framing::JsonArray,
        },
        headers,
        auth,
    }))
}

/// The `http` sink.
#[derive(Debug)]
struct HttpSink {
    core: HttpCore,
    url: String,
    format: Format,
    framing: Framing,
    headers: HeaderMap,
    auth: Auth,
}

// === impl HttpSink ===

impl HttpSink {
    fn request(&self) -> reqwest::RequestBuilder {
        let request = self
            .core
            .client()
            .post(&self.url)
            .headers(self.headers.clone());
        self.auth.apply(request)
    }
}

#[async_trait::async_trait]
impl Sink for HttpSink {
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome {
        let mut outcomes = Outcomes::new(&self.core.name, batch.len());
        let fragments = Fragments::of(batch, &mut outcomes, |_, payload, buf| {
            write_json_value(self.format, payload, buf)
        });
        let chunks = fragments.plan(self.framing, self.core.limits());
        let sent = self
            .core
            .dispatch(chunks, |body| self.core.send(self.request(), body))
            .await;
        for request in sent {
            let verdict = verdict_of(&request.result);
            self.core
                .settle(&mut outcomes, &request.positions, request.bytes, &verdict);
        }
        outcomes.finish()
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        // An empty batch (no body for ndjson, `[]` for json_array) checks reachability and credentials.
        let body = match self.framing {
            Framing::Lines => Vec::new(),
            Framing::JsonArray => b"[]".to_vec(),
        };
        let answer = self.core.send(self.request(), body).await;
        self.core.probe_verdict(&self.url, answer)
    }
}
