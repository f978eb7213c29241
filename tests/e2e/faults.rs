//! Fault scenarios (issue 7, item 6): the real `errtally run` under
//! rotation and truncation storms, thousands of files, an unreadable file,
//! a reused inode behind a stale checkpoint and a crowd of scrapers, each
//! compared with what the test wrote (the generator's tally, or lines whose
//! count the test knows). `kill -9` mid-ingest, which bounds its replay in
//! wall-clock time, runs alone in tests/alone/faults.rs; the helpers both
//! share are in `faults_support`.
//!
//! Each scenario is sized for CI (all of them together take a few minutes
//! on two cores); the `FAULTS_*` variables make the full versions, which
//! `benches/faults.py` runs on a release build and tabulates. A test prints
//! its measurements on stderr as one line starting `faults: ` (seen with
//! `--nocapture`), which is what the script reads. Scrape latencies are
//! not measured here but by `benches/catch_up_scrapes.py`.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon_support::{Daemon, TYPES, append, as_nobody, errors, metric, value_in};
use crate::faults_support::{
    Fixture, SETTLE, SOURCE, differences, empty, expected_series, knob, lines_between, nth_line,
    open_append, wait_for_tally, wait_for_tally_timing_scrapes,
};
use crate::support::{add_tallies, corpus};

/// The settings of each notification mode: inotify (`auto`, the default)
/// and polling only, at the shipped `poll_interval`.
const MODES: [(&str, &str); 2] = [("auto", "watch = \"auto\""), ("poll", "watch = \"poll\"")];

/// A generated corpus held in memory with its tally and line ends.
struct Corpus {
    bytes: Vec<u8>,
    tally: Value,
    /// The offset after each `\n`.
    ends: Vec<usize>,
}

impl Corpus {
    /// `errtally gen --clean` (every line ends in a newline, so copies of
    /// it can follow each other and the tallies add up).
    fn clean(dir: &Path, seed: u64, bytes: u64) -> Corpus {
        let (path, tally) = corpus(dir, &format!("corpus-{seed}"), seed, bytes, &["--clean"]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(bytes.last(), Some(&b'\n'));
        let ends = memchr_ends(&bytes);
        Corpus { bytes, tally, ends }
    }

    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(0)
            .chain(self.ends.iter().copied())
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }
}

fn memchr_ends(bytes: &[u8]) -> Vec<usize> {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect()
}

/// `tally` `times` times over.
fn times(tally: &Value, times: u64) -> Value {
    (0..times).fold(empty(), |sum, _| add_tallies(&sum, tally))
}

/// The tally of one line the test wrote: a catalogued error of
/// `error_type`, or a plain line.
fn line_tally(line: &str, error_type: Option<&str>) -> Value {
    let mut tally = empty();
    tally["lines"] = 1.into();
    tally["bytes"] = line.len().into();
    if let Some(error_type) = error_type {
        tally["errors"][error_type] = 1.into();
    }
    tally
}

/// A plain line that starts differently for each `n` (so a file that
/// starts with it has a head of its own).
fn marker(n: u64) -> String {
    format!("{{\"msg\":\"marker {n:08}\",\"level\":\"info\",\"note\":\"a head of its own\"}}\n")
}

/// A logger: writes the corpus a line per `write(2)`, over and over, at
/// full speed or at most `bytes_per_second`, to the file at `path`;
/// reopens `path` when `reopen` is set (as a logger does when logrotate
/// signals it) and ends after the pass during which `stop` was set.
/// Returns the passes written.
struct Logger {
    reopen: AtomicBool,
    stop: AtomicBool,
    bytes: AtomicU64,
}

