//! Certificate credential tests, with throwaway keys and a self-signed certificate made for these tests
//! (they protect nothing).

use super::*;

const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDJzCCAg+gAwIBAgIUYRk5XHK9ACgSCr5hDhWGzA0kJQIwDQYJKoZIhvcNAQEL
BQAwIjEgMB4GA1UEAwwXYXRwLWZvcndhcmRlci11bml0LXRlc3QwIBcNMjYxMTI1
MTUzNjM4WhgPMjEyNjExMDExNTM2MzhaMCIxIDAeBgNVBAMMF2F0cC1mb3J3YXJk
ZXItdW5pdC10ZXN0MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAjqqs
65ArPLhLC8jpV+lpheyizRG7WaAVELDGP5laYkQguJncAJtYvEBR9UMeQGPd6Xj9
SHmfVgSmZOzY91/mXzTj5Q5EGIuaSCy3yK4uhkT+BDifUHB98wxziUqBKAmgCN+V
XZNnBMuNP7C+tkffKFlFh9H3I9BZBUkANMpoowlviGjQMxe/Z84Vf3F91RYzM9rs
vF81AvE09DEVIERkNzOKLaJjlR203W6u63wm/F2+uRESbP0s/iGBUgnUicZaYJLs
ftEkw7XEIuBB2kS6FtW3qz/9ImjAtTKucGPSXAsiSItq4BvCRTBqIC94jhTdyN1z
ptYBRhruEy4Y65P+tQIDAQABo1MwUTAdBgNVHQ4EFgQUxhhcBajvC+i8fEqQSTRR
ipl8/1UwHwYDVR0jBBgwFoAUxhhcBajvC+i8fEqQSTRRipl8/1UwDwYDVR0TAQH/
BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAUEZxC1XeV9P2tMKsgzK2QptzlAR2
dCK5pnvPUWeLuFiS3JCyT9yC/SPVcjwo5E1YGF5oW32AAf1l8r+f5+xefJGlPcT3
pdOaRlV/9uw0HsohJh0qo6aS31HdP/39V+JV6DXOdXeZdhaUJ/3CHc87yWxc6nSJ
U29Y690zTFKUr5oohxte8q3h8to++6UY4zp93CNWeYQpb5T1l0CRPrfdyort+JDF
BytiowynsfTdPeyXOFgOIW+6PiPuO2YdzwxOMJFwu/5FxihlPndN4OADfjwWEtZk
7vMs5yP6+ym1scmYbDFvOLrlR5z3HHMuZjlILVKhfcCuxtbBSUGmcl1eWQ==
-----END CERTIFICATE-----
";

/// The PKCS#8 key of [`CERT_PEM`].
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCOqqzrkCs8uEsL
yOlX6WmF7KLNEbtZoBUQsMY/mVpiRCC4mdwAm1i8QFH1Qx5AY93peP1IeZ9WBKZk
7Nj3X+ZfNOPlDkQYi5pILLfIri6GRP4EOJ9QcH3zDHOJSoEoCaAI35Vdk2cEy40/
sL62R98oWUWH0fcj0FkFSQA0ymijCW+IaNAzF79nzhV/cX3VFjMz2uy8XzUC8TT0
MRUgRGQ3M4otomOVHbTdbq7rfCb8Xb65ERJs/Sz+IYFSCdSJxlpgkux+0STDtcQi
4EHaRLoW1berP/0iaMC1Mq5wY9JcCyJIi2rgG8JFMGogL3iOFN3I3XOm1gFGGu4T
Lhjrk/61AgMBAAECggEAE6YJ/r9yVQCExXC8QnFRKTK4EUo55VQY0p2mEChMvG/p
mcMG+8ZpaDPrlb3SsseOTpNtPsgRW8V0LT45e4hnsAEWyfs3AbJoYzxVa3whyDhE
S8yIlImJrymt1+C8/QimU9KHPcYJUC3AnF75RR2M7H+vBc+zG+mb+RBeyOZ/lsSH
QVPG2s+RF8BBVSy7cnjQQEVRiA3lLFZNSe2ZKQC6+R+ksqQTCJoWAu0oU2a88BzL
9JPN8u0MhQacDxSeGI12qz8U93smvQmAp0Pi+rqan8vACB4J/ekABu4zaaLA/I23
uTW12nvPxbK+PNIDzfJ3/N8TGTecH1tltOHoZblyGQKBgQDEClBE0hBMPbWWZm3G
XU/Ah5cr1CaOCBDHX2jbgfpD8SdPOwyedk1esaT1pGWdvb53vRQYIUdQcfNfkLz0
ENhP2XgV4QuS23qfX2n2R9l5RDHab7XpAXhI/9mKy5xg3AOpfPA31Aixsa7AoIfU
r2ily8Et9Vgcaxp2BMWmtfvkkwKBgQC6TUh40DK72TlsR/siMLD8Qc3T7YNTBTcr
1JKWzOut+hNTcdqkthFTeewBwaP/qY5tkzlRdhzGw1d0IOtj0HgTPkboWvJDVnDe
+FCCaFc/ZLJG+MWjBTq48bJ4rdmw8DYXitejW3E4lMvqvqtPPLcOFm+3MRpcO/Vg
nvRLMWaklwKBgQCtk2As/z2087KTX0/1IeuaUbO099vHSDbrAHxMVxJrE9u1WFg8
+gxZOrsPUCc0+qrpQ/3Fu7lz7eEKDZJwG3YbhTbBUIg52KEC+a1NhaJ1r77gZKbR
jx6crARG0y87x7JqYBglplSoWOWc4sZBt6nVmsoJ0kDYsLA2LNWAXYORhwKBgFUk
Qq2sALOm175ruxLqC8iNTkK/dlf3tzoZwRCYAFGXS0PEcbb62jo7Kye2VnveApCD
Sxu2jfoshgg1jz4jpOyudnt0LOmnVJgiBbFDfDQlkfArey9AkZC6LOVIFoftj9r8
ggZPIRRJtFPI5cOlrMcMa+vdzf0/DaolmuHOZulrAoGAWxxp8tiEN/Qy3/i2h9Sj
9arD9InTzybdjeDEWTVPUJ38mN2DFactYo7GXGqLd3bRa2U3mHEfNML7s6jl0wd9
L2wFMbmkI38AMJmnffG0BEZelgCfME57j2B2RwHShiky17T7QyzyDA992splOnRS
lOzlS/WRk88kveE42MKza68=
-----END PRIVATE KEY-----
";

