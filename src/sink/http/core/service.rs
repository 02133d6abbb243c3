//! The HTTP client of one sink and the sending of a batch's requests.

use std::future::Future;
use std::io::Write;

use futures::StreamExt;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING};
use reqwest::RequestBuilder;

use super::body::{Chunk, Limits};
use super::outcome::Outcomes;
use crate::config::Secret;
use crate::sink::http::config::Common;
use crate::sink::http::retry::{classify_transport, error_chain, verdict_of, Answer, Verdict};
use crate::sink::{ItemOutcome, SinkError};

/// Smallest `batch_max_bytes` a 413 answer can shrink a sink's requests to.
const MIN_REQUEST_BYTES: usize = 1024;

/// The client and request limits of one HTTP sink.
#[derive(Debug)]
pub(crate) struct HttpCore {
    /// The sink's name, for logs and errors.
    pub(crate) name: String,
    client: reqwest::Client,
    gzip: bool,
    max_in_flight: usize,
    limits: Limits,
}

/// How a sink authenticates its requests.
#[derive(Debug)]
pub(crate) enum Auth {
    /// No `Authorization` header.
    None,
    /// HTTP basic.
    Basic { username: String, password: Secret },
    /// A complete `Authorization` value (`Bearer …`, `Splunk …`, `ApiKey …`), marked sensitive.
    Header(HeaderValue),
}

// === impl Auth ===

impl Auth {
    /// `Authorization: <scheme> <secret>`; fails (without echoing the secret) when the value is not a valid
    /// header value.
    pub(crate) fn scheme(sink: &str, scheme: &str, secret: &Secret) -> Result<Auth, SinkError> {
        let mut value =
            HeaderValue::try_from(format!("{scheme} {}", secret.expose())).map_err(|_| {
                SinkError::Config {
                    sink: sink.to_string(),
                    message: format!(
                        "the {scheme} credential contains characters not allowed in an HTTP header"
                    ),
                }
            })?;
        value.set_sensitive(true);
        Ok(Auth::Header(value))
    }

    /// Adds the credentials to `request`.
    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
            Auth::Header(value) => request.header(AUTHORIZATION, value.clone()),
        }
    }
}

/// What became of one request of a batch.
#[derive(Debug)]
pub(crate) struct Sent<T> {
    /// The batch positions of the request's items.
    pub positions: Vec<usize>,
    /// The body's size before compression.
    pub bytes: usize,
    /// What the request's handler returned.
    pub result: T,
}

// === impl HttpCore ===

