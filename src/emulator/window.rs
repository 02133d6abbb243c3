//! Time windows of content and notification listings: the accepted formats and the service's rules
//! (both or neither, at most 24 h, start before end, start not older than 7 days; neither = the last 24 h).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::error::ApiFault;

/// The message the service sends for an invalid window.
pub(crate) const WINDOW_MESSAGE: &str = "Start time and end time must both be specified (or both omitted) and must be less than or equal to 24 hours apart, with the start time no more than 7 days in the past.";

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS` (optionally with a fraction and a
/// trailing `Z`), as UTC.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let s = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// How the emulator writes window bounds into next-page links.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_millis() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
    }
}

/// The window `[start, end)` a listing asks for, or the error to answer.
pub(crate) fn resolve(
    start: Option<&str>,
    end: Option<&str>,
    now: DateTime<Utc>,
    code: &str,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiFault> {
    let invalid = || ApiFault::bad_request(code, WINDOW_MESSAGE);
    let (start, end) = match (start, end) {
        // "The last 24 hours", including what became available in the current millisecond.
        (None, None) => {
            let end = now + chrono::Duration::milliseconds(1);
            return Ok((end - chrono::Duration::hours(24), end));
        }
        (Some(s), Some(e)) => {
            let parse = |name: &str, v: &str| {
                parse_time(v).ok_or_else(|| {
                    ApiFault::bad_request(
                        "AF20002",
                        format!("Invalid parameter type: {name}. Expected type: DateTime (YYYY-MM-DDTHH:MM:SS)."),
                    )
                })
            };
            (parse("startTime", s)?, parse("endTime", e)?)
        }
        _ => return Err(invalid()),
    };
    if start >= end
        || end - start > chrono::Duration::hours(24)
        || start < now - chrono::Duration::days(7)
    {
        return Err(invalid());
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap()
    }

    #[test]
    fn all_documented_formats_parse_with_or_without_z() {
        assert_eq!(parse_time("2025-11-24"), Some(t(2025, 11, 24, 0, 0, 0)));
        assert_eq!(
            parse_time("2025-11-24T10:03"),
            Some(t(2025, 11, 24, 10, 3, 0))
        );
        assert_eq!(
            parse_time("2025-11-24T10:03:19"),
            Some(t(2025, 11, 24, 10, 3, 19))
        );
        assert_eq!(
            parse_time("2025-11-24T10:03:19Z"),
            Some(t(2025, 11, 24, 10, 3, 19))
        );
        assert_eq!(
            parse_time("2025-11-24T10:03:19.500Z").map(|x| x.timestamp_subsec_millis()),
            Some(500)
        );
        assert_eq!(parse_time("24/11/2025"), None);
    }

    #[test]
    fn windows_follow_the_service_rules() {
        let now = t(2025, 11, 24, 12, 0, 0);
        let ok = resolve(
            Some("2025-11-24T00:00"),
            Some("2025-11-24T12:00"),
            now,
            "AF20055",
        )
        .unwrap();
        assert_eq!(ok, (t(2025, 11, 24, 0, 0, 0), t(2025, 11, 24, 12, 0, 0)));
        let ms = chrono::Duration::milliseconds(1);
        assert_eq!(
            resolve(None, None, now, "AF20055").unwrap(),
            (t(2025, 11, 23, 12, 0, 0) + ms, now + ms)
        );
        for (s, e) in [
            (Some("2025-11-22T00:00"), Some("2025-11-23T00:00:01")), // more than 24 h
            (Some("2025-11-10"), Some("2025-11-11")),                // older than 7 days
            (Some("2025-11-24T10:00"), Some("2025-11-24T10:00")),    // start == end
            (Some("2025-11-24T10:00"), None),                        // only one bound
        ] {
            assert_eq!(
                resolve(s, e, now, "AF20055").unwrap_err().code,
                "AF20055",
                "{s:?} {e:?}"
            );
        }
        assert_eq!(
            resolve(Some("x"), Some("y"), now, "AF20055")
                .unwrap_err()
                .code,
            "AF20002"
        );
    }
}
