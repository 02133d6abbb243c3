//! Connections of the syslog sink: a connected UDP socket, a TCP stream or a TLS stream, and the jittered
//! exponential backoff between connection attempts.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use rand::Rng;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::sink::lines::MAX_SEGMENTS_PER_WRITE;

/// First reconnect delay.
const BACKOFF_BASE: Duration = Duration::from_millis(200);

/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where and how to connect.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// `host:port` as configured.
    pub(crate) address: String,
    /// TLS connector and the name to verify, for `tls` and `relp+tls`.
    pub(crate) tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Bound on connecting plus handshaking.
    pub(crate) timeout: Duration,
}

/// An open connection to the receiver.
pub(crate) enum Connection {
    /// A UDP socket connected to the receiver.
    Udp(UdpSocket),
    /// A TCP stream.
    Tcp(TcpStream),
    /// A TLS stream over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Why connecting failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Name resolution, TCP connect or the handshake failed; the message says which.
    Failed(String),
    /// No answer within the timeout.
    TimedOut(Duration),
}

// === impl Endpoint ===

impl Endpoint {
    /// Opens a stream (TCP, then TLS when configured), trying every resolved address in turn.
    pub(crate) async fn connect_stream(&self) -> Result<Connection, ConnectError> {
        tokio::time::timeout(self.timeout, self.connect_stream_inner())
            .await
            .unwrap_or(Err(ConnectError::TimedOut(self.timeout)))
    }

    async fn connect_stream_inner(&self) -> Result<Connection, ConnectError> {
        let mut last_error = None;
        for addr in self.resolve().await? {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    // Messages are written batch by batch; send each batch as soon as it is written.
                    let _ = stream.set_nodelay(true);
                    let Some((connector, name)) = &self.tls else {
                        return Ok(Connection::Tcp(stream));
                    };
                    let mut tls = connector
                        .connect(name.clone(), stream)
                        .await
                        .map_err(|error| ConnectError::Failed(super::tls::explain(&error)))?;
                    settle(&mut tls).await?;
                    return Ok(Connection::Tls(Box::new(tls)));
                }
                Err(error) => last_error = Some(format!("{addr}: {error}")),
            }
        }
        Err(ConnectError::Failed(
            last_error.unwrap_or_else(|| "no address".into()),
        ))
    }

    /// Opens a UDP socket connected to the first resolved address (no packet is sent).
    pub(crate) async fn connect_udp(&self) -> Result<Connection, ConnectError> {
        let addr = self.resolve().await?[0];
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|error| ConnectError::Failed(format!("UDP socket: {error}")))?;
        socket
            .connect(addr)
            .await
            .map_err(|error| ConnectError::Failed(format!("{addr}: {error}")))?;
        Ok(Connection::Udp(socket))
    }

    async fn resolve(&self) -> Result<Vec<SocketAddr>, ConnectError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&self.address)
            .await
            .map_err(|error| ConnectError::Failed(format!("cannot resolve: {error}")))?
            .collect();
        if addrs.is_empty() {
            return Err(ConnectError::Failed(
                "the name resolves to no address".into(),
            ));
        }
        Ok(addrs)
    }
}

/// How long a fresh TLS session is watched for a refusal before it is used.
const TLS_SETTLE: Duration = Duration::from_millis(300);

/// Waits briefly for the receiver to refuse a fresh TLS session. A receiver checks the client certificate
/// after the handshake has completed on our side (TLS 1.3, and rsyslog's own peer checks), then closes: a
/// batch written at once would be "written" and lost.
async fn settle(tls: &mut TlsStream<TcpStream>) -> Result<(), ConnectError> {
    let mut byte = [0u8; 1];
    let closed = |kind: io::ErrorKind| {
        matches!(
            kind,
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
        )
    };
    match tokio::time::timeout(TLS_SETTLE, tls.read(&mut byte)).await {
        Err(_elapsed) => Ok(()),
        Ok(Ok(0)) => Err(refused_after_handshake()),
        Ok(Err(error)) if closed(error.kind()) => Err(refused_after_handshake()),
        Ok(Ok(_)) => Err(ConnectError::Failed(
            "the receiver sent data on a syslog stream; is this a syslog receiver?".into(),
        )),
        Ok(Err(error)) => Err(ConnectError::Failed(super::tls::explain(&error))),
    }
}

