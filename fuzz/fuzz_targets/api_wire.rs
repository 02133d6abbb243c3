//! What the Management Activity API answers: content listings, subscription lists, error bodies, API
//! times, and the header-driven decisions (Retry-After in seconds or as an HTTP date, the Date header,
//! the verdict for any status and AF code) — none may panic, whatever the bytes.
#![no_main]

use atp_forwarder::api::{
    classify, parse_api_time, retry_after, server_date, ContentBlob, ErrorBody, Subscription,
};
use libfuzzer_sys::fuzz_target;
use reqwest::header::{HeaderMap, HeaderValue, DATE, RETRY_AFTER};
use reqwest::StatusCode;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Vec<ContentBlob>>(data);
    let _ = serde_json::from_slice::<Vec<Subscription>>(data);
    let error: ErrorBody = serde_json::from_slice(data).unwrap_or_default();
    let code = Some(error.error.code.as_str()).filter(|code| !code.is_empty());

    let text = String::from_utf8_lossy(data);
    let _ = parse_api_time(&text);
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(data) {
        headers.insert(RETRY_AFTER, value.clone());
        headers.insert(DATE, value);
    }
    let _ = retry_after(&headers);
    let _ = server_date(&headers);
    let status = data
        .get(..2)
        .map(|two| 100 + u16::from_le_bytes([two[0], two[1]]) % 500)
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::FORBIDDEN);
    let _ = classify(status, code, &headers);
});
