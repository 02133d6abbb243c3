//! PostgreSQL state store: the shared store of cluster mode (several replicas, one database).
//!
//! Same contract as the SQLite store; the schema is created and migrated on start ([`schema`]). Leases are
//! timed on the database clock ([`lease`]), so replicas need not agree on time. Connections set
//! `lock_timeout` (a sixth of a lease) so that a takeover never waits long on a row a paused replica
//! locked, and `idle_in_transaction_session_timeout` (one lease) so that the server ends the transaction
//! of a replica paused in the middle of a commit — its commit then fails, and is fenced when retried.

mod lease;
mod schema;

use std::borrow::Cow;
use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::{
    Acquired, CommitBatch, DeadLetter, DeadLetterKind, Lease, LeaseInfo, RecordKey, StateError,
    StateStore, StreamKey, StreamSummary, RECORD_ID_RETENTION,
};
use crate::config::Secret;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://user@host:port/database[?options=-csearch_path%3Dschema]`, without a password.
    pub url: String,
    /// The password (from `password_file` or `password_env`); `PGPASSWORD` and `~/.pgpass` also work.
    pub password: Option<Secret>,
    /// The lease duration; sets the lock and idle-transaction timeouts of each connection.
    pub lease: Duration,
    /// Connections in the pool.
    pub max_connections: u32,
}

/// The PostgreSQL implementation of [`StateStore`].
pub struct PostgresStore {
    pool: PgPool,
    location: String,
}

// === impl PostgresStore ===

impl PostgresStore {
    /// Connects and applies the schema migrations.
    pub async fn open(options: &PostgresOptions) -> Result<PostgresStore, StateError> {
        let location = redact(&options.url);
        let db = |operation: &'static str| {
            let location = location.clone();
            move |source| StateError::Database {
                location,
                operation,
                source,
            }
        };
        let lease_ms = super::lease::millis(options.lease);
        let mut connect = PgConnectOptions::from_str(&options.url)
            .map_err(db("parse the url"))?
            .application_name("atp-forwarder")
            .options([
                ("lock_timeout", format!("{}ms", (lease_ms / 6).max(100))),
                (
                    "idle_in_transaction_session_timeout",
                    format!("{}ms", lease_ms.max(1000)),
                ),
            ]);
        if let Some(password) = &options.password {
            connect = connect.password(password.expose());
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect)
            .await
            .map_err(db("connect"))?;
        let store = PostgresStore { pool, location };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StateError> {
        let migrations: Vec<Migration> = schema::MIGRATIONS
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

    fn db(&self, operation: &'static str) -> impl FnOnce(sqlx::Error) -> StateError + '_ {
        move |source| StateError::Database {
            location: self.location.clone(),
            operation,
            source,
        }
    }

    /// Commits a batch in one transaction; with a lease, only while it is still held (its row is locked
    /// first, inside the transaction, so a takeover waits for this commit or this commit sees the takeover).
    async fn write(&self, batch: &CommitBatch, lease: Option<&Lease>) -> Result<(), StateError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await.map_err(self.db("begin commit"))?;
        if let Some(lease) = lease {
            debug_assert!(
                batch.holds_only(&lease.stream),
                "a fenced batch holds only its lease's stream"
            );
            if !lease::check_fence(&mut tx, lease)
                .await
                .map_err(self.db("check the lease"))?
            {
                return Err(lease::fenced(lease));
            }
        }
        for commit in &batch.blobs {
            sqlx::query(
                "INSERT INTO committed_blobs \
                 (stream, content_id, content_created, expires_at, committed_at, records, owner, epoch) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (stream, content_id) DO UPDATE SET content_created = EXCLUDED.content_created, \
                 expires_at = EXCLUDED.expires_at, committed_at = EXCLUDED.committed_at, \
                 records = EXCLUDED.records, commits = committed_blobs.commits + 1, \
                 other_owner_commits = committed_blobs.other_owner_commits \
                   + (committed_blobs.owner IS DISTINCT FROM EXCLUDED.owner)::int",
            )
            .bind(commit.stream.to_string())
            .bind(&commit.content_id)
            .bind(commit.content_created)
            .bind(commit.content_expiration)
            .bind(now)
            .bind(i32::try_from(commit.record_ids.len()).unwrap_or(i32::MAX))
            .bind(lease.map(|lease| lease.owner.as_str()))
            .bind(lease.map(|lease| lease.epoch))
            .execute(&mut *tx)
            .await
            .map_err(self.db("commit blob"))?;
            if !commit.record_ids.is_empty() {
                sqlx::query(
                    "INSERT INTO seen_records (tenant, record_id, committed_at) \
                     SELECT DISTINCT $1, id, $3::timestamptz FROM unnest($2::text[]) AS id \
                     ON CONFLICT (tenant, record_id) DO UPDATE SET committed_at = EXCLUDED.committed_at",
                )
                .bind(&commit.stream.tenant)
                .bind(
                    commit
                        .record_ids
                        .iter()
                        .map(RecordKey::to_string)
                        .collect::<Vec<String>>(),
                )
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(self.db("commit record ids"))?;
            }
        }
        for (stream, checkpoint) in &batch.checkpoints {
            upsert_checkpoint(&mut tx, stream, *checkpoint, now)
                .await
                .map_err(self.db("move checkpoint"))?;
        }
        tx.commit().await.map_err(self.db("commit transaction"))
    }
}

/// The URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "the configured PostgreSQL url".to_string(),
    }
}

