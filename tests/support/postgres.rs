//! A throwaway PostgreSQL schema per test, on the server at 127.0.0.1:5432 (database `test`), or at
//! `ATPF_TEST_POSTGRES_URL`. Without a server the tests fail — they are never skipped — with a message that
//! says what to start.
#![allow(dead_code)]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

/// The server the PostgreSQL tests use unless `ATPF_TEST_POSTGRES_URL` says otherwise.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server URL (no schema).
pub fn server_url() -> String {
    std::env::var("ATPF_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

fn unreachable(url: &str, error: &sqlx::Error) -> String {
    format!(
        "PostgreSQL is not reachable at {url} ({error}).\n\
         The cluster and state-store tests need a real PostgreSQL server with a database `test`:\n\
         start it with `pg_ctlcluster 15 main start` (see `pg_lsclusters` for the version; then \
         `createdb -U postgres test` if the database is missing),\n\
         or point ATPF_TEST_POSTGRES_URL at another server."
    )
}

/// A schema created for one test and dropped after it.
pub struct TestSchema {
    /// The schema's name, `atpf_test_<random>`.
    pub name: String,
    admin: PgPool,
}

impl TestSchema {
    /// Creates a fresh schema; panics with what to start when the server is not there.
    pub async fn create() -> TestSchema {
        let url = server_url();
        // One direct connection first: its error says why (refused, unknown database, …).
        match tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await {
            Ok(Ok(connection)) => drop(connection),
            Ok(Err(error)) => panic!("{}", unreachable(&url, &error)),
            Err(_) => panic!("{}", unreachable(&url, &sqlx::Error::PoolTimedOut)),
        }
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&url)
            .await
            .unwrap_or_else(|error| panic!("{}", unreachable(&url, &error)));
        let name = format!(
            "atpf_test_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&admin)
            .await
            .unwrap_or_else(|error| panic!("cannot create schema {name} on {url}: {error}"));
        TestSchema { name, admin }
    }

    /// A URL whose connections use this schema.
    pub fn url(&self) -> String {
        let base = server_url();
        let separator = if base.contains('?') { '&' } else { '?' };
        format!("{base}{separator}options=-csearch_path%3D{}", self.name)
    }

    /// A pool on this schema, for the test's own queries.
    pub async fn pool(&self) -> PgPool {
        let options: PgConnectOptions = self.url().parse().expect("test url parses");
        PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("connect to the test schema")
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(&self) {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .execute(&self.admin)
            .await;
    }
}

/// Runs `test` with a fresh schema and drops the schema afterwards, also when the test panics.
pub async fn with_schema<F, Fut>(test: F)
where
    F: FnOnce(Arc<TestSchema>) -> Fut,
    Fut: Future<Output = ()>,
{
    let schema = Arc::new(TestSchema::create().await);
    let outcome = AssertUnwindSafe(test(schema.clone())).catch_unwind().await;
    schema.drop_schema().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
