//! Shared set-up of the integration tests: an emulator in the test process, a config pointing the real
//! binary at it, and helpers to run the binary and read what it delivered.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use atp_forwarder::emulator::{Emulator, EmulatorConfig, ExpectedRecord};

pub const TENANT_ID: &str = "5b3e4a7c-1d2f-4e6a-9b8c-0d1e2f3a4b5c";
pub const CLIENT_ID: &str = "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f";
pub const SECRET: &str = "emulated-Secret~value.1234567890";
pub const ATP_TYPES: [i64; 4] = [28, 41, 47, 64];

/// The binary under test.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_atp-forwarder"));
    command.env_remove("RUST_LOG").env("NO_COLOR", "1");
    command
}

/// An emulator with one tenant, started on a free loopback port.
pub async fn start_emulator(tweak: impl FnOnce(&mut EmulatorConfig)) -> Emulator {
    let mut config = EmulatorConfig::single_tenant(TENANT_ID, CLIENT_ID, SECRET);
    tweak(&mut config);
    Emulator::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("emulator starts")
}

/// A working directory with a secret file and a config for one tenant and a file sink.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `config.toml` for the emulator at `base_url` with the given secret and extra TOML, and returns
    /// its path. The file sink writes to `events.jsonl`.
    pub fn config(&self, base_url: &str, secret: &str, extra: &str) -> PathBuf {
        let secret_file = self.path("secret");
        std::fs::write(&secret_file, secret).expect("write secret");
        let text = format!(
            r#"
[state]
path = "{state}"

[collector]
poll_interval = "1s"
{extra}

[[tenants]]
name = "contoso"
tenant_id = "{TENANT_ID}"
client_id = "{CLIENT_ID}"
client_secret_file = "{secret}"
login_url = "{base_url}"
api_url = "{base_url}"

[[sinks]]
name = "file"
type = "file"
path = "{events}"

# A free port per daemon: tests run side by side (the default 127.0.0.1:9464 would collide).
[telemetry]
listen = "127.0.0.1:0"
"#,
            state = self.path("state/state.db").display(),
            secret = secret_file.display(),
            events = self.path("events.jsonl").display(),
        );
        let path = self.path("config.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// The records the file sink received so far, one JSON object per line.
    pub fn delivered(&self) -> Vec<serde_json::Value> {
        read_jsonl(&self.path("events.jsonl"))
    }
}

pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("line is not JSON ({error}): {line}"))
        })
        .collect()
}

/// Runs the binary with arguments, off the async runtime (the emulator keeps serving meanwhile).
pub async fn run_binary(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    tokio::task::spawn_blocking(move || binary().args(&args).output().expect("binary runs"))
        .await
        .expect("join")
}

/// How many times each record Id appears.
pub fn id_counts(records: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for record in records {
        let id = record["Id"]
            .as_str()
            .expect("every delivered record has an Id")
            .to_string();
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// The expected records whose Id is not among `counts` (see [`id_counts`]).
pub fn never_delivered<'a>(
    expected: &'a [ExpectedRecord],
    counts: &BTreeMap<String, usize>,
) -> Vec<&'a ExpectedRecord> {
    expected
        .iter()
        .filter(|record| !counts.contains_key(&record.id))
        .collect()
}

/// The expected Ids as a sorted list.
pub fn expected_ids(expected: &[ExpectedRecord]) -> Vec<String> {
    let mut ids: Vec<String> = expected.iter().map(|record| record.id.clone()).collect();
    ids.sort();
    ids
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Committed blob ids and record ids, read from the SQLite state file while the binary may be running.
pub async fn committed(
    state: &Path,
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeSet<String>,
) {
    use sqlx::Row;
    if !state.exists() {
        return Default::default();
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(state)
        .read_only(true);
    let Ok(pool) = sqlx::SqlitePool::connect_with(options).await else {
        return Default::default();
    };
    let blobs = sqlx::query("SELECT content_id FROM committed_blobs")
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    let records = atp_forwarder::state::sqlite_record_ids(&pool)
        .await
        .unwrap_or_default();
    pool.close().await;
    (
        blobs
            .into_iter()
            .map(|row| row.get::<String, _>(0))
            .collect(),
        records.into_iter().collect(),
    )
}

/// Dead letters as (kind, content_id, reason).
pub async fn dead_letters(state: &Path) -> Vec<(String, String, String)> {
    use sqlx::Row;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(state)
        .read_only(true);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("state file opens");
    let rows = sqlx::query("SELECT kind, content_id, reason FROM dead_letters")
        .fetch_all(&pool)
        .await
        .expect("dead letters");
    pool.close().await;
    rows.into_iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

/// Sends a signal to a child process.
pub fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} failed");
}

/// Waits until `condition` holds or `deadline` passes; returns whether it held.
pub async fn wait_for(deadline: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    condition()
}

/// Like [`read_jsonl`], but lines torn by a kill -9 in the middle of a write are counted, not parsed.
pub fn read_jsonl_torn(path: &Path) -> (Vec<serde_json::Value>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut torn = 0;
    let records = text
        .lines()
        .filter_map(|line| match serde_json::from_str(line) {
            Ok(value) => Some(value),
            Err(_) => {
                torn += 1;
                None
            }
        })
        .collect();
    (records, torn)
}
