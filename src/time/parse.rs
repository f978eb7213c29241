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
        (nanos, pos) = read_fraction(text, pos + 1);
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

/// The nanoseconds of the fraction whose digits start at `first` (the
/// first nine digits count; later ones are dropped, but read), and where
/// its digits end.
fn read_fraction(text: &[u8], first: usize) -> (u32, usize) {
    let Some(&word) = text
        .get(first..first + 8)
        .and_then(|bytes| <&[u8; 8]>::try_from(bytes).ok())
    else {
        return read_fraction_bytewise(text, first);
    };
    // Eight bytes at once: the digits' values, and how many lead.
    let values = u64::from_le_bytes(word).wrapping_sub(0x3030_3030_3030_3030);
    // A byte's top bit is set when its value is no digit (10 or more, or
    // below '0'); borrows and carries run only from a byte to the later
    // ones, past the first non-digit, so the leading run is exact.
    let no_digit = (values | values.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080;
    let leading = (no_digit.trailing_zeros() / 8) as usize;
    if leading < 8 {
        // The leading digits moved to the top bytes: zeros before them
        // are leading zeros of their value.
        let digits = values & ((1u64 << (8 * leading)) - 1);
        let value = eight_digit_value(digits.checked_shl(8 * (8 - leading) as u32).unwrap_or(0));
        return (value * POWERS_OF_TEN[9 - leading], first + leading);
    }
    let mut nanos = eight_digit_value(values) * 10;
    let mut pos = first + 8;
    if let Some(&ninth) = text.get(pos).filter(|b| b.is_ascii_digit()) {
        nanos += u32::from(ninth - b'0');
        pos += 1;
    }
    while text.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    (nanos, pos)
}

/// [`read_fraction`] byte by byte, when fewer than 8 bytes are left.
fn read_fraction_bytewise(text: &[u8], first: usize) -> (u32, usize) {
    let mut nanos = 0u32;
    let mut pos = first;
    while let Some(&digit) = text.get(pos).filter(|b| b.is_ascii_digit()) {
        if pos - first < 9 {
            nanos = nanos * 10 + u32::from(digit - b'0');
        }
        pos += 1;
    }
    (nanos * POWERS_OF_TEN[9 - (pos - first).min(9)], pos)
}

/// The number written by eight digit values (0 to 9), one per byte, the
/// first (lowest) byte the most significant: three multiplications
/// instead of eight steps (Lemire's SWAR parse).
fn eight_digit_value(values: u64) -> u32 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let pairs = values.wrapping_mul(10).wrapping_add(values >> 8);
    let value = ((pairs & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((pairs >> 16) & MASK).wrapping_mul(MUL2)))
        >> 32;
    value as u32
}

