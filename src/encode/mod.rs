//! Encoders: turn a normalized event into the bytes one sink sends.
//!
//! Formats: `json` (the raw record unchanged), `ecs`, `cef`, `leef` — mapped in `docs/formats.md`. Every format
//! carries the record `Id` (`Id` in json, `event.id` in ecs, `externalId` in cef and leef). Syslog framing
//! (RFC 5424 / 3164) wraps an encoded payload and lives with the syslog sink.

mod cef;
mod ecs;
mod ecs_vendor;
mod fields;
mod json;
mod json_writer;
mod leef;

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

impl Format {
    /// Whether the format needs the typed model (everything but `json`).
    pub fn is_typed(self) -> bool {
        !matches!(self, Format::Json)
    }

    /// The format's name as a sink's `format` key spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ecs => "ecs",
            Format::Cef => "cef",
            Format::Leef => "leef",
        }
    }
}

/// Appends exactly one message for `event` in `format` to `out`, with no trailing newline. Never fails and
/// never panics, whatever the record holds.
pub fn encode(format: Format, event: &Event, out: &mut Vec<u8>) {
    debug_assert!(
        event.modeled || !format.is_typed(),
        "a passthrough event encoded as {format:?}: the pipeline must decode models for typed formats"
    );
    match format {
        Format::Json => json::encode(event, out),
        Format::Ecs => ecs::encode(event, out),
        Format::Cef => cef::encode(event, out),
        Format::Leef => leef::encode(event, out),
    }
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn a_format_name_reads_back_as_the_same_format() {
        for format in [Format::Json, Format::Ecs, Format::Cef, Format::Leef] {
            let read: Format = serde_json::from_value(serde_json::json!(format.name()))
                .unwrap_or_else(|e| panic!("{:?} is not read back: {e}", format.name()));
            assert_eq!(read, format);
        }
    }
}
