//! A faithful emulator of the Azure AD token endpoints and the Office 365 Management Activity API, for the
//! integration tests, the benchmark and `atp-forwarder demo`.
//!
//! It serves a deterministic, generated audit history (records of the ATP types 28/41/47/64 mixed with other
//! record types) with the service's rules and error codes, and can misbehave on request (throttling, 5xx
//! bursts, broken and poison blobs, late blobs, duplicated records, expired content, clock skew).
//!
//! # URL layout (one listener serves everything; `base_url()` is `http://127.0.0.1:PORT`)
//! - `POST /{tenant}/oauth2/v2.0/token` — form `grant_type=client_credentials`, `client_id`,
//!   `scope=<resource>/.default`, `client_secret` (or `client_assertion_type` + `client_assertion`) →
//!   `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"…"}`.
//! - `POST /{tenant}/oauth2/token` — v1: `resource=<resource>` → `expires_in`/`expires_on` as strings.
//!   Errors are Azure AD's: AADSTS7000215 (bad secret, 401 `invalid_client`), AADSTS7000222 (expired secret),
//!   AADSTS7000218 (no credential), AADSTS700016 (`unauthorized_client`: app not in tenant), AADSTS90002
//!   (unknown tenant), AADSTS70011 (`invalid_scope`), AADSTS500011 (v1 resource), AADSTS700027 (client
//!   assertion signature or key), AADSTS700021 (assertion iss/sub), AADSTS700024 (assertion expired, or
//!   living longer than 10 minutes), AADSTS50027 (malformed assertion, wrong `aud`, missing or repeated
//!   `jti`), AADSTS900144 (missing parameter).
//! - `/api/v1.0/{tenant}/activity/feed/…` and `/api/v1/{tenant}/activity/feed/…` (same handlers):
//!   `GET subscriptions/list`, `POST subscriptions/start?contentType=` (body `{"webhook":…}` optional; already
//!   enabled → 400 AF20024), `POST subscriptions/stop?contentType=` (200, empty),
//!   `GET subscriptions/content?contentType=&startTime=&endTime=[&nextPage=]`,
//!   `GET subscriptions/notifications?contentType=…` (always `[]`: no webhooks are delivered),
//!   `GET audit/{contentId}` (the contentUri; a JSON array of records).
//!   Every call needs `Authorization: Bearer <token>` (missing/unknown/expired → 401 with
//!   `{"error":{"code":"AuthenticationFailed"|"ExpiredAuthenticationToken","message":…}}`), token tenant ≠ URL
//!   tenant → 403 AF20010, no `ActivityFeed.Read` → 403 AF10001, audit log off → 400 AF20011, bad content type
//!   → 400 AF20020, missing one → AF20001, subscription not enabled → 400 AF20022, invalid window → 400
//!   AF20055 (or AF20030), bad time format → AF20002, bad `nextPage` → 400 AF20031, malformed content id →
//!   400 AF20052, unknown (or not yet visible) content → 404 AF20050, expired content → 400 AF20051.
//!   `PublisherIdentifier` is accepted everywhere (calls without it are counted). Over the request budget →
//!   429 (or 403) AF429, optionally with `Retry-After`; error bursts → AF50000. Every response carries the
//!   server's `Date` (shifted by `clock_skew_secs`).
//! - Windows: both or neither of `startTime`/`endTime` (neither = the last 24 h); `YYYY-MM-DD`,
//!   `YYYY-MM-DDTHH:MM`, `YYYY-MM-DDTHH:MM:SS`, optional `Z`; `startTime <= contentCreated < endTime`.
//! - Paging: `page_size` blobs per page in a deterministic order that is not creation order; when more
//!   remain, a `NextPageUri` (or `NextPageUrl`) header carries
//!   `{base}/api/v1/{tenant}/activity/feed/subscriptions/content?…&nextPage=<opaque>`.
//!
//! # Knobs ([`EmulatorConfig`])
//! `seed`, `tenants` ([`EmulatedTenant`]: ids, secret, `content_types` with data, `subscriptions_started`,
//! `backfill_on_start`, `secret_expired`, `activity_feed_read`, `audit_log_enabled`, `certificate_pem`),
//! `resource`, `token_lifetime`, `history` (default 30 h), `blob_interval`, `records_per_blob`,
//! `atp_fraction`, `page_size`, `next_page_header`, `window_error_code`, `huge_blob_bytes`, `anchor`,
//! `public_base_url`, `live` ([`LiveArrivals`]) and `faults` ([`FaultConfig`]: `requests_per_minute`,
//! `budget_window`, `throttle_style`, `retry_after`, `server_error_every`/`_burst`/`_status`,
//! `truncated_blob_fraction`, `connection_reset_fraction`, `truncate_times`,
//! `unavailable_blob_fraction`/`unavailable_times`/`unavailable_retry_after`, `malformed_blob_fraction`,
//! `late_blob_fraction`/`late_by`, `duplicate_record_fraction`, `expired_blob_fraction`, `start_min_interval`,
//! `clock_skew_secs`).
//! Each field is documented where it is declared. Presets: [`EmulatorConfig::single_tenant`] and
//! [`EmulatorConfig::demo`] ([`DEMO_TENANT_ID`], [`DEMO_CLIENT_ID`], [`DEMO_CLIENT_SECRET`]).
//!
//! Test hooks beside the HTTP surface: [`Emulator::add_blobs`], [`Emulator::expected_records`],
//! [`Emulator::blob_bodies`] (the bytes the API serves, for the benchmark's floor),
//! [`Emulator::keep_rendered_bodies`] (render a history ahead, so that serving it costs only the sending),
//! [`Emulator::stats`], [`Emulator::subscription_enabled`] / [`Emulator::set_subscription_enabled`],
//! [`Emulator::revoke_tokens`], [`Emulator::issued_tokens`] / [`Emulator::received_assertions`] (what must
//! never appear in logs) and [`Emulator::now`] (the server's clock).
//!
//! Record bodies are rendered lazily from `(seed, blob)`; only blob metadata is kept (unless bodies are
//! kept on request), so a million-record history costs little memory, and [`Emulator::expected_records`]
//! recomputes record identities without rendering bodies.

