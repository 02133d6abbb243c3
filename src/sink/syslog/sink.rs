//! The syslog sink: frames a batch and hands it to one long-lived connection.
//!
//! TCP/TLS: the batch is written (one vectored write of framing bytes and the batch's own payloads, see
//! `framing`) and flushed in one go; `Delivered` means the write and flush succeeded. Any
//! error drops the connection and returns `Retry` for the whole batch (at-least-once: the pipeline resends it,
//! the next `send` reconnects). Before each write the sink checks that the receiver has not closed the stream,
//! since a write into a half-closed TCP connection succeeds locally and is lost. What was written on a stream
//! that then breaks may still have sat unread in the receiver's buffers, so the first write on the next
//! connection resends it (the last [`replay::REPLAY_BYTES`](super::replay) at most; duplicates possible, see
//! `replay`). Connection attempts are spaced by a jittered exponential backoff, reported to the pipeline as
//! `retry_after`.
//!
//! UDP: one datagram per message; sent is acknowledged (best effort, nothing confirms delivery).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::config::{Framing, SyslogSinkConfig, Transport};
use super::encoder::{Encoder, Fit};
use super::framing::Framed;
use super::replay::Replay;
use super::transport::{Backoff, ConnectError, Connection, Endpoint};
use crate::sink::{EncodedBatch, ItemOutcome, SendOutcome, Sink, SinkError};

/// A syslog destination over UDP, TCP or TLS.
pub(crate) struct SyslogSink {
    name: String,
    transport: Transport,
    framing: Framing,
    endpoint: Endpoint,
    encoder: Encoder,
    connection: Option<Connection>,
    backoff: Backoff,
    /// Why the last connection attempt failed (repeated while waiting for the next one).
    last_connect_error: Option<String>,
    /// What was written on the current stream and may not have been read by the receiver yet.
    replay: Replay,
    /// The header of one message before framing (for UDP, the whole message).
    scratch: Vec<u8>,
    truncated: Arc<AtomicU64>,
}

// === impl SyslogSink ===

