//! Content listing: windows, paging, order and item shape.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::support::*;
use crate::emulator::NextPageHeader;

fn created(item: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(item["contentCreated"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_window_over_24_hours_is_rejected_with_af20055() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let (s, e) = last_hours(&emu, 25);
    let url = api.feed(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={s}&endTime={e}"
    ));
    let resp = api.get(&url).await;
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "AF20055");
    assert!(v["error"]["message"].as_str().unwrap().contains("24 hours"));
    assert_eq!(emu.stats().windows_rejected, 1);
}

#[tokio::test]
async fn a_window_older_than_7_days_is_rejected() {
    let mut cfg = config();
    cfg.window_error_code = "AF20030".to_owned();
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let start = (emu.now() - chrono::Duration::days(8)).format("%Y-%m-%d");
    let end = (emu.now() - chrono::Duration::days(7) - chrono::Duration::hours(12))
        .format("%Y-%m-%dT%H:%M");
    let url = api.feed(&format!(
        "subscriptions/content?contentType=Audit.General&startTime={start}&endTime={end}"
    ));
    assert_eq!(
        Api::code(api.get(&url).await).await,
        (400, "AF20030".to_owned())
    );
}

#[tokio::test]
async fn start_after_end_and_a_single_bound_are_rejected() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let (s, e) = last_hours(&emu, 2);
    for q in [
        format!("startTime={e}&endTime={s}"),
        format!("startTime={s}"),
    ] {
        let url = api.feed(&format!(
            "subscriptions/content?contentType=Audit.General&{q}"
        ));
        assert_eq!(Api::code(api.get(&url).await).await.1, "AF20055", "{q}");
    }
    assert_eq!(emu.stats().windows_rejected, 2);
}

#[tokio::test]
async fn paging_with_page_size_5_returns_every_blob_exactly_once_over_v1_next_page_uris() {
    let mut cfg = config();
    cfg.page_size = 5;
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let (s, e) = last_hours(&emu, 24);
    let (items, links) = api.list_all(GENERAL, Some((&s, &e))).await;
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["contentId"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a blob was listed twice");
    // 24 h of blobs every 10 minutes.
    assert!((143..=145).contains(&ids.len()), "{}", ids.len());
    assert_eq!(links.len(), ids.len().div_ceil(5) - 1);
    for link in &links {
        assert!(
            link.starts_with(&format!(
                "{}/api/v1/{TENANT}/activity/feed/subscriptions/content?",
                emu.base_url()
            )),
            "{link}"
        );
        assert!(
            link.contains("nextPage=") && link.contains("PublisherIdentifier="),
            "{link}"
        );
    }
    let start = crate::emulator::window::parse_time(&s).unwrap();
    let end = crate::emulator::window::parse_time(&e).unwrap();
    assert!(items.iter().all(|i| (start..end).contains(&created(i))));
}

#[tokio::test]
async fn listing_without_a_window_covers_the_last_24_hours() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let day_ago = emu.now() - chrono::Duration::hours(24);
    assert!(items.iter().all(|i| created(i) >= day_ago));
    assert!((143..=145).contains(&items.len()), "{}", items.len());
}

#[tokio::test]
async fn the_listing_is_not_sorted_by_content_created() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let times: Vec<DateTime<Utc>> = items.iter().map(created).collect();
    assert!(times.windows(2).any(|w| w[0] > w[1]));
}

#[tokio::test]
async fn items_carry_the_documented_fields_and_a_seven_day_expiration() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let item = &items[0];
    assert_eq!(item["contentType"], GENERAL);
    let id = item["contentId"].as_str().unwrap();
    assert_eq!(
        item["contentUri"].as_str().unwrap(),
        format!(
            "{}/api/v1.0/{TENANT}/activity/feed/audit/{id}",
            emu.base_url()
        )
    );
    let c = item["contentCreated"].as_str().unwrap();
    assert!(c.ends_with('Z') && c.len() == 24, "{c}");
    let exp = DateTime::parse_from_rfc3339(item["contentExpiration"].as_str().unwrap()).unwrap();
    assert_eq!(
        exp.with_timezone(&Utc) - created(item),
        chrono::Duration::days(7)
    );
}

#[tokio::test]
async fn window_bounds_include_the_start_and_exclude_the_end() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let t = created(&items[0])
        .format("%Y-%m-%dT%H:%M:%S%.3f")
        .to_string();
    let later = (created(&items[0]) + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S%.3f")
        .to_string();
    let earlier = (created(&items[0]) - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S%.3f")
        .to_string();
    let (from_start, _) = api.list_all(GENERAL, Some((&t, &later))).await;
    assert!(from_start
        .iter()
        .any(|i| i["contentId"] == items[0]["contentId"]));
    let (to_end, _) = api.list_all(GENERAL, Some((&earlier, &t))).await;
    assert!(to_end
        .iter()
        .all(|i| i["contentId"] != items[0]["contentId"]));
}

#[tokio::test]
async fn next_page_url_can_replace_next_page_uri() {
    let mut cfg = config();
    cfg.page_size = 50;
    cfg.next_page_header = NextPageHeader::NextPageUrl;
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let resp = api
        .get(&api.feed("subscriptions/content?contentType=Audit.General"))
        .await;
    assert!(resp.headers().contains_key("NextPageUrl"));
    assert!(!resp.headers().contains_key("NextPageUri"));
}

#[tokio::test]
async fn an_invalid_next_page_gets_af20031() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let url = api.feed("subscriptions/content?contentType=Audit.General&nextPage=garbage");
    assert_eq!(
        Api::code(api.get(&url).await).await,
        (400, "AF20031".to_owned())
    );
}

#[tokio::test]
async fn content_types_without_data_list_empty() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all("DLP.All", None).await;
    assert!(items.is_empty());
}
