//! `sentinel` sink: Microsoft Sentinel through the Azure Monitor Logs Ingestion API,
//! `POST {endpoint}/dataCollectionRules/{dcr_id}/streams/{stream}?api-version=2023-01-01`.
//!
//! The body is a JSON array of objects, gzip'd, at most 1,000,000 bytes per request before compression (and so
//! after it: a body is only sent compressed when that is smaller). Each object gets `TimeGenerated` (the
//! record's CreationTime, RFC 3339) unless it has one; json/ecs payloads are the object, cef/leef lines become
//! `{"TimeGenerated": …, "RawData": <line>}`. The DCR's stream must declare the columns it keeps.
//!
//! Authentication: a bearer token for `https://monitor.azure.com/.default` (`https://monitor.azure.us/.default`
//! in the gcc-high and dod clouds) from the app's client credentials — a client secret, or a certificate
//! whose key signs a client assertion, as for the tenants — cached and refreshed early by [`TokenSource`];
//! a 401 forces a new token before the retry. Acknowledged on a 2xx answer (204).

use std::path::PathBuf;

use chrono::{SecondsFormat, Utc};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use super::config::{check_url, http_sink_config, problem, Problems};
use super::core::body::{is_text, write_json_string, write_json_value};
use super::core::body::{Fragments, Framing};
use super::core::outcome::Outcomes;
use super::core::service::{Auth, HttpCore};
use super::retry::{error_chain, verdict_of, Verdict};
use crate::auth::{AssertionAlg, Credential, TokenRequest, TokenSource};
use crate::config::{resolve_credential, Cloud, CredentialKeys};
use crate::encode::Format;
use crate::event::Event;
use crate::sink::{EncodedBatch, SendOutcome, Sink, SinkError};

/// The API's limit on one request, in bytes (uncompressed and compressed).
pub(crate) const MAX_REQUEST_BYTES: usize = 1_000_000;

/// The API version of the Logs Ingestion API.
const API_VERSION: &str = "2023-01-01";

http_sink_config! {
    /// `type = "sentinel"`: Azure Monitor Logs Ingestion API (a data collection rule feeding Sentinel).
    pub struct SentinelSinkConfig {
        /// Sink name (unique).
        pub name: String,
        /// Payload format: json (default), ecs, cef, leef (cef/leef become `{"TimeGenerated", "RawData"}`).
        #[serde(default)]
        pub format: Format,
        /// Logs ingestion URL of the data collection endpoint (or of the DCR itself), e.g.
        /// `https://my-dce-a1b2.westeurope-1.ingest.monitor.azure.com`.
        pub endpoint: String,
        /// Immutable id of the data collection rule, `dcr-…`.
        pub dcr_id: String,
        /// Stream declared in the DCR, e.g. `Custom-O365AtpEvents`.
        pub stream: String,
        /// Directory (tenant) id of the app registration allowed to write (role "Monitoring Metrics
        /// Publisher" on the DCR).
        pub tenant_id: String,
        /// Application (client) id of that app registration.
        pub client_id: String,
        /// File holding the app's client secret (or `client_secret_env`, or a certificate).
        #[serde(default)]
        pub client_secret_file: Option<PathBuf>,
        /// Environment variable holding the client secret (instead of `client_secret_file`).
        #[serde(default)]
        pub client_secret_env: Option<String>,
        /// PEM certificate registered for the app (certificate credentials instead of a secret); a
        /// relative name is looked up in `$CREDENTIALS_DIRECTORY` first.
        #[serde(default)]
        pub certificate_file: Option<PathBuf>,
        /// PEM private key of `certificate_file` (RSA, PKCS#8 or PKCS#1, unencrypted).
        #[serde(default)]
        pub private_key_file: Option<PathBuf>,
        /// How the client assertion is signed: `rs256` (default) or `ps256`.
        #[serde(default)]
        pub assertion: AssertionAlg,
        /// `commercial` (default), `gcc`, `gcc-high` or `dod`: selects the token authority and scope.
        #[serde(default)]
        pub cloud: Cloud,
        /// Token authority override (wins over `cloud`), e.g. a proxy or a test server.
        #[serde(default)]
        pub login_url: Option<String>,
        /// The resolved client secret or certificate (filled by validation).
        #[serde(skip)]
        pub(crate) credential: Option<Credential>,
    }
}

