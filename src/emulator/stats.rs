//! Counters the tests and the benchmark read back: requests per endpoint kind and per status, tokens,
//! throttling, rejected windows, injected faults, and the busiest rolling window per tenant.

use std::collections::BTreeMap;

use serde::Serialize;

/// A snapshot of what the emulator has seen and done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EmulatorStats {
    /// Requests per endpoint kind: `token_v1`, `token_v2`, `subscriptions_list`, `subscriptions_start`,
    /// `subscriptions_stop`, `content`, `notifications`, `blob`, `other`.
    pub requests: BTreeMap<String, u64>,
    /// Responses per HTTP status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests to either token endpoint.
    pub token_requests: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Token requests refused (any AADSTS error).
    pub token_errors: u64,
    /// API requests answered 401 (missing, unknown or expired token).
    pub unauthorized: u64,
    /// Throttled answers sent (HTTP 429, or 403 with AF429), from the budget and from too frequent starts.
    pub throttled: u64,
    /// API requests without a `PublisherIdentifier` query parameter.
    pub missing_publisher_identifier: u64,
    /// Content/notification listings refused for an invalid time window (AF20055/AF20030).
    pub windows_rejected: u64,
    /// Subscription start calls (including refused ones).
    pub subscription_starts: u64,
    /// Content listing pages served (HTTP 200).
    pub content_pages: u64,
    /// Blob bodies served with HTTP 200 (including truncated and malformed ones).
    pub blobs_served: u64,
    /// Records in the blob bodies served whole.
    pub records_served: u64,
    /// Highest number of API requests in any rolling budget window (60 s unless scaled), per tenant
    /// (lowercase id).
    pub max_requests_per_window: BTreeMap<String, u64>,
    /// Faults injected.
    pub faults: FaultStats,
}

/// How many of each fault were injected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FaultStats {
    /// AF50000 answers from error bursts.
    pub server_errors: u64,
    /// Blob bodies cut off part way.
    pub truncated_bodies: u64,
    /// Blob fetches whose connection broke before any body byte.
    pub connection_resets: u64,
    /// 503 answers to fetches of an unavailable blob.
    pub unavailable_answers: u64,
    /// Non-JSON blob bodies served.
    pub malformed_blobs: u64,
    /// Times a late blob was left out of a listing (or refused with AF20050) because it was not visible yet.
    pub late_blobs_withheld: u64,
    /// Records repeated from an earlier blob (one per blob that carries a duplicate).
    pub duplicated_records: u64,
    /// AF20051 answers for content reported as expired.
    pub expired_content: u64,
    /// Requests refused by the rolling request budget.
    pub budget_refusals: u64,
    /// Subscription start calls refused as too frequent (`start_min_interval`).
    pub start_refusals: u64,
}

impl EmulatorStats {
    /// Requests of one endpoint kind.
    pub fn requests_of(&self, kind: &str) -> u64 {
        self.requests.get(kind).copied().unwrap_or(0)
    }

    /// Management Activity API requests (every endpoint kind but the token endpoints').
    pub fn api_requests(&self) -> u64 {
        self.requests
            .iter()
            .filter(|(kind, _)| !kind.starts_with("token"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Responses with one status code.
    pub fn status_count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    pub(crate) fn count_request(&mut self, kind: &str) {
        *self.requests.entry(kind.to_owned()).or_default() += 1;
    }

    pub(crate) fn count_status(&mut self, status: u16) {
        *self.statuses.entry(status).or_default() += 1;
    }
}

/// The endpoint kind of a request path (for the `requests` counter).
pub(crate) fn endpoint_kind(path: &str) -> &'static str {
    if path.ends_with("/oauth2/v2.0/token") {
        "token_v2"
    } else if path.ends_with("/oauth2/token") {
        "token_v1"
    } else if path.contains("/activity/feed/audit/") {
        "blob"
    } else if path.ends_with("/subscriptions/list") {
        "subscriptions_list"
    } else if path.ends_with("/subscriptions/start") {
        "subscriptions_start"
    } else if path.ends_with("/subscriptions/stop") {
        "subscriptions_stop"
    } else if path.ends_with("/subscriptions/content") {
        "content"
    } else if path.ends_with("/subscriptions/notifications") {
        "notifications"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_endpoint_kinds() {
        assert_eq!(endpoint_kind("/t/oauth2/v2.0/token"), "token_v2");
        assert_eq!(endpoint_kind("/t/oauth2/token"), "token_v1");
        assert_eq!(
            endpoint_kind("/api/v1.0/t/activity/feed/subscriptions/content"),
            "content"
        );
        assert_eq!(
            endpoint_kind("/api/v1/t/activity/feed/audit/123$456"),
            "blob"
        );
        assert_eq!(endpoint_kind("/nope"), "other");
    }
}