mod api;
mod assertion;
mod blob;
mod body;
mod catalog;
mod config;
mod error;
mod faults;
mod listing;
mod records;
mod rng;
mod server;
mod state;
mod stats;
mod token;
mod window;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    EmulatedTenant, EmulatorConfig, LiveArrivals, NextPageHeader, CONTENT_TYPES, DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET, DEMO_TENANT_ID,
};
pub use error::EmulatorError;
pub use faults::{FaultConfig, ThrottleStyle};
pub use stats::{EmulatorStats, FaultStats};

use catalog::canonical_content_type;
use state::{lock, Inner, SubStatus, Visibility};

/// One record the emulator serves, for comparing what was delivered with what should have been.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExpectedRecord {
    /// The record `Id`.
    pub id: String,
    /// Its `RecordType`.
    pub record_type: i64,
    /// The contentId of the first blob that carries it.
    pub content_id: String,
}

/// A running emulator; it serves until [`Emulator::shutdown`] or drop.
pub struct Emulator {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    live: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

// === impl EmulatorConfig (validation) ===

impl EmulatorConfig {
    /// Every problem with the configuration, each naming its key.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        let mut problems = Vec::new();
        if self.tenants.is_empty() {
            problems.push("tenants: at least one tenant is needed".to_owned());
        }
        let mut seen = HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            if !seen.insert(t.tenant_id.to_ascii_lowercase()) {
                problems.push(format!(
                    "tenants[{i}].tenant_id: {} appears twice",
                    t.tenant_id
                ));
            }
            for ct in t
                .content_types
                .iter()
                .filter(|c| canonical_content_type(c).is_none())
            {
                problems.push(format!(
                    "tenants[{i}].content_types: {ct} is not one of {CONTENT_TYPES:?}"
                ));
            }
        }
        let f = &self.faults;
        for (key, v) in [
            ("atp_fraction", self.atp_fraction),
            ("faults.truncated_blob_fraction", f.truncated_blob_fraction),
            (
                "faults.connection_reset_fraction",
                f.connection_reset_fraction,
            ),
            ("faults.malformed_blob_fraction", f.malformed_blob_fraction),
            ("faults.late_blob_fraction", f.late_blob_fraction),
            (
                "faults.duplicate_record_fraction",
                f.duplicate_record_fraction,
            ),
            ("faults.expired_blob_fraction", f.expired_blob_fraction),
            (
                "faults.unavailable_blob_fraction",
                f.unavailable_blob_fraction,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) {
                problems.push(format!("{key}: {v} is not between 0 and 1"));
            }
        }
        if self.page_size == 0 {
            problems.push("page_size: must be at least 1".to_owned());
        }
        if self.blob_interval.is_zero() {
            problems.push("blob_interval: must be positive".to_owned());
        }
        if !matches!(self.window_error_code.as_str(), "AF20055" | "AF20030") {
            problems.push(format!(
                "window_error_code: {} is not AF20055 or AF20030",
                self.window_error_code
            ));
        }
        if f.budget_window.is_zero() {
            problems.push("faults.budget_window: must be positive".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(EmulatorError::Config(problems.join("; ")))
        }
    }
}

