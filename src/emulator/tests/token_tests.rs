//! Token endpoint behaviour.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::support::*;

fn form<'a>(client: &'a str, secret: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", secret),
        ("scope", "https://manage.office.com/.default"),
    ]
}

async fn aad_error(resp: reqwest::Response) -> (u16, String, i64, String) {
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["trace_id"].is_string() && v["correlation_id"].is_string() && v["timestamp"].is_string()
    );
    (
        status,
        v["error"].as_str().unwrap().to_owned(),
        v["error_codes"][0].as_i64().unwrap(),
        v["error_description"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_v2_token_has_an_integer_lifetime() {
    let emu = start(config()).await;
    let resp = token_form(&emu.base_url(), TENANT, &form(CLIENT, SECRET)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3599);
    assert_eq!(v["ext_expires_in"], 3599);
    assert!(v["access_token"].as_str().unwrap().split('.').count() == 3);
}

#[tokio::test]
async fn a_v1_token_has_string_lifetimes() {
    let emu = start(config()).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/{TENANT}/oauth2/token", emu.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("resource", "https://manage.office.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["expires_in"], "3599");
    assert!(v["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
}

#[tokio::test]
async fn wrong_secret_gives_aadsts7000215_invalid_client() {
    let emu = start(config()).await;
    let (status, error, code, desc) =
        aad_error(token_form(&emu.base_url(), TENANT, &form(CLIENT, "nope")).await).await;
    assert_eq!(
        (status, error.as_str(), code),
        (401, "invalid_client", 7000215)
    );
    assert!(
        desc.starts_with("AADSTS7000215: Invalid client secret provided."),
        "{desc}"
    );
    assert_eq!(emu.stats().token_errors, 1);
}

#[tokio::test]
async fn an_unknown_client_gives_aadsts700016_unauthorized_client() {
    let emu = start(config()).await;
    let other = "99999999-9999-4999-8999-999999999999";
    let (status, error, code, _) =
        aad_error(token_form(&emu.base_url(), TENANT, &form(other, SECRET)).await).await;
    assert_eq!(
        (status, error.as_str(), code),
        (400, "unauthorized_client", 700016)
    );
}

#[tokio::test]
async fn an_unknown_tenant_gives_aadsts90002() {
    let emu = start(config()).await;
    let (_, _, code, _) = aad_error(
        token_form(
            &emu.base_url(),
            "nope.onmicrosoft.com",
            &form(CLIENT, SECRET),
        )
        .await,
    )
    .await;
    assert_eq!(code, 90002);
}

#[tokio::test]
async fn a_bad_scope_gives_aadsts70011_invalid_scope() {
    let emu = start(config()).await;
    let mut f = form(CLIENT, SECRET);
    f[3].1 = "https://graph.microsoft.com/.default";
    let (status, error, code, _) = aad_error(token_form(&emu.base_url(), TENANT, &f).await).await;
    assert_eq!(
        (status, error.as_str(), code),
        (400, "invalid_scope", 70011)
    );
}

#[tokio::test]
async fn an_expired_secret_gives_aadsts7000222() {
    let mut cfg = config();
    cfg.tenants[0].secret_expired = true;
    let emu = start(cfg).await;
    let (_, error, code, _) =
        aad_error(token_form(&emu.base_url(), TENANT, &form(CLIENT, SECRET)).await).await;
    assert_eq!((error.as_str(), code), ("invalid_client", 7000222));
}

#[tokio::test]
async fn client_assertions_are_refused_with_a_clear_aadsts_error() {
    let emu = start(config()).await;
    let f = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT),
        ("scope", "https://manage.office.com/.default"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", "eyJhbGciOiJSUzI1NiJ9.e30.sig"),
    ];
    let (status, error, code, desc) =
        aad_error(token_form(&emu.base_url(), TENANT, &f).await).await;
    assert_eq!(
        (status, error.as_str(), code),
        (401, "invalid_client", 700027)
    );
    assert!(desc.contains("no certificate is registered"), "{desc}");
}

#[tokio::test]
async fn the_resource_is_configurable() {
    let mut cfg = config();
    cfg.resource = "https://manage.office365.us".to_owned();
    let emu = start(cfg).await;
    let mut f = form(CLIENT, SECRET);
    f[3].1 = "https://manage.office365.us/.default";
    assert_eq!(
        token_form(&emu.base_url(), TENANT, &f).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        token_form(&emu.base_url(), TENANT, &form(CLIENT, SECRET))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn an_expired_token_gets_401_and_a_fresh_one_works() {
    let mut cfg = config();
    cfg.token_lifetime = Duration::from_secs(1);
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    assert_eq!(
        api.get(&api.feed("subscriptions/list")).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, code) = Api::code(api.get(&api.feed("subscriptions/list")).await).await;
    assert_eq!((status, code.as_str()), (401, "ExpiredAuthenticationToken"));
    let fresh = Api::new(&emu).await;
    assert_eq!(
        fresh.get(&fresh.feed("subscriptions/list")).await.status(),
        StatusCode::OK
    );
    assert_eq!(emu.stats().tokens_issued, 2);
}

#[tokio::test]
async fn revoked_tokens_get_401() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    emu.revoke_tokens();
    let resp = api.get(&api.feed("subscriptions/list")).await;
    assert!(resp.headers().contains_key("www-authenticate"));
    assert_eq!(
        Api::code(resp).await,
        (401, "AuthenticationFailed".to_owned())
    );
}

#[tokio::test]
async fn a_certificate_assertion_signed_with_the_registered_key_gets_a_token() {
    use crate::emulator::assertion::tests::{claims, sign, TEST_CERT_PEM};
    let mut cfg = config();
    cfg.tenants[0].certificate_pem = Some(TEST_CERT_PEM.to_owned());
    let emu = start(cfg).await;
    let aud = format!("{}/{TENANT}/oauth2/v2.0/token", emu.base_url());
    for alg in ["RS256", "PS256"] {
        let jwt = sign(alg, &claims(CLIENT, &aud));
        let f = [
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("scope", "https://manage.office.com/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt.as_str()),
        ];
        let resp = token_form(&emu.base_url(), TENANT, &f).await;
        assert_eq!(resp.status(), StatusCode::OK, "{alg}");
    }
    let wrong_aud = sign(
        "RS256",
        &claims(
            CLIENT,
            "https://login.microsoftonline.com/x/oauth2/v2.0/token",
        ),
    );
    let f = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT),
        ("scope", "https://manage.office.com/.default"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", wrong_aud.as_str()),
    ];
    let (_, _, code, _) = aad_error(token_form(&emu.base_url(), TENANT, &f).await).await;
    assert_eq!(code, 50027);
}
