//! Placeholder normalized event until the typed models land.

use super::Record;

/// What normalization needs to know besides the record.
#[derive(Debug, Clone)]
pub struct NormalizeContext {
    pub tenant: String,
    pub fetched_at: chrono::DateTime<chrono::Utc>,
    pub dataset: String,
    pub include_original: bool,
}

/// A record with its normalized view.
#[derive(Debug, Clone)]
pub struct Event {
    pub record: Record,
}

impl Event {
    pub fn from_record(record: Record, _ctx: &NormalizeContext) -> Event {
        Event { record }
    }
    pub fn is_alert(&self) -> bool {
        false
    }
    pub fn decode_error(&self) -> Option<&str> {
        None
    }
    pub fn cef_severity(&self) -> u8 {
        5
    }
}
