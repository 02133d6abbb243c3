//! `atp-forwarder demo`: the newcomer's first command. Starts the built-in emulator on a free loopback
//! port, runs the real pipeline against it over HTTP with a temporary SQLite state, and prints the events
//! to standard output; then follows live arrivals until Ctrl-C (`--once`: stop after the history).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use super::{config_exit, shutdown_on_signals};
use crate::api::RetryPolicy;
use crate::config::{Config, LogFormat};
use crate::emulator::{
    Emulator, EmulatorConfig, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID,
};
use crate::encode::Format;
use crate::pipeline::{self, RunOptions};
use crate::state::SqliteStore;
use crate::telemetry::{init_logging, Metrics};

/// Options of `demo`.
pub struct DemoOptions {
    /// Payload format printed.
    pub format: Format,
    /// Stop after the history.
    pub once: bool,
}

/// Runs the pipeline against the built-in emulator.
pub async fn demo(options: DemoOptions) -> anyhow::Result<()> {
    init_logging(LogFormat::Text, "info");
    let emulator = Emulator::start(EmulatorConfig::demo(), ([127, 0, 0, 1], 0).into())
        .await
        .context("starting the built-in emulator")?;
    let workdir = tempfile::tempdir().context("creating a temporary directory")?;
    let secret_file = workdir.path().join("client-secret");
    std::fs::write(&secret_file, DEMO_CLIENT_SECRET).context("writing the demo secret")?;
    let format = options.format.name();
    let text = format!(
        r#"
        [state]
        path = "{state}"

        [collector]
        poll_interval = "5s"

        [[tenants]]
        name = "demo"
        tenant_id = "{DEMO_TENANT_ID}"
        client_id = "{DEMO_CLIENT_ID}"
        client_secret_file = "{secret}"
        login_url = "{base}"
        api_url = "{base}"

        [[sinks]]
        name = "stdout"
        type = "stdout"
        format = "{format}"
        "#,
        state = workdir.path().join("state.db").display(),
        secret = secret_file.display(),
        base = emulator.base_url(),
    );
    let config = Config::from_toml_str(&text, Path::new("<demo>")).map_err(config_exit)?;
    let plan = if options.once {
        "demo: forwarding the emulator's history, then stopping (--once)"
    } else {
        "demo: forwarding the emulator's history, then live arrivals (Ctrl-C stops)"
    };
    tracing::info!(emulator = %emulator.base_url(), state = %config.state.path.display(), format, "{plan}");
    let store = Arc::new(SqliteStore::open(&config.state.path).await?);
    let options = RunOptions {
        source: pipeline::Source::Follow,
        once: options.once,
        shutdown: shutdown_on_signals(),
        retry: RetryPolicy::default(),
    };
    let report = pipeline::run(&config, store, Arc::new(Metrics::new()), options).await?;
    tracing::info!(blobs_committed = report.blobs_committed, "demo finished");
    emulator.shutdown().await;
    let problems = report.problems();
    if !problems.is_empty() {
        anyhow::bail!("the demo did not complete: {}", problems.join("; "));
    }
    Ok(())
}
