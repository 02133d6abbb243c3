//! A compact JSON tree for the AIR `Data` and `Actions` documents, written back as the same JSON value.
//!
//! Objects keep their document order; a repeated key keeps its first place and its last value (as
//! `serde_json`'s order-preserving map does; real `Data` repeats `QueryTime`, and Elasticsearch refuses a
//! document with a repeated key). An object or array that [`scan`](super::scan) read with no repeated key
//! anywhere inside it remembers where its text is ([`Raw`]) and is written back by copying that text (line
//! breaks between tokens turned into spaces): the same value, as received. Anything else is written from the
//! tree, its strings and numbers as `serde_json` writes them.
//!
//! Strings and keys are spans of the decoded text (most of them need no copy: the parser hands them over
//! borrowed when they have no escapes, and such a string is written back verbatim, as `serde_json` would write
//! it); only those with escapes are copied, unescaped, into one side buffer. The tree therefore costs a few
//! allocations per document (one per array or object) instead of one per key, string and map node.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use crate::json_bytes;

/// The key `serde_json` reads as "the string value is raw JSON" when it is an object's first key (its
/// `raw_value` feature); such documents are decoded through [`Value`] so that they decode exactly as before.
pub(super) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Where a string's text is: a span of a parsed source that needs no escaping, or of the side buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    /// `sources[src][start..end]`, free of `"`, `\` and control characters.
    Plain {
        src: usize,
        start: usize,
        end: usize,
    },
    /// `extra[start..end]`, any text (escaped when written).
    Extra { start: usize, end: usize },
}

/// One JSON value; object entries in document order, keys unique.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Number(Number),
    Str(Text),
    Array(Vec<Node>, Raw),
    Object(Vec<(Text, Node)>, Raw),
}

/// Where the text of an object or array is in its source, when that text can be written back as it is: the
/// scanner read it, and no key repeats anywhere inside it (so the tree holds all of it). [`Raw::NONE`] for
/// anything else (repeats removed, or decoded through `serde_json`, which gives no positions).
///
/// Three `u32`s keep a [`Node`] as small as its string variant; a larger source simply has no `Raw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Raw {
    src: u32,
    start: u32,
    end: u32,
}

/// The texts the nodes of one record point into.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Texts {
    sources: Vec<String>,
    extra: String,
}

// === impl Text ===

impl Text {
    /// The length of the text in bytes, without looking it up.
    pub(crate) fn len(&self) -> usize {
        match *self {
            Text::Plain { start, end, .. } | Text::Extra { start, end } => {
                end.saturating_sub(start)
            }
        }
    }
}

// === impl Raw ===

impl Raw {
    /// No text to copy: write from the tree.
    pub(crate) const NONE: Raw = Raw {
        src: 0,
        start: 0,
        end: 0,
    };

    /// `sources[src][start..end]`; [`Raw::NONE`] when it is empty or does not fit.
    pub(crate) fn span(src: usize, start: usize, end: usize) -> Raw {
        match (u32::try_from(src), u32::try_from(start), u32::try_from(end)) {
            (Ok(src), Ok(start), Ok(end)) if start < end => Raw { src, start, end },
            _ => Raw::NONE,
        }
    }
}

// === impl Texts ===

impl Texts {
    /// The text of a string or key.
    pub(crate) fn get(&self, text: &Text) -> &str {
        let found = match *text {
            Text::Plain { src, start, end } => {
                self.sources.get(src).and_then(|s| s.get(start..end))
            }
            Text::Extra { start, end } => self.extra.get(start..end),
        };
        found.unwrap_or_default()
    }

    fn push_extra(&mut self, text: &str) -> Text {
        extra_text(&mut self.extra, text)
    }

    /// Decodes a whole JSON document (as `serde_json::from_str::<Value>`); the text back when it is not JSON.
    pub(crate) fn parse(&mut self, text: String) -> Result<Node, String> {
        if let Some(node) = super::scan::parse(&text, self.sources.len(), &mut self.extra) {
            self.sources.push(text);
            return Ok(node);
        }
        let mut build = Build {
            src: self.sources.len(),
            base: text.as_ptr() as usize,
            len: text.len(),
            text: &text,
            extra: &mut self.extra,
            raw_value_token: false,
        };
        let mut de = serde_json::Deserializer::from_str(&text);
        let parsed = NodeSeed(&mut build).deserialize(&mut de).and_then(|node| {
            de.end()?;
            Ok(node)
        });
        let node = match parsed {
            Ok(node) => node,
            Err(_) if build.raw_value_token => match serde_json::from_str::<Value>(&text) {
                Ok(value) => self.tree_of(&value),
                Err(_) => return Err(text),
            },
            Err(_) => return Err(text),
        };
        self.sources.push(text);
        Ok(node)
    }

