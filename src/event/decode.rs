//! Tolerant decoding primitives shared by the record models.
//!
//! Real audit records disagree with the documentation and with each other: the same field arrives as an int or a
//! string, renamed fields differ only in case (`Url`/`URL`, `DeepLinkUrl`/`DeeplinkURL`), keys repeat, optional
//! values are `null`. The models therefore decode through hand-written visitors built on these pieces:
//! - [`Model`] — a struct that takes the fields it knows, matched on the lowercased key, so both spellings of a
//!   renamed field land in the same place and a repeated key simply keeps its last value;
//! - [`Obj`] / [`Top`] — a JSON object decoded into a model (nested objects ignore unknown keys, the top level
//!   keeps them);
//! - [`Text`], [`Scalar`], [`Texts`], [`List`] — lenient leaf values: numbers as text, text as numbers, `null`
//!   as absent, one value where a list is documented.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A struct decoded field by field from a JSON object.
pub(crate) trait Model: Default {
    /// Decodes the value of `key` (ASCII-lowercased, as bytes: see [`Key::lowercase`]) when this model knows
    /// it; `Ok(false)` leaves the value unread for the caller.
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error>;
}

impl Model for () {
    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        _key: &[u8],
        _map: &mut A,
    ) -> Result<bool, A::Error> {
        Ok(false)
    }
}

/// A pair of models filled from the same object: the first one gets the first look at every key.
impl<M: Model, N: Model> Model for (M, N) {
    fn field<'de, A: MapAccess<'de>>(&mut self, key: &[u8], map: &mut A) -> Result<bool, A::Error> {
        if self.0.field(key, map)? {
            return Ok(true);
        }
        self.1.field(key, map)
    }
}

/// A nested JSON object decoded into `M`; keys `M` does not know are skipped (they stay in the raw record).
#[derive(Debug, Default)]
pub(crate) struct Obj<M>(pub M);

impl<'de, M: Model> Deserialize<'de> for Obj<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<M>(PhantomData<M>);
        impl<'de, M: Model> Visitor<'de> for V<M> {
            type Value = Obj<M>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<M>, A::Error> {
                let mut model = M::default();
                let mut buf = [0u8; KEY_MAX];
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let known = match key.lowercase(&mut buf) {
                        Some(lower) => model.field(lower, &mut map)?,
                        None => false,
                    };
                    if !known {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Obj(model))
            }
        }
        deserializer.deserialize_map(V(PhantomData))
    }
}

/// A top-level record object decoded into `M`; unknown keys are kept with their raw JSON value.
#[derive(Debug, Default)]
pub(crate) struct Top<M> {
    pub model: M,
    pub unknown: Vec<(String, Box<RawValue>)>,
}

impl<'de, M: Model> Deserialize<'de> for Top<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<M>(PhantomData<M>);
        impl<'de, M: Model> Visitor<'de> for V<M> {
            type Value = Top<M>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an audit record object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<M>, A::Error> {
                let mut top = Top {
                    model: M::default(),
                    unknown: Vec::new(),
                };
                let mut buf = [0u8; KEY_MAX];
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let known = match key.lowercase(&mut buf) {
                        Some(lower) => top.model.field(lower, &mut map)?,
                        None => false,
                    };
                    if !known {
                        let value = map.next_value::<Box<RawValue>>()?;
                        top.unknown.push((key.0.into_owned(), value));
                    }
                }
                Ok(top)
            }
        }
        deserializer.deserialize_map(V(PhantomData))
    }
}

/// Longest key matched against the models; longer keys are unknown by definition. A multiple of 8
/// ([`Key::lowercase`] works in words).
const KEY_MAX: usize = 48;
const _: () = assert!(KEY_MAX % 8 == 0);

/// A map key, borrowed from the input when it has no escapes.
pub(crate) struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    /// The key in ASCII lowercase, in `buf`; `None` when it is too long to be one the models know.
    ///
    /// Bytes, not `str`: the models match byte literals, so the result needs no UTF-8 check. It is lowercased
    /// eight bytes at a time ([`lowercase_word`]): a byte loop here was a fifth of the model decode's own
    /// time (BENCHMARKS.md, step 56). The words are read from the key itself, the last one overlapping the
    /// one before it: reading them back from `buf` after copying the key there stalled on every key (a load
    /// that spans several earlier stores cannot take its bytes from them).
    fn lowercase<'b>(&self, buf: &'b mut [u8; KEY_MAX]) -> Option<&'b [u8]> {
        let key = self.0.as_bytes();
        let out = buf.get_mut(..key.len())?;
        let Some(last_word) = key.len().checked_sub(8) else {
            for (to, from) in out.iter_mut().zip(key) {
                *to = from.to_ascii_lowercase();
            }
            return Some(out);
        };
        for start in (0..key.len()).step_by(8).map(|at| at.min(last_word)) {
            let word = key.get(start..)?.first_chunk::<8>()?;
            let lowered = lowercase_word(u64::from_le_bytes(*word)).to_le_bytes();
            out.get_mut(start..)?
                .first_chunk_mut::<8>()?
                .copy_from_slice(&lowered);
        }
        Some(out)
    }
}

