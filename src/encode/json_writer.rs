//! A small streaming JSON object writer: fields go straight into the output buffer, values through
//! `serde_json`, nested objects through closures — no intermediate `Value` tree.

use serde::Serialize;

use crate::event::time::Rfc3339;
use crate::json_bytes::first_special;

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
    ///
    /// `key` must be a JSON string as it is (no `"`, `\` or control character): the ECS keys are literals
    /// and names made of letters, digits and `_` (`o365.atp.auth.*`), so it is checked in debug builds only,
    /// not per key at run time.
    pub(crate) fn key(&mut self, key: &str) {
        debug_assert!(
            first_special(key.as_bytes()).is_none(),
            "key {key:?} needs escaping"
        );
        self.out.reserve(key.len() + 4);
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// `"key": value`.
    pub(crate) fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.key(key);
        write_json(self.out, value);
    }

    /// `"key": "text"`.
    pub(crate) fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    /// `"key": "2022-07-08T09:10:19Z"` when there is an instant.
    pub(crate) fn time(&mut self, key: &str, value: Option<Rfc3339>) {
        let Some(value) = value else { return };
        self.key(key);
        match value.format(&mut [0; 32]) {
            Some(text) => write_str(self.out, text),
            None => write_json(self.out, &value),
        }
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
            self.str(key, value);
        }
    }

    /// `"key": [ … ]` unless the list is empty.
    pub(crate) fn list<T: Serialize>(&mut self, key: &str, values: &[T]) {
        if !values.is_empty() {
            self.field(key, values);
        }
    }

    /// `"key": ["text", …]` unless the list is empty (what [`list`](Obj::list) writes for strings).
    pub(crate) fn strs<S: AsRef<str>>(&mut self, key: &str, values: &[S]) {
        self.array(key, values, |out, value| write_str(out, value.as_ref()));
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
        self.array(key, items, |out, item| {
            let mut inner = Obj::open(out);
            fill(&mut inner, item);
            inner.close();
        });
    }

    /// `"key": [ … ]` with each item written by `write`; left out when there are no items.
    fn array<T>(&mut self, key: &str, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
        if items.is_empty() {
            return;
        }
        self.key(key);
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write(self.out, item);
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

/// Writes `text` as a JSON string: copied between quotes when nothing in it needs escaping (what
/// `serde_json` writes then too), through `serde_json` otherwise.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    if first_special(text.as_bytes()).is_some() {
        write_json(out, text);
    } else {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}
