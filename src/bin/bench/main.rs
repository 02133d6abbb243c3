//! `bench`: the one-command benchmark of atp-forwarder (run it through `scripts/bench.sh`).
//!
//! The emulator, the receivers and the floor run in this process; the daemon (the release
//! `atp-forwarder` binary) runs as a child, measured from outside: wall time, user+sys CPU of all its
//! threads and peak RSS. Phases:
//!
//! 1. end to end: a ≥1,000,000-record history in 600 blobs (30 % ATP), `run --once` into (a) TCP syslog
//!    with `ecs` read by a discarding receiver and (b) a file sink with `json`; the emulator renders the
//!    blobs' bodies before the daemon starts and then only sends them (rendering them while the daemon
//!    fetched them took more CPU than the daemon, on the same two cores; BENCHMARKS.md, step 52);
//! 2. the floor: the same blobs parsed and encoded single-threaded in memory (see `floor`);
//! 3. memory: one ~100 MB blob; and a sink stalled for a minute over a history with 2 % ATP records (a
//!    TCP syslog receiver that never reads; see `stalled`);
//! 4. budget: a 7-day backfill against an API allowing 2,000 requests per (time-scaled) minute;
//! 5. lag: live arrivals at the default poll interval and at 5 s.
//!
//! `--phases train` is not a measurement: it is the training run of a profile-guided build
//! (`scripts/release-build.sh`, run with instrumented binaries). It sends a history of another seed than the
//! measured one through the daemon into every format (and through the floor), checks that every ATP record
//! arrived, and prints nothing else.
//!
//! Wall times depend on what else runs on the machine; CPU seconds and RSS do not (much).

mod bulk;
mod child;
mod floor;
mod live;
mod micro;
mod receiver;
mod report;
mod setup;
mod stalled;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use atp_forwarder::encode::Format;
use clap::Parser;

/// The benchmark's command line.
#[derive(Parser, Debug)]
#[command(about = "Benchmarks atp-forwarder end to end against its emulator")]
struct Args {
    /// The daemon binary (default: `atp-forwarder` beside this binary).
    #[arg(long)]
    daemon: Option<PathBuf>,
    /// Write the results between the markers of this Markdown file (e.g. BENCHMARKS.md).
    #[arg(long)]
    write: Option<PathBuf>,
    /// Phases to run, comma separated: e2e (or e2e-ecs, e2e-json), floor (alone, printed), memory (or its
    /// stalled-sink part alone: stalled), budget, lag, lag-default; or train (the training run of a
    /// profile-guided build, alone).
    #[arg(
        long,
        default_value = "e2e,memory,budget,lag,lag-default",
        value_delimiter = ','
    )]
    phases: Vec<String>,
    /// Only print per-record decode/encode costs (ecs) of the raw records in this JSON-lines file.
    #[arg(long)]
    micro: Option<PathBuf>,
    /// Rounds per record of `--micro`.
    #[arg(long, default_value_t = 200)]
    micro_rounds: u32,
    /// Blobs in the bulk history of phase 1.
    #[arg(long, default_value_t = 600)]
    blobs: u64,
    /// Records per blob in the bulk history of phase 1.
    #[arg(long, default_value_t = 1667)]
    records_per_blob: usize,
    /// Runs of phases 1–2 per target, interleaved (a, b, a, b, …); the targets are judged on the medians,
    /// since one run's CPU time (and its floor's) moves by up to a fifth on a shared machine.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// How the binaries were built, for the "Machine" line (`scripts/bench.sh` passes what
    /// `scripts/release-build.sh` did).
    #[arg(long)]
    build: Option<String>,
    /// Size of the large blob of phase 3, MiB.
    #[arg(long, default_value_t = 100)]
    huge_mib: u64,
    /// How long the sink stays stalled in phase 3's second part before the daemon is stopped.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    stall_hold: Duration,
    /// Length of the scaled "minute" of phase 4.
    #[arg(long, default_value = "6s", value_parser = humantime::parse_duration)]
    budget_window: Duration,
    /// How long blobs keep arriving at the default poll interval (60 s) in phase 5.
    #[arg(long, default_value = "150s", value_parser = humantime::parse_duration)]
    lag_span_default: Duration,
    /// How long blobs keep arriving at a 5 s poll interval in phase 5.
    #[arg(long, default_value = "40s", value_parser = humantime::parse_duration)]
    lag_span_fast: Duration,
}

