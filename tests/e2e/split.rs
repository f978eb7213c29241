//! Split records (Docker json-file parts, CRI `P`/`F`) through the real
//! binary: `scan` of generated corpora against the generator's tally, on
//! one thread and on several with small ranges, and `run` with the parts
//! of one record written apart, a checkpoint and a restart in between.

use std::path::Path;

use serde_json::Value;

use crate::daemon_support::{Daemon, append, errors, metric};
use crate::support::{corpus, json_stdout, run};

fn scan_json(args: &[&str], path: &Path) -> Value {
    let mut argv = vec!["scan", "--format", "json"];
    argv.extend_from_slice(args);
    argv.push(path.to_str().unwrap());
    let output = run(&argv, None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_stdout(&output)
}

/// How many physical lines are parts that another part follows.
fn partial_lines(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .filter(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line.starts_with(b"{\"log\":\"") && !line.windows(3).any(|w| w == b"\\n\""))
                || line.windows(3).any(|w| w == b" P ")
                    && line.first().is_some_and(u8::is_ascii_digit)
        })
        .count()
}

#[test]
fn scan_of_split_corpora_matches_the_generators_tally_on_any_threads() {
    let dir = tempfile::tempdir().unwrap();
    for (seed, framing, extra) in [
        (81, "docker", &[][..]),
        (82, "cri", &[][..]),
        (83, "docker", &["--clean"][..]),
        (84, "cri", &["--clean"][..]),
    ] {
        let mut args = vec!["--split", framing];
        args.extend_from_slice(extra);
        let name = format!("{framing}-{seed}.log");
        let (path, expected) = corpus(dir.path(), &name, seed, 3 << 20, &args);
        let bytes = std::fs::read(&path).unwrap();
        // The corpus really splits records: each part is a line of its own.
        assert!(partial_lines(&bytes) > 1000, "{name}: too few parts");
        let one = scan_json(&["--threads", "1"], &path);
        assert_eq!(one, expected, "{name}");
        for threads in ["2", "3"] {
            for range in ["30000", "100000"] {
                let report = scan_json(&["--threads", threads, "--range-bytes", range], &path);
                assert_eq!(report, expected, "{name} threads {threads} range {range}");
            }
        }
        // stdin reads with plain reads of another size.
        let output = run(&["scan", "--format", "json", "-"], Some(&path));
        assert!(output.status.success());
        assert_eq!(json_stdout(&output), expected, "{name} on stdin");
    }
}

#[test]
fn scan_counts_a_split_key_once_and_physical_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.log");
    let time = "2026-11-29T01:02:03.123456789Z";
    let mut text = String::new();
    for (first, second) in [
        (
            r#"{\"status_code\":404,\"error_ty"#,
            r#"pe\":\"oauth_token_not_found\"}\n"#,
        ),
        (r#"{\"error_type\":\"oauth_tok"#, r#"en_not_found\"}\n"#),
    ] {
        text.push_str(&format!(
            "{{\"log\":\"{first}\",\"stream\":\"stdout\",\"time\":\"{time}\"}}\n"
        ));
        text.push_str(&format!(
            "{{\"log\":\"{second}\",\"stream\":\"stdout\",\"time\":\"{time}\"}}\n"
        ));
    }
    text.push_str(&format!("{time} stdout P {{\"error_type\":\"made_up_err"));
    std::fs::write(&path, &text).unwrap();
    let report = scan_json(&[], &path);
    assert_eq!(report["errors"]["oauth_token_not_found"], 2, "{report}");
    assert_eq!(report["lines"], 5);
    // The unfinished CRI part at the end is a record of its own, its value
    // unclosed: no error.
    assert_eq!(report["uncatalogued"], serde_json::json!({}));
}

