//! Certificate credentials: a client assertion JWT signed with the app's private key, as the Microsoft
//! identity platform expects it instead of a client secret.
//!
//! The assertion is `RS256` with the header `x5t` (base64url SHA-1 of the DER certificate), or `PS256` with
//! `x5t#S256` (base64url SHA-256); its claims are `aud` = the token URL, `iss` = `sub` = the client id, a fresh
//! `jti` (GUID), `nbf` = `iat` = now and `exp` = now + 10 minutes. A new assertion is made for every token
//! request and is held in a [`Secret`] until it is sent.
//!
//! Loading checks what an operator gets wrong: the PEM files, the key type (RSA, at least 2048 bits, not
//! encrypted) and that the key belongs to the certificate (a probe signature verified with the certificate).

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{RsaEncoding, RsaKeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use rustls_pemfile::Item;
use serde::Deserialize;
use serde_json::json;

use crate::config::Secret;

/// Lifetime of a client assertion (Microsoft recommends short-lived assertions; 10 minutes is MSAL's).
pub const ASSERTION_LIFETIME_SECS: i64 = 600;

/// How the client assertion is signed (tenant key `assertion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AssertionAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 and the SHA-1 thumbprint in `x5t` (the default: accepted in every
    /// cloud).
    #[default]
    Rs256,
    /// RSASSA-PSS with SHA-256 and the SHA-256 thumbprint in `x5t#S256`.
    Ps256,
}

/// Why a certificate credential could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no unencrypted PEM private key; encrypted keys are not supported (decrypt with `openssl pkey -in key.pem -out plain.pem`)")]
    NoKey { path: PathBuf },
    #[error("{path}: {what}")]
    BadKey { path: PathBuf, what: String },
    #[error("the private key {key} does not belong to the certificate {certificate}")]
    Mismatch { certificate: PathBuf, key: PathBuf },
    #[error("the client assertion could not be signed")]
    Sign,
}

/// A certificate and its private key, ready to sign client assertions.
pub struct ClientCertificate {
    key: RsaKeyPair,
    alg: AssertionAlg,
    /// base64url SHA-1 of the DER certificate (`x5t`).
    x5t: String,
    /// base64url SHA-256 of the DER certificate (`x5t#S256`).
    x5t_s256: String,
    rng: SystemRandom,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("alg", &self.alg)
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

// === impl ClientCertificate ===

impl ClientCertificate {
    /// Reads a PEM certificate and its PEM private key (PKCS#8 or PKCS#1 RSA) and checks that they belong
    /// together.
    pub fn load(
        certificate_file: &Path,
        private_key_file: &Path,
        alg: AssertionAlg,
    ) -> Result<ClientCertificate, CertificateError> {
        let read = |path: &Path| {
            // PEM certificates and keys are a few KiB; 1 MiB leaves room for long chains.
            crate::config::read_bounded(path, 1024 * 1024).map_err(|source| {
                CertificateError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            })
        };
        let certificate_pem = read(certificate_file)?;
        let key_pem = Secret::new(String::from_utf8_lossy(&read(private_key_file)?));
        Self::from_pem(
            &certificate_pem,
            key_pem.expose().as_bytes(),
            alg,
            certificate_file,
            private_key_file,
        )
    }

    fn from_pem(
        certificate_pem: &[u8],
        key_pem: &[u8],
        alg: AssertionAlg,
        certificate_file: &Path,
        private_key_file: &Path,
    ) -> Result<ClientCertificate, CertificateError> {
        let certificate = rustls_pemfile::certs(&mut &certificate_pem[..])
            .next()
            .and_then(Result::ok)
            .ok_or_else(|| CertificateError::NoCertificate {
                path: certificate_file.to_path_buf(),
            })?;
        let bad_key = |what: String| CertificateError::BadKey {
            path: private_key_file.to_path_buf(),
            what,
        };
        let key = first_private_key(key_pem).ok_or_else(|| CertificateError::NoKey {
            path: private_key_file.to_path_buf(),
        })?;
        let key = match key {
            Item::Pkcs8Key(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            Item::Pkcs1Key(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            Item::Sec1Key(_) => {
                return Err(bad_key(
                    "an EC key; certificate credentials need an RSA key (2048 bits or more)".into(),
                ))
            }
            _ => return Err(bad_key("not a private key".into())),
        }
        .map_err(|error| {
            bad_key(format!(
                "not a usable RSA key ({error}); an RSA key of 2048 to 8192 bits is needed"
            ))
        })?;
        let b64 = |d: digest::Digest| base64url(d.as_ref());
        let loaded = ClientCertificate {
            key,
            alg,
            x5t: b64(digest::digest(
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
                certificate.as_ref(),
            )),
            x5t_s256: b64(digest::digest(&digest::SHA256, certificate.as_ref())),
            rng: SystemRandom::new(),
        };
        // The key must belong to the certificate: sign a probe and verify it with the certificate's key.
        let probe = b"atp-forwarder key check";
        let signature = loaded.sign(&RSA_PKCS1_SHA256, probe)?;
        let end_entity = webpki::EndEntityCert::try_from(&certificate).map_err(|error| {
            CertificateError::BadKey {
                path: certificate_file.to_path_buf(),
                what: format!("the certificate cannot be parsed: {error}"),
            }
        })?;
        end_entity
            .verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, probe, &signature)
            .map_err(|_| CertificateError::Mismatch {
                certificate: certificate_file.to_path_buf(),
                key: private_key_file.to_path_buf(),
            })?;
        Ok(loaded)
    }

    /// The signing algorithm.
    pub fn alg(&self) -> AssertionAlg {
        self.alg
    }

    /// The SHA-1 thumbprint of the certificate as the Azure portal shows it (upper-case hex), for messages.
    pub fn thumbprint_hex(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.x5t)
            .unwrap_or_default()
            .iter()
            .map(|byte| format!("{byte:02X}"))
            .collect()
    }

    /// A fresh client assertion for `client_id` at the token URL `audience`, valid from `now` for 10 minutes.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Secret, CertificateError> {
        let (alg, header): (&'static dyn RsaEncoding, _) = match self.alg {
            AssertionAlg::Rs256 => (
                &RSA_PKCS1_SHA256,
                json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t}),
            ),
            AssertionAlg::Ps256 => (
                &RSA_PSS_SHA256,
                json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.x5t_s256}),
            ),
        };
        let issued = now.timestamp();
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": issued,
            "iat": issued,
            "exp": issued + ASSERTION_LIFETIME_SECS,
        });
        let signed = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let signature = self.sign(alg, signed.as_bytes())?;
        Ok(Secret::new(format!("{signed}.{}", base64url(&signature))))
    }

    fn sign(
        &self,
        alg: &'static dyn RsaEncoding,
        message: &[u8],
    ) -> Result<Vec<u8>, CertificateError> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(alg, &self.rng, message, &mut signature)
            .map_err(|_| CertificateError::Sign)?;
        Ok(signature)
    }
}

/// The first private key of a PEM text.
fn first_private_key(pem: &[u8]) -> Option<Item> {
    rustls_pemfile::read_all(&mut &pem[..])
        .filter_map(Result::ok)
        .find(|item| {
            matches!(
                item,
                Item::Pkcs8Key(_) | Item::Pkcs1Key(_) | Item::Sec1Key(_)
            )
        })
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
#[path = "certificate_tests.rs"]
mod tests;
