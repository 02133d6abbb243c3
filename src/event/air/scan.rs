//! A fast decoder for the common shape of an AIR document: the [`Node`] tree that the `serde_json` route of
//! [`Texts::parse`](super::doc::Texts::parse) builds, in one byte-level pass without its per-value overhead.
//! Unlike that route, it also knows where each object and array is in the text, and gives those with no
//! repeated key inside them their [`Raw`] span, so that they are written back as received.
//!
//! It only accepts what it is sure of and gives up (`None`) on anything else — `\u` escapes, numbers it does
//! not hand to `serde_json` itself, deep nesting, the `raw_value` key, or anything not JSON — and the caller then
//! takes the `serde_json` route, so accepting or refusing a document is always `serde_json`'s decision.

use serde_json::{Number, Value};

use crate::json_bytes::{escaped_string_end, first_special, unescape_short};

use super::doc::{dedup_entries, Node, Raw, Text, RAW_VALUE_TOKEN};

/// Nesting this decoder goes to; deeper documents go to `serde_json` (whose limit is 128).
const DEPTH_MAX: usize = 100;

/// Decodes `text` (source number `src`; unescaped strings go to `extra`) when it has the common shape.
pub(super) fn parse(text: &str, src: usize, extra: &mut String) -> Option<Node> {
    let mut scan = Scan {
        text,
        b: text.as_bytes(),
        at: 0,
        src,
        extra,
        depth: 0,
        repeats: 0,
        stacks: STACKS.take(),
    };
    scan.ws();
    let node = scan.value().filter(|_| {
        scan.ws();
        scan.at == scan.b.len()
    });
    scan.stacks.keep();
    node
}

/// The scratch vectors of one thread's decodes, kept from one document to the next: an AIR record has
/// several documents with dozens of objects each, and each document used to grow its own from empty.
#[derive(Default)]
struct Stacks {
    /// The items of the arrays being read, innermost last; each array takes its own off the top, in a vector
    /// of its exact size (pushing onto a fresh vector per array regrew it several times).
    items: Vec<Node>,
    /// The same for the entries of the objects being read.
    entries: Vec<(Text, Node)>,
}

thread_local! {
    static STACKS: std::cell::Cell<Stacks> = std::cell::Cell::default();
}

// === impl Stacks ===

impl Stacks {
    /// Entries kept at most per vector: an unusually large document's scratch is freed, not kept.
    const KEPT_MAX: usize = 4096;

    /// Empties the stacks and gives them back to the thread (a decode that gave up may leave items).
    fn keep(mut self) {
        self.items.clear();
        self.entries.clear();
        let small =
            self.items.capacity() <= Self::KEPT_MAX && self.entries.capacity() <= Self::KEPT_MAX;
        if small {
            STACKS.set(self);
        }
    }
}

struct Scan<'t, 'e> {
    /// The document; `b` is its bytes.
    text: &'t str,
    b: &'t [u8],
    at: usize,
    src: usize,
    extra: &'e mut String,
    depth: usize,
    /// Objects so far that repeated a key: a container whose reading raised it has no [`Raw`].
    repeats: usize,
    stacks: Stacks,
}

