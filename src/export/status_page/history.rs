//! The status page's memory of the last hour: the counters sampled every
//! [`SAMPLE_INTERVAL`] into fixed-size rings, and the rates and sparklines
//! read back from them.
//!
//! What is sampled, per input (`source`): each catalogued type's
//! `errtally_errors_total` (summed over its other labels), the uncatalogued
//! errors and the lines read. A series holds a ring of [`SLOTS`] increments
//! only while it grew in the last hour; otherwise it keeps just its last
//! value. Memory is therefore bounded by inputs x catalogued types (both
//! bounded by the config) x 360 words. A series that leaves the registry
//! (an input or a type removed by a reload) leaves the history at the next
//! sample.
//!
//! A counter that went down was re-created (removed and added back by
//! reloads): its new value is its increase, as Prometheus' `rate()` treats
//! a reset.
//!
//! Rates include what was counted since the last sample (the page reads the
//! counters live), so a burst shows at once rather than up to 10 s later.
//! Time is tokio's clock, so tests can pause it.
//!
//! Deliberately not here: persistence (the history starts empty with the
//! process) and anything per file.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::export::metrics::Metrics;

/// How often the counters are sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(10);

/// Increments kept per series: one hour at [`SAMPLE_INTERVAL`].
pub const SLOTS: usize = 360;

/// The short rate window ("now").
pub(crate) const RATE_SHORT: Duration = Duration::from_secs(60);

/// The long rate window.
pub(crate) const RATE_LONG: Duration = Duration::from_secs(300);

/// Which counter of an input a series follows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counter {
    /// `errtally_errors_total` of one catalogued type.
    Errors(String),
    /// `errtally_uncatalogued_errors_total`, every status together.
    Uncatalogued,
    /// `errtally_lines_total`.
    Lines,
}

/// One sampled series: an input and one of its counters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The input (`source` label).
    pub source: String,
    /// Which of its counters.
    pub counter: Counter,
}

impl SeriesKey {
    /// The key of `counter` of input `source`.
    pub fn new(source: &str, counter: Counter) -> Self {
        Self {
            source: source.to_string(),
            counter,
        }
    }
}

/// Counter values by series, read from the registry `/metrics` exposes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    values: BTreeMap<SeriesKey, u64>,
}

impl Counts {
    /// Reads the counters the history follows, summed per input over
    /// statuses and labels from paths (from the counters themselves: with
    /// many label sets, gathering them all would cost more than the page).
    pub(crate) fn gather(metrics: &Metrics) -> Self {
        let mut counts = Self::default();
        for (source, totals) in metrics.totals_by_source() {
            for (error_type, count) in totals.errors {
                counts.add(SeriesKey::new(&source, Counter::Errors(error_type)), count);
            }
            counts.add(
                SeriesKey::new(&source, Counter::Uncatalogued),
                totals.uncatalogued,
            );
            counts.add(SeriesKey::new(&source, Counter::Lines), totals.lines);
        }
        counts
    }

    /// Adds `value` to a series (tests and benches build counts by hand).
    pub fn add(&mut self, key: SeriesKey, value: u64) {
        let sum = self.values.entry(key).or_default();
        *sum = sum.saturating_add(value);
    }

    /// The value of a series, 0 if it is not there.
    pub fn get(&self, key: &SeriesKey) -> u64 {
        self.values.get(key).copied().unwrap_or(0)
    }

    /// Every series with its value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, u64)> {
        self.values.iter().map(|(key, value)| (key, *value))
    }
}

/// The last hour of every series, shared by the sampler (writes every
/// [`SAMPLE_INTERVAL`]) and the status page (reads per request); the lock
/// is never held across an await.
#[derive(Debug)]
pub struct History {
    slots: usize,
    rings: Mutex<Rings>,
}

#[derive(Debug, Default)]
struct Rings {
    /// When each sample was taken, oldest first; at most `slots + 1`.
    times: VecDeque<Instant>,
    series: BTreeMap<SeriesKey, Ring>,
}

/// One series: its last sampled value and its increments between samples.
#[derive(Debug, Default)]
struct Ring {
    last: u64,
    /// The newest at the back, aligned with the newest sample; missing
    /// older increments are 0. Empty while nothing grew for `slots`.
    increments: VecDeque<u64>,
    /// Sum of `increments` (wrapping, so exact while the true sum fits).
    sum: u64,
}

