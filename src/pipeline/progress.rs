//! What a stream has in flight, and the checkpoint that follows from it.
//!
//! The checkpoint is the oldest `contentCreated` among blobs listed but not committed (in flight, or failed
//! and not yet listed again), or — when there is none — the end of the last listed window. It never passes
//! a blob that is not fully acknowledged.
//!
//! A blob that could not be read stays *failed* until a later poll cycle lists past its `contentCreated`:
//! listed again it is in flight again; not listed any more (expired), it is gone and no longer holds the
//! checkpoint. Forgetting failed blobs when a cycle *started* let the checkpoint pass them before they were
//! listed again: a blob older than `relist` was then never fetched again, and a cycle begun just before a
//! shutdown (and left at once) persisted a checkpoint past every blob the shutdown had interrupted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::held::HeldLease;
use crate::api::ContentBlob;
use crate::state::{RecordKey, StreamKey};

/// How long a stream goes on with its state store's memory of commits before a blob's first lookup reads
/// the store's new commits (other processes' included) again; see [`StreamProgress::exact_lookup_due`].
pub(crate) const EXACT_LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

/// A blob's place in the order of `contentCreated` (then content id).
type BlobKey = (DateTime<Utc>, String);

#[derive(Default)]
struct Inner {
    in_flight: BTreeSet<BlobKey>,
    /// Blobs that could not be read, with the cycle they failed in.
    failed: BTreeMap<BlobKey, u64>,
    /// The current poll cycle (counted from 0).
    cycle: u64,
    listed_until: Option<DateTime<Utc>>,
    /// When a blob's lookup last read the state store's new commits (see
    /// [`StreamProgress::exact_lookup_due`]).
    last_exact_lookup: Option<Instant>,
}

// === impl Inner ===

impl Inner {
    /// See [`StreamProgress::oldest_open`].
    fn oldest_open(&self) -> Option<DateTime<Utc>> {
        [
            self.in_flight.first(),
            self.failed.first_key_value().map(|(key, _)| key),
        ]
        .into_iter()
        .flatten()
        .map(|(created, _)| *created)
        .min()
    }
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

    /// Whether a blob's first lookup of delivered Ids should read the state store's new commits, other
    /// processes' included ([`crate::state::StateStore::seen_records`]), rather than ask the store's memory,
    /// which holds this process's own commits ([`crate::state::StateStore::seen_records_here`]): at the
    /// first blob of this progress (a run, or a lease in cluster mode), then once
    /// [`EXACT_LOOKUP_INTERVAL`] has passed since the last such read.
    ///
    /// Each read is a round trip to the store's connection (for SQLite, sqlx's worker thread and back),
    /// and a catch-up starts many blobs a second: reading at every blob was 4 % of the benchmark's
    /// file/json run (BENCHMARKS.md, step 54). Another process's commit therefore counts here after at most
    /// a second; a record it delivered meanwhile may be delivered again (at-least-once), never lost.
    pub(crate) fn exact_lookup_due(&self, now: Instant) -> bool {
        self.lock()
            .last_exact_lookup
            .is_none_or(|last| now.saturating_duration_since(last) >= EXACT_LOOKUP_INTERVAL)
    }

    /// Notes that a blob's lookup read the store's new commits (see
    /// [`exact_lookup_due`](Self::exact_lookup_due)).
    pub(crate) fn exact_lookup_done(&self, at: Instant) {
        self.lock().last_exact_lookup = Some(at);
    }

    /// Starts a poll cycle: blobs that failed in an earlier one are fetched again when listed again. They
    /// keep holding the checkpoint until then (see [`relisted`](Self::relisted)).
    pub(crate) fn start_cycle(&self) {
        self.lock().cycle += 1;
    }

    /// True when the blob is in flight or failed in this cycle (not to be fetched again now).
    pub(crate) fn is_known(&self, blob: &ContentBlob) -> bool {
        let key = (blob.content_created, blob.content_id.clone());
        let inner = self.lock();
        inner.in_flight.contains(&key) || inner.failed.get(&key) == Some(&inner.cycle)
    }