impl Scan<'_, '_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<Node> {
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Node::Str),
            b't' => self.literal(b"true", Node::Bool(true)),
            b'f' => self.literal(b"false", Node::Bool(false)),
            b'n' => self.literal(b"null", Node::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], node: Node) -> Option<Node> {
        let end = self.at + word.len();
        (self.b.get(self.at..end)? == word).then(|| {
            self.at = end;
            node
        })
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        self.at += 1;
        self.ws();
        (self.depth <= DEPTH_MAX).then_some(())
    }

    /// The [`Raw`] of the container that started at `start` and was just read, `repeats` having been the
    /// count of objects with repeated keys before it.
    fn raw(&self, start: usize, repeats: usize) -> Raw {
        if self.repeats == repeats {
            Raw::span(self.src, start, self.at)
        } else {
            Raw::NONE
        }
    }

    fn array(&mut self) -> Option<Node> {
        let (start, repeats) = (self.at, self.repeats);
        self.enter()?;
        let base = self.stacks.items.len();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                let item = self.value()?;
                self.stacks.items.push(item);
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        self.ws();
                    }
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        let items = self.stacks.items.split_off(base);
        Some(Node::Array(items, self.raw(start, repeats)))
    }

    fn object(&mut self) -> Option<Node> {
        let (start, repeats) = (self.at, self.repeats);
        self.enter()?;
        let base = self.stacks.entries.len();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                if self.stacks.entries.len() == base
                    && self.bytes(&key) == RAW_VALUE_TOKEN.as_bytes()
                {
                    return None;
                }
                self.ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.at += 1;
                self.ws();
                let value = self.value()?;
                self.stacks.entries.push((key, value));
                self.ws();
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        self.ws();
                    }
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let mut entries = self.stacks.entries.split_off(base);
        let (b, extra) = (self.b, &*self.extra);
        if dedup_entries(&mut entries, |t| text_bytes(b, extra, t)) {
            self.repeats += 1;
        }
        self.depth -= 1;
        Some(Node::Object(entries, self.raw(start, repeats)))
    }

    fn bytes(&self, text: &Text) -> &[u8] {
        text_bytes(self.b, self.extra, text)
    }

    /// A string at the opening quote: a span of the source when it has no escapes, else unescaped into `extra`.
    fn string(&mut self) -> Option<Text> {
        let start = self.at + 1;
        let end = start + first_special(self.b.get(start..)?)?;
        match self.b.get(end)? {
            b'"' => {
                self.at = end + 1;
                Some(Text::Plain {
                    src: self.src,
                    start,
                    end,
                })
            }
            b'\\' => self.escaped(start, end),
            _ => None, // a control character
        }
    }

    /// A string with short escapes, the first at `backslash` (`\u` and control characters are left to
    /// `serde_json`).
    fn escaped(&mut self, start: usize, backslash: usize) -> Option<Text> {
        let end = escaped_string_end(self.b, backslash)?;
        let begin = self.extra.len();
        unescape_short(self.text.get(start..end)?, self.extra)?;
        self.at = end + 1;
        Some(Text::Extra {
            start: begin,
            end: self.extra.len(),
        })
    }

    /// A number: short integers directly, anything else through `serde_json`'s own number parsing.
    fn number(&mut self) -> Option<Node> {
        let start = self.at;
        let len = self
            .b
            .get(start..)?
            .iter()
            .position(|c| !matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(self.b.len() - start);
        let lexeme = self.b.get(start..start + len)?;
        self.at = start + len;
        let (negative, digits) = match lexeme.split_first()? {
            (b'-', rest) => (true, rest),
            _ => (false, lexeme),
        };
        let short_int = !digits.is_empty()
            && digits.len() <= 18
            && digits.iter().all(u8::is_ascii_digit)
            && (digits.len() == 1 || digits.first() != Some(&b'0'));
        if short_int {
            let n = digits
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
            return match (negative, n) {
                (false, n) => Some(Node::Number(Number::from(n.unsigned_abs()))),
                // `-0` is left to serde_json.
                (true, 0) => None,
                (true, n) => Some(Node::Number(Number::from(-n))),
            };
        }
        match serde_json::from_slice::<Value>(lexeme).ok()? {
            Value::Number(n) => Some(Node::Number(n)),
            _ => None,
        }
    }
}

fn text_bytes<'a>(source: &'a [u8], extra: &'a str, text: &Text) -> &'a [u8] {
    let found = match *text {
        Text::Plain { start, end, .. } => source.get(start..end),
        Text::Extra { start, end } => extra.as_bytes().get(start..end),
    };
    found.unwrap_or_default()
}