impl Ring {
    fn push(&mut self, increment: u64, slots: usize) {
        if increment == 0 && self.increments.is_empty() {
            return;
        }
        self.increments.push_back(increment);
        self.sum = self.sum.wrapping_add(increment);
        while self.increments.len() > slots {
            if let Some(old) = self.increments.pop_front() {
                self.sum = self.sum.wrapping_sub(old);
            }
        }
        if self.sum == 0 {
            // An hour without growth: give the ring's memory back.
            self.increments = VecDeque::new();
        }
    }

    /// The sum of the newest `count` increments.
    fn newest(&self, count: usize) -> u64 {
        self.increments
            .iter()
            .rev()
            .take(count)
            .fold(0u64, |sum, increment| sum.saturating_add(*increment))
    }
}

/// The growth of `value` over `last`; a counter that went down was
/// re-created from 0.
fn increase(last: u64, value: u64) -> u64 {
    if value >= last { value - last } else { value }
}

/// What the page shows of one series, or of a sum of them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recent {
    /// The live counter value (since start or since the series was created).
    pub total: u64,
    /// Per second over the last minute (or since the first sample, if
    /// younger); `None` before the first sample.
    pub(crate) rate_short: Option<f64>,
    /// Per second over the last five minutes, likewise.
    pub(crate) rate_long: Option<f64>,
    /// The increase per [`SAMPLE_INTERVAL`] over the last hour, oldest
    /// first, always `slots` long (0 before the first sample).
    pub(crate) increments: Vec<u64>,
}

impl Recent {
    /// Nothing: the neutral element of [`Recent::add`].
    pub fn zero(slots: usize) -> Self {
        Self {
            total: 0,
            rate_short: None,
            rate_long: None,
            increments: vec![0; slots],
        }
    }

    /// Adds `other` into `self`: series sampled together share their
    /// sample times, so rates and increments add up.
    pub fn add(&mut self, other: &Recent) {
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.total = self.total.saturating_add(other.total);
        self.rate_short = sum(self.rate_short, other.rate_short);
        self.rate_long = sum(self.rate_long, other.rate_long);
        if self.increments.len() < other.increments.len() {
            self.increments.resize(other.increments.len(), 0);
        }
        for (mine, theirs) in self.increments.iter_mut().zip(&other.increments) {
            *mine = mine.saturating_add(*theirs);
        }
    }

    /// The short rate, 0 before the first sample: the page's sort key.
    pub(crate) fn rate_now(&self) -> f64 {
        self.rate_short.unwrap_or(0.0)
    }
}

/// The history read at one instant, against live counts.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// How many of the increments are backed by samples (the newest
    /// ones); the rest precede the first sample.
    pub(crate) covered: usize,
    /// Increments per series ([`SLOTS`] in the daemon).
    pub slots: usize,
    /// False before the first sample: there are no rates yet.
    pub(crate) sampled: bool,
    /// Every series whose live value is above 0.
    pub series: BTreeMap<SeriesKey, Recent>,
}

impl Snapshot {
    /// A series that counted nothing: rates of 0 once there is a sample.
    pub fn zero(&self) -> Recent {
        let rate = self.sampled.then_some(0.0);
        Recent {
            rate_short: rate,
            rate_long: rate,
            ..Recent::zero(self.slots)
        }
    }
}

impl History {
    /// An empty history keeping `slots` increments per series.
    pub fn new(slots: usize) -> Self {
        Self {
            slots: slots.max(1),
            rings: Mutex::new(Rings::default()),
        }
    }

    /// Records one sample taken at `now`. The first sample is the baseline:
    /// what was counted before it is not an increment.
    pub fn record(&self, now: Instant, counts: &Counts) {
        let slots = self.slots;
        let mut rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        let first = rings.times.is_empty();
        rings.times.push_back(now);
        while rings.times.len() > slots + 1 {
            rings.times.pop_front();
        }
        rings
            .series
            .retain(|key, _| counts.values.contains_key(key));
        for (key, &value) in &counts.values {
            match rings.series.get_mut(key) {
                Some(ring) => {
                    let increment = increase(ring.last, value);
                    ring.last = value;
                    ring.push(increment, slots);
                }
                None => {
                    // Born since the last sample, from 0.
                    let mut ring = Ring {
                        last: value,
                        ..Ring::default()
                    };
                    if !first {
                        ring.push(value, slots);
                    }
                    rings.series.insert(key.clone(), ring);
                }
            }
        }
    }

