//! Time values as loggers write them, read from bytes without allocating.
//!
//! Two kinds of value:
//! - a date-time ([`parse_date_time`]): `YYYY-MM-DD` then `T`, `t` or a
//!   space, or `YYYY/MM/DD` then a space; `HH:MM:SS`; an optional fraction
//!   after `.` or `,` (digits past nanoseconds are dropped); an optional
//!   zone: `Z`, `±hh:mm` or `±hhmm`. Without a zone it is a civil time, read
//!   in a zone by the caller ([`super::zone`]);
//! - an epoch number ([`parse_epoch`]), integer or decimal, whose unit
//!   follows from its integer part: below 1e11 seconds, below 1e14
//!   milliseconds, below 1e17 microseconds, otherwise nanoseconds. Decimals
//!   are read exactly (no float), so `1795958139.89` is .890 s.
//!
//! Both say how many bytes they read, so callers decide what may follow
//! (a closing quote for a JSON string, anything but a digit at a line's
//! start). Fields are range-checked (month, day of that month, hour,
//! minute; a leap second `:60` is the next minute's start); a value that
//! does not fit in [`super::Stamp`] (years before 1678 or after 2261) is
//! no value.

/// A date-time as written: seconds of its civil time counted as if it were
/// UTC, its fraction, and its zone offset if it names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Civil seconds since 1970-01-01T00:00:00 (of the civil calendar, not
    /// an instant until a zone is applied).
    pub civil_seconds: i64,
    /// Nanoseconds past the second.
    pub nanos: u32,
    /// The offset from UTC in seconds, when the value names one.
    pub offset: Option<i32>,
}

/// Length of a date-time's head, `YYYY-MM-DDTHH:MM:SS`.
const HEAD_LEN: usize = 19;

/// Reads a date-time at the start of `text`: the value and how many bytes
/// it took. A digit or `:` right after it makes it no value (a longer
/// number, a time with more fields).
pub fn parse_date_time(text: &[u8]) -> Option<(DateTime, usize)> {
    parse_rest(text, parse_head(text)?)
}

/// The civil seconds of the head `YYYY-MM-DDTHH:MM:SS` (or its variants)
/// at the start of `text`.
fn parse_head(text: &[u8]) -> Option<i64> {
    Some(parse_minute(text)? + parse_second(text)?)
}

/// Length of a head's minute, `YYYY-MM-DDTHH:MM`: the part
/// [`HeadCache`] keys on.
const MINUTE_LEN: usize = 16;

