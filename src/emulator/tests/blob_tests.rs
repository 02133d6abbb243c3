//! Blob bodies, determinism, expected records, added and live blobs, the huge blob.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde_json::Value;

use super::support::*;
use crate::emulator::records::{COMMON_FIELDS, DOCUMENTED_FIELDS};
use crate::emulator::{EmulatorConfig, LiveArrivals};

const ATP: [i64; 4] = [28, 41, 47, 64];

/// Every record of every blob listed in the whole history (two windows).
async fn all_records(emu: &crate::emulator::Emulator, api: &Api) -> Vec<Value> {
    let now = emu.now();
    let f = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let cut = now - chrono::Duration::hours(12);
    let windows = [
        (f(now - chrono::Duration::hours(36)), f(cut)),
        (f(cut), f(now + chrono::Duration::seconds(1))),
    ];
    let mut records = Vec::new();
    for (s, e) in &windows {
        let (items, _) = api.list_all(GENERAL, Some((s, e))).await;
        for item in items {
            records.extend(api.blob(item["contentUri"].as_str().unwrap()).await);
        }
    }
    records
}

#[tokio::test]
async fn a_blob_body_is_a_json_array_whose_atp_records_carry_every_documented_field() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let mut seen_types = HashSet::new();
    for item in items.iter().take(30) {
        let records = api.blob(item["contentUri"].as_str().unwrap()).await;
        assert_eq!(records.len(), 20);
        for r in &records {
            for f in COMMON_FIELDS {
                assert!(r.get(*f).is_some(), "{f} missing in {r}");
            }
            let rt = r["RecordType"].as_i64().unwrap();
            seen_types.insert(rt);
            if let Some((_, fields)) = DOCUMENTED_FIELDS.iter().find(|(t, _)| *t == rt) {
                for f in *fields {
                    assert!(
                        f.split('|').any(|k| r.get(k).is_some()),
                        "RecordType {rt} lacks {f}"
                    );
                }
            }
        }
    }
    assert!(ATP.iter().all(|t| seen_types.contains(t)), "{seen_types:?}");
    assert!(
        seen_types.len() > 4,
        "non-ATP Audit.General records are mixed in"
    );
    assert_eq!(emu.stats().blobs_served, 30);
}