/// Another RSA key, PKCS#1 ("RSA PRIVATE KEY"), not the certificate's.
const OTHER_KEY_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEArbaUY+Z7wujYZveodEVGNWZOWFLm0u1Phvr6wPq3pc/bGS/Q
w6m1BQyWb+bXu4NRdGKCGeg6HcTFwanVuDPqlcT1UI3GSwePvUYFHOAY3w8MrX1E
6LZfOoVJn4TNl9DbC6n2lG9dNfZtRR+suog9sTKIi3gGXoomLE2wfSQQUvYMH2k+
904cQYN3DKLifGalT5V2Kxl9QRWW9yXvQLK7Nk2EpuUpbuS/lB14ZvuIWp/wu/4p
j+n1zk8J57XbJTqI1Jat+A2fnRllRlTPBzOF04eCOs3WQKrNZVGNTTiVLxsu21vO
3G5EUlzHwa1gdkaUoN2EhBGwzdr7KocRaQDxHwIDAQABAoIBAA3UXszzQQAb7HqK
FfGnwDapHeyfMPwy42VyHrt1WmCLgzxml560KJKt1V40SRGHG1mCLCxm1hWfoETS
Qg8HpxHkW8ldeB9qCzH83JRXbPN5Lb+0HOPP/RXaHani90EyYfX0Qoq/sPKGW12o
72XsSckNJlzAIfWt1uspBjd4QwpvpUlLIjMJNgMTHuKEB9X8TL+9vmYAImGYxOBK
H4onE7tQ+p7kyaEZsrz3O1BsgUlAc98P0FBwjtLz07+416swdgwkzOm5kDbD3td/
QHS5Ek65UhwuKWnijlYlvr9g1bEtPKqmVMOiYpuObUscBZOC8KP+F3J2bGpNU22W
nlV22BECgYEA8+8KxiMn7F+HFsR0c3NBiBDzfB9nvUtzfSCyJHlJSCGETkZr/ds/
xjnAC6N6NrxZqAngy2G/5IdwQEYGoE9xe2qeMvqsidTgl4mgUNJtOGs0BqyTuSjk
0W4Tt9+AGfqbY7vl5ZHcdaCJaxMkTotvbbxW9CbndxM4aUdOVr6hCtECgYEAtk5T
2YEV3s/ynTC1Jpbp2yBu5H5ux/IkZWVbJR6rX/mxAGkv3XH4JfIT0ApXHLA4ih/E
cUdqNTeHoxzVs+DkcaZgvfzXNrBleQHbxbh3KHJURp0a5z2z3j8eY0V1TpRNp/LJ
U72rlFvDRp//HOHDMwPkSEJhprFZjITj/yHwWO8CgYBG6bsMFrRIdwzihYIE/gCS
+bqO3uJdmU2dlp+zEr9HBNddmgNS7SYBDlDSEVg6CU9XFmgPN/99BBKR3MmYWP/4
jOooj88Q0p3n7853MHUn7aJWPl1DeqvqZkG9NnAbHUuHFtyifGDGoUDRq+LmIorm
L9Zna9fmOeQwVtZjSU+vwQKBgE4sDBxqE7y1Im1w41ymvaRupd5osIwgMqcf7RNf
sVC4OsPYVuP36NYslX5R0MTGc5gWwx9n5gznwMuao7A8MPjixPzynD4hKYHX4CtK
TB4V2DlnSI/7j1MvcZJTyFdnlFz96IJ2BErbhkKUfMofrJoFgy/Q9xqJVcLBgRp3
rR4VAoGBALdzay2NDWrDzPbxK3ly7HgoEYklUVjBeWClqfatMdJ8KFSn36RKoyVc
mLQ9WU2O7wmOXXCi43E+UvrhFA9OF3OaiD4ZVRBSkrtAYfWySmyqSVWF5X2KSkrJ
BSKLCSD078S82kwGO6nOJBt9ak6uKoaqajuE5Fl7W8xofprtxmPS
-----END RSA PRIVATE KEY-----
";

