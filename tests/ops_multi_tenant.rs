//! Several tenants: one tenant's failure is reported and retried on its own without stopping the others;
//! certificate credentials work end to end.

#[path = "support/ops_kit.rs"]
mod ops_kit;
mod support;

use std::collections::BTreeSet;

use atp_forwarder::emulator::{EmulatedTenant, Emulator};
use ops_kit::*;
use support::ATP_TYPES;

/// Three tenants: a good one (secret), a broken one (the configured secret is wrong) and one with
/// certificate credentials.
struct ThreeTenants {
    emulator: Emulator,
    dir: tempfile::TempDir,
    config: String,
    events: std::path::PathBuf,
}

async fn three_tenants(assertion: &str, telemetry: &str) -> ThreeTenants {
    let dir = tempfile::tempdir().expect("tempdir");
    let certificate = make_certificate(dir.path(), "northwind");
    let emulator = start_emulator_with(vec![
        emulated(&GOOD),
        emulated(&BROKEN),
        EmulatedTenant {
            certificate_pem: Some(certificate.certificate_pem.clone()),
            ..emulated(&CERTIFIED)
        },
    ])
    .await;
    let base = emulator.base_url();
    let good_secret = write_file(dir.path(), "contoso.secret", GOOD.secret);
    let wrong_secret = write_file(
        dir.path(),
        "fabrikam.secret",
        "Wrong~Secret.not-the-registered-one",
    );
    let events = dir.path().join("events.jsonl");
    let text = format!(
        r#"
[state]
path = "{state}"

[collector]
poll_interval = "1s"
shutdown_timeout = "5s"

[telemetry]
listen = "{telemetry}"
{good}{broken}{certified}
[[sinks]]
name = "archive"
type = "file"
path = "{events}"
"#,
        state = dir.path().join("state.db").display(),
        good = tenant_toml(
            &GOOD,
            &base,
            &format!("client_secret_file = \"{good_secret}\"")
        ),
        broken = tenant_toml(
            &BROKEN,
            &base,
            &format!("client_secret_file = \"{wrong_secret}\"")
        ),
        certified = tenant_toml(
            &CERTIFIED,
            &base,
            &format!(
                "certificate_file = \"{}\"\nprivate_key_file = \"{}\"\nassertion = \"{assertion}\"",
                certificate.certificate_file.display(),
                certificate.key_file.display()
            )
        ),
        events = events.display(),
    );
    let config = write_file(dir.path(), "config.toml", &text);
    ThreeTenants {
        emulator,
        dir,
        config,
        events,
    }
}

