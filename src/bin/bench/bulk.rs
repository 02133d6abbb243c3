//! Phases 1–3: end to end over a bulk history, the floor on the same bytes, and one 100 MB blob.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use atp_forwarder::emulator::EmulatorStats;
use atp_forwarder::encode::Format;

use crate::child::{self, Usage};
use crate::floor::{self, Floor, ATP_TYPES};
use crate::receiver;
use crate::setup::{self, SinkSpec, Workdir, TENANT};

/// The bulk history: 600 blobs of 1,667 records (1,000,200 records over 30 h, one blob every 3 minutes).
#[derive(Debug, Clone, Copy)]
pub struct BulkSize {
    /// Blobs in the history.
    pub blobs: u64,
    /// Records per blob.
    pub records_per_blob: usize,
    /// The emulator's seed, when not the measured history's (the training run of a profile-guided build
    /// uses another history than the one it is measured on).
    pub seed: Option<u64>,
}

impl Default for BulkSize {
    fn default() -> Self {
        BulkSize {
            blobs: 600,
            records_per_blob: 1667,
            seed: None,
        }
    }
}

/// Where phase 1 delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// (a) TCP syslog, `ecs`, to a discarding receiver.
    SyslogEcs,
    /// (b) a file sink, `json`.
    FileJson,
    /// A file sink, `cef` (training run only: every encoder gets a profile).
    FileCef,
    /// A file sink, `leef` (training run only).
    FileLeef,
}

impl Target {
    /// A short label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Target::SyslogEcs => "(a) syslog TCP, ecs",
            Target::FileJson => "(b) file, json",
            Target::FileCef => "(training) file, cef",
            Target::FileLeef => "(training) file, leef",
        }
    }

    fn format(self) -> Format {
        match self {
            Target::SyslogEcs => Format::Ecs,
            Target::FileJson => Format::Json,
            Target::FileCef => Format::Cef,
            Target::FileLeef => Format::Leef,
        }
    }
}

/// One end-to-end run with its floor.
#[derive(Debug, Clone)]
pub struct EndToEnd {
    /// Where it delivered.
    pub target: Target,
    /// The daemon's cost.
    pub usage: Usage,
    /// Records in the blobs the emulator served.
    pub input_records: u64,
    /// Blobs served.
    pub blobs: u64,
    /// ATP events delivered (counted by the receiver or in the file).
    pub delivered: u64,
    /// ATP records the emulator holds (what should be delivered).
    pub expected: u64,
    /// API requests (token requests excluded) and token requests.
    pub api_requests: u64,
    /// Token requests.
    pub token_requests: u64,
    /// The floor on the same bytes.
    pub floor: Floor,
}

/// The emulator settings of the bulk history.
pub fn bulk_history(size: BulkSize) -> impl FnOnce(&mut atp_forwarder::emulator::EmulatorConfig) {
    move |config| {
        let interval = Duration::from_secs(180);
        config.blob_interval = interval;
        // One blob per interval across the history: `blobs` intervals back from now.
        config.history = interval * u32::try_from(size.blobs).unwrap_or(600);
        config.records_per_blob = size.records_per_blob;
        config.atp_fraction = 0.3;
        if let Some(seed) = size.seed {
            config.seed = seed;
        }
    }
}

/// Phase 1 for one target, then the floor (phase 2) on the same blobs.
pub async fn end_to_end(bin: &Path, size: BulkSize, target: Target) -> anyhow::Result<EndToEnd> {
    let emulator = setup::emulator(bulk_history(size)).await?;
    // Rendered before the daemon starts, so that it shares the cores with a server that only sends
    // (BENCHMARKS.md, step 52).
    let kept = tokio::task::block_in_place(|| emulator.keep_rendered_bodies(TENANT));
    tracing::debug!(kept, "bench: the history's bodies are rendered");
    let OnceRun {
        usage,
        stats,
        expected,
        delivered,
    } = run_once(bin, &emulator, target).await?;
    let bodies = emulator.blob_bodies(TENANT);
    let format = target.format();
    let floor = tokio::task::spawn_blocking(move || floor::measure(bodies, format, "bench"))
        .await
        .context("the floor thread")?;
    emulator.shutdown().await;
    Ok(EndToEnd {
        target,
        input_records: stats.records_served,
        blobs: stats.blobs_served,
        delivered,
        expected,
        api_requests: stats.api_requests(),
        token_requests: stats.token_requests,
        usage,
        floor,
    })
}

/// Phase 3: one blob of about 100 MB (and a few small ones) into `target`.
#[derive(Debug, Clone)]
pub struct HugeBlob {
    /// Where it delivered.
    pub target: Target,
    /// The daemon's cost.
    pub usage: Usage,
    /// Bytes of the largest blob.
    pub blob_bytes: u64,
    /// Records in the blobs served.
    pub input_records: u64,
    /// ATP events delivered.
    pub delivered: u64,
}

/// Runs phase 3 for one target.
pub async fn huge_blob(bin: &Path, megabytes: u64, target: Target) -> anyhow::Result<HugeBlob> {
    let bytes = megabytes * 1024 * 1024;
    let emulator = setup::emulator(|config| {
        config.history = Duration::from_secs(25 * 3600);
        config.blob_interval = Duration::from_secs(6 * 3600);
        config.records_per_blob = 5;
        config.huge_blob_bytes = Some(bytes);
    })
    .await?;
    let OnceRun {
        usage,
        stats,
        delivered,
        ..
    } = run_once(bin, &emulator, target).await?;
    let blob_bytes = emulator
        .blob_bodies(TENANT)
        .map(|body| body.len() as u64)
        .max()
        .unwrap_or(0);
    emulator.shutdown().await;
    Ok(HugeBlob {
        target,
        usage,
        blob_bytes,
        input_records: stats.records_served,
        delivered,
    })
}

/// What one `run --once` of the daemon into a target cost and delivered.
struct OnceRun {
    usage: Usage,
    stats: EmulatorStats,
    expected: u64,
    delivered: u64,
}

/// Runs the daemon once over the emulator's history into `target` (a discarding syslog receiver or a
/// file) and counts what arrived.
async fn run_once(
    bin: &Path,
    emulator: &atp_forwarder::emulator::Emulator,
    target: Target,
) -> anyhow::Result<OnceRun> {
    let work = Workdir::new()?;
    let recv = receiver::start(false).await?;
    let out_file = work.path("events.jsonl");
    let sink = match target {
        Target::SyslogEcs => SinkSpec::Syslog {
            addr: recv.addr,
            format: target.format().name(),
        },
        Target::FileJson | Target::FileCef | Target::FileLeef => SinkSpec::File {
            path: &out_file,
            format: target.format().name(),
        },
    };
    let config = work.config(emulator, &sink, "", "")?;
    let config = config.to_string_lossy().into_owned();
    let usage = child::run_once(bin, &config, &work.path("daemon.log")).await?;
    let stats = emulator.stats();
    let expected = emulator.expected_records(TENANT, &ATP_TYPES).len() as u64;
    let delivered = match target {
        Target::SyslogEcs => {
            // The last frames may still be in the receiver's socket buffer.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while recv.received.messages() < expected && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            recv.received.messages()
        }
        Target::FileJson | Target::FileCef | Target::FileLeef => {
            setup::count_lines(&out_file).context("reading the file sink")?
        }
    };
    Ok(OnceRun {
        usage,
        stats,
        expected,
        delivered,
    })
}
