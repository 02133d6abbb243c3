//! `[limits]`: bounds on everything that comes from outside (the Management Activity API's answers), so that
//! a hostile or broken answer costs bounded memory and time and is refused with a clear message instead.
//!
//! The defaults are far above anything Microsoft sends (blobs are a few MB, records a few KB, nesting under
//! ten levels, listings a few pages per window) and far below what would hurt the process.

use serde::Deserialize;

/// `[limits]`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputLimits {
    /// Largest content blob read, in bytes (default 512 MiB). Blobs are streamed, so this bounds time and
    /// bandwidth, not memory; a bigger blob is refused (dead-lettered with the reason, `replay --dead-letters`
    /// after raising the limit).
    #[serde(default = "defaults::max_blob_bytes")]
    pub max_blob_bytes: u64,
    /// Largest single record, in bytes (default 16 MiB): the most one record can hold in memory. A blob with a
    /// bigger record is refused.
    #[serde(default = "defaults::max_record_bytes")]
    pub max_record_bytes: usize,
    /// Deepest nesting of objects and arrays in one record (default 64; real records stay under 10). A blob
    /// with a deeper record is refused before it is parsed.
    #[serde(default = "defaults::max_nesting_depth")]
    pub max_nesting_depth: u32,
    /// Most pages followed when listing one window (default 10,000); more is taken as a link loop.
    #[serde(default = "defaults::max_pages_per_window")]
    pub max_pages_per_window: u32,
    /// Largest total size of one answer's headers, names and values, in bytes (default 64 KiB). The HTTP
    /// library already caps what it buffers; this refuses an oversized answer before anything reads it.
    #[serde(default = "defaults::max_response_header_bytes")]
    pub max_response_header_bytes: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            max_blob_bytes: defaults::max_blob_bytes(),
            max_record_bytes: defaults::max_record_bytes(),
            max_nesting_depth: defaults::max_nesting_depth(),
            max_pages_per_window: defaults::max_pages_per_window(),
            max_response_header_bytes: defaults::max_response_header_bytes(),
        }
    }
}

// === impl InputLimits ===

impl InputLimits {
    /// Problems with `[limits]` as (key, message): every limit must be at least 1, and a record cannot be
    /// allowed to be larger than its blob.
    pub(crate) fn validate(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let zero = [
            ("limits.max_blob_bytes", self.max_blob_bytes == 0),
            ("limits.max_record_bytes", self.max_record_bytes == 0),
            ("limits.max_nesting_depth", self.max_nesting_depth == 0),
            (
                "limits.max_pages_per_window",
                self.max_pages_per_window == 0,
            ),
            (
                "limits.max_response_header_bytes",
                self.max_response_header_bytes == 0,
            ),
        ];
        for (key, is_zero) in zero {
            if is_zero {
                problems.push((key.to_string(), "must be at least 1".to_string()));
            }
        }
        if self.max_record_bytes as u64 > self.max_blob_bytes {
            problems.push((
                "limits.max_record_bytes".to_string(),
                format!(
                    "{} is larger than limits.max_blob_bytes = {}; a record cannot be larger than its blob",
                    self.max_record_bytes, self.max_blob_bytes
                ),
            ));
        }
        problems
    }
}

mod defaults {
    pub fn max_blob_bytes() -> u64 {
        512 * 1024 * 1024
    }
    pub fn max_record_bytes() -> usize {
        16 * 1024 * 1024
    }
    pub fn max_nesting_depth() -> u32 {
        64
    }
    pub fn max_pages_per_window() -> u32 {
        10_000
    }
    pub fn max_response_header_bytes() -> usize {
        64 * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_documented_values() {
        let limits = InputLimits::default();
        assert!(limits.validate().is_empty());
        assert_eq!(limits.max_blob_bytes, 536_870_912);
        assert_eq!(limits.max_record_bytes, 16_777_216);
    }

    #[test]
    fn zero_limits_and_a_record_larger_than_a_blob_are_named() {
        let limits = InputLimits {
            max_blob_bytes: 10,
            max_record_bytes: 11,
            max_nesting_depth: 0,
            ..InputLimits::default()
        };
        let keys: Vec<String> = limits.validate().into_iter().map(|(key, _)| key).collect();
        assert_eq!(
            keys,
            ["limits.max_nesting_depth", "limits.max_record_bytes"]
        );
    }
}
