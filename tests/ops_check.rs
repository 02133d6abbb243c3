//! `atp-forwarder check` diagnoses each failure an operator meets and says what to do about it.

#[path = "support/ops_kit.rs"]
mod ops_kit;
mod support;

use std::sync::Arc;

use atp_forwarder::emulator::{EmulatedTenant, Emulator};
use ops_kit::*;

/// Runs `check` for one tenant `tenant` whose credential lines are `credential`, with `sink` as the sink
/// table; returns the exit code and the output.
async fn check(
    emulator_tenant: EmulatedTenant,
    credential: &str,
    sink: &str,
) -> (Option<i32>, String) {
    let emulator = start_emulator_with(vec![emulator_tenant]).await;
    let (code, output) = check_against(&emulator, &emulator.base_url(), credential, sink).await;
    emulator.shutdown().await;
    (code, output)
}

async fn check_against(
    emulator: &Emulator,
    login_url: &str,
    credential: &str,
    sink: &str,
) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut tenant = tenant_toml(&GOOD, &emulator.base_url(), credential);
    tenant = tenant.replace(
        &format!("login_url = \"{}\"", emulator.base_url()),
        &format!("login_url = \"{login_url}\""),
    );
    let text = format!(
        "[state]\npath = \"{}\"\n{tenant}\n{sink}\n",
        dir.path().join("state.db").display()
    );
    let config = write_file(dir.path(), "config.toml", &text);
    let (status, output) = Daemon::start(&["check", "--config", &config], &[])
        .wait()
        .await;
    (status.code(), output)
}

fn file_sink(path: &str) -> String {
    format!("[[sinks]]\nname = \"archive\"\ntype = \"file\"\npath = \"{path}\"\n")
}

fn secret_line(dir: &std::path::Path, secret: &str) -> String {
    format!(
        "client_secret_file = \"{}\"",
        write_file(dir, "secret", secret)
    )
}

/// `check` of `tenant` with its right secret and a file sink, which must fail (exit code 1); its output.
async fn failing_check(tenant: EmulatedTenant) -> String {
    let dir = tempfile::tempdir().unwrap();
    let sink = file_sink(&dir.path().join("e.jsonl").display().to_string());
    failing_check_with(dir.path(), tenant, &sink).await
}

/// `check` of `tenant` with its right secret (written in `dir`) and `sink`, which must fail (exit code 1);
/// its output.
async fn failing_check_with(dir: &std::path::Path, tenant: EmulatedTenant, sink: &str) -> String {
    let (code, output) = check(tenant, &secret_line(dir, GOOD.secret), sink).await;
    assert_eq!(code, Some(1), "{output}");
    output
}