impl SyslogSink {
    pub(crate) fn new(config: &SyslogSinkConfig, endpoint: Endpoint) -> SyslogSink {
        SyslogSink {
            name: config.name.clone(),
            transport: config.transport,
            framing: config.effective_framing(),
            endpoint,
            encoder: Encoder::new(config),
            connection: None,
            backoff: Backoff::default(),
            last_connect_error: None,
            replay: Replay::default(),
            scratch: Vec::new(),
            truncated: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Messages whose MSG was truncated to `max_message_bytes` so far (also logged with each truncation).
    #[cfg(test)]
    pub(crate) fn truncated_messages(&self) -> u64 {
        self.truncated.load(Ordering::Relaxed)
    }

    /// Writes the header of item `position` of `batch` into `scratch` and returns how many bytes of its
    /// payload follow it (all, or fewer when truncated to `max_message_bytes`); `Err` carries the reason it
    /// cannot be sent.
    fn encode_header(&mut self, batch: &EncodedBatch, position: usize) -> Result<usize, String> {
        let item = &batch.items()[position];
        let event = batch.event(item);
        let payload = batch.payload(item);
        self.scratch.clear();
        let fit = self
            .encoder
            .header(batch.tenant(), event, payload, &mut self.scratch)
            .map_err(|error| error.to_string())?;
        if let Fit::Truncated { original, kept } = fit {
            let total = self.truncated.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                sink = %self.name,
                record_id = %event.record.id,
                payload_bytes = original,
                kept_bytes = kept,
                max_message_bytes = self.encoder.max_message_bytes(),
                truncated_total = total,
                "syslog message truncated to max_message_bytes"
            );
        }
        Ok(fit.kept(payload.len()))
    }

    /// Makes sure a connection is open, connecting first if needed (unless the backoff says not yet).
    async fn connect(&mut self) -> Result<(), (SinkError, Duration)> {
        if let Some(connection) = &mut self.connection {
            if connection.peer_closed() {
                tracing::info!(sink = %self.name, address = %self.endpoint.address,
                    "syslog receiver closed the connection; reconnecting");
                self.connection = None;
                self.replay.connection_broken();
            }
        }
        if self.connection.is_none() {
            let wait = self.backoff.remaining();
            if !wait.is_zero() {
                let last = self
                    .last_connect_error
                    .as_deref()
                    .unwrap_or("connection lost");
                let message = format!("{last} (next attempt in {} ms)", wait.as_millis());
                return Err((self.connect_error(message), wait));
            }
            let result = match self.transport {
                Transport::Udp => self.endpoint.connect_udp().await,
                _ => self.endpoint.connect_stream().await,
            };
            match result {
                Ok(connection) => {
                    self.backoff.succeeded();
                    self.last_connect_error = None;
                    tracing::info!(sink = %self.name, address = %self.endpoint.address,
                        transport = self.transport.as_str(), "syslog sink connected");
                    self.connection = Some(connection);
                }
                Err(error) => {
                    let delay = self.backoff.failed();
                    let message = match error {
                        ConnectError::Failed(message) => message,
                        ConnectError::TimedOut(timeout) => {
                            format!("no connection within {timeout:?} (timeout); check that the receiver listens")
                        }
                    };
                    tracing::warn!(sink = %self.name, address = %self.endpoint.address,
                        retry_in = ?delay, error = %message, "syslog connection failed");
                    self.last_connect_error = Some(message.clone());
                    return Err((self.connect_error(message), delay));
                }
            }
        }
        Ok(())
    }

    fn connect_error(&self, message: String) -> SinkError {
        SinkError::Connect {
            sink: self.name.clone(),
            address: self.endpoint.address.clone(),
            message,
        }
    }

    fn write_failed(&mut self, source: std::io::Error) -> SinkError {
        tracing::warn!(sink = %self.name, address = %self.endpoint.address, error = %source,
            "syslog write failed; dropping the connection, the batch will be resent");
        self.connection = None;
        self.replay.connection_broken();
        SinkError::Io {
            sink: format!("{} ({})", self.name, self.endpoint.address),
            source,
        }
    }

    async fn send_stream(&mut self, batch: &EncodedBatch) -> SendOutcome {
        // The framing bytes (a header of at most about 200 bytes per message) go into one buffer; the
        // payloads stay in the batch's buffer and are written from there.
        let mut framed = Framed::with_capacity(batch.len(), batch.len() * 200);
        let mut outcomes = Vec::with_capacity(batch.len());
        for (position, item) in batch.items().iter().enumerate() {
            match self.encode_header(batch, position) {
                Ok(kept) => {
                    let payload = batch.shared_payload(item).slice(..kept);
                    framed.push(self.framing, &self.scratch, payload);
                    outcomes.push(ItemOutcome::Delivered);
                }
                Err(reason) => outcomes.push(ItemOutcome::Rejected { reason }),
            }
        }
        // What keeping this batch for a replay holds in memory: the batch's buffer and the framing bytes.
        let retained = batch.encoded_len() + framed.copied();
        let segments = framed.into_segments();
        if let Err((error, retry_after)) = self.connect().await {
            return SendOutcome::Retry {
                error,
                retry_after: Some(retry_after),
            };
        }
        // A replay that is due goes out first, in the same vectored write.
        let replay = self.replay.due();
        let replayed = replay
            .as_ref()
            .map_or(0, |replay| replay.iter().map(Bytes::len).sum::<usize>());
        let timeout = self.endpoint.timeout;
        let result = match (self.connection.as_mut(), replay) {
            (Some(connection), None) => connection.write_segments(&segments, timeout).await,
            (Some(connection), Some(mut replay)) => {
                replay.extend(segments.iter().cloned());
                connection.write_segments(&replay, timeout).await
            }
            (None, _) => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
        };
        match result {
            Ok(()) => {
                if replayed > 0 {
                    tracing::info!(sink = %self.name, address = %self.endpoint.address,
                        replayed_bytes = replayed,
                        "resent what was written on the broken connection (duplicates possible)");
                }
                self.replay.written(segments, retained);
                finish(outcomes)
            }
            Err(source) => SendOutcome::Retry {
                error: self.write_failed(source),
                retry_after: None,
            },
        }
    }

    async fn send_udp(&mut self, batch: &EncodedBatch) -> SendOutcome {
        let mut outcomes = Vec::with_capacity(batch.len());
        for position in 0..batch.len() {
            let payload = match self.encode_header(batch, position) {
                Ok(kept) => &batch.payload(&batch.items()[position])[..kept],
                Err(reason) => {
                    outcomes.push(ItemOutcome::Rejected { reason });
                    continue;
                }
            };
            // A datagram is the message itself: header and payload in one buffer.
            self.scratch.extend_from_slice(payload);
            if let Err((error, retry_after)) = self.connect().await {
                return retry_rest(outcomes, batch.len(), error, Some(retry_after));
            }
            let result = match &self.connection {
                Some(connection) => connection.send_datagram(&self.scratch).await,
                None => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
            };
            match result {
                Ok(()) => outcomes.push(ItemOutcome::Delivered),
                Err(source) => {
                    let error = self.write_failed(source);
                    return retry_rest(outcomes, batch.len(), error, None);
                }
            }
        }
        finish(outcomes)
    }
}

/// `Delivered` when every item is, else the per-item outcomes.
fn finish(outcomes: Vec<ItemOutcome>) -> SendOutcome {
    if outcomes
        .iter()
        .all(|outcome| *outcome == ItemOutcome::Delivered)
    {
        SendOutcome::Delivered
    } else {
        SendOutcome::Partial(outcomes)
    }
}

/// The items before the failure keep their outcomes, the rest are to be retried.
fn retry_rest(
    mut outcomes: Vec<ItemOutcome>,
    len: usize,
    error: SinkError,
    retry_after: Option<Duration>,
) -> SendOutcome {
    if outcomes.is_empty() {
        return SendOutcome::Retry { error, retry_after };
    }
    let reason = error.to_string();
    outcomes.resize(
        len,
        ItemOutcome::Retry {
            reason,
            retry_after,
        },
    );
    SendOutcome::Partial(outcomes)
}

#[async_trait::async_trait]
impl Sink for SyslogSink {
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome {
        if batch.is_empty() {
            return SendOutcome::Delivered;
        }
        match self.transport {
            Transport::Udp => self.send_udp(batch).await,
            _ => self.send_stream(batch).await,
        }
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        if self.transport == Transport::Udp {
            tracing::warn!(sink = %self.name, address = %self.endpoint.address,
                "syslog over UDP is best effort: nothing confirms that the receiver got a message, \
                 and a lost datagram is lost for good; prefer tcp, tls or relp");
        }
        // An attempt now, whatever the backoff says: `check` wants a verdict. A live connection is kept.
        self.backoff.succeeded();
        self.connect().await.map_err(|(error, _)| error)
    }
}

#[cfg(test)]
mod tests {

