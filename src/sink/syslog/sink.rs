//! The syslog sink: encodes a batch into one buffer and hands it to one long-lived connection.
//!
//! TCP/TLS: the batch is written and flushed in one go; `Delivered` means the write and flush succeeded. Any
//! error drops the connection and returns `Retry` for the whole batch (at-least-once: the pipeline resends it,
//! the next `send` reconnects). Before each write the sink checks that the receiver has not closed the stream,
//! since a write into a half-closed TCP connection succeeds locally and is lost. Connection attempts are spaced
//! by a jittered exponential backoff, reported to the pipeline as `retry_after`.
//!
//! UDP: one datagram per message; sent is acknowledged (best effort, nothing confirms delivery).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::config::{Framing, SyslogSinkConfig, Transport};
use super::encoder::{Encoder, Fit};
use super::framing::frame;
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
    /// Framed messages of the batch being sent.
    buf: Vec<u8>,
    /// One message before framing.
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
            buf: Vec::new(),
            scratch: Vec::new(),
            truncated: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Messages whose MSG was truncated to `max_message_bytes` so far (also logged with each truncation).
    #[cfg(test)]
    pub(crate) fn truncated_messages(&self) -> u64 {
        self.truncated.load(Ordering::Relaxed)
    }

    /// Encodes item `position` of `batch` into `scratch`; `Err` carries the reason it cannot be sent.
    fn encode_item(&mut self, batch: &EncodedBatch, position: usize) -> Result<(), String> {
        let item = &batch.items()[position];
        let event = batch.event(item);
        self.scratch.clear();
        match self.encoder.encode(
            batch.tenant(),
            event,
            batch.payload(item),
            &mut self.scratch,
        ) {
            Ok(Fit::Whole) => Ok(()),
            Ok(Fit::Truncated { original, kept }) => {
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
                Ok(())
            }
            Err(error) => Err(error.to_string()),
        }
    }

    /// The open connection, connecting first if needed (unless the backoff says not yet).
    async fn connection(&mut self) -> Result<&mut Connection, (SinkError, Duration)> {
        if let Some(connection) = &mut self.connection {
            if connection.peer_closed() {
                tracing::info!(sink = %self.name, address = %self.endpoint.address,
                    "syslog receiver closed the connection; reconnecting");
                self.connection = None;
            }
        }
        if self.connection.is_none() {
            let wait = self.backoff.remaining();
            if !wait.is_zero() {
                return Err((
                    self.connect_error("waiting before reconnecting".into()),
                    wait,
                ));
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
        let error = self.connect_error("not connected".into());
        self.connection.as_mut().ok_or((error, Duration::ZERO))
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
        SinkError::Io {
            sink: format!("{} ({})", self.name, self.endpoint.address),
            source,
        }
    }

    async fn send_stream(&mut self, batch: &EncodedBatch) -> SendOutcome {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut outcomes = Vec::with_capacity(batch.len());
        for position in 0..batch.len() {
            match self.encode_item(batch, position) {
                Ok(()) => {
                    frame(self.framing, &self.scratch, &mut buf);
                    outcomes.push(ItemOutcome::Delivered);
                }
                Err(reason) => outcomes.push(ItemOutcome::Rejected { reason }),
            }
        }
        let timeout = self.endpoint.timeout;
        let result = match self.connection().await {
            Ok(connection) => connection.write_all(&buf, timeout).await,
            Err((error, retry_after)) => {
                self.buf = buf;
                return SendOutcome::Retry {
                    error,
                    retry_after: Some(retry_after),
                };
            }
        };
        self.buf = buf;
        match result {
            Ok(()) => finish(outcomes),
            Err(source) => SendOutcome::Retry {
                error: self.write_failed(source),
                retry_after: None,
            },
        }
    }

    async fn send_udp(&mut self, batch: &EncodedBatch) -> SendOutcome {
        let mut outcomes = Vec::with_capacity(batch.len());
        for position in 0..batch.len() {
            if let Err(reason) = self.encode_item(batch, position) {
                outcomes.push(ItemOutcome::Rejected { reason });
                continue;
            }
            let scratch = std::mem::take(&mut self.scratch);
            let result = match self.connection().await {
                Ok(connection) => connection.send_datagram(&scratch).await,
                Err((error, retry_after)) => {
                    self.scratch = scratch;
                    return retry_rest(outcomes, batch.len(), error, Some(retry_after));
                }
            };
            self.scratch = scratch;
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
        // A fresh attempt, whatever the backoff says: `check` wants a verdict now.
        self.backoff.succeeded();
        if let Some(connection) = self.connection.take() {
            connection.shutdown(self.endpoint.timeout).await;
        }
        self.connection()
            .await
            .map(|_| ())
            .map_err(|(error, _)| error)
    }
}
