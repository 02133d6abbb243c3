//! `atp-forwarder check`: one line per check, a clear verdict, and for each failure what to do about it;
//! non-zero exit on any failure.
//!
//! Checked: the configuration (secrets and certificates are read and validated while loading), a token per
//! tenant (with the AADSTS code and its fix), the tenant's subscriptions (AF10001 permission / consent,
//! AF20011 audit log search), and a probe of every sink (unreachable, TLS not trusted, …).

use std::path::Path;
use std::sync::Arc;

use super::{load_config, Exit};
use crate::api::{self, ApiClient, RetryPolicy};
use crate::auth::{Credential, TokenSource};
use crate::config::TenantConfig;
use crate::sink::SinkConfig;

fn line(ok: bool, text: &str) {
    let verdict = if ok { "[ OK ]" } else { "[FAIL]" };
    println!("{verdict} {text}");
}

/// A failure, and on the next line what to do when the message does not already say it.
fn failure(text: &str) {
    line(false, text);
    if let Some(fix) = transport_fix(text) {
        println!("       fix: {fix}");
    }
}

/// Validates the config, gets a token per tenant, lists subscriptions, probes every sink.
pub async fn check(config_path: Option<&Path>) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    line(true, &format!("config {}: valid", config.source.display()));
    let http = api::http_client(config.collector.request_timeout)?;
    let retry = RetryPolicy {
        max_attempts: 2,
        ..RetryPolicy::default()
    };
    let mut failures = 0;
    for tenant in &config.tenants {
        if !check_tenant(tenant, &http, &retry).await? {
            failures += 1;
        }
    }
    for sink_config in &config.sinks {
        let result = match sink_config.build() {
            Ok(mut sink) => sink.probe().await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => line(
                true,
                &format!(
                    "sink {}: reachable{}",
                    sink_config.name(),
                    best_effort_note(sink_config)
                ),
            ),
            Err(error) => {
                failures += 1;
                failure(&error.to_string());
            }
        }
    }
    if failures > 0 {
        return Err(anyhow::Error::new(Exit {
            code: 1,
            message: format!("{failures} check(s) failed"),
        }));
    }
    Ok(())
}

/// The checks of one tenant; false when one failed.
async fn check_tenant(
    tenant: &TenantConfig,
    http: &reqwest::Client,
    retry: &RetryPolicy,
) -> anyhow::Result<bool> {
    if let Some(Credential::Certificate(certificate)) = &tenant.credential {
        line(
            true,
            &format!(
                "tenant {}: certificate {} loaded ({:?} assertion); the app registration must list this thumbprint",
                tenant.name,
                certificate.thumbprint_hex(),
                certificate.alg()
            ),
        );
    }
    let tokens = Arc::new(TokenSource::for_tenant(tenant, http.clone()));
    if let Err(error) = tokens.token().await {
        failure(&error.to_string());
        return Ok(false);
    }
    line(true, &format!("tenant {}: token obtained", tenant.name));
    let api = ApiClient::new(tenant, http.clone(), tokens, retry.clone())?;
    match api.list_subscriptions().await {
        Ok(subscriptions) => {
            for content_type in &tenant.content_types {
                let status = subscriptions
                    .iter()
                    .find(|subscription| &subscription.content_type == content_type)
                    .and_then(|subscription| subscription.status.clone());
                match status.as_deref() {
                    Some("enabled") => line(true, &format!("tenant {}: subscription {content_type} enabled", tenant.name)),
                    Some(other) => line(true, &format!("tenant {}: subscription {content_type} is {other}; `run` starts it (or `atp-forwarder subscriptions start`)", tenant.name)),
                    None => line(true, &format!("tenant {}: subscription {content_type} not started yet; `run` starts it", tenant.name)),
                }
            }
            Ok(true)
        }
        Err(error) => {
            failure(&error.to_string());
            Ok(false)
        }
    }
}

/// What to do about a connection failure, read from the error chain's text (rustls, hyper and the OS word
/// them consistently).
pub(crate) fn transport_fix(message: &str) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    let fix = if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "the server's TLS certificate does not name this host: use the host name the certificate was issued \
         for (or set server_name)"
    } else if lower.contains("expired") && lower.contains("certificate") {
        "the server's TLS certificate has expired: renew it on the server"
    } else if lower.contains("unknownissuer")
        || lower.contains("unknown issuer")
        || lower.contains("causedasendentity")
        || lower.contains("invalid peer certificate")
        || (lower.contains("certificate") && lower.contains("rejected"))
    {
        "the server's TLS certificate is not trusted: for a sink, set ca_file to the CA that issued the \
         receiver's certificate (a CA certificate serving as the server's own is refused); for the API or \
         login endpoints, a TLS-inspecting proxy's CA must be in the system trust store"
    } else if lower.contains("connection refused") {
        "nothing listens at that address: is the receiver running, is the port right, does a firewall allow \
         it?"
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "the host name does not resolve: check the URL or address and DNS"
    } else if lower.contains("timed out") || lower.contains("deadline has elapsed") {
        "no answer in time: check routing, firewalls and proxy settings"
    } else if lower.contains("read-only file system") {
        "the path is read-only for the service: under the systemd unit (ProtectSystem=strict) write below \
         /var/lib/atp-forwarder or /var/log/atp-forwarder, or add the directory to ReadWritePaths="
    } else if lower.contains("not a directory") || lower.contains("file exists") {
        "a parent of the path is a file, not a directory: fix the path"
    } else if lower.contains("permission denied") {
        "permission denied: the service user cannot write there (with systemd, add the directory to \
         ReadWritePaths= or use LogsDirectory=)"
    } else {
        return None;
    };
    Some(fix)
}

fn best_effort_note(sink: &SinkConfig) -> &'static str {
    match sink {
        SinkConfig::Syslog(config) if config.is_udp() => {
            " (UDP is best effort: lost datagrams are not noticed)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_get_the_fix_that_matches_their_cause() {
        let untrusted =
            "sink siem: cannot connect to siem:6514: invalid peer certificate: UnknownIssuer";
        assert!(transport_fix(untrusted).unwrap().contains("ca_file"));
        let refused = "tenant a: token endpoint https://x unreachable: error sending request: tcp connect error: Connection refused (os error 111)";
        assert!(transport_fix(refused).unwrap().contains("nothing listens"));
        let denied = "sink archive (/var/log/x): I/O error: Permission denied (os error 13)";
        assert!(transport_fix(denied).unwrap().contains("ReadWritePaths"));
        assert_eq!(transport_fix("tenant a: AF10001"), None);
    }
}
