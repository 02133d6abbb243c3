//! A test app-registration certificate: a self-signed RSA certificate and its key, made with the `openssl`
//! CLI (Debian package openssl; scripts/test.sh installs it), for the tenants' and the Sentinel sink's
//! certificate credentials.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A certificate and its key, made with `openssl` for one test.
pub struct TestCertificate {
    pub certificate_file: PathBuf,
    pub key_file: PathBuf,
    pub certificate_pem: String,
    pub key_pem: String,
}

/// Makes a self-signed RSA certificate `name.crt` and its PKCS#8 key `name.key` in `dir`.
pub fn make_certificate(dir: &Path, name: &str) -> TestCertificate {
    let certificate_file = dir.join(format!("{name}.crt"));
    let key_file = dir.join(format!("{name}.key"));
    let output = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-keyout")
        .arg(&key_file)
        .arg("-out")
        .arg(&certificate_file)
        .args(["-subj", &format!("/CN={name}")])
        .output()
        .expect("the openssl CLI runs (Debian package openssl; scripts/test.sh installs it)");
    assert!(
        output.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    TestCertificate {
        certificate_pem: std::fs::read_to_string(&certificate_file).expect("certificate"),
        key_pem: std::fs::read_to_string(&key_file).expect("key"),
        certificate_file,
        key_file,
    }
}

// === impl TestCertificate ===

impl TestCertificate {
    /// The public key as PKCS#1 DER (what a token server verifies client assertions against).
    pub fn public_key_pkcs1_der(&self) -> Vec<u8> {
        let output = Command::new("openssl")
            .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
            .arg(&self.key_file)
            .output()
            .expect("the openssl CLI runs");
        assert!(
            output.status.success(),
            "openssl rsa failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }
}
