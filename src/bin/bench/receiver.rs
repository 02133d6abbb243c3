//! A discarding syslog receiver over TCP with octet-counting framing (RFC 6587): it counts messages and, when asked, notes when each record `Id` (the `id="…"` structured-data parameter) arrived.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// What the receiver has seen so far.
#[derive(Default)]
pub struct Received {
    messages: AtomicU64,
    arrivals: Mutex<HashMap<String, Instant>>,
}

impl Received {
    /// Messages received.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// When each record Id last arrived (only when arrivals are tracked).
    pub fn arrivals(&self) -> HashMap<String, Instant> {
        self.arrivals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A listening receiver; it stops when dropped.
pub struct Receiver {
    /// Where the daemon sends to.
    pub addr: SocketAddr,
    /// The counters.
    pub received: Arc<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on a free loopback port; `track_ids` keeps the arrival time of every record Id.
pub async fn start(track_ids: bool) -> std::io::Result<Receiver> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(Received::default());
    let shared = received.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(drain(stream, shared.clone(), track_ids));
        }
    });
    Ok(Receiver {
        addr,
        received,
        task,
    })
}

/// Reads frames until the connection closes.
async fn drain(mut stream: TcpStream, received: Arc<Received>, track_ids: bool) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let consumed = frames(&buf, |message| {
            received.messages.fetch_add(1, Ordering::Relaxed);
            if track_ids {
                if let Some(id) = record_id(message) {
                    received
                        .arrivals
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(id.to_owned(), Instant::now());
                }
            }
        });
        buf.drain(..consumed);
    }
}

/// Calls `each` for every complete `LEN SP MSG` frame at the start of `buf`; returns the bytes consumed.
fn frames(buf: &[u8], mut each: impl FnMut(&[u8])) -> usize {
    let mut at = 0;
    while let Some(space) = buf[at..].iter().position(|&b| b == b' ') {
        let Some(len) = std::str::from_utf8(&buf[at..at + space])
            .ok()
            .and_then(|text| text.parse::<usize>().ok())
        else {
            // Not octet counting: give up on this buffer rather than spin.
            return buf.len();
        };
        let start = at + space + 1;
        if buf.len() < start + len {
            break;
        }
        each(&buf[start..start + len]);
        at = start + len;
    }
    at
}

/// The `id="…"` structured-data parameter of an RFC 5424 message.
fn record_id(message: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(message).ok()?;
    let start = text.find(" id=\"")? + 5;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}
