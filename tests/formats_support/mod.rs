//! Shared set-up for the format tests: a fixed normalization context, fixture loading, and CEF / LEEF parsers
//! written from the specifications, independent of the encoders.
#![allow(dead_code)]

use std::path::PathBuf;

use atp_forwarder::encode::{self, Format};
use atp_forwarder::event::{Event, NormalizeContext, Record};
use chrono::{TimeZone, Utc};

/// The context every golden test uses: tenant `contoso`, fetched at 2025-12-01T08:00:00Z.
pub fn ctx() -> NormalizeContext {
    NormalizeContext {
        tenant: "contoso".into(),
        fetched_at: Utc
            .with_ymd_and_hms(2025, 12, 1, 8, 0, 0)
            .single()
            .expect("valid date"),
        dataset: NormalizeContext::DEFAULT_DATASET.into(),
        include_original: false,
    }
}

/// `tests/fixtures/<name>`, read.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The event of a raw record, through `Record::from_json`.
pub fn event(raw: &[u8]) -> Event {
    let trimmed = raw.trim_ascii();
    let record =
        Record::from_json(trimmed.to_vec()).unwrap_or_else(|e| panic!("not a record: {e}"));
    Event::from_record(record, &ctx())
}

/// One message in `format`, as text.
pub fn encoded(format: Format, event: &Event) -> String {
    let mut out = Vec::new();
    encode::encode(format, event, &mut out);
    String::from_utf8(out).expect("encoders write UTF-8")
}

/// The ECS document, parsed; checked to be one line with no key twice in any object (Elasticsearch refuses
/// a document with a repeated key, and AIR's `Data` repeats `QueryTime`).
pub fn ecs(event: &Event) -> serde_json::Value {
    let text = encoded(Format::Ecs, event);
    assert!(
        !text.contains(['\n', '\r']),
        "ecs output is not one line: {text}"
    );
    let members: Members = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("ecs output is not JSON ({e}): {text}"));
    if let Some(key) = members.repeated_key() {
        panic!("ecs output repeats the key {key:?} in an object: {text}");
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ecs output is not JSON ({e}): {text}"))
}

/// A JSON value with each object's members as a list, so that a repeated key stays visible (a map would
/// keep one of them).
enum Members {
    Scalar,
    Array(Vec<Members>),
    Object(Vec<(String, Members)>),
}

