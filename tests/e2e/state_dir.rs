//! A hostile state directory (issue 19, item 8): the real `errtally run`
//! with `state_dir` where something other than a checkpoint waits at the
//! names it uses. A symlinked temp name must not be written through; a
//! FIFO, a symlink to `/dev/zero` or a file over the 64 MiB cap at
//! `checkpoint.json` is moved aside unread and errtally starts fresh,
//! without blocking; a checkpoint it may not read still stops the start.
//! Counts are compared with the lines each test wrote.

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon_support::{Daemon, append, as_nobody, error_line, errors, metric};

/// The input every test follows.
const SOURCE: &str = "api";

/// A temp directory with `state/`, `logs/app.log` holding [`LINES`], and a
/// config following `logs/*.log` from the beginning with its state in
/// `state/`.
struct Fixture {
    dir: tempfile::TempDir,
    state: PathBuf,
    log: PathBuf,
    config: PathBuf,
}

/// What `logs/app.log` holds: (error type, lines of it).
const LINES: [(&str, u64); 2] = [("email_not_found", 3), ("member_not_found", 2)];

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let log = logs.join("app.log");
        for (error_type, n) in LINES {
            append(&log, &error_line(error_type).repeat(n as usize));
        }
        let config = dir.path().join("errtally.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\ncheckpoint_interval = \"200ms\"\n[[input]]\nname = \"{SOURCE}\"\npaths = [\"{}/*.log\"]\nstart_at = \"beginning\"\n",
                state.display(),
                logs.display()
            ),
        )
        .unwrap();
        Fixture {
            dir,
            state,
            log,
            config,
        }
    }

    fn args(&self) -> [&str; 2] {
        ["--config", self.config.to_str().unwrap()]
    }

    fn checkpoint(&self) -> PathBuf {
        self.state.join("checkpoint.json")
    }

    /// Waits until every line of the log is counted, exactly.
    fn wait_counted(&self, daemon: &Daemon) {
        let total: u64 = LINES.iter().map(|(_, n)| n).sum();
        daemon.wait_for(&metric("errtally_lines_total", SOURCE), total as f64);
        for (error_type, n) in LINES {
            daemon.wait_for(&errors(SOURCE, error_type), n as f64);
        }
    }

    /// The log's length: the offset a checkpoint of it holds once all of
    /// it is counted.
    fn log_len(&self) -> u64 {
        std::fs::metadata(&self.log).unwrap().len()
    }

    /// The offsets `checkpoint.json` holds, after checking it is a regular
    /// file (not a symlink to somewhere else).
    fn saved_offsets(&self) -> Vec<u64> {
        let checkpoint = self.checkpoint();
        assert!(
            std::fs::symlink_metadata(&checkpoint).unwrap().is_file(),
            "checkpoint.json is not a regular file"
        );
        let saved: Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
        saved["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|file| file["offset"].as_u64().unwrap())
            .collect()
    }

    /// The entries moved aside as `checkpoint.json.corrupt-*`.
    fn moved_aside(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.state)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("checkpoint.json.corrupt-")
            })
            .collect()
    }
}

#[test]
fn a_temp_name_symlinked_out_of_the_state_dir_leaves_its_target_untouched() {
    let fixture = Fixture::new();
    let outside = fixture.dir.path().join("outside.txt");
    std::fs::write(&outside, "not errtally's\n").unwrap();
    let link = fixture.state.join("checkpoint.json.tmp");
    std::os::unix::fs::symlink(&outside, &link).unwrap();

    let daemon = Daemon::start(&fixture.args());
    fixture.wait_counted(&daemon);
    let offset = fixture.log_len();
    daemon.wait_until("a save of the whole log", || {
        std::fs::read_to_string(fixture.checkpoint())
            .is_ok_and(|text| text.contains(&format!("\"offset\": {offset}")))
    });
    let (status, _) = daemon.stop();
    assert!(status.success());

    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "not errtally's\n"
    );
    assert_eq!(std::fs::read_link(&link).unwrap(), outside);
    assert_eq!(fixture.saved_offsets(), [offset]);

    // The restart resumes from that save: only the new line counts.
    append(&fixture.log, &error_line("email_not_found"));
    let daemon = Daemon::start(&fixture.args());
    daemon.wait_for(&metric("errtally_lines_total", SOURCE), 1.0);
    daemon.wait_for(&errors(SOURCE, "email_not_found"), 1.0);
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "not errtally's\n"
    );
}

