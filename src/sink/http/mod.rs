//! HTTP sinks: generic `http`, `splunk_hec` (with indexer acknowledgement), `elasticsearch` (bulk) and
//! `sentinel` (Azure Monitor Logs Ingestion API).
//!
//! All four share one core (`core/`): a reqwest client with rustls and connection reuse, request bodies split
//! to respect `batch_max_events` / `batch_max_bytes`, up to `max_in_flight` requests of a batch at once, and
//! one classification of answers (`retry.rs`) into delivered / retry (honouring `Retry-After`) / rejected.
//! The pipeline owns the retry loop: a sink's `send` classifies each event once and returns.
//!
//! Acknowledged means: a 2xx answer without a per-item failure (`elasticsearch` looks at every item), and for
//! `splunk_hec` with `indexer_ack = true`, the ack poll saying `true`.

mod config;
mod core;
mod elasticsearch;
mod generic;
mod retry;
mod sentinel;
mod splunk_hec;

pub use elasticsearch::ElasticsearchSinkConfig;
pub use generic::{AuthKind, BodyKind, HttpSinkConfig};
pub use sentinel::SentinelSinkConfig;
pub use splunk_hec::SplunkHecSinkConfig;

pub(crate) use elasticsearch::build_elasticsearch;
pub(crate) use generic::build_http;
pub(crate) use sentinel::build_sentinel;
pub(crate) use splunk_hec::build_splunk_hec;
