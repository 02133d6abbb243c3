//! Audit records as they travel through the pipeline, and their normalized form.
//!
//! A [`Record`] is one Management Activity API audit record: its exact bytes as received (the `json` format
//! sends them unchanged) plus the few common fields every stage needs (`Id`, `RecordType`, `Operation`,
//! `CreationTime`). The typed ATP models and the normalized event built from a record live in submodules.

mod stub;

use bytes::Bytes;

pub use stub::{Event, NormalizeContext};

/// The AuditLogRecordType values this daemon exists for.
pub const ATP_RECORD_TYPES: [i64; 4] = [28, 41, 47, 64];

/// One audit record: the raw JSON object and its common fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The record's JSON object exactly as it appeared in the content blob.
    pub raw: Bytes,
    /// The O365 record `Id` (a GUID); the output identity of every delivered message.
    pub id: String,
    /// `RecordType` (AuditLogRecordType), kept even when unknown.
    pub record_type: i64,
    /// `Operation`, e.g. `TIMailData`; empty when the record has none.
    pub operation: String,
    /// `CreationTime` as sent (usually `YYYY-MM-DDTHH:MM:SS`, UTC, without zone).
    pub creation_time: String,
}