#[test]
fn run_holds_its_checkpoint_at_an_unfinished_split_record_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\ncheckpoint_interval = \"100ms\"\n[[input]]\nname = \"pods\"\npaths = [\"{}/*.log\"]\nstart_at = \"beginning\"\n",
            state.display(),
            logs.path().display()
        ),
    )
    .unwrap();
    let log = logs.path().join("c.log");
    let record = SplitRecord::new();
    let config_arg = config.to_str().unwrap();
    let checkpoint = state.join("checkpoint.json");
    append(&log, &record.whole);
    let first = Daemon::start(&["--config", config_arg]);
    held_parts_are_no_line_and_the_checkpoint_stays_before_them(&first, &log, &record, &checkpoint);
    let (status, _) = first.stop();
    assert!(status.success());
    assert_offset(&checkpoint, record.whole.len());

    // The last part arrives while errtally is down.
    append(&log, &record.last_part);
    let second = Daemon::start(&["--config", config_arg]);
    second.wait_for(&errors("pods", "oauth_token_not_found"), 1.0);
    second.wait_for(&metric("errtally_lines_total", "pods"), 3.0);
    assert_eq!(second.value(&errors("pods", "email_not_found")), Some(0.0));
    let (status, _) = second.stop();
    assert!(status.success());
    assert_offset(&checkpoint, record.end());
}

/// Docker json-file lines: a whole record, then one split in three parts
/// (the key cut in the middle).
struct SplitRecord {
    whole: String,
    first_part: String,
    second_part: String,
    last_part: String,
}

impl SplitRecord {
    fn new() -> Self {
        let time = "2026-11-29T01:02:03.123456789Z";
        SplitRecord {
            whole: format!(
                "{{\"log\":\"{{\\\"error_type\\\":\\\"email_not_found\\\"}}\\n\",\"stream\":\"stdout\",\"time\":\"{time}\"}}\n"
            ),
            first_part: format!(
                "{{\"log\":\"{{\\\"status_code\\\":404,\\\"error_ty\",\"stream\":\"stdout\",\"time\":\"{time}\"}}\n"
            ),
            second_part: format!(
                "{{\"log\":\"pe\\\":\\\"oauth_to\",\"stream\":\"stdout\",\"time\":\"{time}\"}}\n"
            ),
            last_part: format!(
                "{{\"log\":\"ken_not_found\\\"}}\\n\",\"stream\":\"stdout\",\"time\":\"{time}\"}}\n"
            ),
        }
    }

    /// The offset after every line.
    fn end(&self) -> usize {
        self.whole.len() + self.first_part.len() + self.second_part.len() + self.last_part.len()
    }
}

/// Whether a checkpoint's text holds `offset` (pretty or compact JSON).
fn has_offset(text: &str, offset: usize) -> bool {
    text.contains(&format!("\"offset\": {offset}"))
        || text.contains(&format!("\"offset\":{offset}"))
}

fn assert_offset(checkpoint: &Path, offset: usize) {
    let text = std::fs::read_to_string(checkpoint).unwrap();
    assert!(has_offset(&text, offset), "{text}");
}

/// The whole record (written before the start) is counted; the first two
/// parts are read but held, no line yet, and the checkpoint stays at the
/// first part.
fn held_parts_are_no_line_and_the_checkpoint_stays_before_them(
    daemon: &Daemon,
    log: &Path,
    record: &SplitRecord,
    checkpoint: &Path,
) {
    daemon.wait_for(&errors("pods", "email_not_found"), 1.0);
    append(log, &record.first_part);
    daemon.wait_for(
        &metric("errtally_bytes_total", "pods"),
        (record.whole.len() + record.first_part.len()) as f64,
    );
    append(log, &record.second_part);
    daemon.wait_for(
        &metric("errtally_bytes_total", "pods"),
        (record.whole.len() + record.first_part.len() + record.second_part.len()) as f64,
    );
    assert_eq!(
        daemon.value(&metric("errtally_lines_total", "pods")),
        Some(1.0)
    );
    daemon.wait_until("checkpoint at the first part", || {
        std::fs::read_to_string(checkpoint).is_ok_and(|text| has_offset(&text, record.whole.len()))
    });
}
