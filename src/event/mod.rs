//! Audit records as they travel through the pipeline, and their normalized form.
//!
//! A [`Record`] is one Management Activity API audit record: its exact bytes as received (the `json` format
//! sends them unchanged) plus the few common fields every stage needs (`Id`, `RecordType`, `Operation`,
//! `CreationTime`). An [`Event`] is a record decoded once into its typed ATP model ([`Body`]) and classified
//! (alert or not, readable name, severity); every typed encoder reads the same event.
//!
//! Decoding never fails an event: a record that does not fit its model keeps its common fields, says why in
//! [`Event::decode_error`], and still goes out in every format. Record types other than 28/41/47/64 (and a 64
//! whose Operation is not `AirInvestigationData`) pass through untyped.

pub mod air;
pub mod atp_content;
pub mod common;
pub(crate) mod decode;
pub mod enums;
pub mod hash;
pub mod mail;
pub mod time;
pub mod url_click;

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

pub use air::AirInvestigation;
pub use atp_content::AtpContentData;
pub use common::Common;
pub use decode::Scalar;
pub use mail::MailData;
pub use url_click::UrlClickData;

/// The AuditLogRecordType values this daemon exists for.
pub const ATP_RECORD_TYPES: [i64; 4] = [28, 41, 47, 64];

/// One audit record: the raw JSON object and its common fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's JSON object exactly as it appeared in the content blob: UTF-8 text by construction (the
    /// decoder refuses a wanted record that is not, and so does [`Record::from_json`]), so no later stage
    /// checks it again; its bytes are [`ByteString::as_bytes`].
    pub raw: ByteString,
    /// The O365 record `Id` (a GUID); the output identity of every delivered message.
    pub id: String,
    /// `RecordType` (AuditLogRecordType), kept even when unknown.
    pub record_type: i64,
    /// `Operation`, e.g. `TIMailData`; empty when the record has none.
    pub operation: String,
    /// `CreationTime` as sent (usually `YYYY-MM-DDTHH:MM:SS`, UTC, without zone).
    pub creation_time: String,
    /// Where the `Data` and `Actions` values are in `raw`, when the decoder found them (`Default`: not
    /// known; they are then read like every other member).
    pub large: LargeMembers,
    /// `true` when the decoder's validating pass found no CR or LF in `raw` (a JSON string cannot hold them
    /// raw, so they could only be whitespace between tokens): the ECS encoder then splices `raw` into its
    /// one-line output without looking for them again. `false`: not known.
    pub single_line: bool,
}

/// A byte range of [`Record::raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// `start..end`.
    pub(crate) fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end, "a span ends after it starts");
        Span { start, end }
    }

    /// The text of the span in `text`; `None` when it does not lie on character boundaries inside it.
    pub(crate) fn of<'t>(&self, text: &'t str) -> Option<&'t str> {
        text.get(self.start..self.end)
    }
}

/// The raw values of a record's top-level `Data` and `Actions` members (AIR records carry kilobytes of
/// escaped JSON in them), located by the decoder's validating pass over the record. An AIR record is then
/// decoded with those two values cut out, so that serde_json does not scan them a second time only to
/// capture them raw (it stops at every escape); see `Event::from_record`.
///
/// Set only by the decoder, which has checked that the record is valid JSON, that no top-level key has
/// escapes, and that each span is exactly one value (the last of a repeated key, which is the one the
/// models keep).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LargeMembers {
    /// The value of the last `Data` member (any ASCII case).
    pub data: Option<Span>,
    /// The value of the last `Actions` member (any ASCII case).
    pub actions: Option<Span>,
}

