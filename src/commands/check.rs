//! `atp-forwarder check`: one line per check, a clear verdict, non-zero exit on any failure.

use std::path::Path;
use std::sync::Arc;

use super::{load_config, Exit};
use crate::api::{self, ApiClient, RetryPolicy};
use crate::auth::TokenSource;
use crate::sink::SinkConfig;

fn line(ok: bool, text: &str) {
    let verdict = if ok { "[ OK ]" } else { "[FAIL]" };
    println!("{verdict} {text}");
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
        let tokens = Arc::new(TokenSource::for_tenant(tenant, http.clone()));
        if let Err(error) = tokens.token().await {
            failures += 1;
            line(false, &format!("tenant {}: token: {error}", tenant.name));
            continue;
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
            }
            Err(error) => {
                failures += 1;
                line(
                    false,
                    &format!("tenant {}: list subscriptions: {error}", tenant.name),
                );
            }
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
                line(false, &format!("sink {}: {error}", sink_config.name()));
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

fn best_effort_note(sink: &SinkConfig) -> &'static str {
    match sink {
        SinkConfig::Syslog(config) if config.is_udp() => {
            " (UDP is best effort: lost datagrams are not noticed)"
        }
        _ => "",
    }
}
