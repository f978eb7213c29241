//! `errtally run` end to end: real files, real signals, real HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::daemon_support::{Daemon, append, error_line, errors, metric, value_in};

fn glob(dir: &std::path::Path) -> String {
    format!("{}/*.log", dir.display())
}

#[test]
fn every_catalogued_type_is_exported_at_zero_before_any_line_and_lints_clean() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&[&glob(dir.path())]);
    let text = daemon.metrics();
    let zeros = text
        .lines()
        .filter(|l| {
            l.starts_with("errtally_errors_total{")
                && l.contains("source=\"default\"")
                && l.ends_with(" 0")
        })
        .count();
    assert_eq!(zeros, 46);
    let hints = text
        .lines()
        .filter(|l| l.starts_with("errtally_error_hint_info{"))
        .count();
    assert_eq!(hints, 46);
    assert!(text.contains("errtally_build_info{version="));
    assert_eq!(
        value_in(&text, "errtally_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(text.contains("process_resident_memory_bytes"));
    assert_eq!(daemon.get("/-/healthy").0, 200);
    let (status, page) = daemon.get("/");
    assert_eq!(status, 200);
    assert!(page.contains("errtally"));
    crate::support::promtool_check(&text);
}

#[test]
fn appended_lines_are_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    append(&log, &error_line("email_not_found"));
    let daemon = Daemon::start(&["--start-at", "beginning", &glob(dir.path())]);
    daemon.wait_for(&errors("default", "email_not_found"), 1.0);
    for _ in 0..5 {
        append(&log, &error_line("oauth_token_not_found"));
    }
    append(&log, "{\"level\":\"info\",\"msg\":\"ok\"}\n");
    append(
        &log,
        "{\"error_type\":\"not_in_catalogue\",\"status_code\":429}\n",
    );
    daemon.wait_for(&errors("default", "oauth_token_not_found"), 5.0);
    daemon.wait_for(
        "errtally_uncatalogued_errors_total{source=\"default\",status_code=\"429\"}",
        1.0,
    );
    daemon.wait_for(&metric("errtally_lines_total", "default"), 8.0);
    assert_eq!(
        daemon.value(&errors("default", "email_not_found")),
        Some(1.0)
    );
}

#[test]
fn start_at_end_skips_existing_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    append(&log, &error_line("email_not_found").repeat(3));
    let daemon = Daemon::start(&[&glob(dir.path())]);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
    append(&log, &error_line("member_not_found"));
    daemon.wait_for(&errors("default", "member_not_found"), 1.0);
    assert_eq!(
        daemon.value(&errors("default", "email_not_found")),
        Some(0.0)
    );
    assert_eq!(
        daemon.value(&metric("errtally_lines_total", "default")),
        Some(1.0)
    );
}

#[test]
fn a_partial_line_is_held_until_its_end_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    let daemon = Daemon::start(&[&glob(dir.path())]);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 0.0);
    let line = error_line("session_not_found");
    let (head, tail) = line.split_at(30);
    append(&log, head);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
    daemon.wait_for(
        &metric("errtally_bytes_total", "default"),
        head.len() as f64,
    );
    assert_eq!(
        daemon.value(&metric("errtally_lines_total", "default")),
        Some(0.0)
    );
    append(&log, tail);
    daemon.wait_for(&errors("default", "session_not_found"), 1.0);
    assert_eq!(
        daemon.value(&metric("errtally_lines_total", "default")),
        Some(1.0)
    );
}

#[test]
fn a_new_file_matching_the_glob_is_read_from_its_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&[&glob(dir.path())]);
    let fresh = dir.path().join("fresh.log");
    std::fs::write(&fresh, error_line("otp_code_not_found").repeat(4)).unwrap();
    std::fs::write(
        dir.path().join("ignored.txt"),
        error_line("otp_code_not_found"),
    )
    .unwrap();
    daemon.wait_for(&errors("default", "otp_code_not_found"), 4.0);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
}

