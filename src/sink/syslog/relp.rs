//! RELP transport (Reliable Event Logging Protocol): syslog messages acknowledged one by one by the receiver.
//!
//! Written from the protocol's public description (librelp is GPL: no FFI, no code taken from it). A session
//! starts with `open` (offers `relp_version=0`, `relp_software`, `commands=syslog`) answered by `rsp 200`; each
//! message is a `syslog` command with its own transaction number; the receiver answers each with `rsp 200`
//! (or `500` on an error); `close` ends the session and the receiver may end it with `serverclose`.
//!
//! Acknowledgement: an event is delivered only when its transaction's `rsp 200` arrived. At most
//! `relp_window` transactions wait for their answer at once (backpressure: memory does not grow with a slow
//! receiver). When the session breaks (an I/O error, a timeout, `serverclose`), everything not yet answered is
//! returned as `Retry` and resent on the next session: RELP may duplicate after a broken session, it never
//! loses. How durable `rsp 200` is depends on the receiver (rsyslog answers once the message is in its queue;
//! a disk-assisted or direct queue makes that survive a crash).

mod frame;

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use frame::{next_txnr, parse_frame, write_frame, Frame, Response};

use super::config::SyslogSinkConfig;
use super::encoder::{Encoder, Fit};
use super::transport::{Backoff, ConnectError, Connection, Endpoint};
use crate::sink::{EncodedBatch, ItemOutcome, SendOutcome, Sink, SinkError};

/// What we offer when opening a session.
fn open_offers() -> String {
    format!(
        "relp_version=0\nrelp_software=atp-forwarder,{}\ncommands=syslog",
        env!("CARGO_PKG_VERSION")
    )
}

/// A RELP destination.
pub(crate) struct RelpSink {
    name: String,
    endpoint: Endpoint,
    encoder: Encoder,
    window: usize,
    session: Option<Session>,
    backoff: Backoff,
    last_connect_error: Option<String>,
    /// The batch's messages (unframed), one range per item.
    messages: Vec<u8>,
    /// Frames to write next.
    out: Vec<u8>,
}

/// An open RELP session.
struct Session {
    connection: Connection,
    txnr: u32,
    read_buf: Vec<u8>,
    timeout: Duration,
}

// === impl RelpSink ===

impl RelpSink {
    pub(crate) fn new(config: &SyslogSinkConfig, endpoint: Endpoint) -> RelpSink {
        RelpSink {
            name: config.name.clone(),
            endpoint,
            encoder: Encoder::new(config),
            window: config.relp_window,
            session: None,
            backoff: Backoff::default(),
            last_connect_error: None,
            messages: Vec::new(),
            out: Vec::new(),
        }
    }

    fn connect_error(&self, message: String) -> SinkError {
        SinkError::Connect {
            sink: self.name.clone(),
            address: self.endpoint.address.clone(),
            message,
        }
    }

    /// Opens a session unless one is open (and the backoff allows an attempt).
    async fn connect(&mut self) -> Result<(), (SinkError, Duration)> {
        if self.session.is_some() {
            return Ok(());
        }
        let wait = self.backoff.remaining();
        if !wait.is_zero() {
            let last = self.last_connect_error.as_deref().unwrap_or("session lost");
            let message = format!("{last} (next attempt in {} ms)", wait.as_millis());
            return Err((self.connect_error(message), wait));
        }
        let result = match self.endpoint.connect_stream().await {
            Ok(connection) => Session::open(connection, self.endpoint.timeout).await,
            Err(ConnectError::Failed(message)) => Err(message),
            Err(ConnectError::TimedOut(timeout)) => Err(format!(
                "no connection within {timeout:?} (timeout); check that the receiver listens"
            )),
        };
        match result {
            Ok(session) => {
                self.backoff.succeeded();
                self.last_connect_error = None;
                tracing::info!(sink = %self.name, address = %self.endpoint.address, "RELP session open");
                self.session = Some(session);
                Ok(())
            }
            Err(message) => {
                let delay = self.backoff.failed();
                tracing::warn!(sink = %self.name, address = %self.endpoint.address, retry_in = ?delay,
                    error = %message, "RELP session could not be opened");
                self.last_connect_error = Some(message.clone());
                Err((self.connect_error(message), delay))
            }
        }
    }