fn refused_after_handshake() -> ConnectError {
    ConnectError::Failed(
            "the receiver closed the TLS session right after the handshake; it probably refused our client \
             certificate: if it requires mutual TLS, set client_cert_file and client_key_file to a certificate \
             its CA trusts"
            .into(),
    )
}

// === impl Connection ===

impl Connection {
    /// True when the receiver closed or reset the stream. Syslog receivers never send, so anything readable
    /// means the end: writing into such a stream would "succeed" and the data would be lost.
    pub(crate) fn peer_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self {
            Connection::Udp(_) => false,
            Connection::Tcp(stream) => match stream.try_read(&mut byte) {
                Ok(_) => true,
                Err(error) => error.kind() != io::ErrorKind::WouldBlock,
            },
            // Ready at all (data, close_notify, EOF or an error) means the session is over.
            Connection::Tls(stream) => stream.read(&mut byte).now_or_never().is_some(),
        }
    }

    /// Reads what the receiver sent (RELP responses); `Ok(0)` at the end of the stream.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Connection::Udp(socket) => socket.recv(buf).await,
            Connection::Tcp(stream) => stream.read(buf).await,
            Connection::Tls(stream) => stream.read(buf).await,
        }
    }

    /// Writes `buf` completely and flushes it, within `timeout`.
    pub(crate) async fn write_all(&mut self, buf: &[u8], timeout: Duration) -> io::Result<()> {
        let write = async {
            match self {
                Connection::Udp(socket) => socket.send(buf).await.map(|_| ()),
                Connection::Tcp(stream) => {
                    stream.write_all(buf).await?;
                    stream.flush().await
                }
                Connection::Tls(stream) => {
                    stream.write_all(buf).await?;
                    stream.flush().await
                }
            }
        };
        within(timeout, write).await
    }

    /// Writes `segments` completely, in order, with vectored writes, and flushes them, within `timeout`
    /// (streams only).
    pub(crate) async fn write_segments(
        &mut self,
        segments: &[Bytes],
        timeout: Duration,
    ) -> io::Result<()> {
        let write = async {
            match self {
                Connection::Udp(_) => Err(io::Error::other("not a stream connection")),
                Connection::Tcp(stream) => write_vectored_all(stream, segments).await,
                Connection::Tls(stream) => write_vectored_all(stream.as_mut(), segments).await,
            }
        };
        within(timeout, write).await
    }

    /// Sends one datagram (UDP only). A refusal reported for an earlier datagram (ICMP port unreachable) is
    /// not this datagram's fate, so the send is tried once more before giving up.
    pub(crate) async fn send_datagram(&self, datagram: &[u8]) -> io::Result<()> {
        let Connection::Udp(socket) = self else {
            return Err(io::Error::other("not a UDP connection"));
        };
        match socket.send(datagram).await {
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                socket.send(datagram).await.map(|_| ())
            }
            other => other.map(|_| ()),
        }
    }
}

/// Delays between connection attempts: doubling from 200 ms up to 30 s, each drawn from [d/2, d].
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

// === impl Backoff ===

impl Backoff {
    /// How long to wait before the next attempt is allowed (zero when it is allowed now).
    pub(crate) fn remaining(&self) -> Duration {
        self.not_before
            .map(|at| at.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }

    /// Records a failed attempt; returns the delay before the next one.
    pub(crate) fn failed(&mut self) -> Duration {
        let ceiling = BACKOFF_BASE
            .saturating_mul(1u32 << self.failures.min(16))
            .min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        let delay = rand::thread_rng().gen_range(ceiling / 2..=ceiling);
        self.not_before = Some(Instant::now() + delay);
        delay
    }

    /// Records a success: the next failure starts from the first delay again.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
        self.not_before = None;
    }
}

