//! Reads one content blob as a stream of record batches, without holding the blob in memory.

use crate::api::{ApiClient, ApiError};
use crate::event::Record;

use super::decoder::{decode_element, Decoded};
use super::splitter::{ArraySplitter, SplitError};

/// An element of a blob that is not a usable record.
#[derive(Debug, Clone)]
pub struct InvalidElement {
    /// Why it is unusable.
    pub reason: String,
    /// Its bytes (cut to 64 KiB).
    pub raw: String,
}

/// What came out of the blob so far.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Records of wanted types, in blob order.
    pub records: Vec<Record>,
    /// Elements that were not usable records.
    pub invalid: Vec<InvalidElement>,
    /// Records of other types skipped.
    pub skipped: u64,
}

/// Why reading a blob stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("the connection broke while reading the blob: {0}")]
    Body(String),
    #[error("{0}")]
    Split(#[from] SplitError),
    #[error("the blob is larger than limits.max_blob_bytes = {limit} bytes ({seen} bytes {how}); it is refused")]
    TooLarge {
        limit: u64,
        seen: u64,
        how: &'static str,
    },
}

impl ReadError {
    /// Worth fetching the blob again (a broken connection or a body that ended early).
    pub fn is_transient(&self) -> bool {
        match self {
            ReadError::Body(_) | ReadError::Split(SplitError::Truncated { .. }) => true,
            ReadError::Api(ApiError::ForeignHost { .. } | ApiError::LimitExceeded { .. }) => false,
            ReadError::Api(error) => !matches!(
                error.code(),
                Some("AF20051" | "AF20052" | "AF10001" | "AF20010" | "AF20011")
            ),
            ReadError::Split(_) | ReadError::TooLarge { .. } => false,
        }
    }
}

/// The largest batch whose room is taken up front; larger ones grow as records come.
const MAX_PRESIZED_BATCH: usize = 1024;

/// Pulls a blob's body chunk by chunk and hands out batches of wanted records.
pub struct BlobReader {
    response: reqwest::Response,
    splitter: ArraySplitter,
    wanted: Vec<i64>,
    batch_size: usize,
    ended: bool,
    max_blob_bytes: u64,
}

// === impl BlobReader ===

impl BlobReader {
    /// Starts fetching the blob at `content_uri`, bounded by the client's [`crate::config::InputLimits`]:
    /// a declared `Content-Length` over `max_blob_bytes` is refused before any byte is read, and the bytes
    /// actually read (after decompression) are counted against it too.
    pub async fn open(
        api: &ApiClient,
        content_uri: &str,
        wanted: &[i64],
        batch_size: usize,
    ) -> Result<BlobReader, ReadError> {
        let limits = *api.limits();
        let response = api.fetch_blob(content_uri).await?;
        if let Some(declared) = response.content_length() {
            if declared > limits.max_blob_bytes {
                return Err(ReadError::TooLarge {
                    limit: limits.max_blob_bytes,
                    seen: declared,
                    how: "declared by Content-Length",
                });
            }
        }
        Ok(BlobReader {
            response,
            splitter: ArraySplitter::new(limits.max_record_bytes, limits.max_nesting_depth),
            wanted: wanted.to_vec(),
            batch_size: batch_size.max(1),
            ended: false,
            max_blob_bytes: limits.max_blob_bytes,
        })
    }

    /// The next batch (up to `batch_size` records); `None` once the blob is fully read.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>, ReadError> {
        // Sized for a full batch: grown by doubling, a batch of 100 records was copied one and a quarter
        // times over (each record is 160 bytes).
        let mut chunk = Chunk {
            records: Vec::with_capacity(self.batch_size.min(MAX_PRESIZED_BATCH)),
            ..Chunk::default()
        };
        loop {
            while let Some(range) = self.splitter.next()? {
                match decode_element(self.splitter.element(range.clone()), &self.wanted) {
                    Decoded::Wanted(record) => chunk.records.push(record),
                    Decoded::Skipped => chunk.skipped += 1,
                    Decoded::Invalid(reason) => {
                        let raw = self.splitter.element(range);
                        let cut = &raw[..raw.len().min(64 * 1024)];
                        chunk.invalid.push(InvalidElement {
                            reason,
                            raw: String::from_utf8_lossy(cut).into_owned(),
                        });
                    }
                }
                if chunk.records.len() >= self.batch_size {
                    return Ok(Some(chunk));
                }
            }
            if self.ended {
                self.splitter.finish()?;
                let empty =
                    chunk.records.is_empty() && chunk.invalid.is_empty() && chunk.skipped == 0;
                return Ok((!empty).then_some(chunk));
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => {
                    self.splitter.push_bytes(bytes);
                    let seen = self.splitter.bytes_seen();
                    if seen > self.max_blob_bytes {
                        return Err(ReadError::TooLarge {
                            limit: self.max_blob_bytes,
                            seen,
                            how: "read so far",
                        });
                    }
                }
                Ok(None) => self.ended = true,
                Err(error) => return Err(ReadError::Body(crate::api::error_chain(&error))),
            }
        }
    }
}