#[tokio::test]
async fn generation_is_deterministic_for_a_seed() {
    let anchor = chrono::Utc::now() - chrono::Duration::minutes(5);
    let cfg = || EmulatorConfig {
        anchor: Some(anchor),
        ..config()
    };
    let (a, b) = (start(cfg()).await, start(cfg()).await);
    let (api_a, api_b) = (Api::new(&a).await, Api::new(&b).await);
    let (items_a, _) = api_a.list_all(GENERAL, None).await;
    let (items_b, _) = api_b.list_all(GENERAL, None).await;
    let key = |i: &Value| {
        (
            i["contentId"].as_str().unwrap().to_owned(),
            i["contentCreated"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(
        items_a.iter().map(key).collect::<Vec<_>>(),
        items_b.iter().map(key).collect::<Vec<_>>()
    );
    let id = items_a[0]["contentId"].as_str().unwrap();
    let body_a = api_a
        .get(items_a[0]["contentUri"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    let body_b = api_b
        .get(&format!(
            "{}/api/v1.0/{TENANT}/activity/feed/audit/{id}",
            b.base_url()
        ))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(body_a, body_b);

    let c = start(EmulatorConfig { seed: 99, ..cfg() }).await;
    let api_c = Api::new(&c).await;
    let body_c = api_c
        .get(&format!(
            "{}/api/v1.0/{TENANT}/activity/feed/audit/{id}",
            c.base_url()
        ))
        .await
        .bytes()
        .await
        .unwrap();
    assert_ne!(body_a, body_c);
}

#[tokio::test]
async fn expected_records_match_the_union_of_all_served_blobs() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let records = all_records(&emu, &api).await;
    assert_eq!(records.len(), 180 * 20);
    let served: BTreeSet<(String, i64)> = records
        .iter()
        .filter(|r| ATP.contains(&r["RecordType"].as_i64().unwrap()))
        .map(|r| {
            (
                r["Id"].as_str().unwrap().to_owned(),
                r["RecordType"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, i64)> = emu
        .expected_records(TENANT, &ATP)
        .into_iter()
        .map(|e| (e.id, e.record_type))
        .collect();
    assert_eq!(served, expected);
    let share = served.len() as f64 / records.len() as f64;
    assert!((0.25..0.35).contains(&share), "ATP share {share}");
}

#[tokio::test]
async fn an_unknown_content_id_gets_af20050_and_a_malformed_one_af20052() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let unknown = api.feed("audit/20990101000000000000000$20990101000000000000000$audit_general$Audit_General$emea0001");
    assert_eq!(
        Api::code(api.get(&unknown).await).await,
        (404, "AF20050".to_owned())
    );
    assert_eq!(
        Api::code(api.get(&api.feed("audit/nonsense")).await).await,
        (400, "AF20052".to_owned())
    );
}

#[tokio::test]
async fn added_blobs_are_listed_at_once_and_expected() {
    let emu = start(config()).await;
    let api = Api::new(&emu).await;
    let before = emu.expected_records(TENANT, &ATP).len();
    let ids = emu.add_blobs(TENANT, GENERAL, 3);
    assert_eq!(ids.len(), 3);
    let (items, _) = api.list_all(GENERAL, None).await;
    let listed: HashSet<&str> = items
        .iter()
        .map(|i| i["contentId"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| listed.contains(id.as_str())));
    assert!(emu.expected_records(TENANT, &ATP).len() > before);
    assert!(emu.add_blobs("unknown-tenant", GENERAL, 1).is_empty());
}

#[tokio::test]
async fn live_arrivals_add_blobs_while_running() {
    let cfg = EmulatorConfig {
        live: Some(LiveArrivals {
            interval: Duration::from_millis(50),
            blobs_per_tick: 2,
        }),
        ..config()
    };
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let (first, _) = api.list_all(GENERAL, None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (now, _) = api.list_all(GENERAL, None).await;
        if now.len() >= first.len() + 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no live blobs arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_huge_blob_is_about_the_configured_size_and_streams_whole() {
    let cfg = EmulatorConfig {
        huge_blob_bytes: Some(3_000_000),
        ..config()
    };
    let emu = start(cfg).await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let mut huge = None;
    for item in &items {
        let resp = api.get(item["contentUri"].as_str().unwrap()).await;
        let bytes = resp.bytes().await.unwrap();
        if bytes.len() > 1_000_000 {
            huge = Some(bytes);
        }
    }
    let huge = huge.expect("one blob is huge");
    assert!(
        (2_400_000..3_600_000).contains(&huge.len()),
        "{}",
        huge.len()
    );
    let records: Vec<Value> = serde_json::from_slice(&huge).unwrap();
    let ids: HashSet<&str> = records.iter().map(|r| r["Id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), records.len());
    let expected: HashSet<String> = emu
        .expected_records(TENANT, &ATP)
        .into_iter()
        .map(|e| e.id)
        .collect();
    let atp_in_huge = records
        .iter()
        .filter(|r| ATP.contains(&r["RecordType"].as_i64().unwrap()));
    assert!(atp_in_huge
        .map(|r| r["Id"].as_str().unwrap())
        .all(|id| expected.contains(id)));
}

#[tokio::test]
async fn a_million_record_history_starts_fast_and_lists_its_expected_records() {
    let cfg = EmulatorConfig {
        blob_interval: Duration::from_secs(180),
        records_per_blob: 1667,
        ..config()
    };
    let t0 = std::time::Instant::now();
    let emu = start(cfg).await;
    let started = t0.elapsed();
    let expected = emu.expected_records(TENANT, &ATP);
    eprintln!(
        "start {started:?}, expected_records {:?} for {} ATP records",
        t0.elapsed() - started,
        expected.len()
    );
    assert!(started < Duration::from_secs(2), "{started:?}");
    assert!(
        (270_000..330_000).contains(&expected.len()),
        "{}",
        expected.len()
    );
}

#[tokio::test]
async fn kept_bodies_are_served_byte_for_byte_as_the_rendered_ones() {
    let emu = start(EmulatorConfig {
        records_per_blob: 400,
        ..config()
    })
    .await;
    let api = Api::new(&emu).await;
    let (items, _) = api.list_all(GENERAL, None).await;
    let uris: Vec<String> = items
        .iter()
        .take(4)
        .map(|item| item["contentUri"].as_str().unwrap().to_owned())
        .collect();
    let fetch = |uri: String| {
        let api = &api;
        async move {
            let resp = api.get(&uri).await;
            assert_eq!(resp.status(), reqwest::StatusCode::OK, "{uri}");
            resp.bytes().await.unwrap()
        }
    };
    let mut rendered = Vec::new();
    for uri in &uris {
        rendered.push(fetch(uri.clone()).await);
    }

    let kept = emu.keep_rendered_bodies(TENANT);
    let bodies: Vec<_> = emu.blob_bodies(TENANT).collect();
    assert_eq!(kept, bodies.iter().map(|b| b.len() as u64).sum::<u64>());
    for (uri, before) in uris.iter().zip(&rendered) {
        assert!(before.len() > 64 * 1024, "a body spans several chunks");
        assert_eq!(&fetch(uri.clone()).await, before, "{uri}");
        assert!(bodies.contains(before), "blob_bodies gives the kept bytes");
    }

    // The fetch really sends the kept bytes (not a new rendering): change one and see it served.
    let first_id = items[0]["contentId"].as_str().unwrap().to_owned();
    emu.inner
        .keep_body(TENANT, &first_id, axum::body::Bytes::from_static(b"[]"));
    assert_eq!(&fetch(uris[0].clone()).await[..], b"[]");
}