    /// Registers listed blobs before the listing end may move the checkpoint (a blob that failed in an
    /// earlier cycle is in flight again).
    pub(crate) fn register(&self, blobs: &[ContentBlob]) {
        let mut inner = self.lock();
        for blob in blobs {
            let key = (blob.content_created, blob.content_id.clone());
            inner.failed.remove(&key);
            inner.in_flight.insert(key);
        }
    }

    /// This cycle has listed (and registered) everything created before `until`: a blob that failed in an
    /// earlier cycle and is older was either listed again (and is in flight now) or is not listed any more
    /// (expired, or committed by another replica); it no longer holds the checkpoint.
    pub(crate) fn relisted(&self, until: DateTime<Utc>) {
        let mut inner = self.lock();
        let cycle = inner.cycle;
        inner
            .failed
            .retain(|(created, _), failed_in| *failed_in == cycle || *created >= until);
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
        let cycle = inner.cycle;
        inner.failed.insert(key, cycle);
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
        match (inner.oldest_open(), inner.listed_until) {
            (Some(open), Some(listed)) => Some(open.min(listed)),
            (open, listed) => open.or(listed),
        }
    }

    /// The oldest `contentCreated` of a blob listed and not committed (in flight, or failed and not listed
    /// again): the checkpoint's bound, and the lag metric's (a blob that keeps failing shows as growing
    /// lag).
    pub(crate) fn oldest_open(&self) -> Option<DateTime<Utc>> {
        self.lock().oldest_open()
    }

    /// Number of blobs that failed in this cycle.
    pub(crate) fn failed_count(&self) -> usize {
        let inner = self.lock();
        inner
            .failed
            .values()
            .filter(|failed_in| **failed_in == inner.cycle)
            .count()
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
    ids: Mutex<HashMap<RecordKey, Arc<str>, foldhash::fast::RandomState>>,
}

impl InFlightIds {
    /// Locks the map for a run of claims.
    pub(crate) fn lock(&self) -> InFlightClaims<'_> {
        InFlightClaims(
            self.ids
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Releases ids claimed for `content_id`.
    pub(crate) fn release(&self, content_id: &Arc<str>, ids: &[RecordKey]) {
        let mut map = self.lock().0;
        for id in ids {
            if map.get(id) == Some(content_id) {
                map.remove(id);
            }
        }
    }
}

/// The locked in-flight map of a tenant.
pub(crate) struct InFlightClaims<'a>(
    MutexGuard<'a, HashMap<RecordKey, Arc<str>, foldhash::fast::RandomState>>,
);

impl InFlightClaims<'_> {
    /// Whether blob `content_id` may deliver `id`: true when no other blob has it in flight. A new claim
    /// is added to `claimed` (for [`InFlightIds::release`]).
    pub(crate) fn claim(
        &mut self,
        content_id: &Arc<str>,
        id: &RecordKey,
        claimed: &mut Vec<RecordKey>,
    ) -> bool {
        match self.0.get(id) {
            Some(owner) => owner == content_id,
            None => {
                self.0.insert(id.clone(), content_id.clone());
                claimed.push(id.clone());
                true
            }
        }
    }
}