impl Logger {
    fn spawn(
        path: PathBuf,
        corpus: Arc<Corpus>,
        bytes_per_second: Option<u64>,
    ) -> (Arc<Logger>, std::thread::JoinHandle<u64>) {
        let logger = Arc::new(Logger {
            reopen: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
        });
        let shared = Arc::clone(&logger);
        let thread = std::thread::spawn(move || {
            let mut file = open_append(&path);
            let mut passes = 0;
            let started = Instant::now();
            let mut written = 0u64;
            while !shared.stop.load(Ordering::Acquire) {
                for line in corpus.lines() {
                    if shared.reopen.swap(false, Ordering::AcqRel) {
                        file = open_append(&path);
                    }
                    file.write_all(line).unwrap();
                    written += line.len() as u64;
                    if let Some(rate) = bytes_per_second {
                        let due = started + Duration::from_secs_f64(written as f64 / rate as f64);
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                }
                passes += 1;
                shared
                    .bytes
                    .fetch_add(corpus.bytes.len() as u64, Ordering::Relaxed);
            }
            passes
        });
        (logger, thread)
    }
}

/// logrotate's `copytruncate`: `PATH` is copied to `PATH.1`, then
/// truncated in place (the logger's descriptor stays).
fn copytruncate(path: &Path) {
    std::fs::copy(path, format!("{}.1", path.display())).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

/// A storm's world: a corpus of `PASS_BYTES` from `seed`, an empty
/// `app.log`, and errtally following it.
fn storm(seed: u64, settings: &str, pattern: &str) -> (Fixture, Arc<Corpus>, PathBuf, Daemon) {
    let fixture = Fixture::new();
    let corpus = Arc::new(Corpus::clean(
        fixture.dir.path(),
        seed,
        knob("PASS_BYTES", 256 << 10),
    ));
    let log = fixture.log("app.log");
    append(&log, "");
    let daemon = fixture.start_for(settings, pattern);
    daemon.wait_for(&metric("errtally_files_watched", SOURCE), 1.0);
    (fixture, corpus, log, daemon)
}

/// logrotate's default (`create`, `rotate KEEP`): the oldest goes, each
/// `NAME.i` becomes `NAME.i+1`, `NAME` becomes `NAME.1`, and a new empty
/// `NAME` is created.
fn logrotate(path: &Path, keep: u32) {
    let numbered = |i: u32| PathBuf::from(format!("{}.{i}", path.display()));
    let _ = std::fs::remove_file(numbered(keep));
    for i in (1..keep).rev() {
        let _ = std::fs::rename(numbered(i), numbered(i + 1));
    }
    std::fs::rename(path, numbered(1)).unwrap();
    std::fs::File::create(path).unwrap();
}

/// Rename storm: `ROTATIONS` logrotate rotations, one every `PERIOD_MS`,
/// while a logger appends (at full speed, or at `rate` bytes a second) and
/// reopens after each.
fn rename_storm(mode: &str, settings: &str, pattern: &str, rate: Option<u64>) {
    let rotations = knob("ROTATIONS", 100);
    let period = Duration::from_millis(knob("ROTATION_PERIOD_MS", 100));
    let (_dir, corpus, log, daemon) = storm(7, settings, pattern);

    let (logger, writer) = Logger::spawn(log.clone(), Arc::clone(&corpus), rate);
    let started = Instant::now();
    for rotation in 1..=rotations {
        let due = started + period * u32::try_from(rotation).unwrap();
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        logrotate(&log, 5);
        logger.reopen.store(true, Ordering::Release);
    }
    let storm = started.elapsed();
    logger.stop.store(true, Ordering::Release);
    let passes = writer.join().unwrap();
    let settle = wait_for_tally(&daemon, &times(&corpus.tally, passes), SETTLE);
    let counted_rotations = daemon
        .value(&metric("errtally_rotations_total", SOURCE))
        .unwrap();
    // Polling sees a path change inode once however many times it did
    // between two looks; notifications see each.
    if mode == "auto" {
        assert_eq!(counted_rotations, rotations as f64);
    }
    eprintln!(
        "faults: rename_storm watch={mode} glob={pattern} rate={rate:?} rotations={rotations} rotations_counted={counted_rotations} storm_s={:.2} passes={passes} bytes={} lines={} settled_after_last_write_s={:.2}",
        storm.as_secs_f64(),
        logger.bytes.load(Ordering::Relaxed),
        corpus.tally["lines"].as_u64().unwrap() * passes,
        settle.as_secs_f64(),
    );
}

/// The paced writer of the storms CI runs: 4 MB/s, a busy service's log.
const PACED: Option<u64> = Some(4_000_000);

#[test]
fn rename_storm_counts_every_line_once() {
    rename_storm(MODES[0].0, MODES[0].1, "app.log*", PACED);
}

#[test]
fn rename_storm_counts_every_line_once_when_polling_only() {
    // A file lives 100 ms at `app.log` and 600 ms under matched names,
    // looked at every 250 ms.
    rename_storm(
        MODES[1].0,
        &format!("{}\npoll_interval = \"250ms\"", MODES[1].1),
        "app.log*",
        PACED,
    );
}

#[test]
#[ignore = "finding: with a glob that names only the live file (*.log), a generation created and renamed away before errtally's next rescan is never opened (files are found only by the glob rescan, input.rs scan_paths, which waits behind the poll in progress); in the debug build on a loaded machine 620 of 137,241 lines were lost at 4 MB/s (flaky: passes when the machine is idle; the release build is exact even at full speed)"]
fn rename_storm_counts_every_line_once_when_the_glob_names_only_the_live_file() {
    rename_storm(MODES[0].0, MODES[0].1, "*.log", PACED);
}

#[test]
#[ignore = "finding: as rename_storm_counts_every_line_once_when_the_glob_names_only_the_live_file, at full speed: the debug build lost about a third of the lines (its polls outlast a 100 ms generation); the release build counted 2,468,544 lines exactly (benches/faults.py)"]
fn rename_storm_at_full_speed_counts_every_line_once() {
    rename_storm(MODES[0].0, MODES[0].1, "*.log", None);
}

#[test]
#[ignore = "finding: at full speed the debug build falls behind and generations are deleted (rotate 5) before it opens them: 27% of the lines lost even with the glob app.log*; the release build counted 2,493,660 lines exactly (benches/faults.py)"]
fn rename_storm_at_full_speed_counts_every_line_once_when_the_glob_matches_rotated_names() {
    rename_storm(MODES[0].0, MODES[0].1, "app.log*", None);
}

#[test]
#[ignore = "finding (a bound to document): polling every poll_interval (1 s) cannot see a generation that lives 100 ms at app.log and is renamed out of the glob: 89% of the lines lost (release build, benches/faults.py)"]
fn rename_storm_at_full_speed_counts_every_line_once_when_polling_only() {
    rename_storm(MODES[1].0, MODES[1].1, "*.log", None);
}

/// copytruncate storm: `CT_CYCLES` times, a pass of the corpus (after a
/// line of its own, as a timestamp would make it) is appended, errtally is
/// seen to have counted it all, then the file is copied and truncated.
/// Unless `same_size`, every other pass has one more line, so each refill
/// is shorter or longer than the offset before the truncation.
fn copytruncate_storm(mode: &str, settings: &str, same_size: bool) {
    let cycles = knob("CT_CYCLES", 50);
    let fixture = Fixture::new();
    let corpus = Corpus::clean(fixture.dir.path(), 9, knob("CT_PASS_BYTES", 64 << 10));
    let log = fixture.log("app.log");
    append(&log, "");
    let daemon = fixture.start(settings);
    daemon.wait_for(&metric("errtally_files_watched", SOURCE), 1.0);
    let started = Instant::now();
    let mut expected = empty();
    for cycle in 0..cycles {
        let head = marker(cycle);
        let mut file = open_append(&log);
        file.write_all(head.as_bytes()).unwrap();
        file.write_all(&corpus.bytes).unwrap();
        expected = add_tallies(
            &add_tallies(&expected, &line_tally(&head, None)),
            &corpus.tally,
        );
        if !same_size && cycle % 2 == 1 {
            let extra = "{\"msg\":\"odd cycle\"}\n";
            file.write_all(extra.as_bytes()).unwrap();
            expected = add_tallies(&expected, &line_tally(extra, None));
        }
        drop(file);
        wait_for_tally(&daemon, &expected, SETTLE);
        copytruncate(&log);
    }
    daemon.wait_for(&metric("errtally_rotations_total", SOURCE), cycles as f64);
    wait_for_tally(&daemon, &expected, SETTLE);
    eprintln!(
        "faults: copytruncate_storm watch={mode} same_size={same_size} cycles={cycles} lines={} took_s={:.2}",
        expected["lines"],
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn copytruncate_storm_after_complete_reads_counts_every_line_once() {
    copytruncate_storm(MODES[0].0, MODES[0].1, false);
}

#[test]
fn copytruncate_storm_after_complete_reads_counts_every_line_once_when_polling_only() {
    // Each cycle waits for a poll: a short interval keeps CI quick.
    copytruncate_storm(
        MODES[1].0,
        &format!("{}\npoll_interval = \"200ms\"", MODES[1].1),
        false,
    );
}

#[test]
fn copytruncate_storm_refilled_to_the_same_size_counts_every_line_once() {
    copytruncate_storm(MODES[0].0, MODES[0].1, true);
}

/// A fixture with `files` files `f00000.log`, ... of 1 to 3 lines each (so
/// a file counted twice or skipped shows), and their tally.
fn many_files(files: u64) -> (Fixture, Value) {
    let fixture = Fixture::new();
    let mut expected = empty();
    for f in 0..files {
        let (text, tally) = lines_between(f * 3, f * 3 + 1 + f % 3);
        std::fs::write(fixture.log(&format!("f{f:05}.log")), text).unwrap();
        expected = add_tallies(&expected, &tally);
    }
    (fixture, expected)
}

#[test]
fn two_thousand_files_under_one_glob_are_all_counted() {
    let files = knob("FILES", 2000);
    let (fixture, mut expected) = many_files(files);
    let started = Instant::now();
    let daemon = fixture.start("");
    let at_start = wait_for_tally(&daemon, &expected, SETTLE) + started.elapsed();
    daemon.wait_for(&metric("errtally_files_watched", SOURCE), files as f64);

    // One more line appended to every file, through notifications.
    let appended = Instant::now();
    for f in 0..files {
        let (line, error_type) = nth_line(f);
        append(&fixture.log(&format!("f{f:05}.log")), &line);
        expected = add_tallies(&expected, &line_tally(&line, error_type));
    }
    let after_appends = wait_for_tally(&daemon, &expected, SETTLE) + appended.elapsed();
    eprintln!(
        "faults: many_files files={files} lines={} counted_from_start_s={:.2} one_append_each_counted_s={:.2}",
        expected["lines"],
        at_start.as_secs_f64(),
        after_appends.as_secs_f64()
    );
}

/// Runs the binary under `prlimit --nofile=N:N` (soft and hard, so the
/// daemon cannot raise it).
fn with_nofile(limit: u32) -> Command {
    let mut command = Command::new("prlimit");
    command
        .arg(format!("--nofile={limit}:{limit}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_errtally"));
    command
}

#[test]
fn more_files_than_descriptors_are_all_counted_and_a_restart_counts_none_twice() {
    // 2,000 files under a limit of 512 descriptors: the idle ones are
    // parked (closed, remembered), serving keeps its reserve, and the
    // checkpoint hands every file's offset over, parked or open.
    let files = knob("NOFILE_FILES", 2000);
    let (fixture, expected) = many_files(files);
    let config = fixture.config_for("", "*.log");
    let args = ["--config", config.to_str().unwrap()];
    let started = Instant::now();
    let daemon = Daemon::start_command(with_nofile(512), &args);
    let slowest = wait_for_tally_timing_scrapes(&daemon, &expected, SETTLE);
    let counted_in = started.elapsed();
    assert!(
        slowest < Duration::from_secs(2),
        "a scrape took {slowest:?}"
    );
    let parked = the_idle_files_are_parked_within_the_limit_and_said_once(&daemon, files);
    let (status, _) = daemon.stop();
    assert!(status.success());
    let slowest_after =
        a_restart_reads_nothing_again_and_counts_appends_once(&fixture, &args, files);
    eprintln!(
        "faults: nofile files={files} limit=512 counted_s={:.2} slowest_scrape_s={:.3} parked={parked}",
        counted_in.as_secs_f64(),
        slowest.max(slowest_after).as_secs_f64()
    );
}

/// The files `daemon` has open and parked, by its gauges (published at
/// most every 200 ms after event reads).
fn open_and_parked(daemon: &Daemon) -> (f64, f64) {
    let text = daemon.metrics();
    let value = |name| value_in(&text, &metric(name, SOURCE)).unwrap_or(0.0);
    (
        value("errtally_files_watched"),
        value("errtally_files_parked"),
    )
}

/// Every file is open or parked, fewer than 512 open, the shortage logged
/// once and no open failed; returns the files parked.
fn the_idle_files_are_parked_within_the_limit_and_said_once(daemon: &Daemon, files: u64) -> f64 {
    daemon.wait_until("every file open or parked", || {
        let (open, parked) = open_and_parked(daemon);
        open + parked == files as f64
    });
    let (open, parked) = open_and_parked(daemon);
    assert!(open < 512.0, "{open} files open under a limit of 512");
    assert_eq!(
        daemon
            .log()
            .matches("more log files than descriptors allow")
            .count(),
        1,
        "logged once"
    );
    assert!(!daemon.log().contains("cannot open file"), "no open failed");
    parked
}

/// Restarted under the same limit: nothing is read again; appends to
/// parked and open files alike (every 97th file) are counted once, also
/// once every file has been looked at again. Returns the slowest scrape.
fn a_restart_reads_nothing_again_and_counts_appends_once(
    fixture: &Fixture,
    args: &[&str],
    files: u64,
) -> Duration {
    let daemon = Daemon::start_command(with_nofile(512), args);
    let mut after = empty();
    for f in (0..files).step_by(97) {
        let (line, error_type) = nth_line(f);
        append(&fixture.log(&format!("f{f:05}.log")), &line);
        after = add_tallies(&after, &line_tally(&line, error_type));
    }
    let slowest_after = wait_for_tally_timing_scrapes(&daemon, &after, SETTLE);
    assert!(
        slowest_after < Duration::from_secs(2),
        "a scrape took {slowest_after:?}"
    );
    daemon.wait_until("every file open or parked", || {
        let (open, parked) = open_and_parked(&daemon);
        open + parked == files as f64
    });
    let _ = wait_for_tally_timing_scrapes(&daemon, &after, SETTLE);
    slowest_after
}

#[test]
fn an_unreadable_file_is_a_read_error_and_is_read_in_full_once_readable() {
    // CI runs as root, which reads any file: run the daemon as nobody.
    let dir = tempfile::tempdir().unwrap();
    let chmod = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let command = as_nobody(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let readable = logs.join("readable.log");
    let locked = logs.join("locked.log");
    let (first, first_tally) = lines_between(0, 4);
    let (hidden, hidden_tally) = lines_between(4, 11);
    std::fs::write(&readable, &first).unwrap();
    std::fs::write(&locked, &hidden).unwrap();
    chmod(&readable, 0o644);
    chmod(&locked, 0o600);

    let glob = format!("{}/*.log", logs.display());
    let daemon = Daemon::start_command(command, &["--start-at", "beginning", &glob]);
    let read_errors = metric("errtally_read_errors_total", "default");
    // Retried at every poll, logged once.
    daemon.wait_until("two failed attempts", || {
        daemon.value(&read_errors).is_some_and(|n| n >= 2.0)
    });
    assert_eq!(
        daemon.log().matches("cannot open file").count(),
        1,
        "{}",
        daemon.log()
    );
    let lines = metric("errtally_lines_total", "default");
    daemon.wait_for(&lines, 4.0);
    // Still serving and counting.
    assert_eq!(daemon.get("/-/healthy").0, 200);
    let (more, more_tally) = lines_between(11, 14);
    append(&readable, &more);
    daemon.wait_for(&lines, 7.0);

    chmod(&locked, 0o644);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 2.0);
    let all = add_tallies(&add_tallies(&first_tally, &hidden_tally), &more_tally);
    daemon.wait_for(&lines, all["lines"].as_f64().unwrap());
    let text = daemon.metrics();
    for error_type in TYPES {
        assert_eq!(
            value_in(&text, &errors("default", error_type)),
            all["errors"]
                .get(error_type)
                .and_then(Value::as_f64)
                .or(Some(0.0)),
            "{error_type}"
        );
    }
    eprintln!(
        "faults: unreadable read_errors={} lines={}",
        value_in(&text, &read_errors).unwrap(),
        all["lines"]
    );
}

#[test]
fn a_directory_that_cannot_be_listed_keeps_its_files_and_reads_nothing_twice() {
    // Its read bit gone, the directory cannot be listed, but its files can
    // still be opened by path: the failed listings say nothing about which
    // files exist, so none is closed, reopened or read again from 0.
    let dir = tempfile::tempdir().unwrap();
    let command = as_nobody(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("a.log");
    let (first, first_tally) = lines_between(0, 2);
    std::fs::write(&log, &first).unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "watch = \"poll\"\npoll_interval = \"100ms\"\n[[input]]\nname = \"{SOURCE}\"\npaths = [\"{}/*.log\"]\nstart_at = \"beginning\"\n",
            logs.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start_command(command, &["--config", config.to_str().unwrap()]);
    let lines = metric("errtally_lines_total", SOURCE);
    daemon.wait_for(&lines, 2.0);

    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o311)).unwrap();
    let read_errors = metric("errtally_read_errors_total", SOURCE);
    // 60 failed listings at 100 ms: longer than the 5 s a file no listing
    // shows is drained before it is closed.
    daemon.wait_until("60 failed listings", || {
        daemon.value(&read_errors).is_some_and(|n| n >= 60.0)
    });
    let (more, more_tally) = lines_between(2, 5);
    append(&log, &more);
    daemon.wait_for(&lines, 5.0);
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Only a listing that succeeds finds a new file; a.log, had it been
    // closed meanwhile, would be reopened by that same listing.
    let (last, last_tally) = lines_between(5, 6);
    std::fs::write(logs.join("b.log"), &last).unwrap();
    daemon.wait_for(&metric("errtally_files_watched", SOURCE), 2.0);
    daemon.wait_until("b.log counted", || {
        daemon.value(&lines).is_some_and(|n| n >= 6.0)
    });
    let rescans = metric("errtally_rotations_total", SOURCE);
    let all = add_tallies(&add_tallies(&first_tally, &more_tally), &last_tally);
    let text = daemon.metrics();
    assert_eq!(value_in(&text, &lines), all["lines"].as_f64(), "{text}");
    assert_eq!(value_in(&text, &rescans), Some(0.0), "{text}");
    assert_eq!(
        daemon.log().matches("cannot list directory").count(),
        1,
        "logged once: {}",
        daemon.log()
    );
    assert!(
        !daemon.log().contains("no longer matched"),
        "{}",
        daemon.log()
    );
}

/// The uid and gid of `nobody`, which the tests below run the daemon as.
const NOBODY: u32 = 65534;

#[test]
fn an_unwritable_state_dir_leaves_counting_alone_and_saving_resumes_once_writable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // Root's, 0755: nobody can enter it but not write in it.
    std::fs::create_dir(&state).unwrap();
    let start = |args: &[&str]| Daemon::start_command(as_nobody(dir.path()), args);
    let fix = || std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOBODY)).unwrap();
    saving_fails_then_resumes(dir.path(), &state, &start, &fix);
}

