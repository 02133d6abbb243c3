//! The results table (printed, and written between markers in `BENCHMARKS.md`) and the machine it ran on.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::bulk::{EndToEnd, HugeBlob, Target};
use crate::live::{Budget, Lag, BUDGET};
use crate::stalled::{Stalled, ATP_FRACTION};

/// The start and end markers of the generated part of `BENCHMARKS.md`.
const BEGIN: &str =
    "<!-- bench:results:begin (written by scripts/bench.sh; edit outside the markers) -->";
const END: &str = "<!-- bench:results:end -->";

/// Everything one run measured.
#[derive(Default)]
pub struct Results {
    /// Phase 1 and 2, per target.
    pub end_to_end: Vec<EndToEnd>,
    /// Phase 3, per target.
    pub huge: Vec<HugeBlob>,
    /// Phase 3, the stalled sink.
    pub stalled: Option<Stalled>,
    /// Phase 4.
    pub budget: Option<Budget>,
    /// Phase 5, per poll interval.
    pub lag: Vec<Lag>,
}

fn command_text(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// nproc, CPU model, RAM, date, commit.
pub fn machine() -> String {
    let cpu = command_text("lscpu", &[])
        .lines()
        .find(|line| line.starts_with("Model name:"))
        .map(|line| line.trim_start_matches("Model name:").trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let ram = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or("?".to_owned(), |kib| {
            format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    let commit = command_text("git", &["rev-parse", "--short", "HEAD"]);
    let dirty =
        if command_text("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
            ""
        } else {
            " (with uncommitted changes)"
        };
    format!(
        "{} × {cpu}, {ram} RAM, {}; commit `{commit}`{dirty}; {}",
        command_text("nproc", &[]),
        command_text("uname", &["-sr"]),
        command_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    )
}

/// One run's row of the end-to-end table.
fn end_to_end_row(out: &mut String, run: &EndToEnd) {
    let cpu = run.usage.cpu_secs().max(1e-9);
    let floor = run.floor.cpu.as_secs_f64().max(1e-9);
    let _ = writeln!(
        out,
        "| {} | {} | {:.1} | {} | {} / {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} | {:.1} | {} (+{}) | {:.2} | {:.2}× |",
        run.target.label(),
        run.blobs,
        run.floor.bytes as f64 / 1024.0 / 1024.0,
        run.input_records,
        run.delivered,
        run.expected,
        run.usage.wall.as_secs_f64(),
        run.usage.user.as_secs_f64(),
        run.usage.sys.as_secs_f64(),
        cpu,
        run.delivered as f64 / cpu,
        run.input_records as f64 / cpu,
        mib(run.usage.peak_rss_kib),
        run.api_requests,
        run.token_requests,
        floor,
        cpu / floor,
    );
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[middle],
        _ => (values[middle - 1] + values[middle]) / 2.0,
    }
}

/// The median row of one target's runs (when there are several) and the targets judged on it: CPU figures
/// from the median pipeline CPU and the median floor CPU, peak RSS the largest of the runs, every run
/// delivering every ATP record.
fn end_to_end_targets(
    out: &mut String,
    target: Target,
    runs: &[&EndToEnd],
) -> Vec<(String, String, String, bool)> {
    // Every run delivers the same history: the counts of the first stand for all (each run is checked below).
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let label = target.label();
    let cpu = median(runs.iter().map(|run| run.usage.cpu_secs()).collect()).max(1e-9);
    let floor = median(runs.iter().map(|run| run.floor.cpu.as_secs_f64()).collect()).max(1e-9);
    let per_cpu = first.delivered as f64 / cpu;
    let input_per_cpu = first.input_records as f64 / cpu;
    let ratio = cpu / floor;
    let rss = runs
        .iter()
        .map(|run| mib(run.usage.peak_rss_kib))
        .fold(0.0, f64::max);
    let complete = runs.iter().all(|run| run.delivered == run.expected);
    if runs.len() > 1 {
        let _ = writeln!(
            out,
            "| **{label}, median of {}** | | | | | | | | **{cpu:.2}** | **{per_cpu:.0}** | **{input_per_cpu:.0}** | **{rss:.1}** (max) | | **{floor:.2}** | **{ratio:.2}×** |",
            runs.len()
        );
    }
    let mut targets = Vec::new();
    if target == Target::SyslogEcs {
        targets.push((
            format!("ATP events delivered per CPU-second, {label}"),
            "≥ 100,000".into(),
            format!("{per_cpu:.0}"),
            per_cpu >= 100_000.0,
        ));
    }
    targets.push((
        format!("input records per CPU-second, {label}"),
        "≥ 300,000".into(),
        format!("{input_per_cpu:.0}"),
        input_per_cpu >= 300_000.0,
    ));
    targets.push((
        format!("pipeline CPU / floor CPU, {label}"),
        "≤ 1.5×".into(),
        format!("{ratio:.2}×"),
        ratio <= 1.5,
    ));
    targets.push((
        format!("peak RSS, {label}"),
        "≤ 128 MiB".into(),
        format!("{rss:.1} MiB"),
        rss <= 128.0,
    ));
    let delivered = runs
        .iter()
        .map(|run| format!("{} / {}", run.delivered, run.expected))
        .collect::<Vec<_>>()
        .join(", ");
    targets.push((
        format!("every ATP record delivered, {label}"),
        "delivered = expected".into(),
        delivered,
        complete,
    ));
    targets
}

/// Phase 3's stalled-sink table; gives its target row. The bound is ours, not the issue's: the same as for
/// one large blob ([`PHASE_3_RSS_MIB`]), since records waiting for a stalled sink must cost no more than
/// their own bytes.
fn stalled_section(out: &mut String, stalled: &Stalled) -> (String, String, String, bool) {
    let rss = mib(stalled.usage.peak_rss_kib);
    let _ = writeln!(
        out,
        "### 3b. Memory: a sink stalled for {} s, {:.0} % ATP records\n",
        stalled.hold.as_secs(),
        ATP_FRACTION * 100.0
    );
    let _ = writeln!(
        out,
        "| target | history records | ATP records | records fetched before the stop | CPU s | peak RSS MiB |\n|---|---|---|---|---|---|"
    );
    let _ = writeln!(
        out,
        "| (a) syslog TCP, ecs, receiver never reads | {} | {} | {} | {:.2} | {:.1} |\n",
        stalled.history_records,
        stalled.atp_records,
        stalled.records_fetched,
        stalled.usage.cpu_secs(),
        rss
    );
    (
        format!(
            "peak RSS, sink stalled {} s, {:.0} % ATP (ours)",
            stalled.hold.as_secs(),
            ATP_FRACTION * 100.0
        ),
        format!("≤ {PHASE_3_RSS_MIB:.0} MiB"),
        format!("{rss:.1} MiB"),
        rss <= PHASE_3_RSS_MIB,
    )
}

/// Phase 3's peak RSS bound, MiB: the for one large blob, and ours for the stalled sink.
const PHASE_3_RSS_MIB: f64 = 64.0;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

/// The Markdown tables.
pub fn render(results: &Results, machine: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Machine: {machine}\n");
    let mut targets: Vec<(String, String, String, bool)> = Vec::new();
    if !results.end_to_end.is_empty() {
        let _ = writeln!(out, "### 1–2. End to end (`run --once`) and the floor\n");
        let _ = writeln!(
            out,
            "| target | blobs | input MiB | input records | ATP delivered / expected | wall s | user s | sys s | CPU s | ATP ev / CPU-s | input rec / CPU-s | peak RSS MiB | API requests (+ token) | floor CPU s | pipeline / floor |"
        );
        let _ = writeln!(
            out,
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for target in [Target::SyslogEcs, Target::FileJson] {
            let runs: Vec<&EndToEnd> = results
                .end_to_end
                .iter()
                .filter(|run| run.target == target)
                .collect();
            if runs.is_empty() {
                continue;
            }
            for run in &runs {
                end_to_end_row(&mut out, run);
            }
            targets.extend(end_to_end_targets(&mut out, target, &runs));
        }
        let _ = writeln!(out);
    }
    if !results.huge.is_empty() {
        let _ = writeln!(out, "### 3. Memory: one large blob\n");
        let _ = writeln!(
            out,
            "| target | largest blob MiB | input records | ATP delivered | wall s | CPU s | peak RSS MiB |\n|---|---|---|---|---|---|---|"
        );
        for huge in &results.huge {
            let rss = mib(huge.usage.peak_rss_kib);
            let _ = writeln!(
                out,
                "| {} | {:.1} | {} | {} | {:.2} | {:.2} | {:.1} |",
                huge.target.label(),
                huge.blob_bytes as f64 / 1024.0 / 1024.0,
                huge.input_records,
                huge.delivered,
                huge.usage.wall.as_secs_f64(),
                huge.usage.cpu_secs(),
                rss
            );
            targets.push((
                format!("peak RSS, one 100 MB blob, {}", huge.target.label()),
                format!("≤ {PHASE_3_RSS_MIB:.0} MiB"),
                format!("{rss:.1} MiB"),
                rss <= PHASE_3_RSS_MIB,
            ));
        }
        let _ = writeln!(out);
    }
    if let Some(stalled) = &results.stalled {
        targets.push(stalled_section(&mut out, stalled));
    }
    if let Some(budget) = &results.budget {
        let scale = 60.0 / budget.window.as_secs_f64();
        let _ = writeln!(
            out,
            "### 4. Request budget: 7-day backfill, {BUDGET} requests per minute, time scaled ×{scale:.0} (a \"minute\" is {:.0} s)\n",
            budget.window.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "| blobs | API requests | wall s | scaled minutes | budget used (requests / (budget × minutes)) | busiest minute | 429s | CPU s |\n|---|---|---|---|---|---|---|---|\n| {} | {} | {:.1} | {:.2} | {:.1} % | {} / {BUDGET} | {} | {:.2} |\n",
            budget.blobs,
            budget.api_requests,
            budget.usage.wall.as_secs_f64(),
            budget.usage.wall.as_secs_f64() / budget.window.as_secs_f64(),
            budget.used * 100.0,
            budget.busiest_window,
            budget.throttled,
            budget.usage.cpu_secs(),
        );
        targets.push((
            "request budget used in a 7-day backfill".into(),
            "≥ 90 %".into(),
            format!("{:.1} %", budget.used * 100.0),
            budget.used >= 0.9,
        ));
        targets.push((
            "429s in the backfill".into(),
            "0".into(),
            budget.throttled.to_string(),
            budget.throttled == 0,
        ));
    }
    if !results.lag.is_empty() {
        let _ = writeln!(
            out,
            "### 5. Lag: blob listable → its last event delivered (syslog TCP, ecs)\n"
        );
        let _ = writeln!(
            out,
            "| poll interval | blobs | not delivered | p50 s | p99 s | max s |\n|---|---|---|---|---|---|"
        );
        for lag in &results.lag {
            let _ = writeln!(
                out,
                "| {} s | {} | {} | {:.2} | {:.2} | {:.2} |",
                lag.poll_interval.as_secs(),
                lag.blobs,
                lag.incomplete,
                lag.p50.as_secs_f64(),
                lag.p99.as_secs_f64(),
                lag.max.as_secs_f64()
            );
            let limit = lag.poll_interval.as_secs_f64() + 1.0;
            targets.push((
                format!("lag p99, poll interval {} s", lag.poll_interval.as_secs()),
                format!("≤ {limit:.0} s"),
                format!("{:.2} s", lag.p99.as_secs_f64()),
                lag.p99.as_secs_f64() <= limit && lag.incomplete == 0,
            ));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "### Targets\n\n| target | wanted | measured | |\n|---|---|---|---|"
    );
    for (name, wanted, measured, ok) in &targets {
        let _ = writeln!(out, "| {name} | {wanted} | {measured} | {} |", verdict(*ok));
    }
    out
}

/// Replaces the generated part of `path` (between the markers) with `section`, creating the file or the
/// markers when missing.
pub fn write(path: &Path, section: &str) -> std::io::Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_else(|_| {
        format!("# Benchmarks\n\nRun `scripts/bench.sh`.\n\n## Latest run\n\n{BEGIN}\n{END}\n")
    });
    let block = format!("{BEGIN}\n{section}{END}");
    let text = match (current.find(BEGIN), current.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!(
                "{}{block}{}",
                &current[..start],
                &current[end + END.len()..]
            )
        }
        _ => format!("{current}\n## Latest run\n\n{block}\n"),
    };
    std::fs::write(path, text)
}
