//! Sinks: where encoded events go, and what "acknowledged" means for each.
//!
//! A sink is a small trait: [`Sink::send`] hands one [`EncodedBatch`] to the destination and says, per event,
//! whether it is confirmed, worth retrying, or rejected for good. The pipeline owns batching, retries with
//! backoff, dead letters and acknowledgement accounting (see `pipeline.rs`), so a sink only speaks its protocol.
//!
//! Acknowledged means durably handed on: `file` after write + flush, `stdout` after write + flush, syslog
//! TCP/TLS after a completed write and flush, HTTP sinks on a 2xx without per-item failures (HEC: the indexer
//! ack where enabled).

mod batch;
mod file;
pub mod http;
pub(crate) mod lines;
mod stdout;
pub mod syslog;

use std::time::Duration;

use serde::Deserialize;

#[cfg(test)]
pub(crate) use batch::test_chunk;
pub use batch::{EncodedBatch, EncodedItem, EventList};
pub use file::FileSinkConfig;
pub use lines::Lines;
pub use stdout::StdoutSinkConfig;

use crate::encode::Format;

/// Hands batches of encoded events to one destination.
#[async_trait::async_trait]
pub trait Sink: Send {
    /// Hand a batch to the destination; return which events are confirmed, retryable or rejected.
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome;
    /// Connect (and handshake) once, for `check` and readiness.
    async fn probe(&mut self) -> Result<(), SinkError>;
}

/// How the pipeline groups a sink's queued batches into one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One batch per send: an HTTP sink with `batch_timeout = "0s"` or `batch_max_events = 1`.
    Each,
    /// The batch that came and those of its tenant already queued behind it, without waiting: the stream
    /// sinks (file, stdout, syslog), which have no per-send limit.
    Queued,
    /// Wait for more batches of the tenant, within the bounds given: an HTTP sink.
    Gather(Gathering),
}

/// How long the pipeline may wait to fill a batch for a sink, and with how many events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gathering {
    /// Stop waiting once this many events are gathered (`batch_max_events`).
    pub max_events: usize,
    /// Wait at most this long after the first event (`batch_timeout`).
    pub timeout: Duration,
}

/// What became of a batch.
#[derive(Debug)]
pub enum SendOutcome {
    /// Every event is acknowledged.
    Delivered,
    /// Nothing is acknowledged; send the whole batch again later (after `retry_after` when given).
    Retry {
        error: SinkError,
        retry_after: Option<Duration>,
    },
    /// The destination refused the whole batch for good (e.g. HTTP 400); dead-letter it.
    Rejected { reason: String },
    /// One outcome per item of the batch, in order.
    Partial(Vec<ItemOutcome>),
    /// The destination is gone for good and cannot come back while this process runs (standard output
    /// whose reader closed the pipe): nothing of the batch is acknowledged, and the run stops.
    Closed { error: SinkError },
}

/// What became of one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Acknowledged.
    Delivered,
    /// Not acknowledged; send again (after `retry_after` when given).
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Refused for good; dead-letter with the reason.
    Rejected { reason: String },
}

/// Why a sink could not deliver or connect.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink {sink}: cannot connect to {address}: {message}")]
    Connect {
        sink: String,
        address: String,
        message: String,
    },
    #[error("sink {sink}: I/O error: {source}")]
    Io {
        sink: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sink {sink}: {message}")]
    Protocol { sink: String, message: String },
    #[error("sink {sink}: invalid configuration: {message}")]
    Config { sink: String, message: String },
}

/// `[[sinks]]`: one destination. `type` selects the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// Appends one message per line to a file.
    File(FileSinkConfig),
    /// Writes one message per line to standard output.
    Stdout(StdoutSinkConfig),
    /// Syslog over UDP, TCP, TLS or RELP.
    Syslog(syslog::SyslogSinkConfig),
    /// Generic HTTP POST.
    Http(http::HttpSinkConfig),
    /// Splunk HTTP Event Collector.
    SplunkHec(http::SplunkHecSinkConfig),
    /// Elasticsearch / OpenSearch bulk API.
    Elasticsearch(http::ElasticsearchSinkConfig),
    /// Microsoft Sentinel through the Azure Monitor Logs Ingestion API.
    Sentinel(http::SentinelSinkConfig),
}

// === impl SinkConfig ===