/// The civil seconds of the minute `YYYY-MM-DDTHH:MM` (or its variants)
/// at the start of `text`: every check of a head but those of its seconds.
fn parse_minute(text: &[u8]) -> Option<i64> {
    let year = digits(text, 0, 4)?;
    let separator = *text.get(4)?;
    if !matches!(separator, b'-' | b'/') || text.get(7) != Some(&separator) {
        return None;
    }
    let month = digits(text, 5, 2)?;
    let day = digits(text, 8, 2)?;
    let between = *text.get(10)?;
    let between_ok = match separator {
        b'-' => matches!(between, b'T' | b't' | b' '),
        _ => between == b' ',
    };
    if !between_ok || text.get(13) != Some(&b':') {
        return None;
    }
    let hour = digits(text, 11, 2)?;
    let minute = digits(text, 14, 2)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
    {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    Some(days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60)
}

/// The `:SS` that ends a head (`:60`, a leap second, included).
fn parse_second(text: &[u8]) -> Option<i64> {
    match text.get(MINUTE_LEN..HEAD_LEN)? {
        [b':', tens @ b'0'..=b'6', ones @ b'0'..=b'9'] => {
            let second = i64::from(tens - b'0') * 10 + i64::from(ones - b'0');
            (second <= 60).then_some(second)
        }
        _ => None,
    }
}

/// The fraction and zone after a head worth `civil_seconds`.
fn parse_rest(text: &[u8], civil_seconds: i64) -> Option<(DateTime, usize)> {
    let mut pos = HEAD_LEN;
    let mut nanos = 0u32;
    if matches!(text.get(pos), Some(b'.' | b','))
        && text.get(pos + 1).is_some_and(u8::is_ascii_digit)
    {
        pos += 1;
        let mut scale = 100_000_000u32;
        while let Some(&digit) = text.get(pos).filter(|b| b.is_ascii_digit()) {
            nanos += u32::from(digit - b'0') * scale;
            scale /= 10;
            pos += 1;
        }
    }
    let offset = match text.get(pos) {
        Some(b'Z' | b'z') => {
            pos += 1;
            Some(0)
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hours = digits(text, pos + 1, 2)?;
            let (minutes, width) = if text.get(pos + 3) == Some(&b':') {
                (digits(text, pos + 4, 2)?, 6)
            } else {
                (digits(text, pos + 3, 2)?, 5)
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            pos += width;
            let seconds = (hours * 3600 + minutes * 60) as i32;
            Some(if sign == b'-' { -seconds } else { seconds })
        }
        _ => None,
    };
    if matches!(text.get(pos), Some(b'0'..=b'9' | b':')) {
        return None;
    }
    Some((
        DateTime {
            civil_seconds,
            nanos,
            offset,
        },
        pos,
    ))
}

/// The last few minutes read and their civil seconds: records of a stream
/// follow each other within seconds, so most heads share a minute with an
/// earlier one and skip the date arithmetic ([`HeadCache::parse`]). Several
/// minutes, because one stream mixes styles (UTC and local, `T` and a
/// space, `-` and `/`) whose minutes are written differently.
#[derive(Debug, Clone, Default)]
pub struct HeadCache {
    /// A minute's bytes and its civil seconds; `None` until filled.
    minutes: [Option<([u8; MINUTE_LEN], i64)>; MINUTE_SLOTS],
    /// The slot the next new minute replaces.
    next_slot: usize,
}

/// Minutes a [`HeadCache`] remembers.
const MINUTE_SLOTS: usize = 4;

impl HeadCache {
    /// [`parse_date_time`], reusing a remembered minute when `text` starts
    /// with the same bytes.
    pub fn parse(&mut self, text: &[u8]) -> Option<(DateTime, usize)> {
        let minute_bytes = text.get(..MINUTE_LEN)?;
        let remembered = self
            .minutes
            .iter()
            .flatten()
            .find(|(bytes, _)| bytes.as_slice() == minute_bytes)
            .map(|&(_, civil)| civil);
        let minute = match remembered {
            Some(civil) => civil,
            None => {
                let civil = parse_minute(text)?;
                let mut bytes = [0u8; MINUTE_LEN];
                bytes.copy_from_slice(minute_bytes);
                self.minutes[self.next_slot] = Some((bytes, civil));
                self.next_slot = (self.next_slot + 1) % MINUTE_SLOTS;
                civil
            }
        };
        parse_rest(text, minute + parse_second(text)?)
    }
}

/// Reads an epoch number at the start of `text`: nanoseconds since the
/// epoch and how many bytes it took. A digit, `.`, `e`, `E` or `-` right
/// after it makes it no value (an exponent, a negative number or a second
/// dot is not a logger's epoch).
pub fn parse_epoch(text: &[u8]) -> Option<(i64, usize)> {
    // 20 digits hold any u64; more is no epoch.
    const MAX_DIGITS: usize = 20;
    let whole_len = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if whole_len == 0 || whole_len > MAX_DIGITS {
        return None;
    }
    // Checked u64 arithmetic: whatever overflows it is past i64 too.
    let whole = text[..whole_len].iter().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })?;
    let mut pos = whole_len;
    let mut fraction: &[u8] = &[];
    if text.get(pos) == Some(&b'.') {
        let len = text[pos + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len == 0 {
            return None;
        }
        fraction = &text[pos + 1..pos + 1 + len];
        pos += 1 + len;
    }
    if matches!(text.get(pos), Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'-')) {
        return None;
    }
    // Nanoseconds per unit, and so how many fraction digits count.
    let (per_unit, fraction_digits): (u64, u32) = if whole < 100_000_000_000 {
        (1_000_000_000, 9)
    } else if whole < 100_000_000_000_000 {
        (1_000_000, 6)
    } else if whole < 100_000_000_000_000_000 {
        (1_000, 3)
    } else {
        (1, 0)
    };
    let mut part = 0u64;
    let mut scale = per_unit / 10;
    for &digit in fraction.iter().take(fraction_digits as usize) {
        part += u64::from(digit - b'0') * scale;
        scale /= 10;
    }
    let nanos = whole.checked_mul(per_unit)?.checked_add(part)?;
    Some((i64::try_from(nanos).ok()?, pos))
}