#[test]
fn rename_rotation_drains_the_old_file_and_reads_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    append(&log, "");
    let daemon = Daemon::start(&[&glob(dir.path())]);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
    append(&log, &error_line("email_not_found").repeat(2));
    daemon.wait_for(&errors("default", "email_not_found"), 2.0);
    // The writer still holds the old file after the rename, as a logger
    // does until it reopens.
    let mut old_writer = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::fs::rename(&log, dir.path().join("api.log.1")).unwrap();
    append(&log, &error_line("member_not_found").repeat(3));
    use std::io::Write;
    old_writer
        .write_all(error_line("email_not_found").as_bytes())
        .unwrap();
    daemon.wait_for(&errors("default", "member_not_found"), 3.0);
    daemon.wait_for(&errors("default", "email_not_found"), 3.0);
    daemon.wait_for(&metric("errtally_rotations_total", "default"), 1.0);
    // The rotated file is closed after its grace period.
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
    assert_eq!(
        daemon.value(&metric("errtally_lines_total", "default")),
        Some(6.0)
    );
}

#[test]
fn copytruncate_starts_again_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    append(&log, "");
    let daemon = Daemon::start(&[&glob(dir.path())]);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
    append(&log, &error_line("email_not_found").repeat(5));
    daemon.wait_for(&errors("default", "email_not_found"), 5.0);
    std::fs::copy(&log, dir.path().join("api.log.1.gz")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    daemon.wait_for(&metric("errtally_rotations_total", "default"), 1.0);
    append(&log, &error_line("member_not_found").repeat(2));
    daemon.wait_for(&errors("default", "member_not_found"), 2.0);
    assert_eq!(
        daemon.value(&errors("default", "email_not_found")),
        Some(5.0)
    );
    assert_eq!(
        daemon.value(&metric("errtally_lines_total", "default")),
        Some(7.0)
    );
}

#[test]
fn a_deleted_file_is_drained_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("api.log");
    append(&log, "");
    let daemon = Daemon::start(&[&glob(dir.path())]);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
    append(&log, &error_line("totp_not_found").repeat(3));
    std::fs::remove_file(&log).unwrap();
    daemon.wait_for(&errors("default", "totp_not_found"), 3.0);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 0.0);
}

#[test]
fn sigterm_writes_the_checkpoint_and_a_restart_counts_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\ncheckpoint_interval = \"100ms\"\n[[input]]\nname = \"api\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
            state.display(),
            glob(logs.path())
        ),
    )
    .unwrap();
    let log = logs.path().join("api.log");
    append(&log, &error_line("email_not_found").repeat(2));
    let config_arg = config.to_str().unwrap();

    let first = Daemon::start(&["--config", config_arg]);
    first.wait_for(&errors("api", "email_not_found"), 2.0);
    // Half a line is not counted and not checkpointed past.
    let line = error_line("member_not_found");
    append(&log, &line[..20]);
    first.wait_for(
        &metric("errtally_bytes_total", "api"),
        (error_line("email_not_found").len() * 2 + 20) as f64,
    );
    let (status, took) = first.stop();
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(5), "stopping took {took:?}");
    assert!(state.join("checkpoint.json").exists());

    // Written while errtally was down.
    append(&log, &line[20..]);
    append(&log, &error_line("email_not_found"));
    let second = Daemon::start(&["--config", config_arg]);
    second.wait_for(&errors("api", "member_not_found"), 1.0);
    second.wait_for(&errors("api", "email_not_found"), 1.0);
    second.wait_for(&metric("errtally_lines_total", "api"), 2.0);
}

#[test]
fn a_file_rotated_while_errtally_was_down_has_its_unread_tail_counted_once() {
    // logrotate renamed app.log to app.log.1 while errtally was stopped;
    // the glob names only app.log.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[[input]]\nname = \"api\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
            state.display(),
            logs.join("app.log").display()
        ),
    )
    .unwrap();
    let log = logs.join("app.log");
    append(&log, &error_line("email_not_found").repeat(10));
    let config_arg = config.to_str().unwrap();
    let first = Daemon::start(&["--config", config_arg]);
    first.wait_for(&errors("api", "email_not_found"), 10.0);
    let (status, _) = first.stop();
    assert!(status.success());

    append(&log, &error_line("member_not_found").repeat(50));
    std::fs::rename(&log, logs.join("app.log.1")).unwrap();
    append(&log, &error_line("session_not_found").repeat(5));

    let second = Daemon::start(&["--config", config_arg]);
    second.wait_for(&errors("api", "member_not_found"), 50.0);
    second.wait_for(&errors("api", "session_not_found"), 5.0);
    second.wait_for(&metric("errtally_lines_total", "api"), 55.0);
    assert_eq!(second.value(&errors("api", "email_not_found")), Some(0.0));
    // Drained, then closed after the grace period.
    second.wait_for(&metric("errtally_files_watched", "api"), 1.0);
    assert!(
        second.log().contains("rotated while errtally was down"),
        "{}",
        second.log()
    );
}

