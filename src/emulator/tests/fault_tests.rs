//! Each fault knob does what it says, and is counted.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

use super::support::*;
use crate::emulator::{EmulatorConfig, FaultConfig, ThrottleStyle};

fn with_faults(faults: FaultConfig) -> EmulatorConfig {
    EmulatorConfig { faults, ..config() }
}

/// Whether fetching a URL fails at the transport level (broken or cut-off body).
async fn fetch_breaks(api: &Api, url: &str) -> bool {
    match api.http.get(url).bearer_auth(&api.token).send().await {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    }
}

async fn first_blob_uri(api: &Api) -> String {
    let resp = api
        .get(&api.feed("subscriptions/content?contentType=Audit.General"))
        .await;
    let items: Vec<Value> = resp.json().await.unwrap();
    items[0]["contentUri"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn over_the_request_budget_answers_429_with_retry_after() {
    let emu = start(with_faults(FaultConfig {
        requests_per_minute: Some(3),
        retry_after: Some(Duration::from_secs(7)),
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let url = api.feed("subscriptions/list");
    for _ in 0..3 {
        assert_eq!(api.get(&url).await.status(), 200);
    }
    let resp = api.get(&url).await;
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(Api::code(resp).await, (429, "AF429".to_owned()));
    let s = emu.stats();
    assert_eq!((s.throttled, s.faults.budget_refusals), (1, 1));
    assert_eq!(s.max_requests_per_window.get(TENANT), Some(&4));
}

#[tokio::test]
async fn the_budget_can_answer_403_af429_without_retry_after() {
    let emu = start(with_faults(FaultConfig {
        requests_per_minute: Some(1),
        throttle_style: ThrottleStyle::Http403,
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let url = api.feed("subscriptions/list");
    api.get(&url).await;
    let resp = api.get(&url).await;
    assert!(!resp.headers().contains_key("retry-after"));
    assert_eq!(Api::code(resp).await, (403, "AF429".to_owned()));
}

#[tokio::test]
async fn a_scaled_budget_window_rolls_over() {
    let emu = start(with_faults(FaultConfig {
        requests_per_minute: Some(2),
        budget_window: Duration::from_millis(300),
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let url = api.feed("subscriptions/list");
    api.get(&url).await;
    api.get(&url).await;
    assert_eq!(api.get(&url).await.status(), 429);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(api.get(&url).await.status(), 200);
}

#[tokio::test]
async fn error_bursts_answer_af50000() {
    let emu = start(with_faults(FaultConfig {
        server_error_every: Some(3),
        server_error_burst: 2,
        server_error_status: 503,
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let url = api.feed("subscriptions/list");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let resp = api.get(&url).await;
        let status = resp.status().as_u16();
        if status == 503 {
            assert_eq!(Api::code(resp).await.1, "AF50000");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, vec![200, 200, 503, 503, 200, 503]);
    assert_eq!(emu.stats().faults.server_errors, 3);
}

#[tokio::test]
async fn truncated_blobs_break_on_the_first_fetch_and_serve_whole_after() {
    let emu = start(with_faults(FaultConfig {
        truncated_blob_fraction: 1.0,
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let uri = first_blob_uri(&api).await;
    assert!(fetch_breaks(&api, &uri).await);
    assert_eq!(api.blob(&uri).await.len(), 20);
    assert_eq!(emu.stats().faults.truncated_bodies, 1);
}

#[tokio::test]
async fn reset_blobs_break_before_any_byte_then_serve_whole() {
    let emu = start(with_faults(FaultConfig {
        connection_reset_fraction: 1.0,
        truncate_times: 2,
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let uri = first_blob_uri(&api).await;
    assert!(fetch_breaks(&api, &uri).await);
    assert!(fetch_breaks(&api, &uri).await);
    assert_eq!(api.blob(&uri).await.len(), 20);
    assert_eq!(emu.stats().faults.connection_resets, 2);
}

#[tokio::test]
async fn unavailable_blobs_answer_503_with_retry_after_then_serve_whole() {
    let emu = start(with_faults(FaultConfig {
        unavailable_blob_fraction: 1.0,
        unavailable_times: 2,
        unavailable_retry_after: Some(Duration::ZERO),
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let uri = first_blob_uri(&api).await;
    for _ in 0..2 {
        let resp = api.get(&uri).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "0");
        assert_eq!(Api::code(resp).await.1, "AF50000");
    }
    assert_eq!(api.blob(&uri).await.len(), 20);
    assert_eq!(emu.stats().faults.unavailable_answers, 2);
    assert!(
        !emu.expected_records(TENANT, &[28, 41, 47, 64]).is_empty(),
        "their records are expected: a retry gets them"
    );
}

#[tokio::test]
async fn malformed_blobs_are_not_json_and_not_expected() {
    let emu = start(with_faults(FaultConfig {
        malformed_blob_fraction: 1.0,
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let uri = first_blob_uri(&api).await;
    let resp = api.get(&uri).await;
    assert_eq!(resp.status(), 200);
    assert!(serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).is_err());
    assert!(emu.expected_records(TENANT, &[28, 41, 47, 64]).is_empty());
    assert_eq!(emu.stats().faults.malformed_blobs, 1);
}

#[tokio::test]
async fn late_blobs_appear_only_after_their_delay() {
    let emu = start(with_faults(FaultConfig {
        late_blob_fraction: 1.0,
        late_by: Duration::from_secs(2 * 3600),
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let cutoff = emu.now() - chrono::Duration::hours(2);
    assert!((130..=134).contains(&items.len()), "{}", items.len());
    for i in &items {
        let created =
            chrono::DateTime::parse_from_rfc3339(i["contentCreated"].as_str().unwrap()).unwrap();
        assert!(created < cutoff);
    }
    assert!(emu.stats().faults.late_blobs_withheld >= 11);
    let fresh = emu.add_blobs(TENANT, GENERAL, 1).remove(0);
    let (items, _) = api.list_all(GENERAL, None).await;
    assert!(items.iter().all(|i| i["contentId"] != fresh.as_str()));
    let uri = api.feed(&format!("audit/{fresh}"));
    assert_eq!(Api::code(api.get(&uri).await).await.1, "AF20050");
    let expected = emu.expected_records(TENANT, &[28, 41, 47, 64]);
    assert!(expected.iter().all(|e| e.content_id != fresh));
}

#[tokio::test]
async fn duplicated_records_repeat_an_earlier_record_id_in_a_later_blob() {
    let emu = start(with_faults(FaultConfig {
        duplicate_record_fraction: 1.0,
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let mut seen = HashSet::new();
    let mut repeats = 0;
    let mut total = 0;
    for item in &items {
        let records = api.blob(item["contentUri"].as_str().unwrap()).await;
        for r in records {
            total += 1;
            if !seen.insert(r["Id"].as_str().unwrap().to_owned()) {
                repeats += 1;
            }
        }
    }
    assert!(repeats > 100, "{repeats}");
    assert_eq!(total, items.len() * 21);
    assert_eq!(emu.stats().faults.duplicated_records, 179);
    let expected = emu.expected_records(TENANT, &[28, 41, 47, 64]);
    let unique: HashSet<&str> = expected.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(unique.len(), expected.len());
}

#[tokio::test]
async fn expired_content_answers_af20051_and_is_not_expected() {
    let emu = start(with_faults(FaultConfig {
        expired_blob_fraction: 0.5,
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let mut expired = HashSet::new();
    for item in &items {
        let resp = api.get(item["contentUri"].as_str().unwrap()).await;
        if resp.status() == 400 {
            assert_eq!(Api::code(resp).await.1, "AF20051");
            expired.insert(item["contentId"].as_str().unwrap().to_owned());
        }
    }
    assert!(
        expired.len() > 40 && expired.len() < 110,
        "{}",
        expired.len()
    );
    assert_eq!(emu.stats().faults.expired_content, expired.len() as u64);
    assert!(emu
        .expected_records(TENANT, &[28, 41, 47, 64])
        .iter()
        .all(|e| !expired.contains(&e.content_id)));
}

#[tokio::test]
async fn clock_skew_shifts_the_date_header_and_the_servers_now() {
    let emu = start(with_faults(FaultConfig {
        clock_skew_secs: 3600,
        ..FaultConfig::default()
    }))
    .await;
    let api = Api::new(&emu).await;
    let resp = api.get(&api.feed("subscriptions/list")).await;
    let date = resp.headers()["date"].to_str().unwrap().to_owned();
    let server = chrono::DateTime::parse_from_rfc2822(&date)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let ahead = server - chrono::Utc::now();
    assert!((3595..3605).contains(&ahead.num_seconds()), "{ahead}");
    // A window computed from the client's clock reaches beyond the server's 7 days when it is skewed.
    let start = (chrono::Utc::now() - chrono::Duration::days(7) + chrono::Duration::minutes(30))
        .format("%Y-%m-%dT%H:%M");
    let end = (chrono::Utc::now() - chrono::Duration::days(6)).format("%Y-%m-%dT%H:%M");
    let url = api.feed(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={start}&endTime={end}"
    ));
    assert_eq!(Api::code(api.get(&url).await).await.1, "AF20055");
}

#[tokio::test]
async fn too_frequent_subscription_starts_get_429() {
    let mut cfg = with_faults(FaultConfig {
        start_min_interval: Some(Duration::from_secs(900)),
        ..FaultConfig::default()
    });
    cfg.tenants[0].subscriptions_started = false;
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    assert_eq!(
        api.post(&api.feed("subscriptions/start?contentType=Audit.General"))
            .await
            .status(),
        200
    );
    let resp = api
        .post(&api.feed("subscriptions/start?contentType=Audit.Exchange"))
        .await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "AF429");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Please retry again after 14m"));
    assert_eq!(emu.stats().faults.start_refusals, 1);
    assert!(!emu.subscription_enabled(TENANT, "Audit.Exchange"));
}