impl Members {
    /// A key that some object in the value has twice.
    fn repeated_key(&self) -> Option<&str> {
        match self {
            Members::Scalar => None,
            Members::Array(items) => items.iter().find_map(Members::repeated_key),
            Members::Object(members) => {
                let mut keys: Vec<&str> = members.iter().map(|(key, _)| key.as_str()).collect();
                keys.sort_unstable();
                let twice = keys
                    .windows(2)
                    .find(|pair| pair[0] == pair[1])
                    .map(|pair| pair[0]);
                twice.or_else(|| members.iter().find_map(|(_, value)| value.repeated_key()))
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Members, E> {
                Ok(Members::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Members, E> {
                Ok(Members::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Members, E> {
                Ok(Members::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Members, E> {
                Ok(Members::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Members, E> {
                Ok(Members::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Members, E> {
                Ok(Members::Scalar)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Members, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Members::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members::Object(members))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A CEF message, split per the CEF specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cef {
    /// The seven header fields after `CEF:0`, unescaped.
    pub header: Vec<String>,
    /// The extension pairs in order, values unescaped.
    pub extension: Vec<(String, String)>,
}

impl Cef {
    /// The value of `key`; panics when it appears more than once.
    pub fn get(&self, key: &str) -> Option<&str> {
        let mut found = self.extension.iter().filter(|(k, _)| k == key);
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(
            found.next().is_none(),
            "CEF key {key} appears more than once"
        );
        first
    }
}

/// Parses a CEF message: header fields split on unescaped `|` (`\|` and `\\` unescaped), then the extension
/// split at every unescaped `=`, the key being the word before it and the value running to the space before
/// the next key; `\=`, `\\`, `\n`, `\r` unescaped in values.
pub fn parse_cef(message: &str) -> Result<Cef, String> {
    let rest = message.strip_prefix("CEF:").ok_or("no CEF: prefix")?;
    let chars: Vec<char> = rest.chars().collect();
    let mut header = Vec::new();
    let mut field = String::new();
    let mut i = 0;
    while header.len() < 7 {
        let c = *chars
            .get(i)
            .ok_or_else(|| format!("header ends after {} fields", header.len()))?;
        match c {
            '\\' => {
                let next = *chars.get(i + 1).ok_or("dangling backslash in header")?;
                if next != '\\' && next != '|' {
                    return Err(format!("bad header escape \\{next}"));
                }
                field.push(next);
                i += 2;
            }
            '|' => {
                header.push(std::mem::take(&mut field));
                i += 1;
            }
            '\r' | '\n' => return Err("line break in header".into()),
            c => {
                field.push(c);
                i += 1;
            }
        }
    }
    if header[0] != "0" {
        return Err(format!("version {}", header[0]));
    }
    header.remove(0);
    let ext: Vec<char> = chars[i..].to_vec();
    // Positions of unescaped '=' and of unescaped spaces.
    let mut equals = Vec::new();
    let mut j = 0;
    while j < ext.len() {
        match ext[j] {
            '\\' => j += 2,
            '=' => {
                equals.push(j);
                j += 1;
            }
            '\r' | '\n' => return Err("raw line break in extension".into()),
            _ => j += 1,
        }
    }
    let mut pairs = Vec::new();
    let mut key_starts = Vec::new();
    for &eq in &equals {
        let start = ext[..eq]
            .iter()
            .rposition(|c| *c == ' ')
            .map_or(0, |p| p + 1);
        let key: String = ext[start..eq].iter().collect();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("bad key {key:?}"));
        }
        key_starts.push((start, eq, key));
    }
    for (n, (_, eq, key)) in key_starts.iter().enumerate() {
        let end = match key_starts.get(n + 1) {
            Some((next_start, _, _)) => next_start.checked_sub(1).ok_or("no space before key")?,
            None => ext.len(),
        };
        if n + 1 < key_starts.len() && ext.get(end) != Some(&' ') {
            return Err(format!("no separator before key {}", key_starts[n + 1].2));
        }
        pairs.push((key.clone(), unescape(&ext[eq + 1..end], &['\\', '='])?));
    }
    Ok(Cef {
        header,
        extension: pairs,
    })
}

/// Unescapes `\n`, `\r`, `\t` and `\x` for every `x` in `plain`.
fn unescape(chars: &[char], plain: &[char]) -> Result<String, String> {
    let mut out = String::with_capacity(chars.len());
    let mut k = 0;
    while k < chars.len() {
        if chars[k] == '\\' {
            let next = *chars.get(k + 1).ok_or("dangling backslash")?;
            match next {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' if plain.contains(&'\t') => out.push('\t'),
                c if plain.contains(&c) => out.push(c),
                c => return Err(format!("unknown escape \\{c}")),
            }
            k += 2;
        } else {
            out.push(chars[k]);
            k += 1;
        }
    }
    Ok(out)
}

/// A LEEF 2.0 message with a tab delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leef {
    /// Vendor, product, version, EventID (unescaped), delimiter.
    pub header: Vec<String>,
    /// The pairs in order, values unescaped.
    pub pairs: Vec<(String, String)>,
}

impl Leef {
    /// The value of `key`; panics when it appears more than once.
    pub fn get(&self, key: &str) -> Option<&str> {
        let mut found = self.pairs.iter().filter(|(k, _)| k == key);
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(
            found.next().is_none(),
            "LEEF key {key} appears more than once"
        );
        first
    }
}

/// Parses a LEEF 2.0 message: six header fields on unescaped `|`, the delimiter must be `x09`, then pairs
/// split on raw tabs, each at its single unescaped `=`.
pub fn parse_leef(message: &str) -> Result<Leef, String> {
    let rest = message
        .strip_prefix("LEEF:2.0|")
        .ok_or("no LEEF:2.0 prefix")?;
    if message.contains(['\r', '\n']) {
        return Err("raw line break".into());
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut header = Vec::new();
    let mut field = String::new();
    let mut i = 0;
    while header.len() < 5 {
        let c = *chars.get(i).ok_or("short header")?;
        match c {
            '\\' => {
                field.push(*chars.get(i + 1).ok_or("dangling backslash in header")?);
                i += 2;
            }
            '|' => {
                header.push(std::mem::take(&mut field));
                i += 1;
            }
            '\t' => return Err("tab in header".into()),
            c => {
                field.push(c);
                i += 1;
            }
        }
    }
    if header[4] != "x09" {
        return Err(format!("delimiter {}", header[4]));
    }
    let body: String = chars[i..].iter().collect();
    let mut pairs = Vec::new();
    for pair in body.split('\t') {
        let p: Vec<char> = pair.chars().collect();
        let mut eq = None;
        let mut k = 0;
        while k < p.len() {
            match p[k] {
                '\\' => k += 2,
                '=' if eq.is_none() => {
                    eq = Some(k);
                    k += 1;
                }
                '=' => return Err(format!("second unescaped = in {pair:?}")),
                _ => k += 1,
            }
        }
        let eq = eq.ok_or_else(|| format!("no = in {pair:?}"))?;
        let key: String = p[..eq].iter().collect();
        pairs.push((key, unescape(&p[eq + 1..], &['\\', '=', '\t'])?));
    }
    Ok(Leef { header, pairs })
}
