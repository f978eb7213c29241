//! Reading: bytes in, counted records out. The one read loop that `scan`,
//! the stdin input and the file tailer share.
//!
//! A [`LineReader`] owns one stream's [`LineFramer`] and runs the data flow
//! read -> frame -> scan -> tally on each buffer: [`LineReader::read_once`]
//! with a plain `read` into a buffer the caller lends (the steady state of a
//! followed file, stdin, small files), [`LineReader::read_ahead`] with a
//! reader thread filling a pool ([`ahead`]), for a large file or backlog.
//! Both count the same records the same way, so a stream can switch between
//! them at any buffer: a line counts when its newline is read (the reader
//! thread counts newlines while the bytes are hot), and an unfinished last
//! line only when the caller says the stream has ended
//! ([`LineReader::finish`]; a followed file never does).
//!
//! Between framing and scanning, an [`Assembler`] puts the parts of a line
//! that a container runtime split (Docker json-file, CRI `P`/`F`) back into
//! one record ([`split`]). `lines` counts physical lines (what `wc -l`
//! says); a group's lines are counted when the group is, and the offset a
//! checkpoint stores never passes the first part of an unfinished group.
//!
//! It also keeps the last 64 bytes it read, raw
//! ([`LineReader::recent_bytes`]): a followed file that no longer holds
//! them where they were read was truncated and written again.
//!
//! Its sources are plain `Read`ers: a file or stdin, one range of a file
//! cut at line boundaries ([`range`], so that `scan` counts a large file on
//! several threads, each range with its own `LineReader`) and a gzip or
//! zstd decoder ([`decompress`]).
//!
//! What it does not do: decide when to read, how much, or where counts go.
//! Those belong to the callers (a budget and a stop flag for the tailer,
//! rebinding for stdin, a progress bar for `scan`).

pub mod ahead;
pub mod decompress;
pub mod frame;
pub mod range;
pub mod split;

use std::io::{self, Read};
use std::ops::ControlFlow;

use crate::scan::{Scanner, Tally};
use ahead::{NewlineCounter, Pool};
use frame::{Chunk, LineFramer};
use split::Assembler;

/// Size of one plain read.
pub const READ_SIZE: usize = 1 << 20;

/// How many of the last bytes read a [`LineReader`] keeps
/// ([`LineReader::recent_bytes`]).
pub const RECENT_BYTES: usize = 64;

/// The last bytes of a stream read so far (at most [`RECENT_BYTES`]), raw:
/// a follower compares them with what its file holds there before reading
/// on, which tells a file truncated and written past that point again from
/// one that only grew, without reading them back after every read.
#[derive(Debug, Clone)]
struct RecentBytes {
    bytes: [u8; RECENT_BYTES],
    len: usize,
}

impl Default for RecentBytes {
    fn default() -> Self {
        Self {
            bytes: [0; RECENT_BYTES],
            len: 0,
        }
    }
}