/// Ids already handed out by one blob (so a re-read of the same blob does not send them twice); foldhash,
/// as [`InFlightIds`].
pub(crate) type SentIds = HashSet<RecordKey, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_is_read_for_other_processes_commits_at_first_then_once_a_second() {
        let stream = StreamKey {
            tenant: "contoso".into(),
            content_type: "Audit.General".into(),
        };
        let progress = StreamProgress::new(stream.clone());
        let start = Instant::now();
        assert!(
            progress.exact_lookup_due(start),
            "the first blob reads the store"
        );
        progress.exact_lookup_done(start);
        assert!(!progress.exact_lookup_due(start));
        let almost = start + EXACT_LOOKUP_INTERVAL - Duration::from_millis(1);
        assert!(
            !progress.exact_lookup_due(almost),
            "within the interval: memory"
        );
        let later = start + EXACT_LOOKUP_INTERVAL;
        assert!(
            progress.exact_lookup_due(later),
            "a second later: the store again"
        );
        progress.exact_lookup_done(later);
        assert!(!progress.exact_lookup_due(later + Duration::from_millis(999)));
        // A new run or lease starts with a new progress, which reads the store at its first blob.
        let leased = StreamProgress::new(stream);
        assert!(leased.exact_lookup_due(later));
    }

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
        progress.register(std::slice::from_ref(&b));
        progress.fail(&a);
        assert_eq!(progress.checkpoint(), Some(a.content_created));
        assert_eq!(
            progress.oldest_open(),
            Some(a.content_created),
            "a failed blob counts for the lag even while a newer one is in flight"
        );
        progress.finish(&b);
        assert!(
            progress.is_known(&a),
            "not fetched again in the cycle it failed in"
        );
        assert_eq!(progress.failed_count(), 1);
        progress.relisted(blob("end", 50).content_created);
        assert_eq!(
            progress.checkpoint(),
            Some(a.content_created),
            "a blob failed in this cycle is not dropped by this cycle's listing"
        );

        // The next cycle: the failed blob still holds the checkpoint until the cycle lists past it.
        progress.start_cycle();
        assert_eq!(progress.failed_count(), 0);
        assert!(!progress.is_known(&a), "fetched again when listed again");
        assert_eq!(progress.checkpoint(), Some(a.content_created));
        progress.relisted(blob("before-a", 5).content_created);
        assert_eq!(progress.checkpoint(), Some(a.content_created));
        // Listed again: in flight again, until it is committed.
        progress.register(std::slice::from_ref(&a));
        progress.relisted(blob("end", 50).content_created);
        assert_eq!(progress.checkpoint(), Some(a.content_created));
        progress.finish(&a);
        assert_eq!(progress.checkpoint(), Some(blob("end", 50).content_created));
    }

    #[test]
    fn a_failed_blob_that_is_not_listed_again_stops_holding_the_checkpoint_once_listed_past() {
        let progress = StreamProgress::new(StreamKey {
            tenant: "t".into(),
            content_type: "c".into(),
        });
        let (gone, later) = (blob("gone", 10), blob("later", 30));
        progress.register(&[gone.clone(), later.clone()]);
        progress.fail(&gone);
        progress.finish(&later);
        progress.listed_until(blob("end", 50).content_created);
        progress.start_cycle();
        assert_eq!(progress.checkpoint(), Some(gone.content_created));
        progress.relisted(blob("mid", 20).content_created);
        assert_eq!(
            progress.checkpoint(),
            Some(blob("end", 50).content_created),
            "listed past and not there any more (expired): gone"
        );
    }

    #[test]
    fn a_record_in_flight_in_another_blob_is_skipped_but_not_in_its_own() {
        let ids = InFlightIds::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let key = |id: &str| RecordKey::new(id);
        let (x, y, z) = (
            key("0b6b0ae4-2b2b-4d63-a01a-08de2b3c1e44"),
            key("y"),
            key("z"),
        );
        let claim = |owner: &Arc<str>, wanted: &[&RecordKey], claimed: &mut Vec<RecordKey>| {
            let mut map = ids.lock();
            wanted
                .iter()
                .map(|id| map.claim(owner, id, claimed))
                .collect::<Vec<bool>>()
        };
        let mut claimed = Vec::new();
        assert_eq!(claim(&a, &[&x, &y], &mut claimed), vec![true, true]);
        assert_eq!(claimed, vec![x.clone(), y.clone()]);
        assert_eq!(claim(&b, &[&x, &z], &mut Vec::new()), vec![false, true]);
        assert_eq!(claim(&a, &[&x], &mut Vec::new()), vec![true]);
        ids.release(&a, &claimed);
        assert_eq!(claim(&b, &[&x], &mut Vec::new()), vec![true]);
    }
}
