//! SQLite state store (the embedded default): one file, WAL mode, versioned schema migrations.
//!
//! It implements leases and fenced commits too (see [`lease`](self::lease)), with the same contract as the
//! PostgreSQL store, though one SQLite file serves one replica.

mod commit;
mod dedicated;
mod lease;
mod seen;

pub use seen::all_record_ids;

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};

use dedicated::Dedicated;

use super::{
    parse_time_text, time_text, Acquired, CommitBatch, DeadLetter, DeadLetterKind, Lease,
    LeaseInfo, StateError, StateStore, StreamKey, StreamSummary, RECORD_ID_RETENTION,
};

/// Rows per multi-row statement (well under SQLite's parameter limit).
const CHUNK: usize = 400;

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial schema",
        r#"
CREATE TABLE streams (
    stream TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    content_type TEXT NOT NULL,
    checkpoint TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE committed_blobs (
    stream TEXT NOT NULL,
    content_id TEXT NOT NULL,
    content_created TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    committed_at TEXT NOT NULL,
    records INTEGER NOT NULL,
    PRIMARY KEY (stream, content_id)
);
CREATE INDEX committed_blobs_expiry ON committed_blobs (expires_at);
CREATE TABLE seen_records (
    tenant TEXT NOT NULL,
    record_id TEXT NOT NULL,
    committed_at TEXT NOT NULL,
    PRIMARY KEY (tenant, record_id)
) WITHOUT ROWID;
CREATE INDEX seen_records_committed ON seen_records (committed_at);
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    stream TEXT NOT NULL,
    tenant TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content_id TEXT NOT NULL,
    content_uri TEXT NOT NULL,
    record_id TEXT,
    sink TEXT,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL
);
"#,
    ),
    (2, "leases and commit owners", lease::MIGRATION_2),
    (3, "record ids as one row per blob", seen::MIGRATION_3),
];

/// The SQLite implementation of [`StateStore`].
pub struct SqliteStore {
    /// For everything but the two hot paths below.
    pool: SqlitePool,
    location: String,
    /// Committed record Ids in memory, kept in step with the table (see [`seen`]), and the connection that
    /// reads the table for them (see [`dedicated`]).
    seen: tokio::sync::Mutex<(seen::SeenIds, Dedicated)>,
    /// The committer's connection (see [`dedicated`] and [`commit`]).
    writer: tokio::sync::Mutex<Dedicated>,
}

// === impl SqliteStore ===

