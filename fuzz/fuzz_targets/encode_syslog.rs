//! The RFC 5424 / RFC 3164 framing of the syslog sink on any record and payload, with and without a size
//! limit: the message is UTF-8, within the limit, and re-parses (syslog_loose) with the record Id in the
//! structured data (RFC 5424) and the payload (possibly cut at a character boundary) as MSG.
#![no_main]

use atp_forwarder::encode::{encode, Format};
use atp_forwarder::event::{Event, NormalizeContext};
use atp_forwarder::sink::syslog::{Fit, SyslogEncoder, SyslogSinkConfig};
use atp_forwarder::source::{decode_element, Decoded};
use libfuzzer_sys::fuzz_target;
use syslog_loose::{parse_message, Variant};

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, element)) = data.split_first() else {
        return;
    };
    let wanted: Vec<i64> = (0..=400).collect();
    let Decoded::Wanted(record) = decode_element(element, &wanted) else {
        return;
    };
    let rfc5424 = knobs & 1 == 0;
    let limit = (knobs & 2 != 0).then_some(480 + usize::from(knobs >> 2) * 7);
    let config: SyslogSinkConfig = serde_json::from_value(serde_json::json!({
        "name": "fuzz", "address": "127.0.0.1:514", "transport": "tcp", "hostname": "fwd-01",
        "protocol": if rfc5424 { "rfc5424" } else { "rfc3164" },
        "max_message_bytes": limit,
    }))
    .expect("fuzz sink config");
    let encoder = SyslogEncoder::new(&config);
    let event = Event::from_record(record, &NormalizeContext::new("contoso"));
    let mut payload = Vec::new();
    encode(if knobs & 4 == 0 { Format::Ecs } else { Format::Cef }, &event, &mut payload);

    let mut out = Vec::new();
    let Ok(fit) = encoder.encode("contoso", &event, &payload, &mut out) else {
        return; // only a header longer than the limit, reported as an error
    };
    let message = std::str::from_utf8(&out).expect("a syslog message is UTF-8");
    if let Some(limit) = limit {
        assert!(out.len() <= limit, "{} > {limit}", out.len());
    }
    let kept = match fit {
        Fit::Whole => payload.len(),
        Fit::Truncated { kept, .. } => kept,
    };
    assert!(message.ends_with(std::str::from_utf8(&payload[..kept]).expect("cut on a char boundary")));
    if rfc5424 {
        let parsed = parse_message(message, Variant::RFC5424);
        assert_eq!(parsed.appname, Some("atp-forwarder"));
        let id = parsed
            .structured_data
            .iter()
            .flat_map(|element| element.params())
            .find(|(name, _)| name.to_string() == "id")
            .map(|(_, value)| value.to_string());
        assert_eq!(id.as_deref(), Some(event.record.id.as_str()), "{message}");
    }
});
