//! `scan` over time: `--since`, `--until`, `--by` and `--timezone`.
//!
//! This module turns those flags into the [`Timeline`] every part of a scan
//! counts into ([`timeline_for`]), and renders what the merged timeline
//! holds: the `untimed` count and the periods, for the table and for the
//! JSON report ([`History`]). Counting itself is the scanner's
//! ([`crate::scan::timeline`]); the read loop is the same as every scan's.
//!
//! Rules (issue 17): a window is `[since, until)`, each end RFC 3339 (or a
//! date-time without a zone, read in `--timezone`) or a duration before now
//! (`7d`, `36h`, `90m`); a period divides a day or is a whole number of
//! days, and periods start at local midnight in `--timezone`, whose offset
//! each period's `start` carries. Without any of the flags nothing here
//! runs, and the report is byte for byte as before.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::cli::{ScanArgs, ScanFormat};
use crate::scan::{Periods, Tally, Timeline, status_label};
use crate::time::parse::parse_date_time;
use crate::time::zone::format_offset;
use crate::time::{LocalZone, Stamp, TimeReader, Zone};

const DAY: i64 = 86_400;

/// What a timed scan reports beside the totals.
#[derive(Debug, Clone)]
pub struct History {
    zone: Zone,
    by: bool,
    /// `--until`, where a backfill's series end.
    pub until: Option<Stamp>,
}

/// One period of the JSON report's `"periods"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodReport {
    /// The period's start, RFC 3339 with the zone's offset there.
    pub start: String,
    /// Catalogued types seen in the period.
    pub errors: BTreeMap<String, u64>,
    /// Uncatalogued errors in the period by status.
    pub uncatalogued: BTreeMap<String, u64>,
}

/// The timeline `args` ask for, and how to report it; `None` without
/// `--since`, `--until` or `--by`.
pub fn timeline_for(args: &ScanArgs) -> anyhow::Result<Option<(Timeline, History)>> {
    let backfill = args.format == ScanFormat::Openmetrics;
    if args.since.is_none() && args.until.is_none() && args.by.is_none() && !backfill {
        return Ok(None);
    }
    if args.by.is_some()
        && matches!(
            args.format,
            ScanFormat::Prometheus | ScanFormat::Openmetrics
        )
    {
        bail!("--by needs --format table or json");
    }
    let zone = match &args.timezone {
        Some(name) => Zone::named(name)?,
        None => {
            let (zone, found) = Zone::local();
            if found == LocalZone::FellBackToUtc {
                eprintln!(
                    "errtally: no time zone in TZ or /etc/localtime: times without a zone are read in UTC"
                );
            }
            zone
        }
    };
    let now = SystemTime::now();
    let mut reader = TimeReader::new(zone.clone());
    let since = args
        .since
        .as_deref()
        .map(|text| parse_instant(text, &mut reader, now).context("--since"))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|text| parse_instant(text, &mut reader, now).context("--until"))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        bail!("--since must be before --until");
    }
    let periods = if backfill {
        Some(Periods::Steps {
            seconds: super::backfill::parse_step(&args.step)?,
        })
    } else {
        args.by
            .as_deref()
            .map(|text| {
                parse_period(text).map(|seconds| Periods::FromLocalMidnight {
                    seconds,
                    zone: Box::new(zone.clone()),
                })
            })
            .transpose()?
    };
    let history = History {
        zone,
        by: args.by.is_some(),
        until,
    };
    Ok(Some((
        Timeline::new(reader, since, until, periods),
        history,
    )))
}

/// `T` of `--since`/`--until`: RFC 3339 (a date-time without a zone is read
/// in the reader's zone) or a duration before `now`.
pub fn parse_instant(
    text: &str,
    reader: &mut TimeReader,
    now: SystemTime,
) -> anyhow::Result<Stamp> {
    if let Some((date_time, len)) = parse_date_time(text.as_bytes())
        && len == text.len()
    {
        let seconds = match date_time.offset {
            Some(offset) => date_time.civil_seconds - i64::from(offset),
            None => reader
                .zone()
                .instant_of(date_time.civil_seconds)
                .context("a time out of range")?,
        };
        return Stamp::from_seconds(seconds)
            .map(|stamp| Stamp::from_nanos(stamp.nanos() + i64::from(date_time.nanos)))
            .context("a time out of range");
    }
    let ago = humantime::parse_duration(text).with_context(|| {
        format!("{text:?} is neither an RFC 3339 time nor a duration (7d, 36h, 90m)")
    })?;
    let at = now
        .checked_sub(ago)
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .context("a duration that reaches before 1970")?;
    Ok(Stamp::from_nanos(
        i64::try_from(at.as_nanos()).context("a time out of range")?,
    ))
}

