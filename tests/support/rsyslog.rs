//! A real rsyslogd for the syslog tests: started with a generated config on loopback ports, writing every
//! received message as one JSON line of rsyslog's parsed properties, one file per listener.
//!
//! Needs `/usr/sbin/rsyslogd` (Debian packages `rsyslog`, `rsyslog-gnutls` for TLS, `rsyslog-relp` for RELP).
//! The system rsyslog service is never touched: the daemon runs in the foreground (`-n`) with its own pid
//! file and work directory in a temporary directory, and is killed when the handle is dropped.
//!
//! Each listener has a ruleset with a direct queue: a message is in the output file before the input
//! acknowledges it (RELP's `rsp 200`), as a receiver configured for reliability would do.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "port_holder.rs"]
mod port_holder;
#[path = "syslog_certs.rs"]
mod syslog_certs;
use port_holder::{PortHolder, Protocol};
pub use syslog_certs::TestPki;

/// Where the tests expect rsyslogd.
pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// Which certificate an rsyslog TLS listener presents, and whether it requires one from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsListener {
    /// Server certificate from the test CA; no client certificate asked.
    ServerOnly,
    /// Server certificate from the test CA; a client certificate issued by the test CA is required.
    Mutual,
    /// Server certificate from the rogue CA (untrusted by the sink).
    Rogue,
}

/// The listeners to open.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    pub udp: bool,
    pub tcp: bool,
    pub tls: Option<TlsListener>,
    pub relp: bool,
    pub relp_tls: bool,
}

/// A running (or stopped) rsyslogd and its output.
pub struct Rsyslog {
    dir: tempfile::TempDir,
    conf: PathBuf,
    child: Option<Child>,
    /// Port of each listener by name: `udp`, `tcp`, `tls`, `relp`, `relp_tls`.
    pub ports: HashMap<&'static str, u16>,
    /// The certificates (always generated).
    pub pki: TestPki,
}

// === impl Rsyslog ===

