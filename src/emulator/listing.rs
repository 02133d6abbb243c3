//! `GET subscriptions/content`: the blobs whose contentCreated falls in `[startTime, endTime)`, in a
//! deterministic order that is not creation order, paged with an opaque `nextPage` token carried by a
//! `NextPageUri` (or `NextPageUrl`) header whose URL uses the `/api/v1/` form.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::api::{admit, content_type, listing_window, require_subscription};
use super::catalog::BlobMeta;
use super::error::ApiFault;
use super::state::{param, Inner, Visibility};
use super::window::format_time;

/// The wire form of contentCreated / contentExpiration: `2025-11-24T10:03:19.000Z`.
pub(crate) fn wire_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The contentUri of a blob.
pub(crate) fn content_uri(base: &str, tenant: &str, content_id: &str) -> String {
    format!("{base}/api/v1.0/{tenant}/activity/feed/audit/{content_id}")
}

/// Encodes a page position (the listing-order key of the first blob of the next page).
fn encode_page(key: u64) -> String {
    format!("{key:016x}")
}

fn decode_page(token: &str) -> Result<u64, ApiFault> {
    let bad = || ApiFault::bad_request("AF20031", format!("Invalid nextPage Input: {token}."));
    if token.len() != 16 {
        return Err(bad());
    }
    u64::from_str_radix(token, 16).map_err(|_| bad())
}

/// `GET subscriptions/content?contentType=&startTime=&endTime=[&nextPage=]`.
pub(crate) async fn content(
    State(inner): State<Arc<Inner>>,
    Path((version, tenant)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    list(&inner, &version, &tenant, &headers, q.as_deref())
        .unwrap_or_else(IntoResponse::into_response)
}

fn list(
    inner: &Inner,
    version: &str,
    tenant: &str,
    headers: &HeaderMap,
    raw_query: Option<&str>,
) -> Result<Response, ApiFault> {
    let a = admit(inner, version, tenant, headers, raw_query)?;
    let ct = content_type(&a.query)?;
    require_subscription(inner, &a.caller.tenant.tenant_id, ct)?;
    let (start, end) = listing_window(inner, &a.query)?;
    let from_key = param(&a.query, "nextPage").map(decode_page).transpose()?;
    let now = inner.now();

    let cat = inner.catalog();
    let blobs = cat.stream(&a.caller.tenant.tenant_id, ct);
    let lo = blobs.partition_point(|b| b.created < start);
    let hi = blobs.partition_point(|b| b.created < end);
    let mut withheld = 0u64;
    let mut hits: Vec<&BlobMeta> = blobs[lo..hi.max(lo)]
        .iter()
        .filter(|b| match inner.visibility(tenant, b, now) {
            Visibility::Visible => true,
            Visibility::Late => {
                withheld += 1;
                false
            }
            Visibility::Absent => false,
        })
        .collect();
    hits.sort_by_key(|b| b.order_key);
    if let Some(k) = from_key {
        hits.retain(|b| b.order_key >= k);
    }
    let page_size = inner.cfg.page_size.max(1);
    let next = hits.get(page_size).map(|b| b.order_key);
    let items: Vec<Value> = hits
        .iter()
        .take(page_size)
        .map(|b| {
            json!({
                "contentType": b.content_type,
                "contentId": b.content_id,
                "contentUri": content_uri(&inner.base_url, tenant, &b.content_id),
                "contentCreated": wire_time(b.created),
                "contentExpiration": wire_time(b.expiration()),
            })
        })
        .collect();
    drop(cat);
    inner.stat(|s| {
        s.content_pages += 1;
        s.faults.late_blobs_withheld += withheld;
    });

    let mut resp = Json(items).into_response();
    if let Some(key) = next {
        let mut url = format!(
            "{}/api/v1/{tenant}/activity/feed/subscriptions/content?contentType={ct}&startTime={}&endTime={}&nextPage={}",
            inner.base_url,
            format_time(start),
            format_time(end),
            encode_page(key)
        );
        if let Some(p) = &a.caller.publisher {
            url.push_str("&PublisherIdentifier=");
            url.extend(url::form_urlencoded::byte_serialize(p.as_bytes()));
        }
        if let Ok(v) = HeaderValue::from_str(&url) {
            resp.headers_mut()
                .insert(HeaderName::from_static(header_name(inner)), v);
        }
    }
    Ok(resp)
}

fn header_name(inner: &Inner) -> &'static str {
    match inner.cfg.next_page_header {
        super::config::NextPageHeader::NextPageUri => "nextpageuri",
        super::config::NextPageHeader::NextPageUrl => "nextpageurl",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_af20031() {
        assert_eq!(decode_page(&encode_page(0xdead_beef)).unwrap(), 0xdead_beef);
        assert_eq!(decode_page("not-a-token").unwrap_err().code, "AF20031");
        assert_eq!(decode_page("zzzzzzzzzzzzzzzz").unwrap_err().code, "AF20031");
    }

    #[test]
    fn wire_times_have_milliseconds_and_z() {
        let t = chrono::DateTime::parse_from_rfc3339("2025-11-24T10:03:19Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(wire_time(t), "2025-11-24T10:03:19.000Z");
    }
}
