//! stub
use crate::encode::Format;
use crate::sink::{Sink, SinkError};
super::config::http_sink_config! {
    /// stub
    pub struct SentinelSinkConfig {
        /// Sink name (unique).
        pub name: String,
        /// Payload format.
        #[serde(default)]
        pub format: Format,
    }
}
impl SentinelSinkConfig {
    pub(crate) fn validate(&mut self) -> Vec<(String, String)> {
        Vec::new()
    }
}
pub(crate) fn build_sentinel(config: &SentinelSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    Err(SinkError::Config {
        sink: config.name.clone(),
        message: "x".into(),
    })
}
