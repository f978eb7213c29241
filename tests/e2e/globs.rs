//! Globs on trees a host really has, end to end: symlink loops under `**`
//! (present at start, and made while the daemon runs), a file whose name
//! is not UTF-8 (with and without `path_labels`), and `max_files`. The
//! truth is the lines each test wrote; every wait is bounded.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::daemon_support::{Daemon, append, error_line, metric};

/// Most memory the daemon may hold after walking a tree with two loops.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// `count` error lines.
fn lines(count: usize) -> String {
    error_line("member_not_found").repeat(count)
}

/// A config file in `dir` with one `[[input]]` table per entry of
/// `inputs` (its body after the header), polling every 100 ms.
fn config(dir: &Path, inputs: &[String]) -> PathBuf {
    let mut text = String::from("poll_interval = \"100ms\"\n");
    for input in inputs {
        text.push_str("\n[[input]]\nstart_at = \"beginning\"\n");
        text.push_str(input);
        text.push('\n');
    }
    let path = dir.join("errtally.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The daemon's resident memory, from /proc.
fn rss_kib(daemon: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.pid())).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

/// Starts the daemon on `config`, waiting at most `within` for it to be
/// ready (a walk that never ends keeps it from ever being ready).
fn start_within(config: &Path, within: Duration) -> Daemon {
    let started = Instant::now();
    let daemon = Daemon::start_unchecked(&["--config", config.to_str().unwrap()]);
    daemon.wait_until("ready", || {
        assert!(
            started.elapsed() < within,
            "not ready within {within:?}; log:\n{}",
            daemon.log()
        );
        daemon.get("/-/ready").0 == 200
    });
    daemon
}

#[test]
fn symlink_loops_under_a_recursive_glob_are_walked_once() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    let log = tree.join("sub/app.log");
    append(&log, &lines(7));
    // Two loops in one directory make the paths through them grow
    // exponentially with depth (the `glob` crate never finished), and one
    // more in a subdirectory.
    symlink(".", tree.join("X")).unwrap();
    symlink(".", tree.join("Y")).unwrap();
    symlink(".", tree.join("sub/X")).unwrap();
    let config = config(
        dir.path(),
        &[format!(
            "name = \"tree\"\npaths = [\"{}/**/*.log\"]",
            tree.display()
        )],
    );
    let daemon = start_within(&config, Duration::from_secs(10));
    let lines_total = metric("errtally_lines_total", "tree");
    daemon.wait_for(&lines_total, 7.0);
    // Counted once: one file open, and a line appended now counts one.
    daemon.wait_for(&metric("errtally_files_watched", "tree"), 1.0);
    append(&log, &lines(1));
    daemon.wait_for(&lines_total, 8.0);
    let rss = rss_kib(&daemon);
    assert!(rss < MAX_RSS_KIB, "RSS {rss} KiB");
    let (status, _) = daemon.stop();
    assert!(status.success());
}

#[test]
fn links_made_while_running_leave_counting_exact() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    let log = tree.join("sub/app.log");
    append(&log, &lines(3));
    let config = config(
        dir.path(),
        &[format!(
            "name = \"tree\"\npaths = [\"{}/**/*.log\"]",
            tree.display()
        )],
    );
    let daemon = start_within(&config, Duration::from_secs(10));
    let lines_total = metric("errtally_lines_total", "tree");
    daemon.wait_for(&lines_total, 3.0);
    symlink(".", tree.join("X")).unwrap();
    symlink("..", tree.join("sub/Y")).unwrap();
    // A file made after the links, appended to twice.
    let new = tree.join("sub/new.log");
    append(&new, &lines(4));
    daemon.wait_for(&lines_total, 7.0);
    append(&new, &lines(2));
    append(&log, &lines(1));
    daemon.wait_for(&lines_total, 10.0);
    daemon.wait_for(&metric("errtally_files_watched", "tree"), 2.0);
    let rss = rss_kib(&daemon);
    assert!(rss < MAX_RSS_KIB, "RSS {rss} KiB");
}

#[test]
fn a_file_whose_name_is_not_utf8_is_followed_and_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let name = OsStr::from_bytes(b"caf\xe9.log");
    for input in ["plain", "labelled"] {
        std::fs::create_dir_all(dir.path().join(input)).unwrap();
        append(&dir.path().join(input).join(name), &lines(3));
    }
    let plain = dir.path().join("plain");
    let labelled = dir.path().join("labelled");
    let config = config(
        dir.path(),
        &[
            format!("name = \"plain\"\npaths = [\"{}/*.log\"]", plain.display()),
            format!(
                "name = \"labelled\"\npaths = [\"{}/*.log\"]\n\
                 path_labels = '/(?P<file>[^/]+)\\.log$'",
                labelled.display()
            ),
        ],
    );
    let daemon = start_within(&config, Duration::from_secs(10));
    daemon.wait_for(&metric("errtally_lines_total", "plain"), 3.0);
    let lossy = "caf\u{FFFD}";
    let labelled_lines = format!("errtally_lines_total{{file=\"{lossy}\",source=\"labelled\"}}");
    daemon.wait_for(&labelled_lines, 3.0);
    append(&plain.join(name), &lines(2));
    append(&labelled.join(name), &lines(1));
    daemon.wait_for(&metric("errtally_lines_total", "plain"), 5.0);
    daemon.wait_for(&labelled_lines, 4.0);
    // The status page shows the name lossily.
    let (status, page) = daemon.get("/");
    assert_eq!(status, 200);
    assert!(page.contains(&format!("{lossy}.log")), "{page}");
}

#[test]
fn past_max_files_the_first_in_sorted_order_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    // Written out of order; each with its own number of lines, so the
    // total says which were followed.
    for (name, count) in [("e", 16), ("b", 2), ("d", 8), ("a", 1), ("c", 4)] {
        append(&logs.join(format!("{name}.log")), &lines(count));
    }
    let config = config(
        dir.path(),
        &[format!(
            "name = \"capped\"\npaths = [\"{}/*.log\"]\nmax_files = 3",
            logs.display()
        )],
    );
    let daemon = start_within(&config, Duration::from_secs(10));
    daemon.wait_for(&metric("errtally_lines_total", "capped"), 7.0);
    daemon.wait_for(&metric("errtally_files_dropped_total", "capped"), 2.0);
    daemon.wait_for(&metric("errtally_files_watched", "capped"), 3.0);
    // Later rescans leave the count alone: a line appended to a followed
    // file is the sync point that at least one more poll ran.
    append(&logs.join("a.log"), &lines(1));
    daemon.wait_for(&metric("errtally_lines_total", "capped"), 8.0);
    assert_eq!(
        daemon.value(&metric("errtally_files_dropped_total", "capped")),
        Some(2.0)
    );
    assert_eq!(
        daemon
            .log()
            .matches("more files match than max_files")
            .count(),
        1
    );
}

#[test]
fn check_warns_about_recursive_globs_over_loops_and_pseudo_filesystems() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    symlink(".", tree.join("sub/X")).unwrap();
    let config = config(
        dir.path(),
        &[
            format!("name = \"tree\"\npaths = [\"{}/**/*.log\"]", tree.display()),
            "name = \"proc\"\npaths = [\"/proc/**/*\"]".to_owned(),
            format!("name = \"flat\"\npaths = [\"{}/*/*.log\"]", tree.display()),
        ],
    );
    let output = crate::support::run(&["check", "--config", config.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("warning"))
        .collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("symlink loop") && warnings[0].contains("sub/X"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("/proc/**/*") && warnings[1].contains("pseudo filesystem"),
        "{stderr}"
    );
}
