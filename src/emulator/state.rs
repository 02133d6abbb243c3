//! Shared emulator state: configuration, clock, blob catalogue, subscriptions, issued tokens, statistics and
//! the per-request checks every API call goes through (budget, error bursts, bearer token, tenant).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, SubsecRound, Utc};

use super::body::BlobWriter;
use super::catalog::{canonical_content_type, BlobMeta, Catalog, StreamKey};
use super::config::{EmulatedTenant, EmulatorConfig, CONTENT_TYPES};
use super::error::ApiFault;
use super::faults::{in_error_burst, Budget, ThrottleStyle};
use super::records::TenantCtx;
use super::stats::EmulatorStats;

/// Locks a mutex, recovering the data if another thread panicked while holding it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key of a kept body: tenant ids compare without case, as everywhere in the API.
fn kept_key(tenant: &str, content_id: &str) -> (String, String) {
    (tenant.to_ascii_lowercase(), content_id.to_owned())
}

/// Subscription state of one tenant and content type.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subscription {
    pub status: SubStatus,
    pub webhook: Option<serde_json::Value>,
    /// Periods during which content was collected: `[from, until)`.
    pub enabled: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
}

/// Whether a subscription exists and is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SubStatus {
    /// Never started: listing answers AF20022 and `subscriptions/list` leaves it out.
    #[default]
    Never,
    Enabled,
    Disabled,
}

/// Why a blob is or is not visible now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    Visible,
    /// Created while the subscription was off, or not created yet: it does not exist.
    Absent,
    /// A late blob whose delay has not passed.
    Late,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub tenant: String,
    pub expires: DateTime<Utc>,
}

/// Credentials that crossed the token endpoint.
#[derive(Debug, Clone, Default)]
pub(crate) struct CredentialsSeen {
    /// Access tokens issued, in order.
    pub tokens: Vec<String>,
    /// Client assertions received, in order.
    pub assertions: Vec<String>,
    /// `jti` of every accepted assertion (a repeated one is refused).
    pub jtis: std::collections::HashSet<String>,
}

/// What a request proved about itself.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub tenant: EmulatedTenant,
    pub publisher: Option<String>,
}

/// Everything the handlers share.
pub(crate) struct Inner {
    pub cfg: EmulatorConfig,
    pub base_url: String,
    pub skew: chrono::Duration,
    pub catalog: RwLock<Catalog>,
    pub subs: Mutex<HashMap<StreamKey, Subscription>>,
    pub tokens: Mutex<HashMap<String, TokenInfo>>,
    /// Every access token issued and every client assertion received, for tests that look for leaks.
    pub credentials_seen: Mutex<CredentialsSeen>,
    pub stats: Mutex<EmulatorStats>,
    pub budget: Mutex<Budget>,
    pub api_requests: AtomicU64,
    /// Failed fetches so far per (tenant, content id), for truncation/reset/unavailable faults.
    pub failed_fetches: Mutex<HashMap<(String, String), u32>>,
    pub ctxs: HashMap<String, TenantCtx>,
    /// Time of the last subscription start call per tenant (lowercase id).
    pub last_start: Mutex<HashMap<String, Instant>>,
    /// Bodies rendered ahead and kept, per (tenant lowercase, content id); see
    /// [`super::Emulator::keep_rendered_bodies`].
    pub kept_bodies: Mutex<HashMap<(String, String), Bytes>>,
}

