//! Syslog sink: frames encoded events as RFC 5424 or RFC 3164 and writes them over UDP, TCP, TLS or RELP.
//!
//! Acknowledgement: an event is acknowledged when the transport confirms it — a completed write and flush on
//! TCP/TLS (over one long-lived connection; a broken connection makes the pipeline resend the batch after the
//! sink reconnects, and the sink itself resends its recent window), an `rsp 200` on RELP, the send call on UDP
//! (best effort, documented as such).
//!
//! Layout: [`config`] (keys, defaults, validation), `encoder` (RFC 5424 / 3164 headers, escaping, truncation),
//! `framing` (octet counting, LF), `transport` (UDP/TCP/TLS connections, backoff), `tls` (rustls set-up and
//! handshake diagnostics), `replay` (resending the recent window after a broken stream), `sink` (the [`Sink`]
//! implementation for UDP/TCP/TLS), `relp` (the RELP session and its [`Sink`]).

mod config;
mod encoder;
mod framing;
mod relp;
mod replay;
mod sink;
mod tls;
mod transport;

pub use config::{Facility, Framing, Protocol, Severity, SyslogSinkConfig, Transport};
pub use encoder::{Encoder as SyslogEncoder, Fit, HeaderTooLong};

use super::{Sink, SinkError};
use transport::Endpoint;

/// Builds the syslog sink from a validated config. Does not connect: the first `send` or `probe` does.
pub(crate) fn build(config: &SyslogSinkConfig) -> Result<Box<dyn Sink>, SinkError> {
    let config_error = |message: String| SinkError::Config {
        sink: config.name.clone(),
        message,
    };
    let tls = if config.transport.uses_tls() {
        if !config.tls_verify {
            tracing::warn!(sink = %config.name, address = %config.address,
                "tls_verify = false: the syslog receiver's certificate is NOT verified; anyone on the path \
                 can read and alter the events");
        }
        let client_config = tls::client_config(config).map_err(config_error)?;
        let name = tls::server_name(config).map_err(config_error)?;
        Some((transport::connector(client_config), name))
    } else {
        None
    };
    let endpoint = Endpoint {
        address: config.address.clone(),
        tls,
        timeout: config.timeout,
    };
    Ok(match config.transport {
        Transport::Relp | Transport::RelpTls => Box::new(relp::RelpSink::new(config, endpoint)),
        Transport::Udp | Transport::Tcp | Transport::Tls => {
            Box::new(sink::SyslogSink::new(config, endpoint))
        }
    })
}

impl SyslogSinkConfig {
    /// True for the best-effort UDP transport.
    pub fn is_udp(&self) -> bool {
        false
    }
}
