//! Authorization and subscription operations.

use reqwest::StatusCode;
use serde_json::Value;

use super::support::*;
use crate::emulator::EmulatedTenant;

#[tokio::test]
async fn a_call_without_a_token_gets_401() {
    let emu = start(config()).await;
    let url = format!(
        "{}/api/v1.0/{TENANT}/activity/feed/subscriptions/list",
        emu.base_url()
    );
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string());
    assert_eq!(emu.stats().unauthorized, 1);
}

#[tokio::test]
async fn another_tenants_token_gets_af20010() {
    let mut cfg = config();
    let other = "22222222-3333-4444-8555-666666666666";
    cfg.tenants.push(EmulatedTenant::new(other, CLIENT, SECRET));
    let emu = start(cfg).await;
    let mut api = Api::new(&emu).await;
    api.tenant = other.to_owned();
    assert_eq!(
        Api::code(api.get(&api.feed("subscriptions/list")).await)
            .await
            .1,
        "AF20010"
    );
}

#[tokio::test]
async fn an_invalid_content_type_gets_af20020() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let resp = api
        .get(&api.feed("subscriptions/content?contentType=Audit.Everything"))
        .await;
    assert_eq!(Api::code(resp).await, (400, "AF20020".to_owned()));
}

#[tokio::test]
async fn listing_before_subscription_start_gives_af20022_and_after_start_succeeds() {
    let mut cfg = config();
    cfg.tenants[0].subscriptions_started = false;
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let listing = api.feed("subscriptions/content?contentType=Audit.General");
    assert_eq!(
        Api::code(api.get(&listing).await).await,
        (400, "AF20022".to_owned())
    );
    assert!(!emu.subscription_enabled(TENANT, GENERAL));

    let resp = api
        .post(&api.feed("subscriptions/start?contentType=Audit.General"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["contentType"].as_str(), v["status"].as_str()),
        (Some(GENERAL), Some("enabled"))
    );
    assert!(v["webhook"].is_null());
    assert!(emu.subscription_enabled(TENANT, GENERAL));
    let resp = api.get(&listing).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // Content produced before the start was never collected.
    assert_eq!(resp.json::<Vec<Value>>().await.unwrap().len(), 0);
    let id = emu.add_blobs(TENANT, GENERAL, 1).remove(0);
    let items: Vec<Value> = api.get(&listing).await.json().await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["contentId"], id.as_str());
}

#[tokio::test]
async fn start_twice_gives_af20024() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let resp = api
        .post(&api.feed("subscriptions/start?contentType=Audit.General"))
        .await;
    assert_eq!(Api::code(resp).await, (400, "AF20024".to_owned()));
    assert_eq!(emu.stats().subscription_starts, 1);
}

#[tokio::test]
async fn stop_answers_200_empty_and_the_list_shows_it_disabled() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let resp = api
        .post(&api.feed("subscriptions/stop?contentType=Audit.General"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.bytes().await.unwrap().is_empty());
    let list: Vec<Value> = api
        .get(&api.feed("subscriptions/list"))
        .await
        .json()
        .await
        .unwrap();
    let general = list.iter().find(|s| s["contentType"] == GENERAL).unwrap();
    assert_eq!(general["status"], "disabled");
    assert_eq!(list.len(), 5);
    assert!(!emu.subscription_enabled(TENANT, GENERAL));
    let listing = api.feed("subscriptions/content?contentType=Audit.General");
    assert_eq!(Api::code(api.get(&listing).await).await.1, "AF20022");
}

#[tokio::test]
async fn a_webhook_given_at_start_is_echoed_and_listed() {
    let mut cfg = config();
    cfg.tenants[0].subscriptions_started = false;
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let hook = serde_json::json!({"webhook": {"address": "https://hooks.example/o365", "authId": "x", "expiration": ""}});
    let resp = api
        .http
        .post(api.feed("subscriptions/start?contentType=Audit.Exchange"))
        .bearer_auth(&api.token)
        .json(&hook)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["webhook"]["address"], "https://hooks.example/o365");
    let list: Vec<Value> = api
        .get(&api.feed("subscriptions/list"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "only started subscriptions are listed");
}

#[tokio::test]
async fn the_v1_path_form_serves_the_same_api() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let url = format!(
        "{}/api/v1/{TENANT}/activity/feed/subscriptions/list",
        emu.base_url()
    );
    assert_eq!(api.get(&url).await.status(), StatusCode::OK);
    let url = format!(
        "{}/api/v2.0/{TENANT}/activity/feed/subscriptions/list",
        emu.base_url()
    );
    assert_eq!(api.get(&url).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn notifications_are_an_empty_list_under_the_same_rules() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let resp = api
        .get(&api.feed("subscriptions/notifications?contentType=Audit.General"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Vec<Value>>().await.unwrap().len(), 0);
    let bad = api
        .get(&api.feed("subscriptions/notifications?contentType=Audit.General&startTime=2020-01-01&endTime=2020-01-02"))
        .await;
    assert_eq!(Api::code(bad).await.1, "AF20055");
}

#[tokio::test]
async fn calls_without_publisher_identifier_are_counted() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    api.get(&api.feed("subscriptions/list")).await;
    api.get(&api.feed(&format!("subscriptions/list?PublisherIdentifier={TENANT}")))
        .await;
    let s = emu.stats();
    assert_eq!(s.missing_publisher_identifier, 1);
    assert_eq!(s.requests_of("subscriptions_list"), 2);
    assert_eq!(s.requests_of("token_v2"), 1);
    assert_eq!(s.status_count(200), 3);
}

#[tokio::test]
async fn a_tenant_without_activity_feed_read_gets_af10001_and_one_without_audit_log_af20011() {
    let mut cfg = config();
    cfg.tenants[0].activity_feed_read = false;
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    assert_eq!(
        Api::code(api.get(&api.feed("subscriptions/list")).await).await,
        (403, "AF10001".to_owned())
    );

    let mut cfg = config();
    cfg.tenants[0].audit_log_enabled = false;
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let resp = api.get(&api.feed("subscriptions/list")).await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "AF20011");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("DataServiceException"));
}

#[tokio::test]
async fn an_invalid_config_is_refused_with_every_problem_named() {
    let mut cfg = config();
    cfg.page_size = 0;
    cfg.atp_fraction = 2.0;
    let err = crate::emulator::Emulator::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("page_size") && msg.contains("atp_fraction"),
        "{msg}"
    );
}
