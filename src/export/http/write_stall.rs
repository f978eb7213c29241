//! A bound on how long one connection's writes may make no progress.
//!
//! hyper times out a request head that does not arrive, but not a response
//! that cannot leave: a client that asks for `/metrics` and never reads
//! holds its connection, and its slot under `--web.max-connections`, for
//! good once a scrape larger than the socket buffers has filled them.
//! [`StallGuard`] wraps the connection's socket and fails a write, flush or
//! shutdown with [`TimedOut`](std::io::ErrorKind::TimedOut) once the socket
//! has taken nothing for [`WRITE_STALL_TIMEOUT`]; hyper then ends the
//! connection and the slot is free.
//!
//! It bounds a stall, not a response: a slow reader that keeps taking bytes
//! is served however long its scrape takes. Reads pass through untouched
//! (their timeouts are hyper's and the handshake's).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Longest a connection's writes may make no progress, as long as a client
/// gets to send a request head.
pub(crate) const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A socket whose writes fail once they have made no progress for a while.
pub(crate) struct StallGuard<S> {
    inner: S,
    timeout: Duration,
    /// When the current stall times out; kept between stalls so that a
    /// stall costs no allocation.
    deadline: Pin<Box<Sleep>>,
    /// Whether a write is stalled now, i.e. `deadline` is running.
    stalled: bool,
}

impl<S> StallGuard<S> {
    /// Wraps `inner`, failing its writes after `timeout` without progress.
    pub(crate) fn new(inner: S, timeout: Duration) -> Self {
        StallGuard {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            stalled: false,
        }
    }

    /// Passes a ready outcome on and ends any stall; while the socket is
    /// not ready, starts the stall's clock or, once it has run out, fails.
    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = false;
            return polled;
        }
        if !self.stalled {
            self.stalled = true;
            self.deadline.as_mut().reset(Instant::now() + self.timeout);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the peer took nothing written for {:?}", self.timeout),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.guard(cx, polled)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// A guarded end of a pipe that buffers `capacity` bytes, and the peer.
    fn pipe(capacity: usize) -> (StallGuard<DuplexStream>, DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(capacity);
        (StallGuard::new(ours, TIMEOUT), theirs)
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_fails_after_the_timeout() {
        let (mut guarded, _peer) = pipe(64);
        let started = Instant::now();
        let error = guarded.write_all(&[b'x'; 1000]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        // Paused time jumps straight to the deadline: exactly one timeout
        // after the first write that did not fit.
        assert_eq!(started.elapsed(), TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_keeps_taking_bytes_is_served_past_the_timeout() {
        let (mut guarded, mut peer) = pipe(64);
        let reader = tokio::spawn(async move {
            let mut taken = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                // Slower than the timeout in all, never stalled that long.
                tokio::time::sleep(TIMEOUT * 9 / 10).await;
                match peer.read(&mut buf).await.unwrap() {
                    0 => return taken,
                    n => taken.extend_from_slice(&buf[..n]),
                }
            }
        });
        let started = Instant::now();
        let body: Vec<u8> = (0..640u32).map(|i| (i % 251) as u8).collect();
        guarded.write_all(&body).await.unwrap();
        guarded.shutdown().await.unwrap();
        // Ten chunks of 64 bytes: the first fits at once, the last once
        // the peer's ninth read (one every 9 s) has made room: 81 s.
        assert_eq!(started.elapsed(), TIMEOUT * 9 / 10 * 9);
        drop(guarded);
        assert_eq!(reader.await.unwrap(), body);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_is_timed_from_the_last_progress_not_from_the_first_stall() {
        let (mut guarded, mut peer) = pipe(64);
        let started = Instant::now();
        let writer = tokio::spawn(async move {
            let error = guarded.write_all(&[b'x'; 1000]).await.unwrap_err();
            (error.kind(), started.elapsed())
        });
        // The peer takes 64 bytes 6 s in, then nothing more: the write
        // fails 10 s after that, not 10 s after it first stalled.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let mut buf = [0u8; 64];
        assert_eq!(peer.read(&mut buf).await.unwrap(), 64);
        let (kind, failed_after) = writer.await.unwrap();
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert_eq!(failed_after, Duration::from_secs(6) + TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_pass_through_and_are_never_timed_out() {
        let (mut guarded, mut peer) = pipe(64);
        let reading = tokio::spawn(async move {
            let mut buf = [0u8; 5];
            guarded.read_exact(&mut buf).await.unwrap();
            buf
        });
        // Three timeouts of silence, then the bytes.
        tokio::time::sleep(TIMEOUT * 3).await;
        peer.write_all(b"hello").await.unwrap();
        assert_eq!(&reading.await.unwrap(), b"hello");
    }
}
