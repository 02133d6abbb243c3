//! A connection outside the pool, for the two hot paths: the committer's writes and the record-Id lookups.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, and a query through the pool costs three
//! round trips to that thread: a ping when the connection is taken from the pool, the query, and a ping
//! when it is given back (in a task of its own). Each round trip wakes the worker thread and then the
//! waiting task. Both hot paths are already serialized by a lock of their own, so each keeps one
//! connection and pays one round trip per query.

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::ConnectOptions;

/// One connection of its own, opened on first use.
pub(super) struct Dedicated {
    options: SqliteConnectOptions,
    connection: Option<SqliteConnection>,
}

// === impl Dedicated ===

impl Dedicated {
    /// Not connected yet: the first [`Dedicated::get`] connects with `options`.
    pub(super) fn new(options: SqliteConnectOptions) -> Dedicated {
        Dedicated {
            options,
            connection: None,
        }
    }

    /// The connection, opened now if there is none (first use, or after [`Dedicated::discard`]).
    pub(super) async fn get(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        let connection = match self.connection.take() {
            Some(connection) => connection,
            None => self.options.connect().await?,
        };
        Ok(self.connection.insert(connection))
    }

    /// Drops the connection after a failed query, which may have left it inside a transaction (closing it
    /// rolls that back); the next use opens a new one.
    pub(super) fn discard(&mut self) {
        self.connection = None;
    }
}
