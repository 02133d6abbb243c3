//! The four payload encoders on any decodable record: `json` is the record byte for byte, `ecs` re-parses as
//! JSON carrying the record Id, `cef` and `leef` are one line with a well-formed header whose extension
//! carries the escaped record Id.
#![no_main]

use atp_forwarder::encode::{encode, Format};
use atp_forwarder::event::{Event, NormalizeContext, ATP_RECORD_TYPES};
use atp_forwarder::source::{decode_element, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Decoded::Wanted(record) = decode_element(data, &ATP_RECORD_TYPES) else {
        return;
    };
    let event = Event::from_record(record, &NormalizeContext::new("contoso"));
    let id = event.record.id.clone();

    let mut out = Vec::new();
    encode(Format::Json, &event, &mut out);
    assert_eq!(out, data, "json is the record unchanged");
    assert!(std::str::from_utf8(&out).is_ok(), "json output is UTF-8");

    out.clear();
    encode(Format::Ecs, &event, &mut out);
    let ecs: serde_json::Value = serde_json::from_slice(&out).expect("ecs output is JSON");
    assert_eq!(ecs["event"]["id"].as_str(), Some(id.as_str()), "ecs carries the Id");

    for (format, prefix, header_fields) in [(Format::Cef, "CEF:0|", 7), (Format::Leef, "LEEF:2.0|", 6)] {
        out.clear();
        encode(format, &event, &mut out);
        let text = std::str::from_utf8(&out).expect("cef/leef output is UTF-8");
        assert!(text.starts_with(prefix), "{text}");
        assert!(!text.contains(['\n', '\r']), "one line: {text:?}");
        let pipes = unescaped_pipes(text);
        assert!(pipes >= header_fields, "{pipes} header separators in {text:?}");
        assert!(text.contains("externalId="), "the Id is carried: {text}");
    }
});

/// `|` not preceded by a backslash escape, counted up to the start of the extension.
fn unescaped_pipes(text: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in text.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => count += 1,
            _ => escaped = false,
        }
        if c != '\\' {
            escaped = false;
        }
    }
    count
}
