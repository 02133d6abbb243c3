//! A small streaming JSON object writer: fields go straight into the output buffer, values through
//! `serde_json`, nested objects through closures — no intermediate `Value` tree.

use serde::Serialize;

/// An open JSON object in `out`; [`close`](Obj::close) writes the closing brace.
pub(crate) struct Obj<'o> {
    pub(crate) out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Obj<'o> {
    /// Opens an object.
    pub(crate) fn open(out: &'o mut Vec<u8>) -> Obj<'o> {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Closes the object.
    pub(crate) fn close(self) {
        self.out.push(b'}');
    }

    /// Writes the separator and `"key":`.
    pub(crate) fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        // Keys are identifiers almost always; only those needing escapes go through the serializer.
        if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.out.push(b'"');
            self.out.extend_from_slice(key.as_bytes());
            self.out.extend_from_slice(b"\":");
        } else {
            write_json(self.out, key);
            self.out.push(b':');
        }
    }

    /// `"key": value`.
    pub(crate) fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.key(key);
        write_json(self.out, value);
    }

    /// `"key": value` when there is a value.
    pub(crate) fn opt<T: Serialize + ?Sized>(&mut self, key: &str, value: Option<&T>) {
        if let Some(value) = value {
            self.field(key, value);
        }
    }

    /// `"key": "text"` unless the text is absent or empty.
    pub(crate) fn text(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.field(key, value);
        }
    }

    /// `"key": [ … ]` unless the list is empty.
    pub(crate) fn list<T: Serialize>(&mut self, key: &str, values: &[T]) {
        if !values.is_empty() {
            self.field(key, values);
        }
    }

    /// `"key": { … }` filled by `fill`; left out entirely when `fill` writes nothing.
    pub(crate) fn object(&mut self, key: &str, fill: impl FnOnce(&mut Obj<'_>)) {
        let (len, empty) = (self.out.len(), self.empty);
        self.key(key);
        let mut inner = Obj::open(self.out);
        fill(&mut inner);
        if inner.empty {
            self.out.truncate(len);
            self.empty = empty;
        } else {
            inner.close();
        }
    }

    /// `"key": [ {…}, … ]`, one object per item filled by `fill`; left out when there are no items.
    pub(crate) fn objects<T>(
        &mut self,
        key: &str,
        items: &[T],
        mut fill: impl FnMut(&mut Obj<'_>, &T),
    ) {
        if items.is_empty() {
            return;
        }
        self.key(key);
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            let mut inner = Obj::open(self.out);
            fill(&mut inner, item);
            inner.close();
        }
        self.out.push(b']');
    }
}

/// Serializes `value` into `out`. Serializing our own types into a `Vec` cannot fail; should it ever, `null`
/// keeps the document well-formed only if nothing was written, so the failure is made loud in debug builds.
pub(crate) fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let before = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        debug_assert!(false, "serializing into a Vec failed");
        out.truncate(before);
        out.extend_from_slice(b"null");
    }
}