#[test]
fn after_kill_9_at_most_the_lines_since_the_checkpoint_are_counted_again() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("errtally.toml");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\ncheckpoint_interval = \"50ms\"\n[[input]]\nname = \"api\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
            state.display(),
            glob(&logs)
        ),
    )
    .unwrap();
    let log = logs.join("api.log");
    append(&log, &error_line("email_not_found").repeat(10));
    let first = Daemon::start(&["--config", config.to_str().unwrap()]);
    first.wait_for(&errors("api", "email_not_found"), 10.0);
    first.wait_until("checkpoint written", || {
        std::fs::read_to_string(state.join("checkpoint.json")).is_ok_and(|text| {
            text.contains(&format!(
                "\"offset\": {}",
                error_line("email_not_found").len() * 10
            ))
        })
    });
    first.kill();
    append(&log, &error_line("email_not_found").repeat(3));
    let second = Daemon::start(&["--config", config.to_str().unwrap()]);
    second.wait_for(&errors("api", "email_not_found"), 3.0);
}

#[test]
fn a_corrupt_checkpoint_is_moved_aside_and_start_at_applies() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("checkpoint.json"), "{not json").unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    append(&logs.join("a.log"), &error_line("email_not_found"));
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!("state_dir = \"{}\"\n[[input]]\nname = \"api\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n", state.display(), glob(&logs)),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()]);
    daemon.wait_for(&errors("api", "email_not_found"), 1.0);
    let moved = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(Result::ok)
        .any(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint.json.corrupt-")
        });
    assert!(moved, "corrupt checkpoint not moved aside");
}

#[test]
fn sighup_reloads_a_good_config_and_keeps_running_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let config = dir.path().join("errtally.toml");
    let input = |name: &str, path: &std::path::Path| {
        format!(
            "[[input]]\nname = \"{name}\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
            glob(path)
        )
    };
    std::fs::write(&config, input("first", &a)).unwrap();
    append(&a.join("x.log"), &error_line("email_not_found"));
    append(&b.join("y.log"), &error_line("member_not_found").repeat(2));
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()]);
    daemon.wait_for(&errors("first", "email_not_found"), 1.0);
    assert_eq!(daemon.value(&errors("second", "member_not_found")), None);

    std::fs::write(&config, input("first", &a) + &input("second", &b)).unwrap();
    daemon.signal("HUP");
    daemon.wait_for(&errors("second", "member_not_found"), 2.0);
    daemon.wait_for("errtally_config_last_reload_successful", 1.0);
    // The first input resumed where it was: nothing counted twice.
    assert_eq!(daemon.value(&errors("first", "email_not_found")), Some(1.0));

    std::fs::write(&config, "listen_address = \"nonsense\"\n").unwrap();
    daemon.signal("HUP");
    daemon.wait_for("errtally_config_last_reload_successful", 0.0);
    append(&a.join("x.log"), &error_line("email_not_found"));
    daemon.wait_for(&errors("first", "email_not_found"), 2.0);
    assert!(daemon.log().contains("reload failed"), "{}", daemon.log());
}

#[test]
fn stdin_lines_are_counted_and_metrics_stay_up_after_eof() {
    let mut daemon = Daemon::start_with_stdin(&["--stdin"]);
    daemon.wait_for(&errors("stdin", "magic_link_not_found"), 0.0);
    daemon.write_stdin(error_line("magic_link_not_found").repeat(3).as_bytes());
    daemon.wait_for(&errors("stdin", "magic_link_not_found"), 3.0);
    daemon.write_stdin(b"{\"error_type\":\"magic_link_not_found\"}");
    daemon.stdin.take();
    daemon.wait_for(&errors("stdin", "magic_link_not_found"), 4.0);
    daemon.wait_for(&metric("errtally_lines_total", "stdin"), 4.0);
    assert_eq!(daemon.get("/-/healthy").0, 200);
}

#[test]
fn sigterm_stops_a_stdin_reader_that_waits_for_input_in_order() {
    let mut daemon = Daemon::start_with_stdin(&["--stdin"]);
    daemon.write_stdin(error_line("magic_link_not_found").repeat(2).as_bytes());
    daemon.wait_for(&errors("stdin", "magic_link_not_found"), 2.0);
    // stdin stays open: the reader is waiting for more when the signal comes.
    let (status, took, log) = daemon.stop_with_log();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(took < Duration::from_secs(3), "took {took:?}\n{log}");
    let stopped = log.find("stdin reader stopped").expect(&log);
    let shutting_down = log.find("shutting down").expect(&log);
    assert!(shutting_down < stopped, "{log}");
    assert!(!log.contains("did not stop in time"), "{log}");
}