impl ThreeTenants {
    /// The ATP record Ids the good and the certificate tenant serve.
    fn expected_from_working_tenants(&self) -> BTreeSet<String> {
        [GOOD, CERTIFIED]
            .iter()
            .flat_map(|tenant| self.emulator.expected_records(tenant.tenant_id, &ATP_TYPES))
            .map(|record| record.id)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_once_delivers_everything_of_the_working_tenants_and_names_the_broken_one() {
    let setup = three_tenants("rs256", "").await;
    let daemon = Daemon::start(&["run", "--once", "--config", &setup.config], &[]);
    let (status, output) = daemon.wait().await;
    assert_eq!(
        status.code(),
        Some(1),
        "a broken tenant fails the run:\n{output}"
    );
    assert!(
        output.contains("fabrikam"),
        "names the broken tenant:\n{output}"
    );
    assert!(output.contains("AADSTS7000215"), "says why:\n{output}");
    assert!(
        output.contains("secret is wrong"),
        "says what to do:\n{output}"
    );
    let delivered = delivered_ids(&setup.events);
    let unique: BTreeSet<String> = delivered.iter().cloned().collect();
    let expected = setup.expected_from_working_tenants();
    assert!(expected.len() > 20, "the working tenants have history");
    assert_eq!(
        unique, expected,
        "every ATP record of the two working tenants"
    );
    assert_eq!(unique.len(), delivered.len(), "each exactly once");
    assert!(
        !setup.emulator.received_assertions().is_empty(),
        "the certificate tenant sent a client assertion"
    );
    drop(setup.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps256_assertions_deliver_as_well() {
    let setup = three_tenants("ps256", "").await;
    let daemon = Daemon::start(&["run", "--once", "--config", &setup.config], &[]);
    let (_, output) = daemon.wait().await;
    let northwind: BTreeSet<String> = setup
        .emulator
        .expected_records(CERTIFIED.tenant_id, &ATP_TYPES)
        .into_iter()
        .map(|record| record.id)
        .collect();
    let delivered: BTreeSet<String> = delivered_ids(&setup.events).into_iter().collect();
    assert!(
        northwind.is_subset(&delivered),
        "the PS256 tenant delivered everything:\n{output}"
    );
    let header = setup.emulator.received_assertions()[0]
        .split('.')
        .next()
        .map(str::to_string)
        .unwrap();
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(header["alg"], "PS256");
    assert!(header["x5t#S256"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_broken_tenant_and_why_and_passes_the_others() {
    let setup = three_tenants("rs256", "").await;
    let daemon = Daemon::start(&["check", "--config", &setup.config], &[]);
    let (status, output) = daemon.wait().await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("[ OK ] tenant contoso: token obtained"),
        "{output}"
    );
    assert!(
        output.contains("[ OK ] tenant northwind: certificate"),
        "shows the certificate's thumbprint:\n{output}"
    );
    assert!(
        output.contains("[ OK ] tenant northwind: token obtained"),
        "{output}"
    );
    let failed: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with("[FAIL]"))
        .collect();
    assert_eq!(failed.len(), 1, "only the broken tenant fails:\n{output}");
    assert!(
        failed[0].contains("tenant fabrikam")
            && failed[0].contains("AADSTS7000215")
            && failed[0].contains("secret is wrong"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_shows_the_broken_tenant_while_the_others_deliver_and_it_is_retried() {
    let setup = three_tenants("rs256", "127.0.0.1:0").await;
    let daemon = Daemon::start(&["run", "--config", &setup.config], &[]);
    let addr = daemon.telemetry_addr().await;
    let expected = setup.expected_from_working_tenants();
    let events = setup.events.clone();
    let delivered = wait_until("every record of the working tenants", || {
        let delivered: BTreeSet<String> = delivered_ids(&events).into_iter().collect();
        (delivered == expected).then_some(delivered)
    })
    .await;
    if let Err(what) = delivered {
        panic!("{what}; output:\n{}", daemon.output());
    }

    let (status, body) = http_get(&addr, "/readyz").await;
    assert_eq!(
        status, 200,
        "ready: tokens obtained, the sink reachable:\n{body}"
    );
    let readiness: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tenant = |name: &str| {
        readiness["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|tenant| tenant["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {body}"))
    };
    assert_eq!(tenant("contoso")["status"], "ok", "{body}");
    assert_eq!(tenant("northwind")["status"], "ok", "{body}");
    let broken = tenant("fabrikam");
    assert_eq!(broken["status"], "failing", "{body}");
    assert_eq!(broken["token_obtained"], false, "{body}");
    assert!(
        broken["error"].as_str().unwrap().contains("AADSTS7000215"),
        "{body}"
    );
    assert_eq!(readiness["sinks"][0]["reachable"], true, "{body}");
    let (status, _) = http_get(&addr, "/healthz").await;
    assert_eq!(status, 200);

    // The broken tenant is retried on its own schedule (every poll), the others are not held up.
    let failures = |text: &str| {
        text.lines()
            .find(|line| {
                line.starts_with("atp_forwarder_token_failures_total{")
                    && line.contains("tenant=\"fabrikam\"")
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (_, first) = http_get(&addr, "/metrics").await;
    let mut retried = false;
    for _ in 0..100 {
        let (_, later) = http_get(&addr, "/metrics").await;
        if failures(&later) > failures(&first) {
            retried = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(retried, "the broken tenant asks for a token again");

    daemon.terminate();
    let (status, output) = daemon.wait().await;
    assert!(status.success(), "SIGTERM: exit 0:\n{output}");
}
