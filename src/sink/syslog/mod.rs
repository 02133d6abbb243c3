//! Syslog sink (placeholder until the syslog sink lands).

use serde::Deserialize;

use super::{Sink, SinkError};
use crate::encode::Format;

/// `type = "syslog"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// Sink name (unique).
    pub name: String,
    /// Payload format of the MSG part.
    #[serde(default)]
    pub format: Format,
    /// `host:port` of the receiver.
    pub address: String,
}

impl SyslogSinkConfig {
    pub(crate) fn validate(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Builds the syslog sink.
pub(crate) fn build(config: &SyslogSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    Err(SinkError::Config {
        sink: config.name.clone(),
        message: "the syslog sink is not available in this build".into(),
    })
}

impl SyslogSinkConfig {
    /// True for the best-effort UDP transport.
    pub fn is_udp(&self) -> bool {
        false
    }
}
