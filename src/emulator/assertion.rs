//! Certificate credentials: verification of a client assertion JWT against the certificate registered for
//! the app (`EmulatedTenant::certificate_pem`), as Azure AD does it.
//!
//! Checked: the JWT shape; `alg` RS256 (with `x5t` = base64url SHA-1 of the DER certificate) or PS256 (with
//! `x5t#S256` = base64url SHA-256); the signature with the certificate's RSA key; `aud` = the token endpoint
//! URL (v2 or v1 form); `iss` = `sub` = client id; `exp` in the future and `nbf` not in the future (5 min
//! leeway). Each failure answers the AADSTS code Azure AD uses for it.

use axum::http::StatusCode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::digest;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde_json::Value;

use super::config::EmulatedTenant;
use super::error::AadFault;

/// What the assertion must match besides the key.
pub(crate) struct Expect<'a> {
    pub client_id: &'a str,
    /// Token endpoint URLs accepted as `aud`.
    pub audiences: [String; 2],
    pub now: DateTime<Utc>,
}

fn malformed(why: &str) -> AadFault {
    AadFault::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        50027,
        format!("JWT token is invalid or malformed: {why}."),
    )
}

fn invalid_signature(reason: &str) -> AadFault {
    AadFault::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
        format!("Client assertion contains an invalid signature. [Reason - {reason}]"),
    )
}

fn b64url(s: &str) -> Result<Vec<u8>, AadFault> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| malformed("a part is not base64url"))
}

/// Verifies `assertion` for `tenant`.
pub(crate) fn verify(
    tenant: &EmulatedTenant,
    assertion: &str,
    expect: &Expect<'_>,
) -> Result<(), AadFault> {
    let pem = tenant.certificate_pem.as_deref().ok_or_else(|| {
        invalid_signature(
            "The key was not found: no certificate is registered for the application.",
        )
    })?;
    let cert = rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| invalid_signature("The registered certificate could not be read."))?;
    let cert: &[u8] = cert.as_ref();

    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return Err(malformed("it does not have three parts"));
    };
    let header: Value =
        serde_json::from_slice(&b64url(h)?).map_err(|_| malformed("the header is not JSON"))?;
    let claims: Value =
        serde_json::from_slice(&b64url(c)?).map_err(|_| malformed("the claims are not JSON"))?;
    let sig = b64url(s)?;

    let b64 =
        |d: digest::Digest| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref());
    let (alg, thumb_key, thumb): (&'static dyn VerificationAlgorithm, &str, String) =
        match header["alg"].as_str() {
            Some("RS256") => (
                &signature::RSA_PKCS1_2048_8192_SHA256,
                "x5t",
                b64(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, cert)),
            ),
            Some("PS256") => (
                &signature::RSA_PSS_2048_8192_SHA256,
                "x5t#S256",
                b64(digest::digest(&digest::SHA256, cert)),
            ),
            other => {
                return Err(malformed(&format!(
                    "unsupported alg {other:?}; use RS256 or PS256"
                )))
            }
        };
    let presented = header[thumb_key].as_str().unwrap_or_default();
    if presented.trim_end_matches('=') != thumb {
        return Err(invalid_signature(&format!(
            "The key was not found., Thumbprint of key used by client: '{presented}' ({thumb_key}), Found key 'Start=…, End=…', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.",
            expect.client_id
        )));
    }
    let key = rsa_public_key(cert)
        .ok_or_else(|| invalid_signature("The registered certificate has no RSA key."))?;
    let signed = format!("{h}.{c}");
    UnparsedPublicKey::new(alg, key)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| {
            invalid_signature(
                "The provided signature value did not match the expected signature value.",
            )
        })?;

    let aud = claims["aud"].as_str().unwrap_or_default();
    if !expect.audiences.iter().any(|a| a.eq_ignore_ascii_case(aud)) {
        return Err(malformed(&format!(
            "the 'aud' claim '{aud}' is not the token endpoint {}",
            expect.audiences[0]
        )));
    }
    for claim in ["iss", "sub"] {
        if !claims[claim]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case(expect.client_id))
        {
            return Err(AadFault::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700021,
                format!("Client assertion application identifier doesn't match 'client_id' parameter (claim '{claim}')."),
            ));
        }
    }
    let now = expect.now.timestamp();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    let nbf = claims["nbf"].as_i64().unwrap_or(0);
    if exp <= now || nbf > now + 300 {
        return Err(AadFault::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700024,
            format!("Client assertion is not within its valid time range. Current time: {}, assertion valid from {nbf} to {exp}.", expect.now.format("%Y-%m-%dT%H:%M:%SZ")),
        ));
    }
    Ok(())
}

/// One DER element: (tag, contents, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 RSAPublicKey inside an X.509 certificate's SubjectPublicKeyInfo.
fn rsa_public_key(cert: &[u8]) -> Option<&[u8]> {
    let (_, certificate, _) = der(cert)?;
    let (_, mut tbs, _) = der(certificate)?;
    // version [0] (optional), serial, signature, issuer, validity, subject, then subjectPublicKeyInfo.
    if tbs.first() == Some(&0xA0) {
        tbs = der(tbs)?.2;
    }
    for _ in 0..5 {
        tbs = der(tbs)?.2;
    }
    let (_, spki, _) = der(tbs)?;
    let (_, bits) = {
        let (_, _, rest) = der(spki)?;
        let (tag, bits, _) = der(rest)?;
        (tag == 0x03).then_some(())?;
        ((), bits)
    };
    bits.split_first()
        .filter(|(unused, _)| **unused == 0)
        .map(|(_, key)| key)
}

#[cfg(test)]
pub(crate) mod tests;
