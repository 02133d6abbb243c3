//! Leases, heartbeats and the fencing check in SQLite (the same contract as PostgreSQL; times are this
//! host's clock, stored as fixed-width UTC text).

use std::time::Duration;

use chrono::Utc;
use sqlx::sqlite::SqliteConnection;
use sqlx::{Row, SqlitePool};

use crate::state::lease::millis;
use crate::state::{parse_time_text, time_text, Acquired, Lease, LeaseInfo, StateError, StreamKey};

/// Schema version 2: lease rows, replica heartbeats, and who committed each blob.
pub(super) const MIGRATION_2: &str = r#"
ALTER TABLE committed_blobs ADD COLUMN owner TEXT;
ALTER TABLE committed_blobs ADD COLUMN epoch INTEGER;
ALTER TABLE committed_blobs ADD COLUMN commits INTEGER NOT NULL DEFAULT 1;
ALTER TABLE committed_blobs ADD COLUMN other_owner_commits INTEGER NOT NULL DEFAULT 0;
CREATE TABLE leases (
    stream TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    content_type TEXT NOT NULL,
    owner TEXT,
    epoch INTEGER NOT NULL,
    expires_at TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    previous_owner TEXT
);
CREATE TABLE replicas (
    replica TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"#;

fn later(ttl: Duration) -> String {
    time_text(Utc::now() + chrono::Duration::milliseconds(millis(ttl)))
}

fn now() -> String {
    time_text(Utc::now())
}

/// The error a refused fenced commit returns.
pub(super) fn fenced(lease: &Lease) -> StateError {
    StateError::Fenced {
        stream: lease.stream.clone(),
        replica: lease.owner.clone(),
        epoch: lease.epoch,
    }
}

/// Inside a commit transaction: true when the lease is still held with its epoch. The write takes SQLite's
/// write lock first, so no takeover can interleave with the commit.
pub(super) async fn check_fence(
    connection: &mut SqliteConnection,
    lease: &Lease,
) -> Result<bool, sqlx::Error> {
    let touched = sqlx::query(
        "UPDATE leases SET renewed_at = renewed_at WHERE stream = ? AND owner = ? AND epoch = ?",
    )
    .bind(lease.stream.to_string())
    .bind(&lease.owner)
    .bind(lease.epoch)
    .execute(connection)
    .await?;
    Ok(touched.rows_affected() == 1)
}

pub(super) async fn heartbeat(
    pool: &SqlitePool,
    replica: &str,
    ttl: Duration,
) -> Result<usize, sqlx::Error> {
    let now = now();
    sqlx::query(
        "INSERT INTO replicas (replica, started_at, heartbeat_at, expires_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (replica) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
         expires_at = excluded.expires_at",
    )
    .bind(replica)
    .bind(&now)
    .bind(&now)
    .bind(later(ttl))
    .execute(pool)
    .await?;
    let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replicas WHERE expires_at > ?")
        .bind(&now)
        .fetch_one(pool)
        .await?;
    Ok(usize::try_from(live).unwrap_or(1).max(1))
}

pub(super) async fn leave(pool: &SqlitePool, replica: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM replicas WHERE replica = ?")
        .bind(replica)
        .execute(pool)
        .await
        .map(|_| ())
}

pub(super) async fn acquire(
    pool: &SqlitePool,
    stream: &StreamKey,
    replica: &str,
    ttl: Duration,
) -> Result<Option<Acquired>, sqlx::Error> {
    let now = now();
    let row = sqlx::query(
        "INSERT INTO leases (stream, tenant, content_type, owner, epoch, expires_at, acquired_at, renewed_at) \
         VALUES (?, ?, ?, ?, 1, ?, ?, ?) \
         ON CONFLICT (stream) DO UPDATE SET owner = excluded.owner, epoch = leases.epoch + 1, \
         expires_at = excluded.expires_at, acquired_at = excluded.acquired_at, \
         renewed_at = excluded.renewed_at, previous_owner = leases.owner \
         WHERE leases.owner IS NULL OR leases.owner = excluded.owner OR leases.expires_at <= excluded.acquired_at \
         RETURNING epoch, previous_owner",
    )
    .bind(stream.to_string())
    .bind(&stream.tenant)
    .bind(&stream.content_type)
    .bind(replica)
    .bind(later(ttl))
    .bind(&now)
    .bind(&now)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let previous: Option<String> = row.get(1);
        Acquired {
            lease: Lease {
                stream: stream.clone(),
                owner: replica.to_string(),
                epoch: row.get(0),
            },
            taken_from: previous.filter(|previous| previous != replica),
        }
    }))
}

pub(super) async fn renew(
    pool: &SqlitePool,
    lease: &Lease,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let touched = sqlx::query(
        "UPDATE leases SET expires_at = ?, renewed_at = ? WHERE stream = ? AND owner = ? AND epoch = ?",
    )
    .bind(later(ttl))
    .bind(now())
    .bind(lease.stream.to_string())
    .bind(&lease.owner)
    .bind(lease.epoch)
    .execute(pool)
    .await?;
    Ok(touched.rows_affected() == 1)
}

pub(super) async fn release(pool: &SqlitePool, lease: &Lease) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE leases SET owner = NULL, expires_at = ?, previous_owner = owner \
         WHERE stream = ? AND owner = ? AND epoch = ?",
    )
    .bind(now())
    .bind(lease.stream.to_string())
    .bind(&lease.owner)
    .bind(lease.epoch)
    .execute(pool)
    .await
    .map(|_| ())
}

pub(super) async fn all(pool: &SqlitePool) -> Result<Vec<LeaseInfo>, sqlx::Error> {
    let now = now();
    let rows = sqlx::query(
        "SELECT tenant, content_type, owner, epoch, expires_at, (owner IS NOT NULL AND expires_at > ?) \
         FROM leases ORDER BY stream",
    )
    .bind(&now)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| LeaseInfo {
            stream: StreamKey {
                tenant: row.get(0),
                content_type: row.get(1),
            },
            owner: row.get(2),
            epoch: row.get(3),
            expires_at: parse_time_text(&row.get::<String, _>(4)).unwrap_or_default(),
            live: row.get(5),
        })
        .collect())
}
