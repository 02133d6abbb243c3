//! CEF (ArcSight Common Event Format) encoder.
//!
//! `CEF:0|Microsoft|Defender for Office 365|1.0|<RecordType>:<Operation>|<readable name>|<severity>|<extension>`.
//! Header fields escape `\` and `|` with a backslash; a newline cannot be represented in a header field, so CR
//! and LF become spaces there; the class id is capped at 1023 characters and the name at 512. Extension values
//! escape `\` and `=` with a backslash and encode CR and LF as `\r` and `\n`; `|` needs no escape there. The
//! extension starts with `rt` (CreationTime in epoch milliseconds); the other keys come from
//! [`fields`](super::fields), each at most once. Times are epoch milliseconds.

use chrono::{DateTime, Utc};

use super::fields::{self, FieldSink, Slot};
use crate::event::Event;

/// Vendor, product and version header fields, already escaped.
const PREFIX: &[u8] = b"CEF:0|Microsoft|Defender for Office 365|1.0|";
/// Cap for the Device Event Class ID, in characters.
pub(crate) const CLASS_ID_MAX: usize = 1023;
/// Cap for the Name, in characters.
pub(crate) const NAME_MAX: usize = 512;

/// Appends the CEF message of `event` to `out`.
pub(crate) fn encode(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(PREFIX);
    let itoa = itoa_buf(event.record.record_type);
    let class_prefix = itoa.as_str();
    header(out, class_prefix, CLASS_ID_MAX);
    out.push(b':');
    header(
        out,
        &event.record.operation,
        CLASS_ID_MAX.saturating_sub(class_prefix.len() + 1),
    );
    out.push(b'|');
    header(out, event.name(), NAME_MAX);
    out.push(b'|');
    push_int(out, i64::from(event.cef_severity().min(10)));
    out.push(b'|');
    let mut sink = CefSink { out, first: true };
    sink.key("rt");
    push_int(sink.out, event.timestamp().timestamp_millis());
    fields::visit(event, &mut sink);
}

/// Writes a header field: `\` and `|` escaped, CR/LF as spaces, at most `max` characters.
fn header(out: &mut Vec<u8>, value: &str, max: usize) {
    for c in value.chars().take(max) {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '|' => out.extend_from_slice(b"\\|"),
            '\r' | '\n' => out.push(b' '),
            c => push_char(out, c),
        }
    }
}

/// Writes an extension value: `\` and `=` escaped, CR/LF as `\r`/`\n`.
pub(crate) fn value(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'=' => b"\\=",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// A small stack buffer holding an integer's decimal digits.
pub(crate) struct Itoa {
    buf: [u8; 20],
    start: usize,
}

impl Itoa {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

/// The decimal digits of `n`, on the stack.
pub(crate) fn itoa_buf(n: i64) -> Itoa {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        start -= 1;
        buf[start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    Itoa { buf, start }
}

pub(crate) fn push_int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa_buf(n).as_str().as_bytes());
}

struct CefSink<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl CefSink<'_> {
    /// Starts a pair: separator, key, `=`.
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
        self.out.extend_from_slice(key.as_bytes());
        self.out.push(b'=');
    }

    /// Starts the pair of `slot`, after its label pair; false when the slot is not in CEF.
    fn start(&mut self, slot: &Slot) -> bool {
        if slot.cef.is_empty() {
            return false;
        }
        if let Some((label_key, label)) = slot.cef_label {
            self.key(label_key);
            value(self.out, label);
        }
        self.key(slot.cef);
        true
    }
}

impl FieldSink for CefSink<'_> {
    fn text(&mut self, slot: &Slot, v: &str) {
        if !v.is_empty() && self.start(slot) {
            value(self.out, v);
        }
    }

    fn list<'a, I: IntoIterator<Item = &'a str>>(&mut self, slot: &Slot, values: I, sep: &str) {
        let mut values = values.into_iter().filter(|v| !v.is_empty()).peekable();
        if values.peek().is_none() || !self.start(slot) {
            return;
        }
        for (i, v) in values.enumerate() {
            if i > 0 {
                value(self.out, sep);
            }
            value(self.out, v);
        }
    }

    fn int(&mut self, slot: &Slot, v: i64) {
        if self.start(slot) {
            push_int(self.out, v);
        }
    }

    fn time(&mut self, slot: &Slot, v: DateTime<Utc>) {
        self.int(slot, v.timestamp_millis());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(v: &str) -> String {
        let mut out = Vec::new();
        value(&mut out, v);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn extension_values_escape_backslash_equals_and_newlines_but_not_pipes() {
        assert_eq!(esc("a=b\\c|d\r\ne"), "a\\=b\\\\c|d\\r\\ne");
    }

    #[test]
    fn header_fields_escape_pipes_and_flatten_newlines() {
        let mut out = Vec::new();
        header(&mut out, "a|b\\c\nd", 100);
        assert_eq!(String::from_utf8_lossy(&out), "a\\|b\\\\c d");
    }

    #[test]
    fn integers_print_in_decimal() {
        for n in [0, 7, -3, 1_656_671_419_000, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            push_int(&mut out, n);
            assert_eq!(String::from_utf8_lossy(&out), n.to_string());
        }
    }
}
