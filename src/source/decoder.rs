//! Turns the raw bytes of one blob element into a [`Record`], reading only the common fields.
//!
//! Records of other types are recognised from `RecordType` and skipped without copying them — and, when
//! `RecordType` is a plain integer member of the object (as the API sends it), without parsing the members
//! after it ([`quick_record_type`]). A record of another type that is broken *after* its `RecordType` is
//! therefore counted as filtered, not dead-lettered: it was not going to be forwarded either way.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::event::{LargeMembers, Record};

use super::header::{self, Fields};

/// The common fields read from every element.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(rename = "Id", borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(rename = "RecordType", default, deserialize_with = "int_or_string")]
    record_type: Option<i64>,
    #[serde(rename = "Operation", borrow, default)]
    operation: Option<Cow<'a, str>>,
    #[serde(rename = "CreationTime", borrow, default)]
    creation_time: Option<Cow<'a, str>>,
    /// Known only from the header reader's pass.
    #[serde(skip)]
    large: LargeMembers,
    /// Known only from the header reader's pass (`false`: not known).
    #[serde(skip)]
    single_line: bool,
}

impl<'a> From<Fields<'a>> for Header<'a> {
    fn from(fields: Fields<'a>) -> Header<'a> {
        Header {
            id: fields.id.map(Cow::Borrowed),
            record_type: fields.record_type,
            operation: fields.operation.map(Cow::Borrowed),
            creation_time: fields.creation_time.map(Cow::Borrowed),
            large: fields.large,
            single_line: fields.single_line,
        }
    }
}

/// What one element turned out to be.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// A record of a wanted type.
    Wanted(Record),
    /// A record of another type (skipped, counted).
    Skipped,
    /// Not a usable record; the reason (the element is dead-lettered).
    Invalid(String),
}

/// Reads the common fields of `element`; keeps it when its `RecordType` is in `wanted`.
pub fn decode_element(element: &[u8], wanted: &[i64]) -> Decoded {
    if quick_record_type(element).is_some_and(|record_type| !wanted.contains(&record_type)) {
        return Decoded::Skipped;
    }
    // A wanted record must be valid UTF-8 as a whole (below); checked first, in one SIMD pass, the header
    // is parsed from `str`, where serde_json does not check each key and string again.
    let text = simdutf8::basic::from_utf8(element).ok();
    // Usually one validating pass reads the header; serde_json decides whatever that pass declines.
    let parsed = match text {
        Some(text) => match header::read(text) {
            Some(fields) => Ok(Header::from(fields)),
            None => serde_json::from_str::<Header<'_>>(text),
        },
        None => serde_json::from_slice::<Header<'_>>(element),
    };
    let header = match parsed {
        Ok(header) => header,
        Err(error) => {
            return Decoded::Invalid(format!(
                "not a JSON object with the common audit fields: {error}"
            ))
        }
    };
    let Some(record_type) = header.record_type else {
        return Decoded::Invalid("the record has no RecordType".into());
    };
    if !wanted.contains(&record_type) {
        return Decoded::Skipped;
    }
    let Some(id) = header.id.filter(|id| !id.is_empty()) else {
        return Decoded::Invalid(format!("a record of type {record_type} has no Id"));
    };
    // serde_json does not check the UTF-8 of strings it skips; the `json` format sends the record's
    // bytes as they are, so a wanted record must be valid UTF-8 as a whole (found by fuzzing).
    let Some(text) = text else {
        // The fast check does not say where; std does (only for records that fail).
        let at = std::str::from_utf8(element)
            .err()
            .map_or(0, |error| error.valid_up_to());
        return Decoded::Invalid(format!("record {id} is not valid UTF-8 (at byte {at})"));
    };
    Decoded::Wanted(Record {
        // Copied from the text checked above: the record is UTF-8 by its type from here on.
        raw: ByteString::from(text),
        id: id.into_owned(),
        record_type,
        operation: header.operation.map(Cow::into_owned).unwrap_or_default(),
        creation_time: header
            .creation_time
            .map(Cow::into_owned)
            .unwrap_or_default(),
        large: header.large,
        single_line: header.single_line,
    })
}

