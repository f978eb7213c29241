//! Clients that hold a slot at `--web.max-connections` without doing their
//! part may not keep a waiting client out for longer than the 10 s
//! timeouts (plus a margin): the waiting client is measured from its
//! connect to its `200`. Covered: clients that connect and send nothing
//! (the request head timeout), and clients that ask for `/metrics` and
//! never read the answer (the write stall timeout). For the latter the
//! scrape is made far larger than the kernel's socket buffers (1,000 label
//! sets with long pod names: several MB), so the server's writes stall; a
//! small scrape would fit in the buffers and free the slot at once.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::daemon_support::{DEADLINE, Daemon, append, error_line};

/// The daemon's timeout for a request head, which also closes idle
/// connections.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the daemon lets a response's write make no progress.
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Label sets, one per pod directory, for a scrape far larger than the
/// socket buffers (Linux buffers at most a few MB per loopback connection
/// that its reader never drains).
const LABEL_SETS: usize = 1000;

/// A daemon whose two slots the test can fill.
fn two_slot_daemon(dir: &std::path::Path) -> Daemon {
    let glob = format!("{}/*.log", dir.display());
    Daemon::start(&["--web.max-connections", "2", &glob])
}

/// Like [`two_slot_daemon`], over [`LABEL_SETS`] pods of one error line
/// each under `dir`, each its own label set with a pod name of about 200
/// bytes, so that every series line is long; returns once every file is
/// read.
fn two_slot_daemon_with_a_large_scrape(dir: &std::path::Path) -> Daemon {
    let pods = dir.join("pods");
    let padding = "x".repeat(200);
    for index in 0..LABEL_SETS {
        let pod = pods.join(format!("pod-{index}-{padding}"));
        std::fs::create_dir_all(&pod).unwrap();
        append(&pod.join("0.log"), &error_line("email_not_found"));
    }
    let config = dir.join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "poll_interval = \"100ms\"\n\n\
             [[input]]\nname = \"pods\"\npaths = [\"{}/*/0.log\"]\nstart_at = \"beginning\"\n\
             path_labels = '/(?P<pod>pod-[0-9]+-x+)/0\\.log$'\nmax_label_sets = {LABEL_SETS}\n",
            pods.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&[
        "--config",
        config.to_str().unwrap(),
        "--web.max-connections",
        "2",
    ]);
    // Over raw TCP: ureq reads at most 10 MB of a body.
    daemon.wait_until("every file read", || {
        scrape(daemon.address)
            .lines()
            .filter(|line| line.starts_with("errtally_lines_total{"))
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>()
            >= LABEL_SETS as f64
    });
    daemon
}

/// The body of a `GET /metrics` on a fresh connection, empty unless a
/// 200 came in full within [`DEADLINE`].
fn scrape(address: SocketAddr) -> String {
    let (response, _) = timed_get_within(address, "/metrics", DEADLINE);
    match split_response(&response) {
        Some((200, body, length)) if body.len() == length => {
            String::from_utf8_lossy(body).into_owned()
        }
        _ => String::new(),
    }
}

/// `GET path` on a fresh connection, read to the end within [`DEADLINE`]:
/// the status (0 if none came) and how long it took from the connect.
fn timed_get(address: SocketAddr, path: &str) -> (u16, Duration) {
    let (response, took) = timed_get_within(address, path, DEADLINE);
    let status = split_response(&response).map_or(0, |(status, ..)| status);
    (status, took)
}

/// `GET path` on a fresh connection, read until closed or `deadline` has
/// passed: the raw response and how long it took from the connect.
fn timed_get_within(address: SocketAddr, path: &str, deadline: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let response = read_until_closed(&mut stream, started + deadline);
    (response, started.elapsed())
}

