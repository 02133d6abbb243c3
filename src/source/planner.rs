//! Which time windows a stream lists: ≤24 h each, never older than the API's 7 days.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// The longest window the API accepts.
pub const MAX_WINDOW: Duration = Duration::hours(24);

/// The oldest start time used: 7 days minus a margin for clock differences and request latency.
pub fn oldest_start(now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::days(7) + Duration::minutes(10)
}

/// A `[start, end)` listing window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// The windows to list, oldest first: from the checkpoint (or `backfill` ago for a new stream), moved back
/// by `relist` to catch late blobs, clamped to the retention, up to `now`; whole seconds only.
pub fn plan_windows(
    checkpoint: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    relist: std::time::Duration,
    backfill: std::time::Duration,
) -> Vec<Window> {
    let to_chrono =
        |span: std::time::Duration| Duration::from_std(span).unwrap_or(Duration::days(7));
    let second = Duration::seconds(1);
    let now = now.duration_trunc(second).unwrap_or(now);
    let from = match checkpoint {
        Some(checkpoint) => checkpoint.min(now - to_chrono(relist)),
        None => now - to_chrono(backfill),
    };
    let oldest = oldest_start(now).duration_trunc(second).unwrap_or(now);
    let mut start = from.max(oldest).duration_trunc(second).unwrap_or(from);
    let mut windows = Vec::new();
    while start < now {
        let end = (start + MAX_WINDOW).min(now);
        windows.push(Window { start, end });
        start = end;
    }
    debug_assert!(windows
        .iter()
        .all(|w| w.end - w.start <= MAX_WINDOW && w.start >= oldest));
    windows
}

/// `[since, until)` cut into windows of at most 24 h (for replays of a fixed past span).
pub fn split_span(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Window> {
    let second = Duration::seconds(1);
    let mut start = since.duration_trunc(second).unwrap_or(since);
    let until = until.duration_trunc(second).unwrap_or(until);
    let mut windows = Vec::new();
    while start < until {
        let end = (start + MAX_WINDOW).min(until);
        windows.push(Window { start, end });
        start = end;
    }
    windows
}

/// How long from `at` until just after (5 to 55 ms past) a whole second; zero when `at` is already there.
/// Windows end on whole seconds (the API takes no fractions), so the part of a second before a list is
/// left to the next cycle; a list just after a whole second leaves next to nothing. The 50 ms of slack
/// absorb the jitter of converting between the monotonic clock and the API's (without it, a target a few
/// microseconds past the mark waited a whole second more).
pub fn until_just_after_a_second(at: DateTime<Utc>) -> std::time::Duration {
    const MARGIN: std::time::Duration = std::time::Duration::from_millis(5);
    const SLACK_NANOS: u32 = 50_000_000;
    let past_margin = at - Duration::from_std(MARGIN).unwrap_or_default();
    match past_margin.timestamp_subsec_nanos() {
        nanos if nanos < SLACK_NANOS => std::time::Duration::ZERO,
        // A leap second's nanoseconds run past 1e9: the next whole second is a moment away.
        nanos => std::time::Duration::from_nanos(1_000_000_000u64.saturating_sub(u64::from(nanos))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const HOUR: StdDuration = StdDuration::from_secs(3600);

    #[test]
    fn a_new_stream_backfills_in_windows_of_at_most_a_day() {
        let now = at("2025-11-24T10:00:00.5Z");
        let windows = plan_windows(None, now, 12 * HOUR, 30 * HOUR);
        assert_eq!(windows.len(), 2);
        assert_eq!(windows[0].start, at("2025-11-23T04:00:00Z"));
        assert_eq!(windows[0].end, at("2025-11-24T04:00:00Z"));
        assert_eq!(windows[1].end, at("2025-11-24T10:00:00Z"));
    }

    #[test]
    fn windows_never_start_more_than_seven_days_back() {
        let now = at("2025-11-24T10:00:00Z");
        let windows = plan_windows(Some(at("2025-11-01T00:00:00Z")), now, 12 * HOUR, HOUR);
        assert!(windows[0].start >= now - Duration::days(7));
        assert!(windows.iter().all(|w| w.end - w.start <= MAX_WINDOW));
        assert_eq!(windows.last().unwrap().end, now);
    }

    #[test]
    fn a_replay_span_is_cut_into_days() {
        let windows = split_span(at("2025-11-20T00:00:00Z"), at("2025-11-22T06:00:00Z"));
        assert_eq!(windows.len(), 3);
        assert_eq!(
            windows[2],
            Window {
                start: at("2025-11-22T00:00:00Z"),
                end: at("2025-11-22T06:00:00Z")
            }
        );
    }

    #[test]
    fn a_recent_checkpoint_still_relists_the_relist_span() {
        let now = at("2025-11-24T10:00:00Z");
        let windows = plan_windows(Some(at("2025-11-24T09:59:00Z")), now, 12 * HOUR, HOUR);
        assert_eq!(windows[0].start, at("2025-11-23T22:00:00Z"));
    }

    #[test]
    fn cycles_are_moved_to_just_after_a_whole_second() {
        let wait = |text: &str| until_just_after_a_second(at(text));
        let ms = StdDuration::from_millis;
        assert_eq!(wait("2025-11-24T10:00:00.005Z"), ms(0));
        assert_eq!(wait("2025-11-24T10:00:00.054Z"), ms(0), "within the slack");
        assert_eq!(
            wait("2025-11-24T10:00:00.005001Z"),
            ms(0),
            "jitter past the mark"
        );
        assert_eq!(wait("2025-11-24T10:00:00.004Z"), ms(1));
        assert_eq!(wait("2025-11-24T10:00:00.000Z"), ms(5));
        assert_eq!(wait("2025-11-24T10:00:00.056Z"), ms(949));
        assert_eq!(wait("2025-11-24T10:00:00.750Z"), ms(255));
    }
}
