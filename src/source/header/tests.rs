use std::borrow::Cow;

use proptest::prelude::*;
use serde::Deserialize;

use super::*;

/// What serde_json reads (the decoder's own header type, restated for the comparison).
#[derive(Deserialize, Debug)]
struct SerdeHeader<'a> {
    #[serde(rename = "Id", borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "RecordType", default)]
    record_type: Option<serde_json::Value>,
    #[serde(rename = "Operation", borrow, default)]
    operation: Option<Cow<'a, str>>,
    #[serde(rename = "CreationTime", borrow, default)]
    creation_time: Option<Cow<'a, str>>,
}

/// The top-level members in document order, as serde_json reads them (keys unescaped, values raw).
struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// The raw value of the last top-level member named `name` in any ASCII case, as serde_json reads it.
fn last_member(text: &str, name: &str) -> Option<String> {
    let Members(members) = serde_json::from_str(text).ok()?;
    members
        .into_iter()
        .rev()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.get().to_owned())
}

/// The fast reader either declines or agrees with serde_json, the spans of `Data` and `Actions` included.
fn agrees(text: &str) -> Result<(), TestCaseError> {
    let Some(fast) = read(text) else {
        return Ok(());
    };
    let slow: SerdeHeader<'_> = match serde_json::from_str(text) {
        Ok(header) => header,
        Err(error) => {
            return Err(TestCaseError::fail(format!(
                "fast read accepted what serde_json refuses ({error}): {text}"
            )))
        }
    };
    prop_assert_eq!(fast.id, slow.id.as_deref(), "{}", text);
    prop_assert_eq!(fast.operation, slow.operation.as_deref(), "{}", text);
    prop_assert_eq!(
        fast.creation_time,
        slow.creation_time.as_deref(),
        "{}",
        text
    );
    prop_assert_eq!(
        fast.record_type,
        slow.record_type.as_ref().and_then(|value| match value {
            serde_json::Value::String(text) => text.trim().parse().ok(),
            _ => value.as_i64(),
        }),
        "{}",
        text
    );
    // Line breaks can only be whitespace between tokens: the flag is exactly whether the text has any.
    prop_assert_eq!(fast.single_line, !text.contains(['\r', '\n']), "{}", text);
    // A span is either not handed out or exactly the value serde_json captures for the last such key.
    for (span, name) in [(fast.large.data, "data"), (fast.large.actions, "actions")] {
        if let Some(span) = span {
            prop_assert_eq!(
                span.of(text).map(str::to_owned),
                last_member(text, name),
                "{} of {}",
                name,
                text
            );
        }
    }
    Ok(())
}

#[test]
fn every_fixture_record_is_read_fast_and_the_same() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let mut read_fast = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        agrees(&text).unwrap();
        eprintln!(
            "fast? {} {:?}",
            read(&text).is_some(),
            &text[..40.min(text.len())]
        );
        if let Some(fields) = read(&text) {
            assert!(
                fields.id.is_some() && fields.record_type.is_some(),
                "{text}"
            );
            read_fast += 1;
        }
    }
    assert!(
        read_fast >= 16,
        "only {read_fast} fixtures took the fast path"
    );
}

#[test]
fn reads_the_four_fields_and_skips_everything_else() {
    let text = r#" {"A":[1,-2.5e+3,true,null,{"b":"}\"\\"}],"Id":"x-1","RecordType":28,"Operation":"TIMailData","CreationTime":"2025-11-24T10:03:19","Z":{}} "#;
    assert_eq!(
        read(text),
        Some(Fields {
            id: Some("x-1"),
            record_type: Some(28),
            operation: Some("TIMailData"),
            creation_time: Some("2025-11-24T10:03:19"),
            large: LargeMembers::default(),
            single_line: true,
        })
    );
}

#[test]
fn says_whether_the_record_is_on_one_line() {
    let one_line = r#"{"Id":"x","S":"a\nb\r","RecordType":28}"#;
    assert_eq!(read(one_line).map(|f| f.single_line), Some(true));
    for broken_up in [
        "{\"Id\":\"x\",\n\"RecordType\":28}",
        "{\"Id\":\"x\",\"A\":[1,\r\n2],\"RecordType\":28}",
        "{\"Id\":\"x\",\"RecordType\":28}\n",
    ] {
        assert_eq!(
            read(broken_up).map(|f| f.single_line),
            Some(false),
            "{broken_up:?}"
        );
    }
}

