//! Golden tests: each fixture in `tests/fixtures/` (one variant each, see the file names) in ecs, cef and leef,
//! pinned by `insta` snapshots in `tests/snapshots/`. The json format must be the fixture, byte for byte.
//!
//! Snapshots are written for reading: the ECS document pretty-printed (with `o365.audit`, once checked equal to
//! the fixture, shown as a marker), and each CEF / LEEF message quoted exactly, then split into its header and
//! its key/value pairs by the independent parsers of `formats_support`.

mod formats_support;

use std::collections::HashSet;
use std::fmt::Write as _;

use atp_forwarder::encode::Format;
use atp_forwarder::event::Event;
use formats_support::{ecs, encoded, event, fixture, parse_cef, parse_leef};
use serde_json::Value;

fn ecs_view(ev: &Event, raw: &[u8]) -> Value {
    let mut doc = ecs(ev);
    let original: Value = serde_json::from_slice(raw).expect("fixture is JSON");
    if let Some(audit) = doc.get_mut("o365").and_then(|o| o.get_mut("audit")) {
        assert_eq!(*audit, original, "o365.audit is not the record");
        *audit = Value::String("<the raw record: checked equal to the fixture>".into());
    }
    doc
}

fn cef_view(ev: &Event) -> String {
    let message = encoded(Format::Cef, ev);
    let cef = parse_cef(&message).unwrap_or_else(|e| panic!("CEF does not parse ({e}): {message}"));
    let mut keys = HashSet::new();
    let mut view = format!("{message:?}\n\nheader:\n");
    for (label, value) in [
        "vendor", "product", "version", "class id", "name", "severity",
    ]
    .iter()
    .zip(&cef.header)
    {
        let _ = writeln!(view, "  {label}: {value:?}");
    }
    view.push_str("extension:\n");
    for (key, value) in &cef.extension {
        assert!(keys.insert(key.clone()), "CEF key {key} twice");
        let _ = writeln!(view, "  {key} = {value:?}");
    }
    view
}

fn leef_view(ev: &Event) -> String {
    let message = encoded(Format::Leef, ev);
    let leef =
        parse_leef(&message).unwrap_or_else(|e| panic!("LEEF does not parse ({e}): {message}"));
    let mut keys = HashSet::new();
    let mut view = format!("{message:?}\n\nheader:\n");
    for (label, value) in ["vendor", "product", "version", "event id", "delimiter"]
        .iter()
        .zip(&leef.header)
    {
        let _ = writeln!(view, "  {label}: {value:?}");
    }
    view.push_str("pairs:\n");
    for (key, value) in &leef.pairs {
        assert!(keys.insert(key.clone()), "LEEF key {key} twice");
        let _ = writeln!(view, "  {key} = {value:?}");
    }
    view
}

fn golden(file: &str, name: &str) {
    let raw = fixture(file);
    let raw = raw.trim_ascii();
    let ev = event(raw);
    assert_eq!(
        encoded(Format::Json, &ev).as_bytes(),
        raw,
        "json must be the record unchanged"
    );
    insta::assert_json_snapshot!(format!("{name}__ecs"), ecs_view(&ev, raw));
    insta::assert_snapshot!(format!("{name}__cef"), cef_view(&ev));
    insta::assert_snapshot!(format!("{name}__leef"), leef_view(&ev));
}

macro_rules! golden_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                golden(concat!(stringify!($name), ".json"), stringify!($name));
            }
        )*
    };
}

golden_tests! {
    mail_phish_quarantined,
    mail_malware_numeric_codes,
    mail_spam_intraorg,
    mail_hostile_strings,
    url_click_block_page,
    url_click_override,
    url_click_pending_detonation,
    atp_sharepoint_hex,
    atp_teams_stringified,
    atp_onedrive_clean,
    air_threats_found_strings,
    air_remediated_objects,
    air_running_no_actions,
    untyped_unknown_record_type,
    untyped_64_alert_entity,
    undecodable_mail_attachments,
    undecodable_air_running_time,
}

#[test]
fn every_fixture_has_a_golden_test() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let source = include_str!("formats_golden.rs");
    for entry in std::fs::read_dir(&dir).expect("fixtures dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(stem) = name.strip_suffix(".json") {
            assert!(
                source.contains(&format!("    {stem},\n")),
                "fixture {name} has no golden test"
            );
        }
    }
}