#[test]
fn an_unreadable_file_is_counted_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("locked.log");
    append(&log, &error_line("email_not_found"));
    // Root reads anything; a dangling symlink is unreadable for everyone.
    let dangling = dir.path().join("dangling.log");
    std::os::unix::fs::symlink(dir.path().join("missing-target"), &dangling).unwrap();
    std::fs::create_dir(dir.path().join("dir.log")).unwrap();
    let daemon = Daemon::start(&["--start-at", "beginning", &glob(dir.path())]);
    daemon.wait_for(&errors("default", "email_not_found"), 1.0);
    daemon.wait_until("a read error counted", || {
        daemon
            .value(&metric("errtally_read_errors_total", "default"))
            .is_some_and(|n| n >= 1.0)
    });
    assert_eq!(
        daemon.log().matches("cannot open file").count(),
        1,
        "{}",
        daemon.log()
    );
    std::fs::write(
        dir.path().join("missing-target"),
        error_line("member_not_found"),
    )
    .unwrap();
    daemon.wait_for(&errors("default", "member_not_found"), 1.0);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 2.0);
}

#[test]
fn a_bad_config_names_file_line_and_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "poll_interval = \"1s\"\n[[input]]\nname = \"api\"\npaths = [\"/tmp/*.log\"]\nstart_at = \"middle\"\n").unwrap();
    for args in [
        vec!["run", "--config", config.to_str().unwrap()],
        vec!["check", "--config", config.to_str().unwrap()],
    ] {
        let output = crate::support::run(&args, None);
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("{}:5:", config.display())),
            "{stderr}"
        );
        assert!(stderr.contains("start_at"), "{stderr}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[input]]\nname = \"api\"\npaths = [\"/tmp/*.log\"]\n",
    )
    .unwrap();
    let output = crate::support::run(&["check", "--config", good.to_str().unwrap()], None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_missing_file_a_config_names_is_one_line_at_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        "# the README's example once named a file nobody had\ncatalog = [\"path.json\"]\n[[input]]\nname = \"api\"\npaths = [\"/tmp/*.log\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let at_entry =
        format!("errtally: {config}:2:12: catalog[0]: path.json: No such file or directory\n");
    let check = crate::support::run(&["check", "--config", config], None);
    assert_eq!(check.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&check.stderr), at_entry);
    // The daemon logs its start first; its last line is the same.
    let run = crate::support::run(&["run", "--config", config], None);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.ends_with(&at_entry), "{stderr}");
    // Given on the command line, a catalogue or config is named alone,
    // the system's reason once.
    let missing = dir.path().join("missing.json");
    let missing = missing.to_str().unwrap();
    let scan = crate::support::run(&["scan", "--catalog", missing], None);
    assert_eq!(scan.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&scan.stderr),
        format!("errtally: {missing}: cannot read catalogue: No such file or directory\n")
    );
    let check = crate::support::run(&["check", "--config", missing], None);
    assert_eq!(
        String::from_utf8_lossy(&check.stderr),
        format!("errtally: {missing}: cannot read config: No such file or directory\n")
    );
}

#[test]
fn a_real_prometheus_server_scrapes_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    append(
        &logs.join("api.log"),
        &error_line("sso_token_not_found").repeat(7),
    );
    let daemon = Daemon::start(&["--start-at", "beginning", &glob(&logs)]);
    daemon.wait_for(&errors("default", "sso_token_not_found"), 7.0);
    let (mut prometheus, port) = prometheus_scraping(dir.path(), daemon.address);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    prometheus_sees_the_7_errors(&agent, &mut prometheus, port);
    let up = agent
        .get(&format!(
            "http://127.0.0.1:{port}/api/v1/query?query=up%7Bjob%3D%22errtally%22%7D"
        ))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(up.contains("\"1\"]"), "scrape not healthy: {up}");
    let _ = prometheus.0.kill();
}

/// Prometheus on a free loopback port, its data in `dir`, scraping
/// `target` every second as job `errtally`; and that port.
fn prometheus_scraping(
    dir: &Path,
    target: std::net::SocketAddr,
) -> (crate::support::ChildGuard, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: errtally\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let prometheus = crate::support::ChildGuard(
        std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus (Debian package prometheus) is needed"),
    );
    (prometheus, port)
}

