//! An insertion-ordered JSON object builder, so generated records keep the key order real records have
//! (`serde_json::Map` would sort keys without the crate-wide `preserve_order` feature).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

/// A JSON object whose keys serialize in insertion order.
#[derive(Debug, Default)]
pub(crate) struct Obj(Vec<(String, Box<RawValue>)>);

impl Obj {
    pub(crate) fn new() -> Self {
        Self(Vec::with_capacity(32))
    }

    /// Adds a field (a value that cannot be serialized is left out; none of the generators produce one).
    pub(crate) fn set(mut self, key: &str, value: impl Serialize) -> Self {
        self.push(key, value);
        self
    }

    /// Adds a field in place.
    pub(crate) fn push(&mut self, key: &str, value: impl Serialize) {
        if let Ok(raw) = serde_json::value::to_raw_value(&value) {
            self.0.push((key.to_owned(), raw));
        }
    }

    /// Compact JSON text.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }
}

impl Serialize for Obj {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_insertion_order() {
        let o = Obj::new()
            .set("b", 1)
            .set("a", "x")
            .set("c", Obj::new().set("z", true).set("y", [1, 2]));
        assert_eq!(o.to_json(), r#"{"b":1,"a":"x","c":{"z":true,"y":[1,2]}}"#);
    }
}
