//! `type = "syslog"` configuration: every key, its default, and its validation.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::tls;
use crate::encode::Format;

/// Default SD-ID of the structured-data element (32473 is the enterprise number reserved for documentation;
/// organisations with their own private enterprise number should set theirs).
pub(crate) const DEFAULT_SD_ID: &str = "o365@32473";

/// Smallest message every receiver must accept (RFC 5426 §3.2, IPv4).
const MIN_MESSAGE_BYTES: usize = 480;

/// Largest UDP payload over IPv4.
const MAX_UDP_PAYLOAD: usize = 65_507;

/// `type = "syslog"`: RFC 5424 / RFC 3164 messages over UDP, TCP, TLS or RELP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSinkConfig {
    /// Sink name (unique).
    pub name: String,
    /// Payload format of the MSG part: json (the raw record, default), ecs, cef, leef.
    #[serde(default)]
    pub format: Format,
    /// `host:port` of the receiver; without a port: 514 (udp, tcp), 6514 (tls), 2514 (relp, relp+tls).
    pub address: String,
    /// `udp`, `tcp`, `tls` (default), `relp` or `relp+tls`.
    #[serde(default)]
    pub transport: Transport,
    /// `rfc5424` (default) or `rfc3164` (legacy BSD syslog: no structured data, no MSGID).
    #[serde(default)]
    pub protocol: Protocol,
    /// Stream framing for tcp: `octet-counting` (default; the only framing that keeps newlines inside a
    /// message) or `lf` (each LF inside a message becomes a space). TLS always uses octet counting.
    #[serde(default)]
    pub framing: Option<Framing>,
    /// Syslog facility of every message (default `local0`).
    #[serde(default = "defaults::facility")]
    pub facility: Facility,
    /// Severity of ordinary events (default `info`).
    #[serde(default = "defaults::severity")]
    pub severity: Severity,
    /// Severity of events that are alerts (a malicious verdict, a blocked click, an investigation with
    /// findings; default `warning`). Set it equal to `severity` to send everything with one severity.
    #[serde(default = "defaults::alert_severity")]
    pub alert_severity: Severity,
    /// HOSTNAME field (default: this machine's name).
    #[serde(default)]
    pub hostname: Option<String>,
    /// SD-ID of the RFC 5424 structured-data element carrying the record Id, RecordType and tenant.
    #[serde(default = "defaults::sd_id")]
    pub sd_id: String,
    /// Largest message in bytes (without stream framing); a longer MSG is truncated on a character boundary and
    /// counted. Default: 2048 over UDP (1024 for rfc3164, its RFC limit), no limit over TCP, TLS and RELP.
    #[serde(default)]
    pub max_message_bytes: Option<usize>,
    /// Bound on connecting (including the TLS handshake) and on writing one batch (default 10s).
    #[serde(with = "humantime_serde", default = "defaults::timeout")]
    pub timeout: Duration,
    /// RELP: how many transactions may wait for their `rsp` at once (default 128).
    #[serde(default = "defaults::relp_window")]
    pub relp_window: usize,
    /// TLS: PEM file with the CA certificate(s) to trust instead of the built-in web PKI roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TLS: PEM client certificate (chain) for mutual TLS; needs `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// TLS: PEM private key (PKCS#8, PKCS#1 or SEC1) of `client_cert_file`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// TLS: name to verify the receiver's certificate against (default: the host of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// TLS: verify the receiver's certificate (default true). `false` logs a warning at start.
    #[serde(default = "defaults::tls_verify")]
    pub tls_verify: bool,
}

/// How messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One message per datagram (RFC 5426); best effort, nothing confirms delivery.
    Udp,
    /// Plain TCP (RFC 6587).
    Tcp,
    /// TLS over TCP (RFC 5425).
    #[default]
    Tls,
    /// RELP: application-level acknowledgements.
    Relp,
    /// RELP over TLS.
    #[serde(rename = "relp+tls")]
    RelpTls,
}

/// Message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`.
    #[default]
    Rfc5424,
    /// `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG`.
    Rfc3164,
}

/// How messages are delimited on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// `MSG-LEN SP SYSLOG-MSG` (RFC 6587 §3.4.1, RFC 5425).
    #[default]
    OctetCounting,
    /// Each message followed by LF (RFC 6587 §3.4.2); LFs inside a message become spaces.
    Lf,
}

/// Syslog facility (RFC 5424 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    /// Security/authorization messages (4); alias `security`.
    #[serde(alias = "security")]
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    Authpriv = 10,
    Ftp = 11,
    Ntp = 12,
    /// Log audit (13); alias `logaudit`.
    #[serde(alias = "logaudit")]
    Audit = 13,
    /// Log alert (14); alias `logalert`.
    #[serde(alias = "logalert")]
    Alert = 14,
    Clock = 15,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

