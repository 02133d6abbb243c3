//! deploy/: the systemd unit is hardened (systemd-analyze rates it 2.0 or better) and the Kubernetes
//! manifests validate against the Kubernetes schemas, offline. The tools come from Debian's `systemd` and
//! PyPI's `kubernetes-validate`; scripts/test.sh installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

fn tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed: it comes with {package} (scripts/test.sh installs it)"
    );
    Command::new(name)
}

#[test]
fn the_systemd_unit_rates_2_0_or_better_in_systemd_analyze_security() {
    let unit = deploy("atp-forwarder.service");
    let output = tool("systemd-analyze", "the Debian package systemd")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no overall rating:\n{text}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the score in {line:?}"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}

#[test]
fn the_systemd_unit_is_a_notify_service_with_a_watchdog_and_credentials() {
    let unit = std::fs::read_to_string(deploy("atp-forwarder.service")).expect("unit");
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=atp-forwarder",
        "LoadCredential=",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet=\n",
        "RestartPreventExitStatus=2",
    ] {
        assert!(unit.contains(line), "the unit lacks {line:?}");
    }
}

#[test]
fn the_kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let dir = deploy("kubernetes");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        // kustomization.yaml is kustomize's own file, not a Kubernetes resource.
        .filter(|path| !path.ends_with("kustomization.yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 5, "{manifests:?}");
    let output = tool(
        "kubernetes-validate",
        "the PyPI package kubernetes-validate",
    )
    .arg("--strict")
    .args(&manifests)
    .output()
    .expect("kubernetes-validate runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    for kind in [
        "deployment/atp-forwarder",
        "configmap/atp-forwarder",
        "secret/atp-forwarder",
        "persistentvolumeclaim/atp-forwarder-state",
    ] {
        assert!(
            text.contains(&format!("passed for resource {kind}")),
            "{text}"
        );
    }
}

#[test]
fn the_deployment_probes_healthz_and_readyz_and_is_scraped_on_the_metrics_port() {
    let deployment = std::fs::read_to_string(deploy("kubernetes/deployment.yaml")).expect("file");
    for needle in [
        "replicas: 1",
        "path: /healthz",
        "path: /readyz",
        "prometheus.io/scrape: \"true\"",
        "prometheus.io/port: \"9464\"",
        "containerPort: 9464",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "limits:",
    ] {
        assert!(
            deployment.contains(needle),
            "deployment.yaml lacks {needle:?}"
        );
    }
}

/// Runs `state show` with `config` (TOML text) and the credential files `secrets` in
/// `$CREDENTIALS_DIRECTORY`; the state goes to a temporary file.
fn loads_with_credentials(config: &str, secrets: &[&str]) -> Result<(), String> {
    let credentials = tempfile::tempdir().expect("tempdir");
    for name in secrets {
        std::fs::write(credentials.path().join(name), "a-secret").expect("secret");
    }
    let path = credentials.path().join("config.toml");
    std::fs::write(&path, config).expect("config");
    let output = Command::new(env!("CARGO_BIN_EXE_atp-forwarder"))
        .args(["state", "show", "--config"])
        .arg(&path)
        .env("CREDENTIALS_DIRECTORY", credentials.path())
        .env(
            "ATP_FORWARDER__STATE__PATH",
            credentials.path().join("state.db"),
        )
        .output()
        .expect("the binary runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn the_configmap_config_loads_with_the_secret_mounted_as_credentials() {
    let configmap = std::fs::read_to_string(deploy("kubernetes/configmap.yaml")).expect("file");
    let toml: String = configmap
        .split_once("config.toml: |\n")
        .expect("a config.toml key")
        .1
        .lines()
        .map(|line| line.strip_prefix("    ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    let secret = std::fs::read_to_string(deploy("kubernetes/secret.yaml")).expect("file");
    assert!(
        secret.contains("contoso-client-secret:"),
        "the Secret holds the key the config names"
    );
    loads_with_credentials(&toml, &["contoso-client-secret"]).unwrap();
}

#[test]
fn the_systemd_config_loads_with_the_units_credential() {
    let config = std::fs::read_to_string(deploy("config.toml")).expect("deploy/config.toml");
    let unit = std::fs::read_to_string(deploy("atp-forwarder.service")).expect("unit");
    assert!(
        unit.contains("LoadCredential=contoso:"),
        "the unit loads the credential the config names"
    );
    loads_with_credentials(&config, &["contoso"]).unwrap();
}
