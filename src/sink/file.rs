//! `file` sink: appends one message per line to a file; acknowledged after write + flush.
//!
//! Rotation: before each write the sink checks that its path still names the file it has open (same device
//! and inode). When logrotate (or anyone) moved or removed it, the sink opens a new file at the path, so no
//! `postrotate` signal or `copytruncate` is needed; the old file holds every line written before.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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

/// Appends lines to a file, opened on first use (and again after a rotation).
///
/// Writes run on the blocking pool with `std::fs`, of the batch's own buffers ([`EncodedBatch::lines`]:
/// one buffer, or a `json` batch's records in vectored writes):
/// `tokio::fs::File` copies every write into a buffer of its own first, which was 7 % of a `json` benchmark
/// run. The rotation check (one `stat` of the path, against the identity the file had when it was opened)
/// runs in the same blocking call as the write.
pub(crate) struct FileSink {
    name: String,
    path: PathBuf,
    file: Option<OpenFile>,
}

/// The file being appended to, and its identity (device and inode) as read once when it was opened: an
/// open file keeps its identity, so each write's rotation check only needs to `stat` the path.
struct OpenFile {
    file: std::fs::File,
    dev: u64,
    ino: u64,
}

// === impl FileSink ===

impl FileSink {
    pub(crate) fn new(config: &FileSinkConfig) -> FileSink {
        FileSink {
            name: config.name.clone(),
            path: config.path.clone(),
            file: None,
        }
    }

    /// Runs `work` on the blocking pool with the file at the path: the open one while the path still names
    /// it, else one opened anew (first use, or after a rotation). The file stays open when `work`
    /// succeeds; after a failure it is opened again next time.
    async fn with_file(
        &mut self,
        work: impl FnOnce(&std::fs::File) -> std::io::Result<()> + Send + 'static,
    ) -> Result<(), SinkError> {
        let (name, path, open) = (self.name.clone(), self.path.clone(), self.file.take());
        let file = blocking(move || {
            let open = current_or_reopened(&name, &path, open)?;
            work(&open.file)?;
            Ok(open)
        })
        .await
        .map_err(|source| self.io(source))?;
        self.file = Some(file);
        Ok(())
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
        let lines = batch.lines();
        let appended = self
            .with_file(move |mut file| {
                lines.write_to(&mut file)?;
                file.flush()
            })
            .await;
        match appended {
            Ok(()) => SendOutcome::Delivered,
            // A failed append may have written part of the batch; the file is reopened before the retry.
            Err(error) => SendOutcome::Retry {
                error,
                retry_after: None,
            },
        }
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        self.with_file(|_| Ok(())).await
    }
}

/// Runs file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}

/// The open file while `path` still names it; else (moved or removed by a rotation, or none open yet) the
/// file now at `path`.
fn current_or_reopened(
    sink: &str,
    path: &Path,
    open: Option<OpenFile>,
) -> std::io::Result<OpenFile> {
    let Some(open) = open else {
        return open_for_append(path);
    };
    let still_there = std::fs::metadata(path)
        .map(|at_path| at_path.dev() == open.dev && at_path.ino() == open.ino)
        .unwrap_or(false);
    if still_there {
        return Ok(open);
    }
    tracing::info!(sink, path = %path.display(), "the file was moved or removed (rotated); appending to a new one at its path");
    open_for_append(path)
}

/// Opens `path` for appending (creating it and its parent directories) and ends a torn last line.
fn open_for_append(path: &Path) -> std::io::Result<OpenFile> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    let metadata = file.metadata()?;
    end_torn_line(&mut file, metadata.len())?;
    Ok(OpenFile {
        file,
        dev: metadata.dev(),
        ino: metadata.ino(),
    })
}

/// A crash in the middle of a write can leave a partial last line; end it so the next line starts clean
/// (the partial event is delivered again, whole, because its blob was not committed).
fn end_torn_line(file: &mut std::fs::File, length: u64) -> std::io::Result<()> {
    if length == 0 {
        return Ok(());
    }
    file.seek(std::io::SeekFrom::Start(length - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        tracing::warn!(
            bytes = length,
            "the file ended in a partial line (a crash during a write); ending it"
        );
        file.write_all(b"\n")?;
        file.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: &[&str]) -> EncodedBatch {
        let events = crate::sink::batch::test_chunk(ids);
        let count = events.len();
        EncodedBatch::encode(Format::Json, "contoso".into(), events, 0..count)
    }

    fn ids_in(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["Id"].to_string())
            .collect()
    }

    #[tokio::test]
    async fn a_file_moved_or_removed_by_a_rotation_is_followed_by_a_new_one_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let rotated = dir.path().join("events.jsonl.1");
        let mut sink = FileSink::new(&FileSinkConfig {
            name: "f".into(),
            format: Format::Json,
            path: path.clone(),
        });
        let mut send = async |ids: &[&str]| {
            let outcome = sink.send(&batch(ids)).await;
            assert!(matches!(outcome, SendOutcome::Delivered), "{ids:?}");
        };
        send(&["1"]).await;
        std::fs::rename(&path, &rotated).unwrap();
        send(&["2"]).await;
        assert_eq!(
            ids_in(&rotated),
            ["\"1\""],
            "the old file keeps what it had"
        );
        assert_eq!(ids_in(&path), ["\"2\""], "moved: a new file at the path");
        std::fs::remove_file(&path).unwrap();
        send(&["3"]).await;
        send(&["4"]).await;
        assert_eq!(
            ids_in(&path),
            ["\"3\"", "\"4\""],
            "removed: a new file, kept while it stays"
        );
    }

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
