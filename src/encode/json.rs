//! The `json` format: the record exactly as received, byte for byte.

use crate::event::Event;

/// Appends the raw record of `event` to `out`, unchanged.
pub(crate) fn encode(event: &Event, out: &mut Vec<u8>) {
    out.extend_from_slice(event.record.raw.as_bytes());
}