#[test]
fn a_full_state_filesystem_leaves_counting_alone_and_saving_resumes_once_freed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let _mount = Tmpfs::mount(&state, "64k");
    // Fill it: every save then fails with ENOSPC.
    let filler = state.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    while file.write_all(&[0; 4096]).is_ok() {}
    drop(file);
    let start = |args: &[&str]| Daemon::start(args);
    let fix = || std::fs::remove_file(&filler).unwrap();
    saving_fails_then_resumes(dir.path(), &state, &start, &fix);
}

/// A small tmpfs mounted on a directory for one test (CI runs as root,
/// with the privileges the container tests need too), unmounted on drop,
/// even when the test fails.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The checkpoint scenario of both tests above: errtally follows a log in
/// `dir/logs` with its state in `state`, where saving fails until `fix`.
/// Counting goes on, the failures are counted and logged once, saving
/// resumes after `fix`, and a restart resumes from that save.
fn saving_fails_then_resumes(
    dir: &Path,
    state: &Path,
    start: &dyn Fn(&[&str]) -> Daemon,
    fix: &dyn Fn(),
) {
    let (log, config) = a_log_of_20_lines_and_a_config_saving_every_200ms(dir, state);
    let args = ["--config", config.to_str().unwrap()];
    let daemon = start(&args);
    counting_goes_on_while_saving_fails_which_is_logged_once(&daemon, &log);
    fix();
    saving_resumes_once_possible_and_a_stop_saves_the_whole_file(daemon, state, &log);
    a_restart_resumes_from_the_save_counting_only_new_lines(start, &args, &log);
}

