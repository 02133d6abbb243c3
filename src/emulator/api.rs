//! Management Activity API: the shared request checks and the subscription operations (`list`, `start`,
//! `stop`, `notifications`). Content listing lives in `listing.rs`, blob fetches in `blob.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::catalog::canonical_content_type;
use super::error::ApiFault;
use super::state::{lock, param, parse_query, Caller, Inner, SubStatus};
use super::window;

/// A request that passed the common checks.
pub(crate) struct Admitted {
    pub caller: Caller,
    pub tenant: String,
    pub query: HashMap<String, String>,
}

/// Checks the API version in the path, then budget, error bursts, token and tenant.
pub(crate) fn admit(
    inner: &Inner,
    version: &str,
    tenant: &str,
    headers: &HeaderMap,
    raw_query: Option<&str>,
) -> Result<Admitted, ApiFault> {
    if version != "v1.0" && version != "v1" {
        return Err(ApiFault::new(
            StatusCode::NOT_FOUND,
            "AF20001",
            format!("Unknown API version '{version}': use v1.0."),
        ));
    }
    let query = parse_query(raw_query);
    let caller = inner.admit(tenant, headers, &query)?;
    Ok(Admitted {
        caller,
        tenant: tenant.to_owned(),
        query,
    })
}

/// The `contentType` parameter, required and valid.
pub(crate) fn content_type(query: &HashMap<String, String>) -> Result<&'static str, ApiFault> {
    let raw = param(query, "contentType")
        .ok_or_else(|| ApiFault::bad_request("AF20001", "Missing parameter: contentType."))?;
    canonical_content_type(raw)
        .ok_or_else(|| ApiFault::bad_request("AF20020", "The specified content type is not valid."))
}

