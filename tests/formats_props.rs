//! Property tests: arbitrary strings in every field (quotes, backslashes, `|`, `=`, `]`, tabs, CR/LF, NUL,
//! non-ASCII, very long) never break a format. A CEF message parses back — with the independent parser of
//! `formats_support` — into the same header and extension values; a LEEF message keeps its field count; ECS
//! output is valid JSON; and no input, not even garbage bytes, makes an encoder panic.

mod formats_support;

use atp_forwarder::encode::{self, Format};
use atp_forwarder::event::enums::{Policy, PolicyAction};
use atp_forwarder::event::hash;
use atp_forwarder::event::{Event, Record};
use atp_forwarder::source::{decode_element, Decoded};
use bytestring::ByteString;
use formats_support::{ctx, ecs, encoded, parse_cef, parse_leef, Cef};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Characters that break naive encoders, plus anything at all.
fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec!['|', '=', '\\', '"', ']', '[', '\t', '\r', '\n', '\0', ' ', ',', ';', ':', '<', '>']),
        2 => prop::sample::select(vec!['é', '✓', 'ß', '中', '\u{200b}', '\u{202e}', '\u{feff}', '😀', '\u{7f}', '\u{1b}']),
        3 => prop::char::range('a', 'z'),
        1 => any::<char>(),
    ]
}

/// A field value: usually short, sometimes very long.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(nasty_char(), 0..24).prop_map(|v| v.into_iter().collect()),
        1 => prop::collection::vec(nasty_char(), 600..2500).prop_map(|v| v.into_iter().collect()),
    ]
}

fn event_of(record: &Value) -> Event {
    let raw = serde_json::to_vec(record).expect("serializable");
    let record = Record::from_json(raw).expect("a record");
    Event::from_record(record, &ctx())
}

fn some(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// What the CEF header must say for `ev`: CR/LF flattened to spaces, name capped at 512 characters.
fn expected_header(ev: &Event) -> Vec<String> {
    let flat = |s: &str, max: usize| {
        s.chars()
            .take(max)
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect()
    };
    let class = format!("{}:{}", ev.record.record_type, ev.record.operation);
    vec![
        "Microsoft".into(),
        "Defender for Office 365".into(),
        "1.0".into(),
        flat(&class, 1023),
        flat(ev.name(), 512),
        ev.cef_severity().to_string(),
    ]
}

fn cef_of(ev: &Event) -> Cef {
    let message = encoded(Format::Cef, ev);
    assert!(!message.contains(['\r', '\n']), "raw line break in CEF");
    let cef =
        parse_cef(&message).unwrap_or_else(|e| panic!("CEF does not parse ({e}): {message:?}"));
    assert_eq!(cef.header, expected_header(ev));
    cef
}

/// LEEF parses, every pair has one key and one value, and the keys are those of the same record with tame values.
fn check_leef(ev: &Event, tame: &Event) {
    let message = encoded(Format::Leef, ev);
    let leef =
        parse_leef(&message).unwrap_or_else(|e| panic!("LEEF does not parse ({e}): {message:?}"));
    let tame_leef = parse_leef(&encoded(Format::Leef, tame)).expect("tame LEEF parses");
    let keys: Vec<&str> = leef.pairs.iter().map(|(k, _)| k.as_str()).collect();
    let tame_keys: Vec<&str> = tame_leef.pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys, tame_keys,
        "field count or keys changed with the values"
    );
    assert_eq!(message.matches('\t').count() + 1, leef.pairs.len());
    assert_eq!(leef.get("externalId"), Some(ev.record.id.as_str()));
}

fn check_ecs(ev: &Event) -> Value {
    let doc = ecs(ev);
    assert_eq!(doc["event"]["id"].as_str(), Some(ev.record.id.as_str()));
    assert!(
        !encoded(Format::Ecs, ev).contains(['\r', '\n']),
        "ECS output spans lines"
    );
    doc
}

/// Replaces every string in a JSON value by "x", keeping its shape and what decoding distinguishes: empty and
/// blank strings (absent for coded fields) and numeric strings (codes) stay as they are.
fn tame(v: &Value) -> Value {
    match v {
        Value::String(s) if !s.trim().is_empty() && s.trim().parse::<i64>().is_err() => {
            Value::String("x".into())
        }
        Value::Array(a) => Value::Array(a.iter().map(tame).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), tame(v))).collect()),
        other => other.clone(),
    }
}