/// The daemon's allocator (src/main.rs), so that the floor measures the same code on the same allocator.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let daemon = match args.daemon {
        Some(path) => path,
        None => std::env::current_exe()
            .context("locating this binary")?
            .with_file_name("atp-forwarder"),
    };
    if let Some(path) = &args.micro {
        micro::run(path, Format::Ecs, args.micro_rounds)?;
        return Ok(());
    }
    let phase = |name: &str| args.phases.iter().any(|p| p == name);
    if phase("train") {
        return train(&daemon, args.blobs, args.records_per_blob).await;
    }
    let mut machine = report::machine();
    if let Some(build) = &args.build {
        machine = format!("{machine}; build: {build}");
    }
    eprintln!("bench: {machine}");
    let mut results = report::Results::default();
    let size = bulk::BulkSize {
        blobs: args.blobs,
        records_per_blob: args.records_per_blob,
        seed: None,
    };
    let targets = [
        ("e2e-ecs", bulk::Target::SyslogEcs),
        ("e2e-json", bulk::Target::FileJson),
    ];
    for (round, (name, target)) in
        (1..=args.repeat).flat_map(|round| targets.map(|target| (round, target)))
    {
        if phase("e2e") || phase(name) {
            eprintln!(
                "bench: phase 1–2, {}, run {round} of {}",
                target.label(),
                args.repeat
            );
            let run = bulk::end_to_end(&daemon, size, target).await?;
            eprintln!(
                "  wall {:.1}s cpu {:.2}s (harness {:.2}s) floor {:.2}s delivered {}/{}",
                run.usage.wall.as_secs_f64(),
                run.usage.cpu_secs(),
                run.usage.harness.as_secs_f64(),
                run.floor.cpu.as_secs_f64(),
                run.delivered,
                run.expected
            );
            results.end_to_end.push(run);
        }
    }
    if phase("floor") {
        // The floor alone (for profiling the encoders): printed, not part of the table.
        let emulator = setup::emulator(bulk::bulk_history(size)).await?;
        for format in [Format::Ecs, Format::Json] {
            let bodies = emulator.blob_bodies(setup::TENANT);
            let floor =
                tokio::task::spawn_blocking(move || floor::measure(bodies, format, "bench"))
                    .await?;
            eprintln!("bench: floor {format:?}: {floor:?}");
        }
    }
    if phase("memory") {
        eprintln!("bench: phase 3, one {} MiB blob", args.huge_mib);
        for target in [bulk::Target::FileJson, bulk::Target::SyslogEcs] {
            results
                .huge
                .push(bulk::huge_blob(&daemon, args.huge_mib, target).await?);
        }
    }
    if phase("memory") || phase("stalled") {
        eprintln!(
            "bench: phase 3, a sink stalled for {}",
            humantime::format_duration(args.stall_hold)
        );
        results.stalled = Some(stalled::stalled_sink(&daemon, args.stall_hold).await?);
    }
    if phase("budget") {
        eprintln!("bench: phase 4, budget");
        results.budget = Some(live::budget(&daemon, args.budget_window).await?);
    }
    if phase("lag") {
        eprintln!("bench: phase 5, lag at a 5 s poll interval");
        let lag = live::lag(
            &daemon,
            Some(Duration::from_secs(5)),
            Duration::from_millis(500),
            args.lag_span_fast,
        )
        .await?;
        results.lag.push(lag);
    }
    if phase("lag-default") {
        eprintln!("bench: phase 5, lag at the default poll interval");
        let lag = live::lag(&daemon, None, Duration::from_secs(2), args.lag_span_default).await?;
        results.lag.push(lag);
    }
    let section = report::render(&results, &machine);
    println!("{section}");
    if let Some(path) = &args.write {
        report::write(path, &section).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("bench: results written to {}", path.display());
    }
    Ok(())
}

/// The seed of the training history: not the measured history's (`setup::emulator`).
const TRAINING_SEED: u64 = 0x7EA1_17ED;

/// The training run of a profile-guided build: a history of its own seed through the daemon into each
/// format, and through the floor. Fails when a run did not deliver every ATP record, so that a broken
/// instrumented build never trains the release one.
async fn train(
    daemon: &std::path::Path,
    blobs: u64,
    records_per_blob: usize,
) -> anyhow::Result<()> {
    let size = bulk::BulkSize {
        blobs,
        records_per_blob,
        seed: Some(TRAINING_SEED),
    };
    let targets = [
        bulk::Target::SyslogEcs,
        bulk::Target::FileJson,
        bulk::Target::FileCef,
        bulk::Target::FileLeef,
    ];
    for target in targets {
        let run = bulk::end_to_end(daemon, size, target).await?;
        eprintln!(
            "bench: training, {}: {} records, {}/{} ATP events delivered, cpu {:.2}s",
            target.label(),
            run.input_records,
            run.delivered,
            run.expected,
            run.usage.cpu_secs()
        );
        anyhow::ensure!(
            run.delivered == run.expected && run.expected > 0,
            "the training run into {} delivered {} of {} ATP events",
            target.label(),
            run.delivered,
            run.expected
        );
    }
    Ok(())
}
