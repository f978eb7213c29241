//! Warnings for refused TLS handshakes, a few lines a minute per reason.
//!
//! A client certificate from an unknown CA, an expired one, an X.509 v1
//! one (rustls and webpki take only v3), or none where one is required:
//! each is refused during the handshake, and without a line at the default
//! level the operator sees only the client's "certificate unknown". So the
//! server logs each refusal at `warn` with rustls's reason and the peer.
//! A client retrying in a loop, or a scanner, must not fill the log, so
//! each reason gets [`LINES_PER_WINDOW`] lines per [`WINDOW`]; the first
//! line of the next window says how many were left out.
//!
//! Deliberately not here: handshakes that end without a TLS error (a
//! client that hangs up or times out), which stay at `debug`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Lines logged per reason per window.
pub(crate) const LINES_PER_WINDOW: u32 = 3;

/// How long a window lasts.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// Reasons tracked at once; a peer cannot make rustls produce many kinds of
/// error, but the map stays bounded whatever it sends.
const MAX_REASONS: usize = 64;

/// Per reason, what was logged in the current window.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    reasons: Mutex<HashMap<String, Window>>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    left_out: u64,
}

impl RefusalLog {
    /// Logs a handshake that rustls refused with `error`, unless this
    /// reason has had its lines this window.
    pub(crate) fn refused(&self, peer: SocketAddr, error: &rustls::Error) {
        match self.admit(&reason_kind(error), Instant::now()) {
            Some(left_out) => {
                tracing::warn!(%peer, reason = %error, left_out, "tls handshake refused");
            }
            None => tracing::debug!(%peer, reason = %error, "tls handshake refused"),
        }
    }

    /// Whether a line for `reason` may be logged at `now`, and if so how
    /// many were left out since the last one.
    fn admit(&self, reason: &str, now: Instant) -> Option<u64> {
        let mut reasons = self.reasons.lock().unwrap_or_else(PoisonError::into_inner);
        if !reasons.contains_key(reason) && reasons.len() >= MAX_REASONS {
            reasons.retain(|_, window| now.duration_since(window.started) < WINDOW);
        }
        let reason = if reasons.contains_key(reason) || reasons.len() < MAX_REASONS {
            reason
        } else {
            "other"
        };
        let window = reasons.entry(reason.to_string()).or_insert(Window {
            started: now,
            logged: 0,
            left_out: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            window.started = now;
            window.logged = 0;
        }
        if window.logged < LINES_PER_WINDOW {
            window.logged += 1;
            Some(std::mem::take(&mut window.left_out))
        } else {
            window.left_out += 1;
            None
        }
    }
}

/// The kind of `error` without its details (an expiry's times, say), so
/// that one reason shares one allowance.
fn reason_kind(error: &rustls::Error) -> String {
    let debug = format!("{error:?}");
    match debug.find(" {") {
        Some(end) => debug[..end].to_string(),
        None => debug,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use rustls::CertificateError;

    use super::*;

    #[test]
    fn each_reason_gets_a_few_lines_a_window_and_then_says_how_many_were_left_out() {
        let log = RefusalLog::default();
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let admitted: Vec<Option<u64>> = (0..5).map(|i| log.admit("expired", at(i))).collect();
        assert_eq!(admitted, vec![Some(0), Some(0), Some(0), None, None]);
        // Another reason has its own allowance.
        assert_eq!(log.admit("unknown issuer", at(5)), Some(0));
        assert_eq!(log.admit("expired", at(59)), None);
        // A minute after the window opened, a new one opens and its first
        // line counts the three left out.
        assert_eq!(log.admit("expired", at(60)), Some(3));
        assert_eq!(log.admit("expired", at(61)), Some(0));
        assert_eq!(log.admit("expired", at(62)), Some(0));
        assert_eq!(log.admit("expired", at(63)), None);
        assert_eq!(log.admit("unknown issuer", at(64)), Some(0));
    }

    #[test]
    fn reasons_are_bounded_and_expired_ones_make_room() {
        let log = RefusalLog::default();
        let start = Instant::now();
        for i in 0..MAX_REASONS {
            assert_eq!(log.admit(&format!("r{i}"), start), Some(0));
        }
        for _ in 0..LINES_PER_WINDOW {
            assert_eq!(log.admit("new", start), Some(0));
        }
        assert_eq!(
            log.admit("another", start),
            None,
            "past the cap, one allowance"
        );
        assert_eq!(log.reasons.lock().unwrap().len(), MAX_REASONS + 1);
        assert_eq!(log.admit("later", start + WINDOW), Some(0));
        assert_eq!(log.reasons.lock().unwrap().len(), 1);
    }

    #[test]
    fn details_do_not_split_a_reason() {
        let expired = |seconds: u64| {
            rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                time: rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(seconds)),
                not_after: rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(1)),
            })
        };
        assert_eq!(reason_kind(&expired(5)), reason_kind(&expired(6)));
        assert_ne!(
            reason_kind(&expired(5)),
            reason_kind(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        );
        assert_ne!(
            reason_kind(&rustls::Error::NoCertificatesPresented),
            reason_kind(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        );
    }
}
