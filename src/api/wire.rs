//! Wire types of the Management Activity API and its time format.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// One entry of `subscriptions/list`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Subscription {
    /// e.g. `Audit.General`.
    #[serde(rename = "contentType")]
    pub content_type: String,
    /// `enabled` or `disabled`; can be missing.
    #[serde(default)]
    pub status: Option<String>,
}

/// One entry of `subscriptions/content`: a content blob that can be fetched.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ContentBlob {
    /// The content type the blob belongs to.
    #[serde(rename = "contentType")]
    pub content_type: String,
    /// Opaque id of the blob.
    #[serde(rename = "contentId")]
    pub content_id: String,
    /// Where to fetch it.
    #[serde(rename = "contentUri")]
    pub content_uri: String,
    /// When the blob became available (not when its events happened).
    #[serde(rename = "contentCreated", deserialize_with = "api_time")]
    pub content_created: DateTime<Utc>,
    /// When it can no longer be fetched (created + 7 days).
    #[serde(rename = "contentExpiration", deserialize_with = "api_time")]
    pub content_expiration: DateTime<Utc>,
}

/// `{"error":{"code":"AF…","message":"…"}}`
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ErrorBody {
    /// The error object.
    #[serde(default)]
    pub error: ErrorDetail,
}

/// The inner error object of an API error body.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ErrorDetail {
    /// e.g. `AF20022`.
    #[serde(default)]
    pub code: String,
    /// Microsoft's message.
    #[serde(default)]
    pub message: String,
}

/// Parses the API's UTC times: `2025-11-24T10:03:19`, with or without fraction and `Z`/offset.
pub fn parse_api_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    let naive = text.trim_end_matches('Z');
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(time) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(time.and_utc());
        }
    }
    None
}

/// Formats a window bound the way the API accepts it (`YYYY-MM-DDTHH:MM:SS`, UTC).
pub fn format_api_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn api_time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_api_time(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a time the API sends")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_form_of_the_api_parses() {
        let expected = parse_api_time("2025-11-24T10:03:19Z").unwrap();
        for text in [
            "2025-11-24T10:03:19",
            "2025-11-24T10:03:19.000Z",
            "2025-11-24T10:03:19.0000000",
        ] {
            assert_eq!(parse_api_time(text), Some(expected), "{text}");
        }
        assert_eq!(format_api_time(expected), "2025-11-24T10:03:19");
    }

    #[test]
    fn a_content_listing_decodes() {
        let body = r#"[{"contentType":"Audit.General","contentId":"a$b","contentUri":"https://x/a","contentCreated":"2025-11-24T10:03:19.000Z","contentExpiration":"2025-12-01T10:03:19.000Z"}]"#;
        let blobs: Vec<ContentBlob> = serde_json::from_str(body).unwrap();
        assert_eq!(blobs[0].content_id, "a$b");
    }
}