/// Why bytes are not an audit record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Not a JSON object, or broken JSON.
    #[error("audit record is not a JSON object: {0}")]
    Json(#[from] serde_json::Error),
    /// A field every record has is missing or unusable.
    #[error("audit record has no usable `{0}`")]
    Missing(&'static str),
    /// The bytes are not UTF-8 (which JSON text must be), somewhere a JSON parser need not look.
    #[error("audit record is not valid UTF-8 (at byte {0})")]
    NotUtf8(usize),
}

/// The four fields a [`Record`] carries, read tolerantly (`RecordType` may be a string).
#[derive(Default)]
struct Identity {
    id: Option<String>,
    record_type: Option<Scalar>,
    operation: Option<String>,
    creation_time: Option<String>,
}

impl decode::Model for Identity {
    fn field<'de, A: serde::de::MapAccess<'de>>(
        &mut self,
        key: &[u8],
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match key {
            b"id" => self.id = decode::text(map)?,
            b"recordtype" => self.record_type = decode::scalar(map)?,
            b"operation" => self.operation = decode::text(map)?,
            b"creationtime" => self.creation_time = decode::text(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

// === impl Record ===

impl Record {
    /// Reads the common fields of one raw record object (`Id` and an integer `RecordType` are required).
    pub fn from_json(raw: impl Into<Bytes>) -> Result<Record, RecordError> {
        let raw = ByteString::try_from(raw.into())
            .map_err(|error| RecordError::NotUtf8(error.valid_up_to()))?;
        let decode::Obj(identity) = serde_json::from_str::<decode::Obj<Identity>>(&raw)?;
        let id = identity
            .id
            .filter(|id| !id.is_empty())
            .ok_or(RecordError::Missing("Id"))?;
        let record_type = identity
            .record_type
            .as_ref()
            .and_then(Scalar::as_int)
            .ok_or(RecordError::Missing("RecordType"))?;
        Ok(Record {
            raw,
            id,
            record_type,
            operation: identity.operation.unwrap_or_default(),
            creation_time: identity.creation_time.unwrap_or_default(),
            large: LargeMembers::default(),
            single_line: false,
        })
    }
}

/// What normalization needs beyond the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeContext {
    /// The configured tenant name (ECS `organization.name`, LEEF `tenant`); shared by every event.
    pub tenant: Arc<str>,
    /// When the record's blob was fetched (ECS `event.created`).
    pub fetched_at: DateTime<Utc>,
    /// ECS `event.dataset`; `o365.atp` unless configured; shared by every event.
    pub dataset: Arc<str>,
    /// Whether ECS output carries the raw record text in `event.original`.
    pub include_original: bool,
}

impl NormalizeContext {
    /// The default dataset.
    pub const DEFAULT_DATASET: &'static str = "o365.atp";

    /// A context for `tenant`, fetched now, with the default dataset and no `event.original`.
    pub fn new(tenant: impl Into<Arc<str>>) -> NormalizeContext {
        NormalizeContext {
            tenant: tenant.into(),
            fetched_at: Utc::now(),
            dataset: Self::DEFAULT_DATASET.into(),
            include_original: false,
        }
    }
}

impl Default for NormalizeContext {
    fn default() -> Self {
        NormalizeContext::new("")
    }
}

/// The typed model of a record.
#[derive(Debug, Clone, PartialEq)]
// The models are boxed: unboxed, `Body` was 720 bytes and an `Event` 1,296, copied whole on each of the
// handful of moves from the decode into the batch (BENCHMARKS.md, step 49).
pub enum Body {
    /// 28 `TIMailData`.
    Mail(Box<MailData>),
    /// 41 `TIUrlClickData`.
    UrlClick(Box<UrlClickData>),
    /// 47 `AtpDetection`.
    AtpContent(Box<AtpContentData>),
    /// 64 `AirInvestigationData`.
    Air(Box<AirInvestigation>),
    /// Another record type, or a record that did not decode: common fields only.
    Untyped,
}

/// How an event is classified; one computation shared by every format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// ECS `event.kind` = "alert": a malicious verdict, a block, an investigation that found threats.
    pub alert: bool,
    /// 0–10; the CEF severity (LEEF `sev` and ECS `event.severity` derive from it).
    pub severity: u8,
    /// The readable name (CEF Name, ECS `message`, LEEF `msg`).
    pub name: Cow<'static, str>,
    /// ECS `event.category` values.
    pub category: &'static [&'static str],
    /// ECS `event.type` values.
    pub types: &'static [&'static str],
}

/// One record, decoded into its typed model and classified; what every encoder reads.
#[derive(Debug, Clone)]
pub struct Event {
    /// The record as received.
    pub record: Record,
    pub(crate) common: Common,
    pub(crate) body: Body,
    pub(crate) unknown: Vec<(String, Box<RawValue>)>,
    pub(crate) time: Option<DateTime<Utc>>,
    pub(crate) assessment: Assessment,
    pub(crate) decode_error: Option<String>,
    /// Whether `record.raw` is well-formed JSON in UTF-8 (so it can be embedded in ECS output as is).
    pub(crate) raw_is_json: bool,
    /// Whether the record was decoded into its model ([`Event::from_record`]); false for a
    /// [`passthrough`](Event::passthrough) event, which only the `json` format may encode.
    pub(crate) modeled: bool,
    pub(crate) tenant: Arc<str>,
    pub(crate) fetched_at: DateTime<Utc>,
    pub(crate) dataset: Arc<str>,
    pub(crate) include_original: bool,
}

/// The typed model a record decodes into, decided by RecordType and Operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mail,
    UrlClick,
    AtpContent,
    Air,
}

