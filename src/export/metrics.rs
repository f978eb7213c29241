//! Metric names and help texts: one place, so `scan --format prometheus`
//! and the daemon's `/metrics` cannot drift apart. The daemon's families,
//! each input's counter handles, and the label sets taken from file paths.
//!
//! # Path labels
//!
//! An input with `path_labels` adds the labels its regular expression
//! captures from a file's path to the file's `errtally_errors_total`,
//! `errtally_uncatalogued_errors_total` and `errtally_lines_total` series;
//! every other family stays per `source`. Each distinct tuple of captured
//! values is a *label set* with counter handles of its own, resolved when
//! its first file opens (its catalogued series appear at 0 then), so
//! counting stays one atomic add per counter per read chunk: no lock, no
//! lookup and no allocation per line. A file is attributed to its set once,
//! at open ([`InputMetrics::attach`]); the input publishes each read's tally
//! into that set ([`InputMetrics::publish_to`]). A set whose files have all
//! been closed for `path_labels_ttl` is removed with its series
//! ([`InputMetrics::expire`]); past `max_label_sets` live sets, new files
//! count into the set whose values are all [`OVERFLOW_VALUE`], and
//! `errtally_label_sets_dropped_total` rises.
//!
//! A `prometheus` crate family has fixed label names, but inputs need not
//! share theirs: an input without `path_labels` must keep exactly the
//! series it has always had (no empty extra labels), whatever another input
//! configures, and thousands of label sets must fit a small memory limit.
//! So these three families live in [`labelled`], outside the crate's
//! vectors (its module docs say why and what that saves), their names
//! claimed in the one registry through a collector. A reload that changes
//! an input's `path_labels` drops that input's series of these families:
//! old and new label sets do not describe the same files.
//!
//! # One walk
//!
//! Every output of the families comes from [`Metrics::expose`]: the
//! registry's families as it gathers them (sorted by name), then the
//! labelled families from their counters, into an [`exposition::Exposition`].
//! `/metrics` ([`Metrics::render`]) and `scan --format prometheus`
//! ([`render_tally`], which keeps only [`TALLY_FAMILIES`]) are its callers
//! with the text format; OpenMetrics is another writer of the same walk
//! (see [`exposition`]). Rendering 46,000 series takes tens of
//! milliseconds, so callers on the async runtime run it on the blocking
//! pool.

/// Prometheus metric names (one `errtally_` prefix, `_total` on counters).
pub mod names {
    /// Catalogued errors, by source, status and type.
    pub(crate) const ERRORS: &str = "errtally_errors_total";
    /// Help text of [`ERRORS`].
    pub(crate) const ERRORS_HELP: &str = "Log records carrying a catalogued Stytch error_type.";
    /// Uncatalogued errors, by source and status.
    pub(crate) const UNCATALOGUED: &str = "errtally_uncatalogued_errors_total";
    /// Help text of [`UNCATALOGUED`].
    pub(crate) const UNCATALOGUED_HELP: &str = "Log records carrying an error_type that is not in the catalogue, by the record's status_code.";
    /// When each catalogued type was last seen, by source.
    pub(crate) const LAST_SEEN: &str = "errtally_error_last_seen_timestamp_seconds";
    /// Help text of [`LAST_SEEN`].
    pub(crate) const LAST_SEEN_HELP: &str =
        "Time of the latest record of the type: its own time, or when it was read if it has none.";
    /// Records read.
    pub const LINES: &str = "errtally_lines_total";
    /// Help text of [`LINES`].
    pub(crate) const LINES_HELP: &str = "Log records (lines) read.";
    /// Bytes read.
    pub(crate) const BYTES: &str = "errtally_bytes_total";
    /// Help text of [`BYTES`].
    pub(crate) const BYTES_HELP: &str = "Bytes of log read.";
    /// Over-long records.
    pub const TRUNCATED: &str = "errtally_lines_truncated_total";
    /// Help text of [`TRUNCATED`].
    pub(crate) const TRUNCATED_HELP: &str =
        "Log records longer than max_line_bytes; only their first max_line_bytes were scanned.";
    /// Files counted into the overflow label set.
    pub(crate) const LABEL_SETS_DROPPED: &str = "errtally_label_sets_dropped_total";
    /// Help text of [`LABEL_SETS_DROPPED`].
    pub(crate) const LABEL_SETS_DROPPED_HELP: &str = "Files whose path labels would have made a label set past max_label_sets; \
         their counts went to the set whose path labels are all __overflow__.";
    /// One series per catalogued type, carrying what it means.
    pub(crate) const HINT_INFO: &str = "errtally_error_hint_info";
    /// Help text of [`HINT_INFO`].
    pub(crate) const HINT_INFO_HELP: &str = "What a catalogued error means, what to check first, its common causes and troubleshooting steps (always 1).";
}

mod exposition;
mod labelled;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use prometheus::core::Collector;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use tokio::time::Instant;

use exposition::{Exemplar, Exposition, TextFormat};
pub(crate) use exposition::{Kind, OpenMetricsFormat};
pub(crate) use labelled::Totals;
use labelled::{Count, Counted, ExemplarSlot, LastSeen, SeriesStore, TypeKey};

use crate::catalog::{Catalog, CatalogEntry};
use crate::config::PathLabels;
use crate::scan::Tally;
use crate::time::Stamp;

/// The value of every path label of the set that counts files past
/// `max_label_sets`.
pub(crate) const OVERFLOW_VALUE: &str = "__overflow__";

/// Longest text put into a label of `errtally_error_hint_info`. The longest
/// in the shipped catalogue (session_not_found's two troubleshooting steps,
/// 290 characters) fits whole many times over; the bound only keeps a user
/// catalogue's essay from bloating every scrape.
pub(crate) const MAX_HINT_LABEL_CHARS: usize = 2048;

/// The labels of `errtally_error_hint_info`, in the order
/// [`hint_label_values`] fills them.
pub(crate) const HINT_LABELS: [&str; 7] = [
    "error_type",
    "status_code",
    "summary",
    "hint",
    "causes",
    "troubleshooting",
    "doc_url",
];

/// The values of [`HINT_LABELS`] for one entry: all from the catalogue,
/// never from log content. `summary` is the description, `hint` the entry's
/// hint, `causes` and `troubleshooting` the whole lists as `1. … 2. …`
/// (empty when the entry has none).
pub(crate) fn hint_label_values(entry: &CatalogEntry) -> [String; 7] {
    let text = |value: &str| crate::catalog::shorten(value, MAX_HINT_LABEL_CHARS);
    [
        entry.error_type.clone(),
        entry.status_code.to_string(),
        text(&entry.description),
        text(entry.hint()),
        text(&entry.causes_numbered()),
        text(&entry.troubleshooting_numbered()),
        entry.doc_url.clone(),
    ]
}

/// The families a tally fills, and the catalogue's hints: what
/// `scan --format prometheus` writes ([`render_tally`]). The daemon's other
/// families describe a running process (open files, lag, reloads,
/// checkpoints) and would be constant zeros in a one-shot scan.
const TALLY_FAMILIES: [&str; 6] = [
    names::ERRORS,
    names::UNCATALOGUED,
    names::LINES,
    names::BYTES,
    names::TRUNCATED,
    names::HINT_INFO,
];

