//! systemd integration (`Type=notify`): `READY=1` once the configuration is valid and a first token was
//! obtained, `WATCHDOG=1` at half of `WATCHDOG_USEC` while every loop ticks, `STATUS=` lines with progress,
//! `STOPPING=1` when shutdown begins. Without `NOTIFY_SOCKET` (not under systemd) nothing is sent.
//!
//! The datagram is sent by hand rather than with a crate: it is one `sendto` on a Unix socket, and the
//! hand-written form also reaches sockets in the abstract namespace (`NOTIFY_SOCKET=@…`), which the
//! `sd-notify` crate does not.

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{DeliveryLabels, Metrics, StreamLabels};

/// How often `STATUS=` is refreshed when no watchdog asks for more.
const STATUS_INTERVAL: Duration = Duration::from_secs(10);

/// Sends notifications to the service manager, if there is one.
#[derive(Clone)]
pub struct Notifier {
    target: Option<Arc<Target>>,
}

struct Target {
    socket: UnixDatagram,
    address: std::os::unix::net::SocketAddr,
    path: String,
}

// === impl Notifier ===

impl Notifier {
    /// A notifier for `$NOTIFY_SOCKET`; silent when it is unset or unusable (logged once).
    pub fn from_env() -> Notifier {
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { target: None };
        };
        let path = path.to_string_lossy().into_owned();
        match connect(&path) {
            Ok((socket, address)) => Notifier {
                target: Some(Arc::new(Target {
                    socket,
                    address,
                    path,
                })),
            },
            Err(error) => {
                tracing::warn!(notify_socket = %path, %error, "NOTIFY_SOCKET is set but unusable; systemd will not hear from this process");
                Notifier { target: None }
            }
        }
    }

    /// True when notifications go somewhere.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}\n"));
    }

    /// `STATUS=…`.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}\n"));
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1\n");
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={status}\n"));
    }

    fn send(&self, message: &str) {
        let Some(target) = &self.target else { return };
        if let Err(error) = target
            .socket
            .send_to_addr(message.as_bytes(), &target.address)
        {
            tracing::debug!(notify_socket = %target.path, %error, "sd_notify message not sent");
        }
    }
}

fn connect(path: &str) -> std::io::Result<(UnixDatagram, std::os::unix::net::SocketAddr)> {
    let socket = UnixDatagram::unbound()?;
    // A full receive buffer must never block the runtime: drop the message instead.
    socket.set_nonblocking(true)?;
    let address = match path.strip_prefix('@') {
        Some(name) => abstract_address(name)?,
        None => std::os::unix::net::SocketAddr::from_pathname(path)?,
    };
    Ok((socket, address))
}

#[cfg(target_os = "linux")]
fn abstract_address(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_address(_name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

/// Half of `$WATCHDOG_USEC` when the watchdog is on for this process (`$WATCHDOG_PID` unset or ours).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// What the `STATUS=` line sums up: the configured streams and (tenant, sink) pairs.
pub struct Progress {
    /// Every stream (tenant × content type).
    pub streams: Vec<StreamLabels>,
    /// Every (tenant, sink) pair.
    pub deliveries: Vec<DeliveryLabels>,
}

// === impl Progress ===

impl Progress {
    /// e.g. "3 streams, 1204 events delivered, lag 42s; failing: fabrikam".
    pub fn line(&self, metrics: &Metrics) -> String {
        let mut per_sink: std::collections::BTreeMap<&str, u64> = Default::default();
        for labels in &self.deliveries {
            *per_sink.entry(&labels.sink).or_default() +=
                metrics.events_delivered.get_or_create(labels).get();
        }
        // An event counts as delivered when every sink has it: the least any sink acknowledged.
        let delivered = per_sink.values().copied().min().unwrap_or(0);
        let lag = self
            .streams
            .iter()
            .map(|labels| metrics.stream_lag_seconds.get_or_create(labels).get())
            .fold(0.0_f64, f64::max);
        let mut line = format!(
            "{} stream{}, {delivered} events delivered, lag {}s",
            self.streams.len(),
            if self.streams.len() == 1 { "" } else { "s" },
            lag.round() as u64
        );
        let failing = metrics.health.failing_tenants();
        if !failing.is_empty() {
            line.push_str(&format!("; failing: {}", failing.join(", ")));
        }
        line
    }
}

/// Talks to systemd until `shutdown`: READY once a first token is obtained, then STATUS (and WATCHDOG while
/// every loop ticks) periodically; STOPPING when `shutdown` fires.
pub async fn supervise(
    notifier: Notifier,
    metrics: Arc<Metrics>,
    progress: Progress,
    shutdown: CancellationToken,
) {
    let watchdog = watchdog_interval();
    let period = watchdog.map_or(STATUS_INTERVAL, |half| half.min(STATUS_INTERVAL));
    let health = metrics.health.clone();
    let mut ready = false;
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = health.first_token(), if !ready => {
                ready = true;
                tracing::info!("ready: configuration valid and a first token obtained");
                notifier.ready(&progress.line(&metrics));
            }
            _ = ticker.tick() => {
                let liveness = health.liveness();
                if watchdog.is_some() {
                    if liveness.healthy {
                        notifier.watchdog();
                    } else {
                        tracing::error!(problems = ?liveness.problems, "not sending the watchdog keep-alive: a loop is stuck; systemd will restart the service");
                    }
                }
                let line = if ready {
                    progress.line(&metrics)
                } else {
                    format!("waiting for a first token; {}", progress.line(&metrics))
                };
                notifier.status(&line);
            }
        }
    }
    health.stopping();
    notifier.stopping(&format!(
        "stopping: draining queued events; {}",
        progress.line(&metrics)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_counts_streams_delivered_events_and_the_worst_lag() {
        let metrics = Metrics::new();
        let progress = Progress {
            streams: vec![
                Metrics::stream("a", "Audit.General"),
                Metrics::stream("b", "Audit.General"),
            ],
            deliveries: vec![
                Metrics::delivery("a", "file"),
                Metrics::delivery("b", "file"),
            ],
        };
        metrics
            .events_delivered
            .get_or_create(&Metrics::delivery("a", "file"))
            .inc_by(1000);
        metrics
            .events_delivered
            .get_or_create(&Metrics::delivery("b", "file"))
            .inc_by(204);
        metrics
            .stream_lag_seconds
            .get_or_create(&Metrics::stream("b", "Audit.General"))
            .set(41.6);
        metrics.health.tenant_failed("b", "AF10001");
        assert_eq!(
            progress.line(&metrics),
            "2 streams, 1204 events delivered, lag 42s; failing: b"
        );
    }

    #[test]
    fn notifications_reach_a_listening_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let (socket, address) = connect(path.to_str().unwrap()).unwrap();
        let notifier = Notifier {
            target: Some(Arc::new(Target {
                socket,
                address,
                path: path.display().to_string(),
            })),
        };
        notifier.ready("1 stream");
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=1 stream\n");
    }
}