/// `--by`: whole seconds that divide a day or are whole days.
pub fn parse_period(text: &str) -> anyhow::Result<i64> {
    let period = humantime::parse_duration(text)
        .with_context(|| format!("--by {text:?}: expected a duration (1h, 30m, 1d)"))?;
    let seconds = i64::try_from(period.as_secs()).unwrap_or(i64::MAX);
    if period.subsec_nanos() != 0
        || period < Duration::from_secs(1)
        || !(DAY % seconds == 0 || seconds % DAY == 0)
    {
        bail!("--by {text:?}: a period must divide a day (1h, 15m) or be whole days (1d, 7d)");
    }
    Ok(seconds)
}

impl History {
    /// The periods of `tally`'s timeline in time order, empty ones left
    /// out; `None` without `--by`.
    pub fn periods(&self, catalog: &Catalog, tally: &Tally) -> Option<Vec<PeriodReport>> {
        if !self.by {
            return None;
        }
        let mut zone = self.zone.clone();
        let mut by_start: BTreeMap<i64, PeriodReport> = BTreeMap::new();
        for ((start, slot), count) in tally.timeline.iter().flat_map(|timeline| timeline.cells()) {
            let period = by_start.entry(start).or_insert_with(|| PeriodReport {
                start: format_instant(&mut zone, start),
                errors: BTreeMap::new(),
                uncatalogued: BTreeMap::new(),
            });
            let slot = slot as usize;
            match catalog.entry(slot) {
                Some(entry) => {
                    *period.errors.entry(entry.error_type.clone()).or_insert(0) += count;
                }
                None => {
                    let status = status_label(slot.saturating_sub(catalog.len()));
                    *period.uncatalogued.entry(status).or_insert(0) += count;
                }
            }
        }
        Some(by_start.into_values().collect())
    }

    /// The table's part: `untimed`, then a row per period and type.
    pub fn table(&self, catalog: &Catalog, tally: &Tally) -> String {
        let mut out = String::new();
        let untimed = tally
            .timeline
            .as_ref()
            .map_or(0, |timeline| timeline.untimed);
        let _ = writeln!(out, "untimed: {untimed}");
        let Some(periods) = self.periods(catalog, tally) else {
            return out;
        };
        let _ = writeln!(out, "\nby period ({}):", self.zone.describe());
        let _ = writeln!(out, "{:<25}  {:>10}  ERROR TYPE", "START", "COUNT");
        for period in periods {
            let mut rows: Vec<(u64, String)> = period
                .errors
                .iter()
                .map(|(name, count)| (*count, name.clone()))
                .chain(
                    period
                        .uncatalogued
                        .iter()
                        .map(|(status, count)| (*count, format!("uncatalogued ({status})"))),
                )
                .collect();
            rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            for (count, name) in rows {
                let _ = writeln!(out, "{:<25}  {count:>10}  {name}", period.start);
            }
        }
        out
    }

    /// The JSON report's `"untimed"`.
    pub fn untimed(&self, tally: &Tally) -> u64 {
        tally
            .timeline
            .as_ref()
            .map_or(0, |timeline| timeline.untimed)
    }
}

/// The UTC second `seconds` as RFC 3339 in `zone`, with its offset there.
fn format_instant(zone: &mut Zone, seconds: i64) -> String {
    let offset = zone.offset_at(seconds);
    let local = seconds + i64::from(offset);
    let days = local.div_euclid(DAY);
    let second_of_day = local.rem_euclid(DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        format_offset(offset)
    )
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn periods_divide_a_day_or_are_whole_days() {
        assert_eq!(parse_period("1h").unwrap(), 3600);
        assert_eq!(parse_period("15m").unwrap(), 900);
        assert_eq!(parse_period("1d").unwrap(), DAY);
        assert_eq!(parse_period("7d").unwrap(), 7 * DAY);
        for bad in ["7h", "25h", "1500ms", "0s", "36h", "soon"] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_are_rfc3339_local_or_a_duration_before_now() {
        let mut berlin = TimeReader::new(Zone::named("Europe/Berlin").unwrap());
        // `date -u -d 2026-11-29T13:15:22Z +%s`
        let t = 1_795_958_122;
        let now = UNIX_EPOCH + Duration::from_secs(t as u64);
        let at =
            |text: &str, reader: &mut TimeReader| parse_instant(text, reader, now).unwrap().nanos();
        assert_eq!(at("2026-11-29T13:15:22Z", &mut berlin), t * 1_000_000_000);
        assert_eq!(at("2026-11-29T14:15:22", &mut berlin), t * 1_000_000_000);
        assert_eq!(at("36h", &mut berlin), (t - 36 * 3600) * 1_000_000_000);
        assert_eq!(at("90m", &mut berlin), (t - 5400) * 1_000_000_000);
        assert!(parse_instant("yesterday", &mut berlin, now).is_err());
    }

    #[test]
    fn starts_carry_the_zones_offset() {
        let mut zone = Zone::named("America/New_York").unwrap();
        // 2026-11-29T05:00:00Z is local midnight (EST, -05:00).
        assert_eq!(
            format_instant(&mut zone, 1_795_928_400),
            "2026-11-29T00:00:00-05:00"
        );
        assert_eq!(
            format_instant(&mut Zone::utc(), 0),
            "1970-01-01T00:00:00+00:00"
        );
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