    /// The tree of a [`Value`] (its strings copied into the side buffer).
    fn tree_of(&mut self, value: &Value) -> Node {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::Str(self.push_extra(s)),
            Value::Array(items) => {
                Node::Array(items.iter().map(|v| self.tree_of(v)).collect(), Raw::NONE)
            }
            Value::Object(map) => Node::Object(
                map.iter()
                    .map(|(k, v)| (self.push_extra(k), self.tree_of(v)))
                    .collect(),
                Raw::NONE,
            ),
        }
    }

    /// A string that may hold a JSON document: its object or array when it does, the string otherwise (as
    /// `decode_embedded` in the parent module).
    pub(crate) fn embedded(&mut self, node: Node) -> Node {
        match node {
            Node::Str(text) => {
                let owned = self.get(&text).to_owned();
                self.container(owned).unwrap_or(Node::Str(text))
            }
            other => other,
        }
    }

    /// Decoded text that may hold a JSON document: its object or array when it does, the text otherwise.
    pub(crate) fn embedded_text(&mut self, text: String) -> Node {
        match self.container(text) {
            Ok(node) => node,
            Err(text) => Node::Str(self.push_extra(&text)),
        }
    }

    /// The object or array `text` holds; the text back when it holds anything else.
    fn container(&mut self, text: String) -> Result<Node, String> {
        // Only a document that starts (after whitespace) like an object or array can decode to one.
        let first = text
            .bytes()
            .find(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'));
        if !matches!(first, Some(b'{' | b'[')) {
            return Err(text);
        }
        match self.parse(text)? {
            node @ (Node::Object(..) | Node::Array(..)) => Ok(node),
            // A scalar after all (not reachable from `{` or `[`): hand the text back.
            _ => Err(self.sources.pop().unwrap_or_default()),
        }
    }

    /// Appends `node` as JSON on one line: its text as received when it has one ([`Raw`]), else compact.
    pub(crate) fn write(&self, node: &Node, out: &mut Vec<u8>) {
        if let Node::Array(_, raw) | Node::Object(_, raw) = node {
            if let Some(text) = self.raw_text(raw) {
                json_bytes::copy_one_line(out, text);
                return;
            }
        }
        match node {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            Node::Number(n) => write_number(n, out),
            Node::Str(text) => self.write_text(text, out),
            Node::Array(items, _) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write(item, out);
                }
                out.push(b']');
            }
            Node::Object(entries, _) => {
                out.push(b'{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write_text(key, out);
                    out.push(b':');
                    self.write(value, out);
                }
                out.push(b'}');
            }
        }
    }

    fn raw_text(&self, raw: &Raw) -> Option<&[u8]> {
        if *raw == Raw::NONE {
            return None;
        }
        self.source_bytes(raw.src as usize, raw.start as usize, raw.end as usize)
    }

    /// `sources[src][start..end]`, as bytes (a span the scanner or the parser found, so never out of range).
    fn source_bytes(&self, src: usize, start: usize, end: usize) -> Option<&[u8]> {
        self.sources.get(src)?.as_bytes().get(start..end)
    }

    fn write_text(&self, text: &Text, out: &mut Vec<u8>) {
        match *text {
            Text::Plain { src, start, end } => {
                let s = self.source_bytes(src, start, end).unwrap_or_default();
                out.reserve(s.len() + 2);
                out.push(b'"');
                out.extend_from_slice(s);
                out.push(b'"');
            }
            Text::Extra { .. } => write_serde(out, self.get(text)),
        }
    }
}

fn extra_text(extra: &mut String, text: &str) -> Text {
    let start = extra.len();
    extra.push_str(text);
    Text::Extra {
        start,
        end: extra.len(),
    }
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    write_serde(out, n);
}

/// Writes through `serde_json`, as the [`Value`] serializer does. Writing a string or number into a `Vec`
/// cannot fail; should it ever, `null` keeps the output well-formed.
fn write_serde<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let before = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(before);
        out.extend_from_slice(b"null");
    }
}

// === the decoder ===

/// State while one source text is decoded.
struct Build<'b> {
    src: usize,
    base: usize,
    len: usize,
    text: &'b str,
    extra: &'b mut String,
    raw_value_token: bool,
}

impl Build<'_> {
    /// A span of the source when `s` was borrowed from it, else a copy in the side buffer.
    fn borrowed(&mut self, s: &str) -> Text {
        let at = (s.as_ptr() as usize).wrapping_sub(self.base);
        if at <= self.len && s.len() <= self.len - at {
            Text::Plain {
                src: self.src,
                start: at,
                end: at + s.len(),
            }
        } else {
            extra_text(self.extra, s)
        }
    }

    fn get(&self, text: &Text) -> &[u8] {
        let found = match *text {
            Text::Plain { start, end, .. } => self.text.as_bytes().get(start..end),
            Text::Extra { start, end } => self.extra.as_bytes().get(start..end),
        };
        found.unwrap_or_default()
    }
}

