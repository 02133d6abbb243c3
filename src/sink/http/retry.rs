//! What to do with an HTTP answer: the one place that maps statuses to delivered / retry / reject.
//!
//! The rule, for a whole request:
//! - 2xx: delivered (the sink may still look for per-item failures in the body).
//! - 408, 429, 5xx except 501: retry, after `Retry-After` when the answer carries one.
//! - 3xx, 401, 403, 404, 407: retry as well. These say the *configuration* is wrong (redirected URL, revoked
//!   or wrong credentials, wrong path), not the events; rejecting would dead-letter every event until someone
//!   fixes the config. Retrying keeps the pipeline's backpressure on (nothing is committed, the source replays
//!   for 7 days) and the log names the cause.
//! - 413: too large — the sink shrinks its requests; a request of one event is rejected.
//! - any other status (400, 409, 422, 501, …): rejected, with the status and an excerpt of the body.
//!
//! Per item (Elasticsearch bulk): 200/201 and 409 (already indexed) are delivered; 429 and 5xx are retried, and
//! so are 401/403/404 (a missing index privilege, or a missing index with auto-creation off: configuration
//! again); every other status is rejected with its reason.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

use crate::sink::ItemOutcome;

/// The longest `Retry-After` honoured; a larger value (or a date further away) is cut to this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Bytes of a response body kept in a rejection reason.
const EXCERPT_BYTES: usize = 512;

/// What to do with one HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Accepted.
    Success,
    /// Send again, after `retry_after` when given.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// 413: the request was too large; send fewer bytes per request.
    TooLarge { reason: String },
    /// Refused for good.
    Reject { reason: String },
}

/// An HTTP answer, body read in full.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

/// Classifies an HTTP answer to a whole request (see the module docs for the table).
pub(crate) fn classify(answer: &Answer) -> Verdict {
    let status = answer.status;
    let code = status.as_u16();
    let described = || format!("HTTP {code}: {}", excerpt(&answer.body));
    if status.is_success() {
        return Verdict::Success;
    }
    match code {
        408 | 429 | 500 | 502..=599 => Verdict::Retry {
            reason: described(),
            retry_after: retry_after(&answer.headers),
        },
        401 | 403 | 407 => Verdict::Retry {
            reason: format!(
                "{}; the credentials were refused, check the token or password configured for this sink",
                described()
            ),
            retry_after: retry_after(&answer.headers),
        },
        404 => Verdict::Retry {
            reason: format!("{}; check the sink's url", described()),
            retry_after: None,
        },
        300..=399 => Verdict::Retry {
            reason: format!(
                "HTTP {code}: redirected to {}; set the sink's url to the final address",
                answer
                    .headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("(no Location)")
            ),
            retry_after: None,
        },
        413 => Verdict::TooLarge {
            reason: described(),
        },
        _ => Verdict::Reject {
            reason: described(),
        },
    }
}

/// The verdict on a request: its answer classified, or the transport failure's retry verdict.
pub(crate) fn verdict_of(answer: &Result<Answer, Verdict>) -> Verdict {
    match answer {
        Ok(answer) => classify(answer),
        Err(verdict) => verdict.clone(),
    }
}

/// Classifies a transport failure (connect, TLS, timeout, reset): always worth a retry.
pub(crate) fn classify_transport(error: &reqwest::Error) -> Verdict {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    Verdict::Retry {
        reason: format!("{kind}: {}", error_chain(error)),
        retry_after: None,
    }
}

/// The outcome of one item of a bulk answer, from its own status.
pub(crate) fn classify_item(status: u16, reason: impl FnOnce() -> String) -> ItemOutcome {
    match status {
        200..=299 | 409 => ItemOutcome::Delivered,
        401 | 403 | 404 | 429 | 500..=599 => ItemOutcome::Retry {
            reason: format!("item status {status}: {}", reason()),
            retry_after: None,
        },
        _ => ItemOutcome::Rejected {
            reason: format!("item status {status}: {}", reason()),
        },
    }
}

/// `Retry-After` as a delay: delta-seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let delay = if let Ok(seconds) = value.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let delta = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
        delta.to_std().unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// The start of a body as text for messages: at most 512 bytes, cut on a character boundary, one line.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES + 4)]);
    let mut cut = text.len().min(EXCERPT_BYTES);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out: String = text[..cut]
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > cut {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

/// An error with its sources, for log lines and reasons.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, value.parse().unwrap());
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    fn is_retry(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Retry { .. })
    }

    #[test]
    fn throttling_and_server_errors_are_retried_but_501_is_not() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_retry(&classify(&answer(status, &[], ""))), "{status}");
        }
        assert!(matches!(
            classify(&answer(501, &[], "nope")),
            Verdict::Reject { .. }
        ));
    }

    #[test]
    fn a_bad_request_is_rejected_with_status_and_body() {
        let verdict = classify(&answer(400, &[], "{\"error\":\"mapping\"}\n"));
        assert_eq!(
            verdict,
            Verdict::Reject {
                reason: "HTTP 400: {\"error\":\"mapping\"}".into()
            }
        );
    }

    #[test]
    fn configuration_answers_are_retried_not_dead_lettered() {
        for status in [301, 302, 307, 401, 403, 404, 407] {
            assert!(is_retry(&classify(&answer(status, &[], ""))), "{status}");
        }
        assert!(matches!(
            classify(&answer(413, &[], "")),
            Verdict::TooLarge { .. }
        ));
        assert_eq!(classify(&answer(204, &[], "")), Verdict::Success);
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_capped() {
        let seconds = answer(429, &[("retry-after", "2")], "");
        assert_eq!(retry_after(&seconds.headers), Some(Duration::from_secs(2)));
        let far = answer(429, &[("retry-after", "86400")], "");
        assert_eq!(retry_after(&far.headers), Some(MAX_RETRY_AFTER));
        let date = (chrono::Utc::now() + chrono::Duration::seconds(30))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let dated = answer(503, &[("retry-after", &date)], "");
        let delay = retry_after(&dated.headers).unwrap();
        assert!(delay > Duration::from_secs(25) && delay <= Duration::from_secs(30));
        let past = answer(503, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], "");
        assert_eq!(retry_after(&past.headers), Some(Duration::ZERO));
        let junk = answer(503, &[("retry-after", "soon")], "");
        assert_eq!(retry_after(&junk.headers), None);
    }

    #[test]
    fn bulk_items_follow_their_own_status() {
        assert_eq!(classify_item(201, String::new), ItemOutcome::Delivered);
        assert_eq!(classify_item(409, String::new), ItemOutcome::Delivered);
        assert!(matches!(
            classify_item(429, String::new),
            ItemOutcome::Retry { .. }
        ));
        for status in [403, 404, 503] {
            assert!(matches!(
                classify_item(status, String::new),
                ItemOutcome::Retry { .. }
            ));
        }
        assert_eq!(
            classify_item(400, || "mapper_parsing_exception: bad".into()),
            ItemOutcome::Rejected {
                reason: "item status 400: mapper_parsing_exception: bad".into()
            }
        );
    }

    #[test]
    fn an_excerpt_is_short_single_line_and_cut_on_a_char_boundary() {
        let body = "é".repeat(600);
        let text = excerpt(body.as_bytes());
        assert!(text.len() <= EXCERPT_BYTES + '…'.len_utf8());
        assert!(text.ends_with('…'));
        assert_eq!(excerpt(b"a\nb"), "a b");
        assert_eq!(excerpt(b""), "(empty body)");
    }
}
