//! Metric names and help texts: one place, so `scan --format prometheus`
//! and the daemon's `/metrics` cannot drift apart.

/// Prometheus metric names (one `errtally_` prefix, `_total` on counters).
pub mod names {
    /// Catalogued errors, by source, status and type.
    pub const ERRORS: &str = "errtally_errors_total";
    /// Help text of [`ERRORS`].
    pub const ERRORS_HELP: &str = "Log records carrying a catalogued Stytch error_type.";
    /// Uncatalogued errors, by source and status.
    pub const UNCATALOGUED: &str = "errtally_uncatalogued_errors_total";
    /// Help text of [`UNCATALOGUED`].
    pub const UNCATALOGUED_HELP: &str = "Log records carrying an error_type that is not in the catalogue, by the record's status_code.";
    /// Records read.
    pub const LINES: &str = "errtally_lines_total";
    /// Help text of [`LINES`].
    pub const LINES_HELP: &str = "Log records (lines) read.";
    /// Bytes read.
    pub const BYTES: &str = "errtally_bytes_total";
    /// Help text of [`BYTES`].
    pub const BYTES_HELP: &str = "Bytes of log read.";
    /// Over-long records.
    pub const TRUNCATED: &str = "errtally_lines_truncated_total";
    /// Help text of [`TRUNCATED`].
    pub const TRUNCATED_HELP: &str =
        "Log records longer than max_line_bytes; only their first max_line_bytes were scanned.";
}

