//! The streaming blob decoder: any bytes, cut into chunks of any size (the first input byte picks it),
//! must split without panicking, and when the whole body is a JSON array that serde_json accepts, the
//! splitter must find exactly its elements, byte for byte parseable to the same values. A record the decoder
//! keeps must be JSON serde_json accepts, with the `Id` serde_json reads (the decoder's own header reader
//! must never accept more than serde_json, nor read another Id).
#![no_main]

use atp_forwarder::event::ATP_RECORD_TYPES;
use atp_forwarder::source::{decode_element, ArraySplitter, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;
    let mut splitter = ArraySplitter::new(64 * 1024, 64);
    let mut elements: Vec<Vec<u8>> = Vec::new();
    let mut failed = false;
    'body: for piece in body.chunks(chunk) {
        splitter.push(piece);
        loop {
            match splitter.next() {
                Ok(Some(range)) => {
                    let element = splitter.element(range).to_vec();
                    if let Decoded::Wanted(record) = decode_element(&element, &ATP_RECORD_TYPES) {
                        // Skipping validates as the decoder must (serde_json's skip, unlike its `Value`,
                        // lets lone UTF-16 surrogates pass).
                        serde_json::from_slice::<&serde_json::value::RawValue>(&element)
                            .expect("a record the decoder keeps is JSON serde_json accepts");
                        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&element) {
                            assert_eq!(
                                value.get("Id").and_then(serde_json::Value::as_str),
                                Some(record.id.as_str()),
                                "the decoder read another Id than serde_json"
                            );
                        }
                    }
                    elements.push(element);
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break 'body;
                }
            }
        }
    }
    if failed || splitter.finish().is_err() {
        return;
    }
    if let Ok(serde_json::Value::Array(values)) = serde_json::from_slice::<serde_json::Value>(body) {
        assert_eq!(values.len(), elements.len(), "element count differs from serde_json");
        for (value, element) in values.iter().zip(&elements) {
            let reparsed: serde_json::Value =
                serde_json::from_slice(element).expect("an element of a valid array parses alone");
            assert_eq!(&reparsed, value);
        }
    }
});
