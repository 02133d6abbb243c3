//! Every real public sample record (`../shared/fixtures/real-atp-records.jsonl`, see its PROVENANCE file)
//! decodes into its model with no failure and no field lost, and goes out in every format.
//!
//! The file lives beside the project, not in it; when it is absent the test says so and passes.

mod formats_support;

use std::io::Write as _;
use std::path::PathBuf;

use atp_forwarder::encode::Format;
use atp_forwarder::event::{Body, Event};
use formats_support::{ecs, encoded, event, parse_cef, parse_leef};
use serde_json::Value;

fn real_records() -> Option<Vec<(usize, String)>> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/real-atp-records.jsonl");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| (i + 1, l.to_owned()))
                .collect(),
        ),
        Err(e) => {
            // Written to the real stderr, not through the test harness capture, so it shows on every run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: real ATP records not found at {} ({e}); nothing was checked",
                path.display()
            );
            None
        }
    }
}

fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_str()
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn raw_str<'a>(raw: &'a Value, key: &str) -> Option<&'a str> {
    raw.get(key).and_then(Value::as_str)
}

#[test]
fn every_real_record_decodes_into_its_model_without_error() {
    let Some(records) = real_records() else {
        return;
    };
    assert!(!records.is_empty(), "the sample file is empty");
    for (line, text) in &records {
        let ev = event(text.as_bytes());
        assert_eq!(ev.decode_error(), None, "line {line}");
        let expected = match (ev.record.record_type, ev.record.operation.as_str()) {
            (28, _) => matches!(ev.body(), Body::Mail(_)),
            (41, _) => matches!(ev.body(), Body::UrlClick(_)),
            (47, _) => matches!(ev.body(), Body::AtpContent(_)),
            (64, "AirInvestigationData") => matches!(ev.body(), Body::Air(_)),
            // Line 20: an SCC alert record that carries RecordType 64 passes through untyped.
            _ => matches!(ev.body(), Body::Untyped),
        };
        assert!(
            expected,
            "line {line}: {} {} decoded as {:?}",
            ev.record.record_type,
            ev.record.operation,
            ev.body()
        );
    }
}

#[test]
fn no_real_record_loses_a_field_in_ecs() {
    let Some(records) = real_records() else {
        return;
    };
    for (line, text) in &records {
        let raw: Value = serde_json::from_str(text).expect("the sample file is JSON");
        let ev = event(text.as_bytes());
        let doc = ecs(&ev);
        let audit = at(&doc, "o365.audit").unwrap_or_else(|| panic!("line {line}: no o365.audit"));
        let raw_obj = raw.as_object().expect("records are objects");
        for key in raw_obj.keys() {
            assert!(
                audit.get(key).is_some(),
                "line {line}: {key} missing from o365.audit"
            );
        }
        assert_eq!(
            audit, &raw,
            "line {line}: o365.audit differs from the record"
        );
    }
}

