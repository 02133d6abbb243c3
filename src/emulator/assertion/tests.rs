//! Assertion verification tests, with a throwaway RSA key and self-signed certificate made for these tests.

use base64::Engine as _;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use serde_json::{json, Value};

use super::*;

/// Test-only private key (generated for this file, protects nothing).
pub(crate) const TEST_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDi4Xdj7Jh7ZSlm
PuTTQfHoFAJNNVTbwFKrcnVg47rCO6jI7xlF2t91HBqILHL4BCb/8wq9YAoYES4v
0hrIUUrOUMP3sLLUR1pHmp/WkbiLiZnOzzvNeIngVepHLN/aI+ZU8+iODIHZ/uYu
rSWNOiB/eSPx8hDCqZ7Nm3nUt6FUnLUcw73cf6g0HA0C1YqIDhOTrJ18ioCI9FI3
YsRrsv5b/BDsGEHbeTCSvoUya/U3GkqetI/0CUMoWijSFL0/ta87+LBSPuXLTQkN
LziRBZCjGcsF0/fYx9qGcV3NRyjI98fMCVf4MAX7mSL5vyhazx3wKr39Z5Con2rK
6p2bAOhhAgMBAAECggEAAykMQZmTNC2gEOfX+Yz5HCtiYgXxdSnHXQXR1o3FiINO
CHwZvrkPFMs77JRF7U6z5l8FBS2xzLNskJQqKFeT8nstVHI8w3hs+WnER55gn9Ar
LGmcySUGzD4WIdpHq5SFcFiBCRcc6SPD70S2xn7xSSVJJJhWttRBcIn1lzEQCVgq
WrJG8cLdJJ4iTxSiNB8U/hQ2m72/hCYrn/Aj8yrQrHktg+EjGmKYW7t1flPI8kv+
FTFD584KdkP/6wiuN4a31XSRpVT9zc4qX+dgDuDW1dRzr3kGfiF0NcD0g0KKn3Q+
sDclSMhiW7UMjuIS2gCzf68n/DwlPXTWB87MjQaPuQKBgQD9ZLdxOiTIziM6y63M
DIBI0CtlWAdNtV+eMSiUAFowMesUvWP7S/oOCfOR/JlIir/S4Iv4uVg5z3WvOaUl
F4bC/93Zg3w9mGDOvUGfbDRifNFhQ3ZrKn7YdA+sQnfHcj0289h9iwgzl+a/9pP8
tnruxB2jEhv61PhBwYbbN1215QKBgQDlNu56jpxZx+5MOWouYoQV31luOKjCZ6Yn
Khp5+P/X0G2Vq8mCOo5vFSsvR/j1uqTl9D0z2uKnKyp5P+DJpmu66lw0sZXyfAKV
UZjAlakwF9g19TQVmLxHh+rjCHQM9ct918K6+5edpNZnLoNwRL7F/R7khOdIw/Sz
lRbSgblAzQKBgHBfohrMtlN3V5hTi5faU2n3J8eh6ltD/EujcWNxZI3LFX31H8nq
P9LKBwLPCwtovPlAK9L6H25D2uUCo4J3lIQWBMTZ0tdeJFCLDfctfW3P/Osth+6u
weIsVmcGcyg4OX2NVo0Wg2SeEO9A4xBHvOz2fE49UbtDh3Vh5fSB8UUhAoGATUUY
Xc5nnMiOZ7nPNrXVSz5Q+pw1H9wrIfbKmCW9sbY8ywDvXGx7Ca18MmMz5Tq3TiHo
4+s9Dxe5KMjE8ZWdqZRJ4yWeo/D0OfwY34tUTrcrFv2DQmiLyB1krIZ0AM53fAPZ
TIl2Ehm4gW4ntxglq77pxCWdhmUwv71ZxTsgBV0CgYBcqejvnft8RSDUbZDvezd3
M9L7Ie5fIX01NSlOaFcywGF7uXvyK0n9BUzFJvc4Ge7T/53lCpxke+f+zRg25Nz1
iHeOwsVNkMEjf9tBVKC/TtdmtcDNu93TFDy9XjiOKRsZAPOxkkx3G53HGqtEle03
MOBSUEo8wRycqM24birvzg==
-----END PRIVATE KEY-----
";