fn respond(result: Result<Response, ApiFault>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET subscriptions/list`.
pub(crate) async fn list(
    State(inner): State<Arc<Inner>>,
    Path((version, tenant)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let a = admit(&inner, &version, &tenant, &headers, q.as_deref())?;
        let subs = lock(&inner.subs);
        let key = a.caller.tenant.tenant_id.to_ascii_lowercase();
        let items: Vec<Value> = super::config::CONTENT_TYPES
            .iter()
            .filter_map(|ct| subs.get(&(key.clone(), *ct)).map(|s| (ct, s)))
            .filter(|(_, s)| s.status != SubStatus::Never)
            .map(|(ct, s)| {
                let status = if s.status == SubStatus::Enabled {
                    "enabled"
                } else {
                    "disabled"
                };
                json!({"contentType": ct, "status": status, "webhook": s.webhook})
            })
            .collect();
        Ok(Json(items).into_response())
    })())
}

/// `POST subscriptions/start?contentType=…` (optional body `{"webhook":{…}}`).
pub(crate) async fn start(
    State(inner): State<Arc<Inner>>,
    Path((version, tenant)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond((|| {
        let a = admit(&inner, &version, &tenant, &headers, q.as_deref())?;
        inner.stat(|s| s.subscription_starts += 1);
        start_rate_limit(&inner, &a.caller.tenant.tenant_id)?;
        let ct = content_type(&a.query)?;
        let webhook = if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let v: Value = serde_json::from_slice(&body).map_err(|e| {
                ApiFault::bad_request(
                    "AF20002",
                    format!("Invalid parameter type: webhook. The body is not JSON: {e}."),
                )
            })?;
            v.get("webhook").cloned().filter(|w| !w.is_null())
        };
        let now = inner.now();
        let mut subs = lock(&inner.subs);
        let sub = subs
            .entry((a.caller.tenant.tenant_id.to_ascii_lowercase(), ct))
            .or_default();
        if sub.status == SubStatus::Enabled {
            return Err(ApiFault::bad_request(
                "AF20024",
                "The subscription is already enabled. No property change.",
            ));
        }
        sub.status = SubStatus::Enabled;
        sub.webhook = webhook.clone();
        let from = if a.caller.tenant.backfill_on_start {
            chrono::DateTime::<chrono::Utc>::MIN_UTC
        } else {
            now
        };
        sub.enabled.push((from, None));
        tracing::debug!(tenant = %a.tenant, content_type = ct, "emulator: subscription started");
        Ok(
            Json(json!({"contentType": ct, "status": "enabled", "webhook": webhook}))
                .into_response(),
        )
    })())
}

/// Refuses a start call that comes sooner than `faults.start_min_interval` after the previous one.
fn start_rate_limit(inner: &Inner, tenant_id: &str) -> Result<(), ApiFault> {
    let Some(min) = inner.cfg.faults.start_min_interval else {
        return Ok(());
    };
    let now = std::time::Instant::now();
    let mut last = lock(&inner.last_start);
    let key = tenant_id.to_ascii_lowercase();
    if let Some(wait) = last
        .get(&key)
        .map(|t| now.duration_since(*t))
        .and_then(|since| min.checked_sub(since))
    {
        inner.stat(|s| {
            s.throttled += 1;
            s.faults.start_refusals += 1;
        });
        let secs = wait.as_secs().max(1);
        return Err(ApiFault::new(
            StatusCode::TOO_MANY_REQUESTS,
            "AF429",
            format!(
                "Too many frequent subscription start requests. Please retry again after {}m {}s",
                secs / 60,
                secs % 60
            ),
        ));
    }
    last.insert(key, now);
    Ok(())
}

/// `POST subscriptions/stop?contentType=…` → 200 with an empty body.
pub(crate) async fn stop(
    State(inner): State<Arc<Inner>>,
    Path((version, tenant)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let a = admit(&inner, &version, &tenant, &headers, q.as_deref())?;
        let ct = content_type(&a.query)?;
        let now = inner.now();
        let mut subs = lock(&inner.subs);
        let sub = subs
            .entry((a.caller.tenant.tenant_id.to_ascii_lowercase(), ct))
            .or_default();
        if sub.status == SubStatus::Never {
            return Err(no_subscription());
        }
        sub.status = SubStatus::Disabled;
        for period in sub.enabled.iter_mut().filter(|(_, until)| until.is_none()) {
            period.1 = Some(now);
        }
        Ok(StatusCode::OK.into_response())
    })())
}

/// AF20022.
pub(crate) fn no_subscription() -> ApiFault {
    ApiFault::bad_request(
        "AF20022",
        "No subscription found for the specified content type.",
    )
}

/// Checks that the stream's subscription is enabled.
pub(crate) fn require_subscription(
    inner: &Inner,
    tenant_id: &str,
    ct: &'static str,
) -> Result<(), ApiFault> {
    let enabled = lock(&inner.subs)
        .get(&(tenant_id.to_ascii_lowercase(), ct))
        .is_some_and(|s| s.status == SubStatus::Enabled);
    if enabled {
        Ok(())
    } else {
        Err(no_subscription())
    }
}

/// Resolves the listing window, counting rejections.
pub(crate) fn listing_window(
    inner: &Inner,
    query: &HashMap<String, String>,
) -> Result<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>), ApiFault> {
    window::resolve(
        param(query, "startTime"),
        param(query, "endTime"),
        inner.now(),
        &inner.cfg.window_error_code,
    )
    .inspect_err(|_| inner.stat(|s| s.windows_rejected += 1))
}

/// `GET subscriptions/notifications?contentType=…` — the webhook delivery log; this emulator delivers no
/// webhooks, so it is always an empty list (after the same checks as a content listing).
pub(crate) async fn notifications(
    State(inner): State<Arc<Inner>>,
    Path((version, tenant)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    respond((|| {
        let a = admit(&inner, &version, &tenant, &headers, q.as_deref())?;
        let ct = content_type(&a.query)?;
        require_subscription(&inner, &a.caller.tenant.tenant_id, ct)?;
        listing_window(&inner, &a.query)?;
        Ok(Json(Vec::<Value>::new()).into_response())
    })())
}
