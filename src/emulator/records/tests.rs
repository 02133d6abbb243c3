//! Record generator tests: every documented field, the real-world variants, realistic sizes, determinism.

use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::*;

fn sample(record_type: i64, n: u64) -> Vec<(String, Value)> {
    let ctx = TenantCtx::new("11111111-2222-3333-4444-555555555555");
    let created = Utc
        .with_ymd_and_hms(2025, 11, 24, 10, 3, 19)
        .single()
        .unwrap();
    (0..n)
        .map(|i| {
            let mut p = plan(42, i, "Audit.General", created, 1.0);
            p.record_type = record_type;
            let text = render(&p, &ctx);
            let value: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            (text, value)
        })
        .collect()
}

fn has(v: &Value, field: &str) -> bool {
    field.split('|').any(|f| v.get(f).is_some())
}

#[test]
fn every_atp_record_carries_the_common_and_documented_fields() {
    for (rt, fields) in DOCUMENTED_FIELDS {
        for (text, v) in sample(*rt, 200) {
            for f in COMMON_FIELDS.iter().chain(fields.iter()) {
                assert!(has(&v, f), "RecordType {rt} lacks {f}: {text}");
            }
            assert_eq!(v["RecordType"], Value::from(*rt));
        }
    }
}

#[test]
fn atp_records_have_realistic_sizes() {
    for (rt, _) in DOCUMENTED_FIELDS {
        let all = sample(*rt, 100);
        let avg = all.iter().map(|(t, _)| t.len()).sum::<usize>() / all.len();
        eprintln!("RecordType {rt}: average {avg} bytes");
        assert!(
            (500..7000).contains(&avg),
            "RecordType {rt}: average {avg} bytes"
        );
    }
}

#[test]
fn mail_records_mix_int_and_string_spellings() {
    let all = sample(28, 300);
    let verdicts: Vec<&Value> = all
        .iter()
        .flat_map(|(_, v)| v["AttachmentData"].as_array().into_iter().flatten())
        .map(|a| &a["FileVerdict"])
        .collect();
    assert!(verdicts.iter().any(|v| v.is_i64()) && verdicts.iter().any(|v| v.is_string()));
    assert!(
        all.iter().any(|(_, v)| v["Policy"].is_i64())
            && all.iter().any(|(_, v)| v["Policy"].is_string())
    );
    assert!(all.iter().any(|(_, v)| v["DetectionType"].is_i64()));
    assert!(all.iter().any(|(_, v)| v["DetectionType"] == "Inline"));
    let subjects: String = all
        .iter()
        .map(|(_, v)| v["Subject"].as_str().unwrap_or(""))
        .collect();
    for c in ['"', '\n', ']', '|', '=', '\\', '\t', 'ü'] {
        assert!(subjects.contains(c), "no subject contains {c:?}");
    }
    let times: Vec<&str> = all
        .iter()
        .filter_map(|(_, v)| v["CreationTime"].as_str())
        .collect();
    assert!(times.iter().any(|t| t.len() == 19) && times.iter().any(|t| t.ends_with('Z')));
}

#[test]
fn url_click_records_use_both_spellings() {
    let all = sample(41, 100);
    for key in ["Url", "URL", "UrlClickAction", "URLClickAction"] {
        assert!(
            all.iter().any(|(_, v)| v.get(key).is_some()),
            "{key} never used"
        );
    }
}

#[test]
fn atp_content_hashes_come_as_hex_and_base64() {
    let all = sample(47, 100);
    let hashes: Vec<&str> = all
        .iter()
        .filter_map(|(_, v)| v["FileData"]["SHA256"].as_str())
        .collect();
    assert!(hashes.iter().any(|h| h.len() == 64) && hashes.iter().any(|h| h.len() == 44));
    assert!(all
        .iter()
        .all(|(_, v)| v["FileData"]["FileSize"].is_string()));
}

#[test]
fn air_records_mix_action_forms_and_keep_data_a_json_string() {
    let all = sample(64, 200);
    let mut string_actions = 0;
    let mut object_actions = 0;
    for (_, v) in &all {
        let data = v["Data"].as_str().expect("Data is a string");
        let parsed: Value = serde_json::from_str(data).expect("Data parses");
        assert!(parsed["Entities"].is_array());
        for a in v["Actions"].as_array().expect("Actions is an array") {
            if let Some(s) = a.as_str() {
                serde_json::from_str::<Value>(s).expect("an action string parses");
                string_actions += 1;
            } else {
                assert!(a.is_object());
                object_actions += 1;
            }
        }
    }
    assert!(string_actions > 0 && object_actions > 0);
    let texts: String = all.iter().map(|(t, _)| t.as_str()).collect();
    assert!(texts.contains(r#"\"mail-message\""#) && texts.contains(r#"\"mailMessage\""#));
    assert!(texts.contains(r#"\"MailCluster\""#) && texts.contains(r#"\"mailCluster\""#));
    assert!(
        all.iter().any(|(_, v)| v["RunningTime"].is_i64())
            && all.iter().any(|(_, v)| v["RunningTime"].is_string())
    );
    assert!(all.iter().any(|(_, v)| v.get("DeeplinkURL").is_some()));
    let dup = all.iter().any(|(_, v)| {
        v["Data"].as_str().is_some_and(|d| {
            d.matches("\"QueryTime\"").count() > d.matches("\"ClusterBy\"").count()
        })
    });
    assert!(dup, "no Data carries a duplicated QueryTime");
}

#[test]
fn record_ids_are_unique_and_generation_is_deterministic() {
    let a = sample(28, 50);
    let b = sample(28, 50);
    assert_eq!(
        a.iter().map(|(t, _)| t).collect::<Vec<_>>(),
        b.iter().map(|(t, _)| t).collect::<Vec<_>>()
    );
    let ids: std::collections::HashSet<&str> =
        a.iter().filter_map(|(_, v)| v["Id"].as_str()).collect();
    assert_eq!(ids.len(), 50);
}

#[test]
fn the_atp_share_of_audit_general_follows_the_configured_fraction() {
    let created = Utc
        .with_ymd_and_hms(2025, 11, 24, 10, 0, 0)
        .single()
        .unwrap();
    let atp = (0..2000)
        .filter(|i| is_atp(plan(7, *i, "Audit.General", created, 0.3).record_type))
        .count();
    assert!((500..700).contains(&atp), "{atp}");
    assert!((0..500).all(|i| !is_atp(plan(7, i, "Audit.Exchange", created, 0.3).record_type)));
}