/// `10^i` for the nine digits of a nanosecond fraction.
const POWERS_OF_TEN: [u32; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// The last few minutes read and their civil seconds: records of a stream
/// follow each other within seconds, so most heads share a minute with an
/// earlier one and skip the date arithmetic ([`HeadCache::parse`]). Several
/// minutes, because one stream mixes styles (UTC and local, `T` and a
/// space, `-` and `/`) whose minutes are written differently.
#[derive(Debug, Clone, Default)]
pub struct HeadCache {
    /// A minute's 16 bytes, read as one number (one comparison instead of
    /// a `memcmp` call per slot), and its civil seconds; only the first
    /// `filled` slots hold one.
    minutes: [(u128, i64); MINUTE_SLOTS],
    /// How many slots hold a minute.
    filled: usize,
    /// The slot the next new minute replaces.
    next_slot: usize,
}

/// Minutes a [`HeadCache`] remembers.
const MINUTE_SLOTS: usize = 4;

impl HeadCache {
    /// [`parse_date_time`], reusing a remembered minute when `text` starts
    /// with the same bytes.
    pub fn parse(&mut self, text: &[u8]) -> Option<(DateTime, usize)> {
        let minute_bytes: [u8; MINUTE_LEN] = text.get(..MINUTE_LEN)?.try_into().ok()?;
        let key = u128::from_le_bytes(minute_bytes);
        let remembered = self.minutes[..self.filled.min(MINUTE_SLOTS)]
            .iter()
            .find(|&&(bytes, _)| bytes == key)
            .map(|&(_, civil)| civil);
        let minute = match remembered {
            Some(civil) => civil,
            None => self.remember(text, key)?,
        };
        parse_rest(text, minute + parse_second(text)?)
    }

    /// The minute at the start of `text`, whose bytes read as `key`,
    /// parsed and remembered. Apart, and cold: inlined, its loads were
    /// done ahead on every hit.
    #[cold]
    #[inline(never)]
    fn remember(&mut self, text: &[u8], key: u128) -> Option<i64> {
        let civil = parse_minute(text)?;
        self.minutes[self.next_slot] = (key, civil);
        self.filled = (self.filled + 1).min(MINUTE_SLOTS);
        self.next_slot = (self.next_slot + 1) % MINUTE_SLOTS;
        Some(civil)
    }
}

/// Reads an epoch number at the start of `text`: nanoseconds since the
/// epoch and how many bytes it took. A digit, `.`, `e`, `E` or `-` right
/// after it makes it no value (an exponent, a negative number or a second
/// dot is not a logger's epoch).
pub fn parse_epoch(text: &[u8]) -> Option<(i64, usize)> {
    // Nineteen digits fit in a u64 whatever they are; the twentieth needs
    // checked arithmetic (whatever overflows u64 is past i64 too), and a
    // twenty-first makes no epoch.
    const UNCHECKED_DIGITS: usize = 19;
    let mut whole = 0u64;
    let mut whole_len = 0;
    while let Some(&digit) = text.get(whole_len).filter(|b| b.is_ascii_digit()) {
        let digit = u64::from(digit - b'0');
        whole = match whole_len {
            0..UNCHECKED_DIGITS => whole * 10 + digit,
            UNCHECKED_DIGITS => whole.checked_mul(10)?.checked_add(digit)?,
            _ => return None,
        };
        whole_len += 1;
    }
    if whole_len == 0 {
        return None;
    }
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
    // Nanoseconds per unit (10 to the power of how many fraction digits
    // count).
    let fraction_digits: usize = if whole < 100_000_000_000 {
        9
    } else if whole < 100_000_000_000_000 {
        6
    } else if whole < 100_000_000_000_000_000 {
        3
    } else {
        0
    };
    let per_unit = u64::from(POWERS_OF_TEN[fraction_digits]);
    let counted = &fraction[..fraction.len().min(fraction_digits)];
    let part = counted
        .iter()
        .fold(0u64, |part, &digit| part * 10 + u64::from(digit - b'0'))
        * u64::from(POWERS_OF_TEN[fraction_digits - counted.len()]);
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
    fn epoch_digits_at_the_edges_of_u64_and_i64() {
        // 19 digits, the most read unchecked: nanoseconds as they are.
        assert_eq!(parse_epoch(b"9223372036854775807").unwrap(), (i64::MAX, 19));
        // One past i64 still fits in u64, but not in a Stamp.
        assert_eq!(parse_epoch(b"9223372036854775808"), None);
        // 20 digits: u64::MAX reads (and is past i64), one more overflows.
        assert_eq!(parse_epoch(b"18446744073709551615"), None);
        assert_eq!(parse_epoch(b"18446744073709551616"), None);
        // 20 digits that fit in i64 once read: leading zeros.
        assert_eq!(
            parse_epoch(b"00000000001795958122").unwrap(),
            (1_795_958_122_000_000_000, 20)
        );
        // 21 digits are no epoch, even with leading zeros.
        assert_eq!(parse_epoch(b"000000000001795958122"), None);
    }

    #[test]
    fn epoch_fractions_keep_the_digits_their_unit_has() {
        // Seconds keep 9 digits, milliseconds 6, microseconds 3.
        assert_eq!(
            parse_epoch(b"1795958122.1234567891").unwrap(),
            (1_795_958_122_123_456_789, 21)
        );
        assert_eq!(
            parse_epoch(b"1795958122062.1234567").unwrap().0,
            1_795_958_122_062_123_456
        );
        assert_eq!(
            parse_epoch(b"1795958122062123.45").unwrap().0,
            1_795_958_122_062_123_450
        );
        assert_eq!(
            parse_epoch(b"1795958122062123456.9").unwrap(),
            (1_795_958_122_062_123_456, 21)
        );
        assert_eq!(
            parse_epoch(b"1795958122.05").unwrap().0,
            1_795_958_122_050_000_000
        );
    }

    #[test]
    fn fractions_of_every_length_up_to_nanoseconds_and_past() {
        let expected = [
            100_000_000,
            120_000_000,
            123_000_000,
            123_400_000,
            123_450_000,
            123_456_000,
            123_456_700,
            123_456_780,
            123_456_789,
            123_456_789,
            123_456_789,
        ];
        let digits = "12345678900";
        for (len, nanos) in (1..=11).zip(expected) {
            let text = format!("2026-11-29T13:15:22.{}Z", &digits[..len]);
            let (value, read) = read(&text).unwrap();
            assert_eq!((value.nanos, read), (nanos, 21 + len), "{text}");
        }
        // A fraction of zeros, and one with a leading zero.
        assert_eq!(read("2026-11-29T13:15:22.000000000").unwrap().0.nanos, 0);
        assert_eq!(read("2026-11-29T13:15:22,05").unwrap().0.nanos, 50_000_000);
    }

    /// Every fraction length from 1 to 12 digits, followed by every kind
    /// of byte a value may end with (below `0`, above `9`, the end): the
    /// 8-byte read against a reference that pads or cuts the digits to
    /// nine.
    #[test]
    fn fractions_read_eight_bytes_at_a_time_match_a_digit_by_digit_reference() {
        let digits = "907654321098";
        for len in 1..=12 {
            let fraction = &digits[..len];
            let nine: String = fraction
                .chars()
                .chain(std::iter::repeat('0'))
                .take(9)
                .collect();
            let nanos: u32 = nine.parse().unwrap();
            for tail in ["", "Z", "+01:00", "\"", " x", "/", ";", "}", "z"] {
                let text = format!("2026-11-29T13:15:22.{fraction}{tail}");
                let (value, read) = read(&text).unwrap_or_else(|| panic!("{text}"));
                assert_eq!(value.nanos, nanos, "{text}");
                let zone_len = match tail {
                    "Z" | "z" => 1,
                    "+01:00" => 6,
                    _ => 0,
                };
                assert_eq!(read, 20 + len + zone_len, "{text}");
            }
            // A colon right after the digits makes it no value.
            assert!(read(&format!("2026-11-29T13:15:22.{fraction}:")).is_none());
        }
    }

    #[test]
    fn the_cache_tells_minutes_apart_by_every_byte() {
        let mut cache = HeadCache::default();
        // Five minutes in turn, more than the cache's slots, then again:
        // each read like a fresh parse, whichever slot it was in.
        let texts = [
            "2026-11-29T13:15:22Z",
            "2026-11-29 13:15:22",
            "2026/11/29 13:15:22",
            "2026-11-29T13:16:22Z",
            "2026-11-29t13:15:22Z",
            "2026-11-29T13:15:22Z",
        ];
        for _ in 0..3 {
            for text in texts {
                assert_eq!(cache.parse(text.as_bytes()), read(text), "{text}");
            }
        }
        assert_eq!(
            cache
                .parse(b"2026-11-29T13:16:22Z")
                .unwrap()
                .0
                .civil_seconds,
            NOV_29_2026_131522 + 60
        );
        // Fewer than a minute's bytes: no value, and nothing remembered.
        assert_eq!(cache.parse(b"2026-11-29T13:1"), None);
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
