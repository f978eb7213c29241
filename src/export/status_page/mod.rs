//! The status page at `/`: what is happening now, for the person on call.
//!
//! Per catalogued type seen, its rate over the last minute and the last
//! five minutes, a sparkline of the last hour, its hint and doc link, and
//! its whole causes and troubleshooting steps one click away (`<details>`,
//! open for the busiest type now); the same per input; then the inputs'
//! files, at most [`MAX_FILES_SHOWN`] per input, those with the most lag
//! first. The counts are read live from the registry `/metrics` exposes,
//! so the two cannot disagree; the rates and sparklines come from
//! [`history`], which the sampler task fills.
//!
//! The page is plain HTML with inline CSS and SVG, no script and no
//! external asset, and every piece of text that comes from a file path, a
//! pattern, an input name or the catalogue is escaped. Its size is bounded
//! by catalogued types x inputs, never by the number of files.
//!
//! Deliberately not here: routing and serving ([`crate::export::http`]), anything
//! that changes state, per-file rates.

pub mod history;
mod sparkline;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::catalog::{Catalog, CatalogEntry};
use crate::export::metrics::Metrics;
use crate::export::status::{DaemonStatus, InputSummary};
use crate::scan::recent::{Example, KEPT};
use crate::time::Stamp;
use history::{Counter, Counts, Recent, SAMPLE_INTERVAL, Snapshot};
use sparkline::write_sparkline;