#[test]
fn key_fields_of_real_records_are_mapped() {
    let Some(records) = real_records() else {
        return;
    };
    for (line, text) in &records {
        let raw: Value = serde_json::from_str(text).expect("the sample file is JSON");
        let ev = event(text.as_bytes());
        let doc = ecs(&ev);
        let ctx = format!("line {line}");
        assert_eq!(str_at(&doc, "event.id"), raw_str(&raw, "Id"), "{ctx}");
        assert_eq!(
            str_at(&doc, "event.action"),
            raw_str(&raw, "Operation"),
            "{ctx}"
        );
        assert_eq!(
            str_at(&doc, "organization.id"),
            raw_str(&raw, "OrganizationId"),
            "{ctx}"
        );
        assert!(
            str_at(&doc, "@timestamp").is_some_and(|t| t.ends_with('Z')),
            "{ctx}"
        );
        match ev.body() {
            Body::Mail(_) => mail_mapped(&raw, &doc, &ctx),
            Body::UrlClick(_) => {
                let url = raw_str(&raw, "Url").or(raw_str(&raw, "URL"));
                assert_eq!(str_at(&doc, "url.original"), url, "{ctx}");
                let host = url.and_then(|u| url::Url::parse(u).ok());
                let host = host.as_ref().and_then(|u| u.host_str().map(str::to_owned));
                assert_eq!(str_at(&doc, "url.domain"), host.as_deref(), "{ctx}");
                assert_eq!(str_at(&doc, "source.ip"), raw_str(&raw, "UserIp"), "{ctx}");
                assert_eq!(str_at(&doc, "user.id"), raw_str(&raw, "UserId"), "{ctx}");
                let source = raw_str(&raw, "SourceId")
                    .filter(|s| s.len() == 36 && s.matches('-').count() == 4);
                assert_eq!(str_at(&doc, "email.local_id"), source, "{ctx}");
            }
            Body::AtpContent(_) => {
                let file = &raw["FileData"];
                assert_eq!(
                    str_at(&doc, "file.name"),
                    file["FileName"].as_str(),
                    "{ctx}"
                );
                assert_eq!(
                    str_at(&doc, "file.path"),
                    file["FilePath"].as_str(),
                    "{ctx}"
                );
                let size: i64 = file["FileSize"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("FileSize");
                assert_eq!(
                    at(&doc, "file.size").and_then(Value::as_i64),
                    Some(size),
                    "{ctx}"
                );
                let hash =
                    str_at(&doc, "file.hash.sha256").unwrap_or_else(|| panic!("{ctx}: no hash"));
                assert!(
                    hash.len() == 64
                        && hash
                            .bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                );
                assert_eq!(
                    str_at(&doc, "threat.software.name"),
                    file["MalwareFamily"].as_str(),
                    "{ctx}"
                );
                assert_eq!(str_at(&doc, "event.kind"), Some("alert"), "{ctx}");
            }
            Body::Air(_) => air_mapped(&raw, &doc, &ctx),
            Body::Untyped => {
                assert!(
                    at(&doc, "o365.atp").is_none() && at(&doc, "o365.air").is_none(),
                    "{ctx}"
                );
            }
        }
    }
}

fn mail_mapped(raw: &Value, doc: &Value, ctx: &str) {
    assert_eq!(
        str_at(doc, "email.local_id"),
        raw_str(raw, "NetworkMessageId"),
        "{ctx}"
    );
    assert_eq!(
        str_at(doc, "email.message_id"),
        raw_str(raw, "InternetMessageId"),
        "{ctx}"
    );
    assert_eq!(
        str_at(doc, "email.sender.address"),
        raw_str(raw, "P1Sender"),
        "{ctx}"
    );
    assert_eq!(
        at(doc, "email.from.address").and_then(|a| a[0].as_str()),
        raw_str(raw, "P2Sender"),
        "{ctx}"
    );
    assert_eq!(at(doc, "email.to.address"), raw.get("Recipients"), "{ctx}");
    assert_eq!(
        str_at(doc, "email.subject"),
        raw_str(raw, "Subject"),
        "{ctx}"
    );
    assert_eq!(str_at(doc, "source.ip"), raw_str(raw, "SenderIp"), "{ctx}");
    assert_eq!(
        str_at(doc, "o365.atp.verdict"),
        raw_str(raw, "Verdict"),
        "{ctx}"
    );
    assert!(str_at(doc, "email.direction").is_some(), "{ctx}");
    if raw.get("Policy").is_some() {
        assert!(str_at(doc, "rule.name").is_some(), "{ctx}");
    }
    for (i, att) in raw
        .get("AttachmentData")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let out = &doc["email"]["attachments"][i]["file"];
        assert_eq!(out["name"].as_str(), att["FileName"].as_str(), "{ctx}");
        let want = att["SHA256"].as_str().map(str::to_ascii_lowercase);
        assert_eq!(out["hash"]["sha256"].as_str(), want.as_deref(), "{ctx}");
    }
}

fn air_mapped(raw: &Value, doc: &Value, ctx: &str) {
    assert_eq!(
        str_at(doc, "o365.air.investigation_id"),
        raw_str(raw, "InvestigationId"),
        "{ctx}"
    );
    assert_eq!(
        str_at(doc, "o365.air.status"),
        raw_str(raw, "Status"),
        "{ctx}"
    );
    assert_eq!(
        str_at(doc, "event.url"),
        raw_str(raw, "DeepLinkUrl"),
        "{ctx}"
    );
    assert!(
        at(doc, "o365.air.data").is_some_and(Value::is_object),
        "{ctx}: Data not decoded"
    );
    for action in at(doc, "o365.air.actions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert!(action.is_object(), "{ctx}: action not decoded: {action}");
    }
    let running = raw
        .get("RunningTime")
        .map(|r| r.to_string().trim_matches('"').to_owned());
    let out = at(doc, "o365.air.running_time").map(Value::to_string);
    assert_eq!(out, running, "{ctx}");
    let alert = matches!(
        raw_str(raw, "Status"),
        Some("Remediated" | "Pending Action" | "Threats Found")
    );
    assert_eq!(
        str_at(doc, "event.kind"),
        Some(if alert { "alert" } else { "event" }),
        "{ctx}"
    );
}

#[test]
fn every_real_record_goes_out_in_every_format_with_its_id() {
    let Some(records) = real_records() else {
        return;
    };
    for (line, text) in &records {
        let ev: Event = event(text.as_bytes());
        assert_eq!(
            encoded(Format::Json, &ev),
            *text,
            "line {line}: json is not the raw record"
        );
        let cef =
            parse_cef(&encoded(Format::Cef, &ev)).unwrap_or_else(|e| panic!("line {line}: {e}"));
        assert_eq!(
            cef.get("externalId"),
            Some(ev.record.id.as_str()),
            "line {line}"
        );
        assert_eq!(
            cef.header[3],
            format!("{}:{}", ev.record.record_type, ev.record.operation),
            "line {line}"
        );
        let leef =
            parse_leef(&encoded(Format::Leef, &ev)).unwrap_or_else(|e| panic!("line {line}: {e}"));
        assert_eq!(
            leef.get("externalId"),
            Some(ev.record.id.as_str()),
            "line {line}"
        );
    }
}