impl Inner {
    pub(crate) fn new(cfg: EmulatorConfig, base_url: String) -> Self {
        let skew = chrono::Duration::seconds(cfg.faults.clock_skew_secs);
        let now = (Utc::now() + skew).trunc_subsecs(3);
        let anchor = cfg.anchor.unwrap_or(now);
        let mut catalog = Catalog::build(&cfg, anchor);
        if let Some(bytes) = cfg.huge_blob_bytes {
            catalog.size_huge_blob(|blob| {
                let ctx = TenantCtx::new(cfg.tenants.first().map_or("", |t| t.tenant_id.as_str()));
                super::body::huge_record_count(blob, &ctx, cfg.atp_fraction, bytes)
            });
        }
        let mut subs = HashMap::new();
        let mut ctxs = HashMap::new();
        for t in &cfg.tenants {
            let key = t.tenant_id.to_ascii_lowercase();
            ctxs.insert(key.clone(), TenantCtx::new(&t.tenant_id));
            for ct in CONTENT_TYPES {
                let sub = if t.subscriptions_started {
                    Subscription {
                        status: SubStatus::Enabled,
                        webhook: None,
                        enabled: vec![(DateTime::<Utc>::MIN_UTC, None)],
                    }
                } else {
                    Subscription::default()
                };
                subs.insert((key.clone(), ct), sub);
            }
        }
        Self {
            cfg,
            base_url,
            skew,
            catalog: RwLock::new(catalog),
            subs: Mutex::new(subs),
            tokens: Mutex::new(HashMap::new()),
            credentials_seen: Mutex::new(CredentialsSeen::default()),
            stats: Mutex::new(EmulatorStats::default()),
            budget: Mutex::new(Budget::default()),
            api_requests: AtomicU64::new(0),
            failed_fetches: Mutex::new(HashMap::new()),
            ctxs,
            last_start: Mutex::new(HashMap::new()),
            kept_bodies: Mutex::new(HashMap::new()),
        }
    }

