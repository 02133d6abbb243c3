//! Request bodies: each item's wire fragment (HEC envelope, bulk action + source, JSON object, …) kept in one
//! buffer, then joined into requests that respect the sink's limits.

use std::ops::Range;

use super::outcome::Outcomes;
use crate::encode::Format;
use crate::event::Event;
use crate::sink::{EncodedBatch, ItemOutcome};

/// Per-request limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most items in one request.
    pub max_events: usize,
    /// Most body bytes (uncompressed) in one request; a single larger item goes alone.
    pub max_bytes: usize,
}

/// How the fragments of one request are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Each fragment followed by `\n` (NDJSON, HEC, bulk): the body ends with a newline.
    Lines,
    /// `[a,b,c]`: a JSON array.
    JsonArray,
}

/// The items of one request: their positions in the batch and the body (uncompressed).
#[derive(Debug)]
pub(crate) struct Chunk {
    pub positions: Vec<usize>,
    pub body: Vec<u8>,
}

/// The wire fragments of a batch's items, in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Fragments {
    buf: Vec<u8>,
    parts: Vec<(usize, Range<usize>)>,
}

// === impl Fragments ===

impl Fragments {
    /// Room for about `bytes` of fragments.
    pub(crate) fn with_capacity(bytes: usize) -> Fragments {
        Fragments {
            buf: Vec::with_capacity(bytes),
            parts: Vec::new(),
        }
    }

    /// The fragments of every item of `batch` that has no outcome yet, written by `write`; an item whose
    /// fragment cannot be written is rejected with the reason.
    pub(crate) fn of(
        batch: &EncodedBatch,
        outcomes: &mut Outcomes,
        mut write: impl FnMut(&Event, &[u8], &mut Vec<u8>) -> Result<(), String>,
    ) -> Fragments {
        let mut fragments = Fragments::with_capacity(batch.len() * 1200);
        for (position, (event, payload)) in batch.iter().enumerate() {
            if outcomes.is_set(position) {
                continue;
            }
            if let Err(reason) = fragments.push(position, |buf| write(event, payload, buf)) {
                outcomes.set(position, ItemOutcome::Rejected { reason });
            }
        }
        fragments
    }

    /// Appends the fragment of the item at `position` as written by `write`. On `Err(reason)` nothing is kept
    /// and the reason is returned (the caller rejects the item).
    pub(crate) fn push(
        &mut self,
        position: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), String>,
    ) -> Result<(), String> {
        let start = self.buf.len();
        match write(&mut self.buf) {
            Ok(()) => {
                self.parts.push((position, start..self.buf.len()));
                Ok(())
            }
            Err(reason) => {
                self.buf.truncate(start);
                Err(reason)
            }
        }
    }

    /// Joins the fragments into requests of at most `limits` (a fragment larger than `max_bytes` alone).
    pub(crate) fn plan(&self, framing: Framing, limits: Limits) -> Vec<Chunk> {
        let (open, separator, terminator, close) = framing.parts();
        let fresh = || Chunk {
            positions: Vec::new(),
            body: open.to_vec(),
        };
        let mut chunks = Vec::new();
        let mut current = fresh();
        for (position, range) in &self.parts {
            let fragment = &self.buf[range.clone()];
            let grown = current.body.len()
                + separator.len()
                + fragment.len()
                + terminator.len()
                + close.len();
            let full = current.positions.len() >= limits.max_events || grown > limits.max_bytes;
            if !current.positions.is_empty() && full {
                current.body.extend_from_slice(close);
                chunks.push(std::mem::replace(&mut current, fresh()));
            }
            if !current.positions.is_empty() {
                current.body.extend_from_slice(separator);
            }
            current.body.extend_from_slice(fragment);
            current.body.extend_from_slice(terminator);
            current.positions.push(*position);
        }
        if !current.positions.is_empty() {
            current.body.extend_from_slice(close);
            chunks.push(current);
        }
        chunks
    }
}

// === impl Framing ===

