//! `scan --format openmetrics`: the counts by time as OpenMetrics samples
//! for `promtool tsdb create-blocks-from openmetrics`, so a new install's
//! Prometheus starts with the history its hosts' logs hold.
//!
//! The scan is every scan's (parallel ranges, archives, split records);
//! each part counts into a timeline cut in `--step`s ([`Periods::Steps`]),
//! merged like tallies. Here the cells become series:
//! - families, help texts and label names are those of the daemon's
//!   `/metrics` for `errtally_errors_total` and
//!   `errtally_uncatalogued_errors_total` ([`names`]), labels sorted by name
//!   as the daemon's walk writes them, plus the path labels of
//!   `--path-labels` (matched against each file's absolute path, as the
//!   daemon matches it) and `--label`s (the `job` and `instance` a scrape
//!   adds);
//! - a sample at every multiple of the step; the sample at `T` counts the
//!   records whose time is before `T`; a series runs from the step holding
//!   its first record (value 0) to the last multiple at or before `--until`
//!   (default: the step after the latest record of any series);
//! - only series that saw a record are written, each one's samples
//!   together and in time order, timestamps in seconds, then `# EOF`.
//!
//! Memory holds the cells that saw a record (series × steps with a change),
//! never steps × types; the samples are written as they are made, to the
//! writer given (stdout), through the exposition's OpenMetrics writer
//! ([`OpenMetricsFormat`]), the one the daemon's `/metrics` will use for
//! OpenMetrics.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::catalog::Catalog;
use crate::config::{PathLabels, label_name_problem};
use crate::export::metrics::names;
use crate::export::metrics::{Kind, OpenMetricsFormat};
use crate::scan::{Tally, status_label};
use crate::time::Stamp;

/// Longest `--step`: at 5m a `[5m]` window between step times holds one
/// sample, and `rate()` over the backfill has gaps.
pub const MAX_STEP_SECONDS: i64 = 120;

/// Labels errtally sets itself on these families.
const OWN_LABELS: [&str; 3] = ["source", "status_code", "error_type"];

/// How the samples are labelled and cut.
#[derive(Debug, Clone)]
pub struct Backfill {
    /// Seconds between samples.
    pub step: i64,
    /// The last sample is at the last step at or before this.
    pub until: Option<Stamp>,
    /// The `source` label.
    pub source: String,
    /// Labels from each file's path.
    pub path_labels: Option<PathLabels>,
    /// Extra labels (`job`, `instance`), sorted by name.
    pub labels: Vec<(String, String)>,
}

/// `--step`: whole seconds, 1 s to [`MAX_STEP_SECONDS`].
pub fn parse_step(text: &str) -> anyhow::Result<i64> {
    let step = humantime::parse_duration(text)
        .with_context(|| format!("--step {text:?}: expected a duration (1m, 30s)"))?;
    if step.subsec_nanos() != 0
        || step < Duration::from_secs(1)
        || step > Duration::from_secs(MAX_STEP_SECONDS as u64)
    {
        bail!("--step {text:?}: whole seconds, from 1s to 2m (a [5m] rate needs two samples)");
    }
    Ok(step.as_secs() as i64)
}

/// `--label NAME=VALUE`s, checked against errtally's own labels and the
/// path labels' names.
pub fn parse_labels(
    labels: &[String],
    path_labels: Option<&PathLabels>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut parsed: Vec<(String, String)> = Vec::new();
    for label in labels {
        let Some((name, value)) = label.split_once('=') else {
            bail!("--label {label:?}: expected NAME=VALUE");
        };
        let clashes = OWN_LABELS.contains(&name)
            || path_labels.is_some_and(|path| path.names().iter().any(|own| own == name))
            || parsed.iter().any(|(seen, _)| seen == name);
        if clashes {
            bail!("--label {name:?} clashes with a label errtally sets (or one given twice)");
        }
        if !matches!(name, "job" | "instance")
            && let Some(problem) = label_name_problem(name)
        {
            bail!("--label {name:?} {problem}");
        }
        parsed.push((name.to_string(), value.to_string()));
    }
    parsed.sort();
    Ok(parsed)
}

/// A series: its path label values and its slot (catalogue index, or
/// after the catalogue an uncatalogued status slot).
type SeriesKey = (Vec<String>, u32);

