//! TLS for the syslog sink (rustls, ring provider): trust anchors, client certificates, server name, and
//! readable explanations of handshake failures.
//!
//! Trust: the certificates of `ca_file` when set, otherwise the built-in web PKI roots (webpki-roots).
//! `tls_verify = false` accepts any certificate (the handshake signatures are still checked) and is logged as a
//! warning when the sink is built.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::config::{split_address, SyslogSinkConfig};

/// Problems with the TLS keys, as (key, message) pairs (files are read and parsed).
pub(crate) fn check_files(config: &SyslogSinkConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if let Some(path) = &config.ca_file {
        if let Err(message) = load_certs(path) {
            problems.push(("ca_file", message));
        }
    }
    match (&config.client_cert_file, &config.client_key_file) {
        (Some(cert), Some(key)) => {
            if let Err(message) = load_certs(cert) {
                problems.push(("client_cert_file", message));
            }
            if let Err(message) = load_key(key) {
                problems.push(("client_key_file", message));
            }
        }
        (Some(_), None) => problems.push((
            "client_key_file",
            "is required with client_cert_file (mutual TLS needs the certificate and its key)"
                .into(),
        )),
        (None, Some(_)) => problems.push((
            "client_cert_file",
            "is required with client_key_file (mutual TLS needs the certificate and its key)"
                .into(),
        )),
        (None, None) => {}
    }
    if let Err(message) = server_name(config) {
        problems.push(("server_name", message));
    }
    problems
}

/// The rustls client configuration of a sink.
pub(crate) fn client_config(config: &SyslogSinkConfig) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS setup: {error}"))?;
    let builder = if config.tls_verify {
        let mut roots = RootCertStore::empty();
        match &config.ca_file {
            Some(path) => {
                for cert in load_certs(path)? {
                    roots
                        .add(cert)
                        .map_err(|error| format!("ca_file {}: {error}", path.display()))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
    };
    let client_config = match (&config.client_cert_file, &config.client_key_file) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|error| format!("client_cert_file/client_key_file: {error}"))?,
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(client_config))
}

/// The name the receiver's certificate is checked against: `server_name`, else the host of `address`.
pub(crate) fn server_name(config: &SyslogSinkConfig) -> Result<ServerName<'static>, String> {
    let name = match &config.server_name {
        Some(name) => name.as_str(),
        None => split_address(&config.address)?.0,
    };
    ServerName::try_from(name.to_string())
        .map_err(|_| format!("`{name}` is not a valid DNS name or IP address"))
}

/// Says what a failed TLS handshake means and what to change.
pub(crate) fn explain(error: &std::io::Error) -> String {
    let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return error.to_string();
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "TLS handshake failed: the receiver's certificate is not trusted (it is not issued by a trusted CA); \
             set ca_file to the PEM of the CA that issued the receiver's certificate"
                .into()
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "TLS handshake failed: the receiver's certificate is not valid for the name we expect ({tls}); \
             set server_name to a name the certificate carries"
        ),
        rustls::Error::InvalidCertificate(other) => format!(
            "TLS handshake failed: the receiver's certificate was rejected ({other:?}); check the certificate \
             and ca_file"
        ),
        rustls::Error::AlertReceived(alert) => format!(
            "TLS handshake failed: the receiver sent the alert {alert:?}; if it requires a client certificate \
             (mutual TLS), set client_cert_file and client_key_file to one its CA trusts"
        ),
        other => format!("TLS handshake failed: {other}"),
    }
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file =
        File::open(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{} is not valid PEM: {error}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let file =
        File::open(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|error| format!("{} is not valid PEM: {error}", path.display()))?
        .ok_or_else(|| format!("{} holds no PEM private key", path.display()))
}

/// `tls_verify = false`: any certificate is accepted; handshake signatures are still verified.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

// === impl AcceptAnyCertificate ===

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
