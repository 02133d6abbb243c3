//! The HTTP surface: routes, the request/status accounting and the (possibly skewed) `Date` header, and the
//! live-arrivals task.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use super::catalog::canonical_content_type;
use super::error::ApiFault;
use super::state::Inner;
use super::stats::endpoint_kind;
use super::{api, blob, listing, token};

/// All routes of the emulator.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    const FEED: &str = "/api/{version}/{tenant}/activity/feed";
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::token_v2))
        .route("/{tenant}/oauth2/token", post(token::token_v1))
        .route(&format!("{FEED}/subscriptions/list"), get(api::list))
        .route(&format!("{FEED}/subscriptions/start"), post(api::start))
        .route(&format!("{FEED}/subscriptions/stop"), post(api::stop))
        .route(
            &format!("{FEED}/subscriptions/content"),
            get(listing::content),
        )
        .route(
            &format!("{FEED}/subscriptions/notifications"),
            get(api::notifications),
        )
        .route(&format!("{FEED}/audit/{{content_id}}"), get(blob::fetch))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(inner.clone(), account))
        .with_state(inner)
}

async fn not_found() -> Response {
    ApiFault::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "No such endpoint on the Management Activity API emulator.",
    )
    .into_response()
}

/// Counts each request and status and stamps the server's `Date`.
async fn account(State(inner): State<Arc<Inner>>, req: Request, next: Next) -> Response {
    let kind = endpoint_kind(req.uri().path());
    inner.stat(|s| s.count_request(kind));
    let mut resp = next.run(req).await;
    inner.stat(|s| s.count_status(resp.status().as_u16()));
    let date = inner.now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}

/// Adds `blobs_per_tick` new blobs to every stream of every tenant each `interval`, until dropped.
pub(crate) async fn live_arrivals(inner: Arc<Inner>) {
    let Some(live) = inner.cfg.live.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(live.interval.max(std::time::Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        for t in &inner.cfg.tenants {
            for ct in t
                .content_types
                .iter()
                .filter_map(|c| canonical_content_type(c))
            {
                let ids = inner.add_blobs(&t.tenant_id, ct, live.blobs_per_tick);
                tracing::trace!(tenant = %t.tenant_id, content_type = ct, added = ids.len(), "emulator: live blobs");
            }
        }
    }
}
