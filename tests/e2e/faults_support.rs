//! What the fault scenarios share, in `e2e` (tests/e2e/faults.rs) and in
//! `alone` (tests/alone/, the ones with wall-clock bounds): the fixture of
//! one input over `logs/`, the size knobs, the lines the small scenarios
//! write with their tally, and the wait until every series of a tally is
//! exact.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::daemon_support::{Daemon, TYPES, error_line, errors, metric, value_in};

/// The input every scenario follows.
pub(crate) const SOURCE: &str = "f";

/// How long counting may take to settle after a storm: a storm leaves
/// rotated files to drain, and the full versions leave gigabytes.
pub(crate) const SETTLE: Duration = Duration::from_secs(120);

/// A size knob: `FAULTS_<NAME>` from the environment, else the CI value.
pub(crate) fn knob(name: &str, ci: u64) -> u64 {
    std::env::var(format!("FAULTS_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci)
}

/// A temp directory with `logs/` and `state/`, and a config for one input
/// named [`SOURCE`] reading `logs/*.log` (or another glob in `logs/`) from
/// the beginning.
pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) logs: PathBuf,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        Fixture { dir, logs }
    }

    /// Writes the config with `settings` (top-level TOML lines) and
    /// returns its path.
    pub(crate) fn config_for(&self, settings: &str, pattern: &str) -> PathBuf {
        let config = self.dir.path().join("errtally.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\n{settings}\n[[input]]\nname = \"{SOURCE}\"\npaths = [\"{}/{pattern}\"]\nstart_at = \"beginning\"\n",
                self.dir.path().join("state").display(),
                self.logs.display()
            ),
        )
        .unwrap();
        config
    }

    pub(crate) fn start(&self, settings: &str) -> Daemon {
        self.start_for(settings, "*.log")
    }

    pub(crate) fn start_for(&self, settings: &str, pattern: &str) -> Daemon {
        Daemon::start(&[
            "--config",
            self.config_for(settings, pattern).to_str().unwrap(),
        ])
    }

    pub(crate) fn log(&self, name: &str) -> PathBuf {
        self.logs.join(name)
    }
}

/// The tally of nothing, in the `scan --format json` shape.
pub(crate) fn empty() -> Value {
    json!({"lines": 0, "bytes": 0, "truncated_lines": 0, "errors": {}, "uncatalogued": {}, "uncatalogued_types": {}})
}

/// Every series a tally fixes, with its expected value.
pub(crate) fn expected_series(tally: &Value) -> Vec<(String, f64)> {
    let number = |v: &Value| v.as_f64().unwrap();
    let mut series = vec![
        (
            metric("errtally_lines_total", SOURCE),
            number(&tally["lines"]),
        ),
        (
            metric("errtally_bytes_total", SOURCE),
            number(&tally["bytes"]),
        ),
        (
            metric("errtally_lines_truncated_total", SOURCE),
            number(&tally["truncated_lines"]),
        ),
    ];
    for entry in errtally::catalog::Catalog::builtin().unwrap().entries() {
        let want = tally["errors"].get(&entry.error_type).map_or(0.0, number);
        series.push((errors(SOURCE, &entry.error_type), want));
    }
    for (status, count) in tally["uncatalogued"].as_object().unwrap() {
        series.push((
            format!(
                "errtally_uncatalogued_errors_total{{source=\"{SOURCE}\",status_code=\"{status}\"}}"
            ),
            number(count),
        ));
    }
    series
}

/// Each series that differs from its expectation: name, scraped, expected.
/// The sum over every uncatalogued status is checked too, so a status the
/// tally does not name cannot hide.
pub(crate) fn differences(text: &str, want: &[(String, f64)]) -> Vec<(String, Option<f64>, f64)> {
    let mut differ: Vec<_> = want
        .iter()
        .map(|(series, want)| (series.clone(), value_in(text, series), *want))
        .filter(|(_, got, want)| *got != Some(*want))
        .collect();
    let prefix = format!("errtally_uncatalogued_errors_total{{source=\"{SOURCE}\",");
    let uncatalogued: f64 = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let want_uncatalogued: f64 = want
        .iter()
        .filter(|(series, _)| series.starts_with(&prefix))
        .map(|(_, want)| want)
        .sum();
    if uncatalogued != want_uncatalogued {
        differ.push((
            "uncatalogued, all statuses".into(),
            Some(uncatalogued),
            want_uncatalogued,
        ));
    }
    differ
}

/// Waits (at most `deadline`) until every series of `tally` is exact and
/// returns how long that took. A series above its expectation fails at
/// once (a line counted twice); one still short at the deadline fails as
/// a lost line.
pub(crate) fn wait_for_tally(daemon: &Daemon, tally: &Value, deadline: Duration) -> Duration {
    let started = Instant::now();
    wait_for_tally_timing_scrapes(daemon, tally, deadline);
    started.elapsed()
}

pub(crate) fn open_append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// The `i`th line of a small scenario: a catalogued error of one of
/// [`TYPES`], or every fifth a plain line.
pub(crate) fn nth_line(i: u64) -> (String, Option<&'static str>) {
    if i % 5 == 4 {
        (
            format!("{{\"level\":\"info\",\"msg\":\"ok\",\"n\":{i}}}\n"),
            None,
        )
    } else {
        let error_type = TYPES[(i % 5) as usize];
        (error_line(error_type), Some(error_type))
    }
}

/// Lines `from..to` of [`nth_line`], and their tally.
pub(crate) fn lines_between(from: u64, to: u64) -> (String, Value) {
    let mut text = String::new();
    let mut by_type = std::collections::BTreeMap::<&str, u64>::new();
    for i in from..to {
        let (line, error_type) = nth_line(i);
        if let Some(error_type) = error_type {
            *by_type.entry(error_type).or_default() += 1;
        }
        text.push_str(&line);
    }
    let mut tally = empty();
    tally["lines"] = (to - from).into();
    tally["bytes"] = text.len().into();
    tally["errors"] = json!(by_type);
    (text, tally)
}

/// As [`wait_for_tally`], returning the slowest scrape seen meanwhile
/// instead: serving must not starve while files fill the descriptors.
pub(crate) fn wait_for_tally_timing_scrapes(
    daemon: &Daemon,
    tally: &Value,
    deadline: Duration,
) -> Duration {
    let want = expected_series(tally);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    loop {
        let asked = Instant::now();
        let text = daemon.metrics();
        slowest = slowest.max(asked.elapsed());
        let differ = differences(&text, &want);
        if differ.is_empty() {
            return slowest;
        }
        assert!(
            differ
                .iter()
                .all(|(_, got, want)| got.is_none_or(|got| got <= *want)),
            "counted more than written: {differ:?}"
        );
        assert!(
            started.elapsed() < deadline,
            "still short after {deadline:?}: {:?}\nlog tail:\n{}",
            &differ[..differ.len().min(5)],
            daemon
                .log()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
