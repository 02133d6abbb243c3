//! A compact JSON tree for the AIR `Data` and `Actions` documents, serialized exactly as `serde_json` would
//! serialize the same text decoded into a [`serde_json::Value`] (object keys sorted, a repeated key keeping its
//! last value, numbers as `serde_json` reads and writes them).
//!
//! Strings and keys are spans of the decoded text (most of them need no copy: the parser hands them over
//! borrowed when they have no escapes, and such a string is written back verbatim, as `serde_json` would write
//! it); only those with escapes are copied, unescaped, into one side buffer. The tree therefore costs a few
//! allocations per document (one per array or object) instead of one per key, string and map node.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

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

/// One JSON value; object entries are sorted by key, keys unique.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Number(Number),
    Str(Text),
    Array(Vec<Node>),
    Object(Vec<(Text, Node)>),
}

/// The texts the nodes of one record point into.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Texts {
    sources: Vec<String>,
    extra: String,
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
            Value::Array(items) => Node::Array(items.iter().map(|v| self.tree_of(v)).collect()),
            Value::Object(map) => Node::Object(
                map.iter()
                    .map(|(k, v)| (self.push_extra(k), self.tree_of(v)))
                    .collect(),
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
            node @ (Node::Object(_) | Node::Array(_)) => Ok(node),
            // A scalar after all (not reachable from `{` or `[`): hand the text back.
            _ => Err(self.sources.pop().unwrap_or_default()),
        }
    }

    /// Appends `node` as compact JSON.
    pub(crate) fn write(&self, node: &Node, out: &mut Vec<u8>) {
        match node {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            Node::Number(n) => write_number(n, out),
            Node::Str(text) => self.write_text(text, out),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write(item, out);
                }
                out.push(b']');
            }
            Node::Object(entries) => {
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

    fn write_text(&self, text: &Text, out: &mut Vec<u8>) {
        match *text {
            Text::Plain { src, start, end } => {
                let s = self
                    .sources
                    .get(src)
                    .and_then(|s| s.as_bytes().get(start..end))
                    .unwrap_or_default();
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
        Ok(Node::Array(items))
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
        sort_entries(&mut entries, &mut Vec::new(), |t| build.get(t));
        Ok(Node::Object(entries))
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

/// Sorts object entries by key (bytes of UTF-8, the order of `str`), keeping of repeated keys the last value, as
/// a `BTreeMap` filled in document order does. The entries are large, so an order of (key prefix, index) pairs
/// is sorted (in `order`, a reusable buffer) and the entries are moved once. Keys are compared whole only where
/// their first eight bytes are the same.
pub(super) fn sort_entries<'k>(
    entries: &mut Vec<(Text, Node)>,
    order: &mut Vec<(u64, usize)>,
    key: impl Fn(&Text) -> &'k [u8],
) {
    order.clear();
    order.extend(
        entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (prefix(key(k)), i)),
    );
    let full = |i: usize| entries.get(i).map_or(&[][..], |(k, _)| key(k));
    let before =
        |a: &(u64, usize), b: &(u64, usize)| a.0.cmp(&b.0).then_with(|| full(a.1).cmp(full(b.1)));
    // Already in order without repeats (half the objects of an AIR document): nothing to move.
    let sorted = order
        .windows(2)
        .all(|w| matches!(w, [a, b] if before(a, b).is_lt()));
    if sorted {
        return;
    }
    // Equal keys stay in document order (the index decides), so the last of each run is the last in the text.
    order.sort_unstable_by(|a, b| before(a, b).then(a.1.cmp(&b.1)));
    let mut out: Vec<(Text, Node)> = Vec::with_capacity(entries.len());
    let empty = Text::Extra { start: 0, end: 0 };
    let mut last_prefix = None;
    for &(prefix, i) in order.iter() {
        let Some(slot) = entries.get_mut(i) else {
            continue;
        };
        let entry = std::mem::replace(slot, (empty, Node::Null));
        match out.last_mut() {
            Some(last) if last_prefix == Some(prefix) && key(&last.0) == key(&entry.0) => {
                *last = entry
            }
            _ => out.push(entry),
        }
        last_prefix = Some(prefix);
    }
    *entries = out;
}

/// The first eight bytes, zero-padded, as a number that orders as the bytes do.
fn prefix(s: &[u8]) -> u64 {
    if let Some(first) = s.first_chunk::<8>() {
        return u64::from_be_bytes(*first);
    }
    s.iter()
        .enumerate()
        .fold(0, |n, (i, &byte)| n | u64::from(byte) << (56 - 8 * i))
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
        let Node::Object(entries) = self.node else {
            return None;
        };
        let at = entries
            .binary_search_by(|(k, _)| self.texts.get(k).cmp(key))
            .ok()?;
        entries.get(at).map(|(_, node)| self.with(node))
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
            Node::Array(items) => items,
            _ => &[],
        };
        items.iter().map(move |node| self.with(node))
    }

    /// Whether this is an object.
    pub(crate) fn is_object(self) -> bool {
        matches!(self.node, Node::Object(_))
    }

    /// Appends the value as compact JSON, byte for byte what `serde_json` writes for the same [`Value`].
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