/// `RecordType` read straight off the bytes when it is an integer member of the top-level object, looking
/// only at the members before it (no allocation, no UTF-8 or escape decoding). `None` whenever anything is
/// unusual — a key with escapes, a string or fractional `RecordType`, broken JSON before it, no such member —
/// and the caller then parses the element fully.
///
/// Written by hand because serde_json must parse (and validate) the whole object before it hands out a field.
fn quick_record_type(element: &[u8]) -> Option<i64> {
    let mut pos = skip_whitespace(element, 0);
    if element.get(pos) != Some(&b'{') {
        return None;
    }
    pos += 1;
    loop {
        pos = skip_whitespace(element, pos);
        if element.get(pos) != Some(&b'"') {
            return None;
        }
        let key_start = pos + 1;
        let key_end = key_start + memchr::memchr2(b'"', b'\\', element.get(key_start..)?)?;
        if element[key_end] == b'\\' {
            return None;
        }
        let is_record_type = &element[key_start..key_end] == b"RecordType";
        pos = skip_whitespace(element, key_end + 1);
        if element.get(pos) != Some(&b':') {
            return None;
        }
        pos = skip_whitespace(element, pos + 1);
        if is_record_type {
            return integer_at(element, pos);
        }
        pos = skip_whitespace(element, skip_value(element, pos)?);
        if element.get(pos) != Some(&b',') {
            return None;
        }
        pos += 1;
    }
}

fn skip_whitespace(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        pos += 1;
    }
    pos
}

/// The position just after the string whose opening quote is at `pos - 1`.
fn skip_string_body(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos += memchr::memchr2(b'"', b'\\', bytes.get(pos..)?)?;
        if bytes[pos] == b'"' {
            return Some(pos + 1);
        }
        pos += 2; // a backslash and the byte it escapes
    }
}

/// The position just after the JSON value starting at `pos` (structure only; scalars are not checked).
fn skip_value(bytes: &[u8], pos: usize) -> Option<usize> {
    match bytes.get(pos)? {
        b'"' => skip_string_body(bytes, pos + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut pos = pos;
            loop {
                match bytes.get(pos)? {
                    b'"' => {
                        pos = skip_string_body(bytes, pos + 1)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(pos + 1);
                        }
                    }
                    _ => {}
                }
                pos += 1;
            }
        }
        b'}' | b']' | b',' | b':' => None,
        _ => {
            let end = bytes[pos..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n'))?;
            Some(pos + end)
        }
    }
}

