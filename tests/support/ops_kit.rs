//! Shared set-up of the operations tests (`tests/ops_*.rs`): the daemon as a child process whose output is
//! collected line by line, its telemetry endpoints, multi-tenant emulators and configs, test certificates
//! made with the `openssl` CLI, and waiting for conditions with a deadline.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atp_forwarder::emulator::{EmulatedTenant, Emulator, EmulatorConfig};

#[path = "app_certificate.rs"]
mod app_certificate;
// Not every test binary makes certificates.
#[allow(unused_imports)]
pub use app_certificate::{make_certificate, TestCertificate};

/// How long a condition in these tests may take.
pub const DEADLINE: Duration = Duration::from_secs(90);

/// One tenant of a multi-tenant test: its name in the daemon's config and its ids in the emulator.
#[derive(Clone, Debug)]
pub struct OpsTenant {
    pub name: &'static str,
    pub tenant_id: &'static str,
    pub client_id: &'static str,
    pub secret: &'static str,
}

pub const GOOD: OpsTenant = OpsTenant {
    name: "contoso",
    tenant_id: "11111111-1111-4111-8111-111111111111",
    client_id: "aaaaaaaa-1111-4111-8111-111111111111",
    secret: "contoso-Secret~value.0001-must-not-leak",
};
pub const BROKEN: OpsTenant = OpsTenant {
    name: "fabrikam",
    tenant_id: "22222222-2222-4222-8222-222222222222",
    client_id: "bbbbbbbb-2222-4222-8222-222222222222",
    secret: "fabrikam-Secret~value.0002-must-not-leak",
};
pub const CERTIFIED: OpsTenant = OpsTenant {
    name: "northwind",
    tenant_id: "33333333-3333-4333-8333-333333333333",
    client_id: "cccccccc-3333-4333-8333-333333333333",
    secret: "northwind-unused-secret",
};
pub const NO_PERMISSION: OpsTenant = OpsTenant {
    name: "tailspin",
    tenant_id: "44444444-4444-4444-8444-444444444444",
    client_id: "dddddddd-4444-4444-8444-444444444444",
    secret: "tailspin-Secret~value.0004-must-not-leak",
};
pub const AUDIT_OFF: OpsTenant = OpsTenant {
    name: "woodgrove",
    tenant_id: "55555555-5555-4555-8555-555555555555",
    client_id: "eeeeeeee-5555-4555-8555-555555555555",
    secret: "woodgrove-Secret~value.0005-must-not-leak",
};

/// An emulated tenant with a small history (so a catch-up is quick).
pub fn emulated(tenant: &OpsTenant) -> EmulatedTenant {
    EmulatedTenant::new(tenant.tenant_id, tenant.client_id, tenant.secret)
}

/// Starts an emulator serving `tenants`, with a history of a few hours.
pub async fn start_emulator_with(tenants: Vec<EmulatedTenant>) -> Emulator {
    let config = EmulatorConfig {
        tenants,
        history: Duration::from_secs(6 * 3600),
        blob_interval: Duration::from_secs(30 * 60),
        records_per_blob: 10,
        ..EmulatorConfig::default()
    };
    Emulator::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("emulator starts")
}

/// The `[[tenants]]` table of `tenant` at the emulator, with `credential` lines (secret or certificate keys).
pub fn tenant_toml(tenant: &OpsTenant, base_url: &str, credential: &str) -> String {
    format!(
        r#"
[[tenants]]
name = "{name}"
tenant_id = "{tenant_id}"
client_id = "{client_id}"
login_url = "{base_url}"
api_url = "{base_url}"
{credential}
"#,
        name = tenant.name,
        tenant_id = tenant.tenant_id,
        client_id = tenant.client_id,
    )
}

/// Writes `name` in `dir` with `text` and returns its path as a string for TOML.
/// A config in `dir` for the tenants [`GOOD`] and [`NO_PERMISSION`] of the emulator at `base_url` (each
/// with its secret in a file), a free telemetry port and a file sink `archive` writing `events.jsonl`;
/// `collector` holds the `[collector]` table's lines. Returns its path.
pub fn two_tenant_config(dir: &Path, base_url: &str, collector: &str) -> String {
    let good = write_file(dir, "good.secret", GOOD.secret);
    let other = write_file(dir, "no-permission.secret", NO_PERMISSION.secret);
    let text = format!(
        r#"
[state]
path = "{state}"

[collector]
{collector}

[telemetry]
listen = "127.0.0.1:0"
{good}{other}
[[sinks]]
name = "archive"
type = "file"
path = "{events}"
"#,
        state = dir.join("state.db").display(),
        good = tenant_toml(&GOOD, base_url, &format!("client_secret_file = \"{good}\"")),
        other = tenant_toml(
            &NO_PERMISSION,
            base_url,
            &format!("client_secret_file = \"{other}\"")
        ),
        events = dir.join("events.jsonl").display(),
    );
    write_file(dir, "config.toml", &text)
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    std::fs::write(&path, text).expect("write file");
    path.display().to_string()
}

/// The daemon (or any command of the binary) as a child process; stdout and stderr are collected.
pub struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

// === impl Daemon ===

impl Daemon {
    /// Starts the binary with `args` and extra environment variables.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_atp-forwarder"));
        command
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("CREDENTIALS_DIRECTORY")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("the binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stdout = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        let stderr = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
        for stream in [stdout, stderr].into_iter().flatten() {
            let lines = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }));
        }
        Daemon {
            child,
            lines,
            readers,
        }
    }

    /// Everything printed so far, one line each.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a line contains `needle`; panics with the output after [`DEADLINE`].
    pub async fn wait_for_line(&self, needle: &str) -> String {
        let what = format!("a line containing {needle:?}");
        let found = wait_until(&what, || {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .find(|line| line.contains(needle))
                .cloned()
        })
        .await;
        match found {
            Ok(line) => line,
            Err(what) => panic!("{what}; output so far:\n{}", self.output()),
        }
    }

    /// The telemetry address from the "serving /metrics" log line.
    pub async fn telemetry_addr(&self) -> String {
        let line = self.wait_for_line("telemetry: serving").await;
        line.split_whitespace()
            .find_map(|word| word.strip_prefix("addr="))
            .unwrap_or_else(|| panic!("no addr= in {line}"))
            .to_string()
    }

    /// Sends SIGTERM (to this child only, by its process id).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit (killing it after [`DEADLINE`]) and returns its status and output.
    pub async fn wait(mut self) -> (ExitStatus, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!(
                    "the process did not exit in time; output:\n{}",
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let output = self.output();
        (status, output)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `probe` every 50 ms until it returns `Some`, for at most [`DEADLINE`].
pub async fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> Result<T, String> {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if started.elapsed() > DEADLINE {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET http://{addr}{path}`: status and body.
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap_or_else(|error| panic!("GET {path}: {error}"));
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// The Ids of the records in a JSON-lines file (missing file: none).
pub fn delivered_ids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|record| record["Id"].as_str().map(str::to_string))
        .collect()
}
