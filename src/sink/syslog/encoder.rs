//! Syslog message encoding: wraps an encoded payload in an RFC 5424 or RFC 3164 header.
//!
//! RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME atp-forwarder - MSGID [SD-ID id="…" recordType="…" tenant="…"] MSG`.
//! TIMESTAMP is the record's CreationTime in UTC (at most 6 fraction digits; the time of sending when
//! CreationTime cannot be read), MSGID the Operation (printable US-ASCII, at most 32 characters), and the
//! structured-data values escape `"`, `\` and `]`. No BOM precedes MSG: the payload is UTF-8 as encoded, and
//! several SIEM parsers show a BOM as garbage at the start of the message.
//!
//! RFC 3164: `<PRI>Mmm dd hh:mm:ss HOSTNAME atp-forwarder: MSG`, the timestamp in UTC (the format has no zone).
//!
//! Truncation, when a limit applies, shortens MSG only, on a UTF-8 character boundary: a message is never
//! longer than the limit and never carries a split character.

use std::io::Write;

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

use super::config::{is_printable, Protocol, Severity, SyslogSinkConfig};
use crate::event::Event;

/// APP-NAME (RFC 5424) and TAG (RFC 3164).
pub(crate) const APP_NAME: &str = "atp-forwarder";

/// Longest MSGID (RFC 5424 §6.2.7).
const MSGID_MAX: usize = 32;

/// Longest HOSTNAME (RFC 5424 §6.2.4).
const HOSTNAME_MAX: usize = 255;

/// How one message came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// The whole payload is in the message.
    Whole,
    /// MSG was cut: `kept` of `original` payload bytes are in the message.
    Truncated { original: usize, kept: usize },
}

// === impl Fit ===

impl Fit {
    /// How many of the payload's `len` bytes the message carries.
    pub fn kept(self, len: usize) -> usize {
        match self {
            Fit::Whole => len,
            Fit::Truncated { kept, .. } => kept,
        }
    }
}

/// The header alone is longer than the size limit (a very long tenant name or hostname).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the syslog header alone takes {header} bytes, more than max_message_bytes = {limit}")]
pub struct HeaderTooLong {
    /// Bytes the header takes.
    pub header: usize,
    /// The configured `max_message_bytes`.
    pub limit: usize,
}

/// Writes syslog messages for one sink (public for the fuzz targets and the benchmark).
#[derive(Debug, Clone)]
pub struct Encoder {
    protocol: Protocol,
    facility: u8,
    severity: Severity,
    alert_severity: Severity,
    hostname: String,
    sd_id: String,
    max_message_bytes: Option<usize>,
}

// === impl Encoder ===

impl Encoder {
    /// An encoder for a validated config; HOSTNAME defaults to this machine's name.
    pub fn new(config: &SyslogSinkConfig) -> Encoder {
        let hostname = match &config.hostname {
            Some(hostname) => printable(hostname, HOSTNAME_MAX),
            None => printable(&gethostname::gethostname().to_string_lossy(), HOSTNAME_MAX),
        };
        Encoder {
            protocol: config.protocol,
            facility: config.facility as u8,
            severity: config.severity,
            alert_severity: config.alert_severity,
            hostname,
            sd_id: config.sd_id.clone(),
            max_message_bytes: config.effective_max_message_bytes(),
        }
    }

    /// The size limit in effect, if any.
    pub(crate) fn max_message_bytes(&self) -> Option<usize> {
        self.max_message_bytes
    }