/// `make` puts something at `checkpoint.json` that must not be read: the
/// daemon is ready within 5 s, warns with a reason containing
/// `reason_part`, moves that entry aside (the entry itself, checked by
/// `is_kind`), counts the log exactly from the beginning, exits within 3 s
/// of SIGTERM and leaves a regular checkpoint of the whole log.
fn untrusted_checkpoint_is_moved_aside(
    make: impl FnOnce(&Path),
    reason_part: &str,
    is_kind: impl Fn(&Metadata) -> bool,
) {
    let fixture = Fixture::new();
    make(&fixture.checkpoint());

    let started = Instant::now();
    let daemon = Daemon::start(&fixture.args());
    let ready_after = started.elapsed();
    assert!(
        ready_after < Duration::from_secs(5),
        "ready after {ready_after:?}"
    );
    fixture.wait_counted(&daemon);
    let log = daemon.log();
    assert!(
        log.contains("starting without the checkpoint") && log.contains(reason_part),
        "{log}"
    );
    let moved = fixture.moved_aside();
    assert_eq!(moved.len(), 1, "{moved:?}");
    let kind = std::fs::symlink_metadata(&moved[0]).unwrap();
    assert!(is_kind(&kind), "{:?} is a {:?}", moved[0], kind.file_type());

    let (status, took) = daemon.stop();
    assert!(status.success());
    assert!(took < Duration::from_secs(3), "stopped after {took:?}");
    assert_eq!(fixture.saved_offsets(), [fixture.log_len()]);
    eprintln!(
        "state_dir: {reason_part}: ready_s={:.2} stopped_s={:.2}",
        ready_after.as_secs_f64(),
        took.as_secs_f64()
    );
}

#[test]
fn a_fifo_as_checkpoint_is_moved_aside_and_start_does_not_block() {
    untrusted_checkpoint_is_moved_aside(
        |path| {
            let status = Command::new("mkfifo").arg(path).status().unwrap();
            assert!(status.success());
        },
        "not a regular file: a fifo",
        |kind| kind.file_type().is_fifo(),
    );
}

#[test]
fn a_checkpoint_symlinked_to_dev_zero_is_moved_aside_unread() {
    untrusted_checkpoint_is_moved_aside(
        |path| std::os::unix::fs::symlink("/dev/zero", path).unwrap(),
        "not a regular file: a symlink to /dev/zero",
        |kind| kind.file_type().is_symlink(),
    );
}

#[test]
fn a_checkpoint_over_the_size_cap_is_moved_aside_unread() {
    const SIZE: u64 = 65 << 20;
    untrusted_checkpoint_is_moved_aside(
        // Sparse: 65 MiB of zeros that take no disk space.
        |path| std::fs::File::create(path).unwrap().set_len(SIZE).unwrap(),
        "over the 64 MiB cap",
        |kind| kind.is_file() && kind.len() == SIZE,
    );
}

#[test]
fn a_checkpoint_the_daemon_may_not_read_stops_the_start_and_is_left_alone() {
    let fixture = Fixture::new();
    let checkpoint = fixture.checkpoint();
    std::fs::write(&checkpoint, "{\"version\": 1, \"files\": []}\n").unwrap();
    // Root's and 0600 in a directory anyone may enter: nobody gets EACCES.
    std::fs::set_permissions(&checkpoint, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&fixture.state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        fixture.log.parent().unwrap(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(&fixture.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = as_nobody(fixture.dir.path())
        .args(["run", "--web.listen-address", "127.0.0.1:0"])
        .args(fixture.args())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}: checkpoint i/o failed", checkpoint.display())),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&checkpoint).unwrap(),
        b"{\"version\": 1, \"files\": []}\n"
    );
    assert!(fixture.moved_aside().is_empty());
}