impl RecentBytes {
    /// Takes in the next bytes of the stream: one copy of at most
    /// [`RECENT_BYTES`], whatever their length.
    fn push(&mut self, buf: &[u8]) {
        if buf.len() >= RECENT_BYTES {
            self.bytes.copy_from_slice(&buf[buf.len() - RECENT_BYTES..]);
            self.len = RECENT_BYTES;
        } else {
            let keep = self.len.min(RECENT_BYTES - buf.len());
            self.bytes.copy_within(self.len - keep..self.len, 0);
            self.bytes[keep..keep + buf.len()].copy_from_slice(buf);
            self.len = keep + buf.len();
        }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// One stream's framing state, and the read loop around it.
#[derive(Debug)]
pub struct LineReader {
    framer: LineFramer,
    assembler: Assembler,
    /// Whether the last byte read was a newline (or nothing was read): at
    /// the end of input, an unfinished last line is one more record.
    ends_in_newline: bool,
    /// The bytes just before [`LineReader::read_to`].
    recent: RecentBytes,
}

impl LineReader {
    /// A reader at the start of a stream, with records of at most
    /// `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        Self::starting_at(max_line_bytes, 0)
    }

    /// A reader resuming a stream at `offset` (the start of a line).
    pub fn starting_at(max_line_bytes: usize, offset: u64) -> Self {
        Self {
            framer: LineFramer::starting_at(max_line_bytes, offset),
            assembler: Assembler::new(max_line_bytes.max(1)),
            ends_in_newline: true,
            recent: RecentBytes::default(),
        }
    }

    /// A reader resuming a stream at `offset` inside an over-long line
    /// whose head an earlier reader counted: the rest of that line is
    /// skipped, its newline counted as the line's.
    pub fn skipping_from(max_line_bytes: usize, offset: u64) -> Self {
        Self {
            framer: LineFramer::skipping_from(max_line_bytes, offset),
            assembler: Assembler::new(max_line_bytes.max(1)),
            ends_in_newline: false,
            recent: RecentBytes::default(),
        }
    }

    /// The last bytes read, just before [`LineReader::read_to`]: at most
    /// [`RECENT_BYTES`], fewer near the start of the stream, none in a
    /// reader resumed at an offset until it reads or is told them
    /// ([`LineReader::note_preceding`]). A followed file that no longer
    /// holds them there was truncated and written again, whatever its size.
    pub fn recent_bytes(&self) -> &[u8] {
        self.recent.as_slice()
    }

    /// Tells a reader resumed at an offset the bytes of the stream just
    /// before it (read by the caller), as if it had read them.
    pub fn note_preceding(&mut self, bytes: &[u8]) {
        self.recent.push(bytes);
    }

    /// True while the rest of an over-long line is being skipped (see
    /// [`LineFramer::is_skipping`]) and [`LineReader::offset`] is inside
    /// it: not while a split record is open, whose first part is the
    /// offset (nothing of the group is counted before its last part, so a
    /// reader resuming there reads it all again).
    pub fn is_skipping(&self) -> bool {
        self.framer.is_skipping() && self.assembler.group_start().is_none()
    }

    /// One plain `read` into `buf`, counted into `tally`. Returns the bytes
    /// read: 0 at end of input. Interrupted reads are retried.
    pub fn read_once(
        &mut self,
        reader: &mut impl Read,
        buf: &mut [u8],
        scanner: &mut Scanner,
        tally: &mut Tally,
    ) -> io::Result<usize> {
        let read = read_retrying(reader, buf)?;
        self.count(&buf[..read], scanner, tally);
        Ok(read)
    }

    /// Counts the next bytes of the stream, read by the caller.
    pub fn count(&mut self, buf: &[u8], scanner: &mut Scanner, tally: &mut Tally) {
        let newlines = memchr::memchr_iter(b'\n', buf).count() as u64;
        self.count_framed(buf, newlines, scanner, tally);
    }

    /// Frames the next bytes of the stream but counts them nowhere: a
    /// stream nobody counts (stdin after a reload removed its input) keeps
    /// its line boundaries for a later reader.
    pub fn skip(&mut self, buf: &[u8]) {
        self.framer.frame(buf, |_| {});
        self.assembler.forget();
        self.note_last_byte(buf);
        self.recent.push(buf);
    }

    /// Reads `reader` to its end (or until `after_buffer` breaks) on a
    /// second thread into `pool`, counting each buffer into `tally` and
    /// then calling `after_buffer` with its length. Returns the bytes
    /// counted.
    ///
    /// After a break or an error the reader thread may have read past what
    /// was counted: a caller that goes on reading the same descriptor seeks
    /// to [`LineReader::read_to`] first.
    pub fn read_ahead(
        &mut self,
        reader: impl Read + Send,
        pool: &mut Pool,
        counter: NewlineCounter,
        scanner: &mut Scanner,
        tally: &mut Tally,
        mut after_buffer: impl FnMut(&mut Tally, usize) -> ControlFlow<()>,
    ) -> io::Result<u64> {
        ahead::read_ahead(reader, pool, counter, |buf, newlines| {
            self.count_framed(buf, newlines, scanner, tally);
            after_buffer(tally, buf.len())
        })
    }

    /// The end of the input: counts an unfinished last line as a record.
    pub fn finish(&mut self, scanner: &mut Scanner, tally: &mut Tally) {
        if !self.ends_in_newline {
            tally.lines += 1;
            self.ends_in_newline = true;
        }
        tally.lines += self.assembler.held_lines();
        let start = self.framer.offset();
        if let Some(last) = self.framer.finish() {
            if self.assembler.is_plain() {
                tally.set_offset(start);
                scanner.find_record_error(last, tally);
            } else {
                self.assembler.last_line(last, start, scanner, tally);
            }
        }
        self.assembler.finish(scanner, tally);
    }

    /// Offset just past the last record counted: where a restarted reader
    /// continues without counting a record twice. An unfinished split
    /// record holds it at its first part, so a restart reads every part.
    pub fn offset(&self) -> u64 {
        self.assembler
            .group_start()
            .unwrap_or_else(|| self.framer.offset())
    }

    /// How far the stream has been read: [`LineReader::offset`] plus the
    /// unfinished line held for the next read.
    pub fn read_to(&self) -> u64 {
        self.framer.offset() + self.framer.pending_bytes() as u64
    }

    /// Starts over at offset 0 (the file was truncated): the held partial
    /// line is dropped.
    pub fn restart(&mut self) {
        *self = Self::new(self.framer.max_line_bytes());
    }

    fn count_framed(
        &mut self,
        buf: &[u8],
        newlines: u64,
        scanner: &mut Scanner,
        tally: &mut Tally,
    ) {
        if self.assembler.is_plain() {
            // Where the next chunk starts, for the records' offsets.
            let mut at = self.framer.offset();
            self.framer.frame(buf, |chunk| match chunk {
                Chunk::Lines(lines) => {
                    tally.set_offset(at);
                    scanner.find_errors_in_lines(lines, tally);
                    at += lines.len() as u64;
                }
                Chunk::Truncated(head) => {
                    tally.truncated_lines += 1;
                    tally.set_offset(at);
                    scanner.find_record_error(head, tally);
                }
                Chunk::TruncatedEnd { next_line_at, .. } => at = next_line_at,
            });
            tally.lines += newlines;
        } else {
            // The lines of an open group count when the group does.
            let held = self.assembler.held_lines();
            let assembler = &mut self.assembler;
            let mut at = self.framer.offset();
            self.framer.frame(buf, |chunk| match chunk {
                Chunk::Lines(lines) => {
                    assembler.lines(lines, at, scanner, tally);
                    at += lines.len() as u64;
                }
                Chunk::Truncated(head) => assembler.truncated_head(head, at, scanner, tally),
                Chunk::TruncatedEnd { tail, next_line_at } => {
                    assembler.truncated_end(tail, scanner, tally);
                    at = next_line_at;
                }
            });
            tally.lines += newlines + held - self.assembler.held_lines();
        }
        tally.bytes += buf.len() as u64;
        self.note_last_byte(buf);
        self.recent.push(buf);
    }

    fn note_last_byte(&mut self, buf: &[u8]) {
        if let Some(&last) = buf.last() {
            self.ends_in_newline = last == b'\n';
        }
    }
}

/// `read`, retried while interrupted by a signal.
fn read_retrying(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;

    /// Lines of every kind a reader must count the same way whichever path
    /// reads them: errors, plain lines, an over-long line, an unfinished one.
    fn stream(max_line_bytes: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for i in 0..500 {
            match i % 5 {
                0 => bytes.extend_from_slice(
                    b"{\"status_code\":404,\"error_type\":\"session_not_found\"}\n",
                ),
                1 => bytes.extend_from_slice(b"{\"error_type\":\"not_in_catalogue\"}\n"),
                2 => {
                    bytes.extend_from_slice(b"{\"error_type\":\"email_not_found\",\"pad\":\"");
                    bytes.extend(std::iter::repeat_n(b'x', max_line_bytes));
                    bytes.extend_from_slice(b"\"}\n");
                }
                _ => bytes.extend_from_slice(b"{\"level\":\"info\"}\n"),
            }
        }
        bytes.extend_from_slice(b"{\"error_type\":\"organization_not_found\"}");
        bytes
    }

    /// Counts `input` through the read loop with plain reads of `buf_len`.
    pub(crate) fn plain(input: &[u8], buf_len: usize, max_line_bytes: usize) -> Tally {
        let types = Catalog::builtin().unwrap().len();
        plain_into(input, buf_len, max_line_bytes, Tally::new(types))
    }

    /// The same, counted into `tally` (which may keep names or times).
    pub(crate) fn plain_into(
        input: &[u8],
        buf_len: usize,
        max_line_bytes: usize,
        mut tally: Tally,
    ) -> Tally {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let mut reader = LineReader::new(max_line_bytes);
        let mut buf = vec![0; buf_len];
        let mut source = input;
        while reader
            .read_once(&mut source, &mut buf, &mut scanner, &mut tally)
            .unwrap()
            > 0
        {}
        reader.finish(&mut scanner, &mut tally);
        tally
    }

    /// The tally of a read-ahead, the same whichever thread counts newlines.
    pub(crate) fn pooled(input: &[u8], buffer_bytes: usize, max_line_bytes: usize) -> Tally {
        let types = Catalog::builtin().unwrap().len();
        pooled_into(input, buffer_bytes, max_line_bytes, &Tally::new(types))
    }

    /// The same, counted into copies of `template`.
    pub(crate) fn pooled_into(
        input: &[u8],
        buffer_bytes: usize,
        max_line_bytes: usize,
        template: &Tally,
    ) -> Tally {
        let tallies = [NewlineCounter::Reader, NewlineCounter::Caller].map(|counter| {
            let catalog = Arc::new(Catalog::builtin().unwrap());
            let mut scanner = Scanner::new(Arc::clone(&catalog));
            let mut tally = template.empty_like();
            let mut reader = LineReader::new(max_line_bytes);
            let mut pool = Pool::new(3, buffer_bytes);
            reader
                .read_ahead(
                    input,
                    &mut pool,
                    counter,
                    &mut scanner,
                    &mut tally,
                    |_, _| ControlFlow::Continue(()),
                )
                .unwrap();
            reader.finish(&mut scanner, &mut tally);
            tally
        });
        let [by_reader, by_caller] = tallies;
        assert_eq!(by_reader, by_caller);
        by_reader
    }

    #[test]
    fn plain_and_read_ahead_count_the_same_records_at_any_buffer_size() {
        let max_line_bytes = 200;
        let input = stream(max_line_bytes);
        let catalog = Catalog::builtin().unwrap();
        let session = catalog.index_of(b"session_not_found").unwrap();
        let email = catalog.index_of(b"email_not_found").unwrap();
        let organization = catalog.index_of(b"organization_not_found").unwrap();
        for buf_len in [1, 7, 64, 199, 200, 201, 4096, 1 << 20] {
            for tally in [
                plain(&input, buf_len, max_line_bytes),
                pooled(&input, buf_len, max_line_bytes),
            ] {
                assert_eq!(tally.lines, 501, "buffer {buf_len}");
                assert_eq!(tally.bytes, input.len() as u64);
                assert_eq!(tally.truncated_lines, 100);
                assert_eq!(tally.errors[session], 100);
                assert_eq!(tally.errors[email], 100);
                assert_eq!(tally.errors[organization], 1);
                assert_eq!(tally.uncatalogued.iter().sum::<u64>(), 100);
            }
        }
    }

    #[test]
    fn the_recent_bytes_are_the_last_read_at_any_buffer_size() {
        let input = stream(100);
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        for buf_len in [1, 7, 63, 64, 65, 199, 4096] {
            let mut tally = Tally::new(catalog.len());
            let mut reader = LineReader::new(100);
            let mut read = 0;
            for chunk in input.chunks(buf_len) {
                reader.count(chunk, &mut scanner, &mut tally);
                read += chunk.len();
                let want = &input[read.saturating_sub(RECENT_BYTES)..read];
                assert_eq!(reader.recent_bytes(), want, "buffer {buf_len} at {read}");
                assert_eq!(reader.read_to(), read as u64);
            }
        }
        // A resumed reader knows what it is told, then what it reads.
        let mut reader = LineReader::starting_at(100, 10);
        assert_eq!(reader.recent_bytes(), b"");
        reader.note_preceding(b"0123456789");
        reader.skip(b"ab\n");
        assert_eq!(reader.recent_bytes(), b"0123456789ab\n");
        reader.restart();
        assert_eq!(reader.recent_bytes(), b"");
    }

    #[test]
    fn an_unfinished_over_long_last_line_is_one_record() {
        let mut input = b"{\"error_type\":\"email_not_found\"}\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 500));
        for buf_len in [3, 100, 4096] {
            assert_eq!(plain(&input, buf_len, 100).lines, 2);
            assert_eq!(pooled(&input, buf_len, 100).lines, 2);
        }
    }

    #[test]
    fn a_line_begun_in_skipped_bytes_counts_with_the_bytes_that_end_it() {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let mut tally = Tally::new(catalog.len());
        let mut reader = LineReader::new(1024);
        let input = b"{\"error_type\":\"email_not_fo";
        let rest = b"und\"}\n{\"error_type\":\"session_not_found\"}\n";
        reader.skip(input);
        reader.count(rest, &mut scanner, &mut tally);
        let email = catalog.index_of(b"email_not_found").unwrap();
        let session = catalog.index_of(b"session_not_found").unwrap();
        // A line counts when its newline is read, like any line split
        // between two reads.
        assert_eq!(tally.errors[email], 1);
        assert_eq!(tally.errors[session], 1);
        assert_eq!(tally.lines, 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Counting framed in any buffer sizes equals scanning each record
        /// on its own, with lines over the maximum cut to their head.
        #[test]
        fn counting_in_any_buffers_equals_one_record_at_a_time(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    &b"{\"status_code\":404,\"error_type\":\"session_not_found\"}"[..],
                    b"\\\"error_type\\\":\\\"email_not_found\\\"",
                    b"error_type='member_not_found'",
                    b"{\"error_type\":\"not_catalogued\"}",
                    b"\n",
                    b"\n\n",
                    b"xxxxxxxxxxxxxxxxxxxx",
                    b"\xff\xfe",
                ]),
                0..40,
            ),
            max_line in 1usize..120,
            sizes in proptest::collection::vec(1usize..50, 1..8),
        ) {
            let data: Vec<u8> = pieces.concat();
            let catalog = Arc::new(Catalog::builtin().unwrap());
            let mut scanner = Scanner::new(Arc::clone(&catalog));
            let mut counted = Tally::new(catalog.len());
            let mut reader = LineReader::new(max_line);
            let mut rest = &data[..];
            let mut sizes = sizes.iter().cycle();
            while !rest.is_empty() {
                let n = sizes.next().copied().unwrap_or(1).min(rest.len());
                reader.count(&rest[..n], &mut scanner, &mut counted);
                rest = &rest[n..];
            }
            reader.finish(&mut scanner, &mut counted);

            let mut records = Tally::new(catalog.len());
            records.bytes = data.len() as u64;
            if !data.is_empty() {
                let body = data.strip_suffix(b"\n").unwrap_or(&data);
                for line in body.split(|&b| b == b'\n') {
                    let record = if line.len() > max_line {
                        records.truncated_lines += 1;
                        &line[..max_line]
                    } else {
                        line
                    };
                    Scanner::new(Arc::clone(&catalog)).scan_record(record, &mut records);
                }
            }
            proptest::prop_assert_eq!(counted, records);
        }
    }
}
