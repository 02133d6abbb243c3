//! Fault injection: the ways the real service misbehaves, each off by default and selected deterministically.
//!
//! Request-level faults (the rolling request budget, bursts of AF50000) are decided per request here; blob-level
//! faults (late, malformed, truncated, reset, expired, duplicated records) are decided once per blob from the
//! seed and the content id, so a test can predict them and `expected_records` can account for them.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::rng::{hash_all, unit};

/// Fault knobs. Fractions are shares of blobs in `0.0..=1.0`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Per-tenant request budget: API requests (by URL tenant) allowed in any rolling `budget_window`;
    /// requests beyond it are throttled. `None` = unlimited. The `max_requests_per_window` statistic is
    /// kept either way.
    pub requests_per_minute: Option<u64>,
    /// Length of the rolling budget window (60 s like the service; scale it down for quick benchmarks).
    #[serde(with = "humantime_serde")]
    pub budget_window: Duration,
    /// How a throttled request is answered.
    pub throttle_style: ThrottleStyle,
    /// `Retry-After` sent with throttled answers (whole seconds); `None` sends no header, like the docs.
    #[serde(with = "humantime_serde")]
    pub retry_after: Option<Duration>,
    /// Every `server_error_every`-th API request starts a burst of `server_error_burst` AF50000 answers.
    pub server_error_every: Option<u64>,
    /// Length of each AF50000 burst, in requests.
    pub server_error_burst: u64,
    /// HTTP status of the AF50000 answers (500, 502, 503, …).
    pub server_error_status: u16,
    /// Share of blobs whose first `truncate_times` fetches send part of the body and then break the
    /// connection.
    pub truncated_blob_fraction: f64,
    /// Share of blobs whose first `truncate_times` fetches break the connection before any body byte.
    pub connection_reset_fraction: f64,
    /// How many fetches of a truncated/reset blob fail before it is served whole.
    pub truncate_times: u32,
    /// Share of blobs whose first `unavailable_times` fetches answer 503 AF50000 (a passing outage of the
    /// service that stores them: retried, and left for a later poll once every attempt is used).
    pub unavailable_blob_fraction: f64,
    /// How many fetches of an unavailable blob answer 503 before it is served.
    pub unavailable_times: u32,
    /// `Retry-After` sent with those 503 answers (whole seconds, 0 allowed); `None` sends none.
    #[serde(with = "humantime_serde")]
    pub unavailable_retry_after: Option<Duration>,
    /// Share of blobs whose body is never JSON (poison blobs; their records are not expected).
    pub malformed_blob_fraction: f64,
    /// Share of blobs that appear in listings (and can be fetched) only `late_by` after their
    /// contentCreated.
    pub late_blob_fraction: f64,
    /// Delay of late blobs.
    #[serde(with = "humantime_serde")]
    pub late_by: Duration,
    /// Share of blobs that repeat one record (same `Id`, same body) of the blob listed before them.
    pub duplicate_record_fraction: f64,
    /// Share of blobs listed normally that answer AF20051 (expired) when fetched (their records are lost and
    /// not expected).
    pub expired_blob_fraction: f64,
    /// Minimum time between subscription start calls of one tenant; an earlier call answers 429 AF429 "Too
    /// many frequent subscription start requests. Please retry again after 14m 56s". `None` = no limit (the
    /// service asks for 15 minutes).
    #[serde(with = "humantime_serde")]
    pub start_min_interval: Option<Duration>,
    /// Shift of the server's clock in seconds (its `Date` header, window checks, contentCreated of new
    /// blobs); negative = behind real time.
    pub clock_skew_secs: i64,
}

/// How a request over budget is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum ThrottleStyle {
    /// HTTP 429 with an AF429 body.
    #[default]
    Http429,
    /// HTTP 403 with an AF429 body (as observed on the Management Activity API).
    Http403,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: None,
            budget_window: Duration::from_secs(60),
            throttle_style: ThrottleStyle::default(),
            retry_after: None,
            server_error_every: None,
            server_error_burst: 1,
            server_error_status: 500,
            truncated_blob_fraction: 0.0,
            connection_reset_fraction: 0.0,
            truncate_times: 1,
            unavailable_blob_fraction: 0.0,
            unavailable_times: 1,
            unavailable_retry_after: None,
            malformed_blob_fraction: 0.0,
            late_blob_fraction: 0.0,
            late_by: Duration::from_secs(2 * 3600),
            duplicate_record_fraction: 0.0,
            expired_blob_fraction: 0.0,
            start_min_interval: None,
            clock_skew_secs: 0,
        }
    }
}

