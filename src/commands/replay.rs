//! `atp-forwarder replay`: deliver a past span again (≤ 7 days back) regardless of state, or fetch the
//! dead-lettered blobs again. A replay never moves checkpoints or marks anything committed; its own dead
//! letters are recorded as usual.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{open_store, shutdown_on_signals, Exit};
use crate::api::{ContentBlob, RetryPolicy};
use crate::config::Config;
use crate::pipeline::{self, RunOptions, Source};
use crate::state::{Detached, StateStore};
use crate::telemetry::{init_logging, Metrics};

/// What to replay.
#[derive(Debug, Clone)]
pub enum ReplayWhat {
    /// Every blob listed in `[since, until)`.
    Span {
        /// Inclusive start (not older than 7 days).
        since: DateTime<Utc>,
        /// Exclusive end (not in the future).
        until: DateTime<Utc>,
    },
    /// The blobs in the dead-letter table.
    DeadLetters,
}

/// Replays for every configured tenant, or only `tenant`.
pub async fn replay(
    mut config: Config,
    what: ReplayWhat,
    tenant: Option<&str>,
) -> anyhow::Result<()> {
    init_logging(config.telemetry.log_format, &config.telemetry.log_level);
    if let Some(name) = tenant {
        config.tenants.retain(|candidate| candidate.name == name);
        if config.tenants.is_empty() {
            return Err(usage(format!(
                "no tenant named `{name}` in {}",
                config.source.display()
            )));
        }
    }
    let store = open_store(&config).await?;
    let source = match &what {
        ReplayWhat::Span { since, until } => span_source(*since, *until)?,
        ReplayWhat::DeadLetters => dead_letter_source(&*store, &config, tenant).await?,
    };
    if let Source::Blobs(blobs) = &source {
        if blobs.is_empty() {
            println!("no dead-lettered blob to replay");
            return Ok(());
        }
    }
    let detached = Arc::new(Detached::new(store.clone()));
    let options = RunOptions {
        source,
        once: true,
        shutdown: shutdown_on_signals(),
        retry: RetryPolicy::default(),
    };
    let report =
        pipeline::run(&config, detached.clone(), Arc::new(Metrics::new()), options).await?;
    let delivered = detached.delivered_blobs();
    if matches!(what, ReplayWhat::DeadLetters) {
        let mut forgotten = 0;
        for (stream, content_id) in &delivered {
            forgotten += store
                .remove_blob_dead_letters(stream, std::slice::from_ref(content_id))
                .await?;
        }
        println!(
            "replayed {} dead-lettered blob(s); {forgotten} dead letter(s) resolved",
            delivered.len()
        );
    } else {
        println!("replayed {} blob(s)", delivered.len());
    }
    let problems = report.problems();
    if !problems.is_empty() {
        return Err(anyhow::Error::new(Exit {
            code: 1,
            message: format!("the replay did not complete:\n  {}", problems.join("\n  ")),
        }));
    }
    Ok(())
}

fn usage(message: String) -> anyhow::Error {
    anyhow::Error::new(Exit {
        code: super::EXIT_CONFIG,
        message,
    })
}

fn span_source(since: DateTime<Utc>, until: DateTime<Utc>) -> anyhow::Result<Source> {
    let now = Utc::now();
    if since >= until {
        return Err(usage(format!(
            "--since {since} must be before --until {until}"
        )));
    }
    if since < now - chrono::Duration::days(7) {
        return Err(usage(format!(
            "--since {since} is more than 7 days ago: the API no longer holds that content"
        )));
    }
    Ok(Source::Span {
        since,
        until: until.min(now),
    })
}

async fn dead_letter_source(
    store: &dyn StateStore,
    config: &Config,
    tenant: Option<&str>,
) -> anyhow::Result<Source> {
    let now = Utc::now();
    let mut blobs = Vec::new();
    for letter in store.blob_dead_letters(tenant).await? {
        if !config
            .tenants
            .iter()
            .any(|candidate| candidate.name == letter.stream.tenant)
        {
            continue;
        }
        if blobs
            .iter()
            .any(|(_, blob): &(_, ContentBlob)| blob.content_id == letter.content_id)
        {
            continue;
        }
        // The listing times are not kept with a dead letter; the API answers AF20051 if it has expired.
        let blob = ContentBlob {
            content_type: letter.stream.content_type.clone(),
            content_id: letter.content_id.clone(),
            content_uri: letter.content_uri.clone(),
            content_created: letter.at,
            content_expiration: now + chrono::Duration::days(1),
        };
        blobs.push((letter.stream.clone(), blob));
    }
    Ok(Source::Blobs(blobs))
}
