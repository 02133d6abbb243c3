//! Unit tests of the syslog encoder; `syslog_loose` is the round-trip oracle.

use bytestring::ByteString;
use proptest::prelude::*;
use syslog_loose::{parse_message, Variant};

use super::*;
use crate::event::{NormalizeContext, Record};
use crate::sink::syslog::config::DEFAULT_SD_ID;

fn config(extra: serde_json::Value) -> SyslogSinkConfig {
    let mut value = serde_json::json!({
        "name": "soc", "address": "127.0.0.1:514", "transport": "tcp", "hostname": "fwd-01",
    });
    if let (Some(base), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    serde_json::from_value(value).expect("test config deserializes")
}

fn event(id: &str, operation: &str, creation_time: &str) -> Event {
    let record = Record {
        raw: ByteString::from_static("{}"),
        id: id.to_string(),
        record_type: 28,
        operation: operation.to_string(),
        creation_time: creation_time.to_string(),
        large: Default::default(),
        single_line: false,
    };
    let context = NormalizeContext {
        tenant: "contoso".into(),
        fetched_at: Utc::now(),
        dataset: "Audit.General".into(),
        include_original: false,
    };
    Event::from_record(record, &context)
}

fn encode(encoder: &Encoder, tenant: &str, event: &Event, payload: &[u8]) -> (String, Fit) {
    let mut out = Vec::new();
    let fit = encoder
        .encode(tenant, event, payload, &mut out)
        .expect("header fits");
    (String::from_utf8(out).expect("utf-8 message"), fit)
}

const ID: &str = "5a1e6f3c-0d7b-4c1e-9a7e-2f4a0b6c8d10";

#[test]
fn rfc5424_header_carries_msgid_structured_data_and_creation_time() {
    let encoder = Encoder::new(&config(serde_json::json!({})));
    let event = event(ID, "TIMailData", "2025-11-24T10:03:19");
    let (message, fit) = encode(&encoder, "contoso", &event, b"{\"a\":1}");
    assert_eq!(fit, Fit::Whole);
    assert_eq!(
        message,
        format!(
            "<134>1 2025-11-24T10:03:19Z fwd-01 atp-forwarder - TIMailData \
             [o365@32473 id=\"{ID}\" recordType=\"28\" tenant=\"contoso\"] {{\"a\":1}}"
        )
    );
}

#[test]
fn rfc3164_header_has_bsd_timestamp_host_and_tag() {
    let encoder = Encoder::new(&config(serde_json::json!({ "protocol": "rfc3164" })));
    let event = event(ID, "TIMailData", "2025-11-04T08:03:19.1234567Z");
    let (message, _) = encode(&encoder, "contoso", &event, b"payload");
    assert_eq!(
        message,
        "<134>Nov  4 08:03:19 fwd-01 atp-forwarder: payload"
    );
    let parsed = parse_message(&message, Variant::RFC3164);
    assert_eq!(parsed.hostname, Some("fwd-01"));
    assert_eq!(parsed.appname, Some(APP_NAME));
    assert_eq!(parsed.msg, "payload");
}

#[test]
fn timestamps_keep_at_most_six_fraction_digits_and_fall_back_to_now() {
    let cases = [
        ("2025-11-24T10:03:19", "2025-11-24T10:03:19Z"),
        ("2025-11-24T10:03:19Z", "2025-11-24T10:03:19Z"),
        ("2025-11-24T10:03:19.5", "2025-11-24T10:03:19.500Z"),
        ("2025-11-24T10:03:19.1234567", "2025-11-24T10:03:19.123456Z"),
        ("2025-11-24T12:03:19+02:00", "2025-11-24T10:03:19Z"),
    ];
    for (input, expected) in cases {
        let time = crate::event::time::parse(input).expect(input);
        assert_eq!(timestamp_text(time), expected, "{input}");
    }
    assert_eq!(crate::event::time::parse("yesterday"), None);
    let encoder = Encoder::new(&config(serde_json::json!({})));
    let (message, _) = encode(&encoder, "t", &event(ID, "Op", "garbage"), b"x");
    let parsed = parse_message(&message, Variant::RFC5424);
    let sent = parsed.timestamp.expect("timestamp present");
    assert!((Utc::now() - sent.with_timezone(&Utc)).num_seconds().abs() < 60);
}

#[test]
fn severity_follows_alerts_and_facility_sets_pri() {
    let encoder = Encoder::new(&config(
        serde_json::json!({ "facility": "auth", "severity": "notice" }),
    ));
    let (message, _) = encode(&encoder, "t", &event(ID, "Op", "2025-11-24T10:03:19"), b"x");
    assert!(message.starts_with("<37>1 "), "{message}");
    // Alert events (event.is_alert()) use alert_severity: auth (4) * 8 + warning (4).
    let mut alerting = encoder.clone();
    alerting.severity = alerting.alert_severity;
    let (message, _) = encode(
        &alerting,
        "t",
        &event(ID, "Op", "2025-11-24T10:03:19"),
        b"x",
    );
    assert!(message.starts_with("<36>1 "), "{message}");
}

#[test]
fn msgid_is_cut_to_32_printable_characters_and_empty_fields_are_dashes() {
    let encoder = Encoder::new(&config(serde_json::json!({})));
    let long = "Operation With Spaces And Ünicode That Is Far Too Long";
    let (message, _) = encode(&encoder, "t", &event(ID, long, "2025-11-24T10:03:19"), b"x");
    let parsed = parse_message(&message, Variant::RFC5424);
    assert_eq!(parsed.msgid, Some("Operation_With_Spaces_And__nicod"));
    let (message, _) = encode(&encoder, "t", &event(ID, "", "2025-11-24T10:03:19"), b"");
    assert!(
        message.contains(" atp-forwarder - - [o365@32473 "),
        "{message}"
    );
    assert!(
        message.ends_with("tenant=\"t\"]"),
        "no SP without MSG: {message}"
    );
}

#[test]
fn structured_data_escapes_quote_backslash_and_bracket() {
    let encoder = Encoder::new(&config(serde_json::json!({})));
    let tenant = r#"a"b\c]d"#;
    let (message, _) = encode(
        &encoder,
        tenant,
        &event(ID, "Op", "2025-11-24T10:03:19"),
        b"m",
    );
    assert!(message.contains(r#"tenant="a\"b\\c\]d"]"#), "{message}");
}

#[test]
fn truncation_cuts_msg_on_a_character_boundary_within_the_limit() {
    let encoder = Encoder::new(&config(serde_json::json!({ "max_message_bytes": 480 })));
    let payload = "é€😀".repeat(100);
    let event = event(ID, "TIMailData", "2025-11-24T10:03:19");
    let (message, fit) = encode(&encoder, "contoso", &event, payload.as_bytes());
    assert!(
        message.len() <= 480 && message.len() > 470,
        "{}",
        message.len()
    );
    let Fit::Truncated { original, kept } = fit else {
        panic!("expected truncation, got {fit:?}");
    };
    assert_eq!(original, payload.len());
    let parsed = parse_message(&message, Variant::RFC5424);
    assert!(payload.starts_with(parsed.msg));
    assert_eq!(parsed.msg.len(), kept);
}

#[test]
fn a_header_longer_than_the_limit_is_an_error_not_a_broken_message() {
    let encoder = Encoder::new(&config(serde_json::json!({ "max_message_bytes": 480 })));
    let tenant = "t".repeat(600);
    let mut out = b"previous".to_vec();
    let result = encoder.encode(
        &tenant,
        &event(ID, "Op", "2025-11-24T10:03:19"),
        b"x",
        &mut out,
    );
    assert!(matches!(result, Err(HeaderTooLong { limit: 480, .. })));
    assert_eq!(out, b"previous");
}

#[test]
fn udp_defaults_limit_messages_to_2048_and_1024_bytes() {
    let udp = Encoder::new(&config(serde_json::json!({ "transport": "udp" })));
    assert_eq!(udp.max_message_bytes(), Some(2048));
    let bsd = Encoder::new(&config(
        serde_json::json!({ "transport": "udp", "protocol": "rfc3164" }),
    ));
    assert_eq!(bsd.max_message_bytes(), Some(1024));
    let payload = "x".repeat(5000);
    let (message, _) = encode(
        &bsd,
        "t",
        &event(ID, "Op", "2025-11-24T10:03:19"),
        payload.as_bytes(),
    );
    assert_eq!(message.len(), 1024);
}

#[test]
fn floor_char_boundary_never_splits_a_sequence() {
    let text = "aé€😀".as_bytes(); // 1 + 2 + 3 + 4 bytes
    let expected = [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 10];
    for (max, want) in expected.iter().enumerate() {
        assert_eq!(floor_char_boundary(text, max), *want, "max {max}");
    }
}

proptest! {
    #[test]
    fn structured_data_values_round_trip_through_a_parser(tenant in "\\PC{0,40}", id in "[ -~]{1,40}") {
        let encoder = Encoder::new(&config(serde_json::json!({})));
        let mut out = Vec::new();
        let fit = encoder.encode(&tenant, &event(&id, "TIMailData", "2025-11-24T10:03:19"), b"payload", &mut out);
        prop_assert_eq!(fit, Ok(Fit::Whole));
        let message = String::from_utf8(out).expect("utf-8");
        let parsed = parse_message(&message, Variant::RFC5424);
        prop_assert_eq!(parsed.msgid, Some("TIMailData"));
        prop_assert_eq!(parsed.msg, "payload");
        prop_assert_eq!(parsed.structured_data.len(), 1);
        let element = &parsed.structured_data[0];
        prop_assert_eq!(element.id, DEFAULT_SD_ID);
        let params: Vec<(String, String)> =
            element.params().map(|(name, value)| (name.to_string(), value)).collect();
        prop_assert_eq!(params, vec![
            ("id".to_string(), id.clone()),
            ("recordType".to_string(), "28".to_string()),
            ("tenant".to_string(), tenant.clone()),
        ]);
    }

    #[test]
    fn truncated_messages_stay_valid_utf8_and_within_the_limit(
        payload in "\\PC{0,800}", limit in 480usize..1500,
    ) {
        let encoder = Encoder::new(&config(serde_json::json!({ "max_message_bytes": limit })));
        let mut out = Vec::new();
        let fit = encoder.encode("contoso", &event(ID, "TIMailData", "2025-11-24T10:03:19"), payload.as_bytes(), &mut out);
        prop_assert!(fit.is_ok());
        prop_assert!(out.len() <= limit);
        let message = String::from_utf8(out).expect("never a split character");
        let msg = message.split_once("] ").map(|(_, msg)| msg).unwrap_or("");
        prop_assert!(payload.starts_with(msg));
    }
}

#[test]
fn a_creation_time_outside_years_0_to_9999_falls_back_to_now_and_the_message_still_parses() {
    // Found by the encode_syslog fuzz target: "-025-11-24T…" read as year -25 gave "-0025-…" as TIMESTAMP.
    let encoder = Encoder::new(&config(serde_json::json!({})));
    for creation_time in [
        "-025-11-24T10:03:19",
        "11/24/-025 10:03:19",
        "11/24/12025 10:03:19",
    ] {
        let (message, _) = encode(&encoder, "t", &event(ID, "Op", creation_time), b"x");
        let parsed = parse_message(&message, Variant::RFC5424);
        assert_eq!(parsed.appname, Some(APP_NAME), "{message}");
        let sent = parsed.timestamp.expect("timestamp present");
        assert!(
            (Utc::now() - sent.with_timezone(&Utc)).num_seconds().abs() < 60,
            "{message}"
        );
    }
}

fn timestamp_text(time: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = Vec::new();
    write_rfc5424_timestamp(&mut out, time);
    String::from_utf8(out).expect("ASCII")
}

proptest::proptest! {
    /// The digit-by-digit timestamp is chrono's `to_rfc3339_opts` (the reference it replaced), for any time,
    /// including the years chrono writes itself.
    #[test]
    fn timestamps_are_written_as_chrono_writes_them(
        seconds in -62_000_000_000i64..300_000_000_000,
        nanos in proptest::prop_oneof![
            proptest::strategy::Just(0u32),
            (0u32..1_000).prop_map(|ms| ms * 1_000_000),
            (0u32..1_000_000).prop_map(|us| us * 1_000),
            0u32..1_000_000_000,
        ],
    ) {
        use chrono::{SecondsFormat, Timelike};
        let time = chrono::DateTime::from_timestamp(seconds, nanos).expect("in range");
        let micros = time.nanosecond() / 1_000;
        let format = match micros {
            0 => SecondsFormat::Secs,
            m if m % 1_000 == 0 => SecondsFormat::Millis,
            _ => SecondsFormat::Micros,
        };
        proptest::prop_assert_eq!(timestamp_text(time), time.to_rfc3339_opts(format, true));
    }
}
