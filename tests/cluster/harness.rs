//! Set-up of the cluster tests: a multi-tenant emulator, one config shared by every replica (PostgreSQL
//! state in a throwaway schema, a stdout sink), replica processes whose output the test collects, and
//! queries on the lease table.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use atp_forwarder::emulator::{EmulatedTenant, Emulator, EmulatorConfig};
use sqlx::{PgPool, Row};

pub const SECRET: &str = "cluster-Secret~value.1234567890";
/// Record types delivered in these tests: the ATP types plus Exchange and SharePoint types, so that every
/// stream (not only `Audit.General`) has events.
pub const RECORD_TYPES: [i64; 10] = [28, 41, 47, 64, 1, 2, 50, 4, 6, 14];

/// One emulated tenant as the config names it.
#[derive(Clone)]
pub struct Tenant {
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
}

pub fn tenants(count: usize) -> Vec<Tenant> {
    (1..=count)
        .map(|i| Tenant {
            name: format!("tenant{i}"),
            tenant_id: format!("00000000-0000-4000-8000-0000000000{i:02}"),
            client_id: format!("00000000-0000-4000-9000-0000000000{i:02}"),
        })
        .collect()
}

/// An emulator serving every tenant with data in each content type.
pub async fn start_emulator(
    tenants: &[Tenant],
    content_types: &[&str],
    tweak: impl FnOnce(&mut EmulatorConfig),
) -> Emulator {
    let mut config = EmulatorConfig {
        tenants: tenants
            .iter()
            .map(|tenant| EmulatedTenant {
                content_types: content_types.iter().map(|c| c.to_string()).collect(),
                ..EmulatedTenant::new(&tenant.tenant_id, &tenant.client_id, SECRET)
            })
            .collect(),
        history: Duration::from_secs(26 * 3600),
        blob_interval: Duration::from_secs(2 * 3600),
        records_per_blob: 10,
        ..EmulatorConfig::default()
    };
    tweak(&mut config);
    Emulator::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("emulator starts")
}

/// A blob as the tests identify it: contentIds are only unique within a tenant.
pub type BlobKey = (String, String);

/// Every record the emulator serves now in the delivered types: Id → (tenant name, contentId).
pub fn expected(emulator: &Emulator, tenants: &[Tenant]) -> BTreeMap<String, BlobKey> {
    tenants
        .iter()
        .flat_map(|tenant| {
            emulator
                .expected_records(&tenant.tenant_id, &RECORD_TYPES)
                .into_iter()
                .map(|record| (record.id, (tenant.name.clone(), record.content_id)))
        })
        .collect()
}

/// Every blob the emulator serves now (any record type).
pub fn all_blobs(emulator: &Emulator, tenants: &[Tenant]) -> BTreeSet<BlobKey> {
    let every_type: Vec<i64> = (0..300).collect();
    tenants
        .iter()
        .flat_map(|tenant| {
            emulator
                .expected_records(&tenant.tenant_id, &every_type)
                .into_iter()
                .map(|record| (tenant.name.clone(), record.content_id))
        })
        .collect()
}

/// One committed blob: its stream, who committed it, under which epoch, how many commits.
#[derive(Debug, Clone)]
pub struct Committed {
    pub stream: String,
    pub owner: Option<String>,
    pub epoch: Option<i64>,
    pub commits: i32,
}

/// Every committed blob.
pub async fn committed(pool: &PgPool) -> BTreeMap<BlobKey, Committed> {
    sqlx::query("SELECT stream, content_id, owner, epoch, commits FROM committed_blobs")
        .fetch_all(pool)
        .await
        .expect("read committed blobs")
        .into_iter()
        .map(|row| {
            let stream: String = row.get(0);
            let tenant = stream.split('/').next().unwrap_or_default().to_string();
            let key = (tenant, row.get::<String, _>(1));
            let value = Committed {
                stream,
                owner: row.get(2),
                epoch: row.get(3),
                commits: row.get(4),
            };
            (key, value)
        })
        .collect()
}