    /// Encodes every item; returns each item's message range or its rejection.
    fn encode(&mut self, batch: &EncodedBatch) -> Vec<Result<Range<usize>, String>> {
        self.messages.clear();
        let mut ranges = Vec::with_capacity(batch.len());
        for item in batch.items() {
            let event = batch.event(item);
            let start = self.messages.len();
            match self.encoder.encode(
                batch.tenant(),
                event,
                batch.payload(item),
                &mut self.messages,
            ) {
                Ok(fit) => {
                    if let Fit::Truncated { original, kept } = fit {
                        tracing::warn!(sink = %self.name, record_id = %event.record.id,
                            payload_bytes = original, kept_bytes = kept,
                            "syslog message truncated to max_message_bytes");
                    }
                    ranges.push(Ok(start..self.messages.len()));
                }
                Err(error) => ranges.push(Err(error.to_string())),
            }
        }
        ranges
    }

    /// Sends the messages through the session, keeping at most `window` unanswered; fills `outcomes`.
    /// Returns why the session broke, if it did (the unanswered items are then left as `None`).
    async fn exchange(
        &mut self,
        ranges: &[Result<Range<usize>, String>],
        outcomes: &mut [Option<ItemOutcome>],
    ) -> Result<(), String> {
        let Some(session) = self.session.as_mut() else {
            return Err("no session".into());
        };
        let mut pending = ranges
            .iter()
            .enumerate()
            .filter_map(|(position, range)| range.as_ref().ok().map(|range| (position, range)));
        let mut in_flight: HashMap<u32, usize> = HashMap::with_capacity(self.window);
        let mut exhausted = false;
        loop {
            self.out.clear();
            while !exhausted && in_flight.len() < self.window {
                match pending.next() {
                    Some((position, range)) => {
                        let txnr = session.take_txnr();
                        write_frame(&mut self.out, txnr, "syslog", &self.messages[range.clone()]);
                        in_flight.insert(txnr, position);
                    }
                    None => exhausted = true,
                }
            }
            if !self.out.is_empty() {
                session
                    .connection
                    .write_all(&self.out, session.timeout)
                    .await
                    .map_err(|error| format!("write failed: {error}"))?;
            }
            if in_flight.is_empty() {
                return Ok(());
            }
            let frame = session.next_frame().await?;
            match frame.command.as_str() {
                "rsp" => {
                    let Some(position) = in_flight.remove(&frame.txnr) else {
                        return Err(format!("answer for unknown transaction {}", frame.txnr));
                    };
                    let response =
                        Response::parse(&frame.data).map_err(|error| error.to_string())?;
                    outcomes[position] = Some(if response.code == 200 {
                        ItemOutcome::Delivered
                    } else {
                        ItemOutcome::Retry {
                            reason: format!(
                                "sink {}: the RELP receiver answered {} {}",
                                self.name, response.code, response.message
                            ),
                            retry_after: None,
                        }
                    });
                }
                "serverclose" => return Err("the receiver closed the session (serverclose)".into()),
                other => return Err(format!("unexpected RELP command `{other}`")),
            }
        }
    }
}

