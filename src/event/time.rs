//! Audit record timestamps: parsed in every form seen on the wire, written as RFC 3339 UTC.
//!
//! `CreationTime` is usually `2025-11-24T10:03:19` (UTC, no zone, no fraction); other fields and other
//! collectors add a fraction of up to 7 digits, a `Z` or an offset, and AIR entities use the US form
//! `10/31/2024 1:31:54 PM`. A value without a zone is UTC. The year-1 placeholder (`0001-01-01T00:00:00`) that AIR
//! uses for "not yet" parses, and [`Timestamp::is_placeholder`] tells it apart.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use serde::de::MapAccess;

/// A time field: the text as sent and, when it parses, the instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// The value as it appeared in the record.
    pub raw: String,
    /// The instant, in UTC; `None` when the text is not a date-time.
    pub at: Option<DateTime<Utc>>,
}

impl Timestamp {
    /// Parses `raw`, keeping it.
    pub fn new(raw: String) -> Timestamp {
        let at = parse(&raw);
        Timestamp { raw, at }
    }

    /// The instant, unless it is absent or the year-1 "not set" placeholder.
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        self.at.filter(|at| at.year() > 1)
    }

    /// True for the `0001-01-01T00:00:00` placeholder AIR writes for "not yet".
    pub fn is_placeholder(&self) -> bool {
        self.at.is_some_and(|at| at.year() <= 1)
    }
}

/// Reads the next value as an optional timestamp.
pub(crate) fn timestamp<'de, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<Timestamp>, A::Error> {
    Ok(super::decode::text(map)?
        .filter(|s| !s.is_empty())
        .map(Timestamp::new))
}

/// Parses a record timestamp in any of the forms seen on the wire; zone-less values are UTC. Only years
/// 0000–9999 count (RFC 3339's range): anything else (a negative year from the US form, or an offset
/// pushing year 0 below it) is not a time any output format could carry (found by fuzzing).
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    parse_iso(text.as_bytes())
        .or_else(|| parse_other(text))
        .filter(|time| (0..=9999).contains(&time.year()))
}

/// The fast path: `YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH:MM|±HHMM]`.
fn parse_iso(b: &[u8]) -> Option<DateTime<Utc>> {
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(num(0..4)?).ok()?, num(5..7)?, num(8..10)?)?;
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some((b'.', tail)) = rest.split_first() {
        let digits = tail.iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        for (i, d) in tail[..digits].iter().enumerate() {
            if i < 9 {
                nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
            }
        }
        rest = &tail[digits..];
    }
    let offset_secs: i64 = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from((a - b'0') * 10 + (b - b'0')))
            };
            let secs = two(*h1, *h2)? * 3600 + two(*m1, *m2)? * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let naive = date.and_hms_nano_opt(hour, minute, second, nanos)?;
    let utc = Utc.from_utc_datetime(&naive);
    utc.checked_sub_signed(chrono::TimeDelta::seconds(offset_secs))
}

