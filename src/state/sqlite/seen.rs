//! Record Ids already delivered, in SQLite: one row per committed blob, held in memory for lookups.
//!
//! Keying a table by random record Ids (GUIDs) made every commit rewrite one B-tree page per record (an
//! 8 KB WAL frame for a 36-byte Id, then the checkpoint's copy): the benchmark's SQLite thread was 40 % of
//! the daemon's CPU. Instead a commit appends **one row per blob** (`seen_record_sets`: the blob's Ids joined
//! by `\n`, an `AUTOINCREMENT` key), and lookups go to an in-memory set per tenant.
//!
//! The memory set follows the table, never the other way round: an exact lookup (`seen_records`) first
//! reads the rows added since the last one it applied (`id > last`), whoever wrote them (this process's
//! committer, or another process sharing the file); a commit through this handle adds its Ids once it is
//! written; after a prune or reset the set is dropped and rebuilt from the table at the next lookup. It can
//! therefore only ever hold Ids that *were* committed: a stale entry makes a record look delivered only if
//! it once was, never hides an undelivered one.
//!
//! A memory lookup (`seen_records_here`, a blob's later chunks) skips the read: each read is a round trip
//! to sqlx's worker thread and back (two thread wake-ups, SQLite's file locks), one per 100-record chunk.
//! Another process's commits then count from the pipeline's next exact lookup on: a blob's first chunk, at
//! most once a second per stream (see `StreamProgress::exact_lookup_due`).
//!
//! Rows of the version-1 table `seen_records` (one row per Id, written by earlier versions) are read when
//! the set is built and pruned as before; nothing writes them any more.
//!
//! An Id that contains `\n` cannot be stored in a set row; such a record is not de-duplicated (it may be
//! delivered twice, never lost). Real Ids are GUIDs.

use std::collections::{HashMap, HashSet};

use sqlx::sqlite::SqliteConnection;
use sqlx::{Row, SqlitePool};

use crate::state::record_key::parse_guid;
use crate::state::{CommitBatch, RecordKey};

/// Schema version 3: record Ids as one row per committed blob.
pub(super) const MIGRATION_3: &str = r#"
CREATE TABLE seen_record_sets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    committed_at TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    record_ids TEXT NOT NULL
);
CREATE INDEX seen_record_sets_committed ON seen_record_sets (committed_at);
"#;

/// One tenant's committed Ids: canonical lowercase GUIDs (all real Ids) as their 16 bytes, anything else as
/// text. Two sets rather than one set of an enum: an enum entry would take 32 bytes, a GUID entry takes 16.
///
/// Hashed with foldhash (seeded per process) rather than SipHash, which was 3 % of the daemon's CPU; a
/// GUID's bits are already uniform.
#[derive(Debug, Default)]
struct TenantIds {
    guids: HashSet<u128, foldhash::fast::RandomState>,
    others: HashSet<Box<str>, foldhash::fast::RandomState>,
}

impl TenantIds {
    fn insert(&mut self, id: &str) {
        self.insert_key(RecordKey::new(id));
    }

    fn insert_key(&mut self, id: RecordKey) {
        match id {
            RecordKey::Guid(guid) => self.guids.insert(guid),
            RecordKey::Text(text) => self.others.insert(text),
        };
    }

    fn contains(&self, id: &str) -> bool {
        match parse_guid(id) {
            Some(guid) => self.guids.contains(&guid),
            None => self.others.contains(id),
        }
    }
}

/// The in-memory side: every committed Id per tenant, and the last set row applied.
#[derive(Debug, Default)]
pub(super) struct SeenIds {
    /// `None` until built from the table (and again after a prune or reset).
    tenants: Option<HashMap<String, TenantIds>>,
    last_row: i64,
}

// === impl SeenIds ===

impl SeenIds {
    /// Forgets everything; the next lookup rebuilds from the table.
    pub(super) fn invalidate(&mut self) {
        self.tenants = None;
        self.last_row = 0;
    }

    /// The key of the last set row applied.
    #[cfg(test)]
    pub(super) fn last_row(&self) -> i64 {
        self.last_row
    }

    /// Whether the set has been built from the table (and not invalidated since).
    pub(super) fn is_built(&self) -> bool {
        self.tenants.is_some()
    }

