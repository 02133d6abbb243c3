//! Splits a JSON array that arrives in chunks into the raw bytes of its elements.
//!
//! Written by hand because no maintained crate splits a *streamed* JSON array into element byte ranges:
//! `serde_json::StreamDeserializer` reads whitespace-separated values, not array elements, and a
//! `SeqAccess` visitor over `io::Read` would give parsed values, while the `json` format must send each
//! record's exact bytes. The splitter only tracks strings, escapes and nesting; each element is then parsed
//! by `serde_json`. Memory is bounded by the largest element, not the blob.
//!
//! Chunks are read where they are ([`ArraySplitter::push_bytes`] keeps the chunk's `Bytes`): an element
//! inside one chunk is handed out as a range of it, and only an element that straddles chunks is copied,
//! into a carry buffer, once its end arrives. (Copying every chunk into one buffer was a copy of the whole
//! body, 2–8 % of the daemon's instructions.)

use std::ops::Range;

use bytes::Bytes;

use super::structural::{self, Carry};
use crate::json_bytes::BLOCK;

/// Why a blob is not a well-formed JSON array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("the blob is not a JSON array (starts with {found:?})")]
    NotAnArray { found: char },
    #[error("unexpected {found:?} at byte {offset} between array elements")]
    Unexpected { found: char, offset: u64 },
    #[error(
        "a record is larger than {limit} bytes (limits.max_record_bytes); the blob is refused"
    )]
    ElementTooLarge { limit: usize },
    #[error("a record nests deeper than {limit} levels at byte {offset} (limits.max_nesting_depth); the blob is refused")]
    TooDeep { limit: u32, offset: u64 },
    #[error("the blob ended after {offset} bytes before its closing bracket (truncated)")]
    Truncated { offset: u64 },
    #[error("unbalanced {found:?} at byte {offset}")]
    Unbalanced { found: char, offset: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `[` (whitespace and a UTF-8 BOM allowed).
    Start,
    /// After `[` or after an element: expecting an element, `,` or `]`.
    Between { after_element: bool },
    /// Inside an element that started at `start`.
    Element {
        start: usize,
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
    /// After `]`.
    Done,
}

/// Incremental splitter: [`ArraySplitter::push`] bytes, then take elements with [`ArraySplitter::next`].
pub struct ArraySplitter {
    /// The chunk being read: the body's bytes from `consumed` on.
    buf: Bytes,
    /// The bytes of the element being read that arrived in earlier chunks (it goes on at `buf[0]`); once
    /// the element is complete, the whole element (see `carry_complete`).
    carry: Vec<u8>,
    /// `carry` holds a complete element handed out by `next`, valid until the next `next` or `push`.
    carry_complete: bool,
    /// Where reading goes on in `buf`.
    pos: usize,
    /// Bytes of the body before `buf`.
    consumed: u64,
    state: State,
    max_element: usize,
    max_depth: u32,
    /// Reads 64-byte blocks inside elements ([`structural`]); off only to test against the byte loop.
    blocks: bool,
}

// === impl ArraySplitter ===

impl ArraySplitter {
    /// A splitter that refuses elements larger than `max_element` bytes or nested deeper than `max_depth`
    /// levels (objects and arrays inside an element; the element itself is level 1).
    pub fn new(max_element: usize, max_depth: u32) -> ArraySplitter {
        debug_assert!(max_element > 0 && max_depth > 0);
        ArraySplitter {
            buf: Bytes::new(),
            carry: Vec::new(),
            carry_complete: false,
            pos: 0,
            consumed: 0,
            state: State::Start,
            max_element,
            max_depth,
            blocks: true,
        }
    }

    /// Bytes of the body pushed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.consumed + self.buf.len() as u64
    }

    /// Adds the next chunk of the body (copied; see [`ArraySplitter::push_bytes`]).
    pub fn push(&mut self, chunk: &[u8]) {
        self.push_bytes(Bytes::copy_from_slice(chunk));
    }

    /// Adds the next chunk of the body, kept as it is. Bytes of elements already returned are dropped.
    pub fn push_bytes(&mut self, chunk: Bytes) {
        self.release_carry();
        if self.pos == self.buf.len() {
            // Everything here was read. An element read to the end of the chunk goes on in the next one:
            // its bytes so far are carried (the usual case: a chunk ends inside an element).
            if let State::Element { start, .. } = &mut self.state {
                self.carry.extend_from_slice(&self.buf[*start..]);
                *start = 0;
            }
            self.consumed += self.buf.len() as u64;
            self.buf = chunk;
            self.pos = 0;
            return;
        }
        // Bytes not read yet (pushed before `next` returned `None`, or part of a BOM): joined to the chunk.
        let keep_from = match self.state {
            State::Element { start, .. } => start,
            _ => self.pos,
        };
        let mut joined = Vec::with_capacity(self.buf.len() - keep_from + chunk.len());
        joined.extend_from_slice(&self.buf[keep_from..]);
        joined.extend_from_slice(&chunk);
        self.consumed += keep_from as u64;
        self.pos -= keep_from;
        if let State::Element { start, .. } = &mut self.state {
            *start -= keep_from;
        }
        self.buf = Bytes::from(joined);
    }

    /// Forgets the carried element handed out last.
    fn release_carry(&mut self) {
        if self.carry_complete {
            self.carry.clear();
            self.carry_complete = false;
        }
    }

    /// The bytes of an element returned by [`ArraySplitter::next`] (valid until the next `next` or `push`).
    pub fn element(&self, range: Range<usize>) -> &[u8] {
        if self.carry_complete {
            &self.carry[range]
        } else {
            &self.buf[range]
        }
    }

    /// True once the closing `]` was seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Call when the body has ended: an error unless the array was closed.
    pub fn finish(&self) -> Result<(), SplitError> {
        match self.state {
            State::Done => Ok(()),
            _ => Err(SplitError::Truncated {
                offset: self.consumed + self.buf.len() as u64,
            }),
        }
    }

    /// The next complete element in the buffer, if there is one.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Range<usize>>, SplitError> {
        self.release_carry();
        loop {
            match self.state {
                State::Done => {
                    return match self.skip_whitespace() {
                        Some(byte) => Err(self.unexpected(byte)),
                        None => Ok(None),
                    };
                }
                State::Start => {
                    const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
                    let rest = &self.buf[self.pos..];
                    if rest.starts_with(&BOM) {
                        self.pos += 3;
                    } else if !rest.is_empty() && rest.len() < 3 && BOM.starts_with(rest) {
                        return Ok(None); // a BOM split across chunks: wait for the rest
                    }
                    match self.skip_whitespace() {
                        None => return Ok(None),
                        Some(b'[') => {
                            self.pos += 1;
                            self.state = State::Between {
                                after_element: false,
                            };
                        }
                        Some(byte) => {
                            return Err(SplitError::NotAnArray {
                                found: byte as char,
                            })
                        }
                    }
                }
                State::Between { after_element } => match self.skip_whitespace() {
                    None => return Ok(None),
                    Some(b']') => {
                        self.pos += 1;
                        self.state = State::Done;
                    }
                    Some(b',') if after_element => {
                        self.pos += 1;
                        self.state = State::Between {
                            after_element: false,
                        };
                    }
                    Some(byte) if after_element || byte == b',' => {
                        return Err(self.unexpected(byte));
                    }
                    Some(_) => {
                        self.state = State::Element {
                            start: self.pos,
                            depth: 0,
                            in_string: false,
                            escaped: false,
                        };
                    }
                },
                State::Element { .. } => return self.scan_element(),
            }
        }
    }

    fn scan_element(&mut self) -> Result<Option<Range<usize>>, SplitError> {
        let State::Element {
            start,
            mut depth,
            mut in_string,
            mut escaped,
        } = self.state
        else {
            return Ok(None);
        };
        let bytes = &self.buf;
        let mut pos = self.pos;
        // Bytes before this position are read one by one (a block with a backslash outside strings).
        let mut bytewise_until = pos;
        while pos < bytes.len() {
            // Inside an object or array, whole blocks at a time: the element ends at the bracket that
            // brings the depth back to 0.
            if self.blocks && depth > 0 && pos >= bytewise_until {
                if let Some(block) = bytes
                    .get(pos..)
                    .and_then(|rest| rest.first_chunk::<BLOCK>())
                {
                    let structure = structural::scan(block, Carry { in_string, escaped });
                    if structure.stray_backslash {
                        bytewise_until = pos + BLOCK;
                        continue;
                    }
                    let mut brackets = structure.open | structure.close;
                    while brackets != 0 {
                        let bit = brackets.trailing_zeros() as usize;
                        brackets &= brackets - 1;
                        if structure.open & (1 << bit) != 0 {
                            depth += 1;
                            if depth > self.max_depth {
                                return Err(SplitError::TooDeep {
                                    limit: self.max_depth,
                                    offset: self.consumed + (pos + bit) as u64,
                                });
                            }
                        } else {
                            depth -= 1;
                            if depth == 0 {
                                return self.complete(start, pos + bit + 1).map(Some);
                            }
                        }
                    }
                    in_string = structure.carry.in_string;
                    escaped = structure.carry.escaped;
                    pos += BLOCK;
                    continue;
                }
            }
            if in_string {
                if escaped {
                    escaped = false;
                    pos += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &bytes[pos..]) {
                    None => pos = bytes.len(),
                    Some(found) => {
                        pos += found;
                        if bytes[pos] == b'\\' {
                            escaped = true;
                        } else {
                            in_string = false;
                            if depth == 0 {
                                // A string scalar element ends with its closing quote.
                                pos += 1;
                                return self.complete(start, pos).map(Some);
                            }
                        }
                        pos += 1;
                    }
                }
                continue;
            }
            let byte = bytes[pos];
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => {
                    depth += 1;
                    if depth > self.max_depth {
                        return Err(SplitError::TooDeep {
                            limit: self.max_depth,
                            offset: self.consumed + pos as u64,
                        });
                    }
                }
                b'}' | b']' if depth == 0 => {
                    // The end of a scalar element (`]` closes the array; handled by Between).
                    return self.complete(start, pos).map(Some);
                }
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        pos += 1;
                        return self.complete(start, pos).map(Some);
                    }
                }
                b',' | b' ' | b'\t' | b'\r' | b'\n' if depth == 0 => {
                    return self.complete(start, pos).map(Some);
                }
                _ => {}
            }
            pos += 1;
        }
        if self.carry.len() + (pos - start) > self.max_element {
            return Err(SplitError::ElementTooLarge {
                limit: self.max_element,
            });
        }
        self.pos = pos;
        self.state = State::Element {
            start,
            depth,
            in_string,
            escaped,
        };
        Ok(None)
    }

    fn complete(&mut self, start: usize, end: usize) -> Result<Range<usize>, SplitError> {
        if self.carry.len() + (end - start) > self.max_element {
            return Err(SplitError::ElementTooLarge {
                limit: self.max_element,
            });
        }
        self.pos = end;
        self.state = State::Between {
            after_element: true,
        };
        if self.carry.is_empty() {
            return Ok(start..end);
        }
        // The element began in an earlier chunk: the carry gets its last part and is handed out.
        debug_assert_eq!(
            start, 0,
            "a carried element goes on at the start of the chunk"
        );
        self.carry.extend_from_slice(&self.buf[start..end]);
        self.carry_complete = true;
        Ok(0..self.carry.len())
    }

    fn skip_whitespace(&mut self) -> Option<u8> {
        while let Some(&byte) = self.buf.get(self.pos) {
            if !matches!(byte, b' ' | b'\t' | b'\r' | b'\n') {
                return Some(byte);
            }
            self.pos += 1;
        }
        None
    }

    fn unexpected(&self, byte: u8) -> SplitError {
        SplitError::Unexpected {
            found: byte as char,
            offset: self.consumed + self.pos as u64,
        }
    }
}

#[cfg(test)]
mod tests;