// === impl SentinelSinkConfig ===

impl SentinelSinkConfig {
    /// Checks every key and reads the client secret; returns every problem as (key, message).
    pub(crate) fn validate(&mut self) -> Problems {
        let mut problems = Vec::new();
        self.common(MAX_REQUEST_BYTES, true)
            .validate(Some(MAX_REQUEST_BYTES), &mut problems);
        check_url(&mut problems, "endpoint", &self.endpoint);
        if let Some(login) = &self.login_url {
            check_url(&mut problems, "login_url", login);
        }
        if !self.dcr_id.starts_with("dcr-") || self.dcr_id.contains(['/', '?', '#']) {
            problem(
                &mut problems,
                "dcr_id",
                "must be the DCR's immutable id, `dcr-…`",
            );
        }
        if self.stream.is_empty() || self.stream.contains(['/', '?', '#', ' ']) {
            problem(
                &mut problems,
                "stream",
                "must be a stream name of the DCR, e.g. `Custom-O365AtpEvents`",
            );
        }
        for (key, value) in [
            ("tenant_id", &self.tenant_id),
            ("client_id", &self.client_id),
        ] {
            if uuid::Uuid::parse_str(value).is_err() {
                problem(&mut problems, key, &format!("`{value}` is not a GUID"));
            }
        }
        let keys = CredentialKeys {
            client_secret_file: self.client_secret_file.as_deref(),
            client_secret_env: self.client_secret_env.as_deref(),
            certificate_file: self.certificate_file.as_deref(),
            private_key_file: self.private_key_file.as_deref(),
            assertion: self.assertion,
        };
        match resolve_credential(&keys) {
            Ok(credential) => self.credential = Some(credential),
            Err((key, message)) => problem(&mut problems, key, &message),
        }
        problems
    }

    /// The token scope of the configured cloud.
    fn scope(&self) -> &'static str {
        match self.cloud {
            Cloud::Commercial | Cloud::Gcc => "https://monitor.azure.com/.default",
            Cloud::GccHigh | Cloud::Dod => "https://monitor.azure.us/.default",
        }
    }
}

/// Builds the `sentinel` sink from a validated config.
pub(crate) fn build_sentinel(config: &SentinelSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    let common = config.common(MAX_REQUEST_BYTES, true);
    let core = HttpCore::new(&common)?;
    let credential = config.credential.clone().ok_or_else(|| SinkError::Config {
        sink: config.name.clone(),
        message: "the credential was not resolved; validate the config first".into(),
    })?;
    // The token endpoint always gets certificate verification (tls_verify concerns the endpoint only).
    let token_http = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(common.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| SinkError::Config {
            sink: config.name.clone(),
            message: format!("cannot build the token client: {}", error_chain(&error)),
        })?;
    let login = config
        .login_url
        .clone()
        .unwrap_or_else(|| config.cloud.endpoints().login);
    let tokens = TokenSource::new(
        TokenRequest {
            label: format!("sink {}", config.name),
            token_url: format!(
                "{}/{}/oauth2/v2.0/token",
                login.trim_end_matches('/'),
                config.tenant_id
            ),
            client_id: config.client_id.clone(),
            credential,
            scope: config.scope().to_string(),
        },
        token_http,
    );
    Ok(Box::new(SentinelSink {
        core,
        url: format!(
            "{}/dataCollectionRules/{}/streams/{}?api-version={API_VERSION}",
            config.endpoint.trim_end_matches('/'),
            config.dcr_id,
            config.stream
        ),
        format: config.format,
        tokens,
    }))
}