use prometheus::{
    Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

use crate::catalog::{Catalog, CatalogEntry};
use crate::scan::{STATUS_SLOTS, Tally, status_label};

/// Longest text put into a label of `errtally_error_hint_info`. The longest
/// in the shipped catalogue (session_not_found's two troubleshooting steps,
/// 290 characters) fits whole many times over; the bound only keeps a user
/// catalogue's essay from bloating every scrape.
pub const MAX_HINT_LABEL_CHARS: usize = 2048;

/// The labels of `errtally_error_hint_info`, in the order
/// [`hint_label_values`] fills them.
pub const HINT_LABELS: [&str; 7] = [
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
pub fn hint_label_values(entry: &CatalogEntry) -> [String; 7] {
    let text = |value: &str| crate::report::shorten(value, MAX_HINT_LABEL_CHARS);
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

/// The daemon's metric families, registered once.
///
/// Per-line counting never touches these: each input counts into its own
/// [`Tally`] and [`InputMetrics::publish`] adds it here once per read chunk.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    errors: IntCounterVec,
    uncatalogued: IntCounterVec,
    hint_info: IntGaugeVec,
    lines: IntCounterVec,
    bytes: IntCounterVec,
    truncated: IntCounterVec,
    rotations: IntCounterVec,
    read_errors: IntCounterVec,
    files_watched: IntGaugeVec,
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
        let registry = Registry::new();
        let counter_vec =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(vec.clone()))?;
                Ok(vec)
            };
        let gauge_vec =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
                let vec = IntGaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(vec.clone()))?;
                Ok(vec)
            };
        let metrics = Self {
            errors: counter_vec(
                names::ERRORS,
                names::ERRORS_HELP,
                &["source", "status_code", "error_type"],
            )?,
            uncatalogued: counter_vec(
                names::UNCATALOGUED,
                names::UNCATALOGUED_HELP,
                &["source", "status_code"],
            )?,
            hint_info: gauge_vec(
                "errtally_error_hint_info",
                "What a catalogued error means, what to check first, its common causes and troubleshooting steps (always 1).",
                &HINT_LABELS,
            )?,
            lines: counter_vec(names::LINES, names::LINES_HELP, &["source"])?,
            bytes: counter_vec(names::BYTES, names::BYTES_HELP, &["source"])?,
            truncated: counter_vec(names::TRUNCATED, names::TRUNCATED_HELP, &["source"])?,
            rotations: counter_vec(
                "errtally_rotations_total",
                "Log file rotations seen (rename, truncation, symlink change).",
                &["source"],
            )?,
            read_errors: counter_vec(
                "errtally_read_errors_total",
                "Failed opens, stats and reads of log files (retried).",
                &["source"],
            )?,
            files_watched: gauge_vec(
                "errtally_files_watched",
                "Log files currently open.",
                &["source"],
            )?,
            input_lag: gauge_vec(
                "errtally_input_lag_bytes",
                "Bytes written to the input's files but not read yet.",
                &["source"],
            )?,
            input_up: gauge_vec(
                "errtally_input_up",
                "Whether the input runs (1) or failed and waits for its restart (0).",
                &["source"],
            )?,
            reload_successful: IntGauge::new(
                "errtally_config_last_reload_successful",
                "Whether the last configuration load succeeded.",
            )?,
            reload_timestamp: Gauge::new(
                "errtally_config_last_reload_success_timestamp_seconds",
                "Time of the last successful configuration load.",
            )?,
            watch_errors: IntCounter::new(
                "errtally_watch_errors_total",
                "File notification errors and queue overflows; each triggers a rescan of every input.",
            )?,
            checkpoint_errors: IntCounter::new(
                "errtally_checkpoint_errors_total",
                "Failed saves of the checkpoint (retried at the next interval).",
            )?,
            checkpoint_timestamp: Gauge::new(
                "errtally_checkpoint_last_success_timestamp_seconds",
                "Time of the last successful checkpoint save (0 before the first).",
            )?,
            registry,
        };
        metrics
            .registry
            .register(Box::new(metrics.watch_errors.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.checkpoint_errors.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.checkpoint_timestamp.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.reload_successful.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.reload_timestamp.clone()))?;
        let build_info = IntGaugeVec::new(
            Opts::new("errtally_build_info", "errtally's version (always 1)."),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        metrics.registry.register(Box::new(build_info))?;
        metrics.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// Records a checkpoint save: its time, or one more failure.
    pub fn record_checkpoint(&self, saved: bool) {
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
    pub fn input_up(&self, source: &str) -> IntGauge {
        self.input_up.with_label_values(&[source])
    }

    /// The first exposition line starting with `prefix` (a series), for
    /// tests; empty if there is none.
    #[cfg(test)]
    pub(crate) fn series_line(&self, prefix: &str) -> String {
        self.render()
            .ok()
            .and_then(|text| String::from_utf8(text).ok())
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with(prefix))
                    .map(str::to_string)
            })
            .unwrap_or_default()
    }

    /// Counts a file notification error or queue overflow.
    pub fn count_watch_error(&self) {
        self.watch_errors.inc();
    }

    /// Records the outcome of a configuration load.
    pub fn set_reload_result(&self, ok: bool) {
        self.reload_successful.set(i64::from(ok));
        if ok {
            self.reload_timestamp.set(unix_seconds());
        }
    }

    /// Counter handles for one input, resolved once; every catalogued type
    /// is exported at 0 from now on.
    pub fn input(&self, source: &str, catalog: &Catalog) -> InputMetrics {
        let errors = catalog
            .entries()
            .iter()
            .map(|entry| {
                self.errors.with_label_values(&[
                    source,
                    &entry.status_code.to_string(),
                    &entry.error_type,
                ])
            })
            .collect();
        InputMetrics {
            source: source.to_string(),
            errors,
            uncatalogued_family: self.uncatalogued.clone(),
            uncatalogued: vec![None; STATUS_SLOTS],
            lines: self.lines.with_label_values(&[source]),
            bytes: self.bytes.with_label_values(&[source]),
            truncated: self.truncated.with_label_values(&[source]),
            rotations: self.rotations.with_label_values(&[source]),
            read_errors: self.read_errors.with_label_values(&[source]),
            files_watched: self.files_watched.with_label_values(&[source]),
            input_lag: self.input_lag.with_label_values(&[source]),
        }
    }

    /// Drops the series of an input that a reload removed.
    pub fn forget_input(&self, source: &str, catalog: &Catalog) {
        for entry in catalog.entries() {
            let _ = self.errors.remove_label_values(&[
                source,
                &entry.status_code.to_string(),
                &entry.error_type,
            ]);
        }
        for vec in [
            &self.lines,
            &self.bytes,
            &self.truncated,
            &self.rotations,
            &self.read_errors,
        ] {
            let _ = vec.remove_label_values(&[source]);
        }
        for vec in [&self.files_watched, &self.input_lag, &self.input_up] {
            let _ = vec.remove_label_values(&[source]);
        }
        for slot in 0..STATUS_SLOTS {
            let _ = self
                .uncatalogued
                .remove_label_values(&[source, &status_label(slot)]);
        }
    }

    /// Drops an input's series of types that `new` no longer catalogues;
    /// the others keep their values across a reload.
    pub fn forget_types(&self, source: &str, old: &Catalog, new: &Catalog) {
        for entry in old.entries() {
            let kept = new
                .index_of(entry.error_type.as_bytes())
                .and_then(|index| new.entry(index))
                .is_some_and(|kept| kept.status_code == entry.status_code);
            if !kept {
                let _ = self.errors.remove_label_values(&[
                    source,
                    &entry.status_code.to_string(),
                    &entry.error_type,
                ]);
            }
        }
    }

    /// The registry, for gathering.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition (format 0.0.4) of every family.
    pub fn render(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut out = Vec::with_capacity(16 << 10);
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(out)
    }
}

