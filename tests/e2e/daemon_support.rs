//! Running the daemon for a test: start it on 127.0.0.1:0, learn its
//! address from its log, scrape `/metrics` with a real HTTP client, send
//! real signals. Every wait polls with a deadline; none sleeps blindly.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::errtally;

/// How long a test waits for something that should happen.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A running `errtally run`.
pub struct Daemon {
    child: Child,
    /// Where it serves.
    pub address: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    /// Its stdin, when started with `--stdin`.
    pub stdin: Option<ChildStdin>,
}

impl Daemon {
    /// Starts `errtally run ARGS` listening on a free loopback port.
    pub fn start(args: &[&str]) -> Daemon {
        Self::spawn("run", args, false)
    }

    /// Like [`Daemon::start`], in the working directory `dir`.
    pub fn start_in(dir: &Path, args: &[&str]) -> Daemon {
        Self::spawn_in(Some(dir), "run", args, false)
    }

    /// Like [`Daemon::start`], without waiting for `/-/ready` over plain
    /// HTTP: for a daemon that serves TLS or asks for credentials.
    pub fn start_unchecked(args: &[&str]) -> Daemon {
        Self::spawn_unchecked(None, "run", args, false)
    }

    /// Starts `errtally demo` on a free loopback port.
    pub fn start_demo() -> Daemon {
        Self::spawn("demo", &["--rate", "500"], false)
    }

    /// Like [`Daemon::start`], with a pipe on stdin.
    pub fn start_with_stdin(args: &[&str]) -> Daemon {
        Self::spawn("run", args, true)
    }

    fn spawn(subcommand: &str, args: &[&str], piped_stdin: bool) -> Daemon {
        Self::spawn_in(None, subcommand, args, piped_stdin)
    }

    fn spawn_in(dir: Option<&Path>, subcommand: &str, args: &[&str], piped_stdin: bool) -> Daemon {
        let daemon = Self::spawn_unchecked(dir, subcommand, args, piped_stdin);
        daemon.wait_until("ready", || daemon.get("/-/ready").0 == 200);
        daemon
    }

    /// Like [`Daemon::start`], running `command` (the binary behind a
    /// wrapper such as `setpriv`) instead of the binary itself.
    pub fn start_command(command: Command, args: &[&str]) -> Daemon {
        let daemon = Self::spawn_command(command, "run", args, false);
        daemon.wait_until("ready", || daemon.get("/-/ready").0 == 200);
        daemon
    }

    fn spawn_unchecked(
        dir: Option<&Path>,
        subcommand: &str,
        args: &[&str],
        piped_stdin: bool,
    ) -> Daemon {
        let mut command = errtally();
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        Self::spawn_command(command, subcommand, args, piped_stdin)
    }

    fn spawn_command(
        mut command: Command,
        subcommand: &str,
        args: &[&str],
        piped_stdin: bool,
    ) -> Daemon {
        command
            .arg(subcommand)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.level",
                "debug",
            ])
            .args(args)
            .stdin(if piped_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("msg=listening")
                    && let Some(address) = line.split(' ').find_map(|f| f.strip_prefix("address="))
                {
                    let _ = address_tx.send(address.parse::<SocketAddr>().unwrap());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let address = match address_rx.recv_timeout(DEADLINE) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "daemon did not start; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Daemon {
            child,
            address,
            log,
            stdin,
        }
    }

    /// Its process id, for what only /proc tells (memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Status and body of a GET.
    pub fn get(&self, path: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        match agent.get(&format!("http://{}{path}", self.address)).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                (
                    status,
                    response.body_mut().read_to_string().unwrap_or_default(),
                )
            }
            Err(error) => (0, error.to_string()),
        }
    }

    /// Status, `Content-Type` and body of a GET sent with `Accept: accept`
    /// (none if empty).
    pub fn get_with(&self, path: &str, accept: &str) -> (u16, String, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut request = agent.get(&format!("http://{}{path}", self.address));
        if !accept.is_empty() {
            request = request.header("Accept", accept);
        }
        let mut response = request.call().unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), content_type, body)
    }

    /// The current `/metrics` text.
    pub fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "/metrics: {body}");
        body
    }

    /// The value of one series (`name{labels}` exactly as exposed).
    pub fn value(&self, series: &str) -> Option<f64> {
        value_in(&self.metrics(), series)
    }

    /// Waits until `series` has exactly `expected`.
    pub fn wait_for(&self, series: &str, expected: f64) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let text = self.metrics();
            let value = value_in(&text, series);
            if value == Some(expected) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{series} is {value:?}, expected {expected}\nmetrics:\n{}\nlog:\n{}",
                    text.lines()
                        .filter(
                            |l| l.starts_with("errtally_") && !l.starts_with("errtally_error_hint")
                        )
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `condition` holds.
    pub fn wait_until(&self, what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !condition() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (`TERM`, `HUP`, `KILL`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then waits (bounded) for the exit.
    pub fn stop(mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        self.signal("TERM");
        let deadline = started + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not stop; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Like [`Daemon::stop`], and what it logged, shutdown included.
    pub fn stop_with_log(self) -> (ExitStatus, Duration, String) {
        let log = Arc::clone(&self.log);
        let (status, took) = self.stop();
        let text = log.lock().unwrap().join("\n");
        (status, took, text)
    }

    /// Like [`Daemon::kill`], and what it had logged.
    pub fn kill_with_log(self) -> String {
        let log = Arc::clone(&self.log);
        self.kill();
        log.lock().unwrap().join("\n")
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Writes to its stdin.
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        self.stdin.as_mut().unwrap().write_all(bytes).unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `series` in an exposition text.
pub fn value_in(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The series name of a catalogued type's counter.
pub fn errors(source: &str, error_type: &str) -> String {
    format!(
        "errtally_errors_total{{error_type=\"{error_type}\",source=\"{source}\",status_code=\"404\"}}"
    )
}

/// A self-metric of a source.
pub fn metric(name: &str, source: &str) -> String {
    format!("{name}{{source=\"{source}\"}}")
}

/// One Stytch error line.
pub fn error_line(error_type: &str) -> String {
    format!(
        "{{\"ts\":\"2026-11-29T01:02:03Z\",\"level\":\"warn\",\"msg\":\"stytch request failed\",\"status_code\":404,\"error_type\":\"{error_type}\"}}\n"
    )
}

/// Appends `text` to `path`.
pub fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// A command that runs a copy of the binary in `dir` as nobody (CI runs as
/// root, whom permissions do not stop): `dir` is opened to everyone, and
/// the copy is there since the checkout may be in a directory nobody
/// cannot enter.
pub fn as_nobody(dir: &Path) -> Command {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let binary = dir.join("errtally");
    std::fs::copy(env!("CARGO_BIN_EXE_errtally"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(&binary)
        .current_dir(dir);
    command
}

/// The catalogued types the small fault scenarios write, one after
/// another.
pub const TYPES: [&str; 4] = [
    "email_not_found",
    "member_not_found",
    "session_not_found",
    "totp_not_found",
];

/// HTML escaping, as the status page must do it (written here, not taken
/// from errtally).
pub fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