// === impl Emulator ===

impl Emulator {
    /// Binds (use "127.0.0.1:0" for a free port) and serves until shutdown/drop.
    pub async fn start(
        config: EmulatorConfig,
        bind: SocketAddr,
    ) -> Result<Emulator, EmulatorError> {
        config.validate()?;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| EmulatorError::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr: bind, source })?;
        let base_url = config
            .public_base_url
            .clone()
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{addr}"));
        let inner = Arc::new(Inner::new(config, base_url));
        let app = server::router(inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "emulator: server stopped with an error");
            }
        });
        let live = inner
            .cfg
            .live
            .is_some()
            .then(|| tokio::spawn(server::live_arrivals(inner.clone())));
        tracing::info!(%addr, "emulator: listening");
        Ok(Emulator {
            inner,
            addr,
            stop: Some(stop),
            server: Some(server),
            live,
        })
    }

    /// e.g. "http://127.0.0.1:PORT" — serves both the token endpoints and the API.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's notion of now (real time plus the configured clock skew).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.now()
    }

    /// Makes `count` new blobs available now (contentCreated = now) for a tenant/content type; returns their
    /// contentIds (empty for an unknown tenant or content type).
    pub fn add_blobs(&self, tenant_id: &str, content_type: &str, count: usize) -> Vec<String> {
        self.inner.add_blobs(tenant_id, content_type, count)
    }

    /// Every record the emulator currently serves for the tenant whose RecordType is in `record_types`
    /// (deduplicated by Id), so tests can compare what was delivered with what should have been.
    ///
    /// "Serves" means: in a blob that is visible now (created, collected while subscribed, not held back as
    /// late) and deliverable (not malformed, not expired). Blobs that are only cut off or reset on their first
    /// fetches count: a retry gets them whole.
    pub fn expected_records(&self, tenant_id: &str, record_types: &[i64]) -> Vec<ExpectedRecord> {
        let inner = &self.inner;
        let now = inner.now();
        let cat = inner.catalog();
        let mut blobs: Vec<_> = cat.tenant_blobs(tenant_id).collect();
        blobs.sort_by(|a, b| (a.created, &a.content_id).cmp(&(b.created, &b.content_id)));
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for blob in blobs {
            if inner.visibility(tenant_id, blob, now) != Visibility::Visible
                || !blob.faults.deliverable()
                || blob.expiration() <= now
            {
                continue;
            }
            for plan in blob.plans(inner.cfg.atp_fraction) {
                if record_types.contains(&plan.record_type) && seen.insert(plan.id) {
                    out.push(ExpectedRecord {
                        id: plan.id.to_string(),
                        record_type: plan.record_type,
                        content_id: blob.content_id.clone(),
                    });
                }
            }
        }
        out
    }

    /// The whole body of every blob of a tenant that is visible now, in creation order, as the API serves it
    /// when no fault applies; each body is rendered only when the iterator reaches it (or taken from the
    /// kept ones, [`keep_rendered_bodies`](Self::keep_rendered_bodies)). The benchmark's floor parses
    /// exactly the bytes the daemon fetched.
    pub fn blob_bodies(&self, tenant_id: &str) -> impl Iterator<Item = Bytes> + Send + 'static {
        let inner = self.inner.clone();
        let tenant = tenant_id.to_owned();
        self.visible_blobs(tenant_id).into_iter().map(move |blob| {
            inner
                .kept_body(&tenant, &blob.content_id)
                .unwrap_or_else(|| Bytes::from(inner.body_writer(&tenant, &blob).collect()))
        })
    }

    /// Renders the body of every blob of a tenant that is visible now and keeps it: fetches of those blobs
    /// then send the kept bytes (in the same chunks) instead of rendering them while the client reads.
    /// Returns the bytes kept, which stay in memory until the emulator is dropped.
    ///
    /// For the benchmark: rendering a history's JSON took more CPU than the daemon that fetched it, on the
    /// same cores, while Microsoft's servers are not on the collector's host. Blobs whose faults change
    /// the body (cut off, reset, not JSON) are served as before, and so are blobs added later.
    pub fn keep_rendered_bodies(&self, tenant_id: &str) -> u64 {
        let mut kept_bytes = 0;
        for blob in self.visible_blobs(tenant_id) {
            let body = Bytes::from(self.inner.body_writer(tenant_id, &blob).collect());
            kept_bytes += body.len() as u64;
            self.inner.keep_body(tenant_id, &blob.content_id, body);
        }
        kept_bytes
    }

    /// The blobs of a tenant that are visible now, in creation order.
    fn visible_blobs(&self, tenant_id: &str) -> Vec<catalog::BlobMeta> {
        let now = self.inner.now();
        let mut blobs: Vec<_> = self
            .inner
            .catalog()
            .tenant_blobs(tenant_id)
            .filter(|blob| self.inner.visibility(tenant_id, blob, now) == Visibility::Visible)
            .cloned()
            .collect();
        blobs.sort_by(|a, b| (a.created, &a.content_id).cmp(&(b.created, &b.content_id)));
        blobs
    }

    /// Counters: requests per endpoint kind and status, tokens, throttling, rejected windows, faults, and the
    /// busiest rolling window per tenant.
    pub fn stats(&self) -> EmulatorStats {
        let mut s = lock(&self.inner.stats).clone();
        s.max_requests_per_window = lock(&self.inner.budget)
            .max_per_tenant()
            .into_iter()
            .collect();
        let cat = self.inner.catalog();
        s.faults.duplicated_records = self
            .inner
            .cfg
            .tenants
            .iter()
            .flat_map(|t| cat.tenant_blobs(&t.tenant_id))
            .filter(|b| b.duplicate_of.is_some())
            .count() as u64;
        s
    }

    /// Whether the subscription of a tenant to a content type is enabled.
    pub fn subscription_enabled(&self, tenant_id: &str, content_type: &str) -> bool {
        let Some(ct) = canonical_content_type(content_type) else {
            return false;
        };
        lock(&self.inner.subs)
            .get(&(tenant_id.to_ascii_lowercase(), ct))
            .is_some_and(|s| s.status == SubStatus::Enabled)
    }

    /// Enables or disables a subscription as an administrator would (no AF20024; enabling collects from now,
    /// or from the start of history with `backfill_on_start`).
    pub fn set_subscription_enabled(&self, tenant_id: &str, content_type: &str, enabled: bool) {
        let Some(ct) = canonical_content_type(content_type) else {
            return;
        };
        let backfill = self
            .inner
            .cfg
            .tenant(tenant_id)
            .is_some_and(|t| t.backfill_on_start);
        let now = self.inner.now();
        let mut subs = lock(&self.inner.subs);
        let sub = subs
            .entry((tenant_id.to_ascii_lowercase(), ct))
            .or_default();
        match (enabled, sub.status) {
            (true, SubStatus::Enabled) | (false, SubStatus::Never | SubStatus::Disabled) => {}
            (true, _) => {
                sub.status = SubStatus::Enabled;
                sub.enabled.push((
                    if backfill {
                        chrono::DateTime::<chrono::Utc>::MIN_UTC
                    } else {
                        now
                    },
                    None,
                ));
            }
            (false, SubStatus::Enabled) => {
                sub.status = SubStatus::Disabled;
                for p in sub.enabled.iter_mut().filter(|p| p.1.is_none()) {
                    p.1 = Some(now);
                }
            }
        }
    }

    /// Every access token issued so far (tests look for them in logs that must not carry them).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.inner.credentials_seen).tokens.clone()
    }

    /// Every client assertion received so far, accepted or not.
    pub fn received_assertions(&self) -> Vec<String> {
        lock(&self.inner.credentials_seen).assertions.clone()
    }

    /// Forgets every issued access token: the next API call with one gets 401 (tests of token refresh).
    pub fn revoke_tokens(&self) {
        lock(&self.inner.tokens).clear();
    }

    /// Stops serving: in-flight requests get up to five seconds to finish.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(live) = self.live.take() {
            live.abort();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop_now();
    }
}