/// The `sentinel` sink.
struct SentinelSink {
    core: HttpCore,
    url: String,
    format: Format,
    tokens: TokenSource,
}

// === impl SentinelSink ===

impl SentinelSink {
    /// Appends one event as a JSON object with `TimeGenerated`.
    fn write_object(&self, event: &Event, payload: &[u8], buf: &mut Vec<u8>) -> Result<(), String> {
        let start = buf.len();
        let time = event
            .creation_time()
            .unwrap_or_else(Utc::now)
            .to_rfc3339_opts(SecondsFormat::AutoSi, true);
        if is_text(self.format) {
            buf.extend_from_slice(br#"{"TimeGenerated":"#);
            write_json_string(&time, buf);
            buf.extend_from_slice(br#","RawData":"#);
            write_json_value(self.format, payload, buf)?;
            buf.push(b'}');
        } else {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(payload)
                    .map_err(|error| format!("payload is not a JSON object: {error}"))?;
            object
                .entry("TimeGenerated")
                .or_insert(serde_json::Value::String(time));
            serde_json::to_writer(&mut *buf, &object).map_err(|error| error.to_string())?;
        }
        let size = buf.len() - start;
        if size + 2 > MAX_REQUEST_BYTES {
            return Err(format!(
                "event is {size} bytes; the Logs Ingestion API takes at most {MAX_REQUEST_BYTES} bytes per request"
            ));
        }
        Ok(())
    }

    /// POSTs one body with the current token.
    async fn post(&self, body: Vec<u8>) -> Result<super::retry::Answer, Verdict> {
        let token = self.tokens.token().await.map_err(|error| Verdict::Retry {
            reason: error.to_string(),
            retry_after: None,
        })?;
        let auth =
            Auth::scheme(&self.core.name, "Bearer", &token).map_err(|error| Verdict::Retry {
                reason: error.to_string(),
                retry_after: None,
            })?;
        let request = auth
            .apply(self.core.client().post(&self.url))
            .header(CONTENT_TYPE, "application/json");
        self.core.send(request, body).await
    }
}

#[async_trait::async_trait]
impl Sink for SentinelSink {
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome {
        let mut outcomes = Outcomes::new(&self.core.name, batch.len());
        let fragments = Fragments::of(batch, &mut outcomes, |event, payload, buf| {
            self.write_object(event, payload, buf)
        });
        let chunks = fragments.plan(Framing::JsonArray, self.core.limits());
        let sent = self.core.dispatch(chunks, |body| self.post(body)).await;
        let unauthorized = sent
            .iter()
            .any(|s| matches!(&s.result, Ok(answer) if answer.status == StatusCode::UNAUTHORIZED));
        if unauthorized {
            if let Err(error) = self.tokens.refresh().await {
                tracing::warn!(sink = %self.core.name, %error, "token refresh after 401 failed");
            }
        }
        for request in sent {
            let verdict = verdict_of(&request.result);
            self.core
                .settle(&mut outcomes, &request.positions, request.bytes, &verdict);
        }
        outcomes.finish()
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        // An empty array checks the token, the role assignment, the DCR and the stream without sending data.
        let answer = self.post(b"[]".to_vec()).await;
        self.core.probe_verdict(&self.url, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn government_clouds_use_the_us_monitor_scope() {
        let config: SentinelSinkConfig = serde_json::from_value(serde_json::json!({
            "name": "s", "endpoint": "https://dce", "dcr_id": "dcr-1", "stream": "Custom-X",
            "tenant_id": "t", "client_id": "c", "cloud": "gcc-high"
        }))
        .unwrap();
        assert_eq!(config.scope(), "https://monitor.azure.us/.default");
        let config = SentinelSinkConfig {
            cloud: Cloud::Gcc,
            ..config
        };
        assert_eq!(config.scope(), "https://monitor.azure.com/.default");
    }
}
