//! `atp-forwarder state show | reset | dead-letters`.

use std::path::Path;

use chrono::Utc;

use super::{load_config, open_store};
use crate::state::StreamKey;

/// Prints per stream the checkpoint, lag, committed blobs and dead letters.
pub async fn state_show(config_path: Option<&Path>) -> anyhow::Result<()> {
    let config = load_config(config_path)?;
    let store = open_store(&config).await?;
    let streams = store.streams().await?;
    println!(
        "{:<40} {:<22} {:>10} {:>10} {:>12}",
        "STREAM", "CHECKPOINT (UTC)", "LAG", "BLOBS", "DEAD LETTERS"
    );
    for summary in streams {
        let (checkpoint, lag) = match summary.checkpoint {
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
            "{:<40} {:<22} {:>10} {:>10} {:>12}",
            summary.stream.to_string(),
            checkpoint,
            lag,
            summary.committed_blobs,
            summary.dead_letters
        );
    }
    Ok(())
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

/// Forgets checkpoints and committed blobs (of one stream, or all): the next run starts over.
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
            println!("reset {stream}");
        }
        None => {
            store.reset(None).await?;
            println!("reset every stream");
        }
    }
    Ok(())
}