/// Polls Prometheus' API until the sum of sso_token_not_found is 7.
fn prometheus_sees_the_7_errors(
    agent: &ureq::Agent,
    prometheus: &mut crate::support::ChildGuard,
    port: u16,
) {
    let query = format!(
        "http://127.0.0.1:{port}/api/v1/query?query=sum(errtally_errors_total%7Berror_type%3D%22sso_token_not_found%22%7D)"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    loop {
        if let Ok(mut response) = agent.get(&query).call() {
            last = response.body_mut().read_to_string().unwrap_or_default();
            if last.contains("\"7\"]") {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "prometheus never saw 7: {last}"
        );
        assert!(
            prometheus.0.try_wait().unwrap().is_none(),
            "prometheus exited"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_demo_serves_live_counts() {
    let daemon = Daemon::start_demo();
    daemon.wait_until("demo lines counted", || {
        daemon
            .value(&metric("errtally_lines_total", "default"))
            .is_some_and(|n| n >= 500.0)
    });
    let text = daemon.metrics();
    let counted: f64 = text
        .lines()
        .filter(|l| l.starts_with("errtally_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(counted > 0.0, "the demo's errors were not counted");
    let (status, _) = daemon.stop();
    assert!(status.success());
}

#[test]
fn a_symlink_whose_target_changes_follows_the_new_target() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("releases");
    std::fs::create_dir(&targets).unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let old_target = targets.join("v1.log");
    append(&old_target, "");
    let link = logs.join("current.log");
    std::os::unix::fs::symlink(&old_target, &link).unwrap();
    let daemon = Daemon::start(&[&glob(&logs)]);
    daemon.wait_for(&metric("errtally_files_watched", "default"), 1.0);
    append(&old_target, &error_line("email_not_found"));
    daemon.wait_for(&errors("default", "email_not_found"), 1.0);
    // Retarget atomically, as deploy tools do: a new link renamed over the old.
    let new_target = targets.join("v2.log");
    append(&new_target, &error_line("member_not_found").repeat(2));
    let staging = logs.join(".current.tmp");
    std::os::unix::fs::symlink(&new_target, &staging).unwrap();
    std::fs::rename(&staging, &link).unwrap();
    daemon.wait_for(&errors("default", "member_not_found"), 2.0);
    daemon.wait_for(&metric("errtally_rotations_total", "default"), 1.0);
    assert_eq!(
        daemon.value(&errors("default", "email_not_found")),
        Some(1.0)
    );
}

#[test]
fn editing_the_config_file_reloads_it_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    append(&logs.join("a.log"), &error_line("email_not_found"));
    let config = dir.path().join("errtally.toml");
    let input = |name: &str| {
        format!(
            "[[input]]\nname = \"{name}\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
            glob(&logs)
        )
    };
    std::fs::write(&config, input("before")).unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()]);
    daemon.wait_for(&errors("before", "email_not_found"), 1.0);
    std::fs::write(&config, input("after")).unwrap();
    daemon.wait_for(&errors("after", "email_not_found"), 1.0);
    daemon.wait_until("the removed input's series are gone", || {
        daemon.value(&errors("before", "email_not_found")).is_none()
    });
    assert_eq!(
        daemon.value("errtally_config_last_reload_successful"),
        Some(1.0)
    );
}

#[test]
fn a_generated_hostile_log_appended_in_odd_pieces_is_counted_like_the_generator_says() {
    let dir = tempfile::tempdir().unwrap();
    let (corpus, expected) = crate::support::corpus(
        dir.path(),
        "corpus.bin",
        61,
        3 << 20,
        &["--max-line-bytes", "65536"],
    );
    let bytes = std::fs::read(&corpus).unwrap();
    let (daemon, log) = a_daemon_following_an_empty_log(dir.path());
    append_in_odd_pieces_then_end_the_last_line(&daemon, &log, &bytes);
    daemon.wait_for(
        &metric("errtally_lines_total", "api"),
        expected["lines"].as_f64().unwrap(),
    );
    daemon.wait_for(
        &metric("errtally_lines_truncated_total", "api"),
        expected["truncated_lines"].as_f64().unwrap(),
    );
    let text = daemon.metrics();
    every_catalogued_type_is_counted_as_generated(&text, &expected);
    every_uncatalogued_status_is_counted_as_generated(&text, &expected);
}

/// The daemon following `dir/logs/api.log` (empty) as input `api`, with
/// 64 KiB lines, once it watches the file.
fn a_daemon_following_an_empty_log(dir: &Path) -> (Daemon, PathBuf) {
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let log = logs.join("api.log");
    append(&log, "");
    let config = dir.join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "max_line_bytes = 65536\n[[input]]\nname = \"api\"\npaths = [\"{}\"]\n",
            glob(&logs)
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()]);
    daemon.wait_for(&metric("errtally_files_watched", "api"), 1.0);
    (daemon, log)
}

/// Appends `bytes` in pieces of odd sizes, so lines split across appends
/// at many places, and once all are read, the newline the generator's
/// hostile corpus lacks at its end (the daemon holds an unfinished line),
/// so every record counts.
fn append_in_odd_pieces_then_end_the_last_line(daemon: &Daemon, log: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    let mut written = 0;
    let mut size = 1;
    while written < bytes.len() {
        let end = (written + size).min(bytes.len());
        std::io::Write::write_all(&mut file, &bytes[written..end]).unwrap();
        written = end;
        size = size * 7 % 300_007 + 1;
    }
    daemon.wait_for(&metric("errtally_bytes_total", "api"), bytes.len() as f64);
    assert_ne!(bytes.last(), Some(&b'\n'));
    std::io::Write::write_all(&mut file, b"\n").unwrap();
}

fn every_catalogued_type_is_counted_as_generated(text: &str, expected: &serde_json::Value) {
    for entry in errtally::catalog::Catalog::builtin().unwrap().entries() {
        let want = expected["errors"]
            .get(&entry.error_type)
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        assert_eq!(
            value_in(text, &errors("api", &entry.error_type)),
            Some(want),
            "{}",
            entry.error_type
        );
    }
}

/// Each status the generator names, and their sum over every status
/// exposed, so that a status it does not name cannot hide.
fn every_uncatalogued_status_is_counted_as_generated(text: &str, expected: &serde_json::Value) {
    for (status, count) in expected["uncatalogued"].as_object().unwrap() {
        let series = format!(
            "errtally_uncatalogued_errors_total{{source=\"api\",status_code=\"{status}\"}}"
        );
        assert_eq!(value_in(text, &series), count.as_f64(), "{series}");
    }
    let uncatalogued: f64 = text
        .lines()
        .filter(|l| l.starts_with("errtally_uncatalogued_errors_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let expected_uncatalogued: f64 = expected["uncatalogued"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_f64())
        .sum();
    assert_eq!(uncatalogued, expected_uncatalogued);
}

#[test]
fn a_directory_created_after_start_is_found_by_polling() {
    let dir = tempfile::tempdir().unwrap();
    let later = dir.path().join("later");
    // The directory does not exist yet, so it cannot be watched: only the
    // poll_interval rescan can find it.
    let daemon = Daemon::start(&[&glob(&later)]);
    assert!(
        daemon.log().contains("polling them instead"),
        "{}",
        daemon.log()
    );
    std::fs::create_dir(&later).unwrap();
    append(
        &later.join("api.log"),
        &error_line("password_not_found").repeat(2),
    );
    daemon.wait_for(&errors("default", "password_not_found"), 2.0);
}

#[test]
fn an_unreadable_checkpoint_stops_the_start_and_is_left_alone() {
    // Tests run as root, where permissions do not stop a read: a directory
    // at the checkpoint's path is unreadable as a file for anyone.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let blocker = state.join("checkpoint.json");
    std::fs::create_dir_all(blocker.join("inside")).unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\n[[input]]\nname = \"api\"\npaths = [\"{}\"]\n",
            state.display(),
            glob(&logs)
        ),
    )
    .unwrap();
    let output = crate::support::run(
        &[
            "run",
            "--web.listen-address",
            "127.0.0.1:0",
            "--config",
            config.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "errtally: {}: checkpoint i/o failed",
            blocker.display()
        )),
        "{stderr}"
    );
    assert!(
        blocker.join("inside").is_dir(),
        "the state path was touched"
    );
    let entries: Vec<_> = std::fs::read_dir(&state).unwrap().collect();
    assert_eq!(entries.len(), 1, "nothing else written to the state dir");
}