#[async_trait::async_trait]
impl Sink for RelpSink {
    async fn send(&mut self, batch: &EncodedBatch) -> SendOutcome {
        if batch.is_empty() {
            return SendOutcome::Delivered;
        }
        if let Err((error, retry_after)) = self.connect().await {
            return SendOutcome::Retry {
                error,
                retry_after: Some(retry_after),
            };
        }
        let ranges = self.encode(batch);
        let mut outcomes: Vec<Option<ItemOutcome>> = ranges
            .iter()
            .map(|range| match range {
                Ok(_) => None,
                Err(reason) => Some(ItemOutcome::Rejected {
                    reason: reason.clone(),
                }),
            })
            .collect();
        let broken = self.exchange(&ranges, &mut outcomes).await.err();
        let unanswered = outcomes.iter().filter(|outcome| outcome.is_none()).count();
        if let Some(reason) = &broken {
            tracing::warn!(sink = %self.name, address = %self.endpoint.address, error = %reason,
                unanswered, "RELP session broken; unanswered events will be resent on a new session");
            self.session = None;
            self.last_connect_error = Some(reason.clone());
        }
        let reason = broken.unwrap_or_else(|| "not answered".into());
        if unanswered == outcomes.len() {
            return SendOutcome::Retry {
                error: SinkError::Protocol {
                    sink: format!("{} ({})", self.name, self.endpoint.address),
                    message: reason,
                },
                retry_after: None,
            };
        }
        let outcomes: Vec<ItemOutcome> = outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| ItemOutcome::Retry {
                    reason: format!("sink {}: RELP session broken: {reason}", self.name),
                    retry_after: None,
                })
            })
            .collect();
        if outcomes
            .iter()
            .all(|outcome| *outcome == ItemOutcome::Delivered)
        {
            SendOutcome::Delivered
        } else {
            SendOutcome::Partial(outcomes)
        }
    }

    async fn probe(&mut self) -> Result<(), SinkError> {
        // Open and close a session of its own; a session in use is closed first.
        if let Some(session) = self.session.take() {
            session.close().await;
        }
        self.backoff.succeeded();
        self.connect().await.map_err(|(error, _)| error)?;
        if let Some(session) = self.session.take() {
            session.close().await;
        }
        Ok(())
    }
}

// === impl Session ===

impl Session {
    /// Sends `open` and checks the answer.
    async fn open(connection: Connection, timeout: Duration) -> Result<Session, String> {
        let mut session = Session {
            connection,
            txnr: 0,
            read_buf: Vec::with_capacity(4096),
            timeout,
        };
        let txnr = session.take_txnr();
        let mut out = Vec::new();
        write_frame(&mut out, txnr, "open", open_offers().as_bytes());
        session
            .connection
            .write_all(&out, timeout)
            .await
            .map_err(|error| format!("RELP open: {error}"))?;
        let frame = session.next_frame().await.map_err(|error| {
            format!("RELP open: {error}; is this a RELP listener (rsyslog imrelp)?")
        })?;
        if frame.command != "rsp" || frame.txnr != txnr {
            return Err(format!(
                "RELP open: expected the answer to transaction {txnr}, got `{} {}`",
                frame.txnr, frame.command
            ));
        }
        let response =
            Response::parse(&frame.data).map_err(|error| format!("RELP open: {error}"))?;
        if response.code != 200 {
            return Err(format!(
                "RELP open refused: {} {}",
                response.code, response.message
            ));
        }
        let commands = response
            .data
            .lines()
            .find_map(|line| line.strip_prefix("commands="))
            .unwrap_or("");
        if !commands
            .split(',')
            .any(|command| command.trim() == "syslog")
        {
            return Err(format!(
                "RELP open: the receiver does not offer the syslog command (commands={commands})"
            ));
        }
        Ok(session)
    }

    fn take_txnr(&mut self) -> u32 {
        self.txnr = next_txnr(self.txnr);
        self.txnr
    }

    /// The next frame from the receiver, within the timeout.
    async fn next_frame(&mut self) -> Result<Frame, String> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(frame) =
                parse_frame(&mut self.read_buf).map_err(|error| error.to_string())?
            {
                return Ok(frame);
            }
            let read = tokio::time::timeout(self.timeout, self.connection.read(&mut chunk))
                .await
                .map_err(|_| format!("no answer within {:?} (timeout)", self.timeout))?
                .map_err(|error| format!("read failed: {error}"))?;
            if read == 0 {
                return Err("the receiver closed the connection".into());
            }
            self.read_buf.extend_from_slice(&chunk[..read]);
        }
    }

    /// Sends `close` and waits (bounded) for its answer.
    async fn close(mut self) {
        let txnr = self.take_txnr();
        let mut out = Vec::new();
        write_frame(&mut out, txnr, "close", b"");
        if self.connection.write_all(&out, self.timeout).await.is_ok() {
            let _ = self.next_frame().await;
        }
    }
}

#[cfg(test)]
mod tests;
