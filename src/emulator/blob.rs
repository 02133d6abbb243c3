//! `GET /api/v1.0/{tenant}/activity/feed/audit/{contentId}` (the contentUri): a blob body, or AF20052 for a
//! malformed id, AF20050 for content that does not exist (yet), AF20051 for expired content — and the
//! body-level faults (cut off, reset, not JSON).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api::admit;
use super::body::{cut_body, kept_body, malformed_body};
use super::catalog::content_id_well_formed;
use super::error::ApiFault;
use super::state::{lock, Inner, Visibility};

/// `GET …/activity/feed/audit/{contentId}`.
pub(crate) async fn fetch(
    State(inner): State<Arc<Inner>>,
    Path((version, tenant, content_id)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    serve(
        &inner,
        &version,
        &tenant,
        &content_id,
        &headers,
        q.as_deref(),
    )
    .unwrap_or_else(IntoResponse::into_response)
}

fn serve(
    inner: &Inner,
    version: &str,
    tenant: &str,
    content_id: &str,
    headers: &HeaderMap,
    raw_query: Option<&str>,
) -> Result<Response, ApiFault> {
    let a = admit(inner, version, tenant, headers, raw_query)?;
    if !content_id_well_formed(content_id) {
        return Err(ApiFault::bad_request(
            "AF20052",
            format!("Content ID {content_id} in the URL is invalid."),
        ));
    }
    let not_found = || {
        ApiFault::new(
            StatusCode::NOT_FOUND,
            "AF20050",
            format!("The specified content ({content_id}) does not exist."),
        )
    };
    let now = inner.now();
    let blob = inner
        .catalog()
        .find(&a.caller.tenant.tenant_id, content_id)
        .cloned()
        .ok_or_else(not_found)?;
    match inner.visibility(tenant, &blob, now) {
        Visibility::Visible => {}
        Visibility::Absent => return Err(not_found()),
        Visibility::Late => {
            inner.stat(|s| s.faults.late_blobs_withheld += 1);
            return Err(not_found());
        }
    }
    if blob.faults.expired || blob.expiration() <= now {
        inner.stat(|s| s.faults.expired_content += 1);
        return Err(ApiFault::bad_request(
            "AF20051",
            format!("Content requested with the key {content_id} has already expired. Content older than 7 days cannot be retrieved."),
        ));
    }
    if blob.faults.unavailable
        && first_fetches_fail(
            inner,
            tenant,
            content_id,
            inner.cfg.faults.unavailable_times,
        )
    {
        inner.stat(|s| s.faults.unavailable_answers += 1);
        let mut fault = ApiFault::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "AF50000",
            "An internal error occurred. Retry the request.",
        );
        fault.retry_after = inner
            .cfg
            .faults
            .unavailable_retry_after
            .map(|wait| wait.as_secs());
        return Err(fault);
    }
    inner.stat(|s| s.blobs_served += 1);
    if blob.faults.malformed {
        inner.stat(|s| s.faults.malformed_blobs += 1);
        return Ok(json_response(Body::from(malformed_body(content_id)), None));
    }
    if (blob.faults.truncated || blob.faults.reset)
        && first_fetches_fail(inner, tenant, content_id, inner.cfg.faults.truncate_times)
    {
        let full = inner.body_writer(tenant, &blob).collect();
        let len = full.len();
        let keep = if blob.faults.truncated { len / 2 } else { 0 };
        inner.stat(|s| {
            if blob.faults.truncated {
                s.faults.truncated_bodies += 1;
            } else {
                s.faults.connection_resets += 1;
            }
        });
        return Ok(json_response(cut_body(full, keep), Some(len)));
    }
    let records = blob.records + u64::from(blob.duplicate_of.is_some());
    inner.stat(|s| s.records_served += records);
    let body = match inner.kept_body(tenant, content_id) {
        Some(kept) => kept_body(kept),
        None => inner.body_writer(tenant, &blob).into_body(),
    };
    Ok(json_response(body, None))
}

/// Counts a fetch of a faulty blob; true while it is one of the first `times` (which fail).
fn first_fetches_fail(inner: &Inner, tenant: &str, content_id: &str, times: u32) -> bool {
    let mut failed = lock(&inner.failed_fetches);
    let count = failed
        .entry((tenant.to_ascii_lowercase(), content_id.to_owned()))
        .or_default();
    if *count >= times {
        return false;
    }
    *count += 1;
    true
}

fn json_response(body: Body, content_length: Option<usize>) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(len) = content_length {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}
