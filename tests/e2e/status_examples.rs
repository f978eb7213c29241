//! The status page's latest examples, from a running daemon over real
//! HTTP: the test writes its own records (in several appends, so several
//! reads), knows each one's time, request ID, file and offset, and expects
//! the latest five of each type per input, latest first, sorted from what
//! it wrote, never from errtally's output. A file name full of HTML, and
//! with `status_page_show_lines = true` a hostile line cut at 300 bytes.

use std::cell::RefCell;
use std::path::Path;

use crate::daemon_support::{Daemon, append, errors, html};

/// One record the test wrote.
#[derive(Debug, Clone)]
struct Written {
    /// Seconds after 2026-12-05T10:00:00Z; `None` for an untimed record.
    time: Option<u32>,
    request_id: Option<String>,
    path: String,
    offset: u64,
}

fn rfc3339(seconds: u32) -> String {
    format!(
        "2026-12-05T10:{:02}:{:02}Z",
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Appends `session_not_found` records with these times and IDs to `log`
/// (after a plain line each), noting each record's offset in `written`.
fn write(log: &Path, records: &[(Option<u32>, Option<&str>)], written: &mut Vec<Written>) {
    let mut offset = std::fs::metadata(log).map_or(0, |meta| meta.len());
    let mut text = String::new();
    for (time, request_id) in records {
        let plain = "{\"level\":\"info\",\"msg\":\"ok\"}\n";
        text.push_str(plain);
        offset += plain.len() as u64;
        let mut record = String::from("{");
        if let Some(time) = time {
            record.push_str(&format!("\"time\":\"{}\",", rfc3339(*time)));
        }
        record.push_str("\"level\":\"warn\",\"status_code\":404,");
        if let Some(id) = request_id {
            record.push_str(&format!("\"request_id\":\"{id}\","));
        }
        record.push_str("\"error_type\":\"session_not_found\"}\n");
        written.push(Written {
            time: *time,
            request_id: request_id.map(str::to_owned),
            path: log.display().to_string(),
            offset,
        });
        offset += record.len() as u64;
        text.push_str(&record);
    }
    append(log, &text);
}

/// The cells (text inside each `<td>`) of the page's example rows of
/// `error_type`, for input `input`: time, request ID, file, offset (and
/// line), in page order.
fn example_rows(page: &str, error_type: &str, input: &str) -> Vec<Vec<String>> {
    let start = page
        .find(&format!("<tr id=\"examples-{error_type}\">"))
        .unwrap_or_else(|| panic!("no examples of {error_type}:\n{page}"));
    let section = &page[start..];
    let section = &section[..section.find("</table>").unwrap()];
    let mut rows = Vec::new();
    let mut current_input = String::new();
    for line in section.lines() {
        let mut cells: Vec<String> = line
            .split("<td")
            .skip(1)
            .map(|cell| {
                let inner = cell.split_once('>').unwrap().1;
                inner
                    .rsplit_once("</td>")
                    .map_or(inner, |(text, _)| text)
                    .to_owned()
            })
            .collect();
        // A row's leading cells span it: the type (first row only), then
        // the input (its first row).
        if line.starts_with("<tr id=") {
            cells.remove(0);
        }
        if line.contains("<td rowspan=") {
            current_input = cells.remove(0);
        }
        if current_input == format!("<code>{input}</code>") {
            rows.push(cells);
        }
    }
    rows
}

/// What the page should show for `written`: the five latest by time
/// (untimed ones take when they were read, after every timed one here),
/// ties to the one written later.
fn expected(written: &[Written], untimed_seen: bool) -> Vec<(String, String, String, String)> {
    let mut sorted: Vec<(usize, &Written)> = written.iter().enumerate().collect();
    // Untimed records were read in 2026 after 10:00 UTC on 2026-12-05.
    sorted.sort_by_key(|(index, record)| {
        std::cmp::Reverse((record.time.map_or(u32::MAX, |t| t), *index))
    });
    sorted
        .into_iter()
        .take(5)
        .map(|(_, record)| {
            let time = match record.time {
                Some(time) => rfc3339(time),
                None => {
                    assert!(untimed_seen);
                    "read".to_owned()
                }
            };
            let id = match &record.request_id {
                Some(id) => format!("<code>{id}</code>"),
                None => "none".to_owned(),
            };
            (
                time,
                id,
                format!("<code>{}</code>", html(&record.path)),
                record.offset.to_string(),
            )
        })
        .collect()
}

/// The page's rows as (time, ID, file, offset), the time reduced to
/// `read` for an untimed record.
fn shown(page: &str) -> Vec<(String, String, String, String)> {
    example_rows(page, "session_not_found", "default")
        .into_iter()
        .map(|cells| {
            let time = if cells[0].contains(">read</span>") {
                "read".to_owned()
            } else {
                cells[0].clone()
            };
            (time, cells[1].clone(), cells[2].clone(), cells[3].clone())
        })
        .collect()
}

/// Waits until the page shows what `written` implies.
fn wait_for_examples(daemon: &Daemon, written: &[Written], untimed: bool) -> String {
    let want = expected(written, untimed);
    let count = written.len() as f64;
    daemon.wait_for(&errors("default", "session_not_found"), count);
    let page = RefCell::new(String::new());
    daemon.wait_until("the examples on the status page", || {
        let fetched = daemon.get("/").1;
        let done = fetched.contains("id=\"examples-session_not_found\"") && shown(&fetched) == want;
        *page.borrow_mut() = fetched;
        done
    });
    page.into_inner()
}

#[test]
fn the_latest_five_per_type_show_with_time_request_id_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    // Every character HTML needs escaped, in a real file name.
    let hostile = dir.path().join("x<script>alert('&')<\\script> \".log");
    append(&log, "");
    let daemon = Daemon::start(&[&format!("{}/*.log", dir.path().display())]);
    let mut written = Vec::new();
    // Twelve in one append (one read): the last five of it are the latest.
    let first: Vec<(Option<u32>, Option<String>)> = (0..12)
        .map(|n| (Some(n), Some(format!("req-{n}"))))
        .collect();
    write(&log, &as_refs(&first), &mut written);
    wait_for_examples(&daemon, &written, false);
    // Then one by one: a record without an ID, a tie at second 11 (the
    // later one first), and one from the second file that is newest.
    write(&log, &[(Some(11), None)], &mut written);
    write(&log, &[(Some(20), Some("req-20"))], &mut written);
    write(&hostile, &[(Some(30), Some("req-hostile"))], &mut written);
    let page = wait_for_examples(&daemon, &written, false);
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("Lines are not shown"), "{page}");
    // The type's row in the errors table links its examples.
    assert!(
        page.contains("<a href=\"#examples-session_not_found\" class=\"muted\">examples</a>"),
        "{page}"
    );
    assert!(!page.contains("\"level\":\"warn\""), "a line shown: {page}");
    // An untimed record takes the time it was read: after them all.
    write(&log, &[(None, Some("req-untimed"))], &mut written);
    wait_for_examples(&daemon, &written, true);
    daemon.stop();
}

