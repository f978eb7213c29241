//! Reads a file on a second thread into a small pool of buffers; the caller
//! frames and scans each in place.
//!
//! [`read_ahead`] overlaps the kernel's copies (`read`) with the caller's
//! work on the previous buffer, which is what makes `errtally scan` and the
//! daemon's catch-up of a large backlog as fast as a bare `grep -c`. It
//! owns the reader thread (scoped: always joined before returning); the
//! caller owns the [`Pool`], `buffers x buffer_bytes` once used, and frees
//! it when its catch-up is over.
//!
//! It does no framing: the caller hands each buffer to its own
//! [`crate::read::frame::LineFramer`], which keeps the line that straddles two
//! buffers. It does not decide when a stream ends for good either: `scan`
//! calls [`crate::read::frame::LineFramer::finish`] at end of input, the daemon
//! never does (a followed file can still grow). No mmap: a file truncated
//! under a mapping raises SIGBUS.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::thread;

/// The buffers a reader thread fills: allocated on first use and kept
/// between calls to [`read_ahead`], so a catch-up spread over many reads
/// (the daemon reads a budget at a time) does not allocate and fault in
/// fresh memory for each; freed by [`Pool::release`] or on drop.
#[derive(Debug)]
pub struct Pool {
    buffers: usize,
    buffer_bytes: usize,
    allocated: Vec<Box<[u8]>>,
}

impl Pool {
    /// Buffers of the default pool: one being filled, one being scanned,
    /// one queued to absorb jitter on either side.
    pub const DEFAULT_BUFFERS: usize = 3;

    /// Size of one buffer of the default pool. Measured on 2 cores (1 GiB
    /// in page cache): 2 MiB buffers scan in 0.19 s, 1 MiB and smaller in
    /// 0.23 s (twice the hand-offs, each a thread wake-up); more depth or
    /// size gains nothing and costs resident memory.
    pub const DEFAULT_BUFFER_BYTES: usize = 2 << 20;

    /// A pool of `buffers` buffers of `buffer_bytes` (at least one byte
    /// each, at least one buffer); allocates nothing yet.
    pub fn new(buffers: usize, buffer_bytes: usize) -> Self {
        Self {
            buffers: buffers.max(1),
            buffer_bytes: buffer_bytes.max(1),
            allocated: Vec::new(),
        }
    }

    /// Frees the buffers; the next [`read_ahead`] allocates them again.
    pub fn release(&mut self) {
        self.allocated = Vec::new();
    }

    /// Bytes held now.
    pub fn allocated_bytes(&self) -> usize {
        self.allocated.len() * self.buffer_bytes
    }
}

impl Default for Pool {
    fn default() -> Self {
        Self::new(Self::DEFAULT_BUFFERS, Self::DEFAULT_BUFFER_BYTES)
    }
}

/// Which thread counts each buffer's newlines, right after its copy while
/// the bytes are still in cache: the less busy one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewlineCounter {
    /// The reader thread, when it only copies (a plain file or a pipe):
    /// that takes a quarter of the line-scanning work off the caller.
    Reader,
    /// The calling thread, when the reader is the busier of the two (it
    /// decompresses): counting there took 8% off the reader's CPU time on
    /// a zstd archive (`perf record`, samples per thread), and the reader
    /// sets the pace.
    Caller,
}

/// A pool buffer, how many of its bytes were read and how many newlines
/// they hold (`None`: the caller counts them), or the read error that
/// ended the input.
type Filled<'a> = io::Result<(&'a mut [u8], usize, Option<u64>)>;

/// Reads `reader` to its end on a second thread, handing each filled
/// buffer, in stream order, to `on_buffer` on the calling thread, with the
/// number of newlines in it, counted by the thread `counter` names.
///
/// Returns the bytes handed to `on_buffer`. When `on_buffer` breaks, no
/// further buffer is handed out and the reader stops after its current
/// read; it may have read up to a pool's worth of bytes more than were
/// handed out, so a caller that breaks must not rely on the reader's
/// position (a file tailer seeks back to what it framed). A read error is
/// returned after every byte read before it was handed out. Buffers are
/// full except the last.
pub fn read_ahead(
    reader: impl Read + Send,
    pool: &mut Pool,
    counter: NewlineCounter,
    mut on_buffer: impl FnMut(&[u8], u64) -> ControlFlow<()>,
) -> io::Result<u64> {
    let (buffers, buffer_bytes) = (pool.buffers, pool.buffer_bytes);
    pool.allocated
        .resize_with(buffers, || vec![0; buffer_bytes].into_boxed_slice());
    // The buffers circulate as borrows that end with the scope, so they
    // are back in the pool however the reading ends. At most `buffers`
    // are in flight, so returning one never blocks.
    let (filled_tx, filled_rx) = mpsc::sync_channel::<Filled<'_>>(buffers);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<&mut [u8]>(buffers);
    for buf in &mut pool.allocated {
        let _ = empty_tx.send(&mut buf[..]);
    }
    thread::scope(move |scope| {
        thread::Builder::new()
            .name("errtally-read".into())
            .spawn_scoped(scope, move || {
                fill_buffers(reader, counter, &empty_rx, &filled_tx);
            })?;
        // Both channel ends are moved in and dropped on return, so an early
        // return (a read error, a break) also stops the reader before the
        // scope joins it.
        let mut handed_out = 0u64;
        // Ends when the reader hangs up: at end of input.
        for filled in filled_rx {
            let (buf, len, newlines) = filled?;
            let newlines = newlines.unwrap_or_else(|| count_newlines(&buf[..len]));
            handed_out += len as u64;
            if on_buffer(&buf[..len], newlines).is_break() {
                break;
            }
            // Fails only once the reader has stopped, when it needs no buffers.
            let _ = empty_tx.send(buf);
        }
        Ok(handed_out)
    })
}

