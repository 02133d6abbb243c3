//! API errors and the one function that decides what to do with an answer.

use std::time::Duration;

use reqwest::header::{HeaderMap, DATE, RETRY_AFTER};
use reqwest::StatusCode;

use crate::auth::TokenError;

/// What the retry loop does with an answer from the Management Activity API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Success.
    Done,
    /// Throttled or unavailable and the server said how long to wait.
    RetryAfter(Duration),
    /// Transient failure: wait with jittered exponential backoff, then retry.
    Backoff,
    /// 401: get a new token once, then retry.
    RefreshToken,
    /// AF20022: the subscription is not started.
    StartSubscription,
    /// Permanent for this request: report it.
    GiveUp,
}

/// Classifies an answer. `code` is the AF code from the error body, when there was one.
pub fn classify(status: StatusCode, code: Option<&str>, headers: &HeaderMap) -> Verdict {
    if status.is_success() {
        return Verdict::Done;
    }
    let retry_after = retry_after(headers);
    if status == StatusCode::UNAUTHORIZED {
        return Verdict::RefreshToken;
    }
    let throttled = status == StatusCode::TOO_MANY_REQUESTS || code == Some("AF429");
    let transient = status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || matches!(code, Some("AF50000" | "AF50005" | "AF50006"));
    if throttled || transient {
        return match retry_after {
            Some(wait) => Verdict::RetryAfter(wait),
            None => Verdict::Backoff,
        };
    }
    match code {
        Some("AF20022") => Verdict::StartSubscription,
        _ => Verdict::GiveUp,
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date
        .signed_duration_since(chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    Some(wait)
}

/// The server's clock from the `Date` header.
pub fn server_date(headers: &HeaderMap) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = headers.get(DATE)?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|date| date.with_timezone(&chrono::Utc))
}

/// What a failed API call means for the operator.
pub fn advice(code: &str) -> &'static str {
    match code {
        "AF10001" => "the app lacks the ActivityFeed.Read application permission of the Office 365 Management APIs, or admin consent was not granted",
        "AF20010" => "the token's tenant differs from tenant_id: check tenant_id and client_id",
        "AF20011" => "audit logging is not enabled for this tenant (or the tenant does not exist): turn on audit log search in the Microsoft Purview portal",
        "AF20012" | "AF20013" => "the tenant is misconfigured or tenant_id is not a GUID",
        "AF20020" => "invalid content type: check content_types",
        "AF20022" => "no subscription for this content type: it will be started",
        "AF20023" => "the subscription was disabled by an administrator: start it with `atp-forwarder subscriptions start`",
        "AF20030" | "AF20055" => "the time window was refused: check the machine's clock",
        "AF20031" => "the next-page link was refused: the window is listed again",
        "AF20050" => "the content does not exist (yet)",
        "AF20051" => "the content expired (older than 7 days): its events are lost",
        "AF20052" => "invalid content id",
        "AF429" => "throttled: lower requests_per_minute or set publisher_id",
        _ => "see the Management Activity API troubleshooting guide",
    }
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "tenant {tenant}: {operation} failed with {code} (HTTP {status}): {message}; {}",
        advice(code)
    )]
    Af {
        tenant: String,
        operation: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    #[error("tenant {tenant}: {operation} failed with HTTP {status}: {body}")]
    Http {
        tenant: String,
        operation: &'static str,
        status: u16,
        body: String,
    },
    #[error("tenant {tenant}: {operation}: request failed: {message}")]
    Transport {
        tenant: String,
        operation: &'static str,
        message: String,
    },
    #[error("tenant {tenant}: {operation}: the answer could not be decoded: {message}")]
    Decode {
        tenant: String,
        operation: &'static str,
        message: String,
    },
    #[error("tenant {tenant}: {operation}: refused to follow {url}: it does not point at the configured API host {host}")]
    ForeignHost {
        tenant: String,
        operation: &'static str,
        url: String,
        host: String,
    },
    #[error("tenant {tenant}: {operation}: the answer was refused: {message}; if the API really sends this, raise the limit in [limits]")]
    LimitExceeded {
        tenant: String,
        operation: &'static str,
        message: String,
    },
    #[error("tenant {tenant}: {operation} still failing after {attempts} attempts: {last}")]
    Exhausted {
        tenant: String,
        operation: &'static str,
        attempts: u32,
        last: Box<ApiError>,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl ApiError {
    /// The AF code behind this error, if any (looking through retries).
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Af { code, .. } => Some(code),
            ApiError::Exhausted { last, .. } => last.code(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry {
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn af429_as_403_with_retry_after_is_waited_out() {
        let verdict = classify(StatusCode::FORBIDDEN, Some("AF429"), &headers(Some("7")));
        assert_eq!(verdict, Verdict::RetryAfter(Duration::from_secs(7)));
    }

    #[test]
    fn a_429_without_retry_after_backs_off() {
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, None, &headers(None)),
            Verdict::Backoff
        );
    }

    #[test]
    fn internal_errors_are_retried_and_401_refreshes() {
        assert_eq!(
            classify(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("AF50000"),
                &headers(None)
            ),
            Verdict::Backoff
        );
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, None, &headers(None)),
            Verdict::RefreshToken
        );
    }

    #[test]
    fn af20022_starts_the_subscription_and_af10001_gives_up() {
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, Some("AF20022"), &headers(None)),
            Verdict::StartSubscription
        );
        assert_eq!(
            classify(StatusCode::FORBIDDEN, Some("AF10001"), &headers(None)),
            Verdict::GiveUp
        );
    }

    #[test]
    fn retry_after_accepts_an_http_date() {
        let later = chrono::Utc::now() + chrono::Duration::seconds(30);
        let value = later.to_rfc2822();
        let wait = retry_after(&headers(Some(&value))).unwrap();
        assert!(
            wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28),
            "{wait:?}"
        );
    }
}
