//! `atp-forwarder emulator`: the built-in API emulator on its own, for trying configs, sinks and the
//! benchmark against something that behaves like the Management Activity API.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

use crate::config::LogFormat;
use crate::emulator::{Emulator, EmulatorConfig};
use crate::telemetry::init_logging;

/// Serves the emulator on `listen` until SIGTERM/SIGINT. `config` is a TOML file of [`EmulatorConfig`]
/// keys; without it the demo preset is used.
pub async fn emulator(listen: SocketAddr, config: Option<&Path>) -> anyhow::Result<()> {
    init_logging(LogFormat::Text, "info");
    let emulator_config = match config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml_config(&text).with_context(|| format!("emulator config {}", path.display()))?
        }
        None => EmulatorConfig::demo(),
    };
    for tenant in &emulator_config.tenants {
        tracing::info!(tenant_id = %tenant.tenant_id, client_id = %tenant.client_id, client_secret = %tenant.client_secret, "emulated tenant (test credentials)");
    }
    let emulator = Emulator::start(emulator_config, listen)
        .await
        .context("starting the emulator")?;
    tracing::info!(base_url = %emulator.base_url(), "emulator serving; use it as login_url and api_url");
    let shutdown = super::shutdown_on_signals();
    shutdown.cancelled().await;
    emulator.shutdown().await;
    Ok(())
}

fn toml_config(text: &str) -> anyhow::Result<EmulatorConfig> {
    let source = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()?;
    Ok(serde_path_to_error::deserialize(source)?)
}
