//! The zone in which zone-less times are read, and in which periods start
//! at local midnight.
//!
//! A [`Zone`] is a fixed offset (`UTC`, `±hh:mm`) or an IANA zone from the
//! tz database bundled into the binary (jiff's `tzdb-bundle-always`), so a
//! machine without `/usr/share/zoneinfo` reads times the same way. The
//! machine's zone comes from `TZ`, then `/etc/localtime` ([`Zone::local`]).
//!
//! Rules for a civil time ([`Zone::instant_of`]): in a gap (the hour skipped
//! when clocks go forward) it moves forward by the gap, and in a fold (the
//! hour repeated when they go back) it is the earlier instant. Both come to
//! subtracting the offset in force *before* the transition.
//!
//! A zone lookup through jiff costs about 100 ns; a record costs one table
//! read instead: each direction keeps a small direct-mapped cache of whole
//! hours over which the offset is one and the same (an hour that holds a
//! transition is never cached, so it is always looked up exactly). Logs
//! are mostly in time order, so nearly every lookup hits. The caches are
//! per `Zone` value: each reading thread owns its clone.

use jiff::tz::{AmbiguousOffset, TimeZone};

/// Why a `--timezone` (or `timezone` key) was refused.
#[derive(Debug, thiserror::Error)]
#[error("unknown time zone {name:?}: expected an IANA name (Europe/Berlin), UTC or ±hh:mm")]
pub struct ZoneError {
    name: String,
}

/// Hours a cache remembers.
const CACHE_SLOTS: usize = 64;

/// An hour (seconds / 3600) and the offset in force over all of it.
#[derive(Debug, Clone, Copy)]
struct CachedHour {
    hour: i64,
    offset: i32,
}

const EMPTY: CachedHour = CachedHour {
    hour: i64::MIN,
    offset: 0,
};

/// A zone with its lookup caches; see the module docs.
#[derive(Clone)]
pub struct Zone {
    kind: Kind,
    /// Civil hour -> offset, for [`Zone::instant_of`].
    civil_hours: [CachedHour; CACHE_SLOTS],
    /// UTC hour -> offset, for [`Zone::offset_at`].
    utc_hours: [CachedHour; CACHE_SLOTS],
}

impl std::fmt::Debug for Zone {
    /// The zone's name: the caches are noise.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Zone").field(&self.describe()).finish()
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Fixed(i32),
    Named(TimeZone),
}

/// How the machine's own zone was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalZone {
    /// From `TZ` or `/etc/localtime`.
    Found,
    /// Neither names a zone: UTC is used, and the caller says so.
    FellBackToUtc,
}

impl Zone {
    /// UTC.
    pub fn utc() -> Self {
        Self::fixed(0)
    }

    /// A fixed offset from UTC, in seconds.
    pub fn fixed(offset_seconds: i32) -> Self {
        Self::with_kind(Kind::Fixed(offset_seconds))
    }

    fn with_kind(kind: Kind) -> Self {
        Self {
            kind,
            civil_hours: [EMPTY; CACHE_SLOTS],
            utc_hours: [EMPTY; CACHE_SLOTS],
        }
    }

    /// A zone by name: an IANA name from the bundled database, `UTC`, or
    /// `±hh:mm`.
    pub fn named(name: &str) -> Result<Self, ZoneError> {
        if name.eq_ignore_ascii_case("utc") || name == "Z" {
            return Ok(Self::utc());
        }
        if let Some(offset) = parse_offset(name) {
            return Ok(Self::fixed(offset));
        }
        TimeZone::get(name)
            .map(|tz| Self::with_kind(Kind::Named(tz)))
            .map_err(|_| ZoneError {
                name: name.to_string(),
            })
    }

    /// The machine's zone: `TZ`, then `/etc/localtime`; UTC when neither
    /// names one (the second value says which, so the caller can warn).
    pub fn local() -> (Self, LocalZone) {
        match TimeZone::try_system() {
            Ok(tz) => (Self::with_kind(Kind::Named(tz)), LocalZone::Found),
            Err(_) => (Self::utc(), LocalZone::FellBackToUtc),
        }
    }

