//! Cluster mode with real binaries: several `atp-forwarder run` replicas share the streams of a
//! multi-tenant emulator through the PostgreSQL server at 127.0.0.1:5432 (database `test`, a throwaway
//! schema per test). Leases last 3 s, so the tests stay short.

#[path = "../support/postgres.rs"]
mod pg;

mod failover;
mod fencing;
mod harness;
mod once;
mod sharing;

use std::collections::BTreeSet;
use std::time::Duration;

const LEASE: Duration = Duration::from_secs(3);
const LEASE_TEXT: &str = "3s";
const THREE_TYPES: [&str; 3] = ["Audit.General", "Audit.Exchange", "Audit.SharePoint"];

pub(crate) fn live_arrivals(config: &mut atp_forwarder::emulator::EmulatorConfig) {
    config.live = Some(atp_forwarder::emulator::LiveArrivals {
        interval: Duration::from_millis(700),
        blobs_per_tick: 1,
    });
}

/// The streams a replica's log says it holds: acquired, and not released or lost since.
pub(crate) fn believed_streams(log: &str) -> BTreeSet<String> {
    let field = |line: &str, name: &str| {
        line.split(&format!(" {name}="))
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    };
    let mut held = BTreeSet::new();
    for line in log.lines() {
        let (Some(tenant), Some(content_type)) =
            (field(line, "tenant"), field(line, "content_type"))
        else {
            continue;
        };
        let stream = format!("{tenant}/{content_type}");
        if line.contains("lease acquired") {
            held.insert(stream);
        } else if line.contains("lease released") || line.contains("lease lost") {
            held.remove(&stream);
        }
    }
    held
}
