//! Shared set-up of the benchmark phases: the emulator, a working directory and the daemon's config.

use std::path::{Path, PathBuf};

use atp_forwarder::emulator::{
    Emulator, EmulatorConfig, EmulatorError, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_TENANT_ID,
};

/// The tenant every phase uses.
pub const TENANT: &str = DEMO_TENANT_ID;

/// Where the daemon delivers.
pub enum SinkSpec<'a> {
    /// TCP syslog (RFC 5424, octet counting) to a receiver.
    Syslog {
        /// Receiver address.
        addr: std::net::SocketAddr,
        /// Payload format.
        format: &'a str,
    },
    /// A file sink.
    File {
        /// Output file.
        path: &'a Path,
        /// Payload format.
        format: &'a str,
    },
}

/// A phase's working directory (state, secret, config, log, output), removed on drop.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    /// A fresh temporary directory.
    pub fn new() -> std::io::Result<Workdir> {
        Ok(Workdir {
            dir: tempfile::tempdir()?,
        })
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the daemon's config for `emulator` and `sink`; `collector` and `tenant` are extra TOML lines
    /// for those sections; for experiments, `BENCH_COLLECTOR` (e.g. `batch_events = 100`) adds more
    /// `[collector]` lines and `BENCH_TENANT` (e.g. `requests_per_minute = 100000`) more tenant lines.
    /// Returns the config path.
    pub fn config(
        &self,
        emulator: &Emulator,
        sink: &SinkSpec<'_>,
        collector: &str,
        tenant: &str,
    ) -> std::io::Result<PathBuf> {
        let secret = self.path("secret");
        std::fs::write(&secret, DEMO_CLIENT_SECRET)?;
        let sink = match sink {
            SinkSpec::Syslog { addr, format } => format!(
                "type = \"syslog\"\naddress = \"{addr}\"\ntransport = \"tcp\"\nformat = \"{format}\""
            ),
            SinkSpec::File { path, format } => format!(
                "type = \"file\"\npath = \"{}\"\nformat = \"{format}\"",
                path.display()
            ),
        };
        let base = emulator.base_url();
        let experiment = std::env::var("BENCH_COLLECTOR").unwrap_or_default();
        let collector = format!("{collector}\n{experiment}");
        let tenant_experiment = std::env::var("BENCH_TENANT").unwrap_or_default();
        let tenant = format!("{tenant}\n{tenant_experiment}");
        let text = format!(
            r#"[state]
path = "{state}"

[collector]
{collector}

[[tenants]]
name = "bench"
tenant_id = "{TENANT}"
client_id = "{DEMO_CLIENT_ID}"
client_secret_file = "{secret}"
login_url = "{base}"
api_url = "{base}"
{tenant}

[[sinks]]
name = "out"
{sink}

[telemetry]
listen = "127.0.0.1:0"
"#,
            state = self.path("state.db").display(),
            secret = secret.display(),
        );
        let path = self.path("config.toml");
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// Starts an emulator for the benchmark tenant on a free loopback port.
pub async fn emulator(tweak: impl FnOnce(&mut EmulatorConfig)) -> Result<Emulator, EmulatorError> {
    let mut config = EmulatorConfig::single_tenant(TENANT, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET);
    config.seed = 0xBE_7C_4A_11;
    tweak(&mut config);
    Emulator::start(config, ([127, 0, 0, 1], 0).into()).await
}

/// Lines in a file (events written by a file sink).
pub fn count_lines(path: &Path) -> std::io::Result<u64> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}