#[test]
fn declines_whatever_serde_json_must_decide() {
    for text in [
        r#"{"Id":"a","Id":"b"}"#,                 // duplicate header field
        r#"{"Id":"a\"b"}"#,                       // escape in a header value
        r#"{"Id":null}"#,                         // not a string
        r#"{"RecordType":"28","RecordType":28}"#, // a duplicate
        r#"{"RecordType":28.0}"#,                 // not a plain integer
        r#"{"RecordType":99999999999999999999}"#,
        r#"{"S":"caf\u00e9"}"#, // a \u escape
        r#"{"S":"a	b"}"#,       // a raw tab in a string
        r#"{"S":"\x"}"#,        // an invalid escape
        r#"{"N":01}"#,          // a leading zero
        r#"{"N":1.}"#,
        r#"{"N":-}"#,
        r#"{"L":tru}"#,
        r#"{"A":[1,]}"#,
        r#"{"O":{"a" 1}}"#,
        r#"{"a":1]"#,
        r#"{"a":[1}}"#,
        r#"{"a":1}x"#, // text after the object
        r#"{"a":1"#,   // truncated
        r#"[1]"#,      // not an object
    ] {
        assert_eq!(read(text), None, "{text}");
    }
    let deep = format!(
        "{{\"d\":{}{}}}",
        "[".repeat(MAX_DEPTH + 1),
        "]".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(read(&deep), None);
    let nested = format!(
        "{{\"d\":{}{}}}",
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    assert!(read(&nested).is_some());
}

#[test]
fn long_strings_are_scanned_block_by_block() {
    let long = "x".repeat(100);
    for cut in [0, 1, 15, 16, 17, 31, 99] {
        let mut value = long.clone();
        value.insert_str(cut, "\\\"");
        let text = format!(r#"{{"S":"{value}","Id":"{long}"}}"#);
        assert_eq!(
            read(&text).and_then(|fields| fields.id),
            Some(long.as_str()),
            "{cut}"
        );
        let control = format!("{{\"S\":\"{}\u{1}{}\"}}", &long[..cut], &long[cut..]);
        assert_eq!(read(&control), None, "{cut}");
    }
}

#[test]
fn escape_dense_strings_are_read_like_serde_json_reads_them() {
    let inner = serde_json::json!({"a": "b\"c\\d", "e": ["f/g", "h\ti"], "long": "x".repeat(70)});
    let data = serde_json::to_string(&inner).unwrap();
    for nesting in 0..3 {
        let mut value = serde_json::Value::String(data.clone());
        for _ in 0..nesting {
            value = serde_json::Value::String(value.to_string());
        }
        let text = serde_json::json!({"Data": value, "Id": "i", "RecordType": 64}).to_string();
        assert!(read(&text).is_some(), "{text}");
        agrees(&text).unwrap();
    }
}

#[test]
fn locates_the_last_data_and_actions_values() {
    let text = r#"{"Data":"first","Id":"i","RecordType":64,"actions":[ "{\"a\":1}" ],"DATA" : {"x":[1,"}"]} }"#;
    let fields = read(text).unwrap();
    assert_eq!(
        fields.large.data.and_then(|span| span.of(text)),
        Some(r#"{"x":[1,"}"]}"#)
    );
    assert_eq!(
        fields.large.actions.and_then(|span| span.of(text)),
        Some(r#"[ "{\"a\":1}" ]"#)
    );
    agrees(text).unwrap();
    let none = read(r#"{"Id":"i","RecordType":64}"#).unwrap();
    assert_eq!(none.large, LargeMembers::default());
}

#[test]
fn hands_out_no_spans_when_a_key_has_escapes() {
    // The models would see `Data` in the second key after unescaping; the spans would miss it.
    let text = r#"{"Data":"a","D\u0061ta":"b","Id":"i"}"#;
    if let Some(fields) = read(text) {
        assert_eq!(fields.large, LargeMembers::default());
    }
    let text = r#"{"Data":"a","x\"y":1,"Id":"i"}"#;
    assert_eq!(
        read(text).map(|fields| fields.large),
        Some(LargeMembers::default())
    );
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |value| value.is_finite())
            .prop_map(serde_json::Value::from),
        "[ -~\\n\\t\"\\\\é]{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[A-Za-z\"]{0,12}", inner, 0..6)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_record_is_read_the_way_serde_json_reads_it(
        mut record in prop::collection::btree_map("[A-Za-z]{0,12}", json_value(), 0..8),
        id in prop::option::of("[a-f0-9-]{0,36}"),
        record_type in prop::option::of(any::<i64>()),
        operation in prop::option::of("[A-Za-z]{0,20}"),
        large in prop::collection::vec((prop::sample::select(vec!["Data", "data", "Actions", "ACTIONS"]), json_value()), 0..3),
        pretty: bool,
    ) {
        for (key, value) in large { record.insert(key.into(), value); }
        if let Some(id) = id { record.insert("Id".into(), id.into()); }
        if let Some(record_type) = record_type { record.insert("RecordType".into(), record_type.into()); }
        if let Some(operation) = operation { record.insert("Operation".into(), operation.into()); }
        let value = serde_json::Value::Object(record.into_iter().collect());
        let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
        agrees(&text)?;
    }

    #[test]
    fn long_strings_with_escapes_are_read_the_way_serde_json_reads_them(
        value in "[ab\"\\\\/\n\té]{0,300}",
        cut in any::<prop::sample::Index>(),
        splice in prop::sample::select(vec!["", "\"", "\\", "\\\\", "\u{1}", "\\u0041", "\\x"]),
    ) {
        let text = serde_json::json!({"S": value, "Id": "i"}).to_string();
        prop_assert!(read(&text).is_some());
        agrees(&text)?;
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) { at -= 1; }
        let mut broken = text.clone();
        broken.insert_str(at, splice);
        agrees(&broken)?;
    }

    #[test]
    fn broken_records_are_declined_or_read_the_way_serde_json_reads_them(
        record in prop::collection::btree_map("[A-Za-z]{0,6}", json_value(), 1..6),
        cut in any::<prop::sample::Index>(),
        splice in prop::sample::select(vec!["", "\"", "\\", ",", "}", "]", "{", "[", ":", "1", " ", "\u{1}", "\\u0041", "-", "e"]),
    ) {
        let text = serde_json::to_string(&record).unwrap();
        let mut broken = text.clone();
        let mut at = cut.index(text.len() + 1);
        while !broken.is_char_boundary(at) { at -= 1; }
        broken.insert_str(at, splice);
        agrees(&broken)?;
        let mut replaced = text.clone();
        if at < replaced.len() {
            let next = (at + 1..=replaced.len()).find(|&end| replaced.is_char_boundary(end)).unwrap_or(replaced.len());
            replaced.replace_range(at..next, splice);
            agrees(&replaced)?;
        }
        let mut truncated = text;
        truncated.truncate(at);
        agrees(&truncated)?;
    }
}