impl Rsyslog {
    /// Writes the config and starts rsyslogd; panics with a clear message if rsyslogd is missing.
    ///
    /// Ports are chosen free, but another test may open one before rsyslogd binds it: then rsyslogd starts
    /// again on fresh ports (a few times at most).
    pub fn start(listeners: Listeners) -> Rsyslog {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "{RSYSLOGD} not found: the syslog tests need a real rsyslog; install the Debian packages \
             `rsyslog rsyslog-gnutls rsyslog-relp` (apt-get install -y rsyslog rsyslog-gnutls rsyslog-relp)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("work")).expect("work dir");
        let pki = TestPki::generate(dir.path());
        let conf = dir.path().join("rsyslog.conf");
        let mut rsyslog = Rsyslog {
            dir,
            conf,
            child: None,
            ports: HashMap::new(),
            pki,
        };
        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            rsyslog.ports = free_ports(&listeners);
            let text = config_text(rsyslog.dir.path(), &listeners, &rsyslog.ports, &rsyslog.pki);
            std::fs::write(&rsyslog.conf, text).expect("write rsyslog.conf");
            match rsyslog.launch() {
                Ok(()) => return rsyslog,
                Err(taken) if attempt < ATTEMPTS => {
                    eprintln!("{taken}; starting rsyslogd again on other ports");
                    rsyslog.kill();
                }
                Err(taken) => panic!("{taken} in {ATTEMPTS} attempts:\n{}", rsyslog.log()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// The port of a listener (`udp`, `tcp`, `tls`, `relp`, `relp_tls`).
    pub fn port(&self, listener: &str) -> u16 {
        *self
            .ports
            .get(listener)
            .unwrap_or_else(|| panic!("no {listener} listener configured"))
    }

    /// `127.0.0.1:<port>` of a listener.
    pub fn address(&self, listener: &str) -> String {
        format!("127.0.0.1:{}", self.port(listener))
    }

    /// Starts rsyslogd again with the same config and ports; returns when it holds every listener.
    pub fn restart(&mut self) {
        if let Err(taken) = self.launch() {
            panic!("cannot restart rsyslogd: {taken}:\n{}", self.log());
        }
    }

    /// Starts rsyslogd and waits until it holds every listener's port (and UDP messages reach its ruleset).
    ///
    /// "The port accepts a connection" is not enough: when an input cannot bind, rsyslogd logs it and runs on,
    /// and the port may be another test's listener. So each port's holder is read from `/proc`.
    fn launch(&mut self) -> Result<(), PortTaken> {
        assert!(self.child.is_none(), "rsyslogd is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("rsyslogd.log"))
            .expect("rsyslogd log file");
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(self.dir.path().join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {RSYSLOGD}: {error}"));
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let ready_file = self.dir.path().join("udp-ready.log");
        let _ = std::fs::remove_file(&ready_file);
        let probe = UdpSocket::bind("127.0.0.1:0").expect("UDP probe socket");
        loop {
            let mut all_held = true;
            for (&listener, &port) in &self.ports {
                let protocol = if listener == "udp" {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                };
                match port_holder::holder(pid, protocol, port) {
                    PortHolder::Process => {}
                    PortHolder::Nobody => all_held = false,
                    PortHolder::Other => return Err(PortTaken { listener, port }),
                }
            }
            let udp_ready = match self.ports.get("udp") {
                None => true,
                Some(port) => {
                    let _ = probe.send_to(
                        b"<14>1 - - readiness-probe - - - ready",
                        ("127.0.0.1", *port),
                    );
                    std::fs::metadata(&ready_file).is_ok_and(|m| m.len() > 0)
                }
            };
            if all_held && udp_ready {
                return Ok(());
            }
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!("rsyslogd exited with {status}:\n{}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "rsyslogd did not listen within 20 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops rsyslogd gracefully (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills rsyslogd at once (SIGKILL): whatever it had not written is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// rsyslogd's own output (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rsyslogd.log")).unwrap_or_default()
    }

    /// Every message received so far on a listener, as rsyslog parsed it.
    pub fn received(&self, listener: &str) -> Vec<Value> {
        let path = self.dir.path().join(format!("{listener}.jsonl"));
        let Ok(text) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        text.lines()
            .filter(|line| line.ends_with('}'))
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|error| panic!("rsyslog wrote invalid JSON ({error}): {line}"))
            })
            .collect()
    }

    /// Waits until `done` holds for the messages received on `listener`, at most `timeout`; returns them.
    pub async fn wait_for(
        &self,
        listener: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received(listener);
            if done(&received) || Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The properties written for every message (outname = JSON key).
const PROPERTIES: [(&str, &str); 13] = [
    ("pri", "pri"),
    ("facility", "syslogfacility"),
    ("severity", "syslogseverity"),
    ("protocol_version", "protocol-version"),
    ("timestamp", "timereported"),
    ("hostname", "hostname"),
    ("app_name", "app-name"),
    ("procid", "procid"),
    ("msgid", "msgid"),
    ("structured_data", "structured-data"),
    ("syslogtag", "syslogtag"),
    ("msg", "msg"),
    ("input", "inputname"),
];

fn config_text(
    dir: &Path,
    listeners: &Listeners,
    ports: &HashMap<&str, u16>,
    pki: &TestPki,
) -> String {
    let d = dir.display();
    let mut conf = String::new();
    // rsyslog 8.2302 takes the TLS files globally only (per-input files came later); one TLS listener each.
    let (cert, key, auth) = match listeners.tls {
        Some(TlsListener::Mutual) => (&pki.server_cert, &pki.server_key, "x509/certvalid"),
        Some(TlsListener::Rogue) => (&pki.rogue_server_cert, &pki.rogue_server_key, "anon"),
        Some(TlsListener::ServerOnly) | None => (&pki.server_cert, &pki.server_key, "anon"),
    };
    let _ = writeln!(
        conf,
        r#"global(workDirectory="{d}/work" maxMessageSize="256k"
       parser.escapeControlCharactersOnReceive="off"
       defaultNetstreamDriverCAFile="{}" defaultNetstreamDriverCertFile="{}"
       defaultNetstreamDriverKeyFile="{}")"#,
        pki.ca_cert.display(),
        cert.display(),
        key.display()
    );
    let _ = writeln!(
        conf,
        r#"template(name="dump" type="list" option.jsonf="on") {{"#
    );
    for (outname, name) in PROPERTIES {
        let date = if name == "timereported" {
            r#" dateFormat="rfc3339""#
        } else {
            ""
        };
        let _ = writeln!(
            conf,
            r#"  property(outname="{outname}" name="{name}" format="jsonf"{date})"#
        );
    }
    let _ = writeln!(conf, "}}");
    let ruleset = |conf: &mut String, name: &str| {
        let _ = writeln!(
            conf,
            r#"ruleset(name="{name}" queue.type="Direct") {{ action(type="omfile" file="{d}/{name}.jsonl" template="dump") }}"#
        );
    };
    if listeners.udp {
        let _ = writeln!(conf, r#"module(load="imudp")"#);
        let _ = writeln!(
            conf,
            r#"input(type="imudp" address="127.0.0.1" port="{}" ruleset="udp" rcvbufSize="4m")"#,
            ports["udp"]
        );
        // Readiness probes go to their own file (see `restart`).
        let _ = writeln!(
            conf,
            r#"ruleset(name="udp") {{
  if $app-name == "readiness-probe" then {{ action(type="omfile" file="{d}/udp-ready.log") stop }}
  action(type="omfile" file="{d}/udp.jsonl" template="dump")
}}"#
        );
    }
    let _ = writeln!(conf, r#"module(load="imptcp")"#);
    let _ = writeln!(
        conf,
        r#"input(type="imptcp" address="127.0.0.1" port="{}" ruleset="tcp")"#,
        ports["tcp"]
    );
    ruleset(&mut conf, "tcp");
    if listeners.tls.is_some() {
        let _ = writeln!(
            conf,
            r#"module(load="imtcp" maxSessions="100" streamDriver.name="gtls" streamDriver.mode="1"
       streamDriver.authMode="{auth}")"#
        );
        let _ = writeln!(
            conf,
            r#"input(type="imtcp" address="127.0.0.1" port="{}" ruleset="tls")"#,
            ports["tls"]
        );
        ruleset(&mut conf, "tls");
    }
    if listeners.relp || listeners.relp_tls {
        let _ = writeln!(conf, r#"module(load="imrelp")"#);
    }
    if listeners.relp {
        let _ = writeln!(
            conf,
            r#"input(type="imrelp" address="127.0.0.1" port="{}" ruleset="relp")"#,
            ports["relp"]
        );
        ruleset(&mut conf, "relp");
    }
    if listeners.relp_tls {
        let _ = writeln!(
            conf,
            r#"input(type="imrelp" address="127.0.0.1" port="{}" ruleset="relp_tls" tls="on"
      tls.caCert="{}" tls.myCert="{}" tls.myPrivKey="{}" tls.authMode="certvalid")"#,
            ports["relp_tls"],
            pki.ca_cert.display(),
            pki.server_cert.display(),
            pki.server_key.display()
        );
        ruleset(&mut conf, "relp_tls");
    }
    conf
}

/// A free loopback port for each listener asked for, plus `tcp` (always opened).
fn free_ports(listeners: &Listeners) -> HashMap<&'static str, u16> {
    let mut ports = HashMap::new();
    ports.insert("tcp", free_tcp_port());
    if listeners.udp {
        ports.insert("udp", free_udp_port());
    }
    if listeners.tls.is_some() {
        ports.insert("tls", free_tcp_port());
    }
    if listeners.relp {
        ports.insert("relp", free_tcp_port());
    }
    if listeners.relp_tls {
        ports.insert("relp_tls", free_tcp_port());
    }
    ports
}

/// Ports this test process has handed to an rsyslogd: never handed out twice, so that the tests of one binary,
/// which run at once, do not start two rsyslogds on one port (nor one on a port whose rsyslogd a test killed
/// and will restart). Kept for the life of the process; a test binary uses a few dozen.
static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn free_tcp_port() -> u16 {
    reserve(|| {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("free TCP port")
    })
}

fn free_udp_port() -> u16 {
    reserve(|| {
        UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .map(|addr| addr.port())
            .expect("free UDP port")
    })
}

/// Asks the kernel for free ports until one was not handed out before, and records it.
fn reserve(free_port: impl Fn() -> u16) -> u16 {
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let port = free_port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// rsyslogd could not have a listener's port: something else listens there.
#[derive(Debug)]
struct PortTaken {
    listener: &'static str,
    port: u16,
}

impl std::fmt::Display for PortTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} listener's port {} is held by another process or test",
            self.listener, self.port
        )
    }
}