#[test]
fn relative_globs_are_watched_not_only_polled() {
    // With a 30 s poll, only a working watch shows the line before the
    // deadline: for a glob relative to the working directory, both on the
    // command line and in a config file named by a relative path.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(
        dir.path().join("errtally.toml"),
        "poll_interval = \"30s\"\n[[input]]\nname = \"api\"\npaths = [\"logs/*.log\"]\n",
    )
    .unwrap();
    let daemon = Daemon::start_in(dir.path(), &["--config", "./errtally.toml"]);
    append(&logs.join("a.log"), &error_line("email_not_found"));
    daemon.wait_for(&errors("api", "email_not_found"), 1.0);
    drop(daemon);

    std::fs::write(
        dir.path().join("errtally.toml"),
        "poll_interval = \"30s\"\n",
    )
    .unwrap();
    let daemon = Daemon::start_in(dir.path(), &["--config", "errtally.toml", "logs/*.log"]);
    append(&logs.join("a.log"), &error_line("member_not_found"));
    daemon.wait_for(&errors("default", "member_not_found"), 1.0);
}

#[test]
fn a_backlog_larger_than_one_read_budget_is_read_to_its_end_at_once() {
    // One poll reads at most 64 MiB of a file; the rest must follow right
    // away, not at the next hourly sweep.
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = crate::support::corpus(dir.path(), "big.log", 11, 200 << 20, &[]);
    let size = std::fs::metadata(&log).unwrap().len() as f64;
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "poll_interval = \"1h\"\n[[input]]\nname = \"big\"\npaths = [\"{}\"]\nstart_at = \"beginning\"\n",
            log.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()]);
    daemon.wait_for(&metric("errtally_bytes_total", "big"), size);
}

