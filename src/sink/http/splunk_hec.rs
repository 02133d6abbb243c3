//! stub
use crate::encode::Format;
use crate::sink::{Sink, SinkError};
super::config::http_sink_config! {
    /// stub
    pub struct SplunkHecSinkConfig {
        /// Sink name (unique).
        pub name: String,
        /// Payload format.
        #[serde(default)]
        pub format: Format,
    }
}
impl SplunkHecSinkConfig {
    pub(crate) fn validate(&mut self) -> Vec<(String, String)> {
        Vec::new()
    }
}
pub(crate) fn build_splunk_hec(config: &SplunkHecSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    Err(SinkError::Config {
        sink: config.name.clone(),
        message: "x".into(),
    })
}