/// Files listed per input; the rest are counted. 2,000 rows of paths would
/// make the page slow to load and useless to read.
pub(crate) const MAX_FILES_SHOWN: usize = 50;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}\
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.2em 0 .4em}\
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}\
th{background:#f2f2f2;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
td.hot{font-weight:600}code{font-size:.95em}.muted{color:#666}a{color:#1a5fb4}\
svg.spark{display:block;background:#fafafa;border-bottom:1px solid #bbb}svg.spark path{fill:#1a5fb4}\
svg.spark .nodata{fill:#e8e8e8}details{margin-top:.3em}summary{cursor:pointer;color:#1a5fb4}\
details ol{margin:.2em 0 .4em;padding-left:1.6em}details p{margin:.3em 0}\
table.sub{margin:.3em 0}table.sub td,table.sub th{font-size:.95em}";

/// The whole page. `wall` gives the uptime, `now` reads the history; both
/// are parameters so tests control them. Written section by section, each
/// a function of what it shows.
pub fn render(metrics: &Metrics, status: &DaemonStatus, wall: SystemTime, now: Instant) -> String {
    let catalog = status.catalog();
    let live = Counts::gather(metrics);
    let snapshot = status.history().snapshot(now, &live);
    let inputs = status.input_summaries(MAX_FILES_SHOWN);
    let rates = Rates::sum(&snapshot);
    let uptime = wall.duration_since(status.started()).unwrap_or_default();

    let mut page = String::with_capacity(32 << 10);
    write_header(&mut page, status, &catalog, uptime);
    let with_examples: BTreeSet<&str> = inputs
        .values()
        .flat_map(|input| input.examples.iter())
        .map(|of_type| of_type.error_type.as_str())
        .collect();
    write_errors_section(
        &mut page,
        &catalog,
        &rates,
        snapshot.covered,
        &with_examples,
    );
    write_examples_section(&mut page, &inputs);
    write_inputs_section(&mut page, &inputs, &rates, &snapshot);
    write_files_section(&mut page, &inputs);
    page.push_str("</body></html>\n");
    page
}

/// The document head, the title, and what the daemon is (version, uptime,
/// readiness, catalogue).
fn write_header(page: &mut String, status: &DaemonStatus, catalog: &Catalog, uptime: Duration) {
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    let _ = writeln!(
        page,
        "<title>errtally</title><style>{STYLE}</style></head><body>"
    );
    page.push_str("<h1>errtally</h1>\n");
    let _ = writeln!(
        page,
        "<p>version {} · up {} · {} · <a href=\"/metrics\">/metrics</a> · \
         <a href=\"/-/healthy\">/-/healthy</a> · <a href=\"/-/ready\">/-/ready</a></p>",
        Escaped(env!("CARGO_PKG_VERSION")),
        format_uptime(uptime),
        if status.is_ready() {
            "ready"
        } else {
            "<strong>not ready</strong>"
        },
    );
    let _ = writeln!(
        page,
        "<p>Catalogue: {} error types from {}.</p>",
        catalog.len(),
        Escaped(&catalog.sources().join(", ")),
    );
    let _ = writeln!(
        page,
        "<p class=\"muted\">Rates are per second over the last minute and the last 5 minutes \
         (since start while errtally is younger), counted up to this page load. \
         Sparklines show the last hour in {} steps, each scaled to its own peak; \
         hover over one for its numbers.</p>",
        humantime::format_duration(SAMPLE_INTERVAL),
    );
}

/// Each catalogued type seen, busiest first, with its knowledge and a link
/// to its examples.
fn write_errors_section(
    page: &mut String,
    catalog: &Catalog,
    rates: &Rates<'_>,
    covered: usize,
    with_examples: &BTreeSet<&str>,
) {
    page.push_str("<h2 id=\"errors\">Catalogued errors seen</h2>\n");
    if rates.by_type.is_empty() {
        page.push_str("<p class=\"muted\">no catalogued errors seen yet</p>\n");
        return;
    }
    page.push_str(
        "<table><tr><th>Error type</th><th>Status</th><th>1 min /s</th><th>5 min /s</th>\
         <th>Last hour</th><th>Total</th><th>Hint</th></tr>\n",
    );
    for (position, (error_type, recent)) in sorted_by_rate(&rates.by_type).into_iter().enumerate() {
        // The busiest type now has its causes and steps open.
        let open = position == 0 && recent.rate_now() > 0.0;
        let entry = catalog
            .index_of(error_type.as_bytes())
            .and_then(|index| catalog.entry(index));
        page.push_str("<tr><td>");
        write_type_name(page, error_type, entry);
        if with_examples.contains(error_type) {
            let _ = write!(
                page,
                " <a href=\"#examples-{}\" class=\"muted\">examples</a>",
                Escaped(error_type)
            );
        }
        let status_code = entry.map(|entry| entry.status_code.to_string());
        let _ = write!(
            page,
            "</td><td class=\"n\">{}</td>",
            status_code.as_deref().unwrap_or("")
        );
        write_rate_cells(page, recent, covered, Detail::Full);
        let _ = write!(page, "<td class=\"n\">{}</td><td>", recent.total);
        match entry {
            Some(entry) => write_knowledge(page, entry, open),
            None => page.push_str("<span class=\"muted\">not in the current catalogue</span>"),
        }
        page.push_str("</td></tr>\n");
    }
    page.push_str("</table>\n");
}

/// Each catalogued type's latest records per input: when, the request ID,
/// where (file and byte offset), and the line when the config asks for it.
fn write_examples_section(page: &mut String, inputs: &BTreeMap<String, InputSummary>) {
    page.push_str("<h2 id=\"examples\">Latest examples</h2>\n");
    // By type, then input: an alert names a type.
    let mut by_type: BTreeMap<&str, Vec<(&str, &[Example])>> = BTreeMap::new();
    for (input, summary) in inputs {
        for of_type in summary.examples.iter() {
            by_type
                .entry(&of_type.error_type)
                .or_default()
                .push((input, &of_type.examples));
        }
    }
    if by_type.is_empty() {
        page.push_str("<p class=\"muted\">no examples yet</p>\n");
        return;
    }
    let show_lines = by_type
        .values()
        .flatten()
        .flat_map(|(_, examples)| examples.iter())
        .any(|example| example.line.is_some());
    let _ = writeln!(
        page,
        "<p class=\"muted\">The latest {KEPT} records of each type per input, latest first; \
         times in UTC, from the record, else <em>read</em> when errtally read it. \
         The offset is the byte where the record starts in its file.{}</p>",
        if show_lines {
            ""
        } else {
            " Lines are not shown (<code>status_page_show_lines</code>)."
        }
    );
    let _ = writeln!(
        page,
        "<table><tr><th>Error type</th><th>Input</th><th>Time</th><th>Request ID</th>\
         <th>File</th><th>Offset</th>{}</tr>",
        if show_lines { "<th>Line</th>" } else { "" }
    );
    for (error_type, per_input) in &by_type {
        let rows: usize = per_input.iter().map(|(_, examples)| examples.len()).sum();
        let _ = write!(
            page,
            "<tr id=\"examples-{0}\"><td rowspan=\"{rows}\"><code>{0}</code></td>",
            Escaped(error_type)
        );
        let mut first = true;
        for (input, examples) in per_input {
            for (i, example) in examples.iter().enumerate() {
                if !std::mem::take(&mut first) {
                    page.push_str("<tr>");
                }
                if i == 0 {
                    let _ = write!(
                        page,
                        "<td rowspan=\"{}\"><code>{}</code></td>",
                        examples.len(),
                        Escaped(input)
                    );
                }
                write_example_cells(page, example, show_lines);
                page.push_str("</tr>\n");
            }
        }
    }
    page.push_str("</table>\n");
}

/// One example's cells after its type and input.
fn write_example_cells(page: &mut String, example: &Example, show_lines: bool) {
    if example.timed {
        let _ = write!(page, "<td class=\"n\">{}", example.time);
    } else {
        // When errtally read it: to the second is all it says.
        let read = Stamp::from_seconds(example.time.seconds()).unwrap_or(example.time);
        let _ = write!(
            page,
            "<td class=\"n\">{read} <span class=\"muted\" title=\"no time in the record\">read</span>"
        );
    }
    // Request IDs hold only [A-Za-z0-9._:-]; escaped all the same.
    match &example.request_id {
        Some(id) => {
            let _ = write!(page, "</td><td><code>{}</code></td>", Escaped(id.as_str()));
        }
        None => page.push_str("</td><td class=\"muted\">none</td>"),
    }
    let _ = write!(
        page,
        "<td><code>{}</code></td><td class=\"n\">{}</td>",
        EscapedPath(&example.path),
        example.offset
    );
    if show_lines {
        match &example.line {
            Some(line) => {
                let _ = write!(
                    page,
                    "<td><code>{}</code>{}</td>",
                    EscapedLine(&line.text),
                    if line.cut {
                        "<span class=\"muted\">…</span>"
                    } else {
                        ""
                    }
                );
            }
            None => page.push_str("<td></td>"),
        }
    }
}

/// Each input's rates (those configured and those only the counters
/// know), then the totals.
fn write_inputs_section(
    page: &mut String,
    inputs: &BTreeMap<String, InputSummary>,
    rates: &Rates<'_>,
    snapshot: &Snapshot,
) {
    page.push_str("<h2 id=\"inputs\">Inputs</h2>\n");
    let sources: BTreeSet<&str> = inputs
        .keys()
        .map(String::as_str)
        .chain(rates.by_input.keys().copied())
        .collect();
    if sources.is_empty() {
        page.push_str("<p class=\"muted\">no inputs</p>\n");
    } else {
        page.push_str(
            "<table><tr><th>Input</th><th>Lines 1 min /s</th><th>Catalogued 1 min /s</th>\
             <th>5 min /s</th><th>Last hour</th><th>Total</th><th>Uncatalogued 1 min /s</th>\
             <th>Files</th><th>Lag</th></tr>\n",
        );
        let none = InputRates::zero(snapshot);
        for source in &sources {
            let input_rates = rates.by_input.get(source).unwrap_or(&none);
            write_input_rates(
                page,
                source,
                input_rates,
                inputs.get(*source),
                snapshot.covered,
            );
        }
        page.push_str("</table>\n");
    }
    let _ = writeln!(
        page,
        "<p>Uncatalogued errors: {} · lines read: {}</p>",
        rates.uncatalogued, rates.lines
    );
}

/// Each input's files, most lag first, [`MAX_FILES_SHOWN`] at most.
fn write_files_section(page: &mut String, inputs: &BTreeMap<String, InputSummary>) {
    page.push_str("<h2 id=\"files\">Files</h2>\n");
    if inputs.is_empty() {
        page.push_str("<p class=\"muted\">no inputs</p>\n");
        return;
    }
    let _ = writeln!(
        page,
        "<p class=\"muted\">At most {MAX_FILES_SHOWN} files per input are listed, \
         those with the most lag first; the others are counted.</p>"
    );
    page.push_str(
        "<table><tr><th>Input</th><th>Patterns</th><th>File</th>\
         <th>Offset</th><th>Size</th><th>Lag</th></tr>\n",
    );
    for (name, input) in inputs {
        write_file_rows(page, name, input);
    }
    page.push_str("</table>\n");
}

/// The snapshot summed the ways the page shows it.
struct Rates<'a> {
    by_type: BTreeMap<&'a str, Recent>,
    by_input: BTreeMap<&'a str, InputRates<'a>>,
    uncatalogued: u64,
    lines: u64,
}

/// One input's rates.
struct InputRates<'a> {
    lines: Recent,
    catalogued: Recent,
    uncatalogued: Recent,
    types: BTreeMap<&'a str, &'a Recent>,
}

impl InputRates<'_> {
    fn zero(snapshot: &Snapshot) -> Self {
        Self {
            lines: snapshot.zero(),
            catalogued: snapshot.zero(),
            uncatalogued: snapshot.zero(),
            types: BTreeMap::new(),
        }
    }
}

impl<'a> Rates<'a> {
    fn sum(snapshot: &'a Snapshot) -> Self {
        let mut rates = Rates {
            by_type: BTreeMap::new(),
            by_input: BTreeMap::new(),
            uncatalogued: 0,
            lines: 0,
        };
        for (key, recent) in &snapshot.series {
            let input = rates
                .by_input
                .entry(key.source.as_str())
                .or_insert_with(|| InputRates::zero(snapshot));
            match &key.counter {
                Counter::Errors(error_type) => {
                    rates
                        .by_type
                        .entry(error_type.as_str())
                        .or_insert_with(|| snapshot.zero())
                        .add(recent);
                    input.catalogued.add(recent);
                    input.types.insert(error_type.as_str(), recent);
                }
                Counter::Uncatalogued => {
                    input.uncatalogued.add(recent);
                    rates.uncatalogued = rates.uncatalogued.saturating_add(recent.total);
                }
                Counter::Lines => {
                    input.lines.add(recent);
                    rates.lines = rates.lines.saturating_add(recent.total);
                }
            }
        }
        rates
    }
}

/// Busiest now first: the 1-minute rate, then the 5-minute rate, then the
/// total, then the name.
fn sorted_by_rate<'a, R: std::borrow::Borrow<Recent>>(
    recents: &'a BTreeMap<&'a str, R>,
) -> Vec<(&'a str, &'a Recent)> {
    let mut sorted: Vec<(&str, &Recent)> = recents
        .iter()
        .map(|(name, recent)| (*name, recent.borrow()))
        .collect();
    sorted.sort_by(|(a_name, a), (b_name, b)| {
        b.rate_now()
            .total_cmp(&a.rate_now())
            .then_with(|| {
                b.rate_long
                    .unwrap_or(0.0)
                    .total_cmp(&a.rate_long.unwrap_or(0.0))
            })
            .then_with(|| b.total.cmp(&a.total))
            .then_with(|| a_name.cmp(b_name))
    });
    sorted
}