    /// Adds the Ids of a batch this process has just committed (those [`pack`] stores), so that lookups
    /// that do not read the table see them at once. Nothing when the set is not built: building reads them.
    ///
    /// `rows` are the keys of the set rows the commit wrote. When they follow the last row applied with no
    /// gap (no other handle wrote one in between; keys only grow), they count as applied, and the next
    /// sync does not read them back.
    pub(super) fn committed(&mut self, batch: &CommitBatch, rows: &[i64]) {
        let Some(tenants) = self.tenants.as_mut() else {
            return;
        };
        for blob in &batch.blobs {
            let set = tenants.entry(blob.stream.tenant.clone()).or_default();
            for id in storable(&blob.record_ids) {
                set.insert_key(id.clone());
            }
        }
        let consecutive = rows
            .iter()
            .zip(self.last_row + 1..)
            .all(|(row, expected)| *row == expected);
        if consecutive {
            self.last_row += rows.len() as i64;
        }
    }

    /// Which of `record_ids` are in the tenant's set (as owned strings).
    pub(super) fn seen(&self, tenant: &str, record_ids: &[&str]) -> HashSet<String> {
        let Some(set) = self
            .tenants
            .as_ref()
            .and_then(|tenants| tenants.get(tenant))
        else {
            return HashSet::new();
        };
        record_ids
            .iter()
            .filter(|id| set.contains(id))
            .map(|id| (*id).to_owned())
            .collect()
    }

    /// Brings the set up to date with the table: everything when not built yet, else rows after the last.
    pub(super) async fn sync(
        &mut self,
        connection: &mut SqliteConnection,
    ) -> Result<(), sqlx::Error> {
        if self.tenants.is_none() {
            let mut tenants: HashMap<String, TenantIds> = HashMap::new();
            let legacy = sqlx::query("SELECT tenant, record_id FROM seen_records")
                .fetch_all(&mut *connection)
                .await?;
            for row in legacy {
                let tenant: String = row.get(0);
                let id: String = row.get(1);
                tenants.entry(tenant).or_default().insert(&id);
            }
            self.tenants = Some(tenants);
            self.last_row = 0;
        }
        let rows = sqlx::query(
            "SELECT id, tenant, record_ids FROM seen_record_sets WHERE id > ? ORDER BY id",
        )
        .bind(self.last_row)
        .fetch_all(&mut *connection)
        .await?;
        let Some(tenants) = self.tenants.as_mut() else {
            return Ok(());
        };
        for row in rows {
            let id: i64 = row.get(0);
            let tenant: String = row.get(1);
            let packed: String = row.get(2);
            let set = tenants.entry(tenant).or_default();
            for record_id in unpack(&packed) {
                set.insert(record_id);
            }
            debug_assert!(id > self.last_row, "rows are read in key order");
            self.last_row = id;
        }
        Ok(())
    }
}

/// Appends one set row for a committed blob's Ids (none for a blob without records): tenant, committed at,
/// count and the Ids as [`pack`] joins them.
/// Returns the row's key, so that the set can skip reading its own rows back (see [`SeenIds::committed`]).
pub(super) const INSERT_SET: &str =
    "INSERT INTO seen_record_sets (tenant, committed_at, record_count, record_ids) VALUES (?, ?, ?, ?) \
     RETURNING id;\n";

/// Forgets the Ids committed before `oldest_kept`; returns how many.
pub(super) async fn prune(pool: &SqlitePool, oldest_kept: &str) -> Result<u64, sqlx::Error> {
    let legacy = sqlx::query("DELETE FROM seen_records WHERE committed_at < ?")
        .bind(oldest_kept)
        .execute(pool)
        .await?
        .rows_affected();
    let sets =
        sqlx::query("DELETE FROM seen_record_sets WHERE committed_at < ? RETURNING record_count")
            .bind(oldest_kept)
            .fetch_all(pool)
            .await?;
    let in_sets: i64 = sets.iter().map(|row| row.get::<i64, _>(0)).sum();
    Ok(legacy + in_sets.max(0) as u64)
}

/// The Ids joined by `\n` and how many, leaving out empty ones and ones that contain `\n` (see the module
/// docs).
pub(super) fn pack(record_ids: &[RecordKey]) -> (String, usize) {
    let mut packed = String::with_capacity(record_ids.len() * 37);
    let mut count = 0;
    for id in storable(record_ids) {
        if count > 0 {
            packed.push('\n');
        }
        id.write_to(&mut packed);
        count += 1;
    }
    (packed, count)
}