/// `dir/logs/app.log` with [`lines_between`] 0 and 20, and a config that
/// follows it with its state in `state`, saved every 200 ms.
fn a_log_of_20_lines_and_a_config_saving_every_200ms(
    dir: &Path,
    state: &Path,
) -> (PathBuf, PathBuf) {
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("app.log");
    std::fs::write(&log, lines_between(0, 20).0).unwrap();
    let config = dir.join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\ncheckpoint_interval = \"200ms\"\n[[input]]\nname = \"{SOURCE}\"\npaths = [\"{}/*.log\"]\nstart_at = \"beginning\"\n",
            state.display(),
            logs.display()
        ),
    )
    .unwrap();
    (log, config)
}

/// The first 20 lines are counted, saves fail (counted), 10 more lines
/// are counted meanwhile, and the failure is logged once.
fn counting_goes_on_while_saving_fails_which_is_logged_once(daemon: &Daemon, log: &Path) {
    let (_, first_tally) = lines_between(0, 20);
    let lines = metric("errtally_lines_total", SOURCE);
    daemon.wait_for(&lines, first_tally["lines"].as_f64().unwrap());
    let failures = "errtally_checkpoint_errors_total";
    daemon.wait_until("two failed saves", || {
        daemon.value(failures).is_some_and(|n| n >= 2.0)
    });
    let (second, second_tally) = lines_between(20, 30);
    append(log, &second);
    let both = add_tallies(&first_tally, &second_tally);
    daemon.wait_for(&lines, both["lines"].as_f64().unwrap());
    assert_eq!(
        daemon.log().matches("cannot write the checkpoint").count(),
        1,
        "logged once: {}",
        daemon.log()
    );
    assert_eq!(
        daemon.value("errtally_checkpoint_last_success_timestamp_seconds"),
        Some(0.0)
    );
}