/// The type's name, linked to its documentation when that is a web URL.
fn write_type_name(page: &mut String, error_type: &str, entry: Option<&CatalogEntry>) {
    match entry {
        Some(entry) if is_web_url(&entry.doc_url) => {
            let _ = write!(
                page,
                "<a href=\"{}\"><code>{}</code></a>",
                Escaped(&entry.doc_url),
                Escaped(error_type)
            );
        }
        _ => {
            let _ = write!(page, "<code>{}</code>", Escaped(error_type));
        }
    }
}

/// Increments summed into a sparkline step: 10 s where a sparkline stands for
/// a type or an input, 1 min in the per-input breakdowns, of which a page
/// may hold hundreds.
#[derive(Debug, Clone, Copy)]
enum Detail {
    Full = 1,
    Minutes = 6,
}

/// 1 min, 5 min and the sparkline cells.
fn write_rate_cells(page: &mut String, recent: &Recent, covered: usize, detail: Detail) {
    let hot = if recent.rate_now() > 0.0 { " hot" } else { "" };
    let _ = write!(
        page,
        "<td class=\"n{hot}\">{}</td><td class=\"n\">{}</td><td>",
        format_rate(recent.rate_short),
        format_rate(recent.rate_long),
    );
    write_sparkline(
        page,
        &recent.increments,
        covered,
        SAMPLE_INTERVAL,
        detail as usize,
    );
    page.push_str("</td>");
}

