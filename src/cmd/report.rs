//! Renders a [`Tally`] for people and programs: the `scan` report in table,
//! JSON and Prometheus text formats, and the catalogue listing.
//!
//! The JSON shape is a contract (tests compare it with the corpus
//! generator's expected tally); the Prometheus text is the daemon's, written
//! by `export::metrics`.
//! `--by-file` adds a per-input part to the table and one key, `"files"`,
//! to the JSON; `--examples` a part and the key `"examples"`; without them
//! the output is as before, byte for byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::corpus::Expected;
use crate::catalog::{Catalog, shorten};
use crate::scan::Tally;
use crate::scan::examples::Example;

/// How many uncatalogued type names a report lists at most.
pub(crate) const MAX_LISTED_NAMES: usize = 100;

/// The `scan --format json` report: the totals in the corpus generator's
/// [`Expected`] shape (one struct for both, so the contract the tests
/// compare cannot drift), then each input's counts with `--by-file`.
#[derive(Debug, Serialize)]
pub(crate) struct JsonReport {
    /// Records, bytes and counts of every input together; the most
    /// frequent uncatalogued type names only (at most [`MAX_LISTED_NAMES`]).
    #[serde(flatten)]
    pub totals: Expected,
    /// Counted records without a time (with `--since`, `--until` or `--by`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untimed: Option<u64>,
    /// Counts per period, in time order (`--by` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub periods: Option<Vec<super::history::PeriodReport>>,
    /// The latest records of each catalogued type seen (`--examples`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples: Option<BTreeMap<String, Vec<ExampleReport>>>,
    /// Each input's counts, in command-line order (`--by-file` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileReport>>,
}

/// One record of `"examples"`.
#[derive(Debug, Serialize)]
pub(crate) struct ExampleReport {
    /// Its request ID, if it has one.
    pub request_id: Option<String>,
    /// Its time, RFC 3339 in UTC, if it has one.
    pub time: Option<String>,
    /// Its file as given (`-` is stdin).
    pub path: String,
    /// Where it starts in its (uncompressed) file.
    pub offset: u64,
}

/// One input's counts, for `--by-file`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileTally<'a> {
    /// The input as given (`-` is stdin).
    pub path: &'a Path,
    /// What was counted in it (up to the error, if any).
    pub tally: &'a Tally,
    /// Why it could not be read to its end.
    pub error: Option<&'a str>,
}

/// One input in the JSON report's `"files"`.
#[derive(Debug, Serialize)]
pub(crate) struct FileReport {
    /// The input as given (`-` is stdin).
    pub path: String,
    /// Records read.
    pub lines: u64,
    /// Bytes read (uncompressed, for a compressed file).
    pub bytes: u64,
    /// Records longer than the maximum line length.
    pub truncated_lines: u64,
    /// Catalogued types seen at least once.
    pub errors: BTreeMap<String, u64>,
    /// Uncatalogued errors by status.
    pub uncatalogued: BTreeMap<String, u64>,
    /// Why the input could not be read to its end, or `null`.
    pub error: Option<String>,
}

/// The catalogued types of `tally` seen at least once, by name.
fn seen_types(catalog: &Catalog, tally: &Tally) -> BTreeMap<String, u64> {
    catalog
        .entries()
        .iter()
        .zip(&tally.errors)
        .filter(|(_, count)| **count > 0)
        .map(|(entry, count)| (entry.error_type.clone(), *count))
        .collect()
}

impl JsonReport {
    /// The report for `tally`, counted against `catalog`.
    pub(crate) fn new(catalog: &Catalog, tally: &Tally) -> Self {
        let errors = seen_types(catalog, tally);
        let uncatalogued_types = tally
            .uncatalogued_names
            .as_ref()
            .map(|names| names.top(MAX_LISTED_NAMES).into_iter().collect())
            .unwrap_or_default();
        Self {
            totals: Expected {
                lines: tally.lines,
                bytes: tally.bytes,
                truncated_lines: tally.truncated_lines,
                errors,
                uncatalogued: tally.uncatalogued_by_status().collect(),
                uncatalogued_types,
                times: None,
            },
            untimed: None,
            periods: None,
            examples: None,
            files: None,
        }
    }

