//! `--web.config.file` end to end: a CA, server and client certificates made
//! by the `openssl` CLI, the real binary serving TLS, and real `curl` and
//! `openssl s_client` as the clients. Every check is against something the
//! test made itself: the certificate serials, the passwords (hashed by
//! `htpasswd`), the lines written to the log.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crate::daemon_support::{DEADLINE, Daemon, append, error_line, errors, value_in};
use crate::support::run;

/// `htpasswd -nbBC 10 alice 'correct horse'`.
const ALICE_HASH: &str = "$2y$10$V5Hj1mie8SbPmX0q.c207Oc/wmJdkiAlLrAGvxW6THTKIg49ROMWC";
const ALICE: &str = "alice:correct horse";

/// A test CA and the certificates it signs, in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        Pki::named("errtally test CA")
    }

    /// A CA whose subject is `/CN=name`.
    fn named(name: &str) -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().unwrap(),
        };
        openssl(
            pki.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        );
        pki
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self, name: &str) -> String {
        self.path().join(name).display().to_string()
    }

    /// `NAME.crt` and `NAME.key`, signed by the CA, with `serial` and
    /// `CN=cn`: a server certificate for 127.0.0.1, or a client one.
    fn issue(&self, name: &str, cn: &str, serial: &str, client: bool) {
        self.issue_as(name, cn, serial, client, true);
    }

    /// Like [`Pki::issue`]; without `v3`, an X.509 v1 certificate, which
    /// is what `openssl x509 -req` issues without `-extfile`.
    fn issue_as(&self, name: &str, cn: &str, serial: &str, client: bool, v3: bool) {
        let usage = if client { "clientAuth" } else { "serverAuth" };
        let ext = self.path().join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!(
                "basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n\
                 subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            ),
        )
        .unwrap();
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        openssl(
            self.path(),
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={cn}"),
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
        );
        let extfile = format!("{name}.ext");
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            serial,
            "-days",
            "2",
            "-out",
            &crt,
        ];
        if v3 {
            args.extend(["-extfile", extfile.as_str()]);
        }
        openssl(self.path(), &args);
    }

    /// Writes `web.yml` and returns its path.
    fn web_config(&self, text: &str) -> String {
        let path = self.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is needed (Debian package openssl)");
    assert!(output.status.success(), "openssl {args:?}: {output:?}");
}

/// What `curl -i` got.
#[derive(Debug)]
struct Fetched {
    /// curl's exit code: 0 when an HTTP response came back.
    exit: i32,
    /// The HTTP status, 0 without a response.
    status: u16,
    /// Response headers, lower-cased, one `name: value` per line.
    headers: String,
    body: String,
    stderr: String,
}

