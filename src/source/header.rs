//! The common fields of a wanted record, read in one validating pass over its JSON text.
//!
//! The decoder must both check that a record is well-formed JSON (the `json` format sends its bytes as they
//! are) and read four top-level members of it. serde_json does this at about 10 instructions per byte: it
//! stops at every escape and handles short strings one at a time, and AIR records carry kilobytes of
//! escaped JSON in `Data`. This pass checks the same grammar with 16-byte SIMD compares inside strings (via
//! `wide`, safe code) and hands out the four fields borrowed from the text.
//!
//! It only ever *agrees* with serde_json: whenever anything is unusual — invalid JSON, a `\u` escape, an
//! escape inside a header value, a header value of an unexpected type, a `RecordType` that is not a plain
//! integer, numeric string or null, a header member given twice, deep nesting, text after the object — it
//! answers `None` and the caller asks serde_json, whose answer (and error message) stands. A property test
//! holds it to that.

use crate::event::{LargeMembers, Span};
use crate::json_bytes::{escaped_string_end, first_special};

/// The four common fields, as they appear in the record (no escapes in them), and where the `Data` and
/// `Actions` members' values are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Fields<'a> {
    pub id: Option<&'a str>,
    pub record_type: Option<i64>,
    pub operation: Option<&'a str>,
    pub creation_time: Option<&'a str>,
    pub large: LargeMembers,
    /// No CR or LF anywhere in the text: a JSON string cannot hold them raw, so they could only have been
    /// whitespace between tokens, and the pass saw none.
    pub single_line: bool,
}

/// Deeper nesting goes to serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 100;

/// The common fields of `text`, a JSON object; `None` when serde_json must decide (see the module docs).
pub(super) fn read(text: &str) -> Option<Fields<'_>> {
    let mut reader = Reader {
        text,
        pos: 0,
        line_breaks: false,
    };
    reader.whitespace();
    if reader.peek()? != b'{' {
        return None;
    }
    reader.pos += 1;
    let mut fields = reader.top_members()?;
    reader.whitespace();
    fields.single_line = !reader.line_breaks;
    (reader.pos == reader.text.len()).then_some(fields)
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// Whether any whitespace so far was a CR or LF.
    line_breaks: bool,
}

/// How a string ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escapes {
    None,
    Some,
}

// === impl Reader ===

impl<'a> Reader<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn whitespace(&mut self) {
        while let Some(byte @ (b' ' | b'\t' | b'\r' | b'\n')) = self.peek() {
            self.line_breaks |= matches!(byte, b'\r' | b'\n');
            self.pos += 1;
        }
    }

    /// The members of the top-level object, after its `{`, through its `}`.
    fn top_members(&mut self) -> Option<Fields<'a>> {
        let mut fields = Fields::default();
        let mut record_type_seen = false;
        self.whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(fields);
        }
        // Spans are handed out only when no key has escapes: the models match keys after unescaping, so a
        // key such as `"D\\u0061ta"` would be one they see and the spans miss.
        let mut large = LargeMembers::default();
        let mut keys_plain = true;
        loop {
            self.whitespace();
            let (key_start, key_end, key_escapes) = self.string()?;
            self.colon()?;
            let key = if key_escapes == Escapes::None {
                &self.bytes()[key_start..key_end]
            } else {
                keys_plain = false;
                b"" // an escaped key is never one of the four names (`\u` was refused)
            };
            match key {
                b"Id" => set(&mut fields.id, self.plain_string()?)?,
                b"Operation" => set(&mut fields.operation, self.plain_string()?)?,
                b"CreationTime" => set(&mut fields.creation_time, self.plain_string()?)?,
                b"RecordType" if record_type_seen => return None,
                b"RecordType" => {
                    record_type_seen = true;
                    fields.record_type = self.record_type()?;
                }
                _ => {
                    let start = self.pos;
                    self.value(1)?;
                    // The last of a repeated key wins, as in the models.
                    if key.eq_ignore_ascii_case(b"data") {
                        large.data = Some(Span::new(start, self.pos));
                    } else if key.eq_ignore_ascii_case(b"actions") {
                        large.actions = Some(Span::new(start, self.pos));
                    }
                }
            }
            if !self.comma_or_end(b'}')? {
                if keys_plain {
                    fields.large = large;
                }
                return Some(fields);
            }
        }
    }

    fn colon(&mut self) -> Option<()> {
        self.whitespace();
        (self.peek()? == b':').then(|| self.pos += 1)?;
        self.whitespace();
        Some(())
    }

    /// After a member or element: `true` after a `,`, `false` after the closing byte.
    fn comma_or_end(&mut self, close: u8) -> Option<bool> {
        self.whitespace();
        let byte = self.peek()?;
        self.pos += 1;
        match byte {
            b',' => Some(true),
            _ if byte == close => Some(false),
            _ => None,
        }
    }

    /// Any JSON value at the current position (`depth` containers around it).
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.container(depth + 1, b'}'),
            b'[' => self.container(depth + 1, b']'),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }

    /// An object or array at its opening byte, through `close`: members (key, colon, value) for an
    /// object, values for an array.
    fn container(&mut self, depth: usize, close: u8) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        self.whitespace();
        if self.peek()? == close {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.whitespace();
            if close == b'}' {
                self.string()?;
                self.colon()?;
            }
            self.value(depth)?;
            if !self.comma_or_end(close)? {
                return Some(());
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes().get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// A JSON number (RFC 8259 grammar); its text.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        self.text.get(start..self.pos)
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }

    /// `RecordType` as the decoder reads it (an integer, a numeric string, or null — `Some(None)` when it
    /// is none of these usably); `None` to leave it to serde_json (fractions, exponents, huge numbers).
    fn record_type(&mut self) -> Option<Option<i64>> {
        match self.peek()? {
            b'"' => Some(self.plain_string()?.trim().parse().ok()),
            b'n' => self.literal(b"null").map(|()| None),
            _ => {
                let number = self.number()?;
                if number.contains(['.', 'e', 'E']) {
                    return None;
                }
                number.parse().ok().map(Some)
            }
        }
    }

    /// A header string: a JSON string without escapes; its contents.
    fn plain_string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let (start, end, escapes) = self.string()?;
        if escapes == Escapes::Some {
            return None;
        }
        self.text.get(start..end)
    }

    /// A string starting at the current `"`: its contents' range, and whether it had escapes. Refuses
    /// control characters and invalid escapes (as JSON does) and `\u` escapes (left to serde_json).
    fn string(&mut self) -> Option<(usize, usize, Escapes)> {
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        let start = self.pos;
        self.pos = special_from(self.bytes(), self.pos);
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                Some((start, self.pos - 1, Escapes::None))
            }
            b'\\' => {
                let end = escaped_string_end(self.bytes(), self.pos)?;
                self.pos = end + 1;
                Some((start, end, Escapes::Some))
            }
            _ => None, // a control character
        }
    }
}

/// Sets a header field that must not be given twice (serde_json refuses a duplicate field).
fn set<T>(field: &mut Option<T>, value: T) -> Option<()> {
    if field.is_some() {
        return None;
    }
    *field = Some(value);
    Some(())
}

/// The position of the first `"`, `\` or control character at or after `pos` (`bytes.len()` if none).
fn special_from(bytes: &[u8], pos: usize) -> usize {
    bytes
        .get(pos..)
        .and_then(first_special)
        .map_or(bytes.len(), |index| pos + index)
}

#[cfg(test)]
mod tests;
