//! Counts by time: which counted records fall in a window, and how many of
//! each type fall in each period.
//!
//! A [`Timeline`] rides in a [`super::Tally`] only when a window or periods
//! were asked for; without one the scanner never looks for a time (one
//! `Option` test per counted record). With one, the scanner hands each
//! counted record to [`Timeline::place`], which reads its time
//! ([`crate::time`]) and says whether the record counts in the tally's
//! totals:
//! - an untimed record is counted in `untimed`, and in the totals only
//!   when there is no window;
//! - a timed record counts in the totals when it is inside the window
//!   `[since, until)`, and then in its period's cell.
//!
//! Cells are kept only for (period, type) pairs that saw a record, so
//! memory follows what the logs hold, not periods × types. Timelines merge
//! like tallies: cell by cell.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::time::{Stamp, TimeReader, Zone};

/// How periods are cut.
#[derive(Debug, Clone)]
pub enum Periods {
    /// Periods of `seconds` from each local midnight of `zone` (`seconds`
    /// divides a day), or of whole days counted from the local date
    /// 1970-01-01 (`seconds` a multiple of a day): `scan --by`.
    FromLocalMidnight {
        /// Length of a period.
        seconds: i64,
        /// The zone whose midnights start the periods (boxed: it carries
        /// its caches).
        zone: Box<Zone>,
    },
    /// Multiples of `seconds` since the epoch: the steps of a backfill.
    Steps {
        /// Length of a step.
        seconds: i64,
    },
}

const DAY: i64 = 86_400;

/// A period's start in seconds since the epoch, and one slot of
/// [`Timeline`]: a catalogue index, or the catalogue's length plus an
/// uncatalogued status slot.
pub type Cell = (i64, u32);

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Timeline {
    reader: TimeReader,
    since: Option<Stamp>,
    until: Option<Stamp>,
    periods: Option<Periods>,
    /// The last period found, `[start, end)` in seconds, so records of the
    /// same period skip the zone lookups.
    last_period: Option<(i64, i64)>,
    /// Counted records without a time.
    pub untimed: u64,
    /// Each cell that saw a record, and where its count is in `counts`.
    cells: HashMap<Cell, usize, BuildHasherDefault<CellHasher>>,
    counts: Vec<u64>,
    /// Per slot (below [`MEMO_SLOTS`]), the last cell it was counted in
    /// and that cell's place in `counts`: a type's records follow each
    /// other in one period, so most skip the hash lookup.
    last_cell: Vec<Option<(i64, usize)>>,
}

/// Slots whose last cell a [`Timeline`] remembers: every catalogue index
/// and status slot (a slot past them, like `u32::MAX`, is only looked up).
const MEMO_SLOTS: usize = 1024;

/// Hashes a [`Cell`] with a few multiplications instead of SipHash: a
/// cell is counted once per timed record, where SipHash cost as much as
/// reading the time. Its keys are period starts and slots, both bounded
/// (by the span of the logs' times and the catalogue), so no key flood can
/// grow a bucket past what the cells themselves hold.
#[derive(Debug, Default, Clone, Copy)]
pub struct CellHasher(u64);