fn saving_resumes_once_possible_and_a_stop_saves_the_whole_file(
    daemon: Daemon,
    state: &Path,
    log: &Path,
) {
    daemon.wait_until("a save once possible", || {
        daemon
            .value("errtally_checkpoint_last_success_timestamp_seconds")
            .is_some_and(|t| t > 0.0)
    });
    assert!(
        daemon.log().contains("checkpoint saved again"),
        "{}",
        daemon.log()
    );
    let (status, _, _) = daemon.stop_with_log();
    assert!(status.success());
    let saved: Value =
        serde_json::from_slice(&std::fs::read(state.join("checkpoint.json")).unwrap()).unwrap();
    let offsets: Vec<u64> = saved["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [std::fs::metadata(log).unwrap().len()]);
}

fn a_restart_resumes_from_the_save_counting_only_new_lines(
    start: &dyn Fn(&[&str]) -> Daemon,
    args: &[&str],
    log: &Path,
) {
    let (third, third_tally) = lines_between(30, 35);
    append(log, &third);
    let daemon = start(args);
    let lines = metric("errtally_lines_total", SOURCE);
    daemon.wait_for(&lines, third_tally["lines"].as_f64().unwrap());
    let text = daemon.metrics();
    for error_type in TYPES {
        assert_eq!(
            value_in(&text, &errors(SOURCE, error_type)),
            third_tally["errors"]
                .get(error_type)
                .and_then(Value::as_f64)
                .or(Some(0.0)),
            "{error_type}"
        );
    }
}

/// Creates `path` holding `text`, trying to give it the inode `ino` (freed
/// just before): new files are made beside it until one gets that inode
/// (ext4 and tmpfs hand a freed inode out again soon). Returns whether one
/// did.
fn create_reusing_inode(path: &Path, ino: u64, text: &str) -> bool {
    let dir = path.parent().unwrap();
    let mut spares = Vec::new();
    let mut reused = false;
    for i in 0..64 {
        let candidate = dir.join(format!("candidate-{i}.tmp"));
        std::fs::write(&candidate, text).unwrap();
        if std::fs::metadata(&candidate).unwrap().ino() == ino {
            std::fs::rename(&candidate, path).unwrap();
            reused = true;
            break;
        }
        spares.push(candidate);
    }
    if !reused {
        std::fs::rename(spares.pop().unwrap(), path).unwrap();
    }
    for spare in spares {
        std::fs::remove_file(spare).unwrap();
    }
    reused
}

/// errtally stops with a checkpoint of `app.log`; the file is deleted and
/// a new one, with another first line and `new_lines` lines, takes its
/// name (and if the file system allows, its inode). The new file is read
/// from its first byte, whatever its size against the old offset.
fn inode_reuse_with_a_stale_checkpoint(case: &str, new_lines: u64) {
    let fixture = Fixture::new();
    let log = fixture.log("app.log");
    let (old, old_tally) = lines_between(0, 20);
    std::fs::write(&log, format!("{}{old}", marker(0))).unwrap();
    let settings = "checkpoint_interval = \"100ms\"";
    let first = fixture.start(settings);
    wait_for_tally(
        &first,
        &add_tallies(&line_tally(&marker(0), None), &old_tally),
        SETTLE,
    );
    let (status, _) = first.stop();
    assert!(status.success(), "{status:?}");
    let old_meta = std::fs::metadata(&log).unwrap();
    std::fs::remove_file(&log).unwrap();

    let (new, new_tally) = lines_between(100, 100 + new_lines);
    let text = format!("{}{new}", marker(1));
    let reused = create_reusing_inode(&log, old_meta.ino(), &text);
    let new_size = text.len() as u64;
    match case {
        "shorter" => assert!(new_size < old_meta.len()),
        _ => assert!(new_size > old_meta.len()),
    }
    let second = fixture.start(settings);
    wait_for_tally(
        &second,
        &add_tallies(&line_tally(&marker(1), None), &new_tally),
        SETTLE,
    );
    eprintln!(
        "faults: inode_reuse case={case} old_offset={} new_size={new_size} inode_reused={reused}",
        old_meta.len()
    );
}

#[test]
fn a_new_file_shorter_than_a_stale_checkpoint_offset_is_read_from_0() {
    inode_reuse_with_a_stale_checkpoint("shorter", 3);
}

#[test]
fn a_new_file_longer_than_a_stale_checkpoint_offset_is_read_from_0() {
    inode_reuse_with_a_stale_checkpoint("longer", 40);
}

/// Scrapes `/metrics` back to back until `until`; returns the failures
/// (status or error, and a missing family). How long scrapes take is
/// `benches/catch_up_scrapes.py`'s to measure, on a release build.
fn scrape_until(address: std::net::SocketAddr, until: Instant) -> Vec<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let url = format!("http://{address}/metrics");
    let mut failures = Vec::new();
    while Instant::now() < until {
        match agent.get(&url).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let body = response.body_mut().read_to_string().unwrap_or_default();
                if status != 200 || !body.contains("errtally_lines_total{") {
                    failures.push(format!("status {status}, {} bytes", body.len()));
                }
            }
            Err(error) => failures.push(error.to_string()),
        }
    }
    failures
}