/// The Ids a set row can hold: not empty, no `\n`.
fn storable(record_ids: &[RecordKey]) -> impl Iterator<Item = &RecordKey> {
    record_ids.iter().filter(|id| id.is_storable())
}

/// The Ids of a set row (what [`pack`] wrote).
fn unpack(packed: &str) -> impl Iterator<Item = &str> {
    packed.split('\n').filter(|id| !id.is_empty())
}

/// Every Id in the set rows (and the version-1 rows) of the file, for tests and tools.
pub async fn all_record_ids(pool: &SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    let mut ids: Vec<String> = sqlx::query("SELECT record_id FROM seen_records")
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|row| row.get(0))
        .collect();
    for row in sqlx::query("SELECT record_ids FROM seen_record_sets ORDER BY id")
        .fetch_all(pool)
        .await?
    {
        let packed: String = row.get(0);
        ids.extend(unpack(&packed).map(str::to_owned));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_id_is_kept_apart_as_the_text_column_would() {
        // Which spellings parse as GUIDs: `state::record_key`'s tests.
        let guid = "0b6b0ae4-2b2b-4d63-a01a-08de2b3c1e44";
        let mut ids = TenantIds::default();
        ids.insert(guid);
        ids.insert("a-b");
        assert!(ids.contains(guid) && ids.contains("a-b"));
        assert!(!ids.contains(&guid.to_uppercase()));
        assert!(!ids.contains("a-B"));
        assert_eq!((ids.guids.len(), ids.others.len()), (1, 1));
        // A commit's keys land where a lookup by text finds them.
        let committed = "1b6b0ae4-2b2b-4d63-a01a-08de2b3c1e44";
        ids.insert_key(RecordKey::new(committed));
        ids.insert_key(RecordKey::new("c-D"));
        assert!(ids.contains(committed) && ids.contains("c-D"));
        assert_eq!((ids.guids.len(), ids.others.len()), (2, 2));
    }

    #[test]
    fn own_set_rows_count_as_applied_only_when_no_other_row_came_between() {
        let stream = crate::state::StreamKey {
            tenant: "contoso".into(),
            content_type: "Audit.General".into(),
        };
        let now = chrono::Utc::now();
        let batch = CommitBatch {
            blobs: vec![crate::state::BlobCommit {
                stream,
                content_id: "blob-1".into(),
                content_created: now,
                content_expiration: now,
                record_ids: vec![RecordKey::new("r1"), RecordKey::new("torn\nid")],
                checkpoint: None,
            }],
            checkpoints: Vec::new(),
        };
        let mut unbuilt = SeenIds::default();
        unbuilt.committed(&batch, &[1]);
        assert!(!unbuilt.is_built(), "building reads the table");
        assert_eq!(unbuilt.last_row, 0);

        let mut seen = SeenIds {
            tenants: Some(HashMap::new()),
            last_row: 4,
        };
        seen.committed(&batch, &[5, 6]);
        assert_eq!(
            seen.last_row, 6,
            "rows 5 and 6 are ours: nothing to read back"
        );
        assert_eq!(
            seen.seen("contoso", &["r1", "torn\nid", "r2"]),
            HashSet::from(["r1".to_owned()])
        );
        seen.committed(&batch, &[8]);
        assert_eq!(
            seen.last_row, 6,
            "row 7 is another handle's: the next sync reads from 7"
        );
        seen.committed(&batch, &[]);
        assert_eq!(seen.last_row, 6);
    }

    #[test]
    fn packing_leaves_out_ids_that_cannot_be_split_back() {
        let guid = "0b6b0ae4-2b2b-4d63-a01a-08de2b3c1e44";
        let ids: Vec<RecordKey> = ["a", "", "b\nc", guid, "d"]
            .into_iter()
            .map(RecordKey::new)
            .collect();
        assert!(matches!(ids[3], RecordKey::Guid(_)));
        assert_eq!(pack(&ids), (format!("a\n{guid}\nd"), 3));
        assert_eq!(unpack("a\nd").collect::<Vec<_>>(), ["a", "d"]);
        assert_eq!(pack(&[]), (String::new(), 0));
    }
}
