//! HEC indexer acknowledgement: polling `/services/collector/ack`, and remembering acks given up on so that a
//! late `true` still counts.
//!
//! A request's events are acknowledged only when the ack poll answers `true` for its `ackId`. Splunk reports
//! a `true` once and then forgets the id, so every `true` is recorded at once. When the wait exceeds
//! `ack_timeout`, the events are handed back for a resend and their `ackId` is kept for [`RETENTION`]: if it
//! turns `true` before the resend goes out, the resend is skipped and the events count as delivered.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

/// How long an ack given up on (and a late `true` for it) is remembered.
pub(crate) const RETENTION: Duration = Duration::from_secs(15 * 60);

/// Most record Ids remembered for late acks; the oldest are forgotten first (they are then simply resent).
const MAX_REMEMBERED_IDS: usize = 200_000;

/// The HEC channel header.
pub(crate) const CHANNEL_HEADER: &str = "X-Splunk-Request-Channel";

/// An ack poll answer: `{"acks":{"3":true,"4":false}}`.
#[derive(Debug, Deserialize)]
struct AckAnswer {
    acks: HashMap<String, bool>,
}

/// An ack given up on: its id, the record Ids of its events, and when.
#[derive(Debug)]
struct Abandoned {
    ack_id: u64,
    record_ids: Vec<String>,
    since: Instant,
}

/// Acks given up on, and record Ids whose ack turned `true` late.
#[derive(Debug, Default)]
pub(crate) struct AckLedger {
    abandoned: Vec<Abandoned>,
    late: HashMap<String, Instant>,
}

// === impl AckLedger ===

impl AckLedger {
    /// Remembers an ack that did not arrive in time.
    pub(crate) fn abandon(&mut self, ack_id: u64, record_ids: Vec<String>) {
        self.abandoned.push(Abandoned {
            ack_id,
            record_ids,
            since: Instant::now(),
        });
        let remembered: usize = self.abandoned.iter().map(|a| a.record_ids.len()).sum();
        if remembered > MAX_REMEMBERED_IDS {
            self.abandoned.remove(0);
        }
    }

    /// Ack ids given up on that are still worth asking about.
    pub(crate) fn abandoned_ids(&self) -> Vec<u64> {
        self.abandoned.iter().map(|a| a.ack_id).collect()
    }

    /// Records the acks that turned `true`: their events count as delivered when they come back.
    pub(crate) fn confirm(&mut self, acked: &HashSet<u64>) {
        let now = Instant::now();
        let (done, open): (Vec<Abandoned>, Vec<Abandoned>) = std::mem::take(&mut self.abandoned)
            .into_iter()
            .partition(|a| acked.contains(&a.ack_id));
        self.abandoned = open;
        for abandoned in done {
            tracing::info!(
                ack_id = abandoned.ack_id,
                events = abandoned.record_ids.len(),
                "late indexer ack: the events will not be sent again"
            );
            for id in abandoned.record_ids {
                self.late.insert(id, now);
            }
        }
    }

    /// True (once) when the event with `record_id` was acknowledged late and need not be resent.
    pub(crate) fn take_late(&mut self, record_id: &str) -> bool {
        !record_id.is_empty() && self.late.remove(record_id).is_some()
    }

    /// Forgets what is older than [`RETENTION`].
    pub(crate) fn prune(&mut self) {
        let now = Instant::now();
        self.abandoned
            .retain(|a| now.duration_since(a.since) < RETENTION);
        self.late
            .retain(|_, since| now.duration_since(*since) < RETENTION);
    }
}

/// Asks which of `ids` are acknowledged; returns those answered `true`.
pub(crate) async fn query(
    request: reqwest::RequestBuilder,
    ids: &[u64],
) -> Result<HashSet<u64>, String> {
    let body = serde_json::json!({ "acks": ids }).to_string();
    let response = request
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|error| super::super::retry::error_chain(&error))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|error| super::super::retry::error_chain(&error))?;
    if !status.is_success() {
        return Err(format!(
            "ack poll answered HTTP {}: {}",
            status.as_u16(),
            super::super::retry::excerpt(&body)
        ));
    }
    let answer: AckAnswer = serde_json::from_slice(&body)
        .map_err(|error| format!("unreadable ack poll answer: {error}"))?;
    Ok(answer
        .acks
        .into_iter()
        .filter(|(_, acked)| *acked)
        .filter_map(|(id, _)| id.parse().ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_ack_spares_its_events_once() {
        let mut ledger = AckLedger::default();
        ledger.abandon(7, vec!["a".into(), "b".into()]);
        ledger.abandon(8, vec!["c".into()]);
        assert_eq!(ledger.abandoned_ids(), [7, 8]);
        ledger.confirm(&HashSet::from([7]));
        assert_eq!(ledger.abandoned_ids(), [8]);
        assert!(ledger.take_late("a"));
        assert!(!ledger.take_late("a"));
        assert!(!ledger.take_late("c"));
        ledger.prune();
        assert!(ledger.take_late("b"));
    }
}
