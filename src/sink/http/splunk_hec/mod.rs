//! `splunk_hec` sink: Splunk HTTP Event Collector, `POST {url}/services/collector/event` with several events
//! per request, each in the envelope `{"host", "source", "sourcetype", "index", "time", "event"}`.
//!
//! Acknowledgement: without `indexer_ack`, a 200 answer (`{"code":0}`); with `indexer_ack = true`, the ack
//! poll answering `true` for the request's `ackId` within `ack_timeout` (see [`ack`]). `time` is the record's
//! CreationTime in epoch seconds. `event` is the json/ecs object itself, or the cef/leef line as a JSON string.
//!
//! HEC answer codes refine the HTTP status: 7 (index not allowed), 10/11 (channel missing or invalid) and 14
//! (ack disabled on the token) are configuration problems and are retried like 401/403; code 6 with an
//! `invalid-event-number` rejects that one event and resends the others.

mod ack;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::config::{check_url, defaults, http_sink_config, problem, resolve_secret, Problems};
use super::core::body::{write_json_string, write_json_value, Fragments, Framing};
use super::core::outcome::Outcomes;
use super::core::service::{Auth, HttpCore};
use super::retry::{excerpt, verdict_of, Answer, Verdict};
use crate::config::Secret;
use crate::encode::Format;
use crate::event::Event;
use crate::sink::{EncodedBatch, ItemOutcome, SendOutcome, Sink, SinkError};
use ack::{AckLedger, CHANNEL_HEADER};

fn default_sourcetype() -> String {
    "o365:management:activity".to_string()
}
fn default_ack_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_ack_interval() -> Duration {
    Duration::from_secs(1)
}

http_sink_config! {
    /// `type = "splunk_hec"`: Splunk HTTP Event Collector.
    pub struct SplunkHecSinkConfig {
        /// Sink name (unique).
        pub name: String,
        /// Payload format: json (default), ecs, cef, leef (cef/leef lines become a JSON string `event`).
        #[serde(default)]
        pub format: Format,
        /// Base URL of the collector, e.g. `https://splunk.example.net:8088`.
        pub url: String,
        /// File holding the HEC token.
        #[serde(default)]
        pub token_file: Option<PathBuf>,
        /// Environment variable holding the HEC token (instead of `token_file`).
        #[serde(default)]
        pub token_env: Option<String>,
        /// Target index; default: the token's default index.
        #[serde(default)]
        pub index: Option<String>,
        /// Sourcetype (default `o365:management:activity`, the one of Splunk's Microsoft 365 add-on).
        #[serde(default = "default_sourcetype")]
        pub sourcetype: String,
        /// Source; default `atp-forwarder:<tenant name>`.
        #[serde(default)]
        pub source: Option<String>,
        /// Host field; default this machine's host name.
        #[serde(default)]
        pub host: Option<String>,
        /// Count events only once the indexers acknowledge them (the token must have indexer
        /// acknowledgement enabled). Default false.
        #[serde(default)]
        pub indexer_ack: bool,
        /// How long to wait for the acks of a batch before sending it again (default 60s).
        #[serde(with = "humantime_serde", default = "default_ack_timeout")]
        pub ack_timeout: Duration,
        /// How often to poll for acks while waiting (default 1s).
        #[serde(with = "humantime_serde", default = "default_ack_interval")]
        pub ack_interval: Duration,
        /// The resolved token (filled by validation).
        #[serde(skip)]
        pub(crate) token: Option<Secret>,
    }
}

// === impl SplunkHecSinkConfig ===

