//! `atp-forwarder subscriptions list | start | stop`.

use std::path::Path;
use std::sync::Arc;

use super::{load_config, Exit};
use crate::api::{self, ApiClient, RetryPolicy};
use crate::auth::TokenSource;

/// What to do with subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionAction {
    /// Show each subscription's status.
    List,
    /// Start the configured content types.
    Start,
    /// Stop them (content produced while stopped is lost for good).
    Stop,
}

/// Runs `action` for every configured tenant (or the one named).
pub async fn subscriptions(
    config_path: Option<&Path>,
    action: SubscriptionAction,
    only_tenant: Option<&str>,
) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let http = api::http_client(config.collector.request_timeout)?;
    let mut failures = 0;
    for tenant in config
        .tenants
        .iter()
        .filter(|tenant| only_tenant.is_none_or(|name| name == tenant.name))
    {
        let tokens = Arc::new(TokenSource::for_tenant(tenant, http.clone()));
        let api = ApiClient::new(tenant, http.clone(), tokens, RetryPolicy::default())?
            .with_limits(config.limits);
        match action {
            SubscriptionAction::List => match api.list_subscriptions().await {
                Ok(list) => {
                    for subscription in list {
                        println!(
                            "{} {} {}",
                            tenant.name,
                            subscription.content_type,
                            subscription.status.as_deref().unwrap_or("unknown")
                        );
                    }
                }
                Err(error) => {
                    failures += 1;
                    eprintln!("{error}");
                }
            },
            SubscriptionAction::Start | SubscriptionAction::Stop => {
                for content_type in &tenant.content_types {
                    let result = if action == SubscriptionAction::Start {
                        api.start_subscription(content_type).await
                    } else {
                        api.stop_subscription(content_type).await
                    };
                    match result {
                        Ok(()) => println!(
                            "{} {} {}",
                            tenant.name,
                            content_type,
                            if action == SubscriptionAction::Start {
                                "enabled"
                            } else {
                                "stopped"
                            }
                        ),
                        Err(error) => {
                            failures += 1;
                            eprintln!("{error}");
                        }
                    }
                }
            }
        }
    }
    if failures > 0 {
        return Err(anyhow::Error::new(Exit {
            code: 1,
            message: format!("{failures} tenant operation(s) failed"),
        }));
    }
    Ok(())
}