#[async_trait::async_trait]
impl StateStore for PostgresStore {
    async fn checkpoint(&self, stream: &StreamKey) -> Result<Option<DateTime<Utc>>, StateError> {
        let row = sqlx::query("SELECT checkpoint FROM streams WHERE stream = $1")
            .bind(stream.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.db("read checkpoint"))?;
        Ok(row.and_then(|row| row.get::<Option<DateTime<Utc>>, _>(0)))
    }

    async fn committed_blobs(
        &self,
        stream: &StreamKey,
        content_ids: &[String],
    ) -> Result<HashSet<String>, StateError> {
        let rows = sqlx::query(
            "SELECT content_id FROM committed_blobs WHERE stream = $1 AND content_id = ANY($2)",
        )
        .bind(stream.to_string())
        .bind(content_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(self.db("read committed blobs"))?;
        Ok(rows
            .into_iter()
            .map(|row| row.get::<String, _>(0))
            .collect())
    }

    async fn seen_records(
        &self,
        tenant: &str,
        record_ids: &[&str],
    ) -> Result<HashSet<String>, StateError> {
        let rows = sqlx::query(
            "SELECT record_id FROM seen_records WHERE tenant = $1 AND record_id = ANY($2)",
        )
        .bind(tenant)
        .bind(record_ids)
        .fetch_all(&self.pool)
        .await
        .map_err(self.db("read seen records"))?;
        Ok(rows
            .into_iter()
            .map(|row| row.get::<String, _>(0))
            .collect())
    }

    async fn commit(&self, batch: &CommitBatch) -> Result<(), StateError> {
        self.write(batch, None).await
    }

    async fn add_dead_letter(&self, letter: &DeadLetter) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO dead_letters (at, kind, stream, tenant, content_type, content_id, content_uri, \
             record_id, sink, reason, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(letter.at)
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
             FROM dead_letters ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(self.db("read dead letters"))?;
        Ok(rows.into_iter().map(dead_letter_from_row).collect())
    }

    async fn blob_dead_letters(&self, tenant: Option<&str>) -> Result<Vec<DeadLetter>, StateError> {
        let rows = sqlx::query(
            "SELECT at, kind, tenant, content_type, content_id, content_uri, record_id, sink, reason, payload \
             FROM dead_letters WHERE kind = 'blob' AND ($1::text IS NULL OR tenant = $1) ORDER BY id",
        )
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
        let removed = sqlx::query(
            "DELETE FROM dead_letters WHERE kind = 'blob' AND stream = $1 AND content_id = ANY($2)",
        )
        .bind(stream.to_string())
        .bind(content_ids)
        .execute(&self.pool)
        .await
        .map_err(self.db("remove blob dead letters"))?;
        Ok(removed.rows_affected())
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
                checkpoint: row.get(2),
                committed_blobs: row.get::<i64, _>(3).max(0) as u64,
                dead_letters: row.get::<i64, _>(4).max(0) as u64,
            })
            .collect())
    }

    async fn prune(&self, now: DateTime<Utc>) -> Result<u64, StateError> {
        let blobs = sqlx::query("DELETE FROM committed_blobs WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(self.db("prune blobs"))?;
        let records = sqlx::query("DELETE FROM seen_records WHERE committed_at < $1")
            .bind(now - RECORD_ID_RETENTION)
            .execute(&self.pool)
            .await
            .map_err(self.db("prune record ids"))?;
        Ok(blobs.rows_affected() + records.rows_affected())
    }

    async fn reset(&self, stream: Option<&StreamKey>) -> Result<(), StateError> {
        let mut tx = self.pool.begin().await.map_err(self.db("begin reset"))?;
        match stream {
            Some(stream) => {
                for table in ["streams", "committed_blobs"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE stream = $1"))
                        .bind(stream.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(self.db("reset stream"))?;
                }
            }
            None => {
                for table in ["streams", "committed_blobs", "seen_records"] {
                    sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut *tx)
                        .await
                        .map_err(self.db("reset"))?;
                }
            }
        }
        tx.commit().await.map_err(self.db("commit reset"))
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

fn dead_letter_from_row(row: sqlx::postgres::PgRow) -> DeadLetter {
    DeadLetter {
        at: row.get(0),
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

async fn upsert_checkpoint(
    tx: &mut Transaction<'_, Postgres>,
    stream: &StreamKey,
    checkpoint: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO streams (stream, tenant, content_type, checkpoint, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (stream) DO UPDATE SET checkpoint = EXCLUDED.checkpoint, updated_at = EXCLUDED.updated_at",
    )
    .bind(stream.to_string())
    .bind(&stream.tenant)
    .bind(&stream.content_type)
    .bind(checkpoint)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}