/// The exposition of `tally` as the daemon's `/metrics` shows an input
/// `source` that has read what `tally` counts ([`TALLY_FAMILIES`] only):
/// the same families, help texts, label order and escaping, through the
/// same walk ([`Metrics::expose`]).
pub(crate) fn render_tally(
    catalog: &Catalog,
    tally: &Tally,
    source: &str,
) -> Result<Vec<u8>, prometheus::Error> {
    let metrics = Metrics::families()?;
    metrics.set_catalog(catalog);
    metrics.input(source, catalog).publish(&mut tally.clone());
    let mut text = TextFormat::with_capacity(16 << 10);
    metrics.expose(|name| TALLY_FAMILIES.contains(&name), &mut text);
    Ok(text.finish())
}

/// Makes families and registers them in one registry.
struct Register<'a>(&'a Registry);

impl Register<'_> {
    /// Registers `collector` and hands it back.
    fn register<C: Collector + Clone + 'static>(
        &self,
        collector: C,
    ) -> Result<C, prometheus::Error> {
        self.0.register(Box::new(collector.clone()))?;
        Ok(collector)
    }

    fn counters(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec, prometheus::Error> {
        self.register(IntCounterVec::new(Opts::new(name, help), labels)?)
    }

    fn gauges(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntGaugeVec, prometheus::Error> {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels)?)
    }
}

/// The daemon's metric families, registered once.
///
/// Per-line counting never touches these: each input counts into its own
/// [`Tally`] and [`InputMetrics::publish_to`] adds it here once per read chunk.
#[derive(Clone)]
pub struct Metrics {
    /// Every family, for `gather` and [`Metrics::render`]; others (the
    /// web config's gauges) register theirs here too.
    registry: Registry,
    /// `errtally_errors_total`, `errtally_uncatalogued_errors_total` and
    /// `errtally_lines_total`.
    series: SeriesStore,
    label_sets_dropped: IntCounterVec,
    hint_info: IntGaugeVec,
    bytes: IntCounterVec,
    truncated: IntCounterVec,
    rotations: IntCounterVec,
    read_errors: IntCounterVec,
    files_dropped: IntCounterVec,
    files_watched: IntGaugeVec,
    files_parked: IntGaugeVec,
    input_lag: IntGaugeVec,
    input_up: IntGaugeVec,
    reload_successful: IntGauge,
    reload_timestamp: Gauge,
    watch_errors: IntCounter,
    checkpoint_errors: IntCounter,
    checkpoint_timestamp: Gauge,
}

impl Metrics {
    /// Registers every family, the build info and the process collector.
    pub fn new() -> Result<Self, prometheus::Error> {
        let metrics = Self::families()?;
        metrics.register_process_and_build_info()?;
        Ok(metrics)
    }

    /// Registers errtally's own families, without what only a running
    /// daemon has (its process and build); what [`render_tally`] starts from.
    /// Longer than most: one entry per family, its name and help side by
    /// side, read as a table.
    fn families() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let family = Register(&registry);
        let series = SeriesStore::new()?;
        registry.register(Box::new(series.clone()))?;
        Ok(Self {
            series,
            label_sets_dropped: family.counters(
                names::LABEL_SETS_DROPPED,
                names::LABEL_SETS_DROPPED_HELP,
                &["source"],
            )?,
            hint_info: family.gauges(names::HINT_INFO, names::HINT_INFO_HELP, &HINT_LABELS)?,
            bytes: family.counters(names::BYTES, names::BYTES_HELP, &["source"])?,
            truncated: family.counters(names::TRUNCATED, names::TRUNCATED_HELP, &["source"])?,
            rotations: family.counters(
                "errtally_rotations_total",
                "Log file rotations seen (rename, truncation, symlink change).",
                &["source"],
            )?,
            read_errors: family.counters(
                "errtally_read_errors_total",
                "Failed opens, stats and reads of log files (retried).",
                &["source"],
            )?,
            files_dropped: family.counters(
                "errtally_files_dropped_total",
                "Files a glob matched past the input's max_files, not followed.",
                &["source"],
            )?,
            files_watched: family.gauges(
                "errtally_files_watched",
                "Log files currently open.",
                &["source"],
            )?,
            files_parked: family.gauges(
                "errtally_files_parked",
                "Log files read to their end and closed to stay within the descriptor budget; reopened when they change.",
                &["source"],
            )?,
            input_lag: family.gauges(
                "errtally_input_lag_bytes",
                "Bytes written to the input's files but not read yet.",
                &["source"],
            )?,
            input_up: family.gauges(
                "errtally_input_up",
                "Whether the input runs (1) or failed and waits for its restart (0).",
                &["source"],
            )?,
            reload_successful: family.register(IntGauge::new(
                "errtally_config_last_reload_successful",
                "Whether the last configuration load succeeded.",
            )?)?,
            reload_timestamp: family.register(Gauge::new(
                "errtally_config_last_reload_success_timestamp_seconds",
                "Time of the last successful configuration load.",
            )?)?,
            watch_errors: family.register(IntCounter::new(
                "errtally_watch_errors_total",
                "File notification errors and queue overflows; each triggers a rescan of every input.",
            )?)?,
            checkpoint_errors: family.register(IntCounter::new(
                "errtally_checkpoint_errors_total",
                "Failed saves of the checkpoint (retried at the next interval).",
            )?)?,
            checkpoint_timestamp: family.register(Gauge::new(
                "errtally_checkpoint_last_success_timestamp_seconds",
                "Time of the last successful checkpoint save (0 before the first).",
            )?)?,
            registry,
        })
    }

    /// The `process_*` families and `errtally_build_info`.
    fn register_process_and_build_info(&self) -> Result<(), prometheus::Error> {
        self.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let build_info = Register(&self.registry).gauges(
            "errtally_build_info",
            "errtally's version (always 1).",
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        Ok(())
    }

    /// Records a checkpoint save: its time, or one more failure.
    pub(crate) fn record_checkpoint(&self, saved: bool) {
        if saved {
            self.checkpoint_timestamp.set(unix_seconds());
        } else {
            self.checkpoint_errors.inc();
        }
    }

    /// Exports one `errtally_error_hint_info` series per catalogued type,
    /// replacing those of a previous catalogue.
    pub fn set_catalog(&self, catalog: &Catalog) {
        self.hint_info.reset();
        for entry in catalog.entries() {
            let values = hint_label_values(entry);
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            self.hint_info.with_label_values(&values).set(1);
        }
    }

    /// The `errtally_input_up` gauge of a file input.
    pub(crate) fn input_up(&self, source: &str) -> IntGauge {
        self.input_up.with_label_values(&[source])
    }

    /// The first exposition line starting with `prefix` (a series), for
    /// tests; empty if there is none.
    #[cfg(test)]
    pub(crate) fn series_line(&self, prefix: &str) -> String {
        String::from_utf8(self.render())
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with(prefix))
                    .map(str::to_string)
            })
            .unwrap_or_default()
    }

    /// Counts a file notification error or queue overflow.
    pub(crate) fn count_watch_error(&self) {
        self.watch_errors.inc();
    }

    /// Records the outcome of a configuration load.
    pub(crate) fn set_reload_result(&self, ok: bool) {
        self.reload_successful.set(i64::from(ok));
        if ok {
            self.reload_timestamp.set(unix_seconds());
        }
    }

    /// Counter handles for an input without path labels (stdin, or files
    /// counted under `source` alone), resolved once; every catalogued type
    /// is exported at 0 from now on.
    pub fn input(&self, source: &str, catalog: &Catalog) -> InputMetrics {
        self.file_input(source, catalog, None)
    }

    /// Counter handles for an input, resolved once. Without `path_labels`
    /// as [`Metrics::input`]. With them, label sets are made as files open
    /// ([`InputMetrics::attach`]); those the source's series already show
    /// (from before a restart or a reload with the same `path_labels`) are
    /// taken over, idle, so they expire unless a file of theirs opens
    /// again. If the source's series were made with other `path_labels`,
    /// they are dropped first.
    pub(crate) fn file_input(
        &self,
        source: &str,
        catalog: &Catalog,
        path_labels: Option<&PathLabels>,
    ) -> InputMetrics {
        let names = path_labels.map_or(&[][..], PathLabels::names);
        let pattern = path_labels.map(PathLabels::pattern);
        if self.series.bind(source, names, pattern) {
            let _ = self.label_sets_dropped.remove_label_values(&[source]);
        }
        let path_labels = path_labels.cloned();
        let types = catalog
            .entries()
            .iter()
            .map(|entry| (entry.status_code, Arc::from(entry.error_type.as_str())))
            .collect();
        let mut input = InputMetrics {
            source: source.to_string(),
            types,
            dropped: path_labels
                .as_ref()
                .map(|_| self.label_sets_dropped.with_label_values(&[source])),
            series: self.series.clone(),
            path_labels,
            sets: Vec::new(),
            by_values: HashMap::new(),
            live: 0,
            idle: 0,
            overflow: None,
            bytes: self.bytes.with_label_values(&[source]),
            truncated: self.truncated.with_label_values(&[source]),
            rotations: self.rotations.with_label_values(&[source]),
            read_errors: self.read_errors.with_label_values(&[source]),
            files_dropped: self.files_dropped.with_label_values(&[source]),
            files_watched: self.files_watched.with_label_values(&[source]),
            files_parked: self.files_parked.with_label_values(&[source]),
            input_lag: self.input_lag.with_label_values(&[source]),
            last_seen: HashMap::new(),
        };
        if input.path_labels.is_some() {
            input.adopt_existing(Instant::now());
        } else {
            input.add_set(Vec::new());
        }
        input
    }

    /// Drops the series of an input that a reload removed (of every label
    /// set and type, so the catalogue is not needed).
    pub(crate) fn forget_input(&self, source: &str) {
        self.series.remove_source(source);
        for vec in [
            &self.label_sets_dropped,
            &self.bytes,
            &self.truncated,
            &self.rotations,
            &self.read_errors,
            &self.files_dropped,
        ] {
            let _ = vec.remove_label_values(&[source]);
        }
        for vec in [
            &self.files_watched,
            &self.files_parked,
            &self.input_lag,
            &self.input_up,
        ] {
            let _ = vec.remove_label_values(&[source]);
        }
    }

    /// Drops an input's series (of every label set) of types that `new` no
    /// longer catalogues; the others keep their values across a reload.
    pub(crate) fn forget_types(&self, source: &str, new: &Catalog) {
        self.series
            .retain_types(source, |(status_code, error_type)| {
                new.index_of(error_type.as_bytes())
                    .and_then(|index| new.entry(index))
                    .is_some_and(|kept| kept.status_code == *status_code)
            });
    }

    /// Catalogued errors by type, uncatalogued errors and lines, summed
    /// over every input and label set; cheaper than gathering.
    pub fn totals(&self) -> Totals {
        self.series.totals()
    }

    /// [`Metrics::totals`] per input (`source`).
    pub(crate) fn totals_by_source(&self) -> std::collections::BTreeMap<String, Totals> {
        self.series.totals_by_source()
    }

    /// The registry other parts register their families in (the web
    /// config's gauges). Its `gather` lacks the labelled families, whose
    /// series only [`Metrics::expose`] walks; it does refuse their names.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition (format 0.0.4) of every family.
    /// Takes tens of milliseconds at thousands of label sets: not for an
    /// async worker.
    pub fn render(&self) -> Vec<u8> {
        self.render_as(Format::Text)
    }

    /// Every family in `format`, from the one walk.
    pub fn render_as(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Text => {
                let mut text = TextFormat::with_capacity(16 << 10);
                self.expose(|_| true, &mut text);
                text.finish()
            }
            Format::OpenMetrics => {
                let mut text = OpenMetricsFormat::new(Vec::with_capacity(16 << 10));
                self.expose(|_| true, &mut text);
                text.finish()
            }
        }
    }

    /// The one walk over the families whose names `keep` keeps, into
    /// `out`: the registry's, sorted by name as it gathers them, then the
    /// labelled families (errors, lines, uncatalogued), whose order the
    /// golden scrape fixes.
    fn expose(&self, keep: impl Fn(&str) -> bool, out: &mut impl Exposition) {
        let mut families = self.registry.gather();
        families.retain(|family| keep(family.name()));
        exposition::expose_gathered(&families, out);
        self.series.expose(&keep, out);
    }
}

