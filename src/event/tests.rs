//! Decoding and classification of events: the tolerance rules of `normalization.md`, one per test.

use bytestring::ByteString;
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::enums::{FileVerdict, Policy, PolicyAction, SourceWorkload, UrlClickAction};
use super::*;
use crate::source::{decode_element, Decoded};

fn ev(record: serde_json::Value) -> Event {
    let raw = serde_json::to_vec(&record).unwrap_or_default();
    match Record::from_json(raw) {
        Ok(record) => Event::from_record(record, &NormalizeContext::new("contoso")),
        Err(e) => panic!("{record}: {e}"),
    }
}

fn mail(fields: serde_json::Value) -> Event {
    let mut record = json!({"Id": "m1", "RecordType": 28, "Operation": "TIMailData", "CreationTime": "2025-11-24T10:03:19"});
    if let (Some(r), Some(f)) = (record.as_object_mut(), fields.as_object()) {
        r.extend(f.clone());
    }
    ev(record)
}

#[test]
fn record_type_as_a_string_is_read() {
    let record = Record::from_json(r#"{"Id":"a","RecordType":"47","Operation":"AtpDetection"}"#);
    assert_eq!(record.map(|r| r.record_type).ok(), Some(47));
}

#[test]
fn a_record_without_id_is_refused() {
    assert!(matches!(
        Record::from_json(r#"{"RecordType":28}"#),
        Err(RecordError::Missing("Id"))
    ));
    assert!(matches!(
        Record::from_json("[1]"),
        Err(RecordError::Json(_))
    ));
}

#[test]
fn a_record_that_is_not_utf8_is_refused_where_the_parser_would_not_look() {
    // serde_json skips the unknown member's string without checking it; the record's text must be UTF-8.
    let raw = b"{\"Id\":\"x\",\"RecordType\":28,\"Other\":\"caf\xe9\"}".to_vec();
    let at = raw
        .iter()
        .position(|&b| b == 0xe9)
        .expect("the byte is there");
    assert!(matches!(
        Record::from_json(raw),
        Err(RecordError::NotUtf8(offset)) if offset == at
    ));
    let record = Record::from_json(r#"{"Id":"x","RecordType":28,"Other":"café"}"#).expect("UTF-8");
    assert_eq!(
        &record.raw[..],
        r#"{"Id":"x","RecordType":28,"Other":"café"}"#
    );
}

#[test]
fn unknown_record_types_pass_through_untyped_without_error() {
    let e = ev(
        json!({"Id": "u", "RecordType": 15, "Operation": "UserLoggedIn", "Workload": "AzureActiveDirectory"}),
    );
    assert_eq!(e.body(), &Body::Untyped);
    assert_eq!(e.decode_error(), None);
    assert_eq!(e.common().workload.as_deref(), Some("AzureActiveDirectory"));
}

#[test]
fn a_64_that_is_not_an_investigation_passes_through_untyped() {
    let e = ev(
        json!({"Id": "a", "RecordType": 64, "Operation": "AlertEntityGenerated", "Status": "Active"}),
    );
    assert_eq!(e.body(), &Body::Untyped);
    assert_eq!(e.decode_error(), None);
    assert!(!e.is_alert());
}

#[test]
fn an_undecodable_record_keeps_its_common_fields_and_says_why() {
    let e = mail(json!({"OrganizationId": "org", "Recipients": {"not": "a list"}}));
    assert_eq!(e.body(), &Body::Untyped);
    assert_eq!(e.common().organization_id.as_deref(), Some("org"));
    let reason = e.decode_error().unwrap_or_default();
    assert!(
        reason.contains("TIMailData") && reason.contains("Recipients"),
        "{reason}"
    );
}

#[test]
fn broken_json_never_panics_and_is_reported() {
    let record = Record {
        raw: ByteString::from_static("{\"Id\":\"x\",\"Subject\":"),
        id: "x".into(),
        record_type: 28,
        operation: "TIMailData".into(),
        creation_time: "2025-11-24T10:03:19".into(),
        large: Default::default(),
        single_line: false,
    };
    let e = Event::from_record(record, &NormalizeContext::default());
    assert!(e.decode_error().is_some());
    assert!(!e.raw_is_json);
    assert_eq!(e.common(), &Common::default());
}

#[test]
fn unknown_fields_are_kept_with_their_values() {
    let e = mail(json!({"Subscription": "Audit.General"}));
    let kept: Vec<_> = e
        .unknown_fields()
        .iter()
        .map(|(k, v)| (k.as_str(), v.get()))
        .collect();
    assert_eq!(kept, vec![("Subscription", "\"Audit.General\"")]);
}

#[test]
fn int_and_string_enumerations_decode_to_names() {
    let e = mail(
        json!({"Policy": 4, "PolicyAction": "5", "AttachmentData": [{"FileVerdict": "1"}, {"FileVerdict": 0}]}),
    );
    let Body::Mail(m) = e.body() else {
        panic!("not mail: {:?}", e.body())
    };
    assert_eq!(m.policy, Some(Policy::Phish));
    assert_eq!(m.policy_action, Some(PolicyAction::Quarantine));
    assert_eq!(m.attachments[0].file_verdict, Some(FileVerdict::Bad));
    assert_eq!(m.attachments[1].file_verdict, Some(FileVerdict::Good));
}

#[test]
fn url_and_click_action_decode_in_both_spellings() {
    for (url_key, action_key) in [("Url", "UrlClickAction"), ("URL", "URLClickAction")] {
        let e = ev(
            json!({"Id": "c", "RecordType": 41, "Operation": "TIUrlClickData", url_key: "https://x.example", action_key: 2}),
        );
        let Body::UrlClick(m) = e.body() else {
            panic!("not a click: {:?}", e.body())
        };
        assert_eq!(m.url.as_deref(), Some("https://x.example"), "{url_key}");
        assert_eq!(
            m.url_click_action,
            Some(UrlClickAction::BlockPage),
            "{action_key}"
        );
    }
}

#[test]
fn deep_link_decodes_in_both_spellings() {
    for key in ["DeepLinkUrl", "DeeplinkURL"] {
        let e = ev(
            json!({"Id": "i", "RecordType": 64, "Operation": "AirInvestigationData", key: "https://l.example"}),
        );
        let Body::Air(m) = e.body() else {
            panic!("not AIR: {:?}", e.body())
        };
        assert_eq!(
            m.deep_link_url.as_deref(),
            Some("https://l.example"),
            "{key}"
        );
    }
}

#[test]
fn actions_as_strings_and_as_objects_flatten_to_the_same_entities() {
    let entity =
        json!({"Type": "mailMessage", "Recipient": "a@contoso.com", "SenderIP": "192.0.2.1"});
    let action = json!({"ActionType": "EmailRemediation", "Entities": [entity]});
    let air = |actions: serde_json::Value| {
        let e = ev(
            json!({"Id": "i", "RecordType": 64, "Operation": "AirInvestigationData", "Actions": actions}),
        );
        match e.body() {
            Body::Air(m) => m.entities().clone(),
            other => panic!("not AIR: {other:?}"),
        }
    };
    let from_objects = air(json!([action]));
    assert_eq!(from_objects, air(json!([action.to_string()])));
    assert_eq!(from_objects.recipients, vec!["a@contoso.com".to_owned()]);
    assert_eq!(from_objects.ips, vec!["192.0.2.1".to_owned()]);
}

#[test]
fn data_with_duplicate_keys_decodes() {
    let data = r#"{"QueryTime":"2024-10-31T13:31:54Z","QueryTime":"10/31/2024 1:31:54 PM","Entities":[{"Type":"ip","Address":"192.0.2.7"}]}"#;
    let e =
        ev(json!({"Id": "i", "RecordType": 64, "Operation": "AirInvestigationData", "Data": data}));
    assert_eq!(e.decode_error(), None);
    let Body::Air(m) = e.body() else {
        panic!("not AIR: {:?}", e.body())
    };
    assert_eq!(
        m.data().and_then(|d| d["QueryTime"].as_str()),
        Some("10/31/2024 1:31:54 PM")
    );
    assert_eq!(m.entities().ips, vec!["192.0.2.7".to_owned()]);
}

#[test]
fn creation_time_parses_with_and_without_zone_and_fraction() {
    let at = Utc.with_ymd_and_hms(2025, 11, 24, 10, 3, 19).single();
    for time in [
        "2025-11-24T10:03:19",
        "2025-11-24T10:03:19Z",
        "2025-11-24T10:03:19.0000000Z",
        "2025-11-24T11:03:19+01:00",
    ] {
        let e = ev(json!({"Id": "t", "RecordType": 28, "CreationTime": time}));
        assert_eq!(e.creation_time(), at, "{time}");
    }
}

#[test]
fn an_unparseable_creation_time_falls_back_to_the_fetch_time() {
    let e = ev(json!({"Id": "t", "RecordType": 28, "CreationTime": "yesterday"}));
    assert_eq!(e.creation_time(), None);
    assert_eq!(e.timestamp(), e.fetched_at);
}

#[test]
fn sha256_in_base64_and_hex_normalize_to_lowercase_hex() {
    let e = ev(
        json!({"Id": "f", "RecordType": 47, "Operation": "AtpDetection", "SourceWorkload": 0,
        "FileData": {"SHA256": "SnltYq0lbVwFlAIf+lQugPXaMcDNV9t9pN/Zkhx7hQ8=", "FileVerdict": 1}}),
    );
    let Body::AtpContent(m) = e.body() else {
        panic!("not 47: {:?}", e.body())
    };
    let hash = m.file.sha256.as_ref().and_then(|h| h.hex.as_deref());
    assert_eq!(
        hash,
        Some("4a796d62ad256d5c0594021ffa542e80f5da31c0cd57db7da4dfd9921c7b850f")
    );
    assert_eq!(m.source_workload, Some(SourceWorkload::SharePoint));
    assert_eq!(e.name(), "Malicious file detected in SharePoint");
}

#[test]
fn mail_severity_follows_the_documented_table() {
    let case = |fields: serde_json::Value| {
        let e = mail(fields);
        (e.name().to_owned(), e.cef_severity(), e.is_alert())
    };
    let blocked_malware = case(json!({"Verdict": "Malware", "DeliveryAction": "Blocked"}));
    assert_eq!(blocked_malware, ("Malware email detected".into(), 8, true));
    let delivered_malware = case(json!({"Verdict": "Malware", "DeliveryAction": "Delivered"}));
    assert_eq!(
        delivered_malware,
        ("Malware email detected".into(), 9, true)
    );
    let high_phish = case(
        json!({"Verdict": "Phish", "PhishConfidenceLevel": "High", "LatestDeliveryLocation": "Quarantine"}),
    );
    assert_eq!(
        high_phish,
        ("High confidence phish email detected".into(), 8, true)
    );
    let phish = case(json!({"Verdict": "Phish", "LatestDeliveryLocation": "JunkFolder"}));
    assert_eq!(phish, ("Phish email detected".into(), 7, true));
    let spam = case(json!({"Verdict": "Spam", "DeliveryAction": "DeliveredAsSpam"}));
    assert_eq!(spam, ("Spam email detected".into(), 3, false));
    let bulk = case(json!({"Verdict": "Bulk"}));
    assert_eq!(bulk, ("Bulk email detected".into(), 2, false));
}

#[test]
fn url_click_severity_follows_the_documented_table() {
    let case = |action: serde_json::Value| {
        let e = ev(
            json!({"Id": "c", "RecordType": 41, "Operation": "TIUrlClickData", "UrlClickAction": action}),
        );
        (e.name().to_owned(), e.cef_severity(), e.is_alert())
    };
    assert_eq!(
        case(json!(2)),
        ("Malicious URL click blocked".into(), 6, true)
    );
    assert_eq!(
        case(json!(3)),
        ("URL click held for detonation".into(), 3, false)
    );
    assert_eq!(
        case(json!("4")),
        (
            "Malicious URL click allowed by user override".into(),
            9,
            true
        )
    );
    assert_eq!(
        case(json!(5)),
        (
            "URL click allowed before detonation by user override".into(),
            6,
            true
        )
    );
    assert_eq!(case(json!(1)), ("URL click allowed".into(), 2, false));
    assert_eq!(case(json!(null)), ("URL click detected".into(), 5, false));
}

#[test]
fn air_severity_follows_the_status_table() {
    let case = |status: &str| {
        let e = ev(
            json!({"Id": "i", "RecordType": 64, "Operation": "AirInvestigationData", "Status": status}),
        );
        (e.name().to_owned(), e.cef_severity(), e.is_alert())
    };
    assert_eq!(
        case("Threats Found"),
        ("Automated investigation: Threats Found".into(), 8, true)
    );
    assert_eq!(
        case("Pending Action"),
        ("Automated investigation: Pending Action".into(), 7, true)
    );
    assert_eq!(
        case("Remediated"),
        ("Automated investigation: Remediated".into(), 6, true)
    );
    assert_eq!(
        case("Failed"),
        ("Automated investigation: Failed".into(), 5, false)
    );
    assert_eq!(
        case("Terminated by throttling"),
        (
            "Automated investigation: Terminated by throttling".into(),
            4,
            false
        )
    );
    assert_eq!(
        case("Running"),
        ("Automated investigation: Running".into(), 3, false)
    );
    assert_eq!(
        case("No threats found"),
        ("Automated investigation: No threats found".into(), 2, false)
    );
}

#[test]
fn a_passthrough_event_keeps_the_record_and_its_time_without_decoding_it() {
    // AttachmentData as a string does not fit the model: from_record reports it, passthrough never looks.
    let raw = r#"{"Id":"m1","RecordType":28,"Operation":"TIMailData","CreationTime":"2025-11-24T10:03:19","Verdict":"Malware","AttachmentData":"see attached"}"#;
    let record = Record::from_json(raw).expect("record");
    let ctx = NormalizeContext::new("contoso");
    let modeled = Event::from_record(record.clone(), &ctx);
    assert!(modeled.decode_error().is_some());
    let passed = Event::passthrough(record, &ctx);
    assert_eq!(passed.decode_error(), None);
    assert!(!passed.is_alert());
    assert_eq!(&passed.record.raw[..], raw);
    assert_eq!(
        passed.creation_time(),
        Utc.with_ymd_and_hms(2025, 11, 24, 10, 3, 19).single()
    );
    assert_eq!(passed.tenant(), "contoso");
    let mut out = Vec::new();
    crate::encode::encode(crate::encode::Format::Json, &passed, &mut out);
    assert_eq!(out, raw.as_bytes());
}

/// Every output format of `record`'s event, and the event's own view of `Data` and `Actions`.
fn rendered(record: Record) -> Vec<Vec<u8>> {
    let ctx = NormalizeContext {
        fetched_at: Utc.with_ymd_and_hms(2025, 11, 24, 10, 5, 0).unwrap(),
        ..NormalizeContext::new("contoso")
    };
    let event = Event::from_record(record, &ctx);
    let mut outputs: Vec<Vec<u8>> = [
        crate::encode::Format::Json,
        crate::encode::Format::Ecs,
        crate::encode::Format::Cef,
        crate::encode::Format::Leef,
    ]
    .into_iter()
    .map(|format| {
        let mut out = Vec::new();
        crate::encode::encode(format, &event, &mut out);
        out
    })
    .collect();
    if let Body::Air(air) = event.body() {
        outputs.push(
            format!("{:?} {:?} {:?}", air.data(), air.actions(), air.entities()).into_bytes(),
        );
    }
    outputs.push(format!("{:?}", event.decode_error()).into_bytes());
    outputs
}

#[test]
fn an_air_record_decodes_the_same_with_data_and_actions_cut_out() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut texts: Vec<String> = [
        "air_remediated_objects",
        "air_running_no_actions",
        "air_threats_found_strings",
        "undecodable_air_running_time",
    ]
    .iter()
    .map(|name| std::fs::read_to_string(format!("{dir}/{name}.json")).unwrap())
    .collect();
    // The real public samples beside the project, when they are there (see tests/formats_real.rs).
    let real = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/real-atp-records.jsonl"
    );
    if let Ok(lines) = std::fs::read_to_string(real) {
        texts.extend(
            lines
                .lines()
                .filter(|line| line.contains("AirInvestigationData"))
                .map(str::to_owned),
        );
    }
    // The shapes the cut must survive: repeated and lower-case keys, `null`, an object, text that is not JSON,
    // and a model field that fails to decode (the whole record is then decoded again, slowly, for the reason).
    let base = r#""Id":"a1","RecordType":64,"Operation":"AirInvestigationData","CreationTime":"2025-11-24T10:03:19","Status":"Threats Found""#;
    for members in [
        r#""Data":"{\"AlertDisplayName\":\"one\"}","Actions":["{\"ActionType\":\"SoftDelete\"}"],"Data":"{\"AlertDisplayName\":\"two\"}""#,
        r#""data":null,"actions":"[{\"ActionType\":\"x\"}]""#,
        r#""Data":{"AlertDisplayName":"object","ExtendedLinks":[{"Href":"https://x"}]},"Actions":[]"#,
        r#""Data":"not json","Actions":[{"ActionId":"7"}]"#,
        r#""Data":"{\"a\":1}","RunningTime":{"not":"a number"}"#,
    ] {
        texts.push(format!("{{{base},{members}}}"));
    }
    for text in texts {
        let Decoded::Wanted(located) = decode_element(text.as_bytes(), &[64]) else {
            panic!("not an AIR record: {text}");
        };
        if text.to_ascii_lowercase().contains("\"data\"") {
            assert_ne!(located.large, LargeMembers::default(), "{text}");
        }
        let plain = Record {
            large: LargeMembers::default(),
            single_line: false,
            ..located.clone()
        };
        for (i, (a, b)) in rendered(located).iter().zip(rendered(plain)).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(&b),
                "output {i} of {text}"
            );
        }
    }
}