#[test]
fn a_config_map_update_is_reloaded() {
    // A Kubernetes ConfigMap volume: the file is a link through `..data`,
    // which the kubelet swaps atomically to a new timestamped directory.
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("config");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let version = |name: &str, input: &str| {
        let data = mount.join(name);
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            data.join("errtally.toml"),
            format!(
                "[[input]]\nname = \"{input}\"\npaths = [\"{}\"]\n",
                glob(&logs)
            ),
        )
        .unwrap();
    };
    version("..2026_11_29_01", "before");
    std::os::unix::fs::symlink("..2026_11_29_01", mount.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/errtally.toml", mount.join("errtally.toml")).unwrap();
    let daemon = Daemon::start(&["--config", mount.join("errtally.toml").to_str().unwrap()]);
    daemon.wait_for(&metric("errtally_input_up", "before"), 1.0);

    version("..2026_11_29_02", "after");
    std::os::unix::fs::symlink("..2026_11_29_02", mount.join("..data_tmp")).unwrap();
    std::fs::rename(mount.join("..data_tmp"), mount.join("..data")).unwrap();
    daemon.wait_for(&metric("errtally_input_up", "after"), 1.0);
    assert_eq!(daemon.value(&metric("errtally_input_up", "before")), None);
}

#[test]
fn with_watch_poll_appends_rotations_and_new_files_are_found_by_polling() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "watch = \"poll\"\npoll_interval = \"200ms\"\n[[input]]\nname = \"api\"\npaths = [\"{}\"]\n",
            glob(&logs)
        ),
    )
    .unwrap();
    let log = logs.join("app.log");
    append(&log, "");
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()]);
    daemon.wait_for(&metric("errtally_files_watched", "api"), 1.0);
    append(&log, &error_line("email_not_found").repeat(3));
    daemon.wait_for(&errors("api", "email_not_found"), 3.0);
    // Rotation by rename: the old file's late lines and the new file's.
    std::fs::rename(&log, logs.join("app.log.1")).unwrap();
    append(&logs.join("app.log.1"), &error_line("email_not_found"));
    append(&log, &error_line("member_not_found").repeat(2));
    daemon.wait_for(&errors("api", "email_not_found"), 4.0);
    daemon.wait_for(&errors("api", "member_not_found"), 2.0);
    daemon.wait_for(&metric("errtally_rotations_total", "api"), 1.0);
}