/// Which label set of its input a file counts into; handed out by
/// [`InputMetrics::attach`] and valid until the matching
/// [`InputMetrics::detach`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelSetId(usize);

/// One label set's handles and how many open files count into it.
#[derive(Clone)]
struct LabelSet {
    /// The path label values, in the order of the input's names.
    values: Vec<String>,
    /// Exemplar holders of its counter series, made on their first
    /// exemplar.
    exemplars: HashMap<Counted, ExemplarSlot>,
    /// By catalogue index.
    errors: Vec<Count>,
    /// By status slot, resolved on first use: statuses are bounded
    /// (100..=599 and unknown) but exporting all 501 at 0 would be noise,
    /// and a few are seen, so a short list beats 501 slots per set.
    uncatalogued: Vec<(usize, Count)>,
    lines: Count,
    /// Open files attached to the set.
    files: usize,
    /// Since when no file is attached.
    idle_since: Option<Instant>,
}

/// One input's counter handles: the per-source ones, and those of each of
/// its label sets (one set, without extra labels, for an input without
/// `path_labels`). Owned by the input's task. Counting takes no lock; making
/// or removing a set, and a set's first count of an uncatalogued status,
/// take the series store's.
#[derive(Clone)]
pub struct InputMetrics {
    source: String,
    /// `status_code` and `error_type` of each catalogued type, by index.
    types: Arc<[TypeKey]>,
    series: SeriesStore,
    path_labels: Option<PathLabels>,
    /// By [`LabelSetId`]; a removed set leaves `None` for the next one.
    sets: Vec<Option<LabelSet>>,
    by_values: HashMap<Vec<String>, usize>,
    /// Sets other than the overflow set.
    live: usize,
    /// Sets without files, which [`InputMetrics::expire`] looks at.
    idle: usize,
    overflow: Option<usize>,
    /// `errtally_label_sets_dropped_total` (inputs with path labels).
    dropped: Option<IntCounter>,
    bytes: IntCounter,
    truncated: IntCounter,
    /// Rotations seen.
    pub(crate) rotations: IntCounter,
    /// Open, stat and read failures.
    pub(crate) read_errors: IntCounter,
    /// Matched files past `max_files`, not followed.
    pub(crate) files_dropped: IntCounter,
    /// Files open.
    pub(crate) files_watched: IntGauge,
    /// Files parked (closed for the descriptor budget).
    pub(crate) files_parked: IntGauge,
    /// Unread bytes.
    pub(crate) input_lag: IntGauge,
    /// `errtally_error_last_seen_timestamp_seconds` by type index, made
    /// when the type is first seen.
    last_seen: HashMap<usize, LastSeen>,
}