struct NodeSeed<'s, 'b>(&'s mut Build<'b>);

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = Node;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Number::from_f64(v).map_or(Node::Null, Node::Number))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node, E> {
        Ok(Node::Str(self.0.borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(extra_text(self.0.extra, v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(NodeSeed(&mut *self.0))? {
            items.push(item);
        }
        Ok(Node::Array(items, Raw::NONE))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(Text, Node)> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed(&mut *self.0))? {
            if entries.is_empty() && self.0.get(&key) == RAW_VALUE_TOKEN.as_bytes() {
                self.0.raw_value_token = true;
                return Err(de::Error::custom("raw value token"));
            }
            let value = map.next_value_seed(NodeSeed(&mut *self.0))?;
            entries.push((key, value));
        }
        let build = &*self.0;
        dedup_entries(&mut entries, |t| build.get(t));
        Ok(Node::Object(entries, Raw::NONE))
    }
}

struct KeySeed<'s, 'b>(&'s mut Build<'b>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Text;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Text, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text, E> {
        Ok(self.0.borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(extra_text(self.0.extra, v))
    }
}

/// Removes repeated keys from object entries in document order: a repeated key keeps its first place and takes
/// its last value (what `serde_json`'s order-preserving map does, and the last value is what a `BTreeMap`
/// kept too). Returns whether any key repeated.
///
/// Almost no object repeats a key, so that is checked first with a 256-bit filter of the keys' hashes: a key is
/// compared with the keys before it only when its bit is already set.
pub(super) fn dedup_entries<'k>(
    entries: &mut Vec<(Text, Node)>,
    key: impl Fn(&Text) -> &'k [u8],
) -> bool {
    if entries.len() < 2 {
        return false;
    }
    let mut seen = [0u64; 4];
    let mut repeats = false;
    for (i, (k, _)) in entries.iter().enumerate() {
        let bytes = key(k);
        let bucket = filter_bucket(bytes);
        let (word, bit) = (bucket / 64, 1u64 << (bucket % 64));
        let Some(slot) = seen.get_mut(word) else {
            continue;
        };
        if *slot & bit != 0 {
            let earlier = entries.get(..i).unwrap_or_default();
            if earlier.iter().any(|(e, _)| key(e) == bytes) {
                repeats = true;
                break;
            }
        }
        *slot |= bit;
    }
    if !repeats {
        return false;
    }
    let mut unique: Vec<(Text, Node)> = Vec::with_capacity(entries.len());
    for (k, value) in entries.drain(..) {
        let bytes = key(&k);
        match unique.iter_mut().find(|(e, _)| key(e) == bytes) {
            Some(first) => first.1 = value,
            None => unique.push((k, value)),
        }
    }
    *entries = unique;
    true
}

/// The bit (0..256) of a key in [`dedup_entries`]' filter: its first and last eight bytes and its length, mixed.
fn filter_bucket(key: &[u8]) -> usize {
    let (first, last) = match (key.first_chunk::<8>(), key.last_chunk::<8>()) {
        (Some(first), Some(last)) => (u64::from_le_bytes(*first), u64::from_le_bytes(*last)),
        _ => (key.iter().fold(0, |n, &byte| n << 8 | u64::from(byte)), 0),
    };
    let mixed = first ^ last.rotate_left(29) ^ key.len() as u64;
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
}

// === lookups ===

/// A node with the texts it points into, for reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Json<'a> {
    pub(crate) texts: &'a Texts,
    pub(crate) node: &'a Node,
}

impl<'a> Json<'a> {
    /// The value of `key` when this is an object that has it.
    pub(crate) fn get(self, key: &str) -> Option<Json<'a>> {
        let Node::Object(entries, _) = self.node else {
            return None;
        };
        // Keys are unique (see `dedup_entries`) and objects small: the first match is the one.
        entries
            .iter()
            .find(|(k, _)| k.len() == key.len() && self.texts.get(k) == key)
            .map(|(_, node)| self.with(node))
    }

    /// The text when this is a string.
    pub(crate) fn as_str(self) -> Option<&'a str> {
        match self.node {
            Node::Str(text) => Some(self.texts.get(text)),
            _ => None,
        }
    }

    /// The items when this is an array (nothing otherwise).
    pub(crate) fn items(self) -> impl Iterator<Item = Json<'a>> {
        let items: &'a [Node] = match self.node {
            Node::Array(items, _) => items,
            _ => &[],
        };
        items.iter().map(move |node| self.with(node))
    }

    /// Whether this is an object.
    pub(crate) fn is_object(self) -> bool {
        matches!(self.node, Node::Object(..))
    }

    /// Appends the value as JSON on one line (see [`Texts::write`]).
    pub(crate) fn write(self, out: &mut Vec<u8>) {
        self.texts.write(self.node, out);
    }

    fn with(self, node: &'a Node) -> Json<'a> {
        Json {
            texts: self.texts,
            node,
        }
    }
}

#[cfg(test)]
mod tests;
