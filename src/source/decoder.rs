//! Turns the raw bytes of one blob element into a [`Record`], reading only the common fields.
//!
//! Records of other types are recognised from `RecordType` and skipped without copying them.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::event::Record;

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
    let header: Header<'_> = match serde_json::from_slice(element) {
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
    if simdutf8::basic::from_utf8(element).is_err() {
        // The fast check does not say where; std does (only for records that fail).
        let at = std::str::from_utf8(element)
            .err()
            .map_or(0, |error| error.valid_up_to());
        return Decoded::Invalid(format!("record {id} is not valid UTF-8 (at byte {at})"));
    }
    Decoded::Wanted(Record {
        raw: Bytes::copy_from_slice(element),
        id: id.into_owned(),
        record_type,
        operation: header.operation.map(Cow::into_owned).unwrap_or_default(),
        creation_time: header
            .creation_time
            .map(Cow::into_owned)
            .unwrap_or_default(),
    })
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
    use super::*;

    #[test]
    fn a_wanted_record_keeps_its_exact_bytes() {
        let raw = br#"{"CreationTime":"2025-11-24T10:03:19","Id":"a-b","Operation":"TIMailData","RecordType":28,"Subject":"caf\u00e9 \"x\""}"#;
        let Decoded::Wanted(record) = decode_element(raw, &[28]) else {
            panic!("not wanted")
        };
        assert_eq!(&record.raw[..], &raw[..]);
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
