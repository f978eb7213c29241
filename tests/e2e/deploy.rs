//! Deployment: the shipped systemd units verify, socket activation serves
//! scrapes, and `Type=notify` readiness reaches `NOTIFY_SOCKET`. systemd is
//! not PID 1 here, so the units are proven with systemd's own tools.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon_support::{DEADLINE, append, error_line, errors, value_in};
use crate::support::ChildGuard;

fn units() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/deploy/systemd")
}

fn unit(name: &str) -> String {
    std::fs::read_to_string(units().join(name)).unwrap()
}

/// The value of `key=` in a unit file (the last one, as systemd reads it).
fn setting(unit: &str, key: &str) -> Option<String> {
    unit.lines()
        .rev()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .map(str::to_string)
}

#[test]
fn the_systemd_units_verify_and_are_hardened() {
    let dir = tempfile::tempdir().unwrap();
    // verify checks that ExecStart's binary exists: point it at this build.
    let service =
        unit("errtally.service").replace("/usr/bin/errtally", env!("CARGO_BIN_EXE_errtally"));
    std::fs::write(dir.path().join("errtally.service"), &service).unwrap();
    std::fs::write(dir.path().join("errtally.socket"), unit("errtally.socket")).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no", "errtally.socket", "errtally.service"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "verify warned");

    for (key, value) in [
        ("Type", "notify"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "errtally"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("SupplementaryGroups", "adm"),
        ("Restart", "on-failure"),
        ("EnvironmentFile", "-/etc/default/errtally"),
    ] {
        assert_eq!(setting(&service, key).as_deref(), Some(value), "{key}");
    }
    let files: u64 = setting(&service, "LimitNOFILE").unwrap().parse().unwrap();
    assert!(files >= 16384, "LimitNOFILE {files}");
    let exec = setting(&service, "ExecStart").unwrap();
    assert!(
        exec.contains("--web.systemd-socket") && exec.contains("$ERRTALLY_ARGS"),
        "{exec}"
    );
    // The socket listens where the shipped config says errtally listens.
    let config =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/errtally.toml"))
            .unwrap();
    let port = setting(&unit("errtally.socket"), "ListenStream").unwrap();
    assert!(
        config.contains(&format!("listen_address = \"0.0.0.0:{port}\"")),
        "{port}"
    );
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scrape(address: &str) -> Option<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    agent
        .get(&format!("http://{address}/metrics"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()
}

#[test]
fn socket_activation_serves_scrapes_and_readiness_reaches_notify_socket() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    append(&logs.join("a.log"), &error_line("email_not_found"));
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(DEADLINE)).unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let glob = format!("{}/*.log", logs.display());
    let _daemon = ChildGuard(
        Command::new("systemd-socket-activate")
            .args(["-l", &address, "-E", "NOTIFY_SOCKET"])
            .args([
                env!("CARGO_BIN_EXE_errtally"),
                "run",
                "--web.systemd-socket",
            ])
            .args(["--start-at", "beginning", &glob])
            .env("NOTIFY_SOCKET", &notify_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // systemd-socket-activate starts errtally on the first connection.
    let deadline = Instant::now() + DEADLINE;
    let mut text = None;
    while Instant::now() < deadline {
        text = scrape(&address)
            .filter(|text| value_in(text, &errors("default", "email_not_found")) == Some(1.0));
        if text.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        text.is_some(),
        "no scrape with the count through the passed socket"
    );
    let mut message = [0u8; 256];
    let read = notify.recv(&mut message).unwrap();
    let message = String::from_utf8_lossy(&message[..read]);
    assert!(message.contains("READY=1"), "{message}");
}

#[test]
fn systemd_socket_without_a_socket_is_a_clear_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let glob = format!("{}/*.log", dir.path().display());
    let output = Command::new(env!("CARGO_BIN_EXE_errtally"))
        .args(["run", "--web.systemd-socket", &glob])
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("errtally: no listening TCP socket from systemd"),
        "{stderr}"
    );
}