impl SqliteStore {
    /// Opens (creating the file and its parent directories) and migrates the store at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StateError> {
        let location = path.display().to_string();
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| StateError::Create {
                location: location.clone(),
                path: parent.display().to_string(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(|source| StateError::Database {
                location: location.clone(),
                operation: "parse path",
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .map_err(|source| StateError::Database {
                location: location.clone(),
                operation: "open",
                source,
            })?;
        let store = SqliteStore {
            pool,
            location,
            seen: tokio::sync::Mutex::new((
                seen::SeenIds::default(),
                Dedicated::new(options.clone()),
            )),
            writer: tokio::sync::Mutex::new(Dedicated::new(options)),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StateError> {
        let migrations: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        let migrator = Migrator {
            migrations: Cow::Owned(migrations),
            ..Migrator::DEFAULT
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|error| StateError::Migrate {
                location: self.location.clone(),
                message: error.to_string(),
            })
    }

    /// Commits a batch in one transaction; with a lease, only while it is still held (see [`commit`]).
    async fn write(&self, batch: &CommitBatch, lease: Option<&Lease>) -> Result<(), StateError> {
        let mut writer = self.writer.lock().await;
        let connection = writer
            .get()
            .await
            .map_err(self.db("open the commit connection"))?;
        let now = Utc::now();
        let written = match lease {
            None => commit::unfenced(connection, batch, now).await.map(Ok),
            Some(lease) => commit::fenced(connection, batch, lease, now)
                .await
                .map(|rows| rows.ok_or_else(|| lease::fenced(lease))),
        };
        let set_rows = match written {
            Ok(Ok(set_rows)) => set_rows,
            Ok(Err(fenced)) => return Err(fenced),
            Err(error) => {
                writer.discard();
                return Err(self.db("commit")(error));
            }
        };
        // Before the pipeline releases these Ids from its in-flight set, so no later chunk misses them.
        self.seen.lock().await.0.committed(batch, &set_rows);
        Ok(())
    }

    /// Which of `record_ids` the tenant's set holds; with `sync` (or when the set is not built yet) after
    /// reading the rows other handles added since the last read.
    async fn lookup(
        &self,
        tenant: &str,
        record_ids: &[&str],
        sync: bool,
    ) -> Result<HashSet<String>, StateError> {
        let mut guard = self.seen.lock().await;
        let (seen, reader) = &mut *guard;
        if sync || !seen.is_built() {
            let synced = match reader.get().await {
                Ok(connection) => seen.sync(connection).await,
                Err(error) => Err(error),
            };
            if let Err(error) = synced {
                reader.discard();
                return Err(self.db("read seen records")(error));
            }
        }
        Ok(seen.seen(tenant, record_ids))
    }

    fn db(&self, operation: &'static str) -> impl FnOnce(sqlx::Error) -> StateError + '_ {
        move |source| StateError::Database {
            location: self.location.clone(),
            operation,
            source,
        }
    }
}

#[async_trait::async_trait]
impl StateStore for SqliteStore {
    async fn checkpoint(&self, stream: &StreamKey) -> Result<Option<DateTime<Utc>>, StateError> {
        let row = sqlx::query("SELECT checkpoint FROM streams WHERE stream = ?")
            .bind(stream.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.db("read checkpoint"))?;
        Ok(row
            .and_then(|row| row.get::<Option<String>, _>(0))
            .and_then(|text| parse_time_text(&text)))
    }

    async fn committed_blobs(
        &self,
        stream: &StreamKey,
        content_ids: &[String],
    ) -> Result<HashSet<String>, StateError> {
        let mut found = HashSet::new();
        let stream = stream.to_string();
        for chunk in content_ids.chunks(CHUNK) {
            let mut query = keyed_in_query(
                "SELECT content_id FROM committed_blobs WHERE stream = ",
                &stream,
                "content_id",
                chunk.iter().map(String::as_str),
            );
            let rows = query
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(self.db("read committed blobs"))?;
            found.extend(rows.into_iter().map(|row| row.get::<String, _>(0)));
        }
        Ok(found)
    }

    async fn seen_records(
        &self,
        tenant: &str,
        record_ids: &[&str],
    ) -> Result<HashSet<String>, StateError> {
        self.lookup(tenant, record_ids, true).await
    }

    async fn seen_records_here(
        &self,
        tenant: &str,
        record_ids: &[&str],
    ) -> Result<HashSet<String>, StateError> {
        self.lookup(tenant, record_ids, false).await
    }

    async fn commit(&self, batch: &CommitBatch) -> Result<(), StateError> {
        self.write(batch, None).await
    }

    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO dead_letters (at, kind, stream, tenant, content_type, content_id, content_uri, \
             record_id, sink, reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(time_text(letter.at))
        .bind(letter.kind.as_str())
        .bind(letter.stream.to_string())
        .bind(&letter.stream.tenant)
        .bind(&letter.stream.content_type)
        .bind(&letter.content_id)
        .bind(&letter.content_uri)
        .bind(&letter.record_id)
        .bind(&letter.sink)
        .bind(&letter.reason)
        .bind(&letter.payload)
        .execute(&self.pool)
        .await
        .map_err(self.db("add dead letter"))?;
        Ok(())
    }

    async fn dead_letters(&self, limit: u32) -> Result<Vec<DeadLetter>, StateError> {
        let rows = sqlx::query(
            "SELECT at, kind, tenant, content_type, content_id, content_uri, record_id, sink, reason, payload \
             FROM dead_letters ORDER BY id DESC LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(self.db("read dead letters"))?;
        Ok(rows.into_iter().map(dead_letter_from_row).collect())
    }

    async fn blob_dead_letters(&self, tenant: Option<&str>) -> Result<Vec<DeadLetter>, StateError> {
        let rows = sqlx::query(
            "SELECT at, kind, tenant, content_type, content_id, content_uri, record_id, sink, reason, payload \
             FROM dead_letters WHERE kind = 'blob' AND (? IS NULL OR tenant = ?) ORDER BY id",
        )
        .bind(tenant)
        .bind(tenant)
        .fetch_all(&self.pool)
        .await
        .map_err(self.db("read blob dead letters"))?;
        Ok(rows.into_iter().map(dead_letter_from_row).collect())
    }

    async fn remove_blob_dead_letters(
        &self,
        stream: &StreamKey,
        content_ids: &[String],
    ) -> Result<u64, StateError> {
        let mut removed = 0;
        let stream = stream.to_string();
        for chunk in content_ids.chunks(CHUNK) {
            let mut query = keyed_in_query(
                "DELETE FROM dead_letters WHERE kind = 'blob' AND stream = ",
                &stream,
                "content_id",
                chunk.iter().map(String::as_str),
            );
            let done = query
                .build()
                .execute(&self.pool)
                .await
                .map_err(self.db("remove dead letters"))?;
            removed += done.rows_affected();
        }
        Ok(removed)
    }

    async fn streams(&self) -> Result<Vec<StreamSummary>, StateError> {
        let rows = sqlx::query(
            "SELECT s.tenant, s.content_type, s.checkpoint, \
             (SELECT COUNT(*) FROM committed_blobs b WHERE b.stream = s.stream), \
             (SELECT COUNT(*) FROM dead_letters d WHERE d.stream = s.stream) \
             FROM streams s ORDER BY s.stream",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.db("read streams"))?;
        Ok(rows
            .into_iter()
            .map(|row| StreamSummary {
                stream: StreamKey {
                    tenant: row.get(0),
                    content_type: row.get(1),
                },
                checkpoint: row
                    .get::<Option<String>, _>(2)
                    .and_then(|text| parse_time_text(&text)),
                committed_blobs: row.get::<i64, _>(3) as u64,
                dead_letters: row.get::<i64, _>(4) as u64,
            })
            .collect())
    }

    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, StateError> {
        let blobs = sqlx::query("DELETE FROM committed_blobs WHERE expires_at < ?")
            .bind(time_text(now))
            .execute(&self.pool)
            .await
            .map_err(self.db("prune blobs"))?;
        let records = seen::prune(&self.pool, &time_text(now - RECORD_ID_RETENTION))
            .await
            .map_err(self.db("prune record ids"))?;
        if records > 0 {
            self.seen.lock().await.0.invalidate();
        }
        Ok(blobs.rows_affected() + records)
    }

    async fn reset(&self, stream: Option<&StreamKey>) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await.map_err(self.db("begin reset"))?;
        match stream {
            Some(stream) => {
                for table in ["streams", "committed_blobs"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE stream = ?"))
                        .bind(stream.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(self.db("reset stream"))?;
                }
            }
            None => {
                for table in [
                    "streams",
                    "committed_blobs",
                    "seen_records",
                    "seen_record_sets",
                ] {
                    sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut *tx)
                        .await
                        .map_err(self.db("reset"))?;
                }
            }
        }
        tx.commit().await.map_err(self.db("commit reset"))?;
        if stream.is_none() {
            self.seen.lock().await.0.invalidate();
        }
        Ok(())
    }

    async fn heartbeat(&self, replica: &str, ttl: Duration) -> Result<usize, StateError> {
        lease::heartbeat(&self.pool, replica, ttl)
            .await
            .map_err(self.db("heartbeat"))
    }

    async fn leave(&self, replica: &str) -> Result<(), StateError> {
        lease::leave(&self.pool, replica)
            .await
            .map_err(self.db("leave"))
    }

    async fn acquire_lease(
        &self,
        stream: &StreamKey,
        replica: &str,
        ttl: Duration,
    ) -> Result<Option<Acquired>, StateError> {
        lease::acquire(&self.pool, stream, replica, ttl)
            .await
            .map_err(self.db("acquire lease"))
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<bool, StateError> {
        lease::renew(&self.pool, lease, ttl)
            .await
            .map_err(self.db("renew lease"))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StateError> {
        lease::release(&self.pool, lease)
            .await
            .map_err(self.db("release lease"))
    }

    async fn leases(&self) -> Result<Vec<LeaseInfo>, StateError> {
        lease::all(&self.pool).await.map_err(self.db("read leases"))
    }

    async fn commit_fenced(&self, batch: &CommitBatch, lease: &Lease) -> Result<(), StateError> {
        self.write(batch, Some(lease)).await
    }
}

/// `{head}<key> AND {column} IN (<values>)` with the key and every value bound (callers pass at most
/// [`CHUNK`] values, below SQLite's bound-parameter limit).
fn keyed_in_query<'a>(
    head: &'static str,
    key: &'a str,
    column: &'static str,
    values: impl ExactSizeIterator<Item = &'a str>,
) -> QueryBuilder<'a, sqlx::Sqlite> {
    debug_assert!(values.len() <= CHUNK);
    let mut query = QueryBuilder::new(head);
    query
        .push_bind(key)
        .push(" AND ")
        .push(column)
        .push(" IN (");
    let mut list = query.separated(", ");
    for value in values {
        list.push_bind(value);
    }
    query.push(")");
    query
}

fn dead_letter_from_row(row: sqlx::sqlite::SqliteRow) -> DeadLetter {
    DeadLetter {
        at: parse_time_text(&row.get::<String, _>(0)).unwrap_or_default(),
        kind: DeadLetterKind::parse(&row.get::<String, _>(1)),
        stream: StreamKey {
            tenant: row.get(2),
            content_type: row.get(3),
        },
        content_id: row.get(4),
        content_uri: row.get(5),
        record_id: row.get(6),
        sink: row.get(7),
        reason: row.get(8),
        payload: row.get(9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{BlobCommit, StreamKey};

    /// The commit returns its set rows' keys, so the in-memory set does not read its own rows back.
    #[tokio::test]
    async fn a_commit_through_this_handle_is_not_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&dir.path().join("state.db"))
            .await
            .expect("open");
        assert!(store
            .seen_records("contoso", &["r1"])
            .await
            .expect("build the set")
            .is_empty());
        let now = Utc::now();
        let blob = |id: &str, records: &[&str]| BlobCommit {
            stream: StreamKey {
                tenant: "contoso".into(),
                content_type: "Audit.General".into(),
            },
            content_id: id.into(),
            content_created: now,
            content_expiration: now + chrono::Duration::days(7),
            record_ids: records
                .iter()
                .map(|r| crate::state::RecordKey::new(r))
                .collect(),
            checkpoint: Some(now),
        };
        let batch = CommitBatch {
            blobs: vec![blob("b1", &["r1"]), blob("b2", &[]), blob("b3", &["r3"])],
            checkpoints: Vec::new(),
        };
        store.commit(&batch).await.expect("commit");
        assert_eq!(store.seen.lock().await.0.last_row(), 2, "two set rows");
        assert_eq!(
            store
                .seen_records_here("contoso", &["r1", "r3"])
                .await
                .expect("seen")
                .len(),
            2
        );
    }
}
