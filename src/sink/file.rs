//! `file` sink: appends one message per line to a file; acknowledged after write + flush.

use std::path::PathBuf;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{EncodedBatch, SendOutcome, Sink, SinkError};
use crate::encode::Format;

/// `type = "file"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSinkConfig {
    /// Sink name (unique).
    pub name: String,
    /// Payload format: json (default), ecs, cef, leef.
    #[serde(default)]
    pub format: Format,
    /// File to append to; parent directories are created.
    pub path: PathBuf,
}

impl FileSinkConfig {
    pub(crate) fn validate(&self) -> Vec<(String, String)> {
        if self.path.as_os_str().is_empty() {
            return vec![("path".into(), "must not be empty".into())];
        }
        Vec::new()
    }
}

/// Appends lines to a file, opened on first use.
pub(crate) struct FileSink {
    name: String,
    path: PathBuf,
    file: Option<tokio::fs::File>,
    buf: Vec<u8>,
}

// === impl FileSink ===

impl FileSink {
    pub(crate) fn new(config: &FileSinkConfig) -> FileSink {
        FileSink {
            name: config.name.clone(),
            path: config.path.clone(),
            file: None,
            buf: Vec::new(),
        }
    }

    async fn open(&mut self) -> Result<&mut tokio::fs::File, SinkError> {
        if self.file.is_none() {
            if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|source| self.io(source))?;
            }
            let mut file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&self.path)
                .await
                .map_err(|source| self.io(source))?;
            end_torn_line(&mut file)
                .await
                .map_err(|source| self.io(source))?;
            self.file = Some(file);
        }
        self.file.as_mut().ok_or_else(|| SinkError::Protocol {
            sink: self.name.clone(),
            message: "file not open".into(),
        })
    }

    fn io(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            sink: format!("{} ({})", self.name, self.path.display()),
            source,
        }
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for (_, payload) in batch.iter() {
            buf.extend_from_slice(payload);
            buf.push(b'\n');
        }
        let result = match self.open().await {
            Ok(file) => match file.write_all(&buf).await {
                Ok(()) => file.flush().await,
                Err(error) => Err(error),
            }
            .map_err(|source| self.io(source)),
            Err(error) => Err(error),
        };
        self.buf = buf;
        match result {
            Ok(()) => SendOutcome::Delivered,
            Err(error) => {
                // A failed append may have written part of the batch; reopen before the retry.
                self.file = None;
                SendOutcome::Retry {
                    error,
                    retry_after: None,
                }
            }
        }
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        self.open().await.map(|_| ())
    }
}

/// A crash in the middle of a write can leave a partial last line; end it so the next line starts clean
/// (the partial event is delivered again, whole, because its blob was not committed).
async fn end_torn_line(file: &mut tokio::fs::File) -> std::io::Result<()> {
    let length = file.metadata().await?.len();
    if length == 0 {
        return Ok(());
    }
    file.seek(std::io::SeekFrom::Start(length - 1)).await?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last).await?;
    if last[0] != b'\n' {
        tracing::warn!(
            bytes = length,
            "the file ended in a partial line (a crash during a write); ending it"
        );
        file.write_all(b"\n").await?;
        file.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_torn_last_line_is_ended_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"Id\":\"1\"}\n{\"Id\":\"2").unwrap();
        let mut sink = FileSink::new(&FileSinkConfig {
            name: "f".into(),
            format: Format::Json,
            path: path.clone(),
        });
        sink.probe().await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"Id\":\"1\"}\n{\"Id\":\"2\n"
        );
    }
}
