//! Tests of the AIR model.

use super::*;

#[test]
fn entity_types_match_in_every_spelling() {
    for t in ["mail-message", "mailMessage", "MailMessage"] {
        assert_eq!(EntityType::parse(t), EntityType::MailMessage, "{t}");
    }
    for t in ["MailCluster", "mailCluster"] {
        assert_eq!(EntityType::parse(t), EntityType::MailCluster, "{t}");
    }
    assert_eq!(
        EntityType::parse("an-unusually-long-entity-type-name"),
        EntityType::Other
    );
}

#[test]
fn data_with_repeated_keys_decodes_and_keeps_the_last() {
    let data = decode_embedded(Value::String(
        r#"{"QueryTime":"2024-10-31T13:31:54Z","QueryTime":"10/31/2024"}"#.into(),
    ));
    assert_eq!(
        data.get("QueryTime").and_then(Value::as_str),
        Some("10/31/2024")
    );
}

#[test]
fn actions_as_strings_and_as_objects_decode_alike() {
    let from_strings = decode_actions(serde_json::json!([r#"{"ActionType":"EmailRemediation"}"#]));
    let from_objects = decode_actions(serde_json::json!([{"ActionType":"EmailRemediation"}]));
    assert_eq!(from_strings, from_objects);
}

#[test]
fn a_data_string_that_is_not_json_is_kept_as_text() {
    assert_eq!(
        decode_embedded(Value::String("not json".into())),
        Value::String("not json".into())
    );
}

#[test]
fn the_fast_unescape_agrees_with_serde_json_or_leaves_it_to_serde_json() {
    for raw in [
        r#""""#,
        r#""plain""#,
        r#""{\"a\":\"b\\c\/d\",\"n\":\"x\ny\tz\r\b\f\"}""#,
        r#""caf\u00e9""#,
        "\"déjà vu\"",
    ] {
        let serde: String = serde_json::from_str(raw).unwrap();
        match unescape_simple(raw) {
            Some(fast) => assert_eq!(fast, serde, "{raw}"),
            None => assert!(raw.contains("\\u"), "only \\u goes to serde_json: {raw}"),
        }
    }
    assert_eq!(unescape_simple("12"), None);
    assert_eq!(unescape_simple("{}"), None);
}

#[test]
fn the_fast_unescape_reads_escapes_across_its_64_byte_blocks() {
    // Every escape and escaped backslash at every offset around the block edges (63/64, 127/128).
    for offset in (56..72).chain(120..136) {
        for escape in [r#"\""#, r"\\", r"\n", r"\\\\", r#"\\\""#] {
            let raw = format!("\"{}{escape}b\\\\{escape}\"", "a".repeat(offset));
            let serde: String = serde_json::from_str(&raw).unwrap();
            assert_eq!(unescape_simple(&raw), Some(serde), "{raw}");
        }
    }
    // A backslash as the last byte of the body leaves the text to serde_json.
    assert_eq!(unescape_simple(&format!("\"{}\\\"", "a".repeat(63))), None);
}

proptest::proptest! {
    #[test]
    fn the_fast_unescape_reads_long_escaped_texts_like_serde_json(
        text in "[ab\"\\\\/\n\t\r\u{8}\u{c}é]{0,300}",
    ) {
        // serde_json writes \b and \f as \u escapes: swap them for the short ones it also reads.
        let raw = serde_json::to_string(&text).unwrap().replace("\\u0008", "\\b").replace("\\u000c", "\\f");
        proptest::prop_assert_eq!(unescape_simple(&raw), Some(text));
    }
}
