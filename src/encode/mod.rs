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