fn as_refs(records: &[(Option<u32>, Option<String>)]) -> Vec<(Option<u32>, Option<&str>)> {
    records
        .iter()
        .map(|(time, id)| (*time, id.as_deref()))
        .collect()
}

#[test]
fn with_show_lines_the_line_is_escaped_and_cut_at_300_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    append(&log, "");
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "status_page_show_lines = true\n\n[[input]]\nname = \"default\"\npaths = [\"{}\"]\n",
            log.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", &config.display().to_string()]);
    let short = "{\"time\":\"2026-12-05T10:00:01Z\",\"msg\":\"</code><img src=x>\",\
                 \"request_id\":\"req-short\",\"error_type\":\"session_not_found\"}";
    let long = format!(
        "{{\"time\":\"2026-12-05T10:00:02Z\",\"request_id\":\"req-long\",\
         \"error_type\":\"session_not_found\",\"pad\":\"{}\"}}",
        "p".repeat(400)
    );
    append(&log, &format!("{short}\n{long}\n"));
    daemon.wait_for(&errors("default", "session_not_found"), 2.0);
    let rows = RefCell::new(Vec::new());
    daemon.wait_until("two examples with lines", || {
        let page = daemon.get("/").1;
        if page.contains("id=\"examples-session_not_found\"") {
            *rows.borrow_mut() = example_rows(&page, "session_not_found", "default");
        }
        rows.borrow().len() == 2
    });
    let rows = rows.into_inner();
    assert_eq!(rows[0][1], "<code>req-long</code>");
    assert_eq!(
        rows[0][4],
        format!(
            "<code>{}</code><span class=\"muted\">…</span>",
            html(&long[..300])
        )
    );
    assert_eq!(rows[1][4], format!("<code>{}</code>", html(short)));
    daemon.stop();
}