/// The slow path: the US form used inside AIR entities.
fn parse_other(text: &str) -> Option<DateTime<Utc>> {
    ["%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(text, fmt).ok())
        .map(|naive| Utc.from_utc_datetime(&naive))
}

/// Writes an instant as RFC 3339 UTC (`2022-07-08T09:10:19Z`, fraction in 3, 6 or 9 digits only when present).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub DateTime<Utc>);

impl Rfc3339 {
    /// The text, written into `buf` without the formatting machinery; `None` for a year outside 0–9999
    /// (which [`Display`](fmt::Display) writes, differently padded).
    pub(crate) fn format<'b>(&self, buf: &'b mut [u8; 32]) -> Option<&'b str> {
        // The UTC fields once: each accessor of a `DateTime` converts it to local time first.
        let t = self.0.naive_utc();
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut len = 0;
        // `n` in `digits` digits (zero-padded), then `sep`: last digit first, by constant divisions.
        let mut put = |n: u32, digits: usize, sep: u8| {
            let mut rest = n;
            for at in (len..len + digits).rev() {
                if let Some(slot) = buf.get_mut(at) {
                    // A digit: the remainder is below 10.
                    *slot = b'0' + (rest % 10) as u8;
                }
                rest /= 10;
            }
            len += digits;
            if let Some(slot) = buf.get_mut(len) {
                *slot = sep;
            }
            len += 1;
        };
        // Leap seconds show as nanoseconds above 10^9; they are written as the 59th second's fraction.
        let fraction = match t.nanosecond() % 1_000_000_000 {
            0 => None,
            n if n % 1_000_000 == 0 => Some((n / 1_000_000, 3)),
            n if n % 1_000 == 0 => Some((n / 1_000, 6)),
            n => Some((n, 9)),
        };
        put(year, 4, b'-');
        put(t.month(), 2, b'-');
        put(t.day(), 2, b'T');
        put(t.hour(), 2, b':');
        put(t.minute(), 2, b':');
        match fraction {
            None => put(t.second(), 2, b'Z'),
            Some((n, digits)) => {
                put(t.second(), 2, b'.');
                put(n, digits, b'Z');
            }
        }
        std::str::from_utf8(buf.get(..len)?).ok()
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = self.format(&mut [0; 32]) {
            return f.write_str(text);
        }
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        // Leap seconds show as nanoseconds above 10^9; they are written as the 59th second's fraction.
        let nanos = t.nanosecond() % 1_000_000_000;
        match nanos {
            0 => {}
            n if n % 1_000_000 == 0 => write!(f, ".{:03}", n / 1_000_000)?,
            n if n % 1_000 == 0 => write!(f, ".{:06}", n / 1_000)?,
            n => write!(f, ".{n:09}")?,
        }
        f.write_str("Z")
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.format(&mut [0; 32]) {
            Some(text) => serializer.serialize_str(text),
            None => serializer.collect_str(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(text: &str) -> String {
        match parse(text) {
            Some(at) => Rfc3339(at).to_string(),
            None => format!("unparsed: {text}"),
        }
    }

    #[test]
    fn the_fast_text_is_what_the_formatter_writes() {
        for (secs, nanos) in [
            (0, 0),
            (1_657_271_419, 0),
            (1_657_271_419, 103_000_000),
            (1_657_271_419, 103_002_000),
            (1_657_271_419, 103_002_200),
            (1_657_271_419, 1),
            (253_402_300_799, 999_999_999),
            (-62_135_596_800, 0),
        ] {
            let Some(at) = Utc.timestamp_opt(secs, nanos).single() else {
                panic!("{secs}.{nanos}");
            };
            // chrono's own RFC 3339 writer, with as many fraction digits as needed (0, 3, 6 or 9): the
            // same text, from code this module does not share.
            let chrono_text = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            let fast = Rfc3339(at).to_string();
            assert_eq!(fast, chrono_text);
            assert_eq!(
                serde_json::to_string(&Rfc3339(at)).ok(),
                Some(format!("\"{fast}\""))
            );
        }
        let leap = Utc.timestamp_opt(1_483_228_799, 1_500_000_000).single();
        assert_eq!(
            leap.map(|t| Rfc3339(t).to_string()).as_deref(),
            Some("2016-12-31T23:59:59.500Z")
        );
    }

    proptest::proptest! {
        #[test]
        fn the_fast_text_is_chronos_for_any_instant(
            secs in -62_135_596_800i64..=253_402_300_799,
            nanos in 0u32..1_000_000_000,
            rounding in 0usize..4,
        ) {
            // Whole seconds, milli- and microseconds as often as any nanosecond.
            let nanos = nanos - nanos % [1_000_000_000, 1_000_000, 1_000, 1][rounding];
            let at = Utc.timestamp_opt(secs, nanos).single();
            proptest::prop_assert!(at.is_some());
            if let Some(at) = at {
                let mut buf = [0; 32];
                let chrono_text = at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                proptest::prop_assert_eq!(Rfc3339(at).format(&mut buf), Some(chrono_text.as_str()));
            }
        }
    }

    #[test]
    fn creation_time_without_zone_is_utc() {
        assert_eq!(rfc("2022-07-08T09:10:19"), "2022-07-08T09:10:19Z");
    }

    #[test]
    fn zone_and_fraction_are_both_accepted() {
        assert_eq!(rfc("2022-07-08T09:10:19Z"), "2022-07-08T09:10:19Z");
        assert_eq!(
            rfc("2024-10-31T15:28:45.1030022Z"),
            "2024-10-31T15:28:45.103002200Z"
        );
        assert_eq!(rfc("2023-12-31T23:59:59.00Z"), "2023-12-31T23:59:59Z");
        assert_eq!(rfc("2023-11-21T12:21:01.367Z"), "2023-11-21T12:21:01.367Z");
        assert_eq!(
            rfc("2026-04-14T09:33:26.3168632+00:00"),
            "2026-04-14T09:33:26.316863200Z"
        );
        assert_eq!(rfc("2022-07-08T11:10:19+02:00"), "2022-07-08T09:10:19Z");
        assert_eq!(rfc("2022-07-08 09:10:19.5"), "2022-07-08T09:10:19.500Z");
    }

    #[test]
    fn the_us_form_inside_air_entities_parses() {
        assert_eq!(rfc("10/31/2024 1:31:54 PM"), "2024-10-31T13:31:54Z");
    }

    #[test]
    fn garbage_does_not_parse() {
        for bad in [
            "",
            "yesterday",
            "2022-13-08T09:10:19",
            "2022-07-08T09:10:19+",
            "2022-07-08T09:10:19.",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_year_one_placeholder_is_not_an_instant() {
        let ts = Timestamp::new("0001-01-01T00:00:00".into());
        assert!(ts.is_placeholder());
        assert_eq!(ts.instant(), None);
    }
}
