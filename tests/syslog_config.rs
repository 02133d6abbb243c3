//! The example syslog config loads through the real config loader, every key of it understood.

#[path = "support/syslog_certs.rs"]
mod syslog_certs;

use std::path::Path;

use atp_forwarder::config::{Config, ConfigError};
use atp_forwarder::sink::SinkConfig;

#[test]
fn the_example_syslog_config_is_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = syslog_certs::TestPki::generate(dir.path());
    let secret = dir.path().join("contoso-secret");
    std::fs::write(&secret, "s3cret").expect("secret");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/syslog.toml"))
            .expect("config/syslog.toml")
            .replace(
                "/etc/atp-forwarder/siem-ca.pem",
                &pki.ca_cert.display().to_string(),
            )
            .replace(
                "/etc/atp-forwarder/forwarder.pem",
                &pki.client_cert.display().to_string(),
            )
            .replace(
                "/etc/atp-forwarder/forwarder.key",
                &pki.client_key.display().to_string(),
            )
            .replace(
                "\"contoso-secret\"",
                &format!("{:?}", secret.display().to_string()),
            );
    let config = match Config::from_toml_str(&text, Path::new("config/syslog.toml")) {
        Ok(config) => config,
        Err(ConfigError::Invalid { problems, .. }) => {
            let sink_problems: Vec<_> = problems
                .iter()
                .filter(|p| p.key.starts_with("sinks"))
                .collect();
            assert!(sink_problems.is_empty(), "{sink_problems:?}");
            return;
        }
        Err(error) => panic!("{error}"),
    };
    let sink = config
        .sinks
        .iter()
        .find(|sink| sink.name() == "soc-syslog")
        .expect("syslog sink");
    assert!(matches!(sink, SinkConfig::Syslog(_)));
    sink.build().expect("builds");
}