    /// The same zone as jiff's, for writing times in it.
    pub fn to_jiff(&self) -> TimeZone {
        match &self.kind {
            Kind::Fixed(offset) => jiff::tz::Offset::from_seconds(*offset)
                .map(TimeZone::fixed)
                .unwrap_or(TimeZone::UTC),
            Kind::Named(tz) => tz.clone(),
        }
    }

    /// A name for messages: the IANA name or the offset.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Fixed(0) => "UTC".to_string(),
            Kind::Fixed(offset) => format_offset(*offset),
            Kind::Named(tz) => tz.iana_name().unwrap_or("local").to_string(),
        }
    }

    /// The UTC second of the civil second `civil_seconds` (counted as if it
    /// were UTC) read in this zone: see the module docs for gaps and folds.
    pub fn instant_of(&mut self, civil_seconds: i64) -> Option<i64> {
        let tz = match &self.kind {
            Kind::Fixed(offset) => return civil_seconds.checked_sub(i64::from(*offset)),
            Kind::Named(tz) => tz,
        };
        let hour = civil_seconds.div_euclid(3600);
        let slot = &mut self.civil_hours[hour.rem_euclid(CACHE_SLOTS as i64) as usize];
        if slot.hour == hour {
            return civil_seconds.checked_sub(i64::from(slot.offset));
        }
        let start = hour * 3600;
        if let (Some(first), Some(last)) = (
            unambiguous_offset(tz, start),
            unambiguous_offset(tz, start + 3599),
        ) && first == last
        {
            *slot = CachedHour {
                hour,
                offset: first,
            };
            return civil_seconds.checked_sub(i64::from(first));
        }
        let offset = match civil_offset(tz, civil_seconds)? {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Gap { before, .. } | AmbiguousOffset::Fold { before, .. } => before,
        };
        civil_seconds.checked_sub(i64::from(offset.seconds()))
    }

    /// The offset in force at the UTC second `seconds`.
    pub fn offset_at(&mut self, seconds: i64) -> i32 {
        let tz = match &self.kind {
            Kind::Fixed(offset) => return *offset,
            Kind::Named(tz) => tz,
        };
        let hour = seconds.div_euclid(3600);
        let slot = &mut self.utc_hours[hour.rem_euclid(CACHE_SLOTS as i64) as usize];
        if slot.hour == hour {
            return slot.offset;
        }
        let offset_at = |second: i64| {
            jiff::Timestamp::from_second(second)
                .map(|ts| tz.to_offset(ts).seconds())
                .unwrap_or(0)
        };
        let (first, last) = (offset_at(hour * 3600), offset_at(hour * 3600 + 3599));
        if first == last {
            *slot = CachedHour {
                hour,
                offset: first,
            };
            return first;
        }
        offset_at(seconds)
    }
}

/// How `tz` reads the civil second `civil_seconds`.
fn civil_offset(tz: &TimeZone, civil_seconds: i64) -> Option<AmbiguousOffset> {
    let civil = jiff::Timestamp::from_second(civil_seconds)
        .ok()?
        .to_zoned(TimeZone::UTC)
        .datetime();
    Some(tz.to_ambiguous_timestamp(civil).offset())
}

fn unambiguous_offset(tz: &TimeZone, civil_seconds: i64) -> Option<i32> {
    match civil_offset(tz, civil_seconds)? {
        AmbiguousOffset::Unambiguous { offset } => Some(offset.seconds()),
        _ => None,
    }
}

/// `±hh:mm` (or `±hhmm`) as seconds east of UTC.
fn parse_offset(text: &str) -> Option<i32> {
    let bytes = text.as_bytes();
    let sign = match bytes.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: Vec<u8> = bytes[1..].iter().copied().filter(|&b| b != b':').collect();
    let colons = bytes[1..].iter().filter(|&&b| b == b':').count();
    if digits.len() != 4 || colons > 1 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if colons == 1 && bytes.get(3) != Some(&b':') {
        return None;
    }
    let value = |at: usize| i32::from(digits[at] - b'0') * 10 + i32::from(digits[at + 1] - b'0');
    let (hours, minutes) = (value(0), value(2));
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
}