impl SplunkHecSinkConfig {
    /// Checks every key and reads the token; returns every problem as (key, message).
    pub(crate) fn validate(&mut self) -> Problems {
        let mut problems = Vec::new();
        self.common(defaults::BATCH_MAX_BYTES, false)
            .validate(None, &mut problems);
        check_url(&mut problems, "url", &self.url);
        if self.sourcetype.trim().is_empty() {
            problem(&mut problems, "sourcetype", "must not be empty");
        }
        if self.ack_interval.is_zero() {
            problem(&mut problems, "ack_interval", "must be greater than 0");
        }
        if self.ack_timeout < self.ack_interval {
            problem(
                &mut problems,
                "ack_timeout",
                "must be at least ack_interval",
            );
        }
        self.token = resolve_secret(
            &mut problems,
            "token",
            self.token_file.as_deref(),
            self.token_env.as_deref(),
        );
        if self.token_file.is_none() && self.token_env.is_none() {
            problem(&mut problems, "token_file", "required (or token_env)");
        }
        problems
    }
}

/// Builds the `splunk_hec` sink from a validated config.
pub(crate) fn build_splunk_hec(config: &SplunkHecSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    let core = HttpCore::new(&config.common(defaults::BATCH_MAX_BYTES, false))?;
    let token = config.token.as_ref().ok_or_else(|| SinkError::Config {
        sink: config.name.clone(),
        message: "the token was not resolved; validate the config first".into(),
    })?;
    let base = config.url.trim_end_matches('/');
    let host = config
        .host
        .clone()
        .unwrap_or_else(|| gethostname::gethostname().to_string_lossy().into_owned());
    Ok(Box::new(SplunkHecSink {
        auth: Auth::scheme(&config.name, "Splunk", token)?,
        core,
        event_url: format!("{base}/services/collector/event"),
        ack_url: format!("{base}/services/collector/ack"),
        health_url: format!("{base}/services/collector/health/1.0"),
        channel: config.indexer_ack.then(|| uuid::Uuid::new_v4().to_string()),
        host,
        source: config.source.clone(),
        sourcetype: config.sourcetype.clone(),
        index: config.index.clone(),
        format: config.format,
        ack_timeout: config.ack_timeout,
        ack_interval: config.ack_interval,
        acks: AckLedger::default(),
    }))
}

/// The `splunk_hec` sink.
#[derive(Debug)]
struct SplunkHecSink {
    core: HttpCore,
    auth: Auth,
    event_url: String,
    ack_url: String,
    health_url: String,
    /// The channel GUID when indexer acknowledgement is on.
    channel: Option<String>,
    host: String,
    source: Option<String>,
    sourcetype: String,
    index: Option<String>,
    format: Format,
    ack_timeout: Duration,
    ack_interval: Duration,
    acks: AckLedger,
}

/// A HEC answer: `{"text":"Success","code":0,"ackId":7}` or `{"text":…,"code":6,"invalid-event-number":2}`.
#[derive(Debug, Default, Deserialize)]
struct HecAnswer {
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
    #[serde(default, rename = "invalid-event-number")]
    invalid_event: Option<usize>,
}

/// What one event request came to.
#[derive(Debug)]
enum Posted {
    /// Settled by the answer alone.
    Done(Verdict),
    /// Accepted; delivered once `ackId` is acknowledged.
    AwaitAck(u64),
    /// Refused because of the event at this index of the request.
    InvalidEvent { index: usize, reason: String },
}

// === impl SplunkHecSink ===

impl SplunkHecSink {
    fn post(&self, url: &str) -> reqwest::RequestBuilder {
        let request = self.auth.apply(self.core.client().post(url));
        match &self.channel {
            Some(channel) => request.header(CHANNEL_HEADER, channel),
            None => request,
        }
    }

