//! LEEF 2.0 (QRadar Log Event Extended Format) encoder.
//!
//! `LEEF:2.0|Microsoft|Defender for Office 365|1.0|<RecordType>:<Operation>|x09|` then tab-separated
//! `key=value` pairs: `devTime` + `devTimeFormat`, `sev`, then the key fields from [`fields`](super::fields),
//! each key at most once. The EventID escapes `\` and `|` with a backslash and turns tab, CR and LF into spaces.
//! Values escape `\`, `=`, tab, CR and LF (`\\`, `\=`, `\t`, `\r`, `\n`), so neither the delimiter nor a line
//! break nor a stray `=` can split a pair. Times other than `devTime` are RFC 3339 UTC.

use std::io::Write as _;

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::cef::push_int;
use super::fields::{self, FieldSink, Slot};
use crate::event::time::Rfc3339;
use crate::event::Event;

/// Everything up to the EventID.
const PREFIX: &[u8] = b"LEEF:2.0|Microsoft|Defender for Office 365|1.0|";
/// The delimiter field: tab, in the hex form LEEF 2.0 allows.
const DELIMITER: &[u8] = b"|x09|";
/// The Java date pattern of `devTime`.
pub(crate) const DEV_TIME_FORMAT: &str = "yyyy-MM-dd'T'HH:mm:ss.SSSZ";

/// Appends the LEEF message of `event` to `out`.
pub(crate) fn encode(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(PREFIX);
    push_int(out, event.record.record_type);
    out.push(b':');
    event_id(out, &event.record.operation);
    out.extend_from_slice(DELIMITER);
    let at = event.timestamp();
    out.extend_from_slice(b"devTime=");
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.timestamp_subsec_millis().min(999)
    );
    out.extend_from_slice(b"\tdevTimeFormat=");
    value(out, DEV_TIME_FORMAT);
    out.extend_from_slice(b"\tsev=");
    push_int(out, i64::from(event.cef_severity().clamp(1, 10)));
    fields::visit(event, &mut LeefSink { out });
}

fn event_id(out: &mut Vec<u8>, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '|' => out.extend_from_slice(b"\\|"),
            '\t' | '\r' | '\n' => out.push(b' '),
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

/// Writes a value: `\`, `=`, tab, CR and LF escaped.
pub(crate) fn value(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'=' => b"\\=",
            b'\t' => b"\\t",
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

struct LeefSink<'o> {
    out: &'o mut Vec<u8>,
}

impl LeefSink<'_> {
    /// Starts the pair of `slot`; false when the slot is not in LEEF.
    fn start(&mut self, slot: &Slot) -> bool {
        if slot.leef.is_empty() {
            return false;
        }
        self.out.push(b'\t');
        self.out.extend_from_slice(slot.leef.as_bytes());
        self.out.push(b'=');
        true
    }
}

impl FieldSink for LeefSink<'_> {
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
        if self.start(slot) {
            // Writing into a Vec cannot fail.
            let _ = write!(self.out, "{}", Rfc3339(v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_escape_everything_that_could_split_a_pair() {
        let mut out = Vec::new();
        value(&mut out, "a=b\tc\\d\r\ne|f");
        assert_eq!(String::from_utf8_lossy(&out), "a\\=b\\tc\\\\d\\r\\ne|f");
    }
}