/// The value of `len` ASCII digits at `at`.
fn digits(text: &[u8], at: usize, len: usize) -> Option<u32> {
    text.get(at..at + len)?.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Civil seconds of a date and time, from independently known epoch
    /// values (`date -u -d … +%s`).
    const NOV_29_2026_131522: i64 = 1_795_958_122;

    fn read(text: &str) -> Option<(DateTime, usize)> {
        parse_date_time(text.as_bytes())
    }

    #[test]
    fn rfc3339_with_z_and_nanoseconds() {
        let (value, len) = read("2026-11-29T13:15:22.123456789Z").unwrap();
        assert_eq!(value.civil_seconds, NOV_29_2026_131522);
        assert_eq!(value.nanos, 123_456_789);
        assert_eq!(value.offset, Some(0));
        assert_eq!(len, 30);
    }

    #[test]
    fn offsets_with_and_without_a_colon() {
        let (with_colon, _) = read("2026-11-29T13:15:22+01:00").unwrap();
        let (without, _) = read("2026-11-29T13:15:22-0530").unwrap();
        assert_eq!(with_colon.offset, Some(3600));
        assert_eq!(without.offset, Some(-(5 * 3600 + 30 * 60)));
    }

    #[test]
    fn python_asctime_has_a_comma_and_no_zone() {
        let (value, len) = read("2026-11-29 13:15:22,697").unwrap();
        assert_eq!(value.civil_seconds, NOV_29_2026_131522);
        assert_eq!(value.nanos, 697_000_000);
        assert_eq!(value.offset, None);
        assert_eq!(len, 23);
    }

    #[test]
    fn go_log_uses_slashes() {
        let (value, len) = read("2026/11/29 13:15:22 app.go:12: boom").unwrap();
        assert_eq!(value.civil_seconds, NOV_29_2026_131522);
        assert_eq!((value.nanos, value.offset, len), (0, None, 19));
    }

    #[test]
    fn a_fraction_past_nanoseconds_is_dropped() {
        let (value, _) = read("2026-11-29T13:15:22.1234567891234Z").unwrap();
        assert_eq!(value.nanos, 123_456_789);
    }

    #[test]
    fn impossible_fields_are_no_value() {
        for text in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-31 00:00:00",
            "2026-11-29T24:00:00Z",
            "2026-11-29T13:60:00Z",
            "2026-11-29T13:15:22+24:00",
            "2026/11/29T13:15:22",
            "2026-11/29 13:15:22",
            "2026-11-29T13:15",
            "2026-11-29T13:15:22:01",
            "2026-11-29T13:15:221",
        ] {
            assert!(read(text).is_none(), "{text} should not parse");
        }
        // A dot with no digit after the seconds is not a fraction; the
        // value ends before it.
        assert_eq!(read("2026-11-29T13:15:22.").unwrap().1, 19);
        assert_eq!(read("2024-02-29T00:00:00Z").unwrap().0.offset, Some(0));
    }

    #[test]
    fn epoch_units_follow_the_magnitude() {
        let seconds = 1_795_958_139i64;
        assert_eq!(
            parse_epoch(b"1795958139.89,").unwrap(),
            (seconds * 1_000_000_000 + 890_000_000, 13)
        );
        assert_eq!(
            parse_epoch(b"1795958135062}").unwrap(),
            (1_795_958_135_062_000_000, 13)
        );
        assert_eq!(
            parse_epoch(b"1795958135062123").unwrap().0,
            1_795_958_135_062_123_000
        );
        assert_eq!(
            parse_epoch(b"1795958135062123456").unwrap().0,
            1_795_958_135_062_123_456
        );
        // Seconds just below 1e11 are past 2262, which a Stamp cannot hold.
        assert_eq!(parse_epoch(b"99999999999"), None);
        assert_eq!(
            parse_epoch(b"9000000000").unwrap().0,
            9_000_000_000_000_000_000
        );
        assert_eq!(
            parse_epoch(b"100000000000").unwrap().0,
            100_000_000_000_000_000
        );
    }

    #[test]
    fn epoch_lookalikes_are_no_value() {
        for text in [
            "",
            "-1795958139",
            "1.7959e9",
            "1795958139.",
            "1795958139.5.5",
            "x",
        ] {
            assert!(parse_epoch(text.as_bytes()).is_none(), "{text}");
        }
        assert!(parse_epoch(b"99999999999999999999").is_none());
    }

    proptest::proptest! {
        /// The cache gives what a fresh parse gives, whatever came before.
        #[test]
        fn a_cached_head_reads_like_a_fresh_one(
            texts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("2026-11-29T13:15:22Z".to_string()),
                    proptest::strategy::Just("2026-11-29T13:15:22.5+01:00".to_string()),
                    proptest::strategy::Just("2026-11-29 13:15:22,697".to_string()),
                    proptest::strategy::Just("2026-11-29T13:15:221".to_string()),
                    proptest::strategy::Just("2026/11/29 13:15:22".to_string()),
                    "20[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-6][0-9]:[0-6][0-9]([.,][0-9]{1,9})?(Z|[+-][0-2][0-9]:?[0-5][0-9])?[ 0-9:]?",
                ],
                1..20,
            )
        ) {
            let mut cache = HeadCache::default();
            for text in texts {
                proptest::prop_assert_eq!(
                    cache.parse(text.as_bytes()),
                    parse_date_time(text.as_bytes()),
                    "{}", text
                );
            }
        }
    }

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2026, 11, 29), NOV_29_2026_131522 / 86_400);
    }
}