    /// The report with each input's counts beside the total.
    pub(crate) fn with_files(self, catalog: &Catalog, files: &[FileTally<'_>]) -> Self {
        let files = files
            .iter()
            .map(|file| FileReport {
                path: file.path.display().to_string(),
                lines: file.tally.lines,
                bytes: file.tally.bytes,
                truncated_lines: file.tally.truncated_lines,
                errors: seen_types(catalog, file.tally),
                uncatalogued: file.tally.uncatalogued_by_status().collect(),
                error: file.error.map(str::to_string),
            })
            .collect();
        Self {
            files: Some(files),
            ..self
        }
    }
}

/// The `--by-file` part of the table report: per input, its totals, then
/// its catalogued types by count, or the error that stopped it.
pub(crate) fn table_by_file(catalog: &Catalog, files: &[FileTally<'_>]) -> String {
    let mut out = String::from("\nby file:\n");
    for file in files {
        let tally = file.tally;
        let _ = writeln!(
            out,
            "{}: {} lines, {} bytes, {} truncated",
            file.path.display(),
            tally.lines,
            tally.bytes,
            tally.truncated_lines
        );
        if let Some(error) = file.error {
            let _ = writeln!(out, "  error: {error}");
        }
        for (index, count) in types_by_count(tally) {
            if let Some(entry) = catalog.entry(index) {
                let _ = writeln!(out, "  {count:>10}  {}", entry.error_type);
            }
        }
        if let Some(statuses) = uncatalogued_by_status(tally) {
            let _ = writeln!(out, "  uncatalogued by status: {statuses}");
        }
    }
    out
}

/// `"examples"`: per catalogued type seen, its examples, best first.
pub(crate) fn examples(catalog: &Catalog, tally: &Tally) -> BTreeMap<String, Vec<ExampleReport>> {
    let Some(examples) = &tally.examples else {
        return BTreeMap::new();
    };
    types_by_count(tally)
        .into_iter()
        .filter_map(|(index, _)| {
            let entry = catalog.entry(index)?;
            let listed = examples.of(index).iter().map(example_report).collect();
            Some((entry.error_type.clone(), listed))
        })
        .collect()
}

fn example_report(example: &Example) -> ExampleReport {
    ExampleReport {
        request_id: example.request_id.as_deref().map(str::to_owned),
        time: example.time.map(|time| time.to_string()),
        path: example
            .path
            .as_deref()
            .map(|path| path.display().to_string())
            .unwrap_or_default(),
        offset: example.offset,
    }
}

/// The `--examples` part of the table report: per catalogued type seen,
/// most frequent first, one line per example.
pub(crate) fn table_examples(catalog: &Catalog, tally: &Tally) -> String {
    let mut out = String::from(
        "
examples (latest first):
",
    );
    let Some(examples) = &tally.examples else {
        return out;
    };
    for (index, _) in types_by_count(tally) {
        let Some(entry) = catalog.entry(index) else {
            continue;
        };
        let _ = writeln!(out, "{}:", entry.error_type);
        for example in examples.of(index) {
            let path = example.path.as_deref().map(printable).unwrap_or_default();
            let example = example_report(example);
            let _ = writeln!(
                out,
                "  {:<30}  {:<36}  {}:{}",
                example.time.as_deref().unwrap_or("-"),
                example.request_id.as_deref().unwrap_or("-"),
                path,
                example.offset
            );
        }
    }
    out
}

/// `path` for a terminal: control characters written as `\u{1b}` and
/// bytes not UTF-8 as `\xe9`, so that a hostile file name can neither
/// drive the terminal nor break the table, and any name can be found.
fn printable(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut text = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for character in chunk.valid().chars() {
            if character.is_control() {
                let _ = write!(text, "\\u{{{:x}}}", u32::from(character));
            } else {
                text.push(character);
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
        }
    }
    text
}

/// The catalogued types `tally` saw, by index, most frequent first.
fn types_by_count(tally: &Tally) -> Vec<(usize, u64)> {
    let mut seen: Vec<(usize, u64)> = tally
        .errors
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(index, count)| (index, *count))
        .collect();
    seen.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    seen
}

/// `404=3 unknown=1`, or `None` when nothing uncatalogued was seen.
fn uncatalogued_by_status(tally: &Tally) -> Option<String> {
    let statuses: Vec<String> = tally
        .uncatalogued_by_status()
        .map(|(status, count)| format!("{status}={count}"))
        .collect();
    (!statuses.is_empty()).then(|| statuses.join(" "))
}

/// The `scan --format table` report.
pub(crate) fn table(catalog: &Catalog, tally: &Tally) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} lines, {} bytes, {} truncated",
        tally.lines, tally.bytes, tally.truncated_lines
    );
    let seen = types_by_count(tally);
    if seen.is_empty() {
        let _ = writeln!(out, "no catalogued errors");
    } else {
        let width = seen
            .iter()
            .filter_map(|(index, _)| catalog.entry(*index))
            .map(|entry| entry.error_type.len())
            .max()
            .unwrap_or(10);
        let _ = writeln!(out, "{:>10}  {:<width$}  HINT", "COUNT", "ERROR TYPE");
        for (index, count) in seen {
            if let Some(entry) = catalog.entry(index) {
                let hint = shorten(entry.hint(), 90);
                let _ = writeln!(out, "{count:>10}  {:<width$}  {hint}", entry.error_type);
            }
        }
    }
    if let Some(statuses) = uncatalogued_by_status(tally) {
        let _ = writeln!(out, "uncatalogued by status: {statuses}");
    }
    if let Some(names) = &tally.uncatalogued_names {
        let top: Vec<String> = names
            .top(10)
            .into_iter()
            .map(|(name, count)| format!("{:?}={count}", shorten(&name, 40)))
            .collect();
        if !top.is_empty() {
            let _ = writeln!(out, "most frequent uncatalogued types: {}", top.join(" "));
        }
    }
    out
}

/// The catalogue as a table: type, status and hint.
pub(crate) fn catalog_table(catalog: &Catalog) -> String {
    let width = catalog
        .entries()
        .iter()
        .map(|entry| entry.error_type.len())
        .max()
        .unwrap_or(10);
    let mut out = String::new();
    let _ = writeln!(out, "{:<width$}  STATUS  HINT", "ERROR TYPE");
    for entry in catalog.entries() {
        let hint = shorten(entry.hint(), 100);
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {hint}",
            entry.error_type, entry.status_code
        );
    }
    let _ = writeln!(
        out,
        "{} error types from {}",
        catalog.len(),
        catalog.sources().join(", ")
    );
    out
}

/// The `scan --format prometheus` report: what the daemon's `/metrics`
/// shows for an input `source` that read what `tally` counts, rendered by
/// the daemon's own families ([`crate::export::metrics::render_tally`]).
pub(crate) fn prometheus(
    catalog: &Catalog,
    tally: &Tally,
    source: &str,
) -> Result<String, prometheus::Error> {
    let text = crate::export::metrics::render_tally(catalog, tally, source)?;
    // Every name, help text and label value is a `&str`, so the text is
    // UTF-8 already; lossy only to need no error for the impossible case.
    Ok(String::from_utf8_lossy(&text).into_owned())
}