fn failed_line(output: &str) -> &str {
    output
        .lines()
        .find(|line| line.starts_with("[FAIL]"))
        .unwrap_or_else(|| panic!("no [FAIL] line:\n{output}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_unknown_in_the_tenant_is_aadsts700016_with_the_fix() {
    let other_app = EmulatedTenant {
        client_id: "99999999-9999-4999-8999-999999999999".into(),
        ..emulated(&GOOD)
    };
    let output = failing_check(other_app).await;
    let failed = failed_line(&output);
    assert!(failed.contains("tenant contoso"), "{output}");
    assert!(failed.contains("AADSTS700016"), "{output}");
    assert!(failed.contains("check client_id and tenant_id"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_activityfeed_read_permission_is_af10001_with_the_fix() {
    let tenant = EmulatedTenant {
        activity_feed_read: false,
        ..emulated(&GOOD)
    };
    let output = failing_check(tenant).await;
    assert!(
        output.contains("[ OK ] tenant contoso: token obtained"),
        "{output}"
    );
    let failed = failed_line(&output);
    assert!(failed.contains("AF10001"), "{output}");
    assert!(
        failed.contains("ActivityFeed.Read") && failed.contains("admin consent"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_logging_off_is_af20011_turn_on_audit_log_search() {
    let tenant = EmulatedTenant {
        audit_log_enabled: false,
        ..emulated(&GOOD)
    };
    let output = failing_check(tenant).await;
    let failed = failed_line(&output);
    assert!(failed.contains("AF20011"), "{output}");
    assert!(failed.contains("turn on audit log search"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_secret_is_aadsts7000222_with_the_fix() {
    let tenant = EmulatedTenant {
        secret_expired: true,
        ..emulated(&GOOD)
    };
    let output = failing_check(tenant).await;
    let failed = failed_line(&output);
    assert!(
        failed.contains("AADSTS7000222") && failed.contains("create a new one"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_not_registered_for_the_app_is_aadsts700027_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let registered = make_certificate(dir.path(), "registered");
    let other = make_certificate(dir.path(), "other");
    let tenant = EmulatedTenant {
        certificate_pem: Some(registered.certificate_pem.clone()),
        ..emulated(&GOOD)
    };
    let credential = format!(
        "certificate_file = \"{}\"\nprivate_key_file = \"{}\"",
        other.certificate_file.display(),
        other.key_file.display()
    );
    let sink = file_sink(&dir.path().join("e.jsonl").display().to_string());
    let (code, output) = check(tenant, &credential, &sink).await;
    assert_eq!(code, Some(1), "{output}");
    assert!(
        output.contains("[ OK ] tenant contoso: certificate"),
        "the thumbprint to compare with the portal:\n{output}"
    );
    let failed = failed_line(&output);
    assert!(failed.contains("AADSTS700027"), "{output}");
    assert!(failed.contains("upload certificate_file"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_of_another_certificate_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let one = make_certificate(dir.path(), "one");
    let two = make_certificate(dir.path(), "two");
    let credential = format!(
        "certificate_file = \"{}\"\nprivate_key_file = \"{}\"",
        one.certificate_file.display(),
        two.key_file.display()
    );
    let sink = file_sink(&dir.path().join("e.jsonl").display().to_string());
    let (code, output) = check(emulated(&GOOD), &credential, &sink).await;
    assert_eq!(code, Some(2), "a configuration error:\n{output}");
    assert!(output.contains("tenants[0].certificate_file"), "{output}");
    assert!(
        output.contains("does not belong to the certificate"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_file_sink_is_diagnosed_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "blocker", "a file, not a directory");
    let sink = file_sink(
        &dir.path()
            .join("blocker/events.jsonl")
            .display()
            .to_string(),
    );
    let output = failing_check_with(dir.path(), emulated(&GOOD), &sink).await;
    assert!(failed_line(&output).contains("sink archive"), "{output}");
    assert!(
        output.contains("fix: a parent of the path is a file"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_tls_certificate_is_diagnosed_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = make_certificate(dir.path(), "self-signed");
    let login = tls_server(&certificate).await;
    let emulator = start_emulator_with(vec![emulated(&GOOD)]).await;
    let sink = file_sink(&dir.path().join("e.jsonl").display().to_string());
    let (code, output) = check_against(
        &emulator,
        &login,
        &secret_line(dir.path(), GOOD.secret),
        &sink,
    )
    .await;
    assert_eq!(code, Some(1), "{output}");
    let failed = failed_line(&output);
    assert!(
        failed.contains("tenant contoso: token endpoint"),
        "{output}"
    );
    assert!(failed.contains("invalid peer certificate"), "{output}");
    assert!(
        output.contains("fix: the server's TLS certificate is not trusted"),
        "{output}"
    );
}

/// A TLS server with `certificate` (not trusted by anyone) on a free loopback port; returns its URL.
async fn tls_server(certificate: &TestCertificate) -> String {
    let certs: Vec<_> = rustls_pemfile::certs(&mut certificate.certificate_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut certificate.key_pem.as_bytes())
        .unwrap()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The client refuses the certificate: the handshake fails, which is the point.
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    format!("https://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syslog_receiver_that_is_not_listening_is_diagnosed_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    // A port bound but not listening: connections are refused, and no other test can take it meanwhile.
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let sink = format!(
        "[[sinks]]\nname = \"siem\"\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\ntransport = \"tcp\"\n"
    );
    let output = failing_check_with(dir.path(), emulated(&GOOD), &sink).await;
    assert!(failed_line(&output).contains("sink siem"), "{output}");
    assert!(
        output.contains("fix: nothing listens at that address"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syslog_tls_receiver_with_an_untrusted_certificate_is_diagnosed_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = make_certificate(dir.path(), "receiver");
    let receiver = tls_server(&certificate).await;
    let address = receiver.trim_start_matches("https://");
    let sink = format!(
        "[[sinks]]\nname = \"siem\"\ntype = \"syslog\"\naddress = \"{address}\"\ntransport = \"tls\"\nserver_name = \"localhost\"\n"
    );
    let output = failing_check_with(dir.path(), emulated(&GOOD), &sink).await;
    assert!(failed_line(&output).contains("sink siem"), "{output}");
    assert!(
        output.contains("fix: the server's TLS certificate is not trusted"),
        "{output}"
    );
}