    /// Rates and increments at `now` of every series above 0 in `live`,
    /// including what was counted since the last sample.
    pub(crate) fn snapshot(&self, now: Instant, live: &Counts) -> Snapshot {
        let slots = self.slots;
        let rings = self.rings.lock().unwrap_or_else(PoisonError::into_inner);
        let times = &rings.times;
        let short = window_start(times, now, RATE_SHORT);
        let long = window_start(times, now, RATE_LONG);
        let mut series = BTreeMap::new();
        for (key, value) in live.iter() {
            if value == 0 {
                continue;
            }
            let ring = rings.series.get(key);
            let last = ring.map_or(0, |ring| ring.last);
            let since_last_sample = increase(last, value);
            let rate = |start: Option<(usize, Duration)>| {
                let (intervals, elapsed) = start?;
                let counted = ring.map_or(0, |ring| ring.newest(intervals));
                let elapsed = elapsed.as_secs_f64();
                Some(if elapsed > 0.0 {
                    counted.saturating_add(since_last_sample) as f64 / elapsed
                } else {
                    0.0
                })
            };
            let mut increments = vec![0; slots];
            if let Some(ring) = ring {
                for (slot, increment) in increments
                    .iter_mut()
                    .rev()
                    .zip(ring.increments.iter().rev())
                {
                    *slot = *increment;
                }
            }
            series.insert(
                key.clone(),
                Recent {
                    total: value,
                    rate_short: rate(short),
                    rate_long: rate(long),
                    increments,
                },
            );
        }
        Snapshot {
            covered: times.len().saturating_sub(1),
            slots,
            sampled: !times.is_empty(),
            series,
        }
    }
}

/// Where a rate window that ends `now` starts: the oldest sample at most
/// `window` old (the newest one if the sampler stalled), as the number of
/// intervals after it and the time since it. `None` before any sample.
fn window_start(
    times: &VecDeque<Instant>,
    now: Instant,
    window: Duration,
) -> Option<(usize, Duration)> {
    let newest = times.len().checked_sub(1)?;
    let start = times
        .iter()
        .position(|taken| now.saturating_duration_since(*taken) <= window)
        .unwrap_or(newest);
    let taken = times.get(start)?;
    Some((newest - start, now.saturating_duration_since(*taken)))
}

