//! deploy/kubernetes-cluster/: the manifests validate against the Kubernetes schemas (offline, with PyPI's
//! `kubernetes-validate`), run several replicas with their pod name as replica id, and carry a config that
//! the daemon accepts for the postgres backend.

use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes-cluster")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(manifest(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

#[test]
fn the_cluster_manifests_validate_against_the_kubernetes_schemas() {
    let files = [
        "configmap.yaml",
        "secret.yaml",
        "deployment.yaml",
        "poddisruptionbudget.yaml",
        "service.yaml",
    ];
    let kustomization = read("kustomization.yaml");
    for file in files {
        assert!(
            kustomization.contains(file),
            "kustomization.yaml lists {file}"
        );
    }
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .args(files.map(manifest))
        .output()
        .unwrap_or_else(|error| {
            panic!("kubernetes-validate (PyPI package kubernetes-validate) cannot run: {error}")
        });
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_deployment_runs_several_replicas_named_after_their_pods() {
    let deployment = read("deployment.yaml");
    let replicas: u32 = deployment
        .lines()
        .find_map(|line| line.trim().strip_prefix("replicas:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("a replicas: line");
    assert!(replicas > 1, "replicas: {replicas}");
    for needle in [
        "name: ATP_FORWARDER__STATE__REPLICA_ID",
        "fieldPath: metadata.name",
        "name: CREDENTIALS_DIRECTORY",
        "terminationGracePeriodSeconds: 60",
    ] {
        assert!(
            deployment.contains(needle),
            "deployment.yaml lacks {needle:?}"
        );
    }
    assert!(
        !deployment.contains("persistentVolumeClaim"),
        "the state is in PostgreSQL"
    );
}

#[test]
fn the_cluster_config_is_accepted_with_the_postgres_backend() {
    let configmap = read("configmap.yaml");
    let start = configmap.find("config.toml: |").expect("a config.toml key");
    let config: String = configmap[start..]
        .lines()
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with("    "))
        .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
        .collect();
    let secrets = tempfile::tempdir().expect("tempdir");
    for key in [
        "postgres-password",
        "contoso-client-secret",
        "fabrikam-client-secret",
    ] {
        assert!(
            read("secret.yaml").contains(&format!("{key}:")),
            "secret.yaml has {key}"
        );
        std::fs::write(secrets.path().join(key), "value").expect("write secret");
    }
    let file = secrets.path().join("config.toml");
    std::fs::write(&file, &config).expect("write config");
    std::env::set_var("CREDENTIALS_DIRECTORY", secrets.path());
    let parsed = atp_forwarder::config::Config::load(&file)
        .unwrap_or_else(|error| panic!("{error}\n{config}"));
    assert_eq!(
        parsed.state.backend,
        atp_forwarder::config::StateBackend::Postgres
    );
    assert_eq!(parsed.state.lease.as_secs(), 30);
    assert!(
        parsed.state.password.is_some(),
        "password from password_file"
    );
}