    /// `{"host":…,"source":…,"sourcetype":…[,"index":…]` for events of `tenant`.
    fn envelope_head(&self, tenant: &str) -> Vec<u8> {
        let mut head = br#"{"host":"#.to_vec();
        write_json_string(&self.host, &mut head);
        head.extend_from_slice(br#","source":"#);
        match &self.source {
            Some(source) => write_json_string(source, &mut head),
            None => write_json_string(&format!("atp-forwarder:{tenant}"), &mut head),
        }
        head.extend_from_slice(br#","sourcetype":"#);
        write_json_string(&self.sourcetype, &mut head);
        if let Some(index) = &self.index {
            head.extend_from_slice(br#","index":"#);
            write_json_string(index, &mut head);
        }
        head
    }

    fn write_event(
        &self,
        head: &[u8],
        event: &Event,
        payload: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), String> {
        buf.extend_from_slice(head);
        if let Some(time) = event.creation_time() {
            let millis = time.timestamp_subsec_millis();
            if millis == 0 {
                buf.extend_from_slice(format!(r#","time":{}"#, time.timestamp()).as_bytes());
            } else {
                buf.extend_from_slice(
                    format!(r#","time":{}.{millis:03}"#, time.timestamp()).as_bytes(),
                );
            }
        }
        buf.extend_from_slice(br#","event":"#);
        write_json_value(self.format, payload, buf)?;
        buf.push(b'}');
        Ok(())
    }

    /// Reads the answer to an event request.
    fn read_answer(&self, answer: Result<Answer, Verdict>) -> Posted {
        let verdict = verdict_of(&answer);
        let Ok(answer) = answer else {
            return Posted::Done(verdict);
        };
        let hec: HecAnswer = serde_json::from_slice(&answer.body).unwrap_or_default();
        let code = hec.code.unwrap_or(-1);
        let reason = || {
            format!(
                "HTTP {} (HEC code {code}: {})",
                answer.status.as_u16(),
                hec.text
            )
        };
        match verdict {
            Verdict::Success => match (&self.channel, hec.ack_id) {
                (Some(_), Some(ack_id)) => Posted::AwaitAck(ack_id),
                (Some(_), None) => {
                    tracing::warn!(sink = %self.core.name, "indexer_ack = true but HEC sent no ackId; \
                        enable indexer acknowledgement on the token (events count as delivered on receipt)");
                    Posted::Done(Verdict::Success)
                }
                (None, _) => Posted::Done(Verdict::Success),
            },
            Verdict::Reject { .. } if matches!(code, 7 | 10 | 11 | 14) => {
                Posted::Done(Verdict::Retry {
                    reason: format!(
                        "{}; check the token's settings and the sink's index / indexer_ack",
                        reason()
                    ),
                    retry_after: None,
                })
            }
            Verdict::Reject { .. } if code == 6 && hec.invalid_event.is_some() => {
                Posted::InvalidEvent {
                    index: hec.invalid_event.unwrap_or_default(),
                    reason: format!("{}: {}", reason(), excerpt(&answer.body)),
                }
            }
            other => Posted::Done(other),
        }
    }

    /// Polls for the acks of `pending` requests until all are `true` or `ack_timeout` passes; the rest are
    /// handed back for a resend and remembered.
    async fn await_acks(
        &mut self,
        batch: &EncodedBatch,
        mut pending: Vec<(u64, Vec<usize>)>,
        outcomes: &mut Outcomes,
    ) {
        let deadline = tokio::time::Instant::now() + self.ack_timeout;
        while !pending.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + self.ack_interval))
                .await;
            let ids: Vec<u64> = pending.iter().map(|(id, _)| *id).collect();
            match ack::query(self.post(&self.ack_url), &ids).await {
                Ok(acked) => pending.retain(|(id, positions)| {
                    let done = acked.contains(id);
                    if done {
                        outcomes.set_all(positions, &ItemOutcome::Delivered);
                    }
                    !done
                }),
                Err(error) => {
                    tracing::debug!(sink = %self.core.name, %error, "ack poll failed; polling again")
                }
            }
        }
        for (ack_id, positions) in pending {
            tracing::warn!(sink = %self.core.name, ack_id, events = positions.len(),
                timeout = ?self.ack_timeout, "no indexer ack in time; the events will be sent again");
            outcomes.set_all(
                &positions,
                &ItemOutcome::Retry {
                    reason: format!(
                        "Splunk did not acknowledge ackId {ack_id} within {:?}",
                        self.ack_timeout
                    ),
                    retry_after: None,
                },
            );
            let record_ids = positions
                .iter()
                .filter_map(|&p| {
                    batch
                        .items()
                        .get(p)
                        .map(|item| batch.event(item).record.id.clone())
                })
                .collect();
            self.acks.abandon(ack_id, record_ids);
        }
    }

    /// Asks once about acks given up on earlier; their events are then not sent again.
    async fn recheck_abandoned(&mut self) {
        self.acks.prune();
        let ids = self.acks.abandoned_ids();
        if self.channel.is_none() || ids.is_empty() {
            return;
        }
        match ack::query(self.post(&self.ack_url), &ids).await {
            Ok(acked) => self.acks.confirm(&acked),
            Err(error) => tracing::debug!(sink = %self.core.name, %error, "late ack poll failed"),
        }
    }
}

#[async_trait::async_trait]
impl Sink for SplunkHecSink {
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome {
        self.recheck_abandoned().await;
        let mut outcomes = Outcomes::new(&self.core.name, batch.len());
        let head = self.envelope_head(batch.tenant());
        for (position, (event, _)) in batch.iter().enumerate() {
            if self.acks.take_late(&event.record.id) {
                outcomes.set(position, ItemOutcome::Delivered);
            }
        }
        let fragments = Fragments::of(batch, &mut outcomes, |event, payload, buf| {
            self.write_event(&head, event, payload, buf)
        });
        let chunks = fragments.plan(Framing::Lines, self.core.limits());
        let sent = self
            .core
            .dispatch(chunks, |body| async {
                let answer = self.core.send(self.post(&self.event_url), body).await;
                self.read_answer(answer)
            })
            .await;
        let mut pending = Vec::new();
        for request in sent {
            let (positions, bytes) = (request.positions, request.bytes);
            match request.result {
                Posted::AwaitAck(ack_id) => pending.push((ack_id, positions)),
                Posted::Done(verdict) => {
                    self.core.settle(&mut outcomes, &positions, bytes, &verdict)
                }
                Posted::InvalidEvent { index, reason } if index >= positions.len() => {
                    let verdict = Verdict::Reject { reason };
                    self.core.settle(&mut outcomes, &positions, bytes, &verdict);
                }
                Posted::InvalidEvent { index, reason } => {
                    // The events before the bad one may be indexed already; resending them is at-least-once.
                    tracing::warn!(sink = %self.core.name, index, %reason, "HEC refused one event of a request");
                    for (at, position) in positions.iter().enumerate() {
                        outcomes.set(
                            *position,
                            if at == index {
                                ItemOutcome::Rejected {
                                    reason: reason.clone(),
                                }
                            } else {
                                ItemOutcome::Retry {
                                    reason: format!(
                                        "request refused because of another event ({reason})"
                                    ),
                                    retry_after: None,
                                }
                            },
                        );
                    }
                }
            }
        }
        if !pending.is_empty() {
            self.await_acks(batch, pending, &mut outcomes).await;
        }
        outcomes.finish()
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        let failed = |message: String| SinkError::Connect {
            sink: self.core.name.clone(),
            address: self.event_url.clone(),
            message,
        };
        let health = self
            .core
            .send(self.core.client().get(&self.health_url), Vec::new())
            .await;
        match health {
            Ok(answer) if answer.status.is_success() => {}
            Ok(answer) => {
                return Err(failed(format!(
                    "HEC health check answered HTTP {}: {}",
                    answer.status.as_u16(),
                    excerpt(&answer.body)
                )))
            }
            Err(Verdict::Retry { reason, .. }) => return Err(failed(reason)),
            Err(_) => return Err(failed("HEC health check failed".into())),
        }
        // An empty event request checks the token (and channel) without indexing anything: a valid token
        // gets "No data" (HEC code 5), a bad one 401/403.
        let answer = self.core.send(self.post(&self.event_url), Vec::new()).await;
        match self.read_answer(answer) {
            Posted::Done(Verdict::Retry { reason, .. }) => Err(failed(reason)),
            _ => Ok(()),
        }
    }
}