impl InputMetrics {
    /// The `source` label.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Attaches the file at `path` to the label set its path labels name,
    /// making the set (its catalogued series at 0) if it is new; past
    /// `max_label_sets` live sets, to the overflow set. Without path labels,
    /// the input's one set.
    pub(crate) fn attach(&mut self, path: &Path) -> LabelSetId {
        let Some(labels) = &self.path_labels else {
            return LabelSetId(0);
        };
        let values = labels.values(path);
        let max = labels.max_label_sets;
        let slot = match self.by_values.get(&values) {
            Some(&slot) => slot,
            None if self.live >= max => {
                if let Some(dropped) = &self.dropped {
                    dropped.inc();
                }
                match self.overflow {
                    Some(slot) => slot,
                    None => {
                        tracing::warn!(
                            input = %self.source,
                            path = %path.display(),
                            max_label_sets = max,
                            "too many path label sets; counting new ones under {OVERFLOW_VALUE}"
                        );
                        self.add_set(vec![OVERFLOW_VALUE.to_owned(); values.len()])
                    }
                }
            }
            None => self.add_set(values),
        };
        if let Some(Some(set)) = self.sets.get_mut(slot) {
            set.files += 1;
            if set.idle_since.take().is_some() {
                self.idle -= 1;
            }
        }
        LabelSetId(slot)
    }

    /// Detaches a closed file from its label set; the set's TTL starts
    /// when its last file goes.
    pub fn detach(&mut self, id: LabelSetId, now: Instant) {
        if self.path_labels.is_none() {
            return;
        }
        if let Some(Some(set)) = self.sets.get_mut(id.0) {
            set.files = set.files.saturating_sub(1);
            if set.files == 0 && set.idle_since.is_none() {
                set.idle_since = Some(now);
                self.idle += 1;
            }
        }
    }

    /// Removes, with their series, the label sets that have had no file
    /// for `path_labels_ttl`.
    pub(crate) fn expire(&mut self, now: Instant) {
        let Some(ttl) = self.path_labels.as_ref().map(|labels| labels.ttl) else {
            return;
        };
        if self.idle == 0 {
            return;
        }
        for slot in 0..self.sets.len() {
            let expired = self.sets[slot].as_ref().is_some_and(|set| {
                set.idle_since
                    .is_some_and(|since| now.saturating_duration_since(since) >= ttl)
            });
            if expired {
                self.remove_set(slot);
            }
        }
    }

    /// Live label sets, the overflow set included (for tests).
    #[cfg(test)]
    pub(crate) fn label_sets(&self) -> usize {
        self.live + usize::from(self.overflow.is_some())
    }

    /// Adds `tally` to the shared counters of the input's (first) label
    /// set and clears it: for inputs without path labels.
    pub fn publish(&mut self, tally: &mut Tally) {
        self.publish_to(LabelSetId::default(), tally);
    }

    /// Adds `tally` to the shared counters, its records to label set `id`,
    /// and clears it.
    pub(crate) fn publish_to(&mut self, id: LabelSetId, tally: &mut Tally) {
        if tally.is_empty() {
            return;
        }
        self.bytes.inc_by(tally.bytes);
        self.truncated.inc_by(tally.truncated_lines);
        let Some(Some(set)) = self.sets.get_mut(id.0) else {
            debug_assert!(false, "publish to a removed label set");
            tracing::error!(input = %self.source, "counts for a removed label set were lost");
            tally.clear();
            return;
        };
        for (counter, count) in set.errors.iter().zip(&tally.errors) {
            if *count > 0 {
                counter.fetch_add(*count, Ordering::Relaxed);
            }
        }
        for (slot, count) in tally.uncatalogued.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            match set.uncatalogued.iter().find(|(seen, _)| *seen == slot) {
                Some((_, counter)) => {
                    counter.fetch_add(*count, Ordering::Relaxed);
                }
                None => {
                    let counter = self.series.uncatalogued(&self.source, &set.values, slot);
                    counter.fetch_add(*count, Ordering::Relaxed);
                    set.uncatalogued.push((slot, counter));
                }
            }
        }
        set.lines.fetch_add(tally.lines, Ordering::Relaxed);
        if let Some(latest) = tally.latest.as_deref() {
            let read = Stamp::now();
            for (slot, of_type) in latest.seen() {
                let slot = slot as usize;
                let counted = match self.types.get(slot) {
                    Some(key) => Counted::Type(key.clone()),
                    None => Counted::Status(slot - self.types.len()),
                };
                if let (Counted::Type(key), Some(seen)) = (&counted, of_type.seen) {
                    let nanos = seen.or_read_at(read).nanos();
                    self.last_seen
                        .entry(slot)
                        .or_insert_with(|| self.series.last_seen(&self.source, key, nanos))
                        .fetch_max(nanos, Ordering::Relaxed);
                }
                if let Some((seen, request_id)) = of_type.example {
                    let exemplar = Exemplar {
                        request_id,
                        time: seen.or_read_at(read),
                    };
                    let holder = set.exemplars.entry(counted.clone()).or_insert_with(|| {
                        self.series.exemplar(&self.source, &set.values, &counted)
                    });
                    let mut held = holder.lock().unwrap_or_else(PoisonError::into_inner);
                    // Never back in time: Prometheus refuses an exemplar
                    // older than the last one it took.
                    if held.is_none_or(|before| exemplar.time >= before.time) {
                        *held = Some(exemplar);
                    }
                }
            }
        }
        tally.clear();
    }

    /// Makes a label set, its catalogued series and lines at 0, with no
    /// file yet; returns its slot.
    fn add_set(&mut self, values: Vec<String>) -> usize {
        let handles = self.series.resolve(&self.source, &values, &self.types);
        let set = LabelSet {
            errors: handles.errors,
            exemplars: HashMap::new(),
            uncatalogued: Vec::new(),
            lines: handles.lines,
            files: 0,
            idle_since: None,
            values: values.clone(),
        };
        let slot = match self.sets.iter().position(Option::is_none) {
            Some(free) => {
                self.sets[free] = Some(set);
                free
            }
            None => {
                self.sets.push(Some(set));
                self.sets.len() - 1
            }
        };
        if !values.is_empty() && values.iter().all(|value| value == OVERFLOW_VALUE) {
            self.overflow = Some(slot);
        } else {
            self.live += 1;
        }
        self.by_values.insert(values, slot);
        slot
    }

    /// Removes label set `slot` and all its series.
    fn remove_set(&mut self, slot: usize) {
        let Some(set) = self.sets.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.series.remove_set(&self.source, &set.values);
        self.by_values.remove(&set.values);
        if self.overflow == Some(slot) {
            self.overflow = None;
        } else {
            self.live -= 1;
        }
        if set.idle_since.is_some() {
            self.idle -= 1;
        }
        tracing::debug!(input = %self.source, labels = ?set.values, "label set expired");
    }

    /// Takes over, idle, the label sets this source's series show (each set
    /// has an `errtally_lines_total` series).
    fn adopt_existing(&mut self, now: Instant) {
        if self.path_labels.is_none() {
            return;
        }
        let found = self.series.sets(&self.source);
        for values in found {
            if self.by_values.contains_key(&values) {
                continue;
            }
            let slot = self.add_set(values);
            if let Some(Some(set)) = self.sets.get_mut(slot) {
                set.idle_since = Some(now);
                self.idle += 1;
            }
        }
    }
}

