//! Truncation seen whatever the writer does next (issue 19, item 4): the
//! real `logrotate` with `copytruncate`, `compress` and `delaycompress` on a
//! log whose writer keeps one `O_APPEND` descriptor and writes a burst of
//! 500 lines the moment each rotation is done, so the file has grown past
//! errtally's old offset before errtally looks at it again.
//!
//! Every line starts with the same 80 bytes and differs only near its end
//! (the type and a sequence number where a logger like winston puts the
//! time), so the head fingerprint cannot tell the refilled file from the
//! old one: only the bytes before the offset can. Each count is compared
//! with what the test wrote.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::daemon_support::{Daemon, TYPES, errors, metric, value_in};

/// The input the tests follow.
const SOURCE: &str = "t";

/// How long counting may take to settle after a write.
const SETTLE: Duration = Duration::from_secs(20);

/// Rounds of write, rotate, burst, rotate.
const ROUNDS: u64 = 5;

/// Lines written before each rotation.
const BEFORE: u64 = 20;

/// Lines the writer writes at once after each rotation.
const BURST: u64 = 500;

/// Line `n`: the same first 80 bytes as every other, then a status, a
/// type and `n` as the time, last.
fn line(n: u64) -> (String, Option<&'static str>) {
    let prefix = "{\"level\":\"info\",\"message\":\"GET /health 200\",\"service\":\"api-gateway\",\"host\":\"web-1\",";
    let time = format!("\"timestamp\":\"2026-12-05T20:00:00.{n:06}Z\"}}\n");
    if n % 5 == 4 {
        (format!("{prefix}\"status_code\":200,{time}"), None)
    } else {
        let error_type = TYPES[(n % 5) as usize];
        (
            format!("{prefix}\"status_code\":404,\"error_type\":\"{error_type}\",{time}"),
            Some(error_type),
        )
    }
}

/// What the lines written so far must have counted.
#[derive(Default)]
struct Truth {
    lines: u64,
    by_type: [u64; TYPES.len()],
}

impl Truth {
    /// Lines `from..to` as one buffer (one `write(2)`, as a logger's
    /// buffered flush), counted into the truth.
    fn lines(&mut self, from: u64, to: u64) -> String {
        let mut text = String::new();
        for n in from..to {
            let (line, error_type) = line(n);
            if let Some(error_type) = error_type {
                let index = TYPES.iter().position(|t| *t == error_type).unwrap();
                self.by_type[index] += 1;
            }
            text.push_str(&line);
        }
        self.lines += to - from;
        text
    }

    /// Waits until the lines and every type's count are exact. A series
    /// above its truth fails at once (a line counted twice), one still
    /// short after [`SETTLE`] fails as a lost line.
    fn wait_for(&self, daemon: &Daemon) {
        let mut want = vec![(metric("errtally_lines_total", SOURCE), self.lines)];
        for (error_type, count) in TYPES.iter().zip(self.by_type) {
            want.push((errors(SOURCE, error_type), count));
        }
        let started = Instant::now();
        loop {
            let text = daemon.metrics();
            let differ: Vec<_> = want
                .iter()
                .map(|(series, want)| (series, value_in(&text, series), *want as f64))
                .filter(|(_, got, want)| *got != Some(*want))
                .collect();
            if differ.is_empty() {
                return;
            }
            assert!(
                differ
                    .iter()
                    .all(|(_, got, want)| got.is_none_or(|got| got < *want)),
                "counted more than written (series, scraped, written): {differ:?}\nlog:\n{}",
                daemon.log()
            );
            assert!(
                started.elapsed() < SETTLE,
                "still short after {SETTLE:?} (series, scraped, written): {differ:?}\nlog:\n{}",
                daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A log directory with `app.log` and a logrotate config for it; the
/// daemon follows `app.log` only (not its rotated copies).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        std::fs::write(
            dir.path().join("logrotate.conf"),
            format!(
                "{} {{\n    copytruncate\n    compress\n    delaycompress\n    rotate 5\n    missingok\n}}\n",
                dir.path().join("logs/app.log").display()
            ),
        )
        .unwrap();
        Fixture { dir }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("logs/app.log")
    }

    fn start(&self, settings: &str) -> Daemon {
        let config = self.dir.path().join("errtally.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\n{settings}\n[[input]]\nname = \"{SOURCE}\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
                self.dir.path().join("state").display(),
                self.log().display()
            ),
        )
        .unwrap();
        Daemon::start(&["--config", config.to_str().unwrap()])
    }

    /// One forced run of the real `logrotate`, with a state file of its own.
    fn rotate(&self) {
        let output = Command::new("logrotate")
            .arg("-s")
            .arg(self.dir.path().join("logrotate.state"))
            .arg("-f")
            .arg(self.dir.path().join("logrotate.conf"))
            .output()
            .expect("logrotate (Debian package logrotate) runs");
        assert!(
            output.status.success(),
            "logrotate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The rotated copies logrotate left: `app.log.1`, then compressed ones.
    fn rotated(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path().join("logs"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != "app.log")
            .collect();
        names.sort();
        names
    }
}

fn open_append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// [`ROUNDS`] times: [`BEFORE`] lines, seen counted; a rotation; at once
/// a burst of [`BURST`] lines through the same descriptor (longer than
/// the file was, so its size never shows the truncation), seen counted;
/// a rotation with the writer quiet, so that the next round's rotation
/// again meets a file shorter than its burst.
fn copytruncate_then_burst(settings: &str) {
    let fixture = Fixture::new();
    let mut writer = open_append(&fixture.log());
    let daemon = fixture.start(settings);
    daemon.wait_for(&metric("errtally_files_watched", SOURCE), 1.0);
    let mut truth = Truth::default();
    let mut next = 0;
    for _ in 0..ROUNDS {
        let before = truth.lines(next, next + BEFORE);
        next += BEFORE;
        writer.write_all(before.as_bytes()).unwrap();
        // Lines truncated away before errtally read them would be lost
        // (copytruncate's own race): this test is about what comes after.
        truth.wait_for(&daemon);

        let burst = truth.lines(next, next + BURST);
        next += BURST;
        fixture.rotate();
        writer.write_all(burst.as_bytes()).unwrap();
        truth.wait_for(&daemon);

        fixture.rotate();
    }
    // Each rotation is counted once, the quiet ones as the busy ones.
    daemon.wait_for(
        &metric("errtally_rotations_total", SOURCE),
        (2 * ROUNDS) as f64,
    );
    truth.wait_for(&daemon);
    let log = daemon.log();
    let restarts = log
        .lines()
        .filter(|line| line.contains("file truncated") || line.contains("file rewritten"))
        .count();
    assert_eq!(restarts as u64, 2 * ROUNDS, "log:\n{log}");
    assert_eq!(
        fixture.rotated(),
        [
            "app.log.1",
            "app.log.2.gz",
            "app.log.3.gz",
            "app.log.4.gz",
            "app.log.5.gz"
        ],
        "logrotate kept what its config says"
    );
}

#[test]
fn a_copytruncate_followed_at_once_by_a_burst_past_the_offset_is_read_from_the_start() {
    copytruncate_then_burst("watch = \"auto\"");
}

#[test]
fn a_copytruncate_followed_at_once_by_a_burst_past_the_offset_is_read_from_the_start_when_polling()
{
    // Each wait waits for a poll: a short interval keeps CI quick. This
    // one passed before the bytes before the offset were checked on every
    // read too: a poll's `fstat` saw the modification time move, which
    // rechecked them. Event reads look at no modification time.
    copytruncate_then_burst("watch = \"poll\"\npoll_interval = \"200ms\"");
}
