//! Phase 3, second part: memory while the SIEM is down.
//!
//! A history where ATP records are sparse, as in a real tenant's `Audit.General` (2 %, not the bulk
//! history's 30 %), runs through the daemon (`run`, not `--once`) into a TCP syslog receiver that accepts
//! the connection and never reads. Once the socket buffers are full, the sink retries and the streams wait
//! on its queue. The phase holds that state for a while, stops the daemon and reports its peak RSS.
//!
//! What it guards: a record in flight costs its own bytes, not the buffer it arrived in. Keeping records
//! as slices of their body chunk (BENCHMARKS.md step 50) nearly doubled this number.

use std::path::Path;
use std::time::Duration;

use atp_forwarder::encode::Format;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::child::{self, Usage};
use crate::floor::ATP_TYPES;
use crate::setup::{self, SinkSpec, Workdir, TENANT};

/// Share of the history's records that are ATP types.
pub const ATP_FRACTION: f64 = 0.02;
/// Blobs in the history.
const BLOBS: u32 = 120;
/// Records per blob.
const RECORDS_PER_BLOB: usize = 5000;
/// The receiver's socket buffer: as small as the kernel allows, so that the sink stalls at once.
const RECEIVE_BUFFER: u32 = 4096;

/// What the phase measured.
#[derive(Debug)]
pub struct Stalled {
    /// The daemon's cost, peak RSS included.
    pub usage: Usage,
    /// How long the sink stayed stalled before the daemon was stopped.
    pub hold: Duration,
    /// Records in the history.
    pub history_records: u64,
    /// ATP records in the history.
    pub atp_records: u64,
    /// Records in the blobs the daemon fetched before it was stopped.
    pub records_fetched: u64,
}

/// Runs the phase: the daemon into a receiver that never reads, stopped after `hold`.
pub async fn stalled_sink(bin: &Path, hold: Duration) -> anyhow::Result<Stalled> {
    let blob_interval = Duration::from_secs(180);
    let emulator = setup::emulator(|config| {
        config.history = blob_interval * BLOBS;
        config.blob_interval = blob_interval;
        config.records_per_blob = RECORDS_PER_BLOB;
        config.atp_fraction = ATP_FRACTION;
    })
    .await?;
    let listener = listener_that_never_reads()?;
    let addr = listener.local_addr()?;
    let holder = tokio::spawn(hold_connections(listener));
    let work = Workdir::new()?;
    let sink = SinkSpec::Syslog {
        addr,
        format: Format::Ecs.name(),
    };
    // The stalled sink cannot drain at shutdown: the daemon gives up after this and exits.
    let config = work.config(&emulator, &sink, "shutdown_timeout = \"2s\"", "")?;
    let config = config.to_string_lossy().into_owned();
    let stop = CancellationToken::new();
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            stop.cancel();
        })
    };
    let args = ["run", "--config", config.as_str()];
    let usage = child::run(bin, &args, &work.path("daemon.log"), Some(stop)).await;
    timer.abort();
    holder.abort();
    let usage = usage?;
    let atp_records = emulator.expected_records(TENANT, &ATP_TYPES).len() as u64;
    let records_fetched = emulator.stats().records_served;
    emulator.shutdown().await;
    anyhow::ensure!(
        usage.log.contains("syslog write failed"),
        "the sink never stalled (no \"syslog write failed\" in the daemon's log):\n{}",
        child::tail(&usage.log)
    );
    Ok(Stalled {
        usage,
        hold,
        history_records: u64::from(BLOBS) * RECORDS_PER_BLOB as u64,
        atp_records,
        records_fetched,
    })
}

/// A loopback listener whose accepted sockets have the smallest receive buffer.
fn listener_that_never_reads() -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(RECEIVE_BUFFER)?;
    socket.bind("127.0.0.1:0".parse().map_err(std::io::Error::other)?)?;
    socket.listen(16)
}

/// Accepts connections and keeps them open without reading, until aborted.
async fn hold_connections(listener: TcpListener) {
    let mut held: Vec<TcpStream> = Vec::new();
    while let Ok((stream, _)) = listener.accept().await {
        held.push(stream);
    }
}