    use bytestring::ByteString;

    use super::*;
    use crate::encode::Format;
    use crate::event::{Event, NormalizeContext, Record};

    fn batch(payload_bytes: usize) -> EncodedBatch {
        let record = Record {
            raw: ByteString::from("é".repeat(payload_bytes / 2)),
            id: "id-1".into(),
            record_type: 28,
            operation: "TIMailData".into(),
            creation_time: "2025-11-24T10:03:19".into(),
            large: Default::default(),
            single_line: false,
        };
        let context = NormalizeContext {
            tenant: "contoso".into(),
            fetched_at: chrono::Utc::now(),
            dataset: "Audit.General".into(),
            include_original: false,
        };
        let events = vec![Event::from_record(record, &context)];
        EncodedBatch::encode(Format::Json, "contoso".into(), events, 0..1)
    }

    fn udp_sink(address: String) -> SyslogSink {
        let config: SyslogSinkConfig = serde_json::from_value(serde_json::json!({
            "name": "soc", "address": address, "transport": "udp",
        }))
        .expect("config");
        let endpoint = Endpoint {
            address,
            tls: None,
            timeout: Duration::from_secs(5),
        };
        SyslogSink::new(&config, endpoint)
    }

    #[tokio::test]
    async fn a_long_udp_message_is_truncated_to_2048_bytes_and_counted() {
        let receiver = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = receiver.local_addr().expect("addr").to_string();
        let mut sink = udp_sink(address);
        assert!(matches!(
            sink.send(&batch(100)).await,
            SendOutcome::Delivered
        ));
        assert!(matches!(
            sink.send(&batch(5000)).await,
            SendOutcome::Delivered
        ));
        let mut datagram = vec![0u8; 65536];
        let short = receiver.recv(&mut datagram).await.expect("first datagram");
        assert!(short < 300);
        let long = receiver.recv(&mut datagram).await.expect("second datagram");
        // 2047 when a 2-byte character would have crossed the limit (the header length depends on the host).
        assert!(long == 2048 || long == 2047, "{long}");
        assert!(std::str::from_utf8(&datagram[..long]).is_ok());
        assert_eq!(sink.truncated_messages(), 1);
    }

    #[tokio::test]
    async fn a_stream_closed_by_the_receiver_is_not_written_to_but_reconnected() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let config: SyslogSinkConfig = serde_json::from_value(serde_json::json!({
            "name": "soc", "address": address, "transport": "tcp",
        }))
        .expect("config");
        let endpoint = Endpoint {
            address,
            tls: None,
            timeout: Duration::from_secs(5),
        };
        let mut sink = SyslogSink::new(&config, endpoint);
        sink.probe().await.expect("connects");
        let (first, _) = listener.accept().await.expect("accept");
        drop(first); // the receiver goes away (FIN)
        tokio::time::sleep(Duration::from_millis(50)).await;
        let batch = batch(10);
        let send = sink.send(&batch);
        let (delivered, accepted) = tokio::join!(send, listener.accept());
        assert!(matches!(delivered, SendOutcome::Delivered), "{delivered:?}");
        let (mut second, _) = accepted.expect("reconnected");
        let mut received = vec![0u8; 4096];
        let read = tokio::io::AsyncReadExt::read(&mut second, &mut received)
            .await
            .expect("read");
        assert!(read > 0, "the batch arrives on the new connection");
    }
}
