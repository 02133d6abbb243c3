//! `atp-forwarder state show | reset | dead-letters`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Utc;

use super::{load_config, open_store};
use crate::state::{LeaseInfo, StreamKey, StreamSummary};

/// Prints per stream the checkpoint, lag, committed blobs, dead letters and (cluster mode) the owner.
pub async fn state_show(config_path: Option<&Path>) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let store = open_store(&config).await?;
    let mut rows: BTreeMap<StreamKey, (Option<StreamSummary>, Option<LeaseInfo>)> = BTreeMap::new();
    for summary in store.streams().await? {
        let stream = summary.stream.clone();
        rows.entry(stream).or_default().0 = Some(summary);
    }
    for lease in store.leases().await? {
        let stream = lease.stream.clone();
        rows.entry(stream).or_default().1 = Some(lease);
    }
    println!(
        "{:<40} {:<22} {:>10} {:>10} {:>12}  OWNER",
        "STREAM", "CHECKPOINT (UTC)", "LAG", "BLOBS", "DEAD LETTERS"
    );
    for (stream, (summary, lease)) in rows {
        let checkpoint = summary.as_ref().and_then(|summary| summary.checkpoint);
        let (checkpoint, lag) = match checkpoint {
            Some(checkpoint) => (
                checkpoint.format("%Y-%m-%d %H:%M:%S").to_string(),
                humantime::format_duration(std::time::Duration::from_secs(
                    (Utc::now() - checkpoint).num_seconds().max(0) as u64,
                ))
                .to_string(),
            ),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<40} {:<22} {:>10} {:>10} {:>12}  {}",
            stream.to_string(),
            checkpoint,
            lag,
            summary
                .as_ref()
                .map_or(0, |summary| summary.committed_blobs),
            summary.as_ref().map_or(0, |summary| summary.dead_letters),
            owner(lease.as_ref()),
        );
    }
    Ok(())
}

/// `replica (epoch N)` for a live lease, `- (expired: replica)` or `-`.
fn owner(lease: Option<&LeaseInfo>) -> String {
    match lease {
        Some(lease) => match (&lease.owner, lease.live) {
            (Some(owner), true) => format!("{owner} (epoch {})", lease.epoch),
            (Some(owner), false) => format!("- (expired: {owner})"),
            (None, _) => "-".to_string(),
        },
        None => "-".to_string(),
    }
}

/// Lists the most recent dead letters.
pub async fn state_dead_letters(config_path: Option<&Path>, limit: u32) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let store = open_store(&config).await?;
    for letter in store.dead_letters(limit).await? {
        println!(
            "{} {:<6} {} content={} record={} sink={} reason={}",
            letter.at.format("%Y-%m-%dT%H:%M:%SZ"),
            letter.kind.as_str(),
            letter.stream,
            letter.content_id,
            letter.record_id.as_deref().unwrap_or("-"),
            letter.sink.as_deref().unwrap_or("-"),
            letter.reason
        );
    }
    Ok(())
}

/// Forgets checkpoints and committed blobs (of one stream, or all): the next run starts over. One stream
/// keeps the tenant's delivered record Ids (the next run fetches its blobs again and delivers only what was
/// never delivered); a reset of everything forgets them too (the next run delivers the last 7 days again).
pub async fn state_reset(
    config_path: Option<&Path>,
    tenant: Option<&str>,
    content_type: Option<&str>,
) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let store = open_store(&config).await?;
    match tenant {
        Some(tenant) => {
            let stream = StreamKey {
                tenant: tenant.to_string(),
                content_type: content_type.unwrap_or("Audit.General").to_string(),
            };
            store.reset(Some(&stream)).await?;
            println!(
                "reset {stream}: checkpoint and committed blobs forgotten; the record Ids already \
                 delivered are kept, so the next run fetches its blobs again but delivers only records \
                 never delivered (to send a span again: replay --since)"
            );
        }
        None => {
            store.reset(None).await?;
            println!(
                "reset every stream: checkpoints, committed blobs and delivered record Ids forgotten; \
                 the next run delivers the last 7 days again"
            );
        }
    }
    Ok(())
}