impl Framing {
    /// Opening, separator, per-fragment terminator and closing bytes.
    fn parts(self) -> (&'static [u8], &'static [u8], &'static [u8], &'static [u8]) {
        match self {
            Framing::Lines => (b"", b"", b"\n", b""),
            Framing::JsonArray => (b"[", b",", b"", b"]"),
        }
    }
}

/// True for the formats whose payload is a text line rather than a JSON object.
pub(crate) fn is_text(format: Format) -> bool {
    matches!(format, Format::Cef | Format::Leef)
}

/// Writes a payload as one JSON value: a json/ecs payload verbatim once checked to be JSON (line breaks, which
/// valid JSON only has between tokens, become spaces so the value fits on one NDJSON line); a cef/leef line
/// as a JSON string.
pub(crate) fn write_json_value(
    format: Format,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if is_text(format) {
        write_json_string(&String::from_utf8_lossy(payload), out);
        return Ok(());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(payload)
        .map_err(|error| format!("payload is not valid JSON: {error}"))?;
    out.extend(payload.iter().map(|&byte| match byte {
        b'\n' | b'\r' => b' ',
        other => other,
    }));
    Ok(())
}

/// Writes `text` as a JSON string literal.
pub(crate) fn write_json_string(text: &str, out: &mut Vec<u8>) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragments(sizes: &[usize]) -> Fragments {
        let mut fragments = Fragments::default();
        for (position, size) in sizes.iter().enumerate() {
            fragments
                .push(position, |buf| {
                    buf.extend(std::iter::repeat_n(b'x', *size));
                    Ok(())
                })
                .unwrap();
        }
        fragments
    }

    #[test]
    fn lines_end_with_a_newline_and_respect_the_event_limit() {
        let chunks = fragments(&[1, 2, 3]).plan(
            Framing::Lines,
            Limits {
                max_events: 2,
                max_bytes: 1000,
            },
        );
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].body, b"x\nxx\n");
        assert_eq!(chunks[0].positions, [0, 1]);
        assert_eq!(chunks[1].body, b"xxx\n");
    }

    #[test]
    fn arrays_respect_the_byte_limit_including_brackets() {
        let limits = Limits {
            max_events: 100,
            max_bytes: 10,
        };
        // "[xxx,xxxx]" is exactly 10 bytes; a third fragment does not fit.
        let chunks = fragments(&[3, 4, 1]).plan(Framing::JsonArray, limits);
        assert_eq!(chunks[0].body, b"[xxx,xxxx]");
        assert_eq!(chunks[1].body, b"[x]");
        for chunk in &chunks {
            assert!(chunk.body.len() <= limits.max_bytes);
        }
    }

    #[test]
    fn an_oversized_fragment_goes_alone() {
        let chunks = fragments(&[2, 50, 2]).plan(
            Framing::Lines,
            Limits {
                max_events: 100,
                max_bytes: 10,
            },
        );
        let positions: Vec<_> = chunks.iter().map(|c| c.positions.clone()).collect();
        assert_eq!(positions, [vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn a_failed_fragment_leaves_nothing_behind() {
        let mut fragments = fragments(&[2]);
        let result = fragments.push(1, |buf| {
            buf.extend_from_slice(b"partial");
            Err("bad".into())
        });
        assert_eq!(result, Err("bad".to_string()));
        let chunks = fragments.plan(
            Framing::Lines,
            Limits {
                max_events: 10,
                max_bytes: 100,
            },
        );
        assert_eq!(chunks[0].body, b"xx\n");
    }

    #[test]
    fn json_payloads_are_checked_and_text_payloads_quoted() {
        let mut out = Vec::new();
        write_json_value(Format::Json, b"{\"a\":\n1}", &mut out).unwrap();
        assert_eq!(out, b"{\"a\": 1}");
        assert!(write_json_value(Format::Ecs, b"{\"a\":", &mut Vec::new()).is_err());
        let mut out = Vec::new();
        write_json_value(Format::Cef, b"CEF:0|a\"b|", &mut out).unwrap();
        assert_eq!(out, b"\"CEF:0|a\\\"b|\"");
    }
}