impl SinkConfig {
    /// The sink's configured name (unique; used in logs, metrics and state).
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::File(config) => &config.name,
            SinkConfig::Stdout(config) => &config.name,
            SinkConfig::Syslog(config) => &config.name,
            SinkConfig::Http(config) => &config.name,
            SinkConfig::SplunkHec(config) => &config.name,
            SinkConfig::Elasticsearch(config) => &config.name,
            SinkConfig::Sentinel(config) => &config.name,
        }
    }

    /// The payload format this sink sends.
    pub fn format(&self) -> Format {
        match self {
            SinkConfig::File(config) => config.format,
            SinkConfig::Stdout(config) => config.format,
            SinkConfig::Syslog(config) => config.format,
            SinkConfig::Http(config) => config.format,
            SinkConfig::SplunkHec(config) => config.format,
            SinkConfig::Elasticsearch(config) => config.format,
            SinkConfig::Sentinel(config) => config.format,
        }
    }

    /// Whether the sink reads the records' typed models: every format but `json` does, and syslog does in
    /// any format (an alert takes `alert_severity`). When no sink does, the pipeline passes records through
    /// without decoding them ([`crate::event::Event::passthrough`]).
    pub fn reads_models(&self) -> bool {
        self.format().is_typed() || matches!(self, SinkConfig::Syslog(_))
    }

    /// How the pipeline groups batches for this sink before a send: the HTTP sinks wait up to their
    /// `batch_timeout` for `batch_max_events` (several blobs' events in one request); the stream sinks
    /// (file, stdout, syslog) never wait, and send each batch with those of its tenant already queued.
    pub fn grouping(&self) -> Grouping {
        match self {
            SinkConfig::File(_) | SinkConfig::Stdout(_) | SinkConfig::Syslog(_) => Grouping::Queued,
            SinkConfig::Http(config) => config.grouping(),
            SinkConfig::SplunkHec(config) => config.grouping(),
            SinkConfig::Elasticsearch(config) => config.grouping(),
            SinkConfig::Sentinel(config) => config.grouping(),
        }
    }

    /// Problems with this sink's keys, as (key, message) pairs; resolves secrets.
    pub fn validate(&mut self) -> Vec<(String, String)> {
        match self {
            SinkConfig::File(config) => config.validate(),
            SinkConfig::Stdout(_) => Vec::new(),
            SinkConfig::Syslog(config) => config.validate(),
            SinkConfig::Http(config) => config.validate(),
            SinkConfig::SplunkHec(config) => config.validate(),
            SinkConfig::Elasticsearch(config) => config.validate(),
            SinkConfig::Sentinel(config) => config.validate(),
        }
    }

    /// Builds the sink. Does not connect: the first `send` or `probe` does.
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        match self {
            SinkConfig::File(config) => Ok(Box::new(file::FileSink::new(config))),
            SinkConfig::Stdout(config) => Ok(Box::new(stdout::StdoutSink::new(config))),
            SinkConfig::Syslog(config) => syslog::build(config),
            SinkConfig::Http(config) => http::build_http(config),
            SinkConfig::SplunkHec(config) => http::build_splunk_hec(config),
            SinkConfig::Elasticsearch(config) => http::build_elasticsearch(config),
            SinkConfig::Sentinel(config) => http::build_sentinel(config),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(text: &str) -> SinkConfig {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => panic!("{text}: {error}"),
        };
        match serde_json::from_value(value) {
            Ok(sink) => sink,
            Err(error) => panic!("{text}: {error}"),
        }
    }

    #[test]
    fn only_raw_json_outside_syslog_needs_no_models() {
        let file_json = sink(r#"{"type":"file","name":"f","path":"/tmp/x","format":"json"}"#);
        let file_ecs = sink(r#"{"type":"file","name":"f","path":"/tmp/x","format":"ecs"}"#);
        let syslog_json =
            sink(r#"{"type":"syslog","name":"s","address":"127.0.0.1:514","format":"json"}"#);
        assert!(!file_json.reads_models());
        assert!(file_ecs.reads_models());
        assert!(
            syslog_json.reads_models(),
            "syslog reads is_alert for its severity"
        );
    }

    #[test]
    fn stream_sinks_take_what_is_queued_and_http_sinks_gather_or_send_each_batch() {
        let file = sink(r#"{"type":"file","name":"f","path":"/tmp/x"}"#);
        assert_eq!(file.grouping(), Grouping::Queued);
        let http = sink(r#"{"type":"http","name":"h","url":"http://127.0.0.1:1/"}"#);
        assert!(matches!(http.grouping(), Grouping::Gather(_)));
        let zero_timeout =
            sink(r#"{"type":"http","name":"h","url":"http://127.0.0.1:1/","batch_timeout":"0s"}"#);
        assert_eq!(zero_timeout.grouping(), Grouping::Each);
    }
}