/// The self-signed certificate of [`TEST_KEY_PEM`].
pub(crate) const TEST_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDLzCCAhegAwIBAgIUOZ7Qp5OQ9vJhPZXDRM1h49lqCxswDQYJKoZIhvcNAQEL
BQAwJjEkMCIGA1UEAwwbYXRwLWZvcndhcmRlci1lbXVsYXRvci10ZXN0MCAXDTI2
MTEyNTE1Mjk0N1oYDzIxMjYxMTAxMTUyOTQ3WjAmMSQwIgYDVQQDDBthdHAtZm9y
d2FyZGVyLWVtdWxhdG9yLXRlc3QwggEiMA0GCSqGSIb3DQEBAQUAA4IBDwAwggEK
AoIBAQDi4Xdj7Jh7ZSlmPuTTQfHoFAJNNVTbwFKrcnVg47rCO6jI7xlF2t91HBqI
LHL4BCb/8wq9YAoYES4v0hrIUUrOUMP3sLLUR1pHmp/WkbiLiZnOzzvNeIngVepH
LN/aI+ZU8+iODIHZ/uYurSWNOiB/eSPx8hDCqZ7Nm3nUt6FUnLUcw73cf6g0HA0C
1YqIDhOTrJ18ioCI9FI3YsRrsv5b/BDsGEHbeTCSvoUya/U3GkqetI/0CUMoWijS
FL0/ta87+LBSPuXLTQkNLziRBZCjGcsF0/fYx9qGcV3NRyjI98fMCVf4MAX7mSL5
vyhazx3wKr39Z5Con2rK6p2bAOhhAgMBAAGjUzBRMB0GA1UdDgQWBBSbOeEAM233
UDKPVsjJoctv+gfzwDAfBgNVHSMEGDAWgBSbOeEAM233UDKPVsjJoctv+gfzwDAP
BgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQDOaFxx8DGbq5Nc2TdV
DQQmARppmuwQ9W3QaPB0rErjxp7ZUg75ceogIn8J/u+Sdxaopui+xvsguwU7v6iK
Eja3Hsjq2jiexJNMG/nNlx4UTsXn9K4mbCzQlL4iwtNv2hCKP/pN+tvRwOkvX3Lz
MtlVi2Ep7Mpdx5cOnvtbnLZEG6b7lCDgRmb5MlwW9UEOeZ6DbBFG5XmxlSmvwgNp
uwD27Mi7af8NkzYFJ1oi91TEGQ271vr/2rRF0qAXmdw1j11vB/c1EeCBCI7vZb3r
09JQaJpKWEiseFRg6Qffny5qF29Mvj18/6ddP39dKY+/mnNvYGKWISsxUatvFNaL
CVcZ
-----END CERTIFICATE-----
";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn cert_der() -> Vec<u8> {
    rustls_pemfile::certs(&mut TEST_CERT_PEM.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec()
}

/// Signs an assertion with the test key: `alg` is "RS256" or "PS256".
pub(crate) fn sign(alg: &str, claims: &Value) -> String {
    let der = cert_der();
    let header = match alg {
        "PS256" => {
            json!({"alg": "PS256", "typ": "JWT", "x5t#S256": b64(digest::digest(&digest::SHA256, &der).as_ref())})
        }
        _ => {
            json!({"alg": "RS256", "typ": "JWT", "x5t": b64(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der).as_ref())})
        }
    };
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = rustls_pemfile::private_key(&mut TEST_KEY_PEM.as_bytes())
        .unwrap()
        .unwrap();
    let pair = RsaKeyPair::from_pkcs8(key.secret_der()).unwrap();
    let mut sig = vec![0; pair.public().modulus_len()];
    let padding: &dyn signature::RsaEncoding = if alg == "PS256" {
        &signature::RSA_PSS_SHA256
    } else {
        &signature::RSA_PKCS1_SHA256
    };
    pair.sign(padding, &SystemRandom::new(), signed.as_bytes(), &mut sig)
        .unwrap();
    format!("{signed}.{}", b64(&sig))
}