impl Kind {
    fn of(record_type: i64, operation: &str) -> Option<Kind> {
        let (kind, expected) = match record_type {
            28 => (Kind::Mail, "TIMailData"),
            41 => (Kind::UrlClick, "TIUrlClickData"),
            47 => (Kind::AtpContent, "AtpDetection"),
            64 => (Kind::Air, "AirInvestigationData"),
            _ => return None,
        };
        (operation.is_empty() || operation.eq_ignore_ascii_case(expected)).then_some(kind)
    }
}

type Decoded<M> = (Common, M, Vec<(String, Box<RawValue>)>);

/// Decodes `raw` into the common fields and model `M`; the error names the failing field's path.
fn decode_as<M: decode::Model>(raw: &str) -> Result<Decoded<M>, String> {
    match serde_json::from_str::<decode::Top<(Common, M)>>(raw) {
        Ok(top) => Ok((top.model.0, top.model.1, top.unknown)),
        // Decode again, slowly, only to name the path of the failing field.
        Err(plain) => {
            let mut de = serde_json::Deserializer::from_str(raw);
            match serde_path_to_error::deserialize::<_, decode::Top<(Common, M)>>(&mut de) {
                Err(e) if !e.path().to_string().is_empty() && e.path().to_string() != "." => {
                    Err(format!("{}: {}", e.path(), e.inner()))
                }
                _ => Err(plain.to_string()),
            }
        }
    }
}

/// An AIR record: decoded with its `Data` and `Actions` values cut out when the decoder located them (see
/// [`LargeMembers`]), else (and whenever that path fails) as any other record.
fn decode_air(raw: &ByteString, large: LargeMembers) -> Result<Decoded<AirInvestigation>, String> {
    if let Some(decoded) = decode_air_cut(raw, large) {
        return Ok(decoded);
    }
    decode_as::<AirInvestigation>(raw)
}

/// `text` with the `large` values replaced by `null`, decoded; those values then set from their spans.
/// `None` when no value was located or anything does not fit.
fn decode_air_cut(raw: &ByteString, large: LargeMembers) -> Option<Decoded<AirInvestigation>> {
    let text: &str = raw;
    if large == LargeMembers::default() {
        return None;
    }
    let mut spans = [large.data, large.actions];
    spans.sort_by_key(|span| span.map(|span| span.start));
    let spans = spans.into_iter().flatten();
    let mut cut = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        // `get` refuses a span that starts before the previous one ends (two members never overlap).
        cut.push_str(text.get(at..span.start)?);
        cut.push_str("null");
        at = span.end;
    }
    cut.push_str(text.get(at..)?);
    // Slices of `raw` itself (`span.of` gives a part of `text`, which is `raw`'s), not copies.
    let data = match large.data {
        Some(span) => Some(raw.slice_ref(span.of(text)?)),
        None => None,
    };
    let actions = match large.actions {
        Some(span) => Some(raw.slice_ref(span.of(text)?)),
        None => None,
    };
    let top = serde_json::from_str::<decode::Top<(Common, AirInvestigation)>>(&cut).ok()?;
    let (common, mut air) = top.model;
    air.set_large(data, actions);
    Some((common, air, top.unknown))
}

// === impl Event ===