impl Backfill {
    /// Writes the series of `inputs` (each path with what it counted) to
    /// `out`; returns how many counted records had no time.
    pub fn write(
        &self,
        catalog: &Catalog,
        inputs: &[(&Path, &Tally)],
        out: impl Write,
    ) -> anyhow::Result<u64> {
        let mut series: BTreeMap<SeriesKey, BTreeMap<i64, u64>> = BTreeMap::new();
        let mut untimed = 0;
        for (path, tally) in inputs {
            let Some(timeline) = &tally.timeline else {
                continue;
            };
            untimed += timeline.untimed;
            let values = match &self.path_labels {
                Some(path_labels) if *path != Path::new("-") => {
                    path_labels.values(&std::path::absolute(path).unwrap_or(path.to_path_buf()))
                }
                Some(path_labels) => vec![String::new(); path_labels.names().len()],
                None => Vec::new(),
            };
            for ((start, slot), count) in timeline.cells() {
                *series
                    .entry((values.clone(), slot))
                    .or_default()
                    .entry(start)
                    .or_insert(0) += count;
            }
        }
        let end = match self.until {
            Some(until) => until.seconds().div_euclid(self.step) * self.step,
            None => {
                let latest = series
                    .values()
                    .filter_map(|cells| cells.keys().next_back())
                    .max()
                    .copied();
                latest.map_or(0, |latest| latest + self.step)
            }
        };
        let mut writer = OpenMetricsFormat::new(out);
        let types = catalog.len();
        let mut catalogued: Vec<(&SeriesKey, &BTreeMap<i64, u64>)> = series
            .iter()
            .filter(|((_, slot), _)| (*slot as usize) < types)
            .collect();
        // By label values, then by type name, as a reader expects them.
        catalogued.sort_by_key(|((values, slot), _)| {
            (
                values.clone(),
                catalog
                    .entry(*slot as usize)
                    .map(|entry| entry.error_type.clone()),
            )
        });
        if !catalogued.is_empty() {
            writer.start_family(names::ERRORS, names::ERRORS_HELP, Kind::Counter);
            for ((values, slot), cells) in catalogued {
                let Some(entry) = catalog.entry(*slot as usize) else {
                    continue;
                };
                let status = entry.status_code.to_string();
                let own = [
                    ("error_type", entry.error_type.as_str()),
                    ("source", self.source.as_str()),
                    ("status_code", status.as_str()),
                ];
                self.write_series(&mut writer, &own, values, cells, end);
            }
        }
        let uncatalogued: Vec<_> = series
            .iter()
            .filter(|((_, slot), _)| (*slot as usize) >= types)
            .collect();
        if !uncatalogued.is_empty() {
            writer.start_family(names::UNCATALOGUED, names::UNCATALOGUED_HELP, Kind::Counter);
            for ((values, slot), cells) in uncatalogued {
                let status = status_label(*slot as usize - types);
                let own = [
                    ("source", self.source.as_str()),
                    ("status_code", status.as_str()),
                ];
                self.write_series(&mut writer, &own, values, cells, end);
            }
        }
        writer
            .end()
            .context("cannot write the OpenMetrics output")?;
        Ok(untimed)
    }