    /// Appends one message (no framing) for `event` with `payload` as MSG to `out`.
    pub fn encode(
        &self,
        tenant: &str,
        event: &Event,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Fit, HeaderTooLong> {
        let fit = self.header(tenant, event, payload, out)?;
        out.extend_from_slice(&payload[..fit.kept(payload.len())]);
        Ok(fit)
    }

    /// Appends the header of the message [`Encoder::encode`] writes to `out`, and says how much of `payload`
    /// follows it as MSG (so a framer can copy the payload once, straight into its buffer).
    pub fn header(
        &self,
        tenant: &str,
        event: &Event,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Fit, HeaderTooLong> {
        let start = out.len();
        let severity = if event.is_alert() {
            self.alert_severity
        } else {
            self.severity
        };
        let pri = self.facility * 8 + severity as u8;
        let time = event.creation_time().unwrap_or_else(Utc::now);
        let record = &event.record;
        // Writing into a Vec cannot fail: the write! results are ignored.
        match self.protocol {
            Protocol::Rfc5424 => {
                // Written piece by piece rather than with `write!`: this header is on every message.
                out.push(b'<');
                out.extend_from_slice(itoa::Buffer::new().format(pri).as_bytes());
                out.extend_from_slice(b">1 ");
                write_rfc5424_timestamp(out, time);
                out.push(b' ');
                out.extend_from_slice(dash_if_empty(&self.hostname).as_bytes());
                out.push(b' ');
                out.extend_from_slice(APP_NAME.as_bytes());
                out.extend_from_slice(b" - ");
                write_printable(out, &record.operation, MSGID_MAX);
                out.extend_from_slice(b" [");
                out.extend_from_slice(self.sd_id.as_bytes());
                write_param(out, "id", &record.id);
                write_param(
                    out,
                    "recordType",
                    itoa::Buffer::new().format(record.record_type),
                );
                write_param(out, "tenant", tenant);
                out.push(b']');
                if !payload.is_empty() {
                    out.push(b' ');
                }
            }
            Protocol::Rfc3164 => {
                let _ = write!(
                    out,
                    "<{pri}>{} {} {APP_NAME}: ",
                    time.format("%b %e %H:%M:%S"),
                    dash_if_empty(&self.hostname)
                );
            }
        }
        let header = out.len() - start;
        let Some(limit) = self.max_message_bytes else {
            return Ok(Fit::Whole);
        };
        if header > limit || (header == limit && !payload.is_empty()) {
            out.truncate(start);
            return Err(HeaderTooLong { header, limit });
        }
        let room = limit.saturating_sub(header);
        let kept = floor_char_boundary(payload, room);
        if kept == payload.len() {
            Ok(Fit::Whole)
        } else {
            Ok(Fit::Truncated {
                original: payload.len(),
                kept,
            })
        }
    }
}

/// RFC 3339 in UTC with `Z`, at most 6 fraction digits (3 when they end in 000, none when the time has no
/// fraction), as chrono's `to_rfc3339_opts` writes it; digit by digit for the years 0–9999, chrono otherwise.
fn write_rfc5424_timestamp(out: &mut Vec<u8>, time: DateTime<Utc>) {
    let micros = time.nanosecond() / 1_000;
    let format = if micros == 0 {
        SecondsFormat::Secs
    } else if micros % 1_000 == 0 {
        SecondsFormat::Millis
    } else {
        SecondsFormat::Micros
    };
    let year = time.year();
    if !(0..=9999).contains(&year) || time.nanosecond() >= 1_000_000_000 {
        out.extend_from_slice(time.to_rfc3339_opts(format, true).as_bytes());
        return;
    }
    let digits = |out: &mut Vec<u8>, value: u32, width: u32| {
        for place in (0..width).rev() {
            out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
        }
    };
    digits(out, year as u32, 4);
    out.push(b'-');
    digits(out, time.month(), 2);
    out.push(b'-');
    digits(out, time.day(), 2);
    out.push(b'T');
    digits(out, time.hour(), 2);
    out.push(b':');
    digits(out, time.minute(), 2);
    out.push(b':');
    digits(out, time.second(), 2);
    match format {
        SecondsFormat::Millis => {
            out.push(b'.');
            digits(out, micros / 1_000, 3);
        }
        SecondsFormat::Micros => {
            out.push(b'.');
            digits(out, micros, 6);
        }
        _ => {}
    }
    out.push(b'Z');
}

/// [`printable`] of `value`, written to `out`; `-` when it is empty.
fn write_printable(out: &mut Vec<u8>, value: &str, max: usize) {
    if value.is_empty() {
        out.push(b'-');
        return;
    }
    out.extend(printable_bytes(value, max));
}

/// ` name="value"` with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn write_param(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_param_value(value, out);
    out.push(b'"');
}

/// Escapes `"`, `\` and `]` with a backslash.
pub(crate) fn escape_param_value(value: &str, out: &mut Vec<u8>) {
    if memchr::memchr3(b'"', b'\\', b']', value.as_bytes()).is_none() {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for &byte in value.as_bytes() {
        if matches!(byte, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(byte);
    }
}

/// `value` with every character outside printable US-ASCII replaced by `_`, cut to `max` characters.
pub(crate) fn printable(value: &str, max: usize) -> String {
    printable_bytes(value, max).map(char::from).collect()
}

/// The bytes of [`printable`].
fn printable_bytes(value: &str, max: usize) -> impl Iterator<Item = u8> + '_ {
    value.chars().take(max).map(|c| {
        if c.is_ascii() && is_printable(c as u8) {
            c as u8
        } else {
            b'_'
        }
    })
}

fn dash_if_empty(value: &str) -> &str {
    if value.is_empty() {
        "-"
    } else {
        value
    }
}

/// The largest `n <= max` such that `bytes[..n]` does not end inside a UTF-8 sequence.
pub(crate) fn floor_char_boundary(bytes: &[u8], max: usize) -> usize {
    if max >= bytes.len() {
        return bytes.len();
    }
    let mut end = max;
    // A continuation byte at `end` belongs to a character that started before it: drop that character.
    while end > 0 && bytes[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    end
}

#[cfg(test)]
#[path = "encoder_tests.rs"]
mod tests;