/// One input's counter handles.
#[derive(Clone)]
pub struct InputMetrics {
    source: String,
    errors: Vec<IntCounter>,
    uncatalogued_family: IntCounterVec,
    /// Resolved on first use: statuses are bounded (100..=599 and unknown)
    /// but exporting all 501 at 0 would be noise.
    uncatalogued: Vec<Option<IntCounter>>,
    lines: IntCounter,
    bytes: IntCounter,
    truncated: IntCounter,
    /// Rotations seen.
    pub rotations: IntCounter,
    /// Open, stat and read failures.
    pub read_errors: IntCounter,
    /// Files open.
    pub files_watched: IntGauge,
    /// Unread bytes.
    pub input_lag: IntGauge,
}

impl InputMetrics {
    /// The `source` label.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Adds `tally` to the shared counters and clears it.
    pub fn publish(&mut self, tally: &mut Tally) {
        if tally.is_empty() {
            return;
        }
        for (counter, count) in self.errors.iter().zip(&tally.errors) {
            if *count > 0 {
                counter.inc_by(*count);
            }
        }
        for (slot, count) in tally.uncatalogued.iter().enumerate() {
            if *count > 0 {
                let counter = self.uncatalogued[slot].get_or_insert_with(|| {
                    self.uncatalogued_family
                        .with_label_values(&[&self.source, &status_label(slot)])
                });
                counter.inc_by(*count);
            }
        }
        self.lines.inc_by(tally.lines);
        self.bytes.inc_by(tally.bytes);
        self.truncated.inc_by(tally.truncated_lines);
        tally.clear();
    }
}

/// Encodes the registry for `/metrics`; kept here so the HTTP layer never
/// needs the `prometheus` crate's encoder types.
pub fn content_type() -> &'static str {
    prometheus::TEXT_FORMAT
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

    fn series_of(metrics: &Metrics, source: &str) -> Vec<String> {
        let needle = format!("source=\"{source}\"");
        String::from_utf8(metrics.render().unwrap())
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
        let exposition = String::from_utf8(metrics.render().unwrap()).unwrap();
        let mut with_knowledge = Vec::new();
        let mut longest = 0;
        let entries = file["errors"].as_array().unwrap();
        for entry in entries {
            let text = |key: &str| entry[key].as_str().unwrap().to_string();
            let causes = joined(&entry["common_causes"]);
            let steps = joined(&entry["troubleshooting"]);
            let first = |key: &str| {
                entry[key]
                    .get(0)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let hint = first("troubleshooting")
                .or_else(|| first("common_causes"))
                .unwrap_or_else(|| text("description"));
            if !causes.is_empty() || !steps.is_empty() {
                with_knowledge.push(text("error_type"));
            }
            longest = longest
                .max(causes.chars().count())
                .max(steps.chars().count());
            let expected = format!(
                "errtally_error_hint_info{{causes=\"{}\",doc_url=\"{}\",error_type=\"{}\",hint=\"{}\",\
                 status_code=\"{}\",summary=\"{}\",troubleshooting=\"{}\"}} 1",
                escaped(&causes),
                escaped(&text("doc_url")),
                escaped(&text("error_type")),
                escaped(&hint),
                entry["status_code"],
                escaped(&text("description")),
                escaped(&steps),
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
        metrics.forget_input("gone", &catalog);
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