/// Seconds east of UTC as `±hh:mm`.
pub fn format_offset(offset: i32) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Civil seconds of a date and time (as if UTC).
    fn civil(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        crate::time::parse::days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60
    }

    /// The same civil time as a UTC instant, from the offset the zone's
    /// rules give for it (hand-checked against the 2026 DST dates).
    fn at(civil_seconds: i64, offset_hours: i64) -> i64 {
        civil_seconds - offset_hours * 3600
    }

    #[test]
    fn berlin_spring_gap_moves_forward_by_the_gap() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let mut zone = Zone::named("Europe/Berlin").unwrap();
        let gap = civil(2026, 3, 29, 2, 30);
        assert_eq!(zone.instant_of(gap), Some(at(civil(2026, 3, 29, 3, 30), 2)));
        assert_eq!(
            zone.instant_of(civil(2026, 3, 29, 1, 59)),
            Some(at(civil(2026, 3, 29, 1, 59), 1))
        );
        assert_eq!(
            zone.instant_of(civil(2026, 3, 29, 3, 0)),
            Some(at(civil(2026, 3, 29, 3, 0), 2))
        );
    }

    #[test]
    fn berlin_autumn_fold_takes_the_earlier_instant() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        let mut zone = Zone::named("Europe/Berlin").unwrap();
        let fold = civil(2026, 10, 25, 2, 30);
        assert_eq!(zone.instant_of(fold), Some(at(fold, 2)));
        assert_eq!(
            zone.instant_of(civil(2026, 10, 25, 3, 0)),
            Some(at(civil(2026, 10, 25, 3, 0), 1))
        );
        assert_eq!(
            zone.instant_of(civil(2026, 10, 25, 1, 59)),
            Some(at(civil(2026, 10, 25, 1, 59), 2))
        );
    }

    #[test]
    fn new_york_gap_and_fold() {
        // 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
        let mut zone = Zone::named("America/New_York").unwrap();
        let gap = civil(2026, 3, 8, 2, 15);
        assert_eq!(zone.instant_of(gap), Some(at(civil(2026, 3, 8, 3, 15), -4)));
        let fold = civil(2026, 11, 1, 1, 45);
        assert_eq!(zone.instant_of(fold), Some(at(fold, -4)));
        let after = civil(2026, 11, 1, 2, 0);
        assert_eq!(zone.instant_of(after), Some(at(after, -5)));
    }

    #[test]
    fn cached_hours_give_what_a_fresh_lookup_gives() {
        let mut warm = Zone::named("America/New_York").unwrap();
        let start = civil(2026, 10, 31, 20, 0);
        for minute in 0..(12 * 60) {
            let civil_seconds = start + minute * 60 + 17;
            let mut cold = Zone::named("America/New_York").unwrap();
            assert_eq!(
                warm.instant_of(civil_seconds),
                cold.instant_of(civil_seconds),
                "minute {minute}"
            );
            let utc = start + minute * 60;
            assert_eq!(warm.offset_at(utc), cold.offset_at(utc), "minute {minute}");
        }
    }

    #[test]
    fn offsets_at_instants_around_a_transition() {
        let mut zone = Zone::named("Europe/Berlin").unwrap();
        // 2026-10-25T01:00:00Z is the switch back to CET.
        let switch = civil(2026, 10, 25, 1, 0);
        assert_eq!(zone.offset_at(switch - 1), 7200);
        assert_eq!(zone.offset_at(switch), 3600);
    }

    #[test]
    fn names_and_fixed_offsets() {
        assert_eq!(Zone::named("UTC").unwrap().describe(), "UTC");
        assert_eq!(Zone::named("+05:30").unwrap().describe(), "+05:30");
        assert_eq!(Zone::named("-0800").unwrap().describe(), "-08:00");
        assert_eq!(
            Zone::named("Europe/Berlin").unwrap().describe(),
            "Europe/Berlin"
        );
        let mut india = Zone::named("+05:30").unwrap();
        assert_eq!(india.instant_of(19_800), Some(0));
        for bad in ["Mars/Olympus", "+5:30", "+24:00", "05:30", "+05:3"] {
            assert!(Zone::named(bad).is_err(), "{bad}");
        }
    }
}