/// The faults chosen for one blob.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BlobFaults {
    pub late: bool,
    pub malformed: bool,
    pub expired: bool,
    pub truncated: bool,
    pub reset: bool,
    pub unavailable: bool,
    pub duplicate: bool,
}

impl BlobFaults {
    /// Deterministic choice for a blob. A blob is at most one of expired / malformed / truncated / reset /
    /// unavailable (in that order of precedence); late and duplicate combine with anything.
    pub(crate) fn choose(cfg: &FaultConfig, seed: u64, content_id: &str) -> Self {
        let roll =
            |kind: &str, p: f64| p > 0.0 && unit(hash_all(seed, &["fault", kind, content_id])) < p;
        let expired = roll("expired", cfg.expired_blob_fraction);
        let malformed = !expired && roll("malformed", cfg.malformed_blob_fraction);
        let truncated = !expired && !malformed && roll("truncated", cfg.truncated_blob_fraction);
        let reset =
            !expired && !malformed && !truncated && roll("reset", cfg.connection_reset_fraction);
        let unavailable = !expired
            && !malformed
            && !truncated
            && !reset
            && roll("unavailable", cfg.unavailable_blob_fraction);
        Self {
            late: roll("late", cfg.late_blob_fraction),
            malformed,
            expired,
            truncated,
            reset,
            unavailable,
            duplicate: roll("duplicate", cfg.duplicate_record_fraction),
        }
    }

    /// Whether the blob's records can be delivered at all.
    pub(crate) fn deliverable(self) -> bool {
        !self.malformed && !self.expired
    }
}

/// Rolling-window request counting and budget enforcement per tenant.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    recent: HashMap<String, VecDeque<Instant>>,
    max_in_window: HashMap<String, u64>,
}

impl Budget {
    /// Records one request for `tenant` at `now`; returns false when it is over `limit` in `window`.
    pub(crate) fn admit(
        &mut self,
        tenant: &str,
        now: Instant,
        window: Duration,
        limit: Option<u64>,
    ) -> bool {
        let key = tenant.to_ascii_lowercase();
        let q = self.recent.entry(key.clone()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        q.push_back(now);
        let n = q.len() as u64;
        let max = self.max_in_window.entry(key).or_default();
        *max = (*max).max(n);
        limit.is_none_or(|l| n <= l)
    }

    /// The highest number of requests seen in any rolling window, per tenant (lowercase id).
    pub(crate) fn max_per_tenant(&self) -> HashMap<String, u64> {
        self.max_in_window.clone()
    }
}

/// Whether the `n`-th API request (1-based) falls in an AF50000 burst.
pub(crate) fn in_error_burst(n: u64, every: Option<u64>, burst: u64) -> bool {
    match every {
        Some(e) if e > 0 => n >= e && (n - e) % e < burst,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_requests_beyond_the_limit_in_a_rolling_window() {
        let mut b = Budget::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        assert!(b.admit("T", t0, w, Some(2)));
        assert!(b.admit("t", t0, w, Some(2)));
        assert!(!b.admit("t", t0 + Duration::from_secs(30), w, Some(2)));
        // After the window has rolled past the first two, requests pass again.
        assert!(b.admit("t", t0 + Duration::from_secs(61), w, Some(2)));
        assert_eq!(b.max_per_tenant().get("t"), Some(&3));
    }

    #[test]
    fn error_bursts_start_every_nth_request_and_last_burst_requests() {
        let failing: Vec<u64> = (1..=12)
            .filter(|n| in_error_burst(*n, Some(5), 2))
            .collect();
        assert_eq!(failing, vec![5, 6, 10, 11]);
        assert!(!in_error_burst(5, None, 2));
    }

    #[test]
    fn blob_faults_follow_their_fractions_and_exclude_each_other() {
        let cfg = FaultConfig {
            malformed_blob_fraction: 0.5,
            expired_blob_fraction: 0.5,
            ..FaultConfig::default()
        };
        let all: Vec<BlobFaults> = (0..200)
            .map(|i| BlobFaults::choose(&cfg, 1, &format!("blob{i}")))
            .collect();
        assert!(all.iter().all(|f| !(f.malformed && f.expired)));
        let expired = all.iter().filter(|f| f.expired).count();
        assert!((60..140).contains(&expired), "{expired}");
        assert!(all.iter().all(|f| !f.late && !f.truncated));
        assert_eq!(
            all,
            (0..200)
                .map(|i| BlobFaults::choose(&cfg, 1, &format!("blob{i}")))
                .collect::<Vec<_>>()
        );
    }
}
