//! Clients that hold a slot at `--web.max-connections` without doing their
//! part may not keep a waiting client out for longer than the 10 s request
//! head timeout (plus a margin): the waiting client is measured from its
//! connect to its `200`. Covered: clients that connect and send nothing.
//! Not covered: clients that never read their responses, since a scrape of
//! this size (about 25 KB) fits in the kernel's socket buffers, so the
//! server finishes writing and frees the slot whether or not they read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::daemon_support::{DEADLINE, Daemon};

/// The daemon's timeout for a request head, which also closes idle
/// connections.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// A daemon whose two slots the test can fill.
fn two_slot_daemon(dir: &std::path::Path) -> Daemon {
    let glob = format!("{}/*.log", dir.display());
    Daemon::start(&["--web.max-connections", "2", &glob])
}

/// `GET path` on a fresh connection, read to the end within [`DEADLINE`]:
/// the status (0 if none came) and how long it took from the connect.
fn timed_get(address: SocketAddr, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let response = read_until_closed(&mut stream, started + DEADLINE);
    let status = String::from_utf8_lossy(&response)
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed())
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
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return received,
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
