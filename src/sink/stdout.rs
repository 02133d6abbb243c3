//! `stdout` sink: one message per line on standard output; acknowledged after write + flush.

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{EncodedBatch, SendOutcome, Sink, SinkError};
use crate::encode::Format;

/// `type = "stdout"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    /// Sink name (unique).
    pub name: String,
    /// Payload format: json (default), ecs, cef, leef.
    #[serde(default)]
    pub format: Format,
}

/// Writes lines to standard output.
pub(crate) struct StdoutSink {
    name: String,
    out: tokio::io::Stdout,
}

impl StdoutSink {
    pub(crate) fn new(config: &StdoutSinkConfig) -> StdoutSink {
        StdoutSink {
            name: config.name.clone(),
            out: tokio::io::stdout(),
        }
    }
}

#[async_trait::async_trait]
impl Sink for StdoutSink {
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome {
        let result = match self.out.write_all(&batch.lines().to_bytes()).await {
            Ok(()) => self.out.flush().await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => SendOutcome::Delivered,
            // The reader is gone (`atp-forwarder demo | head`, a log shipper that exited): no retry can
            // reach a new one.
            Err(source) if source.kind() == std::io::ErrorKind::BrokenPipe => SendOutcome::Closed {
                error: SinkError::Io {
                    sink: self.name.clone(),
                    source,
                },
            },
            Err(source) => SendOutcome::Retry {
                error: SinkError::Io {
                    sink: self.name.clone(),
                    source,
                },
                retry_after: None,
            },
        }
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