/// Tames a record, keeping what must stay: Id, Operation, and the embedded JSON of `Data` and `Actions`.
fn tame_record(record: &Value) -> Value {
    let mut t = tame(record);
    for key in ["Id", "Operation", "Data", "Actions"] {
        t[key] = record[key].clone();
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn mail_fields_survive_every_format(
        id in value().prop_filter("Id is required", |s| !s.is_empty()),
        subject in value(), p1 in value(), p2 in value(), r1 in value(), r2 in value(), ip in value(),
        verdict in value(), nmid in value(), imid in value(), policy in value(), action in value(),
        delivery in value(), location in value(), tech in value(), link in value(), connector in value(),
        file in value(), family in value(), sha in value(),
    ) {
        let record = json!({
            "Id": id, "RecordType": 28, "Operation": "TIMailData", "CreationTime": "2025-11-24T10:03:19",
            "Subject": subject, "P1Sender": p1, "P2Sender": p2, "Recipients": [r1, r2], "SenderIp": ip,
            "Verdict": verdict, "NetworkMessageId": nmid, "InternetMessageId": imid, "Policy": policy,
            "PolicyAction": action, "DeliveryAction": delivery, "LatestDeliveryLocation": location,
            "ThreatsAndDetectionTech": [tech], "EventDeepLink": link, "Connector": connector,
            "AttachmentData": [{"FileName": file, "MalwareFamily": family, "SHA256": sha, "FileVerdict": 1}],
        });
        let ev = event_of(&record);
        prop_assert_eq!(ev.decode_error(), None);
        let cef = cef_of(&ev);
        prop_assert_eq!(cef.get("externalId"), Some(id.as_str()));
        prop_assert_eq!(cef.get("msg"), some(&subject));
        prop_assert_eq!(cef.get("suser"), some(&p2));
        let recipients: Vec<&str> = [r1.as_str(), r2.as_str()].into_iter().filter(|r| !r.is_empty()).collect();
        prop_assert_eq!(cef.get("duser").map(str::to_owned), some(&recipients.join(",")).map(str::to_owned));
        prop_assert_eq!(cef.get("src"), some(&ip));
        prop_assert_eq!(cef.get("cs1"), some(&verdict));
        prop_assert_eq!(cef.get("cs2"), some(&nmid));
        prop_assert_eq!(cef.get("cs3"), some(&imid));
        // Coded fields: blank is absent, numbers go through the code table, names are kept.
        let policy_name = (!policy.trim().is_empty()).then(|| Policy::from_text(&policy).name().into_owned());
        prop_assert_eq!(cef.get("cs4").map(str::to_owned), policy_name);
        let action_name = (!action.trim().is_empty()).then(|| PolicyAction::from_text(&action).name().into_owned());
        let act = action_name.or(some(&delivery).map(str::to_owned));
        prop_assert_eq!(cef.get("act").map(str::to_owned), act);
        prop_assert_eq!(cef.get("outcome"), some(&delivery));
        prop_assert_eq!(cef.get("cs5"), some(&tech));
        prop_assert_eq!(cef.get("cs6"), some(&link));
        prop_assert_eq!(cef.get("flexString2"), some(&location));
        prop_assert_eq!(cef.get("fname"), some(&file));
        prop_assert_eq!(cef.get("flexString1"), some(&family));
        let want_hash = some(&sha).map(|s| hash::to_hex(s).unwrap_or_else(|| s.to_owned()));
        prop_assert_eq!(cef.get("fileHash").map(str::to_owned), want_hash);
        check_leef(&ev, &event_of(&tame_record(&record)));
        let doc = check_ecs(&ev);
        prop_assert_eq!(doc["email"]["subject"].as_str(), some(&subject));
    }

    #[test]
    fn url_click_fields_survive_every_format(
        id in value().prop_filter("Id is required", |s| !s.is_empty()),
        user in value(), ip in value(), url in value(), app in value(), version in value(),
        source in value(), link in value(), action in prop_oneof![Just(json!(2)), Just(json!("4")), value().prop_map(Value::from)],
    ) {
        let record = json!({
            "Id": id, "RecordType": 41, "Operation": "TIUrlClickData", "CreationTime": "2025-11-24T10:05:00Z",
            "UserId": user, "UserIp": ip, "URL": url, "AppName": app, "AppVersion": version, "SourceId": source,
            "EventDeepLink": link, "UrlClickAction": action,
        });
        let ev = event_of(&record);
        prop_assert_eq!(ev.decode_error(), None);
        let cef = cef_of(&ev);
        prop_assert_eq!(cef.get("suser"), some(&user));
        prop_assert_eq!(cef.get("src"), some(&ip));
        prop_assert_eq!(cef.get("request"), some(&url));
        let app_version: Vec<&str> = [app.as_str(), version.as_str()].into_iter().filter(|s| !s.is_empty()).collect();
        prop_assert_eq!(cef.get("requestClientApplication").map(str::to_owned), some(&app_version.join("/")).map(str::to_owned));
        prop_assert_eq!(cef.get("cs2"), some(&source));
        prop_assert_eq!(cef.get("cs6"), some(&link));
        check_leef(&ev, &event_of(&tame_record(&record)));
        let doc = check_ecs(&ev);
        prop_assert_eq!(doc["url"]["original"].as_str(), some(&url));
    }

    #[test]
    fn atp_content_fields_survive_every_format(
        id in value().prop_filter("Id is required", |s| !s.is_empty()),
        by in value(), name in value(), path in value(), family in value(), sha in value(), doc_id in value(),
        method in value(), link in value(), size in prop_oneof![Just(json!(12)), Just(json!("48213")), value().prop_map(Value::from)],
    ) {
        let record = json!({
            "Id": id, "RecordType": "47", "Operation": "AtpDetection", "CreationTime": "2025-11-24T09:12:44",
            "LastModifiedBy": by, "DetectionMethod": method, "EventDeepLink": link, "SourceWorkload": "1",
            "FileData": {"FileName": name, "FilePath": path, "MalwareFamily": family, "SHA256": sha,
                         "DocumentId": doc_id, "FileVerdict": "1", "FileSize": size},
        });
        let ev = event_of(&record);
        prop_assert_eq!(ev.decode_error(), None);
        let cef = cef_of(&ev);
        prop_assert_eq!(cef.get("suser"), some(&by));
        prop_assert_eq!(cef.get("fname"), some(&name));
        prop_assert_eq!(cef.get("filePath"), some(&path));
        prop_assert_eq!(cef.get("flexString1"), some(&family));
        prop_assert_eq!(cef.get("fileId"), some(&doc_id));
        prop_assert_eq!(cef.get("cs5"), some(&method));
        prop_assert_eq!(cef.get("cs6"), some(&link));
        let want_hash = some(&sha).map(|s| hash::to_hex(s).unwrap_or_else(|| s.to_owned()));
        prop_assert_eq!(cef.get("fileHash").map(str::to_owned), want_hash);
        check_leef(&ev, &event_of(&tame_record(&record)));
        let doc = check_ecs(&ev);
        prop_assert_eq!(doc["file"]["name"].as_str(), some(&name));
    }

    #[test]
    fn air_fields_survive_every_format(
        id in value().prop_filter("Id is required", |s| !s.is_empty()),
        status in value(), inv_id in value(), inv_name in value(), inv_type in value(), link in value(),
        alert in value(), recipient in value(), ip in value(), action_type in value(),
    ) {
        let data = json!({"AlertDisplayName": alert, "QueryTime": "x", "Entities": [
            {"Type": "mail-message", "Recipient": recipient, "SenderIP": ip}]}).to_string();
        let action = json!({"ActionType": action_type, "ActionStatus": "Pending"}).to_string();
        let record = json!({
            "Id": id, "RecordType": 64, "Operation": "AirInvestigationData", "CreationTime": "2025-11-24T11:00:02.517",
            "Status": status, "InvestigationId": inv_id, "InvestigationName": inv_name, "InvestigationType": inv_type,
            "DeeplinkURL": link, "Data": data, "Actions": [action], "RunningTime": "17",
        });
        let ev = event_of(&record);
        prop_assert_eq!(ev.decode_error(), None);
        let cef = cef_of(&ev);
        prop_assert_eq!(cef.get("cs1"), some(&status));
        prop_assert_eq!(cef.get("cs4"), some(&inv_id));
        prop_assert_eq!(cef.get("msg"), some(&inv_name));
        prop_assert_eq!(cef.get("flexString1"), some(&inv_type));
        prop_assert_eq!(cef.get("flexString2"), some(&alert));
        prop_assert_eq!(cef.get("cs6"), some(&link));
        prop_assert_eq!(cef.get("duser"), some(&recipient));
        prop_assert_eq!(cef.get("src"), some(&ip));
        let act = if action_type.is_empty() { None } else { Some(format!("{action_type}:Pending")) };
        prop_assert_eq!(cef.get("act").map(str::to_owned), act);
        check_leef(&ev, &event_of(&tame_record(&record)));
        let doc = check_ecs(&ev);
        prop_assert_eq!(doc["o365"]["air"]["data"]["AlertDisplayName"].as_str(), Some(alert.as_str()));
    }

    #[test]
    fn any_operation_round_trips_through_the_cef_header(
        id in value().prop_filter("Id is required", |s| !s.is_empty()),
        operation in value(), record_type in prop_oneof![Just(99i64), Just(-1), any::<i64>()],
    ) {
        prop_assume!(!matches!(record_type, 28 | 41 | 47 | 64));
        let record = json!({"Id": id, "RecordType": record_type, "Operation": operation, "CreationTime": "bad time"});
        let ev = event_of(&record);
        let cef = cef_of(&ev);
        prop_assert_eq!(cef.get("externalId"), Some(id.as_str()));
        check_leef(&ev, &event_of(&tame_record(&record)));
        check_ecs(&ev);
    }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        value().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "Type", "Value", "Name", "FileName", "SHA256", "Entities", "Url", "x"
                ])
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KNOWN_KEYS: &[&str] = &[
    "AttachmentData",
    "Recipients",
    "Policy",
    "PolicyAction",
    "DetectionType",
    "AuthDetails",
    "SystemOverrides",
    "MessageTime",
    "Url",
    "UrlClickAction",
    "TimeOfClick",
    "FileData",
    "SourceWorkload",
    "FileSize",
    "Actions",
    "Data",
    "RunningTime",
    "StartTimeUtc",
    "UserType",
    "Scope",
    "Version",
    "Subject",
    "Status",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_record_shape_makes_an_encoder_panic(
        record_type in prop::sample::select(vec![28i64, 41, 47, 64, 15]),
        fields in prop::collection::vec((prop::sample::select(KNOWN_KEYS.to_vec()), json_value()), 0..8),
    ) {
        let mut record = json!({"Id": "1", "RecordType": record_type, "CreationTime": "2025-11-24T10:03:19"});
        for (k, v) in fields {
            record[k] = v;
        }
        let ev = event_of(&record);
        for format in [Format::Json, Format::Ecs, Format::Cef, Format::Leef] {
            let mut out = Vec::new();
            encode::encode(format, &ev, &mut out);
            prop_assert!(!out.is_empty());
        }
        check_ecs(&ev);
        cef_of(&ev);
        parse_leef(&encoded(Format::Leef, &ev)).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn the_decoders_records_go_into_ecs_on_one_line_as_they_are(
        record_type in prop::sample::select(vec![28i64, 41, 47, 64]),
        fields in prop::collection::vec((prop::sample::select(KNOWN_KEYS.to_vec()), json_value()), 0..8),
        pretty: bool,
    ) {
        let mut record = json!({"Id": "1", "RecordType": record_type, "CreationTime": "2025-11-24T10:03:19"});
        for (k, v) in fields {
            record[k] = v;
        }
        let raw = if pretty { serde_json::to_vec_pretty(&record) } else { serde_json::to_vec(&record) }.unwrap();
        let Decoded::Wanted(decoded) = decode_element(&raw, &[record_type]) else {
            return Err(TestCaseError::fail("the decoder did not keep a wanted record"));
        };
        // Pretty-printed text has line breaks between tokens; the decoder must never call it one line.
        prop_assert!(!(pretty && decoded.single_line));
        let ev = Event::from_record(decoded, &ctx());
        let doc = check_ecs(&ev);
        // Read back by the same parser as the record's own text (serde_json's floats do not all round-trip).
        // A record whose common fields do not decode goes out as `event.original` text instead.
        match &doc["o365"]["audit"] {
            Value::Null => prop_assert_eq!(doc["event"]["original"].as_str(), std::str::from_utf8(&raw).ok()),
            audit => prop_assert_eq!(audit, &serde_json::from_slice::<Value>(&raw).unwrap()),
        }
    }

    #[test]
    fn garbage_text_still_gives_well_formed_output(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        record_type in prop::sample::select(vec![28i64, 41, 47, 64, 0]),
        operation in value(),
    ) {
        // A record is UTF-8 by its type (the decoder refuses any other); anything else goes.
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let record = Record {
            raw: ByteString::from(raw.clone()),
            id: "garbage-1".into(),
            record_type,
            operation,
            creation_time: raw.clone(),
            large: Default::default(),
            single_line: false,
        };
        let ev = Event::from_record(record, &ctx());
        let mut out = Vec::new();
        encode::encode(Format::Json, &ev, &mut out);
        prop_assert_eq!(&out, raw.as_bytes());
        check_ecs(&ev);
        cef_of(&ev);
        parse_leef(&encoded(Format::Leef, &ev)).map_err(TestCaseError::fail)?;
    }
}