#[test]
fn files_in_nested_directories_are_watched_not_only_polled() {
    // Kubernetes' layout, pods/<namespace>_<pod>_<uid>/<container>/0.log,
    // under a glob that spans three levels. With an hour's poll, only
    // watches on every directory of it show these lines before the deadline.
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    let first = pods.join("shop_api-1_u1").join("app");
    std::fs::create_dir_all(&first).unwrap();
    append(&first.join("0.log"), "");
    let config = dir.path().join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "poll_interval = \"1h\"\n[[input]]\nname = \"pods\"\npaths = [\"{}/*/*/*.log\"]\n",
            pods.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()]);
    daemon.wait_for(&metric("errtally_files_watched", "pods"), 1.0);
    append(&first.join("0.log"), &error_line("email_not_found"));
    daemon.wait_for(&errors("pods", "email_not_found"), 1.0);

    // A pod scheduled later: its directories and file appear while the
    // daemon runs, and its lines count from the first.
    let second = pods.join("shop_api-2_u2").join("app");
    std::fs::create_dir_all(&second).unwrap();
    append(&second.join("0.log"), &error_line("member_not_found"));
    daemon.wait_for(&errors("pods", "member_not_found"), 1.0);
    append(&second.join("0.log"), &error_line("member_not_found"));
    daemon.wait_for(&errors("pods", "member_not_found"), 2.0);
    daemon.wait_for(&metric("errtally_files_watched", "pods"), 2.0);
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = crate::support::ChildGuard(
        std::process::Command::new("prlimit")
            .args(["--nofile=256:4096", env!("CARGO_BIN_EXE_errtally"), "run"])
            .args(["--web.listen-address", "127.0.0.1:0", &glob(dir.path())])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // prlimit execs errtally: the child's pid is the daemon's.
    let limits = format!("/proc/{}/limits", daemon.0.id());
    let deadline = std::time::Instant::now() + crate::daemon_support::DEADLINE;
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        last = std::fs::read_to_string(&limits).unwrap_or_default();
        let soft = last
            .lines()
            .find(|line| line.starts_with("Max open files"))
            .and_then(|line| line.split_whitespace().nth(3));
        if soft == Some("4096") {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("soft limit not raised:\n{last}");
}

#[test]
fn a_reload_rebinds_stdin_to_the_new_catalogue_and_a_dropped_stdin_counts_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("errtally.toml");
    let catalog = dir.path().join("widgets.json");
    std::fs::write(
        &catalog,
        r#"{"name":"widgets","source":"test","errors":[{"error_type":"widget_not_found","status_code":404,"title":"Not found","description":"Widget could not be found.","error_message":"Widget could not be found.","common_causes":[],"troubleshooting":[],"doc_url":"https://example.com/widget"}]}"#,
    )
    .unwrap();
    std::fs::write(&config, "[[input]]\nname = \"pipe\"\npaths = [\"-\"]\n").unwrap();
    let mut daemon = Daemon::start_with_stdin(&["--config", config.to_str().unwrap()]);
    daemon.write_stdin(error_line("widget_not_found").as_bytes());
    daemon.wait_for(
        "errtally_uncatalogued_errors_total{source=\"pipe\",status_code=\"404\"}",
        1.0,
    );

    // The new catalogue knows the type: stdin counts it as catalogued.
    std::fs::write(
        &config,
        format!(
            "catalog = [\"{}\"]\n[[input]]\nname = \"pipe\"\npaths = [\"-\"]\n",
            catalog.display()
        ),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon.wait_for("errtally_config_last_reload_successful", 1.0);
    daemon.wait_until("the widget catalogue", || {
        daemon.value(&errors("pipe", "widget_not_found")).is_some()
    });
    daemon.write_stdin(error_line("widget_not_found").as_bytes());
    daemon.wait_for(&errors("pipe", "widget_not_found"), 1.0);

    // No input reads stdin any more: its series go and its lines count nowhere.
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(
        &config,
        format!(
            "[[input]]\nname = \"files\"\npaths = [\"{}\"]\n",
            glob(&logs)
        ),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon.wait_until("stdin's series gone", || {
        !daemon.metrics().contains("source=\"pipe\"")
    });
    // An uncatalogued error would create its series again if counted.
    daemon.write_stdin(b"{\"status_code\":404,\"error_type\":\"gadget_not_found\"}\n");
    daemon.write_stdin(error_line("session_not_found").as_bytes());
    // A line in a file afterwards shows the daemon has moved on; stdin's
    // lines, written before it, must not have been counted anywhere.
    append(&logs.join("a.log"), &error_line("member_not_found"));
    daemon.wait_for(&errors("files", "member_not_found"), 1.0);
    let text = daemon.metrics();
    assert!(!text.contains("source=\"pipe\""), "{text}");
    assert_eq!(
        value_in(&text, &errors("files", "session_not_found")),
        Some(0.0)
    );
}