/// A raw HTTP/1.1 response's status, the part of its body received, and
/// the body's length as its `Content-Length` promised (0 if none); `None`
/// before a whole head has come.
fn split_response(response: &[u8]) -> Option<(u16, &[u8], usize)> {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..head_end]).ok()?;
    let status = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    Some((status, &response[head_end + 4..], length))
}

/// Everything `stream` receives until the peer closes it or `deadline`
/// passes (a reset counts as closed).
fn read_until_closed(stream: &mut TcpStream, deadline: Instant) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return received;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            // A signal for another test's child (SIGCHLD, with a handler
            // installed) interrupts a read that has a timeout set even with
            // SA_RESTART (signal(7)): not the peer closing.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(error) => {
                // Said, so that an early end in a loaded run can be told
                // from a close by the server.
                eprintln!("read ended by {error} ({:?})", error.kind());
                return received;
            }
        }
    }
}

#[test]
fn idle_clients_at_the_cap_are_closed_and_a_waiting_scrape_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = two_slot_daemon(dir.path());
    let mut idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(daemon.address).unwrap())
        .collect();

    let (status, waited) = timed_get(daemon.address, "/metrics");
    eprintln!("scrape behind two idle clients answered after {waited:?}");
    assert_eq!(status, 200, "after {waited:?}; log:\n{}", daemon.log());
    // It waited for the idle clients' timeout (they held both slots), and
    // not much longer.
    assert!(
        waited >= HEAD_TIMEOUT - Duration::from_secs(2),
        "answered after {waited:?}: the idle clients did not hold the slots"
    );
    assert!(
        waited <= HEAD_TIMEOUT + Duration::from_secs(5),
        "{waited:?}"
    );

    // The server closed them; they had sent nothing, so got nothing.
    for stream in &mut idle {
        let deadline = Instant::now() + Duration::from_secs(5);
        assert!(read_until_closed(stream, deadline).is_empty());
        assert!(Instant::now() < deadline, "an idle client is still open");
    }
}

#[test]
fn clients_that_never_read_their_scrapes_at_the_cap_are_dropped_and_a_waiting_scrape_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = two_slot_daemon_with_a_large_scrape(dir.path());
    let full = scrape(daemon.address).len();
    eprintln!("one scrape is {full} bytes");
    assert!(full > 0, "no complete scrape");

    // Two clients ask for /metrics and never read: the server's writes fill
    // the socket buffers and stall, holding both slots.
    let mut hogs: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(daemon.address).unwrap();
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();

    // Hung for good, this would give nothing after the full wait.
    let patience = WRITE_STALL_TIMEOUT + Duration::from_secs(30);
    let (response, waited) = timed_get_within(daemon.address, "/metrics", patience);
    eprintln!("scrape behind two clients that never read answered after {waited:?}");
    let (status, body, length) = split_response(&response)
        .unwrap_or_else(|| panic!("no response after {waited:?}; log:\n{}", daemon.log()));
    assert_eq!(status, 200, "after {waited:?}");
    assert_eq!(body.len(), length, "a cut-off scrape");
    // It waited for the stalled writes' timeout (the clients held both
    // slots), and not much longer: the margin covers two renders and the
    // transfer of a large scrape by a debug build on a shared machine.
    assert!(
        waited >= WRITE_STALL_TIMEOUT - Duration::from_secs(2),
        "answered after {waited:?}: the clients that never read did not hold the slots"
    );
    assert!(
        waited <= WRITE_STALL_TIMEOUT + Duration::from_secs(10),
        "{waited:?}"
    );

    // The server dropped them mid-response: what they can still read ends
    // before the body their Content-Length promised.
    for stream in &mut hogs {
        let deadline = Instant::now() + Duration::from_secs(5);
        let cut = read_until_closed(stream, deadline);
        assert!(
            Instant::now() < deadline,
            "a client that never read is still open"
        );
        let (status, body, length) = split_response(&cut).unwrap();
        assert_eq!(status, 200);
        assert!(body.len() < length, "{} of {length} bytes", body.len());
    }
}