/// The reader thread: fills pool buffers until end of input, a read error,
/// or the caller hanging up.
fn fill_buffers<'a>(
    mut reader: impl Read,
    counter: NewlineCounter,
    empty_rx: &mpsc::Receiver<&'a mut [u8]>,
    filled_tx: &mpsc::SyncSender<Filled<'a>>,
) {
    // Ends when the caller hangs up.
    while let Ok(buf) = empty_rx.recv() {
        let mut len = 0;
        let mut end = None;
        while len < buf.len() {
            match reader.read(&mut buf[len..]) {
                Ok(0) => {
                    end = Some(Ok(()));
                    break;
                }
                Ok(read) => len += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    end = Some(Err(error));
                    break;
                }
            }
        }
        let newlines = (counter == NewlineCounter::Reader).then(|| count_newlines(&buf[..len]));
        if len > 0 && filled_tx.send(Ok((buf, len, newlines))).is_err() {
            return;
        }
        match end {
            None => {}
            Some(Ok(())) => return,
            Some(Err(error)) => {
                // Nobody left to tell if the caller has gone.
                let _ = filled_tx.send(Err(error));
                return;
            }
        }
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    fn numbered(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    /// Everything handed out, concatenated, and the sizes of the buffers.
    fn collect(
        reader: impl Read + Send,
        mut pool: Pool,
        counter: NewlineCounter,
    ) -> (io::Result<u64>, Vec<u8>, Vec<usize>) {
        let mut out = Vec::new();
        let mut sizes = Vec::new();
        let result = read_ahead(reader, &mut pool, counter, |buf, newlines| {
            assert_eq!(newlines, memchr::memchr_iter(b'\n', buf).count() as u64);
            out.extend_from_slice(buf);
            sizes.push(buf.len());
            ControlFlow::Continue(())
        });
        (result, out, sizes)
    }

    #[test]
    fn hands_out_every_byte_in_order_in_full_buffers_and_counts_their_newlines() {
        let input = numbered(100_000);
        let shapes = [(1, 1), (1, 61), (2, 4096), (3, 65_536), (3, 1 << 20)];
        for ((buffers, buffer_bytes), counter) in shapes.into_iter().flat_map(|shape| {
            [
                (shape, NewlineCounter::Reader),
                (shape, NewlineCounter::Caller),
            ]
        }) {
            let shape = format!("{buffers} x {buffer_bytes}, {counter:?}");
            let (result, out, sizes) =
                collect(&input[..], Pool::new(buffers, buffer_bytes), counter);
            assert_eq!(result.unwrap(), input.len() as u64, "{shape}");
            assert_eq!(out, input, "{shape}");
            let (last, full) = sizes.split_last().unwrap();
            assert!(full.iter().all(|&size| size == buffer_bytes), "{shape}");
            assert!(*last <= buffer_bytes);
        }
    }

    #[test]
    fn empty_input_hands_out_nothing() {
        let (result, out, sizes) = collect(&b""[..], Pool::default(), NewlineCounter::Reader);
        assert_eq!(result.unwrap(), 0);
        assert!(out.is_empty() && sizes.is_empty());
    }

    #[test]
    fn zero_sized_pool_still_reads() {
        let (result, out, _) = collect(&b"abc"[..], Pool::new(0, 0), NewlineCounter::Caller);
        assert_eq!(result.unwrap(), 3);
        assert_eq!(out, b"abc");
    }

    #[test]
    fn a_break_stops_after_that_buffer() {
        let input = numbered(10_000);
        let mut pool = Pool::new(2, 100);
        let mut calls = 0;
        let result = read_ahead(&input[..], &mut pool, NewlineCounter::Reader, |_, _| {
            calls += 1;
            if calls == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(result.unwrap(), 300);
        assert_eq!(calls, 3);
        assert_eq!(pool.allocated_bytes(), 200);
    }

    #[test]
    fn the_pool_is_kept_between_reads_until_released() {
        let mut pool = Pool::new(2, 64);
        assert_eq!(pool.allocated_bytes(), 0);
        let first = pool_addresses(&mut pool);
        assert_eq!(pool.allocated_bytes(), 128);
        assert_eq!(pool_addresses(&mut pool), first);
        pool.release();
        assert_eq!(pool.allocated_bytes(), 0);
    }

    /// Where the buffers handed out by one read of 1000 bytes live.
    fn pool_addresses(pool: &mut Pool) -> Vec<usize> {
        let input = numbered(1000);
        let mut addresses = Vec::new();
        read_ahead(&input[..], pool, NewlineCounter::Caller, |buf, _| {
            addresses.push(buf.as_ptr() as usize);
            ControlFlow::Continue(())
        })
        .unwrap();
        addresses.sort_unstable();
        addresses.dedup();
        addresses
    }

    /// Hands out its bytes a few at a time, then fails (shared with the
    /// batch tests, which read through the same pool).
    pub(crate) struct FailingReader {
        pub(crate) data: &'static [u8],
    }

    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.data.is_empty() {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.data.len()).min(5);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_comes_after_the_bytes_before_it() {
        for buffer_bytes in [3, 8, 1 << 20] {
            let reader = FailingReader {
                data: b"0123456789abcdefghijklmnopq",
            };
            let (result, out, _) =
                collect(reader, Pool::new(2, buffer_bytes), NewlineCounter::Reader);
            assert_eq!(result.unwrap_err().to_string(), "disk on fire");
            assert_eq!(
                out, b"0123456789abcdefghijklmnopq",
                "buffer_bytes={buffer_bytes}"
            );
        }
    }
}
