//! Leases, heartbeats and the fencing check in PostgreSQL. Every expiry is computed and compared on the
//! database clock (`now()`), so the replicas' clocks do not matter.
//!
//! - acquire: one `INSERT … ON CONFLICT DO UPDATE … WHERE` that succeeds only when the row is free,
//!   released, expired or already this replica's, and increments the epoch;
//! - renew / release: `UPDATE … WHERE owner = $ AND epoch = $`;
//! - fencing: inside the commit transaction, `SELECT … FOR UPDATE` of the lease row with the commit's owner
//!   and epoch. A takeover updates that row, so it waits for a commit in progress and a commit after a
//!   takeover finds no row.

use std::time::Duration;

use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::state::lease::millis;
use crate::state::{Acquired, Lease, LeaseInfo, StateError, StreamKey};

/// How long a replica's heartbeat row is kept after it expired (for `state show` and post-mortems).
const FORGET_REPLICAS_AFTER: &str = "1 day";

/// The error a refused fenced commit returns.
pub(super) fn fenced(lease: &Lease) -> StateError {
    StateError::Fenced {
        stream: lease.stream.clone(),
        replica: lease.owner.clone(),
        epoch: lease.epoch,
    }
}

/// Inside a commit transaction: true when the lease is still held with its epoch; the row stays locked
/// until the transaction ends.
pub(super) async fn check_fence(
    tx: &mut Transaction<'_, Postgres>,
    lease: &Lease,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "SELECT epoch FROM leases WHERE stream = $1 AND owner = $2 AND epoch = $3 FOR UPDATE",
    )
    .bind(lease.stream.to_string())
    .bind(&lease.owner)
    .bind(lease.epoch)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.is_some())
}

pub(super) async fn heartbeat(
    pool: &PgPool,
    replica: &str,
    ttl: Duration,
) -> Result<usize, sqlx::Error> {
    let live: i64 = sqlx::query_scalar(
        "WITH beat AS ( \
           INSERT INTO replicas (replica, started_at, heartbeat_at, expires_at) \
           VALUES ($1, now(), now(), now() + $2::float8 * interval '1 millisecond') \
           ON CONFLICT (replica) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at, \
           expires_at = EXCLUDED.expires_at RETURNING replica) \
         SELECT 1 + COUNT(*) FROM replicas WHERE expires_at > now() AND replica <> $1",
    )
    .bind(replica)
    .bind(millis(ttl))
    .fetch_one(pool)
    .await?;
    sqlx::query(&format!(
        "DELETE FROM replicas WHERE expires_at < now() - interval '{FORGET_REPLICAS_AFTER}'"
    ))
    .execute(pool)
    .await?;
    Ok(usize::try_from(live).unwrap_or(1).max(1))
}

pub(super) async fn leave(pool: &PgPool, replica: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM replicas WHERE replica = $1")
        .bind(replica)
        .execute(pool)
        .await
        .map(|_| ())
}

pub(super) async fn acquire(
    pool: &PgPool,
    stream: &StreamKey,
    replica: &str,
    ttl: Duration,
) -> Result<Option<Acquired>, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO leases (stream, tenant, content_type, owner, epoch, expires_at, acquired_at, renewed_at) \
         VALUES ($1, $2, $3, $4, 1, now() + $5::float8 * interval '1 millisecond', now(), now()) \
         ON CONFLICT (stream) DO UPDATE SET owner = EXCLUDED.owner, epoch = leases.epoch + 1, \
         expires_at = EXCLUDED.expires_at, acquired_at = EXCLUDED.acquired_at, \
         renewed_at = EXCLUDED.renewed_at, previous_owner = leases.owner \
         WHERE leases.owner IS NULL OR leases.owner = EXCLUDED.owner OR leases.expires_at <= now() \
         RETURNING epoch, previous_owner",
    )
    .bind(stream.to_string())
    .bind(&stream.tenant)
    .bind(&stream.content_type)
    .bind(replica)
    .bind(millis(ttl))
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
    pool: &PgPool,
    lease: &Lease,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let touched = sqlx::query(
        "UPDATE leases SET expires_at = now() + $4::float8 * interval '1 millisecond', renewed_at = now() \
         WHERE stream = $1 AND owner = $2 AND epoch = $3",
    )
    .bind(lease.stream.to_string())
    .bind(&lease.owner)
    .bind(lease.epoch)
    .bind(millis(ttl))
    .execute(pool)
    .await?;
    Ok(touched.rows_affected() == 1)
}

pub(super) async fn release(pool: &PgPool, lease: &Lease) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE leases SET owner = NULL, expires_at = now(), previous_owner = owner \
         WHERE stream = $1 AND owner = $2 AND epoch = $3",
    )
    .bind(lease.stream.to_string())
    .bind(&lease.owner)
    .bind(lease.epoch)
    .execute(pool)
    .await
    .map(|_| ())
}

pub(super) async fn all(pool: &PgPool) -> Result<Vec<LeaseInfo>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT tenant, content_type, owner, epoch, expires_at, \
         (owner IS NOT NULL AND expires_at > now()) FROM leases ORDER BY stream",
    )
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
            expires_at: row.get(4),
            live: row.get(5),
        })
        .collect())
}