/// The exposition formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4: the default.
    Text,
    /// OpenMetrics 1.0, for scrapers that ask for it.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of this format's exposition; kept here so the
    /// HTTP layer never names the `prometheus` crate.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => prometheus::TEXT_FORMAT,
            Format::OpenMetrics => exposition::OPEN_METRICS_CONTENT_TYPE,
        }
    }
}

/// The content type of [`Metrics::render`]'s text.
pub fn content_type() -> &'static str {
    Format::Text.content_type()
}

/// Now, in seconds since the Unix epoch (0 if the clock is before it).
fn unix_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::scan::status_slot;
    use std::time::Duration;

    fn series_of(metrics: &Metrics, source: &str) -> Vec<String> {
        let needle = format!("source=\"{source}\"");
        String::from_utf8(metrics.render())
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with('#') && line.contains(&needle))
            .map(str::to_string)
            .collect()
    }

    /// `1. a 2. b`, built here from the JSON rather than by the code under test.
    fn joined(list: &serde_json::Value) -> String {
        list.as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, item)| format!("{}. {}", i + 1, item.as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn escaped(value: &str) -> String {
        value.replace('\\', "\\\\").replace('"', "\\\"")
    }

    #[test]
    fn hint_info_carries_every_cause_and_step_of_the_catalogue_whole() {
        // The shipped catalogue, read as plain JSON: the expected series are
        // derived from the file, not from Catalog.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/catalog/stytch-b2b-404.json"
        );
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let metrics = Metrics::new().unwrap();
        metrics.set_catalog(&Catalog::builtin().unwrap());
        let exposition = String::from_utf8(metrics.render()).unwrap();
        let entries = file["errors"].as_array().unwrap();
        for entry in entries {
            the_entry_has_its_hint_series_whole(&exposition, entry);
        }
        let with_knowledge: Vec<&str> = entries
            .iter()
            .filter(|entry| {
                !joined(&entry["common_causes"]).is_empty()
                    || !joined(&entry["troubleshooting"]).is_empty()
            })
            .map(|entry| entry["error_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            with_knowledge,
            [
                "email_not_found",
                "oauth_token_not_found",
                "otp_code_not_found",
                "phone_number_not_found",
                "session_not_found"
            ]
        );
        let longest = entries
            .iter()
            .flat_map(|entry| [&entry["common_causes"], &entry["troubleshooting"]])
            .map(|list| joined(list).chars().count())
            .max()
            .unwrap_or(0);
        assert_eq!(longest, 290, "session_not_found's two steps");
        assert!(longest < MAX_HINT_LABEL_CHARS);
        assert_eq!(
            exposition
                .lines()
                .filter(|l| l.starts_with("errtally_error_hint_info{"))
                .count(),
            entries.len()
        );
    }

    /// `entry`'s errtally_error_hint_info series, built from the file's
    /// entry (the hint is the first step, else the first cause, else the
    /// description), is exported whole.
    fn the_entry_has_its_hint_series_whole(exposition: &str, entry: &serde_json::Value) {
        let text = |key: &str| entry[key].as_str().unwrap().to_string();
        let first = |key: &str| {
            entry[key]
                .get(0)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let hint = first("troubleshooting")
            .or_else(|| first("common_causes"))
            .unwrap_or_else(|| text("description"));
        let expected = format!(
            "errtally_error_hint_info{{causes=\"{}\",doc_url=\"{}\",error_type=\"{}\",hint=\"{}\",\
             status_code=\"{}\",summary=\"{}\",troubleshooting=\"{}\"}} 1",
            escaped(&joined(&entry["common_causes"])),
            escaped(&text("doc_url")),
            escaped(&text("error_type")),
            escaped(&hint),
            entry["status_code"],
            escaped(&text("description")),
            escaped(&joined(&entry["troubleshooting"])),
        );
        assert!(
            exposition.lines().any(|line| line == expected),
            "missing or cut:\n{expected}\nexported:\n{}",
            exposition
                .lines()
                .filter(|l| l.contains(&format!("error_type=\"{}\"", text("error_type"))))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    const PODS: &str = r"^/pods/(?P<namespace>[^_/]+)_(?P<pod>[^_/]+)/(?P<container>[^/]+)/";

    fn pod_labels(max_label_sets: usize) -> PathLabels {
        PathLabels::new(PODS, Duration::from_secs(60), max_label_sets).unwrap()
    }

    /// Exposition lines of `family` (exactly that name) with `labels`
    /// (`name="value"` pairs, in the exposition's order) and any value.
    fn lines_of(metrics: &Metrics, family: &str, labels: &str) -> Vec<String> {
        let prefix = format!("{family}{{{labels}");
        String::from_utf8(metrics.render())
            .unwrap()
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .map(str::to_string)
            .collect()
    }

    fn sample(metrics: &Metrics, series: &str) -> Option<String> {
        String::from_utf8(metrics.render())
            .unwrap()
            .lines()
            .find_map(|line| {
                line.strip_prefix(series)?
                    .strip_prefix(' ')
                    .map(str::to_string)
            })
    }

    /// A tally of `lines` lines, `errors` of them of the type at index 0
    /// and one uncatalogued 404.
    fn tally(catalog: &Catalog, lines: u64, errors: u64) -> Tally {
        let mut tally = Tally::new(catalog.len());
        tally.lines = lines;
        tally.bytes = lines * 10;
        tally.errors[0] = errors;
        tally.uncatalogued[status_slot(Some(404))] = 1;
        tally
    }

    #[test]
    fn path_labels_label_only_their_inputs_series() {
        let catalog = Catalog::builtin().unwrap();
        let metrics = Metrics::new().unwrap();
        let mut plain = metrics.input("plain", &catalog);
        let mut pods = metrics.file_input("pods", &catalog, Some(&pod_labels(10)));
        let web = count_into_a_plain_input_and_three_label_sets(&catalog, &mut plain, &mut pods);
        the_plain_inputs_series_are_as_without_path_labels(&catalog, &metrics);
        each_label_set_has_every_catalogued_type(&catalog, &metrics);
        each_label_set_has_its_own_lines_and_uncatalogued_errors(&metrics);
        self_metrics_stay_per_source(&metrics);
        assert_eq!((pods.label_sets(), web), (3, LabelSetId(1)));
    }

    /// Into `plain`, 5 lines with 2 errors of the first type; into
    /// `pods`, 7 lines with 3 to api-1's set, nothing to web-2's, and 1 line
    /// with 1 error to the set of a path the expression does not match
    /// (each tally with one uncatalogued 404). Returns web-2's set.
    fn count_into_a_plain_input_and_three_label_sets(
        catalog: &Catalog,
        plain: &mut InputMetrics,
        pods: &mut InputMetrics,
    ) -> LabelSetId {
        plain.publish(&mut tally(catalog, 5, 2));
        let api = pods.attach(Path::new("/pods/shop_api-1/app/0.log"));
        let web = pods.attach(Path::new("/pods/shop_web-2/app/0.log"));
        let odd = pods.attach(Path::new("/elsewhere/x.log"));
        assert_eq!(
            pods.attach(Path::new("/pods/shop_api-1/app/1.log")),
            api,
            "same labels, same set"
        );
        pods.publish_to(api, &mut tally(catalog, 7, 3));
        pods.publish_to(odd, &mut tally(catalog, 1, 1));
        web
    }

    fn the_plain_inputs_series_are_as_without_path_labels(catalog: &Catalog, metrics: &Metrics) {
        let first = &catalog.entries()[0].error_type;
        assert_eq!(
            lines_of(metrics, "errtally_errors_total", "error_type").len(),
            catalog.len(),
            "only the plain input's series start with error_type"
        );
        assert_eq!(
            sample(
                metrics,
                &format!(
                    r#"errtally_errors_total{{error_type="{first}",source="plain",status_code="404"}}"#
                )
            ),
            Some("2".into())
        );
        assert_eq!(
            sample(metrics, r#"errtally_lines_total{source="plain"}"#),
            Some("5".into())
        );
        assert_eq!(
            sample(
                metrics,
                r#"errtally_uncatalogued_errors_total{source="plain",status_code="404"}"#
            ),
            Some("1".into())
        );
    }

    /// Each label set has every catalogued type (at 0 until counted).
    fn each_label_set_has_every_catalogued_type(catalog: &Catalog, metrics: &Metrics) {
        let first = &catalog.entries()[0].error_type;
        for (container, namespace, pod, count) in [
            ("app", "shop", "api-1", "3"),
            ("app", "shop", "web-2", "0"),
            ("", "", "", "1"),
        ] {
            let labels = format!(r#"container="{container}",error_type="#);
            let set: Vec<String> = lines_of(metrics, "errtally_errors_total", &labels)
                .into_iter()
                .filter(|line| {
                    line.contains(&format!(
                        r#",namespace="{namespace}",pod="{pod}",source="pods","#
                    ))
                })
                .collect();
            assert_eq!(set.len(), catalog.len(), "{pod}: {set:?}");
            assert_eq!(
                sample(
                    metrics,
                    &format!(
                        r#"errtally_errors_total{{container="{container}",error_type="{first}",namespace="{namespace}",pod="{pod}",source="pods",status_code="404"}}"#
                    )
                ),
                Some(count.into())
            );
        }
    }

    fn each_label_set_has_its_own_lines_and_uncatalogued_errors(metrics: &Metrics) {
        assert_eq!(
            sample(
                metrics,
                r#"errtally_lines_total{container="app",namespace="shop",pod="api-1",source="pods"}"#
            ),
            Some("7".into())
        );
        assert_eq!(
            sample(
                metrics,
                r#"errtally_lines_total{container="app",namespace="shop",pod="web-2",source="pods"}"#
            ),
            Some("0".into())
        );
        assert_eq!(
            sample(
                metrics,
                r#"errtally_uncatalogued_errors_total{container="",namespace="",pod="",source="pods",status_code="404"}"#
            ),
            Some("1".into())
        );
    }

    fn self_metrics_stay_per_source(metrics: &Metrics) {
        assert_eq!(
            sample(metrics, r#"errtally_bytes_total{source="pods"}"#),
            Some("80".into())
        );
        assert_eq!(
            sample(
                metrics,
                r#"errtally_label_sets_dropped_total{source="pods"}"#
            ),
            Some("0".into())
        );
        assert_eq!(
            lines_of(metrics, "errtally_label_sets_dropped_total", "").len(),
            1,
            "no dropped-sets counter for an input without path labels"
        );
    }

    #[test]
    fn a_label_set_expires_a_ttl_after_its_last_file_closed() {
        let catalog = Catalog::builtin().unwrap();
        let metrics = Metrics::new().unwrap();
        let mut pods = metrics.file_input("pods", &catalog, Some(&pod_labels(10)));
        let api = Path::new("/pods/shop_api-1/app/0.log");
        let set = pods.attach(api);
        assert_eq!(pods.attach(api), set);
        pods.publish_to(set, &mut tally(&catalog, 4, 1));
        let api_series = "errtally_lines_total{container=\"app\",namespace=\"shop\",pod=\"api-1\",source=\"pods\"}";
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        pods.detach(set, t0);
        pods.expire(t0 + ttl * 2);
        assert_eq!(
            sample(&metrics, api_series),
            Some("4".into()),
            "one file is still open"
        );
        pods.detach(set, t0);
        pods.expire(t0 + ttl - Duration::from_millis(1));
        assert_eq!(
            sample(&metrics, api_series),
            Some("4".into()),
            "expired early"
        );
        pods.expire(t0 + ttl);
        assert_eq!(
            lines_of(&metrics, "errtally_errors_total", "container=").len(),
            0
        );
        assert_eq!(
            lines_of(&metrics, "errtally_uncatalogued_errors_total", "container=").len(),
            0
        );
        assert_eq!(
            lines_of(&metrics, "errtally_lines_total", "container=").len(),
            0
        );
        assert_eq!(pods.label_sets(), 0);

        // A file reopening before the TTL keeps the set.
        let set = pods.attach(api);
        pods.detach(set, t0);
        assert_eq!(pods.attach(api), set);
        pods.expire(t0 + ttl * 2);
        assert_eq!(
            sample(&metrics, api_series),
            Some("0".into()),
            "a new set starts at 0"
        );
    }

    #[test]
    fn past_max_label_sets_new_files_count_into_the_overflow_set() {
        let catalog = Catalog::builtin().unwrap();
        let metrics = Metrics::new().unwrap();
        let mut pods = metrics.file_input("pods", &catalog, Some(&pod_labels(2)));
        let a = pods.attach(Path::new("/pods/ns_a/c/0.log"));
        let b = pods.attach(Path::new("/pods/ns_b/c/0.log"));
        let over = pods.attach(Path::new("/pods/ns_c/c/0.log"));
        assert_eq!(pods.attach(Path::new("/pods/ns_d/c/0.log")), over);
        assert_eq!(
            pods.attach(Path::new("/pods/ns_a/c/1.log")),
            a,
            "known sets stay"
        );
        assert!(over != a && over != b);
        pods.publish_to(over, &mut tally(&catalog, 6, 2));
        let overflow =
            r#"container="__overflow__",namespace="__overflow__",pod="__overflow__",source="pods""#;
        assert_eq!(
            sample(&metrics, &format!("errtally_lines_total{{{overflow}}}")),
            Some("6".into())
        );
        assert_eq!(
            sample(
                &metrics,
                r#"errtally_label_sets_dropped_total{source="pods"}"#
            ),
            Some("2".into()),
            "one per file that overflowed"
        );
        assert_eq!(pods.label_sets(), 3);
        // Once a set expires, a new one fits again.
        let t0 = Instant::now();
        pods.detach(b, t0);
        pods.expire(t0 + Duration::from_secs(60));
        let e = pods.attach(Path::new("/pods/ns_e/c/0.log"));
        assert!(e != over);
        assert_eq!(
            sample(
                &metrics,
                r#"errtally_lines_total{container="c",namespace="ns",pod="e",source="pods"}"#
            ),
            Some("0".into())
        );
    }

    #[test]
    fn a_restart_takes_over_the_sets_and_changed_path_labels_drop_them() {
        let catalog = Catalog::builtin().unwrap();
        let metrics = Metrics::new().unwrap();
        let mut pods = metrics.file_input("pods", &catalog, Some(&pod_labels(10)));
        let set = pods.attach(Path::new("/pods/shop_api-1/app/0.log"));
        pods.publish_to(set, &mut tally(&catalog, 4, 1));
        let api_series = "errtally_lines_total{container=\"app\",namespace=\"shop\",pod=\"api-1\",source=\"pods\"}";

        // The same path labels (a restarted input, or a reload keeping
        // them): the set goes on counting, idle until a file opens.
        let mut again = metrics.file_input("pods", &catalog, Some(&pod_labels(10)));
        assert_eq!(again.label_sets(), 1);
        let set = again.attach(Path::new("/pods/shop_api-1/app/0.log"));
        again.publish_to(set, &mut tally(&catalog, 1, 0));
        assert_eq!(sample(&metrics, api_series), Some("5".into()));
        let mut idle = metrics.file_input("pods", &catalog, Some(&pod_labels(10)));
        idle.expire(Instant::now() + Duration::from_secs(60));
        assert_eq!(sample(&metrics, api_series), None, "taken-over sets expire");

        // Other path labels: the old sets' series go at once.
        let mut pods = metrics.file_input("pods", &catalog, Some(&pod_labels(10)));
        let set = pods.attach(Path::new("/pods/shop_api-1/app/0.log"));
        pods.publish_to(set, &mut tally(&catalog, 4, 1));
        let by_service =
            PathLabels::new("^/pods/(?P<service>[^/]+)/", Duration::from_secs(60), 10).unwrap();
        let mut service = metrics.file_input("pods", &catalog, Some(&by_service));
        assert_eq!(service.label_sets(), 0);
        assert_eq!(
            lines_of(&metrics, "errtally_errors_total", "container=").len(),
            0
        );
        assert_eq!(
            lines_of(&metrics, "errtally_uncatalogued_errors_total", "container=").len(),
            0
        );
        let set = service.attach(Path::new("/pods/shop_api-1/app/0.log"));
        service.publish_to(set, &mut tally(&catalog, 2, 0));
        assert_eq!(
            sample(
                &metrics,
                r#"errtally_lines_total{service="shop_api-1",source="pods"}"#
            ),
            Some("2".into())
        );
        // And dropping the path labels drops the labelled series too.
        let _plain = metrics.input("pods", &catalog);
        assert_eq!(
            lines_of(&metrics, "errtally_lines_total", "service=").len(),
            0
        );
        assert_eq!(
            sample(&metrics, r#"errtally_lines_total{source="pods"}"#),
            Some("0".into())
        );
        assert_eq!(
            lines_of(&metrics, "errtally_label_sets_dropped_total", "").len(),
            0
        );
    }

    #[test]
    fn a_reload_drops_removed_types_from_every_label_set() {
        let catalog = Catalog::builtin().unwrap();
        let first = catalog.entries()[0].error_type.clone();
        let metrics = Metrics::new().unwrap();
        let mut pods = metrics.file_input("pods", &catalog, Some(&pod_labels(10)));
        pods.attach(Path::new("/pods/shop_api-1/app/0.log"));
        pods.attach(Path::new("/pods/shop_web-1/app/0.log"));
        let smaller =
            Catalog::from_entries(vec![("test".to_owned(), catalog.entries()[0].clone())]).unwrap();
        metrics.forget_types("pods", &smaller);
        let left = lines_of(&metrics, "errtally_errors_total", "container=");
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(
            left.iter()
                .all(|line| line.contains(&format!("error_type=\"{first}\"")))
        );
    }

    #[test]
    fn render_writes_each_family_once_in_one_order() {
        let catalog = Catalog::builtin().unwrap();
        let metrics = Metrics::new().unwrap();
        let mut input = metrics.input("api", &catalog);
        input.publish(&mut tally(&catalog, 4, 2));
        let other = IntGauge::new("errtally_other", "Registered by another part.").unwrap();
        metrics.registry().register(Box::new(other)).unwrap();
        let text = String::from_utf8(metrics.render()).unwrap();
        let families: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|line| line.split(' ').next())
            .collect();
        // The registry's families sorted by name (another part's among
        // them), then the labelled ones: the golden scrape's order.
        let (registry, labelled) = families.split_at(families.len() - 3);
        assert!(registry.is_sorted(), "{registry:?}");
        assert!(registry.contains(&"errtally_other"));
        assert!(registry.contains(&names::BYTES));
        assert_eq!(labelled, [names::ERRORS, names::LINES, names::UNCATALOGUED]);
        let mut unique = families.clone();
        unique.dedup();
        assert_eq!(unique, families, "a family written twice");
        // The labelled names stay claimed in the registry.
        let twin = IntCounter::new(names::LINES, "A second lines family.").unwrap();
        assert!(metrics.registry().register(Box::new(twin)).is_err());
    }

    /// A second writer of the walk, as OpenMetrics will be: it notes each
    /// family and each sample's name in its own notation.
    #[derive(Default)]
    struct Recorder {
        family: String,
        families: Vec<String>,
        samples: Vec<String>,
    }

    impl Exposition for Recorder {
        fn family(&mut self, name: &str, _help: &str, _kind: exposition::Kind) {
            self.family = name.to_owned();
            self.families.push(name.to_owned());
        }

        fn sample(&mut self, suffix: &str, labels: &[(&str, &str)], _value: exposition::Value) {
            self.samples
                .push(format!("{}{suffix} {}", self.family, labels.len()));
        }

        fn finish(self) -> Vec<u8> {
            Vec::new()
        }
    }

    #[test]
    fn a_second_writer_of_the_walk_is_told_every_family_and_sample_the_text_shows() {
        let catalog = Catalog::builtin().unwrap();
        let metrics = Metrics::new().unwrap();
        metrics.set_catalog(&catalog);
        metrics
            .input("api", &catalog)
            .publish(&mut tally(&catalog, 4, 2));
        let mut pods = metrics.file_input("pods", &catalog, Some(&pod_labels(10)));
        let set = pods.attach(Path::new("/pods/shop_api-1/app/0.log"));
        pods.publish_to(set, &mut tally(&catalog, 3, 1));
        let text = String::from_utf8(metrics.render()).unwrap();
        let mut recorder = Recorder::default();
        metrics.expose(|_| true, &mut recorder);

        let families: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|line| line.split(' ').next())
            .collect();
        assert_eq!(recorder.families, families);
        // Each sample line as `name labels`, the labels counted by their `="`.
        let samples: Vec<String> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                format!("{name} {}", line.matches("=\"").count())
            })
            .collect();
        assert_eq!(recorder.samples, samples);
        assert!(samples.len() > 2 * catalog.len(), "{}", samples.len());
    }

    /// A tally of `lines` that keeps the latest record of each type.
    fn latest_tally(catalog: &Arc<Catalog>, lines: &str) -> Tally {
        use crate::scan::latest::Latest;
        use crate::time::{TimeReader, Zone};
        let mut tally =
            Tally::new(catalog.len()).with_latest(Latest::new(TimeReader::new(Zone::utc())));
        crate::scan::Scanner::new(Arc::clone(catalog)).scan_lines(lines.as_bytes(), &mut tally);
        tally
    }

    #[test]
    fn the_latest_request_ids_are_exemplars_and_last_seen_never_goes_back() {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let metrics = Metrics::new().unwrap();
        metrics.set_catalog(&catalog);
        let mut input = metrics.input("app", &catalog);
        let mut first = latest_tally(
            &catalog,
            // Within one read the last record of a type stands for the
            // latest (a log is written in time order).
            concat!(
                r#"{"ts":"2026-12-05T10:00:00Z","status_code":404,"error_type":"email_not_found"}"#,
                "\n",
                r#"{"ts":"2026-12-05T10:00:01.250Z","request_id":"req-1","status_code":404,"error_type":"email_not_found"}"#,
                "\n",
                r#"{"ts":"2026-12-05T10:00:03Z","request_id":"req-u","status_code":404,"error_type":"brand_new"}"#,
                "\n",
            ),
        );
        input.publish(&mut first);
        let open_metrics = String::from_utf8(metrics.render_as(Format::OpenMetrics)).unwrap();
        for line in [
            r#"errtally_errors_total{error_type="email_not_found",source="app",status_code="404"} 2 # {request_id="req-1"} 1 1796464801.250"#,
            r#"errtally_uncatalogued_errors_total{source="app",status_code="404"} 1 # {request_id="req-u"} 1 1796464803.000"#,
            r#"errtally_errors_total{error_type="session_not_found",source="app",status_code="404"} 0"#,
            r#"errtally_error_last_seen_timestamp_seconds{error_type="email_not_found",source="app",status_code="404"} 1796464801.25"#,
        ] {
            assert!(
                open_metrics.lines().any(|l| l == line),
                "no {line} in\n{open_metrics}"
            );
        }
        // The text format has no exemplars; last seen is there.
        let text = String::from_utf8(metrics.render()).unwrap();
        assert!(!text.contains("req-1"));
        assert!(text.contains(
            r#"errtally_error_last_seen_timestamp_seconds{error_type="email_not_found",source="app",status_code="404"} 1796464801.25"#
        ));
        // An older record later: neither goes back in time.
        let mut older = latest_tally(
            &catalog,
            "{\"ts\":\"2026-12-05T09:00:00Z\",\"request_id\":\"req-old\",\"error_type\":\"email_not_found\"}\n",
        );
        input.publish(&mut older);
        let open_metrics = String::from_utf8(metrics.render_as(Format::OpenMetrics)).unwrap();
        assert!(open_metrics.contains(r#"3 # {request_id="req-1"} 1 1796464801.250"#));
        assert!(!open_metrics.contains("req-old"));
        // Types never seen have no last-seen series.
        assert!(!open_metrics.contains(
            r#"errtally_error_last_seen_timestamp_seconds{error_type="session_not_found""#
        ));
        // A reload that drops the type drops its series.
        let session = catalog
            .entries()
            .iter()
            .find(|entry| entry.error_type == "session_not_found")
            .unwrap()
            .clone();
        let fewer = Catalog::from_entries(vec![("test".to_owned(), session)]).unwrap();
        metrics.forget_types("app", &fewer);
        let open_metrics = String::from_utf8(metrics.render_as(Format::OpenMetrics)).unwrap();
        for gone in [
            "errtally_errors_total{error_type=\"email_not_found\"",
            "errtally_error_last_seen_timestamp_seconds{error_type=\"email_not_found\"",
            "req-1",
        ] {
            assert!(!open_metrics.contains(gone), "{gone} in\n{open_metrics}");
        }
        assert!(
            open_metrics.contains("req-u"),
            "uncatalogued exemplars stay"
        );
    }

    #[test]
    fn a_record_stamped_far_ahead_does_not_hold_the_exemplar_and_last_seen_for_good() {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let metrics = Metrics::new().unwrap();
        metrics.set_catalog(&catalog);
        let mut input = metrics.input("app", &catalog);
        // A wrong clock stamps one record in 2200.
        let mut ahead = latest_tally(
            &catalog,
            "{\"ts\":\"2200-01-01T00:00:00Z\",\"request_id\":\"req-2200\",\"error_type\":\"email_not_found\"}\n",
        );
        let before = Stamp::now();
        input.publish(&mut ahead);
        let after = Stamp::now();
        let exposed = String::from_utf8(metrics.render_as(Format::OpenMetrics)).unwrap();
        let series = r#"errtally_error_last_seen_timestamp_seconds{error_type="email_not_found",source="app",status_code="404"} "#;
        let last_seen: f64 = exposed
            .lines()
            .find_map(|line| line.strip_prefix(series))
            .unwrap()
            .parse()
            .unwrap();
        // Not believed: taken as written when it was read.
        assert!(
            (before.as_seconds_f64() - 1.0..=after.as_seconds_f64() + 1.0).contains(&last_seen),
            "last seen {last_seen} in\n{exposed}"
        );
        // A record written now takes the exemplar over.
        let now = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(2))
            .unwrap();
        let mut current = latest_tally(
            &catalog,
            &format!(
                "{{\"ts\":\"{now}\",\"request_id\":\"req-now\",\"error_type\":\"email_not_found\"}}\n"
            ),
        );
        input.publish(&mut current);
        let exposed = String::from_utf8(metrics.render_as(Format::OpenMetrics)).unwrap();
        assert!(
            exposed.contains(r#"2 # {request_id="req-now"} 1 "#),
            "{exposed}"
        );
    }

    #[test]
    fn a_tally_renders_as_the_daemons_families_of_that_source() {
        let catalog = Catalog::builtin().unwrap();
        let mut counted = tally(&catalog, 9, 4);
        counted.truncated_lines = 2;
        counted.uncatalogued[status_slot(None)] = 3;
        let scan = String::from_utf8(render_tally(&catalog, &counted, "scan").unwrap()).unwrap();

        let daemon = Metrics::new().unwrap();
        daemon.set_catalog(&catalog);
        daemon.input("scan", &catalog).publish(&mut counted.clone());
        let daemon = String::from_utf8(daemon.render()).unwrap();
        for line in scan.lines() {
            assert!(
                daemon.lines().any(|l| l == line),
                "{line} is not in\n{daemon}"
            );
        }
        let families: Vec<&str> = scan
            .lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .filter_map(|line| line.split(' ').next())
            .collect();
        assert_eq!(
            families,
            [
                names::BYTES,
                names::HINT_INFO,
                names::TRUNCATED,
                names::ERRORS,
                names::LINES,
                names::UNCATALOGUED
            ]
        );
        let first = &catalog.entries()[0].error_type;
        for series in [
            format!(
                r#"errtally_errors_total{{error_type="{first}",source="scan",status_code="404"}} 4"#
            ),
            r#"errtally_lines_total{source="scan"} 9"#.to_owned(),
            r#"errtally_bytes_total{source="scan"} 90"#.to_owned(),
            r#"errtally_lines_truncated_total{source="scan"} 2"#.to_owned(),
            r#"errtally_uncatalogued_errors_total{source="scan",status_code="404"} 1"#.to_owned(),
            r#"errtally_uncatalogued_errors_total{source="scan",status_code="unknown"} 3"#
                .to_owned(),
        ] {
            assert!(scan.lines().any(|l| l == series), "no {series} in\n{scan}");
        }
        let samples = |prefix: &str| scan.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(samples("errtally_errors_total{"), catalog.len());
        assert_eq!(samples("errtally_error_hint_info{"), catalog.len());
        assert_eq!(samples("errtally_uncatalogued_errors_total{"), 2);
    }

    #[test]
    fn a_forgotten_input_leaves_no_series_in_any_family() {
        let catalog = Catalog::builtin().unwrap();
        let metrics = Metrics::new().unwrap();
        for source in ["gone", "kept"] {
            let mut input = metrics.input(source, &catalog);
            let mut tally = Tally::new(catalog.len());
            tally.lines = 3;
            tally.errors[0] = 1;
            tally.uncatalogued[status_slot(Some(404))] = 1;
            tally.uncatalogued[status_slot(None)] = 1;
            input.publish(&mut tally);
        }
        assert!(
            series_of(&metrics, "gone")
                .iter()
                .any(|line| line.starts_with("errtally_uncatalogued_errors_total{"))
        );
        metrics.forget_input("gone");
        assert_eq!(series_of(&metrics, "gone"), Vec::<String>::new());
        let kept = series_of(&metrics, "kept");
        assert_eq!(
            kept.iter()
                .filter(|line| line.starts_with("errtally_uncatalogued_errors_total{"))
                .count(),
            2
        );
    }
}
