//! Every record model and the normalizer: any element that passes the common-field decoding is built into
//! an event (typed model for 28/41/47/64, untyped otherwise) without panicking, and the event answers
//! every question the encoders ask of it.
#![no_main]

use atp_forwarder::event::{Event, NormalizeContext};
use atp_forwarder::source::{decode_element, Decoded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Every record type is wanted, so unknown types reach the untyped path too.
    let wanted: Vec<i64> = (0..=400).collect();
    let Decoded::Wanted(record) = decode_element(data, &wanted) else {
        return;
    };
    let id = record.id.clone();
    let event = Event::from_record(record, &NormalizeContext::new("contoso"));
    assert_eq!(event.record.id, id);
    let _ = event.decode_error();
    let _ = event.name();
    let _ = event.is_alert();
    assert!(event.cef_severity() <= 10);
    let _ = event.assessment();
    let _ = event.timestamp();
    let _ = event.unknown_fields().len();
});