/// Claims Azure AD accepts for `client_id` at `aud`.
pub(crate) fn claims(client_id: &str, aud: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({"aud": aud, "iss": client_id, "sub": client_id, "jti": uuid::Uuid::new_v4(), "nbf": now, "iat": now, "exp": now + 600})
}

const CLIENT: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const AUD: &str = "http://127.0.0.1:1/t/oauth2/v2.0/token";

fn tenant() -> EmulatedTenant {
    EmulatedTenant {
        certificate_pem: Some(TEST_CERT_PEM.to_owned()),
        ..EmulatedTenant::new("t", CLIENT, "")
    }
}

fn expect() -> Expect<'static> {
    Expect {
        client_id: CLIENT,
        audiences: [
            AUD.to_owned(),
            "http://127.0.0.1:1/t/oauth2/token".to_owned(),
        ],
        now: Utc::now(),
    }
}

fn code(r: Result<(), AadFault>) -> u32 {
    r.err().map_or(0, |f| f.code)
}

#[test]
fn rs256_and_ps256_assertions_signed_with_the_registered_certificate_pass() {
    assert!(verify(&tenant(), &sign("RS256", &claims(CLIENT, AUD)), &expect()).is_ok());
    assert!(verify(&tenant(), &sign("PS256", &claims(CLIENT, AUD)), &expect()).is_ok());
}

#[test]
fn a_tampered_assertion_fails_signature_validation() {
    let jwt = sign("RS256", &claims(CLIENT, AUD));
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts[1] = b64(claims("someone-else", AUD).to_string().as_bytes());
    assert_eq!(code(verify(&tenant(), &parts.join("."), &expect())), 700027);
}

#[test]
fn a_wrong_thumbprint_is_key_not_found() {
    let jwt = sign("RS256", &claims(CLIENT, AUD));
    let header = b64(json!({"alg": "RS256", "x5t": "AAAA"})
        .to_string()
        .as_bytes());
    let rest = jwt.split_once('.').unwrap().1;
    let err = verify(&tenant(), &format!("{header}.{rest}"), &expect()).unwrap_err();
    assert_eq!(err.code, 700027);
    assert!(err.description.contains("The key was not found"));
}

#[test]
fn claims_are_checked() {
    assert_eq!(
        code(verify(
            &tenant(),
            &sign("RS256", &claims(CLIENT, "https://elsewhere/token")),
            &expect()
        )),
        50027
    );
    assert_eq!(
        code(verify(
            &tenant(),
            &sign("RS256", &claims("other", AUD)),
            &expect()
        )),
        700021
    );
    let mut old = claims(CLIENT, AUD);
    old["exp"] = json!(Utc::now().timestamp() - 10);
    assert_eq!(
        code(verify(&tenant(), &sign("RS256", &old), &expect())),
        700024
    );
}

#[test]
fn malformed_assertions_and_missing_certificates_are_refused() {
    assert_eq!(code(verify(&tenant(), "not-a-jwt", &expect())), 50027);
    let no_cert = EmulatedTenant::new("t", CLIENT, "");
    assert_eq!(
        code(verify(
            &no_cert,
            &sign("RS256", &claims(CLIENT, AUD)),
            &expect()
        )),
        700027
    );
}

#[test]
fn the_rsa_key_is_found_in_the_certificate() {
    let der = cert_der();
    let key = rsa_public_key(&der).unwrap();
    assert_eq!(key[0], 0x30, "an RSAPublicKey is a SEQUENCE");
}
