//! A commit: the batch's blobs, their record-Id sets and the checkpoints, in one transaction, in as few
//! round trips to the connection's worker thread as SQLite allows.
//!
//! The statements of a batch go to SQLite as **one multi-statement query** (sqlx binds the arguments of
//! each statement in turn): `BEGIN IMMEDIATE; …; COMMIT;` is one round trip where a statement at a time
//! was one per statement plus `BEGIN` and `COMMIT` (five for one blob and its checkpoint). A fenced commit
//! (cluster mode) first takes the write lock and checks its lease, and sends the rest only if the lease is
//! still held.
//!
//! A failed query can leave the transaction open: the caller then drops the connection (which rolls it
//! back) rather than reuse it.

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteArguments, SqliteConnection};
use sqlx::{Arguments, Encode, Executor, Row, Sqlite, Type};

use super::super::{time_text, CommitBatch, Lease};
use super::{lease, seen};

/// One committed blob (the upsert counts commits of a blob already there, and by which owner).
const INSERT_BLOB: &str = "INSERT INTO committed_blobs \
     (stream, content_id, content_created, expires_at, committed_at, records, owner, epoch) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
     ON CONFLICT (stream, content_id) DO UPDATE SET content_created = excluded.content_created, \
     expires_at = excluded.expires_at, committed_at = excluded.committed_at, \
     records = excluded.records, commits = commits + 1, \
     other_owner_commits = other_owner_commits + (owner IS NOT excluded.owner);\n";

/// A stream's new checkpoint.
const UPSERT_CHECKPOINT: &str =
    "INSERT INTO streams (stream, tenant, content_type, checkpoint, updated_at) VALUES (?, ?, ?, ?, ?) \
     ON CONFLICT (stream) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at;\n";

/// Commits `batch` at `now`; returns the keys of the record-Id set rows written, in order.
pub(super) async fn unfenced(
    connection: &mut SqliteConnection,
    batch: &CommitBatch,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, sqlx::Error> {
    let now = time_text(now);
    let (body, arguments) = statements(batch, None, &now)?;
    let sql = format!("BEGIN IMMEDIATE;\n{body}COMMIT;");
    set_rows(connection, &sql, arguments).await
}

/// Runs the statements of a commit; the only rows they return are the set rows' keys. Keys that do not
/// decode (never expected) are given as none: the commit stands, and the set reads its rows back.
async fn set_rows<'q>(
    connection: &mut SqliteConnection,
    sql: &'q str,
    arguments: SqliteArguments<'q>,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows = connection
        .fetch_all(sqlx::query_with(sql, arguments))
        .await?;
    let keys: Option<Vec<i64>> = rows.iter().map(|row| row.try_get(0).ok()).collect();
    debug_assert!(keys.is_some(), "set row keys are integers");
    Ok(keys.unwrap_or_default())
}

/// Commits `batch` at `now` only while `lease` is still held (checked first, under SQLite's write lock, so
/// no takeover can interleave); `None`, with nothing written, when it is not; else the keys of the
/// record-Id set rows written.
pub(super) async fn fenced(
    connection: &mut SqliteConnection,
    batch: &CommitBatch,
    lease: &Lease,
    now: DateTime<Utc>,
) -> Result<Option<Vec<i64>>, sqlx::Error> {
    debug_assert!(
        batch.holds_only(&lease.stream),
        "a fenced batch holds only its lease's stream"
    );
    let now = time_text(now);
    let (body, arguments) = statements(batch, Some(lease), &now)?;
    connection.execute("BEGIN IMMEDIATE").await?;
    if !lease::check_fence(connection, lease).await? {
        connection.execute("ROLLBACK").await?;
        return Ok(None);
    }
    let sql = format!("{body}COMMIT;");
    set_rows(connection, &sql, arguments).await.map(Some)
}

/// The statements of `batch` (without `BEGIN`/`COMMIT`) and their arguments, in order.
fn statements<'q>(
    batch: &'q CommitBatch,
    lease: Option<&'q Lease>,
    now: &str,
) -> Result<(String, SqliteArguments<'q>), sqlx::Error> {
    let mut sql = String::new();
    let mut arguments = SqliteArguments::default();
    for commit in &batch.blobs {
        sql.push_str(INSERT_BLOB);
        add(&mut arguments, commit.stream.to_string())?;
        add(&mut arguments, commit.content_id.as_str())?;
        add(&mut arguments, time_text(commit.content_created))?;
        add(&mut arguments, time_text(commit.content_expiration))?;
        add(&mut arguments, now.to_owned())?;
        add(&mut arguments, commit.record_ids.len() as i64)?;
        add(&mut arguments, lease.map(|lease| lease.owner.as_str()))?;
        add(&mut arguments, lease.map(|lease| lease.epoch))?;
        let (packed, count) = seen::pack(&commit.record_ids);
        if count > 0 {
            sql.push_str(seen::INSERT_SET);
            add(&mut arguments, commit.stream.tenant.as_str())?;
            add(&mut arguments, now.to_owned())?;
            add(&mut arguments, count as i64)?;
            add(&mut arguments, packed)?;
        }
    }
    for (stream, checkpoint) in &batch.checkpoints {
        sql.push_str(UPSERT_CHECKPOINT);
        add(&mut arguments, stream.to_string())?;
        add(&mut arguments, stream.tenant.as_str())?;
        add(&mut arguments, stream.content_type.as_str())?;
        add(&mut arguments, time_text(*checkpoint))?;
        add(&mut arguments, now.to_owned())?;
    }
    Ok((sql, arguments))
}

fn add<'q, T>(arguments: &mut SqliteArguments<'q>, value: T) -> Result<(), sqlx::Error>
where
    T: Encode<'q, Sqlite> + Type<Sqlite> + 'q,
{
    arguments.add(value).map_err(sqlx::Error::Encode)
}
