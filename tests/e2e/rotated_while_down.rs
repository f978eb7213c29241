//! A rotation compressed while errtally was down (issue 19, item 5): the
//! real `logrotate` with `compress` and without `delaycompress` turns
//! `app.log` into an archive (a new inode) and deletes it, and creates a
//! new `app.log`. The lines written between the stop and the rotation are
//! counted once at the restart, from the archive, and never again.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::daemon_support::{Daemon, append, error_line, errors, metric};

/// The catalogued types the test writes, in the order it writes them.
const BEFORE: &str = "email_not_found";
const WHILE_DOWN: &str = "member_not_found";
const WHILE_DOWN_TOO: &str = "session_not_found";
const AFTER: &str = "oauth_token_not_found";
const LATER: &str = "organization_not_found";

/// A log directory, a state directory and a config following `app.log`.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    logs: PathBuf,
    config: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let logs = root.join("logs");
        std::fs::create_dir(&logs).unwrap();
        let config = root.join("errtally.toml");
        std::fs::write(
            &config,
            format!(
                "state_dir = \"{}\"\n[[input]]\nname = \"api\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
                root.join("state").display(),
                logs.join("app.log").display()
            ),
        )
        .unwrap();
        Self {
            _dir: dir,
            root,
            logs,
            config,
        }
    }

    fn log(&self) -> PathBuf {
        self.logs.join("app.log")
    }

    fn start(&self) -> Daemon {
        Daemon::start(&["--config", self.config.to_str().unwrap()])
    }

    /// Runs the real logrotate, forced, with `directives` for `app.log`.
    fn logrotate(&self, directives: &str) {
        self.logrotate_files(&self.log().display().to_string(), directives);
    }

    /// Runs the real logrotate, forced, with `directives` for the files
    /// `target` names (a path or a glob).
    fn logrotate_files(&self, target: &str, directives: &str) {
        let conf = self.root.join("logrotate.conf");
        std::fs::write(
            &conf,
            format!("{target} {{\n    rotate 5\n    create\n{directives}}}\n"),
        )
        .unwrap();
        let output = Command::new(logrotate())
            .arg("-s")
            .arg(self.root.join("logrotate.status"))
            .arg("-f")
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "logrotate failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The one file in the log directory whose name ends with `suffix`.
    fn archive(&self, suffix: &str) -> PathBuf {
        let names: Vec<PathBuf> = std::fs::read_dir(&self.logs)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        let archives: Vec<&PathBuf> = names
            .iter()
            .filter(|path| path.to_string_lossy().ends_with(suffix))
            .collect();
        assert_eq!(archives.len(), 1, "{names:?}");
        archives[0].clone()
    }
}

/// Debian installs it in /usr/sbin, which a user's PATH may lack.
fn logrotate() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("logrotate"))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| PathBuf::from("/usr/sbin/logrotate"))
}

/// `count` lines, every third one an info line, the others `error_type`:
/// returns how many errors that is.
fn write_lines(path: &Path, error_type: &str, count: usize) -> u64 {
    let mut text = String::new();
    let mut errors = 0;
    for n in 0..count {
        if n % 3 == 2 {
            text.push_str(&format!(
                "{{\"ts\":\"2026-12-05T01:02:03Z\",\"level\":\"info\",\"msg\":\"ok\",\"n\":{n}}}\n"
            ));
        } else {
            text.push_str(&error_line(error_type));
            errors += 1;
        }
    }
    append(path, &text);
    errors
}

fn lines_total() -> String {
    metric("errtally_lines_total", "api")
}

/// Starts, counts 120 lines, stops (SIGTERM); 50 lines are appended while
/// errtally is down, `rotate` runs, 3 lines go to the new `app.log`; the
/// restart must count exactly the 53, and one restart more none of them
/// again. Returns the first restart's log.
fn rotated_while_down_is_counted_once(rotate: impl FnOnce(&Fixture) -> PathBuf) -> String {
    let fixture = Fixture::new();
    let log = fixture.log();
    // Begins with an error line: the same first 64 bytes as every other.
    let before = write_lines(&log, BEFORE, 120);
    let first = fixture.start();
    first.wait_for(&lines_total(), 120.0);
    first.wait_for(&errors("api", BEFORE), before as f64);
    let (status, _) = first.stop();
    assert!(status.success());

    let down = write_lines(&log, WHILE_DOWN, 25);
    let down_too = write_lines(&log, WHILE_DOWN_TOO, 25);
    let archive = rotate(&fixture);
    assert!(archive.exists(), "{}", archive.display());
    let after = write_lines(&log, AFTER, 3);

    let second = fixture.start();
    second.wait_for(&lines_total(), 53.0);
    second.wait_for(&errors("api", WHILE_DOWN), down as f64);
    second.wait_for(&errors("api", WHILE_DOWN_TOO), down_too as f64);
    second.wait_for(&errors("api", AFTER), after as f64);
    assert_eq!(second.value(&errors("api", BEFORE)), Some(0.0));
    second.wait_for(&metric("errtally_rotations_total", "api"), 1.0);
    let (status, _, log_text) = second.stop_with_log();
    assert!(status.success());

    // Nothing of the archive counts again: one new line, and only it.
    let third = fixture.start();
    let later = write_lines(&log, LATER, 1);
    third.wait_for(&lines_total(), 1.0);
    third.wait_for(&errors("api", LATER), later as f64);
    for error_type in [BEFORE, WHILE_DOWN, WHILE_DOWN_TOO, AFTER] {
        assert_eq!(third.value(&errors("api", error_type)), Some(0.0));
    }
    assert_eq!(
        third.value(&metric("errtally_rotations_total", "api")),
        Some(0.0)
    );
    log_text
}