/// Writes the one config every replica runs with and returns its path.
pub fn write_config(
    dir: &Path,
    emulator_url: &str,
    state_url: &str,
    tenants: &[Tenant],
    content_types: &[&str],
    lease: &str,
) -> PathBuf {
    let secret = dir.join("secret");
    std::fs::write(&secret, SECRET).expect("write secret");
    let types = content_types
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = format!(
        r#"
[state]
backend = "postgres"
url = "{state_url}"
lease = "{lease}"

[collector]
poll_interval = "1s"
record_types = {RECORD_TYPES:?}

[telemetry]
listen = ""
log_level = "info,sqlx=warn"

[[sinks]]
name = "out"
type = "stdout"
format = "json"
"#
    );
    for tenant in tenants {
        text.push_str(&format!(
            r#"
[[tenants]]
name = "{name}"
tenant_id = "{tenant_id}"
client_id = "{client_id}"
client_secret_file = "{secret}"
content_types = [{types}]
login_url = "{emulator_url}"
api_url = "{emulator_url}"
"#,
            name = tenant.name,
            tenant_id = tenant.tenant_id,
            client_id = tenant.client_id,
            secret = secret.display(),
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// One `atp-forwarder run` process; its stdout lines (delivered events) and stderr (logs) are collected.
pub struct Replica {
    pub id: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    log: Arc<Mutex<String>>,
    gate: Option<mpsc::Sender<()>>,
}

impl Replica {
    /// Starts a replica. With `hold_stdout`, nothing is read from its stdout until [`Replica::read_stdout`]:
    /// once the pipe is full its sink cannot acknowledge anything.
    pub fn start(config: &Path, id: &str, hold_stdout: bool) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_atp-forwarder"))
            .args(["run", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("ATP_FORWARDER__STATE__REPLICA_ID", id)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Mutex::new(String::new()));
        let (gate, opened) = mpsc::channel::<()>();
        let stdout = child.stdout.take().expect("stdout");
        let sink = lines.clone();
        std::thread::spawn(move || {
            let _ = opened.recv();
            // Only complete lines count: a replica killed mid-write leaves a cut line behind.
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            while matches!(reader.read_until(b'\n', &mut line), Ok(read) if read > 0) {
                if line.ends_with(b"\n") {
                    sink.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
                }
                line.clear();
            }
        });
        let mut stderr = child.stderr.take().expect("stderr");
        let logs = log.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(read) = stderr.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                logs.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..read]));
            }
        });
        let mut replica = Replica {
            id: id.to_string(),
            child,
            lines,
            log,
            gate: Some(gate),
        };
        if !hold_stdout {
            replica.read_stdout();
        }
        replica
    }

    /// Starts reading stdout (see [`Replica::start`]).
    pub fn read_stdout(&mut self) {
        if let Some(gate) = self.gate.take() {
            let _ = gate.send(());
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name (`STOP`, `CONT`, `TERM`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {}", self.pid());
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit (at most `within`).
    pub async fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.signal("TERM");
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not exit within {within:?} of SIGTERM:\n{}",
                self.id,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Record Ids this replica delivered so far, in order.
    pub fn delivered(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
                record["Id"].as_str().expect("an Id").to_string()
            })
            .collect()
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.signal_quietly("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    fn signal_quietly(&self, name: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .stderr(Stdio::null())
            .status();
    }
}

/// How many times each Id was delivered, over all replicas.
pub fn counts(replicas: &[&Replica]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for replica in replicas {
        for id in replica.delivered() {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

/// One lease row as sampled by the test.
#[derive(Debug, Clone)]
pub struct LeaseRow {
    pub stream: String,
    pub owner: Option<String>,
    pub epoch: i64,
    pub live: bool,
}

/// The lease table now (expiry judged by the database clock); empty before the replicas created it.
pub async fn leases(pool: &PgPool) -> Vec<LeaseRow> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('leases') IS NOT NULL")
        .fetch_one(pool)
        .await
        .expect("look for the lease table");
    if !exists {
        return Vec::new();
    }
    sqlx::query(
        "SELECT stream, owner, epoch, (owner IS NOT NULL AND expires_at > now()) FROM leases ORDER BY stream",
    )
    .fetch_all(pool)
    .await
    .expect("read leases")
    .into_iter()
    .map(|row| LeaseRow {
        stream: row.get(0),
        owner: row.get(1),
        epoch: row.get(2),
        live: row.get(3),
    })
    .collect()
}

/// Streams each live owner holds.
pub fn by_owner(rows: &[LeaseRow]) -> BTreeMap<String, BTreeSet<String>> {
    let mut owners: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.live) {
        if let Some(owner) = &row.owner {
            owners
                .entry(owner.clone())
                .or_default()
                .insert(row.stream.clone());
        }
    }
    owners
}

/// Polls `condition` every 100 ms until it holds; fails with `what` after `within`.
pub async fn wait_for<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