impl HttpCore {
    /// Builds the client: rustls with the web PKI roots plus `ca_file`, the request timeout, connection reuse,
    /// no redirects (a redirected POST must not silently turn into a GET).
    pub(crate) fn new(common: &Common) -> Result<HttpCore, SinkError> {
        let config_error = |message: String| SinkError::Config {
            sink: common.name.clone(),
            message,
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(common.timeout)
            .connect_timeout(common.timeout.min(std::time::Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("atp-forwarder/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &common.ca_file {
            let pem = std::fs::read(path)
                .map_err(|error| config_error(format!("ca_file {}: {error}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
                config_error(format!(
                    "ca_file {}: {}",
                    path.display(),
                    error_chain(&error)
                ))
            })?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if !common.tls_verify {
            tracing::warn!(
                sink = %common.name,
                "tls_verify = false: the server's TLS certificate is not checked; anyone on the path can \
                 read and alter what this sink sends"
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder
            .build()
            .map_err(|error| config_error(format!("cannot build the HTTP client: {error}")))?;
        Ok(HttpCore {
            name: common.name.clone(),
            client,
            gzip: common.gzip,
            max_in_flight: common.max_in_flight,
            limits: Limits {
                max_events: common.max_events,
                max_bytes: common.max_bytes,
            },
        })
    }

    /// The shared client (connection pool).
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The current request limits (a 413 answer lowers them).
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Sends `request` with `body` — gzip'd when configured and when that makes it smaller — and reads the
    /// whole answer. A transport failure comes back as a retry verdict.
    pub(crate) async fn send(
        &self,
        request: RequestBuilder,
        body: Vec<u8>,
    ) -> Result<Answer, Verdict> {
        let request = match self.gzip.then(|| gzip(&body)).flatten() {
            Some(compressed) if compressed.len() < body.len() => {
                request.header(CONTENT_ENCODING, "gzip").body(compressed)
            }
            _ => request.body(body),
        };
        let response = request
            .send()
            .await
            .map_err(|error| classify_transport(&error))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|error| classify_transport(&error))?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// Runs `send` for every chunk, at most `max_in_flight` at a time; results come back in completion order.
    pub(crate) async fn dispatch<T, F, Fut>(&self, chunks: Vec<Chunk>, send: F) -> Vec<Sent<T>>
    where
        F: Fn(Vec<u8>) -> Fut,
        Fut: Future<Output = T>,
    {
        let send = &send;
        futures::stream::iter(chunks)
            .map(|chunk| async move {
                let bytes = chunk.body.len();
                let result = send(chunk.body).await;
                Sent {
                    positions: chunk.positions,
                    bytes,
                    result,
                }
            })
            .buffer_unordered(self.max_in_flight)
            .collect()
            .await
    }

    /// Records a whole-request verdict for the items of one request. A 413 makes later requests smaller
    /// (half of the refused one); a refused request of one event is rejected.
    pub(crate) fn settle(
        &mut self,
        outcomes: &mut Outcomes,
        positions: &[usize],
        bytes: usize,
        verdict: &Verdict,
    ) {
        let events = positions.len();
        let outcome = match verdict {
            Verdict::Success => ItemOutcome::Delivered,
            Verdict::Retry {
                reason,
                retry_after,
            } => {
                tracing::warn!(sink = %self.name, events, %reason, ?retry_after, "request not accepted; will retry");
                ItemOutcome::Retry {
                    reason: reason.clone(),
                    retry_after: *retry_after,
                }
            }
            Verdict::TooLarge { reason } if events > 1 => {
                self.limits = Limits {
                    max_events: self.limits.max_events.min(events / 2).max(1),
                    max_bytes: self.limits.max_bytes.min(bytes / 2).max(MIN_REQUEST_BYTES),
                };
                tracing::warn!(
                    sink = %self.name, events, bytes, %reason,
                    max_events = self.limits.max_events, max_bytes = self.limits.max_bytes,
                    "request too large; sending smaller requests from now on (lower batch_max_bytes)"
                );
                ItemOutcome::Retry {
                    reason: format!("{reason}; resending in smaller requests"),
                    retry_after: None,
                }
            }
            Verdict::TooLarge { reason } | Verdict::Reject { reason } => {
                tracing::warn!(sink = %self.name, events, %reason, "events rejected by the destination");
                ItemOutcome::Rejected {
                    reason: reason.clone(),
                }
            }
        };
        outcomes.set_all(positions, &outcome);
    }

    /// The verdict of a `check` probe: a retry verdict (unreachable, refused credentials, wrong path, busy)
    /// fails it; any other answer means the destination is reachable and took the credentials (a refusal of
    /// the probe's empty request is expected).
    pub(crate) fn probe_verdict(
        &self,
        url: &str,
        answer: Result<Answer, Verdict>,
    ) -> Result<(), SinkError> {
        match verdict_of(&answer) {
            Verdict::Retry { reason, .. } => Err(SinkError::Connect {
                sink: self.name.clone(),
                address: url.to_string(),
                message: reason,
            }),
            Verdict::Success | Verdict::TooLarge { .. } | Verdict::Reject { .. } => Ok(()),
        }
    }
}

/// Gzip of `body`; `None` on the (in-memory, practically impossible) failure, which sends it uncompressed.
fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok()
}