/// Syslog severity (RFC 5424 §6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Severity {
    #[serde(alias = "emerg")]
    Emergency = 0,
    Alert = 1,
    #[serde(alias = "crit")]
    Critical = 2,
    #[serde(alias = "err")]
    Error = 3,
    #[serde(alias = "warn")]
    Warning = 4,
    Notice = 5,
    #[serde(alias = "informational")]
    Info = 6,
    Debug = 7,
}

mod defaults {
    use super::*;

    pub(super) fn facility() -> Facility {
        Facility::Local0
    }
    pub(super) fn severity() -> Severity {
        Severity::Info
    }
    pub(super) fn alert_severity() -> Severity {
        Severity::Warning
    }
    pub(super) fn sd_id() -> String {
        DEFAULT_SD_ID.to_string()
    }
    pub(super) fn timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub(super) fn relp_window() -> usize {
        128
    }
    pub(super) fn tls_verify() -> bool {
        true
    }
}

// === impl SyslogSinkConfig ===

impl SyslogSinkConfig {
    /// Problems with the keys, as (key, message) pairs. Adds the default port to `address` and checks that the
    /// TLS files can be read and parsed.
    pub(crate) fn validate(&mut self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |key: &str, message: String| problems.push((key.to_string(), message));

        match split_address(&self.address) {
            Ok((host, Some(_))) if !host.is_empty() => {}
            Ok((host, None)) if !host.is_empty() => {
                let port = self.transport.default_port();
                self.address = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
            }
            Ok(_) => problem("address", "must be `host:port` (the host is empty)".into()),
            Err(message) => problem("address", message),
        }

        match (self.transport, self.framing) {
            (Transport::Udp, Some(_)) => problem(
                "framing",
                "applies to stream transports only; remove it for transport = \"udp\"".into(),
            ),
            (Transport::Tls, Some(Framing::Lf)) => problem(
                "framing",
                "TLS requires octet counting (RFC 5425); use \"octet-counting\" or remove the key"
                    .into(),
            ),
            (Transport::Relp | Transport::RelpTls, Some(_)) => problem(
                "framing",
                "RELP frames messages itself; remove the key".into(),
            ),
            _ => {}
        }

        if let Some(hostname) = &self.hostname {
            if hostname.is_empty() || hostname.len() > 255 || !hostname.bytes().all(is_printable) {
                problem(
                    "hostname",
                    "must be 1 to 255 printable US-ASCII characters without spaces".into(),
                );
            }
        }
        if let Err(message) = check_sd_id(&self.sd_id) {
            problem("sd_id", message);
        }

        if let Some(max) = self.max_message_bytes {
            let upper = match self.transport {
                Transport::Udp => MAX_UDP_PAYLOAD,
                _ => usize::MAX,
            };
            if !(MIN_MESSAGE_BYTES..=upper).contains(&max) {
                problem(
                    "max_message_bytes",
                    format!(
                        "must be at least {MIN_MESSAGE_BYTES} (the size every receiver must accept){}",
                        if upper == MAX_UDP_PAYLOAD {
                            format!(" and at most {MAX_UDP_PAYLOAD} over UDP")
                        } else {
                            String::new()
                        }
                    ),
                );
            }
        }
        if self.timeout.is_zero() {
            problem("timeout", "must be greater than 0".into());
        }
        if self.relp_window == 0 || self.relp_window > 4096 {
            problem("relp_window", "must be between 1 and 4096".into());
        }

        if self.transport.uses_tls() {
            for (key, message) in tls::check_files(self) {
                problem(key, message);
            }
        } else {
            let tls_keys = [
                ("ca_file", self.ca_file.is_some()),
                ("client_cert_file", self.client_cert_file.is_some()),
                ("client_key_file", self.client_key_file.is_some()),
                ("server_name", self.server_name.is_some()),
                ("tls_verify", !self.tls_verify),
            ];
            for (key, set) in tls_keys {
                if set {
                    problem(
                        key,
                        "applies to transport \"tls\" or \"relp+tls\" only; remove it or change the transport"
                            .into(),
                    );
                }
            }
        }
        problems
    }

    /// The stream framing in effect (octet counting unless `lf` was chosen for tcp).
    pub(crate) fn effective_framing(&self) -> Framing {
        match self.transport {
            Transport::Tcp => self.framing.unwrap_or_default(),
            _ => Framing::OctetCounting,
        }
    }

    /// The message size limit in effect (see `max_message_bytes`).
    pub(crate) fn effective_max_message_bytes(&self) -> Option<usize> {
        match (self.max_message_bytes, self.transport, self.protocol) {
            (Some(max), _, _) => Some(max),
            (None, Transport::Udp, Protocol::Rfc3164) => Some(1024),
            (None, Transport::Udp, Protocol::Rfc5424) => Some(2048),
            (None, _, _) => None,
        }
    }
}

// === impl Transport ===