/// Eight bytes with `A`–`Z` turned into `a`–`z` and every other byte (UTF-8's non-ASCII bytes included)
/// left as it is: per byte, what [`u8::to_ascii_lowercase`] does.
///
/// Written by hand (a few bit operations; no crate lowercases into a caller's buffer): with each byte's
/// high bit cleared, adding `0x80 - b'A'` sets it exactly for bytes from `A` on, and adding `0x80 - b'Z' - 1`
/// exactly for bytes after `Z`, with no carry into the next byte; an upper-case ASCII letter is a byte with
/// the first, not the second, and no high bit of its own, and gets `0x20` (its high bit shifted by two).
fn lowercase_word(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let low = word & !HIGH;
    let from_a = low + ONES * u64::from(0x80 - b'A');
    let after_z = low + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = from_a & !after_z & !word & HIGH;
    word | (upper >> 2)
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Optional text: a string, or a number or boolean written as text; `null` is absent.
#[derive(Debug, Default)]
pub(crate) struct Text(pub Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or null")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(Some(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
        Ok(Text(Some(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text(Some(v.to_string())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text(None))
    }
}

/// A value documented as an integer and seen as a string (`"619"`, `"HighConfidencePhish"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    /// An integer, or a string holding one.
    Int(i64),
    /// Anything else, as text.
    Text(String),
}

impl Scalar {
    /// The integer, when there is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Scalar::Int(n) => Some(*n),
            Scalar::Text(_) => None,
        }
    }

    fn from_text(text: &str) -> Scalar {
        match text.trim().parse::<i64>() {
            Ok(n) => Scalar::Int(n),
            Err(_) => Scalar::Text(text.to_owned()),
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Text(t) => f.write_str(t),
        }
    }
}

impl serde::Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scalar::Int(n) => serializer.serialize_i64(*n),
            Scalar::Text(t) => serializer.serialize_str(t),
        }
    }
}

/// An optional [`Scalar`]; `null` and the empty string are absent.
#[derive(Debug, Default)]
pub(crate) struct OptScalar(pub Option<Scalar>);