    /// The server's notion of now (real time shifted by the configured skew), to the millisecond like the
    /// times on the wire.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        (Utc::now() + self.skew).trunc_subsecs(3)
    }

    pub(crate) fn stat(&self, f: impl FnOnce(&mut EmulatorStats)) {
        f(&mut lock(&self.stats));
    }

    pub(crate) fn catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn catalog_mut(&self) -> RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn ctx(&self, tenant: &str) -> TenantCtx {
        self.ctxs
            .get(&tenant.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| TenantCtx::new(tenant))
    }

    /// A writer that renders `blob`'s body for `tenant`.
    pub(crate) fn body_writer(&self, tenant: &str, blob: &BlobMeta) -> BlobWriter {
        BlobWriter::new(blob, self.ctx(tenant), self.cfg.atp_fraction)
    }

    /// The body kept for a tenant's blob, if any ([`super::Emulator::keep_rendered_bodies`]).
    pub(crate) fn kept_body(&self, tenant: &str, content_id: &str) -> Option<Bytes> {
        lock(&self.kept_bodies)
            .get(&kept_key(tenant, content_id))
            .cloned()
    }

    /// Keeps `body` as the body of a tenant's blob.
    pub(crate) fn keep_body(&self, tenant: &str, content_id: &str, body: Bytes) {
        lock(&self.kept_bodies).insert(kept_key(tenant, content_id), body);
    }

    /// Whether a blob can be listed and fetched at `now`.
    pub(crate) fn visibility(
        &self,
        tenant: &str,
        blob: &BlobMeta,
        now: DateTime<Utc>,
    ) -> Visibility {
        if blob.created > now {
            return Visibility::Absent;
        }
        let collected = lock(&self.subs)
            .get(&(tenant.to_ascii_lowercase(), blob.content_type))
            .is_some_and(|s| {
                s.enabled.iter().any(|(from, until)| {
                    *from <= blob.created && until.is_none_or(|u| blob.created < u)
                })
            });
        if !collected {
            return Visibility::Absent;
        }
        let late_by = chrono::Duration::from_std(self.cfg.faults.late_by).unwrap_or_default();
        if blob.faults.late && now < blob.created + late_by {
            return Visibility::Late;
        }
        Visibility::Visible
    }

    /// The checks every API request passes, in order: request budget, error bursts, bearer token, tenant.
    pub(crate) fn admit(
        &self,
        url_tenant: &str,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
    ) -> Result<Caller, ApiFault> {
        let publisher = param(query, "PublisherIdentifier").map(str::to_owned);
        if publisher.is_none() {
            self.stat(|s| s.missing_publisher_identifier += 1);
        }
        let f = &self.cfg.faults;
        let admitted = lock(&self.budget).admit(
            url_tenant,
            Instant::now(),
            f.budget_window,
            f.requests_per_minute,
        );
        if !admitted {
            self.stat(|s| {
                s.throttled += 1;
                s.faults.budget_refusals += 1;
            });
            let status = match f.throttle_style {
                ThrottleStyle::Http429 => StatusCode::TOO_MANY_REQUESTS,
                ThrottleStyle::Http403 => StatusCode::FORBIDDEN,
            };
            let mut fault = ApiFault::new(
                status,
                "AF429",
                format!(
                    "Too many requests. Method=GetBlob, PublisherId={}",
                    publisher
                        .as_deref()
                        .unwrap_or("00000000-0000-0000-0000-000000000000")
                ),
            );
            fault.retry_after = f.retry_after.map(|d| d.as_secs().max(1));
            return Err(fault);
        }
        let n = self.api_requests.fetch_add(1, Ordering::Relaxed) + 1;
        if in_error_burst(n, f.server_error_every, f.server_error_burst) {
            self.stat(|s| s.faults.server_errors += 1);
            let status = StatusCode::from_u16(f.server_error_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err(ApiFault::new(
                status,
                "AF50000",
                "An internal error occurred. Retry the request.",
            ));
        }
        let token_tenant = self.check_bearer(headers)?;
        if !token_tenant.eq_ignore_ascii_case(url_tenant) {
            return Err(ApiFault::new(
                StatusCode::FORBIDDEN,
                "AF20010",
                format!("The tenant ID passed in the URL ({url_tenant}) does not match the tenant ID passed in the access token ({token_tenant})."),
            ));
        }
        let tenant = self.cfg.tenant(url_tenant).cloned().ok_or_else(|| {
            ApiFault::bad_request(
                "AF20011",
                format!("Specified tenant ID ({url_tenant}) does not exist in the system or has been deleted."),
            )
        })?;
        if !tenant.activity_feed_read {
            return Err(ApiFault::new(
                StatusCode::FORBIDDEN,
                "AF10001",
                "The permission set () sent in the request does not include the expected permission ActivityFeed.Read.",
            ));
        }
        if !tenant.audit_log_enabled {
            return Err(ApiFault::bad_request(
                "AF20011",
                format!("Microsoft.Office.Compliance.Audit.DataServiceException: Tenant {url_tenant} does not exist."),
            ));
        }
        Ok(Caller { tenant, publisher })
    }

    /// The tenant of a valid bearer token, or the 401 to answer.
    fn check_bearer(&self, headers: &HeaderMap) -> Result<String, ApiFault> {
        let token = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned());
        let Some(token) = token else {
            self.stat(|s| s.unauthorized += 1);
            return Err(ApiFault::unauthorized(
                "AuthenticationFailed",
                "Authorization header is missing or is not a Bearer token.",
            ));
        };
        let info = lock(&self.tokens).get(&token).cloned();
        let now = self.now();
        match info {
            None => {
                self.stat(|s| s.unauthorized += 1);
                Err(ApiFault::unauthorized(
                    "AuthenticationFailed",
                    "The access token is invalid.",
                ))
            }
            Some(t) if t.expires <= now => {
                self.stat(|s| s.unauthorized += 1);
                Err(ApiFault::unauthorized(
                    "ExpiredAuthenticationToken",
                    format!(
                        "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                        t.expires.format("%-m/%-d/%Y %-I:%M:%S %p"),
                        now.format("%-m/%-d/%Y %-I:%M:%S %p")
                    ),
                ))
            }
            Some(t) => Ok(t.tenant),
        }
    }

    /// Appends `count` blobs created now to a stream; returns their content ids.
    pub(crate) fn add_blobs(
        &self,
        tenant_id: &str,
        content_type: &str,
        count: usize,
    ) -> Vec<String> {
        let (Some(tenant), Some(ct)) = (
            self.cfg.tenant(tenant_id),
            canonical_content_type(content_type),
        ) else {
            tracing::warn!(
                tenant_id,
                content_type,
                "emulator: add_blobs for an unknown tenant or content type"
            );
            return Vec::new();
        };
        let key: StreamKey = (tenant.tenant_id.to_ascii_lowercase(), ct);
        let now = self.now();
        let mut cat = self.catalog_mut();
        (0..count).map(|_| cat.push(&self.cfg, &key, now)).collect()
    }
}

/// A query parameter, matched case-insensitively.
pub(crate) fn param<'a>(query: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parses a raw query string.
pub(crate) fn parse_query(raw: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}