impl Transport {
    /// The IANA port for this transport.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Transport::Udp | Transport::Tcp => 514,
            Transport::Tls => 6514,
            Transport::Relp | Transport::RelpTls => 2514,
        }
    }

    /// True for `tls` and `relp+tls`.
    pub(crate) fn uses_tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::RelpTls)
    }

    /// The name used in the config file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Relp => "relp",
            Transport::RelpTls => "relp+tls",
        }
    }
}

/// `(host, port)` of `host:port`, `[v6]:port`, `host` or a bare IPv6 literal (brackets removed).
pub(crate) fn split_address(address: &str) -> Result<(&str, Option<u16>), String> {
    let parse_port = |port: &str| {
        port.parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("`{port}` is not a port number (1-65535)"))
    };
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "an IPv6 address opened with `[` needs a closing `]`".to_string())?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(parse_port(port)?))),
                None => Err("expected `:port` after `]`".into()),
            },
        };
    }
    match address.matches(':').count() {
        0 => Ok((address, None)),
        1 => {
            let (host, port) = address.split_once(':').unwrap_or((address, ""));
            Ok((host, Some(parse_port(port)?)))
        }
        _ => Ok((address, None)),
    }
}

/// SD-NAME rules (RFC 5424 §6.3.2) plus the `name@<enterprise number>` form of a private SD-ID.
fn check_sd_id(sd_id: &str) -> Result<(), String> {
    let valid_chars = sd_id
        .bytes()
        .all(|byte| is_printable(byte) && !matches!(byte, b'=' | b']' | b'"'));
    if sd_id.is_empty() || sd_id.len() > 32 || !valid_chars {
        return Err(
            "must be 1 to 32 printable US-ASCII characters without space, `=`, `]` or `\"`".into(),
        );
    }
    match sd_id.split_once('@') {
        Some((name, number))
            if !name.is_empty()
                && !number.is_empty()
                && !number.contains('@')
                && number.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
        {
            Ok(())
        }
        _ => Err(format!(
            "must have the private form `name@<enterprise number>`, e.g. `{DEFAULT_SD_ID}`"
        )),
    }
}

/// PRINTUSASCII (33-126): the characters allowed in header fields.
pub(crate) fn is_printable(byte: u8) -> bool {
    (33..=126).contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: serde_json::Value) -> SyslogSinkConfig {
        let mut value = serde_json::json!({ "name": "soc", "address": "127.0.0.1:6514" });
        if let (Some(base), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(value).expect("test config deserializes")
    }

    fn keys(problems: &[(String, String)]) -> Vec<&str> {
        problems.iter().map(|(key, _)| key.as_str()).collect()
    }

    #[test]
    fn defaults_are_tls_rfc5424_local0_info_warning() {
        let mut config = config(serde_json::json!({}));
        assert!(config.validate().is_empty());
        assert_eq!(config.transport, Transport::Tls);
        assert_eq!(config.protocol, Protocol::Rfc5424);
        assert_eq!(config.facility, Facility::Local0);
        assert_eq!(config.severity, Severity::Info);
        assert_eq!(config.alert_severity, Severity::Warning);
        assert_eq!(config.sd_id, DEFAULT_SD_ID);
        assert_eq!(config.effective_framing(), Framing::OctetCounting);
        assert_eq!(config.effective_max_message_bytes(), None);
    }

    #[test]
    fn a_missing_port_gets_the_transports_default() {
        let mut udp = config(serde_json::json!({ "address": "siem", "transport": "udp" }));
        assert!(udp.validate().is_empty());
        assert_eq!(udp.address, "siem:514");
        assert_eq!(udp.effective_max_message_bytes(), Some(2048));
        let mut tls = config(serde_json::json!({ "address": "::1" }));
        assert!(tls.validate().is_empty());
        assert_eq!(tls.address, "[::1]:6514");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let mut config = config(serde_json::json!({
            "address": "host:99999", "transport": "tcp", "sd_id": "o365", "hostname": "a b",
            "max_message_bytes": 100, "ca_file": "/ca.pem", "timeout": "0s",
        }));
        let problems = config.validate();
        assert_eq!(
            keys(&problems),
            [
                "address",
                "hostname",
                "sd_id",
                "max_message_bytes",
                "timeout",
                "ca_file"
            ]
        );
    }

    #[test]
    fn lf_framing_is_refused_for_tls() {
        let mut config = config(serde_json::json!({ "framing": "lf" }));
        assert_eq!(keys(&config.validate()), ["framing"]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let value = serde_json::json!({ "name": "soc", "address": "a:1", "colour": "red" });
        assert!(serde_json::from_value::<SyslogSinkConfig>(value).is_err());
    }

    #[test]
    fn facility_and_severity_accept_aliases() {
        let config = config(serde_json::json!({ "facility": "security", "severity": "warn" }));
        assert_eq!(config.facility as u8, 4);
        assert_eq!(config.severity as u8, 4);
    }
}
