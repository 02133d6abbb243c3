//! Runs the daemon as a child process and measures it: wall time, user and system CPU seconds, peak RSS.
//!
//! CPU times are read from `/proc/<pid>/stat` once the child has exited but before it is reaped (a zombie
//! keeps the totals of all its threads — what `getrusage(RUSAGE_CHILDREN)` would report), so no `unsafe`
//! and no extra dependency are needed. Peak RSS is the larger of `VmHWM` sampled while the child runs and
//! the `peak_rss_kib=` the daemon logs when it stops (its own `VmHWM` at exit).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How often the child's `/proc` entries are sampled.
const SAMPLE: Duration = Duration::from_millis(10);

/// What one run of the daemon cost.
#[derive(Debug, Clone)]
pub struct Usage {
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// User CPU time, all threads.
    pub user: Duration,
    /// System CPU time, all threads.
    pub sys: Duration,
    /// Peak resident set size, KiB.
    pub peak_rss_kib: u64,
    /// CPU time of this process (the emulator, the receivers, this sampling) while the daemon ran: what
    /// competed with it for the same cores (BENCHMARKS.md, step 52).
    pub harness: Duration,
    /// How the daemon exited.
    pub status: ExitStatus,
    /// The daemon's log (stderr).
    pub log: String,
}

impl Usage {
    /// User plus system CPU seconds.
    pub fn cpu_secs(&self) -> f64 {
        (self.user + self.sys).as_secs_f64()
    }
}

/// A failure to run or measure the child.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The binary could not be started.
    #[error("cannot start {bin}: {source}; build it with `cargo build --release`")]
    Spawn {
        bin: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Waiting for, or reading the log of, the child failed.
    #[error("waiting for the daemon (pid {pid}): {source}")]
    Wait {
        pid: u32,
        #[source]
        source: std::io::Error,
    },
}

/// `/proc/<pid>/stat`: the state letter and utime/stime in clock ticks.
struct Stat {
    state: char,
    utime: u64,
    stime: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields are counted after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of the man page, utime field 14, stime field 15.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        utime: fields.get(11)?.parse().ok()?,
        stime: fields.get(12)?.parse().ok()?,
    })
}

fn read_hwm_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on).
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

impl Usage {
    /// `Ok(self)` when the daemon exited with 0; otherwise an error carrying the last lines of its log.
    pub fn succeeded(self) -> anyhow::Result<Usage> {
        anyhow::ensure!(
            self.status.success(),
            "the daemon failed ({}):\n{}",
            self.status,
            tail(&self.log)
        );
        Ok(self)
    }
}

/// The last lines of a log, for error messages.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Runs `bin run --once --config <config>` to its end; an error unless it succeeded.
pub async fn run_once(bin: &Path, config: &str, log_path: &Path) -> anyhow::Result<Usage> {
    run(bin, &["run", "--once", "--config", config], log_path, None)
        .await?
        .succeeded()
}

/// Runs `bin args…`, sends SIGTERM once `stop` is cancelled, waits for the exit and measures the run.
pub async fn run(
    bin: &Path,
    args: &[&str],
    log_path: &Path,
    stop: Option<CancellationToken>,
) -> Result<Usage, ChildError> {
    let ticks = clock_ticks();
    let log = std::fs::File::create(log_path).map_err(|source| ChildError::Spawn {
        bin: log_path.to_owned(),
        source,
    })?;
    let started = Instant::now();
    let harness_before = read_stat(std::process::id());
    // BENCH_WRAP="perf record -g -o perf.data --" profiles the daemon (the numbers then include the wrapper).
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(wrapper) => {
            let mut command = Command::new(wrapper);
            command.args(words).arg(bin);
            command
        }
        None => Command::new(bin),
    };
    let mut child = command
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|source| ChildError::Spawn {
            bin: bin.to_owned(),
            source,
        })?;
    let pid = child.id();
    let mut hwm = 0u64;
    let mut signalled = false;
    let final_stat = loop {
        match read_stat(pid) {
            Some(stat) if stat.state == 'Z' || stat.state == 'X' => break Some(stat),
            Some(_) => {}
            None => break None,
        }
        if let Some(kib) = read_hwm_kib(pid) {
            hwm = hwm.max(kib);
        }
        if let Some(stop) = &stop {
            if !signalled && stop.is_cancelled() {
                signalled = true;
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        tokio::time::sleep(SAMPLE).await;
    };
    let wall = started.elapsed();
    let harness_ticks = read_stat(std::process::id())
        .zip(harness_before)
        .map_or(0, |(after, before)| {
            (after.utime + after.stime).saturating_sub(before.utime + before.stime)
        });
    let status = child
        .wait()
        .map_err(|source| ChildError::Wait { pid, source })?;
    let log =
        std::fs::read_to_string(log_path).map_err(|source| ChildError::Wait { pid, source })?;
    let logged_hwm = log
        .rsplit("peak_rss_kib=")
        .next()
        .filter(|_| log.contains("peak_rss_kib="))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    let (utime, stime) = final_stat.map_or((0, 0), |s| (s.utime, s.stime));
    let tick = Duration::from_secs(1) / u32::try_from(ticks.max(1)).unwrap_or(100);
    Ok(Usage {
        wall,
        user: tick * u32::try_from(utime).unwrap_or(u32::MAX),
        sys: tick * u32::try_from(stime).unwrap_or(u32::MAX),
        peak_rss_kib: hwm.max(logged_hwm),
        harness: tick * u32::try_from(harness_ticks).unwrap_or(u32::MAX),
        status,
        log,
    })
}