fn curl(args: &[&str]) -> Fetched {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--noproxy", "*", "--max-time", "10"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl is needed");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Fetched {
        exit: output.status.code().unwrap_or(-1),
        status,
        headers: head.to_ascii_lowercase().replace("\r\n", "\n"),
        body: body.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

/// `curl` over TLS to the daemon, trusting the test CA.
fn https(pki: &Pki, daemon: &Daemon, path: &str, extra: &[&str]) -> Fetched {
    let url = format!("https://{}{path}", daemon.address);
    let ca = pki.file("ca.crt");
    let mut args = vec!["--cacert", &ca];
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

/// Waits until `/-/ready` answers 200 over TLS with `extra` curl arguments.
fn wait_ready(pki: &Pki, daemon: &Daemon, extra: &[&str]) {
    daemon.wait_until("ready over TLS", || {
        https(pki, daemon, "/-/ready", extra).status == 200
    });
}

/// The serial and subject of the certificate the daemon serves now.
fn served_certificate(daemon: &Daemon) -> String {
    let connect = daemon.address.to_string();
    let handshake = Command::new("openssl")
        .args(["s_client", "-connect", &connect, "-servername", "localhost"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-subject"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    x509.stdin
        .take()
        .unwrap()
        .write_all(&handshake.stdout)
        .unwrap();
    let output = x509.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn tls_with_basic_auth_lets_only_the_right_password_in_and_adds_the_headers() {
    let pki = Pki::new();
    pki.issue("server", "errtally-a", "0x1001", false);
    let web = pki.web_config(&format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
         basic_auth_users:\n  alice: {ALICE_HASH}\n\
         http_server_config:\n  headers:\n    X-Frame-Options: deny\n    \
         X-Content-Type-Options: nosniff\n"
    ));
    let log = pki.path().join("app.log");
    append(&log, &error_line("session_not_found").repeat(3));
    let daemon = Daemon::start_unchecked(&[
        "--web.config.file",
        &web,
        "--start-at",
        "beginning",
        log.to_str().unwrap(),
    ]);
    wait_ready(&pki, &daemon, &["-u", ALICE]);
    plain_http_to_the_tls_port_gets_no_http_response(&daemon);
    every_path_asks_for_credentials_and_refuses_wrong_ones(&pki, &daemon);
    the_right_password_scrapes_the_counts_with_the_headers(&pki, &daemon);
    let (status, _) = daemon.stop();
    assert!(status.success(), "{status:?}");
}

/// Plain HTTP to the TLS port gets a TLS alert, not an HTTP response.
fn plain_http_to_the_tls_port_gets_no_http_response(daemon: &Daemon) {
    let plain = curl(&[&format!("http://{}/metrics", daemon.address)]);
    assert_ne!(plain.exit, 0, "{plain:?}");
    assert_eq!(plain.status, 0, "{plain:?}");
    assert!(!plain.stderr.is_empty(), "{plain:?}");
}

/// 401 with the challenge and the configured headers on every path
/// without credentials; 401 for a wrong password and an unknown user.
fn every_path_asks_for_credentials_and_refuses_wrong_ones(pki: &Pki, daemon: &Daemon) {
    for path in ["/metrics", "/-/healthy", "/"] {
        let anonymous = https(pki, daemon, path, &[]);
        assert_eq!(anonymous.status, 401, "{path}: {anonymous:?}");
        assert!(
            anonymous.headers.contains("\nwww-authenticate: basic\n"),
            "{anonymous:?}"
        );
        assert!(anonymous.headers.contains("\nx-frame-options: deny\n"));
        assert_eq!(anonymous.body, "Unauthorized\n");
    }
    let wrong = https(pki, daemon, "/metrics", &["-u", "alice:battery staple"]);
    assert_eq!(wrong.status, 401, "{wrong:?}");
    let unknown = https(pki, daemon, "/metrics", &["-u", "bob:correct horse"]);
    assert_eq!(unknown.status, 401, "{unknown:?}");
}

/// The counts, the configured headers, the exposition's content type and
/// a successful web config load, in a scrape promtool accepts.
fn the_right_password_scrapes_the_counts_with_the_headers(pki: &Pki, daemon: &Daemon) {
    let series = errors("default", "session_not_found");
    let deadline = Instant::now() + DEADLINE;
    let scrape = loop {
        let scrape = https(pki, daemon, "/metrics", &["-u", ALICE]);
        assert_eq!(scrape.status, 200, "{scrape:?}");
        if value_in(&scrape.body, &series) == Some(3.0) {
            break scrape;
        }
        assert!(Instant::now() < deadline, "{series} never reached 3");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        scrape.headers.contains("\nx-frame-options: deny\n"),
        "{scrape:?}"
    );
    assert!(
        scrape
            .headers
            .contains("\nx-content-type-options: nosniff\n")
    );
    assert!(
        scrape
            .headers
            .contains("\ncontent-type: text/plain; version=0.0.4")
    );
    assert_eq!(
        value_in(&scrape.body, "errtally_web_config_last_reload_successful"),
        Some(1.0)
    );
    crate::support::promtool_check(&scrape.body);
}

#[test]
fn a_client_certificate_is_required_when_configured() {
    let pki = Pki::new();
    pki.issue("server", "errtally-a", "0x1001", false);
    pki.issue("client", "prometheus", "0x2001", true);
    // A client certificate from a CA the daemon does not trust, though its
    // name is the same: the signature check must catch it.
    let stranger = Pki::new();
    stranger.issue("client", "prometheus", "0x3001", true);
    let web = pki.web_config(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    let log = pki.path().join("app.log");
    append(&log, "");
    let daemon = Daemon::start_unchecked(&["--web.config.file", &web, log.to_str().unwrap()]);
    let (cert, key) = (pki.file("client.crt"), pki.file("client.key"));
    let with_cert = ["--cert", cert.as_str(), "--key", key.as_str()];
    wait_ready(&pki, &daemon, &with_cert);

    let without = https(&pki, &daemon, "/metrics", &[]);
    assert_ne!(without.exit, 0, "{without:?}");
    assert_eq!(without.status, 0, "{without:?}");
    assert!(
        without.stderr.contains("alert certificate required"),
        "{without:?}"
    );

    let (other_cert, other_key) = (stranger.file("client.crt"), stranger.file("client.key"));
    let untrusted = https(
        &pki,
        &daemon,
        "/metrics",
        &["--cert", &other_cert, "--key", &other_key],
    );
    assert_ne!(untrusted.exit, 0, "{untrusted:?}");
    assert_eq!(untrusted.status, 0, "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("alert decrypt error"),
        "{untrusted:?}"
    );

    let trusted = https(&pki, &daemon, "/metrics", &with_cert);
    assert_eq!(trusted.status, 200, "{trusted:?}");
    assert!(trusted.body.contains("errtally_build_info{"), "{trusted:?}");
    drop(daemon);

    // RequireAnyClientCert wants a certificate but not a trusted one.
    let web = pki.web_config(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAnyClientCert\n",
    );
    let daemon = Daemon::start_unchecked(&["--web.config.file", &web, log.to_str().unwrap()]);
    let any_cert = ["--cert", other_cert.as_str(), "--key", other_key.as_str()];
    wait_ready(&pki, &daemon, &any_cert);
    let without = https(&pki, &daemon, "/metrics", &[]);
    assert!(
        without.stderr.contains("alert certificate required"),
        "{without:?}"
    );
    assert_eq!(https(&pki, &daemon, "/metrics", &any_cert).status, 200);
}

#[test]
fn a_rotated_certificate_is_served_without_a_restart_and_a_bad_reload_keeps_it() {
    let pki = Pki::new();
    pki.issue("a", "errtally-a", "0x1001", false);
    pki.issue("b", "errtally-b", "0x1002", false);
    // Kubernetes Secret volumes rotate by swapping a directory symlink.
    let version = |name: &str, from: &str| {
        let dir = pki.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for ext in ["crt", "key"] {
            std::fs::copy(
                pki.path().join(format!("{from}.{ext}")),
                dir.join(format!("tls.{ext}")),
            )
            .unwrap();
        }
    };
    version("v1", "a");
    version("v2", "b");
    let live = pki.path().join("live");
    std::os::unix::fs::symlink("v1", &live).unwrap();
    let web =
        pki.web_config("tls_server_config:\n  cert_file: live/tls.crt\n  key_file: live/tls.key\n");
    let log = pki.path().join("app.log");
    append(&log, "");
    let daemon = Daemon::start_unchecked(&["--web.config.file", &web, log.to_str().unwrap()]);
    wait_ready(&pki, &daemon, &[]);
    assert_eq!(
        served_certificate(&daemon),
        "serial=1001\nsubject=CN = errtally-a"
    );

    let next = pki.path().join("live.next");
    std::os::unix::fs::symlink("v2", &next).unwrap();
    std::fs::rename(&next, &live).unwrap();
    daemon.wait_until("the rotated certificate", || {
        served_certificate(&daemon) == "serial=1002\nsubject=CN = errtally-b"
    });
    let gauge = || {
        value_in(
            &https(&pki, &daemon, "/metrics", &[]).body,
            "errtally_web_config_last_reload_successful",
        )
    };
    assert_eq!(gauge(), Some(1.0));

    // A web config rustls cannot honour is not applied while serving either.
    pki.web_config(
        "tls_server_config:\n  cert_file: live/tls.crt\n  key_file: live/tls.key\n  \
         min_version: TLS10\n",
    );
    daemon.wait_until("the failed reload", || gauge() == Some(0.0));
    let logged =
        format!("{web}:4:16: tls_server_config.min_version: rustls supports TLS12 and TLS13 only");
    daemon.wait_until("the reload error in the log", || {
        daemon.log().contains(&logged)
    });
    assert_eq!(
        served_certificate(&daemon),
        "serial=1002\nsubject=CN = errtally-b"
    );
}

/// `errtally run` and `errtally check` on `text`, a web config they must
/// refuse.
fn run_and_check(pki: &Pki, text: &str) -> (Output, Output) {
    let web = pki.web_config(text);
    let log = pki.path().join("app.log");
    append(&log, "");
    let ran = run(
        &[
            "run",
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
            &web,
            log.to_str().unwrap(),
        ],
        None,
    );
    (ran, check(&web))
}

fn check(web: &str) -> Output {
    run(&["check", "--web.config.file", web], None)
}

#[test]
fn a_bad_web_config_stops_the_start_with_exit_2_naming_the_key_and_position() {
    let pki = Pki::new();
    pki.issue("server", "errtally-a", "0x1001", false);
    let base = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let web = pki.file("web.yml");
    for (text, expected) in [
        (
            format!("{base}  cipher_suites:\n    - TLS_AES_128_GCM_SHA256\n"),
            format!("{web}:5:5: tls_server_config.cipher_suites: rustls cannot honour this"),
        ),
        (
            format!("{base}  curve_preferences: [X25519]\n"),
            format!("{web}:4:22: tls_server_config.curve_preferences: rustls cannot honour"),
        ),
        (
            format!("{base}  min_version: TLS11\n"),
            format!("{web}:4:16: tls_server_config.min_version: rustls supports TLS12"),
        ),
        (
            format!("{base}  client_auth: RequireAndVerifyClientCert\n"),
            format!("{web}:4:3: tls_server_config.client_auth: unknown key; expected one of"),
        ),
        (
            "basic_auth_users:\n  alice: hunter2\n".to_string(),
            format!("{web}:2:10: basic_auth_users.alice: not a bcrypt hash"),
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n".to_string(),
            format!(
                "{web}:2:14: tls_server_config.cert_file: cannot read {}",
                pki.file("missing.crt")
            ),
        ),
    ] {
        let (ran, checked) = run_and_check(&pki, &text);
        assert_eq!(ran.status.code(), Some(2), "{text}\n{}", stderr(&ran));
        assert!(
            stderr(&ran).contains(&format!("errtally: {expected}")),
            "{text}\n{}",
            stderr(&ran)
        );
        assert_eq!(checked.status.code(), Some(2), "{}", stderr(&checked));
        assert!(
            stderr(&checked).contains(&format!("errtally: {expected}")),
            "{}",
            stderr(&checked)
        );
    }

    pki.web_config(&format!("{base}basic_auth_users:\n  alice: {ALICE_HASH}\n"));
    let checked = check(&web);
    assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
    assert_eq!(
        String::from_utf8_lossy(&checked.stdout),
        format!("{web}: ok (tls on, 1 basic auth users, 0 headers)\n")
    );
}

/// `n` transfers of `url` at once with `curl --parallel`; the status codes.
fn parallel_scrapes(url: &str, n: usize, extra: &[&str]) -> Vec<String> {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--noproxy", "*", "--max-time", "30"])
        .args(["--parallel", "--parallel-immediate", "--parallel-max"])
        .arg(n.to_string())
        .args(["-w", "%{http_code}\\n"])
        .args(extra);
    for _ in 0..n {
        command.args(["-o", "/dev/null", url]);
    }
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn two_hundred_concurrent_scrapes_all_succeed_over_tls_and_past_a_small_cap() {
    let pki = Pki::new();
    pki.issue("server", "errtally-a", "0x1001", false);
    let web = pki.web_config(&format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
         basic_auth_users:\n  alice: {ALICE_HASH}\n"
    ));
    let log = pki.path().join("app.log");
    append(&log, "");
    let daemon = Daemon::start_unchecked(&["--web.config.file", &web, log.to_str().unwrap()]);
    wait_ready(&pki, &daemon, &["-u", ALICE]);
    let ca = pki.file("ca.crt");
    let codes = parallel_scrapes(
        &format!("https://{}/metrics", daemon.address),
        200,
        &["--cacert", &ca, "-u", ALICE],
    );
    assert_eq!(codes, vec!["200".to_string(); 200]);

    // Plain HTTP with room for 8 connections: the other 192 wait their turn.
    let capped = Daemon::start(&["--web.max-connections", "8", log.to_str().unwrap()]);
    let codes = parallel_scrapes(&format!("http://{}/metrics", capped.address), 200, &[]);
    assert_eq!(codes, vec!["200".to_string(); 200]);
    assert!(
        capped.log().contains("max_connections=8"),
        "{}",
        capped.log()
    );
}

/// The `warn` lines for refused handshakes in `log` whose reason contains
/// `reason`.
fn refusal_warnings(log: &str, reason: &str) -> Vec<String> {
    log.lines()
        .filter(|line| {
            line.contains(" level=warn ")
                && line.contains("msg=\"tls handshake refused\"")
                && line.contains(reason)
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn refused_client_certificates_are_explained_at_warn_a_few_times_a_minute_per_reason() {
    let pki = Pki::new();
    pki.issue("server", "errtally-a", "0x1001", false);
    pki.issue("client", "prometheus", "0x2001", true);
    pki.issue_as("v1", "prometheus", "0x2002", true, false);
    let stranger = Pki::named("another CA");
    stranger.issue("client", "prometheus", "0x3001", true);
    let web = pki.web_config(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    let log = pki.path().join("app.log");
    append(&log, "");
    let daemon = Daemon::start_unchecked(&["--web.config.file", &web, log.to_str().unwrap()]);
    let (cert, key) = (pki.file("client.crt"), pki.file("client.key"));
    wait_ready(&pki, &daemon, &["--cert", &cert, "--key", &key]);
    five_clients_without_a_certificate_are_refused(&pki, &daemon);
    a_v1_and_an_unknown_cas_certificate_are_refused(&pki, &stranger, &daemon);
    each_reason_is_warned_a_few_times_with_the_peer(&daemon);
    // Still served to the right client.
    let trusted = https(&pki, &daemon, "/metrics", &["--cert", &cert, "--key", &key]);
    assert_eq!(trusted.status, 200, "{trusted:?}");
}

/// The log's reason for a client that sent no certificate.
const NO_CERTIFICATE: &str = "reason=\"peer sent no certificates\"";

/// Five clients without a certificate get an alert, and the daemon sees
/// all five (the log's lines include those left out of the warnings).
fn five_clients_without_a_certificate_are_refused(pki: &Pki, daemon: &Daemon) {
    for _ in 0..5 {
        let refused = https(pki, daemon, "/metrics", &[]);
        assert!(
            refused.stderr.contains("alert certificate required"),
            "{refused:?}"
        );
    }
    daemon.wait_until("five refusals seen", || {
        daemon
            .log()
            .lines()
            .filter(|l| l.contains(NO_CERTIFICATE))
            .count()
            == 5
    });
}

/// The certificate `openssl x509 -req` issues without an extension file,
/// and one of another CA.
fn a_v1_and_an_unknown_cas_certificate_are_refused(pki: &Pki, stranger: &Pki, daemon: &Daemon) {
    let (v1_cert, v1_key) = (pki.file("v1.crt"), pki.file("v1.key"));
    let v1 = https(
        pki,
        daemon,
        "/metrics",
        &["--cert", &v1_cert, "--key", &v1_key],
    );
    assert_eq!(v1.status, 0, "{v1:?}");
    let (other_cert, other_key) = (stranger.file("client.crt"), stranger.file("client.key"));
    let unknown = https(
        pki,
        daemon,
        "/metrics",
        &["--cert", &other_cert, "--key", &other_key],
    );
    assert_eq!(unknown.status, 0, "{unknown:?}");
    daemon.wait_until("the v1 and unknown-CA refusals", || {
        let log = daemon.log();
        !refusal_warnings(&log, "UnsupportedCertVersion").is_empty()
            && !refusal_warnings(&log, "UnknownIssuer").is_empty()
    });
}

/// Three warnings of the five missing certificates, one of each other
/// reason, each with its peer and nothing left out yet.
fn each_reason_is_warned_a_few_times_with_the_peer(daemon: &Daemon) {
    let log = daemon.log();
    let no_certificate = refusal_warnings(&log, NO_CERTIFICATE);
    assert_eq!(no_certificate.len(), 3, "{log}");
    for (reason, count) in [
        (
            "reason=\"invalid peer certificate: Other(OtherError(UnsupportedCertVersion))\"",
            1,
        ),
        ("reason=\"invalid peer certificate: UnknownIssuer\"", 1),
    ] {
        assert_eq!(
            refusal_warnings(&log, reason).len(),
            count,
            "{reason}\n{log}"
        );
    }
    for line in refusal_warnings(&log, "reason=") {
        assert!(line.contains(" peer=127.0.0.1:"), "{line}");
        assert!(line.ends_with(" left_out=0"), "{line}");
    }
}

/// One plain HTTP/1.1 GET of `/metrics` as `credentials`: the status code,
/// 0 when no response came.
fn get_as(address: std::net::SocketAddr, credentials: &str) -> u16 {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return 0;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {encoded}\r\nConnection: close\r\n\r\n"
    );
    let mut response = String::new();
    if stream.write_all(request.as_bytes()).is_err()
        || stream.read_to_string(&mut response).is_err()
    {
        return 0;
    }
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_first_login_from_another_address_is_answered_within_1_5_s_during_a_40_client_flood() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let pki = Pki::new();
    let web = pki.web_config(&format!("basic_auth_users:\n  alice: {ALICE_HASH}\n"));
    let log = pki.path().join("app.log");
    append(&log, "");
    let daemon = Daemon::start_unchecked(&["--web.config.file", &web, log.to_str().unwrap()]);
    // Serving, without a password: alice's must not be cached yet.
    daemon.wait_until("serving", || daemon.get("/-/ready").0 == 401);

    // 40 clients on 127.0.0.1, each sending a new wrong password as soon
    // as the last one was refused.
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let address = daemon.address;
    let flood: Vec<_> = (0..40)
        .map(|client| {
            let (stop, refused) = (Arc::clone(&stop), Arc::clone(&refused));
            std::thread::spawn(move || {
                let mut other = 0;
                let mut attempt = 0;
                while !stop.load(Ordering::SeqCst) {
                    attempt += 1;
                    match get_as(address, &format!("alice:guess {client} {attempt}")) {
                        401 => refused.fetch_add(1, Ordering::SeqCst),
                        _ => {
                            other += 1;
                            0
                        }
                    };
                }
                other
            })
        })
        .collect();
    // Every client has been answered once: the flood is in full swing.
    daemon.wait_until("the flood", || refused.load(Ordering::SeqCst) >= 40);

    let url = format!("http://{address}/metrics");
    let started = Instant::now();
    let login = curl(&["--interface", "127.0.0.2", "-u", ALICE, &url]);
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let failed: usize = flood.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(login.status, 200, "{login:?}");
    assert!(
        took < std::time::Duration::from_millis(1500),
        "the login took {took:?}"
    );
    assert_eq!(failed, 0, "flood requests not answered 401");
    let log = daemon.log();
    let from_second = log
        .lines()
        .filter(|l| l.contains("msg=\"basic auth verified\"") && l.contains("peer=127.0.0.2"))
        .collect::<Vec<_>>();
    assert_eq!(from_second.len(), 1, "{from_second:?}");
    assert!(from_second[0].contains("verdict=true"), "{from_second:?}");
}

/// The debug lines saying bcrypt ran, one per verification.
fn bcrypt_checks(daemon: &Daemon) -> usize {
    daemon
        .log()
        .lines()
        .filter(|l| l.contains("msg=\"basic auth verified\""))
        .count()
}

#[test]
fn a_reload_with_the_same_users_keeps_the_verdicts_and_new_users_start_afresh() {
    let pki = Pki::new();
    let users = format!("basic_auth_users:\n  alice: {ALICE_HASH}\n");
    let web = pki.web_config(&users);
    let log = pki.path().join("app.log");
    append(&log, "");
    let daemon = Daemon::start_unchecked(&["--web.config.file", &web, log.to_str().unwrap()]);
    let url = format!("http://{}/metrics", daemon.address);
    daemon.wait_until("serving", || curl(&["-u", ALICE, &url]).status == 200);
    assert_eq!(bcrypt_checks(&daemon), 1);

    // Same users, one more header.
    pki.web_config(&format!(
        "{users}http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    ));
    daemon.wait_until("the reload", || {
        curl(&[&url]).headers.contains("\nx-frame-options: deny\n")
    });
    assert!(
        daemon.log().contains("msg=\"web config reloaded\"")
            && daemon.log().contains("verdicts_kept=true"),
        "{}",
        daemon.log()
    );
    assert_eq!(curl(&["-u", ALICE, &url]).status, 200);
    assert_eq!(bcrypt_checks(&daemon), 1, "{}", daemon.log());

    // Another user: the verdicts go, since nobody checked the new list.
    pki.web_config(&format!("{users}  bob: {ALICE_HASH}\n"));
    daemon.wait_until("the second reload", || {
        daemon.log().contains("verdicts_kept=false")
    });
    assert_eq!(curl(&["-u", ALICE, &url]).status, 200);
    assert_eq!(bcrypt_checks(&daemon), 2, "{}", daemon.log());
}