/// The daemon said once which archive it drained, for which file.
fn assert_drained_once(log: &str, archive: &Path) {
    let said: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("draining a rotation compressed while errtally was down"))
        .collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(said[0].contains(&archive.display().to_string()), "{log}");
    assert!(said[0].contains("app.log "), "{log}");
}

#[test]
fn a_rotation_compressed_with_dateext_while_down_is_counted_once() {
    let mut archive = PathBuf::new();
    let log = rotated_while_down_is_counted_once(|fixture| {
        fixture.logrotate("    compress\n    dateext\n");
        archive = fixture.archive(".gz");
        assert!(
            archive
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("app.log-"),
            "{}",
            archive.display()
        );
        archive.clone()
    });
    assert_drained_once(&log, &archive);
}

#[test]
fn a_rotation_compressed_to_app_log_1_gz_while_down_is_counted_once() {
    let mut archive = PathBuf::new();
    let log = rotated_while_down_is_counted_once(|fixture| {
        fixture.logrotate("    compress\n");
        archive = fixture.archive(".gz");
        assert_eq!(archive, fixture.logs.join("app.log.1.gz"));
        archive.clone()
    });
    assert_drained_once(&log, &archive);
}

#[test]
fn a_rotation_compressed_with_zstd_while_down_is_counted_once() {
    let mut archive = PathBuf::new();
    let log = rotated_while_down_is_counted_once(|fixture| {
        fixture.logrotate(
            "    compress\n    compresscmd /usr/bin/zstd\n    uncompresscmd /usr/bin/unzstd\n    compressext .zst\n    compressoptions -q -3\n",
        );
        archive = fixture.archive(".zst");
        assert_eq!(archive, fixture.logs.join("app.log.1.zst"));
        let magic = std::fs::read(&archive).unwrap();
        assert_eq!(magic[..4], [0x28, 0xb5, 0x2f, 0xfd], "not zstd");
        archive.clone()
    });
    assert_drained_once(&log, &archive);
}

#[test]
fn a_sibling_that_begins_alike_but_differs_before_the_offset_is_not_drained() {
    // Beside the real archive, a newer one whose first 64 bytes are the
    // same (every error line starts alike) but whose bytes before the
    // offset are not: looked at first, and left alone.
    let log = rotated_while_down_is_counted_once(|fixture| {
        fixture.logrotate("    compress\n    dateext\n");
        let archive = fixture.archive(".gz");
        let decoy = fixture.logs.join("app.log.other");
        write_lines(&decoy, WHILE_DOWN, 400);
        let gzipped = Command::new("gzip").arg(&decoy).status().unwrap();
        assert!(gzipped.success());
        let decoy = fixture.logs.join("app.log.other.gz");
        let newer = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&decoy)
            .unwrap()
            .set_modified(newer)
            .unwrap();
        archive
    });
    assert!(!log.contains("app.log.other"), "{log}");
}

#[test]
fn several_files_compressed_in_one_logrotate_run_while_down_are_each_counted_once() {
    // logrotate handles the files one after another (rename, create,
    // compress, unlink), so a file's new log can take the inode the
    // previous file's original gave back: an entry whose inode another
    // file now has is still looked for among its siblings.
    let fixture = Fixture::new();
    let files = 5;
    let config = fixture.root.join("many.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[[input]]\nname = \"api\"\npaths = [\"{}/*.log\"]\nstart_at = \"beginning\"\n",
            fixture.root.join("state").display(),
            fixture.logs.display()
        ),
    )
    .unwrap();
    let log = |i: usize| fixture.logs.join(format!("f{i}.log"));
    // Each file begins with its own name: no two heads alike.
    for i in 0..files {
        append(&log(i), &format!("{{\"file\":{i},\"level\":\"info\"}}\n"));
    }
    let start = || Daemon::start(&["--config", config.to_str().unwrap()]);
    let first = start();
    first.wait_for(&lines_total(), files as f64);
    let (status, _) = first.stop();
    assert!(status.success());

    let mut down = 0;
    for i in 0..files {
        down += write_lines(&log(i), WHILE_DOWN, 5);
    }
    fixture.logrotate_files(
        &format!("{}/*.log", fixture.logs.display()),
        "    compress\n    dateext\n",
    );
    for i in 0..files {
        append(&log(i), &error_line(AFTER));
    }

    let second = start();
    second.wait_for(&lines_total(), (files * 5 + files) as f64);
    second.wait_for(&errors("api", WHILE_DOWN), down as f64);
    second.wait_for(&errors("api", AFTER), files as f64);
    let (status, _, text) = second.stop_with_log();
    assert!(status.success());
    assert_eq!(
        text.matches("draining a rotation compressed while errtally was down")
            .count(),
        files,
        "{text}"
    );
}
