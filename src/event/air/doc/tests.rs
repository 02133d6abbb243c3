//! Tests of the compact tree.

use super::*;

/// The tree's output for `text`, or `None` when it is not JSON.
fn written(text: &str) -> Option<String> {
    let mut texts = Texts::default();
    let node = texts.parse(text.to_owned()).ok()?;
    let mut out = Vec::new();
    texts.write(&node, &mut out);
    String::from_utf8(out).ok()
}

/// What the tree's output decodes to, or `None` when `text` is not JSON; must be what serde_json decodes
/// `text` to (its maps keep the last of repeated keys and compare without order). The output is one line,
/// and never repeats a key.
fn via_tree(text: &str) -> Option<Value> {
    let out = written(text)?;
    assert!(!out.contains(['\n', '\r']), "not one line: {out:?}");
    assert!(no_repeated_keys(&out), "a key repeats in {out}");
    serde_json::from_str(&out).ok()
}

fn via_value(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text).ok()
}

/// Whether no object in the JSON `text` has a key twice (checked through a map that sees every key).
fn no_repeated_keys(text: &str) -> bool {
    struct Check(bool);
    impl<'de> Visitor<'de> for &mut Check {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(&mut *self)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut keys = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                self.0 &= keys.insert(key);
                map.next_value_seed(&mut *self)?;
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for &mut Check {
        type Value = ();
        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    let mut check = Check(true);
    let mut de = serde_json::Deserializer::from_str(text);
    (&mut check).deserialize(&mut de).is_ok() && check.0
}

#[test]
fn the_tree_writes_the_value_serde_json_reads_from_the_same_text() {
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(140), "]".repeat(140));
    let nested = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
    for text in [
        r#"{"b":1,"a":2,"b":3,"QueryTime":"x","QueryTime":"y"}"#,
        r#"{"k":"caf\u00e9 \ud83d\ude00","\u0041":"esc key","n":"line\nbreak\t\"q\" \/ \\"}"#,
        r#"{"big":18446744073709551615,"bigger":18446744073709551616,"neg":-9223372036854775808}"#,
        r#"{"neg2":-9223372036854775809,"f":1.5,"e":1e5,"z":-0,"fz":-0.0,"d":0.1,"x":1.0E+2}"#,
        r#"{"small":5e-324,"huge":1e308,"over":1e400}"#,
        r#"[[1,[2,[3,[]]]],{},[],{"a":{"b":{"c":[{"d":null,"e":true,"f":false}]}}}]"#,
        r#"{"$serde_json::private::RawValue":"[1,2,{\"z\":1,\"a\":2}]"}"#,
        r#"{"$serde_json::private::RawValue":5}"#,
        r#"{"a":1,"$serde_json::private::RawValue":"x"}"#,
        r#"{"a":"\u0000ctl\u001f","b":"\u007f","c":"lone \ud800"}"#,
        "{\"a\":\"raw\u{1}control\"}",
        " {\"a\" : [ 1 , 2 ] }\n",
        r#"{"a":1} x"#,
        r#"{"a":1,}"#,
        "not json",
        "123",
        r#""text""#,
        "{\"é\":\"中\",\"e\":1,\"z\":2}",
        &deep,
        &nested,
    ] {
        assert_eq!(via_tree(text), via_value(text), "{text}");
    }
}

#[test]
fn lookups_see_the_last_of_repeated_keys() {
    let mut texts = Texts::default();
    let node = texts
        .parse(r#"{"Q":"first","A":[{"H":"x"}],"Q":"last"}"#.to_owned())
        .unwrap_or(Node::Null);
    let json = Json {
        texts: &texts,
        node: &node,
    };
    assert_eq!(json.get("Q").and_then(Json::as_str), Some("last"));
    let hrefs: Vec<_> = json
        .get("A")
        .into_iter()
        .flat_map(Json::items)
        .filter_map(|l| l.get("H")?.as_str())
        .collect();
    assert_eq!(hrefs, ["x"]);
    assert!(json.get("missing").is_none());
}

#[test]
fn a_string_holding_a_document_is_that_document_and_anything_else_stays_text() {
    let mut texts = Texts::default();
    let doc = texts.embedded_text(r#"{"b":1,"a":2}"#.to_owned());
    let scalar = texts.embedded_text("42".to_owned());
    let broken = texts.embedded_text("{not json".to_owned());
    let mut out = Vec::new();
    for node in [&doc, &scalar, &broken] {
        texts.write(node, &mut out);
        out.push(b' ');
    }
    assert_eq!(
        String::from_utf8_lossy(&out),
        r#"{"b":1,"a":2} "42" "{not json" "#
    );
}

#[test]
fn documents_keep_their_order_and_text_and_repeated_keys_keep_their_first_place_and_last_value() {
    let cases = [
        // Read whole without repeats: the text as received (escapes, number spelling, order), on one line.
        (
            "{\"Z\":1.0E+2,\r\n \"a\":\"x\\/y\",\"m\":[3, 2,{\"q\":null}]}",
            "{\"Z\":1.0E+2,   \"a\":\"x\\/y\",\"m\":[3, 2,{\"q\":null}]}",
        ),
        // A repeated key: that object (and those around it) from the tree, first place, last value; the
        // siblings that repeat nothing still as received.
        (
            r#"{"Q":"1","Alert":{"z":1 ,"y":2},"B":[{"k":1,"k":2, "j":3}],"Q":"2"}"#,
            r#"{"Q":"2","Alert":{"z":1 ,"y":2},"B":[{"k":2,"j":3}]}"#,
        ),
        // Through serde_json (a `\u` escape): document order too, written compact.
        (
            r#"{"b":"caf\u00e9","a":[1, 2],"b":"x"}"#,
            r#"{"b":"x","a":[1,2]}"#,
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(written(text).as_deref(), Some(expected), "{text}");
    }
}

#[test]
fn the_scanner_takes_the_common_shape_and_leaves_the_rest_to_serde_json() {
    let common = r#"{"Entities":[{"$id":"1","Type":"ip","Address":"192.0.2.7"}],"Score":1.0,"N":-12,"Q":"a\"b\\c","T":true,"X":null}"#;
    let mut extra = String::new();
    let node = crate::event::air::scan::parse(common, 0, &mut extra);
    assert!(node.is_some(), "{common}");
    let mut texts = Texts::default();
    let mut out = Vec::new();
    if let Ok(node) = texts.parse(common.to_owned()) {
        texts.write(&node, &mut out);
    }
    assert_eq!(String::from_utf8(out).ok().as_deref(), Some(common));
    for rare in [
        r#"{"a":"caf\u00e9"}"#,
        r#"{"a":-0}"#,
        r#"{"$serde_json::private::RawValue":"1"}"#,
        r#"{"a":1,}"#,
    ] {
        assert!(
            crate::event::air::scan::parse(rare, 0, &mut String::new()).is_none(),
            "{rare}"
        );
    }
}

/// JSON text of any shape, objects with keys that repeat (the last wins) in any order, as in real `Data`.
fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[ -~\\n\\t\"\\\\é]{0,20}".prop_map(|s| Value::from(s).to_string()),
    ];
    leaf.prop_recursive(5, 60, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec(("[a-dA-D\"]{0,3}", inner), 0..8).prop_map(|entries| {
                let members: Vec<String> = entries
                    .iter()
                    .map(|(key, value)| format!("{}:{value}", Value::from(key.as_str())))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

proptest::proptest! {
    #[test]
    fn any_document_is_written_as_the_value_serde_json_reads(text in json_text()) {
        proptest::prop_assert_eq!(via_tree(&text), via_value(&text), "{}", text);
    }
}
