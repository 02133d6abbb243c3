//! A configuration that cannot be used stops the binary with exit code 2 and one clear message naming the
//! key and the file.

mod support;

use support::*;

fn config_with(work: &Workdir, text: &str) -> String {
    let path = work.path("bad.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

const TENANT: &str = r#"
[[tenants]]
name = "contoso"
tenant_id = "5b3e4a7c-1d2f-4e6a-9b8c-0d1e2f3a4b5c"
client_id = "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f"
client_secret_env = "ATPF_TEST_CONFIG_SECRET"
"#;

const SINK: &str = "[[sinks]]\nname = \"out\"\ntype = \"stdout\"\n";

fn assert_config_error(text: &str, expected: &[&str]) {
    let work = Workdir::new();
    let path = config_with(&work, text);
    let output = binary()
        .args(["run", "--once", "--config", &path])
        .env("ATPF_TEST_CONFIG_SECRET", "x")
        .output()
        .unwrap();
    let all = support::text(&output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "exit code 2 expected:\n{all}"
    );
    assert!(all.contains(&path), "the message names the file:\n{all}");
    for needle in expected {
        assert!(
            all.contains(needle),
            "the message contains {needle:?}:\n{all}"
        );
    }
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    assert_config_error(
        &format!("[collector]\npoll_intervall = \"60s\"\n{TENANT}{SINK}"),
        &["poll_intervall", "collector"],
    );
}

#[test]
fn a_bad_guid_is_refused_by_key() {
    let text = TENANT.replace(
        "5b3e4a7c-1d2f-4e6a-9b8c-0d1e2f3a4b5c",
        "contoso.onmicrosoft.com",
    );
    assert_config_error(
        &format!("{text}{SINK}"),
        &["tenants[0].tenant_id", "not a GUID"],
    );
}

#[test]
fn a_bad_duration_is_refused_by_key() {
    assert_config_error(
        &format!("[collector]\npoll_interval = \"every minute\"\n{TENANT}{SINK}"),
        &["collector.poll_interval"],
    );
}

#[test]
fn a_missing_secret_is_refused_by_key() {
    let text = TENANT.replace("client_secret_env = \"ATPF_TEST_CONFIG_SECRET\"\n", "");
    assert_config_error(
        &format!("{text}{SINK}"),
        &["tenants[0].client_secret_file", "missing secret"],
    );
}

#[test]
fn an_empty_tenant_list_is_refused() {
    assert_config_error(SINK, &["tenants", "no tenant configured"]);
}

#[test]
fn an_environment_override_wins_over_the_file() {
    let work = Workdir::new();
    let path = config_with(&work, &format!("{TENANT}{SINK}"));
    let output = binary()
        .args(["run", "--once", "--config", &path])
        .env("ATPF_TEST_CONFIG_SECRET", "x")
        .env("ATP_FORWARDER__COLLECTOR__POLL_INTERVAL", "soon")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", support::text(&output));
    assert!(support::text(&output).contains("collector.poll_interval"));
}

#[test]
fn every_example_config_parses_and_only_lacks_its_secrets_here() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        match atp_forwarder::config::Config::from_toml_str(&text, &path) {
            Ok(_) => {}
            Err(atp_forwarder::config::ConfigError::Invalid { problems, .. }) => {
                for problem in problems {
                    assert!(
                        problem.key.contains("secret")
                            || problem.key.contains("token_file")
                            || problem.key.contains("password_file")
                            || problem.key.contains("api_key_file")
                            || problem.key.ends_with("_file"),
                        "{}: {problem}",
                        path.display()
                    );
                }
            }
            Err(error) => panic!("{}: {error}", path.display()),
        }
    }
    assert!(seen >= 3, "example configs found: {seen}");
}

#[test]
fn input_limits_that_cannot_work_are_refused_by_key() {
    assert_config_error(
        &format!(
            "[limits]\nmax_nesting_depth = 0\nmax_blob_bytes = 1000\nmax_record_bytes = 2000\n{TENANT}{SINK}"
        ),
        &[
            "limits.max_nesting_depth",
            "must be at least 1",
            "limits.max_record_bytes",
            "a record cannot be larger than its blob",
        ],
    );
    assert_config_error(
        &format!("[limits]\nmax_blob_size = 1000\n{TENANT}{SINK}"),
        &["max_blob_size", "limits"],
    );
}