/// The hint, then what the catalogue says beyond it (the description,
/// every cause, every step, the API's message) one click away; open when
/// `open` and there are causes or steps. Nothing to click when the
/// catalogue says nothing beyond the hint.
fn write_knowledge(page: &mut String, entry: &CatalogEntry, open: bool) {
    let hint = entry.hint();
    let _ = write!(page, "{}", Escaped(hint));
    let has_lists = !entry.common_causes.is_empty() || !entry.troubleshooting.is_empty();
    let describes = entry.description != hint;
    let has_message = entry.error_message != entry.description && entry.error_message != hint;
    if !has_lists && !describes && !has_message {
        return;
    }
    let _ = write!(
        page,
        "<details{}><summary>{}</summary>",
        if open && has_lists { " open" } else { "" },
        if has_lists {
            "causes and steps"
        } else {
            "more"
        },
    );
    if describes {
        let _ = write!(page, "<p>{}</p>", Escaped(&entry.description));
    }
    for (heading, items) in [
        ("Common causes", &entry.common_causes),
        ("Troubleshooting", &entry.troubleshooting),
    ] {
        if items.is_empty() {
            continue;
        }
        let _ = write!(page, "<p><strong>{heading}</strong></p><ol>");
        for item in items {
            let _ = write!(page, "<li>{}</li>", Escaped(item));
        }
        page.push_str("</ol>");
    }
    if has_message {
        let _ = write!(
            page,
            "<p class=\"muted\">API message: <code>{}</code></p>",
            Escaped(&entry.error_message)
        );
    }
    page.push_str("</details>");
}

/// Columns of the inputs table.
const INPUT_COLUMNS: usize = 9;

/// One input's row: its lines, catalogued and uncatalogued rates, its files
/// and lag; then each type it has seen, one click away.
fn write_input_rates(
    page: &mut String,
    source: &str,
    rates: &InputRates<'_>,
    input: Option<&InputSummary>,
    covered: usize,
) {
    let _ = write!(
        page,
        "<tr><td><code>{}</code></td><td class=\"n\">{}</td>",
        Escaped(source),
        format_rate(rates.lines.rate_short),
    );
    write_rate_cells(page, &rates.catalogued, covered, Detail::Full);
    let _ = write!(
        page,
        "<td class=\"n\">{}</td><td class=\"n\">{}</td>",
        rates.catalogued.total,
        format_rate(rates.uncatalogued.rate_short),
    );
    match input {
        Some(input) => {
            let _ = write!(
                page,
                "<td class=\"n\">{}</td><td class=\"n\" title=\"{} bytes\">{}</td>",
                input.file_count,
                input.lag,
                format_bytes(input.lag)
            );
        }
        None => page.push_str("<td></td><td></td>"),
    }
    page.push_str("</tr>");
    // Each type it has seen, in a full-width row below: a table in a cell
    // of its own would squeeze the row.
    if !rates.types.is_empty() {
        let _ = write!(
            page,
            "<tr><td colspan=\"{INPUT_COLUMNS}\"><details><summary>{} type{} seen</summary>\
             <table class=\"sub\"><tr><th>Error type</th><th>1 min /s</th><th>5 min /s</th>\
             <th>Last hour (1 min steps)</th><th>Total</th></tr>",
            rates.types.len(),
            if rates.types.len() == 1 { "" } else { "s" },
        );
        for (error_type, recent) in sorted_by_rate(&rates.types) {
            let _ = write!(page, "<tr><td><code>{}</code></td>", Escaped(error_type));
            write_rate_cells(page, recent, covered, Detail::Minutes);
            let _ = write!(page, "<td class=\"n\">{}</td></tr>", recent.total);
        }
        page.push_str("</table></details></td></tr>");
    }
    page.push('\n');
}

/// The listed files of one input, then a row counting the others; the
/// input's name and patterns span them all.
fn write_file_rows(page: &mut String, name: &str, input: &InputSummary) {
    let hidden = input.file_count.saturating_sub(input.files.len());
    let rows = (input.files.len() + usize::from(hidden > 0)).max(1);
    let _ = write!(
        page,
        "<tr><td rowspan=\"{rows}\"><code>{}</code></td><td rowspan=\"{rows}\">",
        Escaped(name)
    );
    for (i, pattern) in input.patterns.iter().enumerate() {
        if i > 0 {
            page.push_str("<br>");
        }
        let _ = write!(page, "<code>{}</code>", Escaped(pattern));
    }
    page.push_str("</td>");
    if input.files.is_empty() {
        let note = if input.finished {
            "finished"
        } else {
            "no open files"
        };
        let _ = writeln!(page, "<td colspan=\"4\" class=\"muted\">{note}</td></tr>");
        return;
    }
    for (i, file) in input.files.iter().enumerate() {
        if i > 0 {
            page.push_str("<tr>");
        }
        let _ = writeln!(
            page,
            "<td><code>{}</code></td><td class=\"n\" title=\"{} bytes\">{}</td>\
             <td class=\"n\" title=\"{} bytes\">{}</td><td class=\"n\" title=\"{} bytes\">{}</td></tr>",
            Escaped(&file.path.to_string_lossy()),
            file.offset,
            format_bytes(file.offset),
            file.size,
            format_bytes(file.size),
            file.lag(),
            format_bytes(file.lag()),
        );
    }
    if hidden > 0 {
        let shown_lag = input
            .files
            .iter()
            .fold(0u64, |sum, file| sum.saturating_add(file.lag()));
        let _ = writeln!(
            page,
            "<tr><td colspan=\"4\" class=\"muted\">and {hidden} more file{} not listed \
             ({} of lag among them)</td></tr>",
            if hidden == 1 { "" } else { "s" },
            format_bytes(input.lag.saturating_sub(shown_lag)),
        );
    }
}