/// A JSON integer literal at `pos` that ends the member (followed by whitespace, `,` or `}`).
fn integer_at(bytes: &[u8], pos: usize) -> Option<i64> {
    let negative = bytes.get(pos) == Some(&b'-');
    let digits_start = pos + usize::from(negative);
    let digits_len = bytes
        .get(digits_start..)?
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let digits = &bytes[digits_start..digits_start + digits_len];
    // JSON has no leading zeros; anything odd goes to the full parse.
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    if !matches!(
        bytes.get(digits_start + digits_len)?,
        b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n'
    ) {
        return None;
    }
    let magnitude: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// `RecordType` arrives as a number and, in some tools' output, as a numeric string.
fn int_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct IntOrString;

    impl Visitor<'_> for IntOrString {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer or a numeric string")
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Ok(Some(value))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(i64::try_from(value).ok())
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            Ok((value.fract() == 0.0).then_some(value as i64))
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(value.trim().parse().ok())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    deserializer.deserialize_any(IntOrString)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_wanted_record_keeps_its_exact_bytes() {
        let raw = br#"{"CreationTime":"2025-11-24T10:03:19","Id":"a-b","Operation":"TIMailData","RecordType":28,"Subject":"caf\u00e9 \"x\""}"#;
        let Decoded::Wanted(record) = decode_element(raw, &[28]) else {
            panic!("not wanted")
        };
        assert_eq!(record.raw.as_bytes(), &raw[..]);
        assert_eq!(record.id, "a-b");
        assert_eq!(record.operation, "TIMailData");
        assert_eq!(record.creation_time, "2025-11-24T10:03:19");
    }

    #[test]
    fn other_record_types_are_skipped_and_string_types_understood() {
        assert_eq!(
            decode_element(br#"{"Id":"x","RecordType":15}"#, &[28]),
            Decoded::Skipped
        );
        assert!(matches!(
            decode_element(br#"{"Id":"x","RecordType":"41"}"#, &[41]),
            Decoded::Wanted(_)
        ));
    }

    #[test]
    fn a_wanted_record_with_invalid_utf8_in_a_skipped_field_is_invalid() {
        // Found by the encode_payloads fuzz target: a Latin-1 byte in a field the header decoding skips.
        let element =
            b"{\"Id\":\"a\",\"RecordType\":28,\"Recipients\":[\"megan.bow\xe8n@contoso.com\"]}";
        match decode_element(element, &[28]) {
            Decoded::Invalid(reason) => {
                assert!(reason.contains("not valid UTF-8 (at byte 50)"), "{reason}")
            }
            _ => panic!("invalid UTF-8 must not pass"),
        }
        assert!(matches!(decode_element(element, &[41]), Decoded::Skipped));
    }

    #[test]
    fn the_quick_record_type_reads_plain_integers_and_leaves_the_rest_to_serde() {
        let cases: [(&[u8], Option<i64>); 12] = [
            (
                br#"{"CreationTime":"x","Id":"a","RecordType":15,"Bad":"#,
                Some(15),
            ),
            (
                br#" { "A" : {"RecordType":28,"b":["]}\"",{}]} , "RecordType" : -3 }"#,
                Some(-3),
            ),
            (br#"{"A":"\"RecordType\":28","RecordType":41}"#, Some(41)),
            (br#"{"A":1.5e3,"B":null,"RecordType":64}"#, Some(64)),
            (br#"{"RecordType":"28"}"#, None),
            (br#"{"RecordType":28.0}"#, None),
            (br#"{"RecordType":028}"#, None),
            (br#"{"RecordType":28"#, None),
            (br#"{"Record\u0054ype":28}"#, None),
            (br#"{"A":1}"#, None),
            (br#"{"A":[1,2}"#, None),
            (br#"[{"RecordType":28}]"#, None),
        ];
        for (element, expected) in cases {
            assert_eq!(
                quick_record_type(element),
                expected,
                "{}",
                String::from_utf8_lossy(element)
            );
        }
    }

    #[test]
    fn a_record_of_another_type_is_skipped_without_reading_past_its_record_type() {
        // Broken after RecordType: not wanted, so skipped (the full parse would have called it invalid).
        assert_eq!(
            decode_element(br#"{"Id":"x","RecordType":15,"Oops":}"#, &[28]),
            Decoded::Skipped
        );
        // A wanted type is always parsed fully.
        assert!(matches!(
            decode_element(br#"{"Id":"x","RecordType":28,"Oops":}"#, &[28]),
            Decoded::Invalid(_)
        ));
    }

    proptest! {
        /// Whatever the quick read finds, the full parse agrees with it.
        #[test]
        fn the_quick_record_type_agrees_with_serde(
            members in prop::collection::vec(
                ("[A-Za-z]{1,12}", prop_oneof![
                    any::<i64>().prop_map(serde_json::Value::from),
                    "[ -~]{0,20}".prop_map(serde_json::Value::from),
                    any::<f64>().prop_map(serde_json::Value::from),
                    Just(serde_json::json!({"RecordType": 28, "x": ["\"]", {}]})),
                ]),
                0..8,
            ),
            record_type in prop::option::of(prop_oneof![
                any::<i64>().prop_map(serde_json::Value::from),
                "-?[0-9]{1,4}".prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
            ]),
            position in 0usize..8,
            pretty in any::<bool>(),
        ) {
            let mut object = serde_json::Map::new();
            for (index, (key, value)) in members.into_iter().enumerate() {
                if index == position {
                    if let Some(record_type) = &record_type {
                        object.insert("RecordType".into(), record_type.clone());
                    }
                }
                if key != "RecordType" {
                    object.insert(key, value);
                }
            }
            if let Some(record_type) = &record_type {
                object.entry("RecordType").or_insert_with(|| record_type.clone());
            }
            let value = serde_json::Value::Object(object);
            let bytes = if pretty {
                serde_json::to_vec_pretty(&value)
            } else {
                serde_json::to_vec(&value)
            }
            .unwrap_or_default();
            if let Some(quick) = quick_record_type(&bytes) {
                let header: Header<'_> = serde_json::from_slice(&bytes).map_err(|e| {
                    TestCaseError::fail(e.to_string())
                })?;
                prop_assert_eq!(header.record_type, Some(quick));
            }
        }
    }

    #[test]
    fn elements_without_the_common_fields_are_invalid() {
        assert!(matches!(
            decode_element(br#"{"Id":"x"}"#, &[28]),
            Decoded::Invalid(_)
        ));
        assert!(matches!(
            decode_element(br#"{"RecordType":28}"#, &[28]),
            Decoded::Invalid(_)
        ));
        assert!(matches!(decode_element(b"12", &[28]), Decoded::Invalid(_)));
    }
}
