//! The status page of a running daemon, fetched over real HTTP: a burst
//! written to a real file shows at once with a rate, a sparkline and the
//! catalogue's causes and steps, and is in the sparkline once the sampler's
//! next sample (every 10 s) is taken.

use std::time::{Duration, Instant};

use crate::daemon_support::{Daemon, append, error_line, errors, html, metric};

/// The page's main-table row of `error_type`.
fn type_row(page: &str, error_type: &str) -> Option<String> {
    page.lines()
        .find(|line| {
            // The name's link, then the link to its examples once the
            // input has published them.
            line.starts_with("<tr><td><a href=")
                && line.contains(&format!("<code>{error_type}</code></a>"))
        })
        .map(str::to_string)
}

/// The numbers of a row's cells with `class="n…"`, in order (`–` is NaN).
fn numbers(row: &str) -> Vec<f64> {
    row.split("<td class=\"n")
        .skip(1)
        .filter_map(|cell| {
            let text = cell.split_once('>')?.1.split_once("</td>")?.0;
            Some(text.parse().unwrap_or(f64::NAN))
        })
        .collect()
}

/// The built-in catalogue's entry, read from the shipped file, not through
/// errtally.
fn shipped_entry(error_type: &str) -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/catalog/stytch-b2b-404.json"
    );
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["error_type"] == error_type)
        .unwrap()
        .clone()
}

/// The burst the test writes: session_not_found lines, then one plain line.
const BURST: usize = 25;

#[test]
fn a_burst_shows_at_once_with_its_rate_sparkline_and_causes_and_steps() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    append(&log, "");
    let daemon = Daemon::start(&[&format!("{}/*.log", dir.path().display())]);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
    before_any_error_the_page_says_none_was_seen(&daemon);
    let page = write_the_burst_and_fetch_the_page(&daemon, &log);
    let row = type_row(&page, "session_not_found").unwrap_or_else(|| panic!("{page}"));
    the_types_row_has_its_status_rates_total_and_a_sparkline(&row);
    the_busiest_types_causes_and_steps_are_open_with_its_docs(&row);
    the_inputs_row_counts_the_burst(&page);
    the_next_sample_puts_the_burst_into_the_sparkline(&daemon);
}

fn before_any_error_the_page_says_none_was_seen(daemon: &Daemon) {
    let (status, page) = daemon.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("no catalogued errors seen yet"), "{page}");
}

/// Appends [`BURST`] errors and a plain line, waits until they are
/// counted, and returns the page then.
fn write_the_burst_and_fetch_the_page(daemon: &Daemon, log: &std::path::Path) -> String {
    append(log, &error_line("session_not_found").repeat(BURST));
    append(log, "{\"level\":\"info\",\"msg\":\"ok\"}\n");
    daemon.wait_for(&errors("default", "session_not_found"), BURST as f64);
    daemon.wait_for(&metric("errtally_lines_total", "default"), 26.0);
    let (status, page) = daemon.get("/");
    assert_eq!(status, 200);
    page
}

/// Status, 1 min, 5 min, total. A minute window is at most 60 s long and
/// holds the whole burst.
fn the_types_row_has_its_status_rates_total_and_a_sparkline(row: &str) {
    let cells = numbers(row);
    assert_eq!(cells.len(), 4, "{row}");
    assert_eq!(cells[0], 404.0, "{row}");
    assert!(
        cells[1] >= BURST as f64 / 60.0,
        "1 min rate {}: {row}",
        cells[1]
    );
    assert!(
        cells[2] >= BURST as f64 / 300.0,
        "5 min rate {}: {row}",
        cells[2]
    );
    assert_eq!(cells[3], BURST as f64, "{row}");
    assert!(row.contains("<svg class=\"spark\""), "{row}");
}

/// The busiest type now: its causes and steps, from the shipped
/// catalogue, are open, and it links its docs.
fn the_busiest_types_causes_and_steps_are_open_with_its_docs(row: &str) {
    let entry = shipped_entry("session_not_found");
    let list = |key: &str| -> String {
        entry[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| format!("<li>{}</li>", html(item.as_str().unwrap())))
            .collect()
    };
    assert!(
        row.contains("<details open><summary>causes and steps</summary>"),
        "{row}"
    );
    assert!(
        row.contains(&format!("<ol>{}</ol>", list("common_causes"))),
        "{row}"
    );
    assert!(
        row.contains(&format!("<ol>{}</ol>", list("troubleshooting"))),
        "{row}"
    );
    assert!(
        row.contains(&format!(
            "href=\"{}\"",
            html(entry["doc_url"].as_str().unwrap())
        )),
        "{row}"
    );
}

/// The input's own row: lines, catalogued (1 and 5 min, total),
/// uncatalogued, files, lag; and the page has no script.
fn the_inputs_row_counts_the_burst(page: &str) {
    let input = page
        .lines()
        .find(|line| line.starts_with("<tr><td><code>default</code></td>"))
        .unwrap_or_else(|| panic!("{page}"));
    let cells = numbers(input);
    assert!(cells[0] > 0.0 && cells[1] > 0.0, "{input}");
    assert_eq!(
        (cells[3], cells[4], cells[5]),
        (BURST as f64, 0.0, 1.0),
        "{input}"
    );
    assert!(input.contains("<summary>1 type seen</summary>"), "{input}");
    assert!(page.contains("lines read: 26"), "{page}");
    assert!(!page.contains("<script"), "{page}");
}

/// The sampler's next sample (every 10 s) puts the burst into the
/// sparkline.
fn the_next_sample_puts_the_burst_into_the_sparkline(daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = daemon.get("/");
        let row = type_row(&page, "session_not_found").unwrap_or_default();
        if row.contains(&format!("<title>{BURST} since start")) {
            assert!(row.contains("<path d=\"M"), "{row}");
            // Published within a fraction of a second, long before the
            // sample.
            assert!(
                row.contains(
                    "<a href=\"#examples-session_not_found\" class=\"muted\">examples</a>"
                ),
                "{row}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the burst never reached the sparkline: {row}\nlog:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
