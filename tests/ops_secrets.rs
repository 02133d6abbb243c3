//! Secrets come from files, environment variables and systemd credentials, and none of them — nor an
//! access token, a client assertion or a private key — ever appears in the daemon's output, even at trace
//! level and through token errors, API errors and sink errors.

#[path = "support/ops_kit.rs"]
mod ops_kit;
mod support;

use atp_forwarder::emulator::EmulatedTenant;
use ops_kit::*;

const WRONG_SECRET: &str = "Wrong~Secret.value-sent-but-never-printed";
const TAILSPIN_ENV: &str = "ATPF_OPS_TAILSPIN_SECRET";

/// Pieces of a JWT worth looking for: the whole, and its claims and signature parts (the header holds
/// nothing secret).
fn jwt_pieces(jwt: &str) -> Vec<String> {
    let mut pieces = vec![jwt.to_string()];
    pieces.extend(
        jwt.split('.')
            .skip(1)
            .filter(|part| part.len() >= 16)
            .map(str::to_string),
    );
    pieces
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_token_assertion_or_key_appears_in_the_output_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = make_certificate(dir.path(), "northwind");
    let emulator = start_emulator_with(vec![
        emulated(&GOOD),
        emulated(&BROKEN),
        EmulatedTenant {
            certificate_pem: Some(certificate.certificate_pem.clone()),
            ..emulated(&CERTIFIED)
        },
        EmulatedTenant {
            activity_feed_read: false,
            ..emulated(&NO_PERMISSION)
        },
        EmulatedTenant {
            audit_log_enabled: false,
            ..emulated(&AUDIT_OFF)
        },
    ])
    .await;
    let base = emulator.base_url();

    // contoso: a systemd credential (relative name, $CREDENTIALS_DIRECTORY); fabrikam: a wrong secret in a
    // file; northwind: a certificate; tailspin: an environment variable (and AF10001); woodgrove: a file
    // (and AF20011).
    let credentials = dir.path().join("credentials");
    write_file(&credentials, "contoso", GOOD.secret);
    let wrong = write_file(dir.path(), "fabrikam.secret", WRONG_SECRET);
    let woodgrove = write_file(dir.path(), "woodgrove.secret", AUDIT_OFF.secret);
    // A sink that cannot write: its parent "directory" is a file.
    write_file(dir.path(), "blocker", "not a directory");
    let text = format!(
        r#"
[state]
path = "{state}"

[collector]
poll_interval = "1s"
shutdown_timeout = "2s"

[telemetry]
listen = "127.0.0.1:0"
{contoso}{fabrikam}{northwind}{tailspin}{woodgrove}
[[sinks]]
name = "archive"
type = "file"
path = "{events}"

[[sinks]]
name = "unwritable"
type = "file"
path = "{blocked}"
"#,
        state = dir.path().join("state.db").display(),
        contoso = tenant_toml(&GOOD, &base, "client_secret_file = \"contoso\""),
        fabrikam = tenant_toml(&BROKEN, &base, &format!("client_secret_file = \"{wrong}\"")),
        northwind = tenant_toml(
            &CERTIFIED,
            &base,
            &format!(
                "certificate_file = \"{}\"\nprivate_key_file = \"{}\"",
                certificate.certificate_file.display(),
                certificate.key_file.display()
            )
        ),
        tailspin = tenant_toml(
            &NO_PERMISSION,
            &base,
            &format!("client_secret_env = \"{TAILSPIN_ENV}\"")
        ),
        woodgrove = tenant_toml(
            &AUDIT_OFF,
            &base,
            &format!("client_secret_file = \"{woodgrove}\"")
        ),
        events = dir.path().join("events.jsonl").display(),
        blocked = dir.path().join("blocker/events.jsonl").display(),
    );
    let config = write_file(dir.path(), "config.toml", &text);
    let env = [
        ("RUST_LOG", "trace"),
        ("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap()),
        (TAILSPIN_ENV, NO_PERMISSION.secret),
    ];

    let daemon = Daemon::start(&["run", "--config", &config], &env);
    for sign in [
        "AADSTS7000215",
        "AF10001",
        "AF20011",
        "sink did not acknowledge",
    ] {
        daemon.wait_for_line(sign).await;
    }
    let events = dir.path().join("events.jsonl");
    if let Err(what) = wait_until("events of the working tenants", || {
        (!delivered_ids(&events).is_empty()).then_some(())
    })
    .await
    {
        panic!("{what}:\n{}", daemon.output());
    }
    daemon.terminate();
    let (status, mut output) = daemon.wait().await;
    assert!(status.success(), "SIGTERM: exit 0");
    let check = Daemon::start(&["check", "--config", &config], &env);
    let (_, check_output) = check.wait().await;
    output.push_str(&check_output);

    // Every credential source worked: contoso (credential), northwind (certificate), tailspin (env) and
    // woodgrove (file) obtained tokens; fabrikam was refused.
    let tokens = emulator.issued_tokens();
    assert!(
        tokens.len() >= 4,
        "tokens for four tenants: {}",
        tokens.len()
    );
    assert!(
        check_output.contains("[ OK ] tenant contoso: token obtained")
            && check_output.contains("[ OK ] tenant northwind: token obtained")
            && check_output.contains("[ OK ] tenant tailspin: token obtained")
            && check_output.contains("[ OK ] tenant woodgrove: token obtained"),
        "{check_output}"
    );
    let assertions = emulator.received_assertions();
    assert!(
        !assertions.is_empty(),
        "the certificate tenant sent assertions"
    );
    assert!(
        output.lines().count() > 200,
        "trace level was on ({} lines)",
        output.lines().count()
    );

    let mut forbidden: Vec<(String, String)> = Vec::new();
    for secret in [
        GOOD.secret,
        WRONG_SECRET,
        NO_PERMISSION.secret,
        AUDIT_OFF.secret,
    ] {
        forbidden.push(("a client secret".into(), secret.to_string()));
    }
    for token in &tokens {
        for piece in jwt_pieces(token) {
            forbidden.push(("an access token".into(), piece));
        }
    }
    for assertion in &assertions {
        for piece in jwt_pieces(assertion) {
            forbidden.push(("a client assertion".into(), piece));
        }
    }
    for line in certificate
        .key_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
    {
        forbidden.push(("the private key".into(), line.to_string()));
    }
    for (what, value) in &forbidden {
        if let Some(line) = output.lines().find(|line| line.contains(value.as_str())) {
            panic!("{what} appears in the output: {line}");
        }
    }
}
