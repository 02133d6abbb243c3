//! Per-record costs of normalizing and encoding (a profiling aid): each line of a JSON-lines file of raw
//! records is decoded and encoded many times; the average per record type is printed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use atp_forwarder::encode::{self, Format};
use atp_forwarder::event::{Event, NormalizeContext};
use atp_forwarder::source::{decode_element, Decoded};

use crate::floor::ATP_TYPES;

/// Prints decode, encode and drop time per record type for the records in `path`.
pub fn run(path: &Path, format: Format, rounds: u32) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let ctx = NormalizeContext::new("bench");
    let mut costs: BTreeMap<i64, [Duration; 3]> = BTreeMap::new();
    let mut counts: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    let mut out = Vec::with_capacity(1 << 16);
    for line in text.lines() {
        let Decoded::Wanted(record) = decode_element(line.as_bytes(), &ATP_TYPES) else {
            continue;
        };
        let kind = record.record_type;
        let entry = costs.entry(kind).or_default();
        let count = counts.entry(kind).or_default();
        count.0 += 1;
        for _ in 0..rounds {
            let t0 = Instant::now();
            let event = Event::from_record(record.clone(), &ctx);
            let t1 = Instant::now();
            out.clear();
            encode::encode(format, &event, &mut out);
            let t2 = Instant::now();
            if event.decode_error().is_some() {
                count.1 += 1;
            }
            drop(event);
            entry[0] += t1 - t0;
            entry[1] += t2 - t1;
            entry[2] += t2.elapsed();
        }
    }
    for (kind, [decode, encode, drop]) in costs {
        let (n, errors) = counts[&kind];
        let per = |d: Duration| d.as_secs_f64() * 1e6 / (n as f64 * f64::from(rounds));
        eprintln!(
            "type {kind}: {n} records, decode {:.2} µs, encode {:.2} µs, drop {:.2} µs, decode errors {errors}",
            per(decode),
            per(encode),
            per(drop)
        );
    }
    Ok(())
}
