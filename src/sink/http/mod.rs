//! HTTP sinks (placeholder until the HTTP sinks land).

use serde::Deserialize;

use super::{Sink, SinkError};
use crate::encode::Format;

macro_rules! placeholder_config {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Sink name (unique).
            pub name: String,
            /// Payload format.
            #[serde(default)]
            pub format: Format,
        }

        impl $name {
            pub(crate) fn validate(&self) -> Vec<(String, String)> {
                Vec::new()
            }
        }
    };
}

placeholder_config!(HttpSinkConfig, "`type = \"http\"`");
placeholder_config!(SplunkHecSinkConfig, "`type = \"splunk_hec\"`");
placeholder_config!(ElasticsearchSinkConfig, "`type = \"elasticsearch\"`");
placeholder_config!(SentinelSinkConfig, "`type = \"sentinel\"`");

fn unavailable(name: &str) -> Result<Box<dyn Sink>, SinkError> {
    Err(SinkError::Config {
        sink: name.to_string(),
        message: "this sink type is not available in this build".into(),
    })
}

pub(crate) fn build_http(config: &HttpSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    unavailable(&config.name)
}
pub(crate) fn build_splunk_hec(config: &SplunkHecSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    unavailable(&config.name)
}
pub(crate) fn build_elasticsearch(
    config: &ElasticsearchSinkConfig,
) -> Result<Box<dyn Sink>, SinkError> {
    unavailable(&config.name)
}
pub(crate) fn build_sentinel(config: &SentinelSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    unavailable(&config.name)
}
