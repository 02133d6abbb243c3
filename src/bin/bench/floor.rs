//! The floor: the work no forwarder can avoid on the same bytes, single-threaded and in memory.
//!
//! For each blob body (the bytes the emulator served, rendered before any clock starts): one serde_json
//! pass that splits the array into raw elements, the common-field decode that keeps the ATP record types
//! (the crate's own `decode_element`), and the encoding of the kept records in the sink's format into a
//! reused buffer — `json` copies the raw record, `ecs` normalizes it (`Event::from_record`) and runs the
//! ECS encoder. No HTTP, no syslog framing, no sockets, no state, no threads.
//!
//! CPU time is this thread's own (`/proc/thread-self/schedstat`, nanoseconds), summed over the timed parts.

use std::time::Duration;

use atp_forwarder::encode::{self, Format};
use atp_forwarder::event::{Event, NormalizeContext};
use atp_forwarder::source::{decode_element, Decoded};
use serde_json::value::RawValue;

/// The ATP record types.
pub const ATP_TYPES: [i64; 4] = [28, 41, 47, 64];

/// What the floor measured.
#[derive(Debug, Clone, Default)]
pub struct Floor {
    /// Thread CPU time of the timed work.
    pub cpu: Duration,
    /// Blobs read.
    pub blobs: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Records parsed.
    pub records: u64,
    /// ATP records encoded.
    pub encoded: u64,
    /// Bytes of encoded output.
    pub output_bytes: u64,
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Runs the floor over `bodies` for `format`, on the calling thread.
pub fn measure(
    bodies: impl Iterator<Item = impl AsRef<[u8]>>,
    format: Format,
    tenant: &str,
) -> Floor {
    let ctx = NormalizeContext::new(tenant);
    let mut floor = Floor::default();
    let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
    for body in bodies {
        let started = thread_cpu();
        floor.blobs += 1;
        let body = body.as_ref();
        floor.bytes += body.len() as u64;
        let Ok(elements) = serde_json::from_slice::<Vec<&RawValue>>(body) else {
            continue;
        };
        for element in elements {
            floor.records += 1;
            let Decoded::Wanted(record) = decode_element(element.get().as_bytes(), &ATP_TYPES)
            else {
                continue;
            };
            floor.encoded += 1;
            if format.is_typed() {
                let event = Event::from_record(record, &ctx);
                encode::encode(format, &event, &mut out);
            } else {
                out.extend_from_slice(record.raw.as_bytes());
            }
            out.push(b'\n');
        }
        floor.output_bytes += out.len() as u64;
        out.clear();
        floor.cpu += thread_cpu().saturating_sub(started);
    }
    floor
}