/// Only http(s) links are rendered as links; anything else (a typo, a
/// `javascript:` URL in a hand-written catalogue) stays text.
fn is_web_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// Text escaped for HTML element content and double-quoted attributes,
/// written straight into the page.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// A log line for HTML: as [`Escaped`], and each control character
/// (escape sequences, carriage returns, NUL) written as `\u{..}`.
struct EscapedLine<'a>(&'a str);

impl fmt::Display for EscapedLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(char::is_control) {
            write!(f, "{}", Escaped(&rest[..at]))?;
            let control = rest[at..].chars().next().unwrap_or_default();
            write!(f, "\\u{{{:x}}}", u32::from(control))?;
            rest = &rest[at + control.len_utf8()..];
        }
        write!(f, "{}", Escaped(rest))
    }
}

/// A file name for HTML: as [`EscapedLine`], and each byte that is not
/// UTF-8 written as `\xff`, so that a name with a newline or in another
/// encoding can be told apart and found.
struct EscapedPath<'a>(&'a std::path::Path);

impl fmt::Display for EscapedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::os::unix::ffi::OsStrExt;
        for chunk in self.0.as_os_str().as_bytes().utf8_chunks() {
            write!(f, "{}", EscapedLine(chunk.valid()))?;
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// A rate per second: `–` before the first sample, `0` for none, else
/// about three significant digits.
fn format_rate(rate: Option<f64>) -> String {
    match rate {
        None => "–".to_string(),
        Some(rate) if rate <= 0.0 => "0".to_string(),
        Some(rate) if rate >= 100.0 => format!("{rate:.0}"),
        Some(rate) if rate >= 10.0 => format!("{rate:.1}"),
        Some(rate) if rate >= 1.0 => format!("{rate:.2}"),
        Some(rate) if rate >= 0.001 => format!("{rate:.3}"),
        Some(_) => "&lt;0.001".to_string(),
    }
}

/// Binary units with one decimal, e.g. `512 B`, `1.5 KiB`, `3.2 GiB`.
fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Whole seconds, e.g. `2h 5m 7s`.
fn format_uptime(uptime: Duration) -> String {
    humantime::format_duration(Duration::from_secs(uptime.as_secs())).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;
    use crate::export::status::{FileStatus, InputStatus, TypeExamples};
    use crate::scan::Tally;
    use crate::scan::latest::RequestId;
    use crate::scan::recent::Line;

    /// A daemon's shared state without the daemon: the page's inputs.
    struct Fixture {
        catalog: Arc<Catalog>,
        metrics: Metrics,
        status: DaemonStatus,
    }

    impl Fixture {
        fn new(catalog: Catalog) -> Self {
            let catalog = Arc::new(catalog);
            let metrics = Metrics::new().unwrap();
            metrics.set_catalog(&catalog);
            let status = DaemonStatus::new(Arc::clone(&catalog));
            Self {
                catalog,
                metrics,
                status,
            }
        }

        /// Counts `errors` (type, count) and `lines` for input `source`.
        fn publish(&self, source: &str, errors: &[(&str, u64)], lines: u64) {
            let mut input = self.metrics.input(source, &self.catalog);
            let mut tally = Tally::new(self.catalog.len());
            for (error_type, count) in errors {
                tally.errors[self.catalog.index_of(error_type.as_bytes()).unwrap()] = *count;
            }
            tally.lines = lines;
            input.publish(&mut tally);
        }

        /// What the sampler does every interval.
        fn sample(&self) {
            self.status
                .history()
                .record(Instant::now(), &Counts::gather(&self.metrics));
        }

        fn render(&self) -> String {
            render(
                &self.metrics,
                &self.status,
                SystemTime::now(),
                Instant::now(),
            )
        }
    }

    /// HTML escaping, written here independently of [`Escaped`].
    fn html(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
    }

    /// The line of the main table that shows `error_type`.
    fn type_row<'a>(page: &'a str, error_type: &str) -> &'a str {
        page.lines()
            .find(|line| {
                line.starts_with("<tr><td><a href=")
                    && line.contains(&format!("<code>{error_type}</code></a></td>"))
            })
            .unwrap_or_else(|| panic!("no row for {error_type}:\n{page}"))
    }

    #[tokio::test(start_paused = true)]
    async fn types_are_sorted_by_the_rate_now_with_rates_sparkline_and_every_cause_and_step() {
        let fixture = Fixture::new(Catalog::builtin().unwrap());
        let page = a_burst_long_ago_on_api_and_a_small_one_now_on_web(&fixture).await;
        types_are_ordered_by_their_rate_now(&page);
        rates_counts_and_sparkline_cover_the_last_minute_and_five(&page);
        each_busy_type_links_its_docs_and_lists_every_cause_and_step(&fixture, &page);
        only_the_busiest_type_now_is_open(&page);
        a_type_with_nothing_beyond_its_hint_has_nothing_to_click(&fixture, &page);
        each_input_shows_its_rates_and_the_types_it_saw(&page);
    }

    /// api and web at 0, then 600 session_not_found on api 30 samples
    /// ago, and 30 email_not_found and one magic_link_not_found on web in
    /// the last sample; the page rendered then.
    async fn a_burst_long_ago_on_api_and_a_small_one_now_on_web(fixture: &Fixture) -> String {
        fixture.publish("api", &[], 0);
        fixture.publish("web", &[], 0);
        fixture.sample();
        fixture.publish("api", &[("session_not_found", 600)], 1000);
        for _ in 0..29 {
            tokio::time::advance(SAMPLE_INTERVAL).await;
            fixture.sample();
        }
        fixture.publish(
            "web",
            &[("email_not_found", 30), ("magic_link_not_found", 1)],
            40,
        );
        tokio::time::advance(SAMPLE_INTERVAL).await;
        fixture.sample();
        fixture.render()
    }

    fn types_are_ordered_by_their_rate_now(page: &str) {
        let position = |error_type: &str| page.find(type_row(page, error_type)).unwrap();
        assert!(
            position("email_not_found") < position("magic_link_not_found"),
            "{page}"
        );
        assert!(
            position("magic_link_not_found") < position("session_not_found"),
            "{page}"
        );
    }

    fn rates_counts_and_sparkline_cover_the_last_minute_and_five(page: &str) {
        let email = type_row(page, "email_not_found");
        let session = type_row(page, "session_not_found");
        // 30 in the last minute; 30 in the last 5 minutes.
        assert!(
            email.contains("<td class=\"n hot\">0.500</td><td class=\"n\">0.100</td>"),
            "{email}"
        );
        assert!(email.contains("<td class=\"n\">30</td>"), "{email}");
        assert!(
            email.contains("<title>30 since start (5m), at most 30 per 10s</title>"),
            "{email}"
        );
        // 600 within the 5 minutes (the window starts at the baseline,
        // 300 s ago), none in the last one.
        assert!(
            session.contains("<td class=\"n\">0</td><td class=\"n\">2.00</td>"),
            "{session}"
        );
        assert!(session.contains("<td class=\"n\">600</td>"), "{session}");
    }

    fn each_busy_type_links_its_docs_and_lists_every_cause_and_step(fixture: &Fixture, page: &str) {
        for error_type in ["email_not_found", "session_not_found"] {
            let row = type_row(page, error_type);
            let entry = fixture
                .catalog
                .entry(fixture.catalog.index_of(error_type.as_bytes()).unwrap())
                .unwrap();
            assert!(
                row.contains(&format!("href=\"{}\"", html(&entry.doc_url))),
                "{row}"
            );
            assert!(
                row.contains(&format!("<td>{}<details", html(entry.hint()))),
                "{row}"
            );
            assert!(
                row.contains("><summary>causes and steps</summary>"),
                "{row}"
            );
            let causes: String = entry
                .common_causes
                .iter()
                .map(|cause| format!("<li>{}</li>", html(cause)))
                .collect();
            let steps: String = entry
                .troubleshooting
                .iter()
                .map(|step| format!("<li>{}</li>", html(step)))
                .collect();
            assert!(!entry.common_causes.is_empty() && !entry.troubleshooting.is_empty());
            assert!(
                row.contains(&format!(
                    "<strong>Common causes</strong></p><ol>{causes}</ol>"
                )),
                "{row}"
            );
            assert!(
                row.contains(&format!(
                    "<strong>Troubleshooting</strong></p><ol>{steps}</ol>"
                )),
                "{row}"
            );
        }
    }

    /// The busiest now is open; the others are one click away.
    fn only_the_busiest_type_now_is_open(page: &str) {
        let email = type_row(page, "email_not_found");
        let session = type_row(page, "session_not_found");
        assert!(email.contains("<details open><summary>"), "{email}");
        assert!(session.contains("<details><summary>"), "{session}");
    }

    /// Nothing in the catalogue beyond the hint: nothing to click.
    fn a_type_with_nothing_beyond_its_hint_has_nothing_to_click(fixture: &Fixture, page: &str) {
        let magic = type_row(page, "magic_link_not_found");
        let entry = fixture
            .catalog
            .entry(fixture.catalog.index_of(b"magic_link_not_found").unwrap())
            .unwrap();
        assert_eq!(
            (entry.hint(), entry.error_message.as_str()),
            (entry.description.as_str(), entry.description.as_str())
        );
        assert!(
            magic.ends_with(&format!("<td>{}</td></tr>", html(&entry.description))),
            "{magic}"
        );
    }

    /// Per input: web is busy now, api was busy earlier.
    fn each_input_shows_its_rates_and_the_types_it_saw(page: &str) {
        let input_row = |source: &str| {
            page.lines()
                .find(|line| line.starts_with(&format!("<tr><td><code>{source}</code></td>")))
                .unwrap()
        };
        let web = input_row("web");
        assert!(
            web.starts_with(
                "<tr><td><code>web</code></td><td class=\"n\">0.667</td>\
                 <td class=\"n hot\">0.517</td><td class=\"n\">0.103</td>"
            ),
            "{web}"
        );
        assert!(web.contains("<summary>2 types seen</summary>"), "{web}");
        let api = input_row("api");
        assert!(
            api.starts_with(
                "<tr><td><code>api</code></td><td class=\"n\">0</td>\
                 <td class=\"n\">0</td><td class=\"n\">2.00</td>"
            ),
            "{api}"
        );
        assert!(api.contains("<summary>1 type seen</summary>"), "{api}");
        assert!(page.contains("<p>Uncatalogued errors: 0 · lines read: 1040</p>"));
    }

    #[test]
    fn hostile_catalogue_text_input_names_and_paths_are_escaped() {
        let hostile = CatalogEntry {
            error_type: "widget_not_found".to_string(),
            status_code: 404,
            title: "<b>Not found</b>".to_string(),
            description: "<img src=x onerror=alert(1)>".to_string(),
            error_message: "\"</code><script>alert('m')</script>".to_string(),
            common_causes: vec!["<script>alert('c')</script>".to_string()],
            troubleshooting: vec!["check a & b \"quoted\"".to_string()],
            doc_url: "javascript:alert(1)".to_string(),
        };
        let sneaky_url = CatalogEntry {
            error_type: "gadget_not_found".to_string(),
            doc_url: "https://example.com/?a=1&b=\"><script>alert(2)</script>".to_string(),
            ..hostile.clone()
        };
        let catalog = Catalog::from_entries(vec![
            ("<script>src</script>".to_string(), hostile),
            ("x".to_string(), sneaky_url),
        ])
        .unwrap();
        let fixture = Fixture::new(catalog);
        fixture.sample();
        let input = "<i>api</i>";
        fixture.publish(
            input,
            &[("widget_not_found", 2), ("gadget_not_found", 1)],
            3,
        );
        fixture.status.set_input(
            input,
            InputStatus {
                patterns: vec!["/var/log/<script>/*.log".to_string()],
                files: vec![FileStatus {
                    path: PathBuf::from("/var/log/<script>alert(1)</script>\".log"),
                    offset: 1536,
                    size: 4096,
                }],
                finished: false,
                examples: Arc::default(),
            },
        );
        let page = fixture.render();
        for raw in ["<script", "<img", "<i>", "<b>", "javascript:alert(1)\""] {
            assert!(!page.contains(raw), "{raw} in:\n{page}");
        }
        assert!(!page.contains("href=\"javascript:"), "{page}");
        for escaped in [
            "&lt;img src=x onerror=alert(1)&gt;",
            "<li>&lt;script&gt;alert(&#39;c&#39;)&lt;/script&gt;</li>",
            "<li>check a &amp; b &quot;quoted&quot;</li>",
            "<code>&quot;&lt;/code&gt;&lt;script&gt;alert(&#39;m&#39;)&lt;/script&gt;</code>",
            "href=\"https://example.com/?a=1&amp;b=&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;\"",
            "<code>widget_not_found</code>",
            "<code>&lt;i&gt;api&lt;/i&gt;</code>",
            "<code>/var/log/&lt;script&gt;/*.log</code>",
            "<code>/var/log/&lt;script&gt;alert(1)&lt;/script&gt;&quot;.log</code>",
            "from &lt;script&gt;src&lt;/script&gt;, x.",
        ] {
            assert!(page.contains(escaped), "missing {escaped} in:\n{page}");
        }
        assert!(page.contains("1.5 KiB") && page.contains("2.5 KiB"));
    }

    /// An example of `path` at `offset`, timed at `seconds` or not, with
    /// `line` when lines are shown.
    fn example(
        path: &str,
        offset: u64,
        seconds: Option<i64>,
        id: &str,
        line: Option<&str>,
    ) -> Example {
        let read_at = 2_000_000_000;
        Example {
            time: Stamp::from_seconds(seconds.unwrap_or(read_at)).unwrap(),
            timed: seconds.is_some(),
            request_id: Some(id)
                .filter(|id| !id.is_empty())
                .and_then(|id| RequestId::new(id.as_bytes())),
            path: Arc::from(std::path::Path::new(path)),
            offset,
            line: line.map(|text| Line {
                text: text.into(),
                cut: text.len() == crate::scan::recent::LINE_BYTES,
            }),
        }
    }

    fn with_examples(examples: Vec<TypeExamples>) -> InputStatus {
        InputStatus {
            patterns: vec!["/logs/*.log".to_string()],
            files: Vec::new(),
            finished: false,
            examples: Arc::new(examples),
        }
    }

    #[test]
    fn examples_show_time_request_id_file_and_offset_by_type_then_input_and_escape_paths() {
        let fixture = Fixture::new(Catalog::builtin().unwrap());
        let hostile = "/logs/<script>alert(1)</script>\".log";
        fixture.status.set_input(
            "web",
            with_examples(vec![TypeExamples {
                error_type: "member_not_found".to_string(),
                examples: vec![example(hostile, 4096, Some(1_796_464_800), "req-w1", None)],
            }]),
        );
        fixture.status.set_input(
            "api",
            with_examples(vec![TypeExamples {
                error_type: "member_not_found".to_string(),
                examples: vec![
                    example("/logs/api.log", 120, Some(1_796_464_801), "req-a2", None),
                    example("/logs/api.log", 0, None, "", None),
                ],
            }]),
        );
        let page = fixture.render();
        let section =
            &page[page.find("id=\"examples\"").unwrap()..page.find("id=\"inputs\"").unwrap()];
        assert!(!section.contains("<script"), "{section}");
        let rows: Vec<&str> = section
            .lines()
            .filter(|line| line.starts_with("<tr"))
            .collect();
        assert_eq!(
            rows,
            [
                "<tr id=\"examples-member_not_found\"><td rowspan=\"3\"><code>member_not_found</code></td>\
                 <td rowspan=\"2\"><code>api</code></td><td class=\"n\">2026-12-05T10:00:01Z</td>\
                 <td><code>req-a2</code></td><td><code>/logs/api.log</code></td><td class=\"n\">120</td></tr>",
                "<tr><td class=\"n\">2033-05-18T03:33:20Z <span class=\"muted\" title=\"no time in the record\">read</span></td>\
                 <td class=\"muted\">none</td><td><code>/logs/api.log</code></td><td class=\"n\">0</td></tr>",
                "<tr><td rowspan=\"1\"><code>web</code></td><td class=\"n\">2026-12-05T10:00:00Z</td>\
                 <td><code>req-w1</code></td>\
                 <td><code>/logs/&lt;script&gt;alert(1)&lt;/script&gt;&quot;.log</code></td><td class=\"n\">4096</td></tr>",
            ]
        );
        assert!(section.contains("Lines are not shown"), "{section}");
        assert!(
            section.contains(
                "<table><tr><th>Error type</th><th>Input</th><th>Time</th><th>Request ID</th>\
                 <th>File</th><th>Offset</th></tr>\n"
            ),
            "{section}"
        );
    }

    #[test]
    fn a_file_name_with_a_newline_or_bytes_not_utf8_is_spelled_out_so_it_can_be_found() {
        use std::os::unix::ffi::OsStrExt;
        let fixture = Fixture::new(Catalog::builtin().unwrap());
        let mut named = example("/", 7, Some(1_796_464_800), "r1", None);
        named.path = Arc::from(std::path::Path::new(std::ffi::OsStr::from_bytes(
            b"/logs/new\nline\xff\xfe<b>.log",
        )));
        fixture.status.set_input(
            "api",
            with_examples(vec![TypeExamples {
                error_type: "member_not_found".to_string(),
                examples: vec![named],
            }]),
        );
        let page = fixture.render();
        assert!(
            page.contains(r"<td><code>/logs/new\u{a}line\xff\xfe&lt;b&gt;.log</code></td>"),
            "{page}"
        );
    }

    #[test]
    fn lines_when_shown_are_escaped_with_control_characters_spelled_out_and_marked_when_cut() {
        let fixture = Fixture::new(Catalog::builtin().unwrap());
        let hostile = "{\"msg\":\"</code><img src=x onerror=alert(1)>\u{1b}[31m\r\",\"error_type\":\"member_not_found\"}";
        let long = "x".repeat(crate::scan::recent::LINE_BYTES);
        fixture.status.set_input(
            "api",
            with_examples(vec![TypeExamples {
                error_type: "member_not_found".to_string(),
                examples: vec![
                    example("/a", 0, Some(1_796_464_800), "r1", Some(hostile)),
                    example("/a", 400, Some(1_796_464_799), "r2", Some(&long)),
                ],
            }]),
        );
        let page = fixture.render();
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("<th>Line</th>"), "{page}");
        assert!(
            page.contains(
                "<td><code>{&quot;msg&quot;:&quot;&lt;/code&gt;&lt;img src=x onerror=alert(1)&gt;\\u{1b}[31m\\u{d}&quot;,\
                 &quot;error_type&quot;:&quot;member_not_found&quot;}</code></td>"
            ),
            "{page}"
        );
        assert!(
            page.contains(&format!(
                "<td><code>{long}</code><span class=\"muted\">…</span></td>"
            )),
            "{page}"
        );
    }

    #[test]
    fn at_two_thousand_files_the_fifty_with_the_most_lag_are_listed_and_the_rest_counted() {
        let fixture = Fixture::new(Catalog::builtin().unwrap());
        // File i lags i bytes, so the 50 with the most lag are 1950..=1999.
        let files = (0..2000u64)
            .map(|i| FileStatus {
                path: PathBuf::from(format!("/var/log/pods/ns_pod-{i:04}_uid/app/0.log")),
                offset: 1000,
                size: 1000 + i,
            })
            .collect();
        fixture.status.set_input(
            "pods",
            InputStatus {
                patterns: vec!["/var/log/pods/*/*/*.log".to_string()],
                files,
                finished: false,
                examples: Arc::default(),
            },
        );
        let page = fixture.render();
        let listed: Vec<&str> = page
            .lines()
            .filter_map(|line| {
                let start = line.find("<td><code>/var/log/pods/ns_pod-")? + "<td><code>".len();
                Some(&line[start..start + "/var/log/pods/ns_pod-0000".len()])
            })
            .collect();
        let expected: Vec<String> = (1950..2000)
            .rev()
            .map(|i| format!("/var/log/pods/ns_pod-{i:04}"))
            .collect();
        assert_eq!(listed, expected);
        // The lag of the 1,950 not listed: 0 + 1 + ... + 1949 bytes.
        let hidden_lag = 1949 * 1950 / 2;
        assert!(
            page.contains(&format!(
                "and 1950 more files not listed ({} of lag among them)",
                format_bytes(hidden_lag)
            )),
            "{page}"
        );
        assert!(
            page.contains("<td rowspan=\"51\"><code>pods</code></td>"),
            "{page}"
        );
        // The inputs table counts every file and all their lag.
        let all_lag = 1999 * 2000 / 2;
        assert!(
            page.contains(&format!(
                "<td class=\"n\">2000</td><td class=\"n\" title=\"{all_lag} bytes\">"
            )),
            "{page}"
        );
        assert!(page.len() < 64 << 10, "{} bytes", page.len());
    }

    #[test]
    fn nothing_seen_and_no_sample_yet() {
        let fixture = Fixture::new(Catalog::builtin().unwrap());
        fixture.publish("api", &[], 5);
        let page = fixture.render();
        assert!(page.contains("no catalogued errors seen yet"), "{page}");
        assert!(
            page.contains("<tr><td><code>api</code></td><td class=\"n\">–</td>"),
            "{page}"
        );
        assert!(!page.contains("<script"), "{page}");
    }

    #[test]
    fn escaped_escapes_the_five_characters() {
        assert_eq!(
            Escaped(r#"<a href="x">&'</a>"#).to_string(),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(Escaped("plain ü").to_string(), "plain ü");
        assert_eq!(Escaped("").to_string(), "");
    }

    #[test]
    fn rates_show_about_three_significant_digits() {
        assert_eq!(format_rate(None), "–");
        assert_eq!(format_rate(Some(0.0)), "0");
        assert_eq!(format_rate(Some(1.0 / 60.0)), "0.017");
        assert_eq!(format_rate(Some(1.0 / 300.0)), "0.003");
        assert_eq!(format_rate(Some(0.0001)), "&lt;0.001");
        assert_eq!(format_rate(Some(2.5)), "2.50");
        assert_eq!(format_rate(Some(42.25)), "42.2");
        assert_eq!(format_rate(Some(1234.5)), "1234");
    }

    #[test]
    fn format_bytes_uses_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(5 << 20), "5.0 MiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn uptime_is_whole_seconds() {
        assert_eq!(format_uptime(Duration::from_millis(7_325_900)), "2h 2m 5s");
    }
}