impl Hasher for CellHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.mix(u64::from(byte));
        }
    }

    fn write_i64(&mut self, value: i64) {
        self.mix(value as u64);
    }

    fn write_u32(&mut self, value: u32) {
        self.mix(u64::from(value));
    }

    fn finish(&self) -> u64 {
        // splitmix64's finaliser: every input bit reaches the low bits the
        // table indexes with.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl CellHasher {
    fn mix(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(29) ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl PartialEq for Timeline {
    /// Equal counts, window and period length; caches do not matter.
    fn eq(&self, other: &Self) -> bool {
        self.since == other.since
            && self.until == other.until
            && self.untimed == other.untimed
            && self.cells.len() == other.cells.len()
            && self
                .cells()
                .all(|(cell, count)| other.count_of(cell) == Some(count))
    }
}

impl Eq for Timeline {}

impl Timeline {
    /// A timeline that reads zone-less times with `reader`, counts records
    /// in `[since, until)` (either end open when `None`) and, with
    /// `periods`, per period.
    pub fn new(
        reader: TimeReader,
        since: Option<Stamp>,
        until: Option<Stamp>,
        periods: Option<Periods>,
    ) -> Self {
        Self {
            reader,
            since,
            until,
            periods,
            last_period: None,
            untimed: 0,
            cells: HashMap::default(),
            counts: Vec::new(),
            last_cell: Vec::new(),
        }
    }

    /// True when the timeline has a window: untimed records then stay out
    /// of the totals.
    pub fn has_window(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Counts the counted record `record` (see [`crate::time::TimeReader::time_of`]
    /// for `envelope`) in `slot`; true when it also counts in the totals.
    pub fn place(&mut self, record: &[u8], envelope: Option<&[u8]>, slot: u32) -> bool {
        let Some(time) = self.reader.time_of(record, envelope) else {
            self.untimed += 1;
            return !self.has_window();
        };
        if self.since.is_some_and(|since| time < since)
            || self.until.is_some_and(|until| time >= until)
        {
            return false;
        }
        if self.periods.is_some() {
            let start = self.period_start(time.seconds());
            self.count_in(start, slot);
        }
        true
    }

    /// The start of the period holding the second `seconds`.
    fn period_start(&mut self, seconds: i64) -> i64 {
        if let Some((start, end)) = self.last_period
            && (start..end).contains(&seconds)
        {
            return start;
        }
        let (start, end) = match &mut self.periods {
            None => return seconds,
            Some(Periods::Steps { seconds: step }) => {
                let start = seconds - seconds.rem_euclid(*step);
                (start, start + *step)
            }
            Some(Periods::FromLocalMidnight {
                seconds: length,
                zone,
            }) => local_period(zone, *length, seconds),
        };
        self.last_period = Some((start, end));
        start
    }

    /// The cells that saw a record: (period start, slot) and count, in no
    /// particular order.
    pub fn cells(&self) -> impl Iterator<Item = (Cell, u64)> + '_ {
        self.cells
            .iter()
            .map(|(cell, &index)| (*cell, self.counts[index]))
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &Timeline) {
        self.untimed += other.untimed;
        for (cell, count) in other.cells() {
            let index = self.index_of(cell);
            self.counts[index] += count;
        }
    }

    /// Sets the counts back to zero.
    pub fn clear(&mut self) {
        self.untimed = 0;
        self.cells.clear();
        self.counts.clear();
        self.last_cell.clear();
    }

    /// Counts one record in the cell (`start`, `slot`).
    fn count_in(&mut self, start: i64, slot: u32) {
        let memo = usize::try_from(slot).ok().filter(|&slot| slot < MEMO_SLOTS);
        if let Some(slot) = memo
            && let Some(Some((period, index))) = self.last_cell.get(slot)
            && *period == start
        {
            self.counts[*index] += 1;
            return;
        }
        let index = self.index_of((start, slot));
        self.counts[index] += 1;
        if let Some(slot) = memo {
            if self.last_cell.len() <= slot {
                self.last_cell.resize(slot + 1, None);
            }
            self.last_cell[slot] = Some((start, index));
        }
    }

    /// Where `cell`'s count is in `counts`, made (at zero) if it has none.
    fn index_of(&mut self, cell: Cell) -> usize {
        let next = self.counts.len();
        let index = *self.cells.entry(cell).or_insert(next);
        if index == next {
            self.counts.push(0);
        }
        index
    }

    /// The count of `cell`, if it saw a record.
    fn count_of(&self, cell: Cell) -> Option<u64> {
        self.cells.get(&cell).map(|&index| self.counts[index])
    }
}

/// The local period of `length` seconds holding the UTC second `seconds`:
/// `[start, end)`, cut at the next period's start or the next local
/// midnight, whichever comes first.
fn local_period(zone: &mut Zone, length: i64, seconds: i64) -> (i64, i64) {
    let local = seconds + i64::from(zone.offset_at(seconds));
    let day = local.div_euclid(DAY);
    let midnight = |zone: &mut Zone, day: i64| zone.instant_of(day * DAY).unwrap_or(day * DAY);
    if length >= DAY {
        let days = length / DAY;
        let first = day - day.rem_euclid(days);
        return (midnight(zone, first), midnight(zone, first + days));
    }
    let day_start = midnight(zone, day);
    let next_day = midnight(zone, day + 1);
    // A local day starts at its midnight's instant, which a record a few
    // seconds past a transition may precede: step back a day then.
    let (day_start, next_day) = if seconds < day_start {
        (midnight(zone, day - 1), day_start)
    } else {
        (day_start, next_day)
    };
    let start = day_start + (seconds - day_start) / length * length;
    (start, (start + length).min(next_day))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn reader() -> TimeReader {
        TimeReader::new(Zone::utc())
    }

    fn stamp(text: &str) -> Stamp {
        let (value, _) = crate::time::parse::parse_date_time(text.as_bytes()).unwrap();
        Stamp::from_seconds(value.civil_seconds - i64::from(value.offset.unwrap())).unwrap()
    }

    fn record(time: &str) -> String {
        format!(r#"{{"time":"{time}","error_type":"x"}}"#)
    }

    #[test]
    fn the_window_is_half_open_and_untimed_records_stay_out_of_it() {
        let since = stamp("2026-11-29T13:00:00Z");
        let until = stamp("2026-11-29T14:00:00Z");
        let mut timeline = Timeline::new(reader(), Some(since), Some(until), None);
        assert!(!timeline.place(record("2026-11-29T12:59:59.999Z").as_bytes(), None, 0));
        assert!(timeline.place(record("2026-11-29T13:00:00Z").as_bytes(), None, 0));
        assert!(timeline.place(record("2026-11-29T13:59:59.999Z").as_bytes(), None, 0));
        assert!(!timeline.place(record("2026-11-29T14:00:00Z").as_bytes(), None, 0));
        assert!(!timeline.place(br#"{"error_type":"x"}"#, None, 0));
        assert_eq!(timeline.untimed, 1);
    }

    #[test]
    fn without_a_window_untimed_records_count_in_the_totals() {
        let periods = Periods::Steps { seconds: 60 };
        let mut timeline = Timeline::new(reader(), None, None, Some(periods));
        assert!(timeline.place(br#"{"error_type":"x"}"#, None, 3));
        assert_eq!(timeline.untimed, 1);
        assert_eq!(timeline.cells().count(), 0);
    }

    #[test]
    fn steps_are_multiples_since_the_epoch() {
        let periods = Periods::Steps { seconds: 60 };
        let mut timeline = Timeline::new(reader(), None, None, Some(periods));
        for time in [
            "2026-11-29T13:15:00Z",
            "2026-11-29T13:15:59.9Z",
            "2026-11-29T13:16:00Z",
        ] {
            timeline.place(record(time).as_bytes(), None, 2);
        }
        let minute = stamp("2026-11-29T13:15:00Z").seconds();
        let mut cells: Vec<_> = timeline.cells().collect();
        cells.sort();
        assert_eq!(cells, vec![((minute, 2), 2), ((minute + 60, 2), 1)]);
    }

    /// Hourly periods in Berlin around the 2026 switches: they start at
    /// local midnight and follow elapsed hours, so the short day has 23
    /// and the long day 25.
    #[test]
    fn local_periods_across_daylight_saving_days() {
        let mut zone = Zone::named("Europe/Berlin").unwrap();
        // 2026-03-28T23:00:00Z is local midnight of the 29th (CET).
        let short_day = stamp("2026-03-28T23:00:00Z").seconds();
        let next = stamp("2026-03-29T22:00:00Z").seconds();
        assert_eq!(
            local_period(&mut zone, 3600, short_day),
            (short_day, short_day + 3600)
        );
        assert_eq!(local_period(&mut zone, 3600, next - 1), (next - 3600, next));
        assert_eq!(
            local_period(&mut zone, DAY, short_day + 5),
            (short_day, next)
        );
        let long_day = stamp("2026-10-24T22:00:00Z").seconds();
        let after = stamp("2026-10-25T23:00:00Z").seconds();
        assert_eq!(
            local_period(&mut zone, DAY, long_day + 90_000 - 1),
            (long_day, after)
        );
        assert_eq!(
            local_period(&mut zone, 6 * 3600, after - 1),
            (long_day + 24 * 3600, after)
        );
    }

    /// Records of one slot in turn across periods and slots, and after a
    /// clear: the remembered last cell never counts a record in a cell it
    /// left, and timelines compare by counts, not by where they are kept.
    #[test]
    fn each_record_counts_in_its_own_cell_whatever_came_before() {
        let periods = Periods::Steps { seconds: 60 };
        let mut timeline = Timeline::new(reader(), None, None, Some(periods.clone()));
        let minute = stamp("2026-11-29T13:15:00Z").seconds();
        for (time, slot) in [
            ("2026-11-29T13:15:01Z", 2),
            ("2026-11-29T13:15:02Z", 2),
            ("2026-11-29T13:15:03Z", 5),
            ("2026-11-29T13:16:00Z", 2),
            ("2026-11-29T13:15:59Z", 2),
            ("2026-11-29T13:15:04Z", 5),
            ("2026-11-29T13:15:05Z", u32::MAX),
            ("2026-11-29T13:15:06Z", u32::MAX),
        ] {
            assert!(timeline.place(record(time).as_bytes(), None, slot));
        }
        let mut cells: Vec<_> = timeline.cells().collect();
        cells.sort();
        assert_eq!(
            cells,
            vec![
                ((minute, 2), 3),
                ((minute, 5), 2),
                ((minute, u32::MAX), 2),
                ((minute + 60, 2), 1)
            ]
        );
        // The same counts reached in another order are equal.
        let mut other = Timeline::new(reader(), None, None, Some(periods));
        for (time, slot) in [
            ("2026-11-29T13:16:00Z", 2),
            ("2026-11-29T13:15:06Z", u32::MAX),
            ("2026-11-29T13:15:03Z", 5),
            ("2026-11-29T13:15:04Z", 5),
            ("2026-11-29T13:15:01Z", 2),
            ("2026-11-29T13:15:02Z", 2),
            ("2026-11-29T13:15:59Z", 2),
            ("2026-11-29T13:15:05Z", u32::MAX),
        ] {
            other.place(record(time).as_bytes(), None, slot);
        }
        assert_eq!(timeline, other);
        other.place(record("2026-11-29T13:15:07Z").as_bytes(), None, 5);
        assert_ne!(timeline, other);
        // After a clear, a record of the last cell counts from zero.
        timeline.clear();
        timeline.place(record("2026-11-29T13:15:07Z").as_bytes(), None, 2);
        assert_eq!(timeline.cells().collect::<Vec<_>>(), vec![((minute, 2), 1)]);
    }

    #[test]
    fn merged_timelines_add_cell_by_cell() {
        let periods = Periods::Steps { seconds: 3600 };
        let mut one = Timeline::new(reader(), None, None, Some(periods.clone()));
        let mut two = Timeline::new(reader(), None, None, Some(periods));
        one.place(record("2026-11-29T13:15:00Z").as_bytes(), None, 1);
        two.place(record("2026-11-29T13:45:00Z").as_bytes(), None, 1);
        two.place(br#"{"error_type":"x"}"#, None, 1);
        one.merge(&two);
        let hour = stamp("2026-11-29T13:00:00Z").seconds();
        assert_eq!(one.cells().collect::<Vec<_>>(), vec![((hour, 1), 2)]);
        assert_eq!(one.untimed, 1);
    }
}