const EC_KEY_PEM: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIPFPHaEjNipEG9fMIqiwLu4uQFRNyrcBVhaFISD5wClwoAoGCCqGSM49
AwEHoUQDQgAE5XBIpIwuYWDlpjMBD6usAdS0MFYHau9aFFNxEu4YWtAeyhVNjtVb
gwyQkEDuPQ1cFjw2Hzybs5k+XeOr9GOgsA==
-----END EC PRIVATE KEY-----
";

fn load(key: &str, alg: AssertionAlg) -> Result<ClientCertificate, CertificateError> {
    ClientCertificate::from_pem(
        CERT_PEM.as_bytes(),
        key.as_bytes(),
        alg,
        Path::new("cert.pem"),
        Path::new("key.pem"),
    )
}

fn decode(part: &str) -> serde_json::Value {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn certificate_der() -> Vec<u8> {
    rustls_pemfile::certs(&mut CERT_PEM.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec()
}

#[test]
fn an_rs256_assertion_carries_x5t_and_the_documented_claims_and_verifies_with_the_certificate() {
    let certificate = load(KEY_PEM, AssertionAlg::Rs256).unwrap();
    let now = chrono::Utc::now();
    let audience = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
    let assertion = certificate.assertion("client", audience, now).unwrap();
    let parts: Vec<&str> = assertion.expose().split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode(parts[0]);
    assert_eq!(header["alg"], "RS256");
    let der = certificate_der();
    let sha1 = base64url(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der).as_ref());
    assert_eq!(header["x5t"], sha1.as_str());
    let claims = decode(parts[1]);
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["iss"], "client");
    assert_eq!(claims["sub"], "client");
    assert_eq!(claims["nbf"], now.timestamp());
    assert_eq!(claims["iat"], now.timestamp());
    assert_eq!(claims["exp"], now.timestamp() + 600);
    assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    let certificate_der = rustls_pki_types_der(&der);
    let end_entity = webpki::EndEntityCert::try_from(&certificate_der).unwrap();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    end_entity
        .verify_signature(
            webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &signature,
        )
        .unwrap();
}

#[test]
fn a_ps256_assertion_carries_the_sha256_thumbprint_and_a_pss_signature() {
    let certificate = load(KEY_PEM, AssertionAlg::Ps256).unwrap();
    let assertion = certificate
        .assertion("client", "aud", chrono::Utc::now())
        .unwrap();
    let parts: Vec<&str> = assertion.expose().split('.').collect();
    let header = decode(parts[0]);
    assert_eq!(header["alg"], "PS256");
    let sha256 = base64url(digest::digest(&digest::SHA256, &certificate_der()).as_ref());
    assert_eq!(header["x5t#S256"], sha256.as_str());
    assert!(header.get("x5t").is_none());
    let certificate_der = rustls_pki_types_der(&certificate_der());
    let end_entity = webpki::EndEntityCert::try_from(&certificate_der).unwrap();
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    end_entity
        .verify_signature(
            webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &signature,
        )
        .unwrap();
}

#[test]
fn every_assertion_has_a_fresh_jti() {
    let certificate = load(KEY_PEM, AssertionAlg::Rs256).unwrap();
    let now = chrono::Utc::now();
    let jti = |assertion: Secret| {
        decode(assertion.expose().split('.').nth(1).unwrap())["jti"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = jti(certificate.assertion("c", "a", now).unwrap());
    let second = jti(certificate.assertion("c", "a", now).unwrap());
    assert_ne!(first, second);
}

#[test]
fn a_key_of_another_certificate_is_refused_naming_both_files() {
    let error = load(OTHER_KEY_PEM, AssertionAlg::Rs256).unwrap_err();
    assert!(
        matches!(error, CertificateError::Mismatch { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("key.pem") && text.contains("cert.pem"),
        "{text}"
    );
}

#[test]
fn an_ec_key_or_a_missing_key_is_explained() {
    let error = load(EC_KEY_PEM, AssertionAlg::Rs256)
        .unwrap_err()
        .to_string();
    assert!(error.contains("RSA key"), "{error}");
    let error = load(CERT_PEM, AssertionAlg::Rs256).unwrap_err().to_string();
    assert!(error.contains("no unencrypted PEM private key"), "{error}");
}

#[test]
fn the_debug_form_shows_the_thumbprint_and_never_the_key() {
    let certificate = load(KEY_PEM, AssertionAlg::Rs256).unwrap();
    let debug = format!("{certificate:?}");
    assert!(debug.contains("x5t"), "{debug}");
    assert!(!debug.contains("MII"), "{debug}");
    assert_eq!(certificate.thumbprint_hex().len(), 40);
}

fn rustls_pki_types_der(der: &[u8]) -> rustls::pki_types::CertificateDer<'static> {
    rustls::pki_types::CertificateDer::from(der.to_vec())
}