impl<'de> Deserialize<'de> for OptScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptScalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, a string or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OptScalar, E> {
                Ok(OptScalar(
                    (!v.trim().is_empty()).then(|| Scalar::from_text(v)),
                ))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptScalar, E> {
                Ok(OptScalar(Some(Scalar::Int(v))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptScalar, E> {
                Ok(OptScalar(Some(match i64::try_from(v) {
                    Ok(n) => Scalar::Int(n),
                    Err(_) => Scalar::Text(v.to_string()),
                })))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OptScalar, E> {
                // Integral floats (`931.0`) are integers; the cast is exact inside the checked range.
                let integral = v.fract() == 0.0 && v.abs() < 9.0e15;
                Ok(OptScalar(Some(if integral {
                    Scalar::Int(v as i64)
                } else {
                    Scalar::Text(v.to_string())
                })))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<OptScalar, E> {
                Ok(OptScalar(Some(Scalar::Text(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OptScalar, E> {
                Ok(OptScalar(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<OptScalar, E> {
                Ok(OptScalar(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A list of texts; `null` is empty and a single text is a list of one.
#[derive(Debug, Default)]
pub(crate) struct Texts(pub Vec<String>);

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Texts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Texts, S::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(Text(item)) = seq.next_element::<Text>()? {
                    out.extend(item);
                }
                Ok(Texts(out))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Texts, E> {
                Ok(Texts(vec![v.to_owned()]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Texts, E> {
                Ok(Texts(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<Texts, E> {
                Ok(Texts(Vec::new()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A list of objects decoded into `M`; `null` is empty and a single object is a list of one.
#[derive(Debug)]
pub(crate) struct List<M>(pub Vec<M>);

impl<'de, M: Model> Deserialize<'de> for List<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V<M>(PhantomData<M>);
        impl<'de, M: Model> Visitor<'de> for V<M> {
            type Value = List<M>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of objects")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<List<M>, S::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element::<Option<Obj<M>>>()? {
                    out.extend(item.map(|Obj(m)| m));
                }
                Ok(List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<List<M>, A::Error> {
                let Obj(one) = Obj::<M>::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(List(vec![one]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<List<M>, E> {
                Ok(List(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<List<M>, E> {
                Ok(List(Vec::new()))
            }
        }
        deserializer.deserialize_any(V(PhantomData))
    }
}

/// Reads the next value as optional text.
pub(crate) fn text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    Ok(map.next_value::<Text>()?.0)
}

/// Reads the next value as an optional int-or-string.
pub(crate) fn scalar<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<Scalar>, A::Error> {
    Ok(map.next_value::<OptScalar>()?.0)
}

/// Reads the next value as a list of texts.
pub(crate) fn texts<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Vec<String>, A::Error> {
    Ok(map.next_value::<Texts>()?.0)
}

/// Reads the next value as a list of objects.
pub(crate) fn list<'de, M: Model, A: MapAccess<'de>>(map: &mut A) -> Result<Vec<M>, A::Error> {
    Ok(map.next_value::<List<M>>()?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_is_lowercased_as_each_of_its_bytes_would_be() {
        // Every byte value in every position, beside neighbours that are letters, digits and non-ASCII.
        for neighbour in [b'A', b'Z', b'a', b'@', b'[', b'0', 0x80, 0xC3, 0xFF, 0x00] {
            for byte in 0..=u8::MAX {
                for at in 0..8 {
                    let mut bytes = [neighbour; 8];
                    bytes[at] = byte;
                    let expected = bytes.map(|b| b.to_ascii_lowercase());
                    let got = lowercase_word(u64::from_le_bytes(bytes)).to_le_bytes();
                    assert_eq!(got, expected, "{bytes:02x?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn a_key_is_lowercased_as_std_does_up_to_the_longest_known(key in "\\PC{0,30}") {
            let mut buf = [0u8; KEY_MAX];
            let lowered = Key(Cow::Borrowed(key.as_str())).lowercase(&mut buf).map(<[u8]>::to_vec);
            let expected = (key.len() <= KEY_MAX).then(|| key.to_ascii_lowercase().into_bytes());
            proptest::prop_assert_eq!(lowered, expected);
        }
    }

    #[test]
    fn keys_of_every_length_are_lowercased_and_longer_ones_refused() {
        let mut buf = [0xAAu8; KEY_MAX];
        for len in 0..=KEY_MAX + 1 {
            let key: String = "RecordTypeÜX".chars().cycle().take(len).collect();
            let lowered = Key(Cow::Borrowed(key.as_str()))
                .lowercase(&mut buf)
                .map(<[u8]>::to_vec);
            let expected = (key.len() <= KEY_MAX).then(|| key.to_ascii_lowercase().into_bytes());
            assert_eq!(lowered, expected, "{key:?}");
        }
    }

    #[derive(Debug, Default)]
    struct Probe {
        url: Option<String>,
        size: Option<Scalar>,
        tags: Vec<String>,
    }

    impl Model for Probe {
        fn field<'de, A: MapAccess<'de>>(
            &mut self,
            key: &[u8],
            map: &mut A,
        ) -> Result<bool, A::Error> {
            match key {
                b"url" => self.url = text(map)?,
                b"size" => self.size = scalar(map)?,
                b"tags" => self.tags = texts(map)?,
                _ => return Ok(false),
            }
            Ok(true)
        }
    }

    fn probe(json: &str) -> Top<Probe> {
        match serde_json::from_str::<Top<Probe>>(json) {
            Ok(top) => top,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    #[test]
    fn both_spellings_of_a_renamed_field_land_in_one_place() {
        assert_eq!(probe(r#"{"URL":"a"}"#).model.url.as_deref(), Some("a"));
        assert_eq!(probe(r#"{"Url":"b"}"#).model.url.as_deref(), Some("b"));
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        assert_eq!(
            probe(r#"{"Url":"a","Url":"b"}"#).model.url.as_deref(),
            Some("b")
        );
    }

    #[test]
    fn numbers_and_numeric_strings_are_one_scalar() {
        assert_eq!(
            probe(r#"{"Size":"12345"}"#).model.size,
            Some(Scalar::Int(12345))
        );
        assert_eq!(
            probe(r#"{"Size":12345}"#).model.size,
            Some(Scalar::Int(12345))
        );
        assert_eq!(
            probe(r#"{"Size":"big"}"#).model.size,
            Some(Scalar::Text("big".into()))
        );
        assert_eq!(probe(r#"{"Size":null}"#).model.size, None);
    }

    #[test]
    fn a_single_text_is_a_list_of_one() {
        assert_eq!(probe(r#"{"Tags":"x"}"#).model.tags, vec!["x".to_owned()]);
        assert_eq!(
            probe(r#"{"Tags":["x",1,null]}"#).model.tags,
            vec!["x".to_owned(), "1".to_owned()]
        );
    }

    #[test]
    fn unknown_keys_are_kept_with_their_raw_value() {
        let top = probe(r#"{"Subscription":"Audit.General","Extra":{"a":[1,2]}}"#);
        let kept: Vec<(&str, &str)> = top
            .unknown
            .iter()
            .map(|(k, v)| (k.as_str(), v.get()))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("Subscription", r#""Audit.General""#),
                ("Extra", r#"{"a":[1,2]}"#)
            ]
        );
    }

    #[test]
    fn a_key_with_escapes_still_matches() {
        assert_eq!(probe(r#"{"U\u0072l":"a"}"#).model.url.as_deref(), Some("a"));
    }
}