#[test]
fn concurrent_scrapes_during_a_catch_up_all_succeed() {
    let mib = knob("SCRAPE_MIB", 128);
    let clients = knob("SCRAPE_CLIENTS", 50);
    let seconds = knob("SCRAPE_SECONDS", 3);
    let fixture = Fixture::new();
    let (_, tally) = corpus(&fixture.logs, "big.log", 5, mib << 20, &["--clean"]);

    let daemon = fixture.start("");
    let until = Instant::now() + Duration::from_secs(seconds);
    let crowd: Vec<_> = (0..clients)
        .map(|_| {
            let address = daemon.address;
            std::thread::spawn(move || scrape_until(address, until))
        })
        .collect();
    let failures: Vec<String> = crowd
        .into_iter()
        .flat_map(|client| client.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} scrapes of {clients} clients failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    // The crowd did not cost a line, and the daemon still stops cleanly.
    wait_for_tally(&daemon, &tally, SETTLE);
    let (status, _) = daemon.stop();
    assert!(status.success());
}

#[test]
#[ignore = "a measurement, not a check: benches/faults.py runs it and reports the loss"]
fn copytruncate_storm_without_waiting_loses_lines_written_between_read_and_truncate() {
    let cycles = knob("CT_CYCLES", 50);
    let period = Duration::from_millis(knob("CT_PERIOD_MS", 100));
    let (_dir, corpus, log, daemon) = storm(9, "", "*.log");
    // copytruncate leaves the logger's descriptor alone: it never reopens.
    let (logger, writer) = Logger::spawn(log.clone(), Arc::clone(&corpus), None);
    let started = Instant::now();
    for cycle in 1..=cycles {
        let due = started + period * u32::try_from(cycle).unwrap();
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        copytruncate(&log);
    }
    logger.stop.store(true, Ordering::Release);
    let passes = writer.join().unwrap();
    // Settled: nothing moves for two poll intervals.
    let mut last = String::new();
    let mut still_since = Instant::now();
    while still_since.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(100));
        let text = daemon.metrics();
        let now: String = text
            .lines()
            .filter(|l| {
                l.starts_with("errtally_lines_total") || l.starts_with("errtally_bytes_total")
            })
            .collect();
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
    let truth = times(&corpus.tally, passes);
    let text = daemon.metrics();
    let differ = differences(&text, &expected_series(&truth));
    let lines = value_in(&text, &metric("errtally_lines_total", SOURCE)).unwrap();
    let written = truth["lines"].as_f64().unwrap();
    let over = differ
        .iter()
        .filter(|(_, got, want)| got.is_some_and(|got| got > *want))
        .count();
    eprintln!(
        "faults: copytruncate_no_wait cycles={cycles} period_ms={} lines_written={written} lines_counted={lines} lost={} lost_percent={:.3} series_over={over} series_short={}",
        period.as_millis(),
        written - lines,
        (written - lines) / written * 100.0,
        differ.len() - over,
    );
}