    /// One series' samples: from the step of its first record (0) to `end`,
    /// each the count of records before it.
    fn write_series<W: Write>(
        &self,
        writer: &mut OpenMetricsFormat<W>,
        own: &[(&str, &str)],
        values: &[String],
        cells: &BTreeMap<i64, u64>,
        end: i64,
    ) {
        let mut labels: Vec<(&str, &str)> = own.to_vec();
        if let Some(path_labels) = &self.path_labels {
            labels.extend(
                path_labels
                    .names()
                    .iter()
                    .map(String::as_str)
                    .zip(values.iter().map(String::as_str)),
            );
        }
        labels.extend(
            self.labels
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
        // The daemon's walk writes labels sorted by name.
        labels.sort_by(|a, b| a.0.cmp(b.0));
        let Some(&first) = cells.keys().next() else {
            return;
        };
        let series = writer.series("", &labels);
        let mut pending = cells.iter().peekable();
        let mut total = 0u64;
        let mut at = first;
        while at <= end {
            while let Some((_, count)) = pending.next_if(|(start, _)| **start < at) {
                total += count;
            }
            writer.sample_of(&series, total, at);
            at += self.step;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::scan::{Periods, Timeline};
    use crate::time::{TimeReader, Zone};

    /// `date -u -d 2026-11-29T13:15:00Z +%s`
    const MINUTE: i64 = 1_795_958_100;

    fn tally_of(catalog: &Catalog, records: &[&str]) -> Tally {
        let timeline = Timeline::new(
            TimeReader::new(Zone::utc()),
            None,
            None,
            Some(Periods::Steps { seconds: 60 }),
        );
        let mut tally = Tally::with_names(catalog.len()).timed(timeline);
        let mut scanner = crate::scan::Scanner::new(std::sync::Arc::new(catalog.clone()));
        for record in records {
            scanner.scan_record(record.as_bytes(), &mut tally);
        }
        tally
    }

    fn backfill(labels: Vec<(String, String)>) -> Backfill {
        Backfill {
            step: 60,
            until: None,
            source: "scan".to_string(),
            path_labels: None,
            labels,
        }
    }

    #[test]
    fn samples_count_the_records_before_each_step() {
        let catalog = Catalog::builtin().unwrap();
        let tally = tally_of(
            &catalog,
            &[
                r#"{"ts":"2026-11-29T13:15:10Z","error_type":"session_not_found"}"#,
                r#"{"ts":"2026-11-29T13:15:59Z","error_type":"session_not_found"}"#,
                r#"{"ts":"2026-11-29T13:17:00Z","error_type":"session_not_found"}"#,
                r#"{"ts":"2026-11-29T13:16:30Z","status_code":429,"error_type":"slow_down"}"#,
                r#"{"error_type":"session_not_found"}"#,
            ],
        );
        let mut out = Vec::new();
        let labels = vec![("instance".to_string(), "host:9090".to_string())];
        let untimed = backfill(labels)
            .write(&catalog, &[(Path::new("-"), &tally)], &mut out)
            .unwrap();
        assert_eq!(untimed, 1);
        let at = |offset: i64| MINUTE + offset * 60;
        let expected = format!(
            "# TYPE errtally_errors counter\n\
             # HELP errtally_errors {}\n\
             errtally_errors_total{{error_type=\"session_not_found\",instance=\"host:9090\",source=\"scan\",status_code=\"404\"}} 0 {}\n\
             errtally_errors_total{{error_type=\"session_not_found\",instance=\"host:9090\",source=\"scan\",status_code=\"404\"}} 2 {}\n\
             errtally_errors_total{{error_type=\"session_not_found\",instance=\"host:9090\",source=\"scan\",status_code=\"404\"}} 2 {}\n\
             errtally_errors_total{{error_type=\"session_not_found\",instance=\"host:9090\",source=\"scan\",status_code=\"404\"}} 3 {}\n\
             # TYPE errtally_uncatalogued_errors counter\n\
             # HELP errtally_uncatalogued_errors {}\n\
             errtally_uncatalogued_errors_total{{instance=\"host:9090\",source=\"scan\",status_code=\"429\"}} 0 {}\n\
             errtally_uncatalogued_errors_total{{instance=\"host:9090\",source=\"scan\",status_code=\"429\"}} 1 {}\n\
             errtally_uncatalogued_errors_total{{instance=\"host:9090\",source=\"scan\",status_code=\"429\"}} 1 {}\n\
             # EOF\n",
            names::ERRORS_HELP,
            at(0),
            at(1),
            at(2),
            at(3),
            names::UNCATALOGUED_HELP,
            at(1),
            at(2),
            at(3),
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn until_ends_every_series_at_its_last_step() {
        let catalog = Catalog::builtin().unwrap();
        let tally = tally_of(
            &catalog,
            &[r#"{"ts":"2026-11-29T13:15:10Z","error_type":"session_not_found"}"#],
        );
        let mut out = Vec::new();
        let options = Backfill {
            until: Stamp::from_seconds(MINUTE + 150),
            ..backfill(Vec::new())
        };
        options
            .write(&catalog, &[(Path::new("-"), &tally)], &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let samples: Vec<&str> = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| line.rsplit_once("} ").unwrap().1)
            .collect();
        let expected = [
            format!("0 {MINUTE}"),
            format!("1 {}", MINUTE + 60),
            format!("1 {}", MINUTE + 120),
        ];
        assert_eq!(samples, expected);
    }

    #[test]
    fn label_names_that_clash_or_are_invalid_are_refused() {
        assert_eq!(
            parse_labels(&["job=errtally".into(), "instance=a:1".into()], None).unwrap(),
            vec![
                ("instance".to_string(), "a:1".to_string()),
                ("job".to_string(), "errtally".to_string())
            ]
        );
        let path_labels = PathLabels::new("/(?P<service>[^/]+)/", Duration::ZERO, 10).unwrap();
        for bad in [
            "source=x",
            "status_code=1",
            "error_type=y",
            "9x=1",
            "__name__=x",
            "noequals",
        ] {
            assert!(parse_labels(&[bad.into()], None).is_err(), "{bad}");
        }
        assert!(parse_labels(&["service=x".into()], Some(&path_labels)).is_err());
        assert!(parse_labels(&["job=a".into(), "job=b".into()], None).is_err());
    }

    #[test]
    fn steps_are_whole_seconds_up_to_two_minutes() {
        assert_eq!(parse_step("1m").unwrap(), 60);
        assert_eq!(parse_step("2m").unwrap(), 120);
        assert_eq!(parse_step("15s").unwrap(), 15);
        for bad in ["5m", "0s", "1500ms", "often"] {
            assert!(parse_step(bad).is_err(), "{bad}");
        }
    }
}