/// Samples the counters into `history` every [`SAMPLE_INTERVAL`] (the
/// first at once, the baseline) until `stop`.
pub(crate) async fn sample_counters(
    metrics: Metrics,
    history: Arc<History>,
    stop: CancellationToken,
) {
    let mut ticks = tokio::time::interval(SAMPLE_INTERVAL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {
                let counts = Counts::gather(&metrics);
                history.record(Instant::now(), &counts);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::scan::Tally;

    fn key(source: &str, error_type: &str) -> SeriesKey {
        SeriesKey::new(source, Counter::Errors(error_type.to_string()))
    }

    fn counts(values: &[(&SeriesKey, u64)]) -> Counts {
        let mut counts = Counts::default();
        for (key, value) in values {
            counts.add((*key).clone(), *value);
        }
        counts
    }

    /// Advances the paused clock by one interval and records `values`.
    async fn sample_after_interval(history: &History, values: &[(&SeriesKey, u64)]) {
        tokio::time::advance(SAMPLE_INTERVAL).await;
        history.record(Instant::now(), &counts(values));
    }

    #[tokio::test(start_paused = true)]
    async fn rates_over_a_minute_are_exact_and_include_what_was_counted_since_the_last_sample() {
        let history = History::new(SLOTS);
        let session = key("api", "session_not_found");
        history.record(Instant::now(), &counts(&[(&session, 0)]));
        // 30 every 10 s for a minute.
        for i in 1..=6 {
            sample_after_interval(&history, &[(&session, 30 * i)]).await;
        }
        let at_60s = history.snapshot(Instant::now(), &counts(&[(&session, 180)]));
        let recent = &at_60s.series[&session];
        assert_eq!(recent.total, 180);
        assert_eq!(recent.rate_short, Some(3.0));
        // Younger than 5 minutes: since the first sample.
        assert_eq!(recent.rate_long, Some(3.0));
        assert_eq!(at_60s.covered, 6);
        assert_eq!(recent.increments.len(), SLOTS);
        assert_eq!(recent.increments[SLOTS - 6..], [30; 6]);
        assert!(recent.increments[..SLOTS - 6].iter().all(|v| *v == 0));

        // 5 s on, 10 more counted but not sampled yet: the minute now starts
        // at the sample 55 s old (t = 10 s, 30 counted by then).
        tokio::time::advance(Duration::from_secs(5)).await;
        let at_65s = history.snapshot(Instant::now(), &counts(&[(&session, 190)]));
        let recent = &at_65s.series[&session];
        assert_eq!(recent.rate_short, Some(160.0 / 55.0));
        assert_eq!(recent.rate_long, Some(190.0 / 65.0));
        // Sparklines show completed intervals only.
        assert_eq!(recent.increments[SLOTS - 1], 30);
    }

    #[tokio::test(start_paused = true)]
    async fn the_long_rate_covers_five_minutes() {
        let history = History::new(SLOTS);
        let otp = key("api", "otp_code_not_found");
        history.record(Instant::now(), &counts(&[(&otp, 0)]));
        let mut total = 0;
        // t = 10..=100 s: 100 each; 110..=340 s: 2 each; 350..=400 s: 1 each.
        for i in 1..=40 {
            let at = i * 10;
            total += if at <= 100 {
                100
            } else if at <= 340 {
                2
            } else {
                1
            };
            sample_after_interval(&history, &[(&otp, total)]).await;
        }
        let recent = &history
            .snapshot(Instant::now(), &counts(&[(&otp, total)]))
            .series[&otp];
        assert_eq!(recent.rate_short, Some(6.0 / 60.0));
        assert_eq!(recent.rate_long, Some((24.0 * 2.0 + 6.0) / 300.0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_baseline_is_not_an_increment_but_a_series_born_later_counts_from_zero() {
        let history = History::new(SLOTS);
        let old = key("api", "email_not_found");
        let new = key("web", "email_not_found");
        // 100 counted before the first sample (a backlog read at start).
        history.record(Instant::now(), &counts(&[(&old, 100)]));
        sample_after_interval(&history, &[(&old, 100), (&new, 4)]).await;
        let snapshot = history.snapshot(Instant::now(), &counts(&[(&old, 100), (&new, 4)]));
        assert_eq!(snapshot.series[&old].increments[SLOTS - 1], 0);
        assert_eq!(snapshot.series[&old].rate_short, Some(0.0));
        assert_eq!(snapshot.series[&new].increments[SLOTS - 1], 4);
        assert_eq!(snapshot.series[&new].rate_short, Some(4.0 / 10.0));
        // A series born since the last sample: all of it is new.
        let born = key("batch", "email_not_found");
        let snapshot = history.snapshot(
            Instant::now() + Duration::from_secs(2),
            &counts(&[(&old, 100), (&new, 4), (&born, 6)]),
        );
        assert_eq!(snapshot.series[&born].rate_short, Some(6.0 / 12.0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_counter_that_went_down_was_recreated_from_zero() {
        let history = History::new(SLOTS);
        let member = key("api", "member_not_found");
        history.record(Instant::now(), &counts(&[(&member, 0)]));
        sample_after_interval(&history, &[(&member, 50)]).await;
        // A reload forgot the series and it came back: 7 since.
        sample_after_interval(&history, &[(&member, 7)]).await;
        let snapshot = history.snapshot(Instant::now(), &counts(&[(&member, 9)]));
        let recent = &snapshot.series[&member];
        assert_eq!(recent.increments[SLOTS - 2..], [50, 7]);
        assert_eq!(recent.rate_short, Some((50.0 + 7.0 + 2.0) / 20.0));
    }

    #[test]
    fn before_the_first_sample_there_is_no_rate() {
        let history = History::new(SLOTS);
        let member = key("api", "member_not_found");
        let snapshot = history.snapshot(Instant::now(), &counts(&[(&member, 3)]));
        assert_eq!(snapshot.covered, 0);
        assert_eq!(snapshot.series[&member].rate_short, None);
        assert_eq!(snapshot.series[&member].rate_long, None);
        assert_eq!(snapshot.series[&member].total, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded_by_the_hour_and_by_the_series_in_the_registry() {
        let history = History::new(SLOTS);
        let busy = key("api", "session_not_found");
        let quiet = key("api", "email_not_found");
        history.record(Instant::now(), &counts(&[(&busy, 0), (&quiet, 0)]));
        for i in 1..=(3 * SLOTS as u64) {
            sample_after_interval(&history, &[(&busy, i), (&quiet, 1)]).await;
        }
        {
            let rings = history.rings.lock().unwrap();
            assert_eq!(rings.times.len(), SLOTS + 1);
            assert_eq!(rings.series[&busy].increments.len(), SLOTS);
            assert_eq!(rings.series[&busy].sum, SLOTS as u64);
            // One event three hours ago: nothing kept but its last value.
            assert!(rings.series[&quiet].increments.is_empty());
            assert_eq!(rings.series[&quiet].increments.capacity(), 0);
            assert_eq!(rings.series[&quiet].last, 1);
        }
        let recent = &history
            .snapshot(
                Instant::now(),
                &counts(&[(&busy, 3 * SLOTS as u64), (&quiet, 1)]),
            )
            .series;
        assert_eq!(recent[&busy].increments, vec![1; SLOTS]);
        assert_eq!(recent[&quiet].increments, vec![0; SLOTS]);
        assert_eq!(recent[&quiet].rate_short, Some(0.0));

        // The input went away in a reload: so does its history.
        sample_after_interval(&history, &[(&busy, 3 * SLOTS as u64)]).await;
        assert_eq!(history.rings.lock().unwrap().series.len(), 1);
    }

    #[test]
    fn recents_add_up() {
        let mut sum = Recent::zero(3);
        sum.add(&Recent {
            total: 5,
            rate_short: Some(0.5),
            rate_long: Some(0.25),
            increments: vec![1, 0, 4],
        });
        sum.add(&Recent {
            total: 2,
            rate_short: Some(1.0),
            rate_long: Some(0.5),
            increments: vec![0, 2, 0],
        });
        assert_eq!(
            sum,
            Recent {
                total: 7,
                rate_short: Some(1.5),
                rate_long: Some(0.75),
                increments: vec![1, 2, 4],
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_sampler_reads_the_registry_every_interval_until_stopped() {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let metrics = Metrics::new().unwrap();
        let history = Arc::new(History::new(SLOTS));
        let session = catalog.index_of(b"session_not_found").unwrap();
        let mut input = metrics.input("api", &catalog);
        let mut tally = Tally::new(catalog.len());
        // Counted before the sampler's baseline.
        tally.errors[session] = 5;
        tally.lines = 5;
        input.publish(&mut tally);

        let started = Instant::now();
        let stop = CancellationToken::new();
        let sampler = tokio::spawn(sample_counters(
            metrics.clone(),
            Arc::clone(&history),
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        tally.errors[session] = 20;
        tally.uncatalogued[crate::scan::status_slot(Some(404))] = 3;
        tally.lines = 40;
        input.publish(&mut tally);
        // Past the second sample (t = 10 s), before the third.
        tokio::time::sleep(Duration::from_secs(14)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(15));

        let snapshot = history.snapshot(Instant::now(), &Counts::gather(&metrics));
        assert_eq!(snapshot.covered, 1);
        let errors = &snapshot.series[&key("api", "session_not_found")];
        assert_eq!(errors.total, 25);
        assert_eq!(errors.increments[SLOTS - 1], 20);
        assert_eq!(errors.rate_short, Some(20.0 / 15.0));
        let uncatalogued = &snapshot.series[&SeriesKey::new("api", Counter::Uncatalogued)];
        assert_eq!(
            (uncatalogued.total, uncatalogued.increments[SLOTS - 1]),
            (3, 3)
        );
        let lines = &snapshot.series[&SeriesKey::new("api", Counter::Lines)];
        assert_eq!((lines.total, lines.increments[SLOTS - 1]), (45, 40));
        // Every other catalogued type is in the registry at 0: not shown.
        assert_eq!(snapshot.series.len(), 3);

        stop.cancel();
        tokio::time::timeout(Duration::from_secs(1), sampler)
            .await
            .expect("the sampler did not stop")
            .unwrap();
    }
}
