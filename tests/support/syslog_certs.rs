//! Test PKI for the syslog tests: a CA, a server certificate for 127.0.0.1/localhost, a client certificate
//! for mutual TLS, and a second, unrelated CA ("rogue") to prove that an untrusted receiver is refused.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

/// PEM files written into a test directory.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA that issued `server_cert` and `client_cert`.
    pub ca_cert: PathBuf,
    /// Receiver certificate, valid for `localhost` and `127.0.0.1`.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Client certificate for mutual TLS.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that issued nothing the receiver uses.
    pub rogue_ca_cert: PathBuf,
    /// Receiver certificate issued by the rogue CA.
    pub rogue_server_cert: PathBuf,
    pub rogue_server_key: PathBuf,
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("CA certificate");
    Ca { cert, key }
}

fn leaf(ca: &Ca, name: &str, usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("leaf params");
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let cert = params
        .signed_by(&key, &ca.cert, &ca.key)
        .expect("leaf certificate");
    (cert.pem(), key.serialize_pem())
}

// === impl TestPki ===

impl TestPki {
    /// Generates every certificate and writes the PEM files into `dir`.
    pub fn generate(dir: &Path) -> TestPki {
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write PEM file");
            path
        };
        let ca = new_ca("atp-forwarder test CA");
        let (server_pem, server_key) = leaf(&ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
        let (client_pem, client_key) =
            leaf(&ca, "atp-forwarder", ExtendedKeyUsagePurpose::ClientAuth);
        let rogue = new_ca("rogue CA");
        let (rogue_pem, rogue_key) = leaf(&rogue, "localhost", ExtendedKeyUsagePurpose::ServerAuth);
        TestPki {
            ca_cert: write("ca.pem", &ca.cert.pem()),
            server_cert: write("server.pem", &server_pem),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_pem),
            client_key: write("client.key", &client_key),
            rogue_ca_cert: write("rogue-ca.pem", &rogue.cert.pem()),
            rogue_server_cert: write("rogue-server.pem", &rogue_pem),
            rogue_server_key: write("rogue-server.key", &rogue_key),
        }
    }
}