/// Shared handle to a TLS client configuration.
pub(crate) fn connector(config: Arc<rustls::ClientConfig>) -> TlsConnector {
    TlsConnector::from(config)
}

/// `write`'s result, or a `TimedOut` error when it does not complete within `timeout`.
async fn within(
    timeout: Duration,
    write: impl std::future::Future<Output = io::Result<()>>,
) -> io::Result<()> {
    tokio::time::timeout(timeout, write)
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("write not completed within {timeout:?}"),
            ))
        })
}

/// Writes all of `segments` with as few `writev` calls as the stream takes, then flushes. Neither tokio nor
/// `bytes` offers a vectored `write_all` over a list of buffers, so this loop advances over partial writes.
async fn write_vectored_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    segments: &[Bytes],
) -> io::Result<()> {
    let mut slices: Vec<io::IoSlice<'_>> = segments
        .iter()
        .filter(|segment| !segment.is_empty())
        .map(|segment| io::IoSlice::new(segment))
        .collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let end = rest.len().min(MAX_SEGMENTS_PER_WRITE);
        let written = stream.write_vectored(&rest[..end]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        io::IoSlice::advance_slices(&mut rest, written);
    }
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stays_bounded() {
        let mut backoff = Backoff::default();
        let first = backoff.failed();
        assert!(first >= BACKOFF_BASE / 2 && first <= BACKOFF_BASE);
        let second = backoff.failed();
        assert!(second >= BACKOFF_BASE && second <= BACKOFF_BASE * 2);
        for _ in 0..40 {
            assert!(backoff.failed() <= BACKOFF_MAX);
        }
        assert!(backoff.remaining() > Duration::ZERO);
        backoff.succeeded();
        assert_eq!(backoff.remaining(), Duration::ZERO);
    }

    /// More segments than one `writev` takes, through a pipe too small for one write: every byte arrives,
    /// in order, across the partial writes.
    #[tokio::test]
    async fn vectored_writes_deliver_every_segment_in_order_across_partial_writes() {
        let segments: Vec<Bytes> = (0..3000)
            .map(|index: usize| match index % 3 {
                0 => Bytes::from(format!("{index} ")),
                1 => Bytes::new(),
                _ => Bytes::from(vec![b'a' + (index % 26) as u8; index % 700]),
            })
            .collect();
        let expected: Vec<u8> = segments.iter().flat_map(|s| s.iter().copied()).collect();
        let (mut writer, mut reader) = tokio::io::duplex(4096);
        let read = tokio::spawn(async move {
            let mut received = Vec::new();
            reader.read_to_end(&mut received).await.map(|_| received)
        });
        write_vectored_all(&mut writer, &segments)
            .await
            .expect("written");
        drop(writer);
        let received = read.await.expect("reader task").expect("read");
        assert_eq!(received.len(), expected.len());
        assert!(received == expected, "bytes out of order");
    }

    #[tokio::test]
    async fn a_tcp_stream_takes_a_vectored_batch_larger_than_iov_max() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("addr");
        let read = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut received = Vec::new();
            stream.read_to_end(&mut received).await.map(|_| received)
        });
        let segments: Vec<Bytes> = (0..MAX_SEGMENTS_PER_WRITE * 3 + 7)
            .map(|index| Bytes::from(format!("<{index}>")))
            .collect();
        let mut connection = Connection::Tcp(TcpStream::connect(address).await.expect("connect"));
        connection
            .write_segments(&segments, Duration::from_secs(10))
            .await
            .expect("written");
        drop(connection);
        let received = read.await.expect("reader task").expect("read");
        let expected: Vec<u8> = segments.iter().flat_map(|s| s.iter().copied()).collect();
        assert!(received == expected, "bytes lost or out of order");
    }
}
