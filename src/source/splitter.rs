//! Splits a JSON array that arrives in chunks into the raw bytes of its elements.
//!
//! Written by hand because no maintained crate splits a *streamed* JSON array into element byte ranges:
//! `serde_json::StreamDeserializer` reads whitespace-separated values, not array elements, and a
//! `SeqAccess` visitor over `io::Read` would give parsed values, while the `json` format must send each
//! record's exact bytes. The splitter only tracks strings, escapes and nesting; each element is then parsed
//! by `serde_json`. Memory is bounded by the largest element, not the blob.

use std::ops::Range;

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
    buf: Vec<u8>,
    pos: usize,
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
            buf: Vec::with_capacity(64 * 1024),
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

    /// Adds the next chunk of the body. Bytes of elements already returned are dropped first.
    pub fn push(&mut self, chunk: &[u8]) {
        let keep_from = match self.state {
            State::Element { start, .. } => start,
            _ => self.pos,
        };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.consumed += keep_from as u64;
            self.pos -= keep_from;
            if let State::Element { start, .. } = &mut self.state {
                *start -= keep_from;
            }
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The bytes of an element returned by [`ArraySplitter::next`] (valid until the next `push`).
    pub fn element(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
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
        if pos - start > self.max_element {
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
        if end - start > self.max_element {
            return Err(SplitError::ElementTooLarge {
                limit: self.max_element,
            });
        }
        self.pos = end;
        self.state = State::Between {
            after_element: true,
        };
        Ok(start..end)
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_in_chunks(body: &[u8], chunk: usize) -> Result<Vec<String>, SplitError> {
        split_with(ArraySplitter::new(1 << 20, 64), body, chunk)
    }

    fn split_with(
        mut splitter: ArraySplitter,
        body: &[u8],
        chunk: usize,
    ) -> Result<Vec<String>, SplitError> {
        let mut out = Vec::new();
        for piece in body.chunks(chunk.max(1)) {
            splitter.push(piece);
            while let Some(range) = splitter.next()? {
                out.push(String::from_utf8_lossy(splitter.element(range)).into_owned());
            }
        }
        splitter.finish()?;
        Ok(out)
    }

    #[test]
    fn elements_come_out_byte_for_byte_whatever_the_chunking() {
        let body = br#" [ {"a":"x]},\"y","b":[1,{"c":2}]} , {"Id":"2"},"s",12 ,null ] "#;
        for chunk in 1..body.len() {
            let elements = split_in_chunks(body, chunk).unwrap();
            assert_eq!(
                elements,
                vec![
                    r#"{"a":"x]},\"y","b":[1,{"c":2}]}"#,
                    r#"{"Id":"2"}"#,
                    r#""s""#,
                    "12",
                    "null"
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn an_empty_array_and_a_bom_are_fine() {
        assert!(split_in_chunks(b"\xEF\xBB\xBF[]", 2).unwrap().is_empty());
    }

    #[test]
    fn a_truncated_blob_is_reported() {
        let error = split_in_chunks(br#"[{"a":1},{"b":"#, 4).unwrap_err();
        assert!(matches!(error, SplitError::Truncated { .. }), "{error}");
    }

    #[test]
    fn a_non_array_is_refused() {
        let error = split_in_chunks(br#"{"error":{}}"#, 4).unwrap_err();
        assert_eq!(error, SplitError::NotAnArray { found: '{' });
        assert!(split_in_chunks(b"<html>", 4).is_err());
    }

    #[test]
    fn garbage_between_elements_is_refused() {
        assert!(split_in_chunks(br#"[{"a":1} x {"b":2}]"#, 3).is_err());
        assert!(split_in_chunks(br#"[,{"a":1}]"#, 3).is_err());
    }

    #[test]
    fn an_oversized_element_is_refused() {
        let mut splitter = ArraySplitter::new(10, 64);
        splitter.push(br#"[{"a":"0123456789abcdef"#);
        assert_eq!(
            splitter.next(),
            Err(SplitError::ElementTooLarge { limit: 10 })
        );
    }

    #[test]
    fn an_oversized_element_is_refused_even_when_it_arrives_whole() {
        let mut splitter = ArraySplitter::new(10, 64);
        splitter.push(br#"[{"a":"0123456789abcdef"},{"b":1}]"#);
        assert_eq!(
            splitter.next(),
            Err(SplitError::ElementTooLarge { limit: 10 })
        );
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_at_the_first_level_too_many() {
        let within = format!("[{}{}]", "[".repeat(4), "]".repeat(4));
        let mut splitter = ArraySplitter::new(1024, 4);
        splitter.push(within.as_bytes());
        assert_eq!(splitter.next().unwrap(), Some(1..9));

        let deep = format!("[{}", "[{\"a\":".repeat(1_000_000));
        let mut splitter = ArraySplitter::new(usize::MAX, 64);
        splitter.push(deep.as_bytes());
        assert_eq!(
            splitter.next(),
            Err(SplitError::TooDeep {
                limit: 64,
                offset: 1 + 6 * 32
            })
        );
    }

    /// The same splitter reading every byte one by one (the reference for the block scan).
    fn bytewise(max_element: usize, max_depth: u32) -> ArraySplitter {
        let mut splitter = ArraySplitter::new(max_element, max_depth);
        splitter.blocks = false;
        splitter
    }

    #[test]
    fn long_elements_split_the_same_by_blocks_and_byte_by_byte() {
        let record = r#"{"Id":"1","Data":"{\"a\":\"}]\\\"\"}","List":[{"x":"[[["},{"y":"\\"}],"Pad":"0123456789012345678901234567890123456789"}"#;
        let body = format!("[{}]", [record; 7].join(" , "));
        for chunk in [1, 7, 63, 64, 65, 200, body.len()] {
            let by_blocks = split_in_chunks(body.as_bytes(), chunk).unwrap();
            assert_eq!(by_blocks, vec![record; 7], "chunk {chunk}");
            let by_bytes = split_with(bytewise(1 << 20, 64), body.as_bytes(), chunk).unwrap();
            assert_eq!(by_blocks, by_bytes, "chunk {chunk}");
        }
    }

    proptest! {
        #[test]
        fn blocks_and_the_byte_loop_agree_on_any_input(
            elements in proptest::collection::vec(
                proptest::collection::vec(prop::sample::select(b"\"\\{}[]a ,:1".to_vec()), 0..300),
                0..5,
            ),
            chunk in 1usize..200,
            max_depth in 1u32..6,
            max_element in 16usize..400,
        ) {
            // Mostly objects (where blocks are used), with anything inside, valid JSON or not.
            let elements: Vec<String> = elements
                .iter()
                .map(|inner| format!("{{{}}}", String::from_utf8_lossy(inner)))
                .collect();
            let body = format!("[{}]", elements.join(","));
            let by_blocks = split_with(ArraySplitter::new(max_element, max_depth), body.as_bytes(), chunk);
            let by_bytes = split_with(bytewise(max_element, max_depth), body.as_bytes(), chunk);
            prop_assert_eq!(by_blocks, by_bytes);
        }

        #[test]
        fn any_array_of_json_objects_splits_into_its_elements(
            values in proptest::collection::vec(proptest::collection::btree_map("[a-z\"\\\\\\]\\[{}, ]{0,8}", "[ -~]{0,12}", 0..4), 0..6),
            chunk in 1usize..17,
        ) {
            let elements: Vec<String> = values.iter().map(|value| serde_json::to_string(value).unwrap()).collect();
            let body = format!("[{}]", elements.join(","));
            prop_assert_eq!(split_in_chunks(body.as_bytes(), chunk).unwrap(), elements);
        }
    }
}
