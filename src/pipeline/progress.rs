//! What a stream has in flight, and the checkpoint that follows from it.
//!
//! The checkpoint is the oldest `contentCreated` among blobs listed but not committed (in flight or failed
//! this cycle), or — when there is none — the end of the last listed window. It never passes a blob that is
//! not fully acknowledged.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::held::HeldLease;
use crate::api::ContentBlob;
use crate::state::StreamKey;

#[derive(Default)]
struct Inner {
    in_flight: BTreeSet<(DateTime<Utc>, String)>,
    failed: BTreeSet<(DateTime<Utc>, String)>,
    listed_until: Option<DateTime<Utc>>,
}

/// The in-memory progress of one stream.
pub(crate) struct StreamProgress {
    /// The stream.
    pub stream: StreamKey,
    /// Cluster mode: the lease the stream runs under; its commits are fenced with it.
    pub lease: Option<Arc<HeldLease>>,
    inner: Mutex<Inner>,
    changed: Notify,
}

// === impl StreamProgress ===

impl StreamProgress {
    pub(crate) fn new(stream: StreamKey) -> Arc<StreamProgress> {
        Arc::new(StreamProgress {
            stream,
            lease: None,
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
        })
    }

    /// The progress of a stream run under a lease (cluster mode).
    pub(crate) fn leased(stream: StreamKey, lease: Arc<HeldLease>) -> Arc<StreamProgress> {
        Arc::new(StreamProgress {
            stream,
            lease: Some(lease),
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a poll cycle: blobs that failed in the last one will be listed and tried again.
    pub(crate) fn start_cycle(&self) {
        self.lock().failed.clear();
    }

    /// True when the blob is in flight or failed in this cycle (not to be fetched again now).
    pub(crate) fn is_known(&self, blob: &ContentBlob) -> bool {
        let key = (blob.content_created, blob.content_id.clone());
        let inner = self.lock();
        inner.in_flight.contains(&key) || inner.failed.contains(&key)
    }

    /// Registers listed blobs before the listing end may move the checkpoint.
    pub(crate) fn register(&self, blobs: &[ContentBlob]) {
        let mut inner = self.lock();
        for blob in blobs {
            inner
                .in_flight
                .insert((blob.content_created, blob.content_id.clone()));
        }
    }

    /// The blob is being committed: it no longer holds the checkpoint back.
    pub(crate) fn finish(&self, blob: &ContentBlob) {
        self.lock()
            .in_flight
            .remove(&(blob.content_created, blob.content_id.clone()));
        self.changed.notify_waiters();
    }

    /// The blob could not be read this cycle: it holds the checkpoint back until it is listed again.
    pub(crate) fn fail(&self, blob: &ContentBlob) {
        let key = (blob.content_created, blob.content_id.clone());
        let mut inner = self.lock();
        inner.in_flight.remove(&key);
        inner.failed.insert(key);
        drop(inner);
        self.changed.notify_waiters();
    }

    /// Everything before `until` has been listed (and what was found is registered).
    pub(crate) fn listed_until(&self, until: DateTime<Utc>) {
        self.lock().listed_until = Some(until);
    }

    /// The checkpoint this progress allows.
    pub(crate) fn checkpoint(&self) -> Option<DateTime<Utc>> {
        let inner = self.lock();
        let oldest_open = [inner.in_flight.first(), inner.failed.first()]
            .into_iter()
            .flatten()
            .map(|(created, _)| *created)
            .min();
        match (oldest_open, inner.listed_until) {
            (Some(open), Some(listed)) => Some(open.min(listed)),
            (open, listed) => open.or(listed),
        }
    }

    /// The oldest uncommitted blob's `contentCreated`, for the lag metric.
    pub(crate) fn oldest_open(&self) -> Option<DateTime<Utc>> {
        let inner = self.lock();
        inner.in_flight.first().map(|(created, _)| *created)
    }

    /// Number of blobs that failed in this cycle.
    pub(crate) fn failed_count(&self) -> usize {
        self.lock().failed.len()
    }

    /// Waits until no blob is in flight.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.changed.notified();
            if self.lock().in_flight.is_empty() {
                return;
            }
            notified.await;
        }
    }
}

/// Record Ids being delivered right now, per tenant, with the blob that carries them.
///
/// A record that another blob is already delivering is skipped (that blob will commit it, or stay
/// uncommitted and be fetched again). The same blob read again delivers its records again.
#[derive(Default)]
pub(crate) struct InFlightIds {
    /// Hashed with foldhash (seeded per process) rather than SipHash: one lookup per record.
    ids: Mutex<HashMap<String, Arc<str>, foldhash::fast::RandomState>>,
}

impl InFlightIds {
    /// Claims the ids for `content_id`; returns, per id, whether it should be delivered.
    pub(crate) fn claim(
        &self,
        content_id: &Arc<str>,
        ids: &[&str],
        claimed: &mut Vec<String>,
    ) -> Vec<bool> {
        let mut map = self
            .ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ids.iter()
            .map(|id| match map.get(*id) {
                Some(owner) => owner == content_id,
                None => {
                    map.insert((*id).to_string(), content_id.clone());
                    claimed.push((*id).to_string());
                    true
                }
            })
            .collect()
    }

    /// Releases ids claimed for `content_id`.
    pub(crate) fn release(&self, content_id: &Arc<str>, ids: &[String]) {
        let mut map = self
            .ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for id in ids {
            if map.get(id.as_str()) == Some(content_id) {
                map.remove(id.as_str());
            }
        }
    }
}

/// Ids already handed out by one blob (so a re-read of the same blob does not send them twice); foldhash,
/// as [`InFlightIds`].
pub(crate) type SentIds = HashSet<String, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(id: &str, minute: u32) -> ContentBlob {
        let created = DateTime::parse_from_rfc3339(&format!("2025-11-24T10:{minute:02}:00Z"))
            .unwrap()
            .with_timezone(&Utc);
        ContentBlob {
            content_type: "Audit.General".into(),
            content_id: id.into(),
            content_uri: format!("https://x/{id}"),
            content_created: created,
            content_expiration: created + chrono::Duration::days(7),
        }
    }

    #[test]
    fn the_checkpoint_never_passes_an_open_blob() {
        let progress = StreamProgress::new(StreamKey {
            tenant: "t".into(),
            content_type: "c".into(),
        });
        let (a, b) = (blob("a", 10), blob("b", 20));
        progress.register(&[a.clone(), b.clone()]);
        progress.listed_until(blob("end", 50).content_created);
        assert_eq!(progress.checkpoint(), Some(a.content_created));
        progress.finish(&b);
        assert_eq!(progress.checkpoint(), Some(a.content_created));
        progress.fail(&a);
        assert_eq!(progress.checkpoint(), Some(a.content_created));
        progress.start_cycle();
        assert_eq!(progress.checkpoint(), Some(blob("end", 50).content_created));
    }

    #[test]
    fn a_record_in_flight_in_another_blob_is_skipped_but_not_in_its_own() {
        let ids = InFlightIds::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let mut claimed = Vec::new();
        assert_eq!(ids.claim(&a, &["x", "y"], &mut claimed), vec![true, true]);
        assert_eq!(
            ids.claim(&b, &["x", "z"], &mut Vec::new()),
            vec![false, true]
        );
        assert_eq!(ids.claim(&a, &["x"], &mut Vec::new()), vec![true]);
        ids.release(&a, &claimed);
        assert_eq!(ids.claim(&b, &["x"], &mut Vec::new()), vec![true]);
    }
}
