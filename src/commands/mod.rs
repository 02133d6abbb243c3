//! The CLI's commands. This is the edge of the program: errors are `anyhow` here, typed below.

mod check;
mod demo;
mod emulator;
mod replay;
mod run;
mod state;
mod subscriptions;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use check::check;
pub use demo::{demo, DemoOptions};
pub use emulator::emulator;
pub use replay::{replay, ReplayWhat};
pub use run::run;
pub use state::{state_dead_letters, state_reset, state_show};
pub use subscriptions::{subscriptions, SubscriptionAction};

use crate::config::{Config, ConfigError, StateBackend};
use crate::state::{PostgresOptions, PostgresStore, SqliteStore, StateStore};

/// Default config path when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "/etc/atp-forwarder/config.toml";

/// Exit code for a configuration that cannot be used.
pub const EXIT_CONFIG: u8 = 2;

/// An error that carries its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// Process exit code.
    pub code: u8,
    /// What to print.
    pub message: String,
}

/// Loads the config, turning a config error into exit code 2.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let path: PathBuf = path
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    Config::load(&path).map_err(config_exit)
}

pub(crate) fn config_exit(error: ConfigError) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code: EXIT_CONFIG,
        message: error.to_string(),
    })
}

/// Connections each replica keeps to PostgreSQL.
const POSTGRES_CONNECTIONS: u32 = 6;

/// Opens the configured state store (for PostgreSQL: connects and migrates the schema).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn StateStore>> {
    match config.state.backend {
        StateBackend::Sqlite => Ok(Arc::new(SqliteStore::open(&config.state.path).await?)),
        StateBackend::Postgres => {
            let options = PostgresOptions {
                // Validation guarantees the url for the postgres backend.
                url: config.state.url.clone().unwrap_or_default(),
                password: config.state.password.clone(),
                lease: config.state.lease,
                max_connections: POSTGRES_CONNECTIONS,
            };
            Ok(Arc::new(PostgresStore::open(&options).await?))
        }
    }
}

/// A token that fires on SIGTERM or SIGINT (Ctrl-C).
pub fn shutdown_on_signals() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let fired = token.clone();
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received; shutting down"),
            () = terminate => tracing::info!("SIGTERM received; shutting down"),
        }
        fired.cancel();
    });
    token
}