impl Event {
    /// Decodes and classifies `record`. Never fails: an undecodable record keeps the common fields it has and
    /// reports why in [`decode_error`](Event::decode_error).
    pub fn from_record(record: Record, ctx: &NormalizeContext) -> Event {
        let raw: &str = &record.raw;
        let typed = match Kind::of(record.record_type, &record.operation) {
            Some(Kind::Mail) => {
                decode_as::<MailData>(raw).map(|(c, m, u)| (c, Body::Mail(Box::new(m)), u))
            }
            Some(Kind::UrlClick) => {
                decode_as::<UrlClickData>(raw).map(|(c, m, u)| (c, Body::UrlClick(Box::new(m)), u))
            }
            Some(Kind::AtpContent) => decode_as::<AtpContentData>(raw)
                .map(|(c, m, u)| (c, Body::AtpContent(Box::new(m)), u)),
            Some(Kind::Air) => decode_air(&record.raw, record.large)
                .map(|(c, m, u)| (c, Body::Air(Box::new(m)), u)),
            None => decode_as::<()>(raw).map(|(c, (), u)| (c, Body::Untyped, u)),
        };
        let (common, body, unknown, decode_error, raw_is_json) = match typed {
            // The raw text is UTF-8 by its type, and the parse found it well-formed: the ECS encoder may
            // splice it as it is.
            Ok((common, body, unknown)) => (common, body, unknown, None, true),
            Err(reason) => {
                let what = if record.operation.is_empty() {
                    "record"
                } else {
                    record.operation.as_str()
                };
                let reason = format!("{what} (RecordType {}): {reason}", record.record_type);
                // Only the common fields are kept; the model's own fields are not "unknown", so none are listed.
                match decode_as::<()>(raw) {
                    Ok((common, (), _)) => (common, Body::Untyped, Vec::new(), Some(reason), true),
                    Err(_) => (
                        Common::default(),
                        Body::Untyped,
                        Vec::new(),
                        Some(reason),
                        false,
                    ),
                }
            }
        };
        let assessment = match &body {
            Body::Mail(m) => m.assess(),
            Body::UrlClick(m) => m.assess(),
            Body::AtpContent(m) => m.assess(),
            Body::Air(m) => m.assess(),
            Body::Untyped => untyped_assessment(&record, decode_error.is_some()),
        };
        Event {
            time: time::parse(&record.creation_time),
            record,
            common,
            body,
            unknown,
            assessment,
            decode_error,
            raw_is_json,
            modeled: true,
            tenant: ctx.tenant.clone(),
            fetched_at: ctx.fetched_at,
            dataset: ctx.dataset.clone(),
            include_original: ctx.include_original,
        }
    }

    /// An event that carries the record as received without decoding its model: for deployments whose every
    /// sink sends the raw record (`json` format, no syslog severity), where decoding would be wasted work.
    /// Only `CreationTime` is parsed (the HTTP sinks' event time); it is never an alert and never has a
    /// decode error. Encoding it in a typed format is a bug (`debug_assert!` in [`crate::encode::encode`]).
    pub fn passthrough(record: Record, ctx: &NormalizeContext) -> Event {
        Event {
            time: time::parse(&record.creation_time),
            record,
            common: Common::default(),
            body: Body::Untyped,
            unknown: Vec::new(),
            assessment: Assessment {
                alert: false,
                severity: 3,
                name: Cow::Borrowed("Office 365 audit record (passed through)"),
                category: &[],
                types: &["info"],
            },
            decode_error: None,
            raw_is_json: false,
            modeled: false,
            tenant: ctx.tenant.clone(),
            fetched_at: ctx.fetched_at,
            dataset: ctx.dataset.clone(),
            include_original: ctx.include_original,
        }
    }

    /// True when the record carries a malicious verdict, a block, or an investigation that found threats
    /// (ECS `event.kind` = "alert").
    pub fn is_alert(&self) -> bool {
        self.assessment.alert
    }

    /// Why the typed model could not be built; `None` when it was (or the record type has no model).
    pub fn decode_error(&self) -> Option<&str> {
        self.decode_error.as_deref()
    }

    /// CEF severity, 0–10 (table in `docs/formats.md`).
    pub fn cef_severity(&self) -> u8 {
        self.assessment.severity
    }

    /// The readable name, e.g. "Phish email detected".
    pub fn name(&self) -> &str {
        &self.assessment.name
    }

    /// The classification shared by all formats.
    pub fn assessment(&self) -> &Assessment {
        &self.assessment
    }

    /// The common fields beyond those on the record.
    pub fn common(&self) -> &Common {
        &self.common
    }

    /// The typed model.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Top-level fields no model knows, with their raw JSON values (they are also in every raw copy).
    pub fn unknown_fields(&self) -> &[(String, Box<RawValue>)] {
        &self.unknown
    }

    /// `CreationTime` as an instant; `None` when it does not parse.
    pub fn creation_time(&self) -> Option<DateTime<Utc>> {
        self.time
    }

    /// The event's time: `CreationTime`, or when it was fetched if that does not parse.
    pub fn timestamp(&self) -> DateTime<Utc> {
        self.time.unwrap_or(self.fetched_at)
    }

    /// The configured tenant name.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
}

/// Classification of a record without a typed model.
fn untyped_assessment(record: &Record, failed: bool) -> Assessment {
    let name = match (failed, record.operation.is_empty()) {
        (true, true) => Cow::Borrowed("Undecodable audit record"),
        (true, false) => Cow::Owned(format!("Undecodable audit record: {}", record.operation)),
        (false, true) => Cow::Borrowed("Office 365 audit record"),
        (false, false) => Cow::Owned(format!("Office 365 audit record: {}", record.operation)),
    };
    Assessment {
        alert: false,
        severity: if failed { 5 } else { 3 },
        name,
        category: &[],
        types: &["info"],
    }
}

#[cfg(test)]
mod tests;