/// Reloads `daemon` and waits until the reload is done.
fn reload(daemon: &Daemon) {
    let reloads = || daemon.log().matches("configuration reloaded").count();
    let before = reloads();
    daemon.signal("HUP");
    daemon.wait_until("the reload", || reloads() > before);
}

#[test]
fn a_reload_keeps_the_examples_of_files_and_stdin_and_drops_lines_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    append(&log, "");
    let config = dir.path().join("errtally.toml");
    let write_config = |show_lines: bool| {
        std::fs::write(
            &config,
            format!(
                "status_page_show_lines = {show_lines}\n\n\
                 [[input]]\nname = \"default\"\npaths = [\"{}\"]\n\n\
                 [[input]]\nname = \"piped\"\npaths = [\"-\"]\n",
                log.display()
            ),
        )
        .unwrap();
    };
    write_config(true);
    let mut daemon = Daemon::start_with_stdin(&["--config", &config.display().to_string()]);
    let mut written = Vec::new();
    write(&log, &[(Some(1), Some("req-file"))], &mut written);
    let piped = "{\"time\":\"2026-12-05T10:00:02Z\",\"request_id\":\"req-stdin\",\
                 \"error_type\":\"session_not_found\"}\n";
    daemon.write_stdin(piped.as_bytes());
    daemon.wait_for(&errors("piped", "session_not_found"), 1.0);
    wait_for_examples(&daemon, &written, false);
    let stdin_rows = || {
        let page = daemon.get("/").1;
        if !page.contains("id=\"examples-session_not_found\"") {
            return Vec::new();
        }
        example_rows(&page, "session_not_found", "piped")
    };
    daemon.wait_until("the stdin example", || stdin_rows().len() == 1);
    // After a reload that changes nothing, each input has published again
    // (a record of another type each) and still shows its example.
    let other = |n: f64, daemon: &mut Daemon| {
        append(&log, &crate::daemon_support::error_line("email_not_found"));
        daemon.write_stdin(crate::daemon_support::error_line("email_not_found").as_bytes());
        daemon.wait_for(&errors("default", "email_not_found"), n);
        daemon.wait_for(&errors("piped", "email_not_found"), n);
    };
    reload(&daemon);
    other(1.0, &mut daemon);
    let page = daemon.get("/").1;
    let expected_file = expected(&written, false);
    assert_eq!(shown(&page), expected_file, "{page}");
    let rows = example_rows(&page, "session_not_found", "piped");
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(
        (
            rows[0][0].as_str(),
            rows[0][1].as_str(),
            rows[0][4].as_str()
        ),
        (
            "2026-12-05T10:00:02Z",
            "<code>req-stdin</code>",
            format!("<code>{}</code>", html(piped.trim_end())).as_str()
        )
    );
    // Lines off: the examples stay, their lines go.
    write_config(false);
    reload(&daemon);
    other(2.0, &mut daemon);
    let page = daemon.get("/").1;
    assert_eq!(shown(&page), expected_file, "{page}");
    assert!(page.contains("Lines are not shown"), "{page}");
    assert!(!page.contains("req-stdin&quot;"), "a line shown: {page}");
    let rows = example_rows(&page, "session_not_found", "piped");
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0][1], "<code>req-stdin</code>");
    daemon.stop();
}
