//! Line framing: raw bytes in, complete records out.
//!
//! [`LineFramer`] owns one fixed-size buffer. Callers read into its spare
//! space, then take [`Chunk`]s: runs of complete lines (each ending in `\n`),
//! or the head of a line longer than the maximum. The unfinished last line
//! stays in the buffer for the next read, and the framer tracks the absolute
//! byte offset of the end of the last line handed out, which is what a
//! checkpoint stores.
//!
//! Memory is bounded: the buffer never grows, so an endless line costs
//! `max_line_bytes + read_size` bytes, not its length. The framer does no I/O
//! and never fails, so the same code serves `scan` (blocking reads) and the
//! daemon (async reads).
//!
//! [`SliceFramer`] frames the same records out of buffers it does not own
//! (a pool filled by a reader thread), in place: only a line that straddles
//! two buffers is copied, into a carry of at most `max_line_bytes + 1` bytes.

/// Default maximum record length: longer lines are truncated to this many bytes.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Default size of one read.
pub const DEFAULT_READ_SIZE: usize = 1 << 20;

/// Complete records taken from the framer's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// One or more complete lines, each ending in `\n`.
    Lines(&'a [u8]),
    /// The first `max_line_bytes` bytes of a line that is longer than that.
    /// The rest of the line, up to and including its `\n`, is skipped.
    Truncated(&'a [u8]),
}

/// Splits a byte stream into complete lines with bounded memory.
#[derive(Debug)]
pub struct LineFramer {
    buf: Box<[u8]>,
    /// Start of the bytes not yet handed out.
    start: usize,
    /// End of the bytes read so far.
    end: usize,
    max_line_bytes: usize,
    read_size: usize,
    /// Reads longer than a record can hold several over-long lines in one
    /// chunk; otherwise only the first line of a chunk can be over-long.
    lines_may_be_long: bool,
    /// True while discarding the tail of an over-long line.
    skipping: bool,
    /// Absolute stream offset of `buf[start]`.
    offset: u64,
}

impl LineFramer {
    /// A framer whose reads are at most `read_size` bytes and whose records
    /// are at most `max_line_bytes` long.
    pub fn new(max_line_bytes: usize, read_size: usize) -> Self {
        let max_line_bytes = max_line_bytes.max(1);
        let read_size = read_size.max(1);
        Self {
            buf: vec![0; max_line_bytes + read_size].into_boxed_slice(),
            start: 0,
            end: 0,
            max_line_bytes,
            read_size,
            lines_may_be_long: read_size > max_line_bytes,
            skipping: false,
            offset: 0,
        }
    }

    /// Like [`LineFramer::new`], for a stream whose next byte is at `offset`
    /// (a file resumed from a checkpoint).
    pub fn starting_at(max_line_bytes: usize, read_size: usize, offset: u64) -> Self {
        let mut framer = Self::new(max_line_bytes, read_size);
        framer.offset = offset;
        framer
    }

    /// Space to read into; pass the number of bytes read to [`LineFramer::filled`].
    ///
    /// Moves the unfinished line to the front of the buffer first, so the
    /// space returned is never empty.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.buf.len() - self.end < self.read_size {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Never more than read_size: the framing invariants rely on it.
        let limit = (self.end + self.read_size).min(self.buf.len());
        &mut self.buf[self.end..limit]
    }

    /// Records that `n` bytes were read into the space from [`LineFramer::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// The next complete records, or `None` when more bytes are needed.
    ///
    /// Call until it returns `None` after each [`LineFramer::filled`].
    pub fn next_chunk(&mut self) -> Option<Chunk<'_>> {
        if self.skipping {
            let pending = &self.buf[self.start..self.end];
            match memchr::memchr(b'\n', pending) {
                Some(newline) => {
                    self.consume(newline + 1);
                    self.skipping = false;
                }
                None => {
                    let skipped = pending.len();
                    self.consume(skipped);
                    return None;
                }
            }
        }
        let pending = &self.buf[self.start..self.end];
        match memchr::memrchr(b'\n', pending) {
            // Lines before the last newline are complete, but one of them may
            // still be over-long: only the first can be, since the buffer
            // holds at most max_line_bytes + read_size bytes.
            Some(last_newline) => {
                let (long_start, long_len) = self.first_over_long_line(&pending[..=last_newline]);
                if long_start == 0 && long_len > 0 {
                    return Some(self.take_truncated_complete(long_len));
                }
                let take = if long_len > 0 {
                    long_start
                } else {
                    last_newline + 1
                };
                let start = self.start;
                self.consume(take);
                Some(Chunk::Lines(&self.buf[start..start + take]))
            }
            None if pending.len() > self.max_line_bytes => {
                let start = self.start;
                self.skipping = true;
                let len = pending.len();
                self.consume(len);
                Some(Chunk::Truncated(
                    &self.buf[start..start + self.max_line_bytes],
                ))
            }
            None => None,
        }
    }

    /// Start and length of the first line of `lines` longer than the
    /// maximum, or `(0, 0)` when there is none.
    fn first_over_long_line(&self, lines: &[u8]) -> (usize, usize) {
        if !self.lines_may_be_long {
            let first_len = memchr::memchr(b'\n', lines).unwrap_or(lines.len());
            return if first_len > self.max_line_bytes {
                (0, first_len)
            } else {
                (0, 0)
            };
        }
        if lines.len() <= self.max_line_bytes {
            return (0, 0);
        }
        let mut line_start = 0;
        for newline in memchr::memchr_iter(b'\n', lines) {
            if newline - line_start > self.max_line_bytes {
                return (line_start, newline - line_start);
            }
            line_start = newline + 1;
        }
        (0, 0)
    }

    /// Hands out the head of an over-long line whose newline is at `line_len`.
    fn take_truncated_complete(&mut self, line_len: usize) -> Chunk<'_> {
        let start = self.start;
        self.consume(line_len + 1);
        Chunk::Truncated(&self.buf[start..start + self.max_line_bytes])
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// The unfinished last line, as a record at end of input.
    ///
    /// Returns `None` when there is none (or when it is the tail of a line
    /// already handed out as [`Chunk::Truncated`]).
    pub fn finish(&mut self) -> Option<&[u8]> {
        let pending = self.end - self.start;
        if pending == 0 || self.skipping {
            self.skipping = false;
            return None;
        }
        let start = self.start;
        self.consume(pending);
        Some(&self.buf[start..start + pending])
    }

    /// Absolute offset just past the last byte handed out (or skipped): the
    /// position from which a restarted reader continues without counting a
    /// record twice.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes read but not handed out yet (an unfinished line).
    pub fn pending_bytes(&self) -> usize {
        self.end - self.start
    }

    /// The longest record this framer hands out whole.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }
}

/// Frames a stream that arrives as a sequence of caller-owned buffers,
/// handing out records *inside* those buffers instead of copying them.
///
/// [`LineFramer`] owns its buffer, which suits one reader; this one suits a
/// pool of buffers filled by another thread: each filled buffer is framed in
/// place by [`SliceFramer::frame`]. Only a line that straddles two buffers is
/// assembled in a carry buffer of at most `max_line_bytes + 1` bytes, so
/// memory stays bounded whatever the buffer sizes and line lengths.
///
/// It hands out the same records as [`LineFramer`] for the same bytes,
/// whatever the buffer sizes: complete lines as [`Chunk::Lines`] (none longer
/// than the maximum), the first `max_line_bytes` of a longer line as
/// [`Chunk::Truncated`] (the rest of that line skipped), and the unfinished
/// last line from [`SliceFramer::finish`].
#[derive(Debug)]
pub struct SliceFramer {
    /// The head of a line begun in an earlier buffer (at most
    /// `max_line_bytes`), plus its `\n` while it is handed out.
    carry: Vec<u8>,
    max_line_bytes: usize,
    /// True while discarding the tail of an over-long line.
    skipping: bool,
    /// True once the carry was handed out by [`SliceFramer::finish`].
    finished: bool,
    /// Absolute stream offset just past the last byte handed out or skipped.
    offset: u64,
}

impl SliceFramer {
    /// A framer whose records are at most `max_line_bytes` long.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            carry: Vec::new(),
            max_line_bytes: max_line_bytes.max(1),
            skipping: false,
            finished: false,
            offset: 0,
        }
    }

    /// Hands every record that `buf` (the next bytes of the stream)
    /// completes to `sink`, in stream order, and keeps the unfinished last
    /// line for the next buffer.
    pub fn frame(&mut self, mut buf: &[u8], mut sink: impl FnMut(Chunk<'_>)) {
        if self.finished {
            self.carry.clear();
            self.finished = false;
        }
        if self.skipping {
            match memchr::memchr(b'\n', buf) {
                Some(newline) => {
                    self.skip(newline + 1);
                    buf = &buf[newline + 1..];
                    self.skipping = false;
                }
                None => {
                    self.skip(buf.len());
                    return;
                }
            }
        }
        if !self.carry.is_empty() {
            buf = self.complete_carried_line(buf, &mut sink);
        }
        let (mut lines, tail) = match memchr::memrchr(b'\n', buf) {
            Some(last_newline) => buf.split_at(last_newline + 1),
            None => buf.split_at(0),
        };
        // Buffers longer than a record can hold over-long complete lines.
        while let Some((start, len)) = first_over_long_line(lines, self.max_line_bytes) {
            if start > 0 {
                sink(Chunk::Lines(&lines[..start]));
            }
            sink(Chunk::Truncated(&lines[start..start + self.max_line_bytes]));
            self.skip(start + len + 1);
            lines = &lines[start + len + 1..];
        }
        if !lines.is_empty() {
            sink(Chunk::Lines(lines));
            self.skip(lines.len());
        }
        if tail.len() > self.max_line_bytes {
            sink(Chunk::Truncated(&tail[..self.max_line_bytes]));
            self.skip(tail.len());
            self.skipping = true;
        } else {
            self.carry_extend(tail);
        }
    }

    /// Continues the carried line with the head of `buf`, and hands it out
    /// once its end or its over-length is known. Returns the rest of `buf`.
    fn complete_carried_line<'b>(
        &mut self,
        buf: &'b [u8],
        sink: &mut impl FnMut(Chunk<'_>),
    ) -> &'b [u8] {
        let newline = memchr::memchr(b'\n', buf);
        let head_len = newline.unwrap_or(buf.len());
        if self.carry.len() + head_len > self.max_line_bytes {
            let missing = self.max_line_bytes - self.carry.len();
            self.carry_extend(&buf[..missing]);
            sink(Chunk::Truncated(&self.carry));
            self.skip(self.carry.len());
            self.carry.clear();
            let skipped = match newline {
                Some(newline) => newline + 1,
                None => {
                    self.skipping = true;
                    buf.len()
                }
            };
            self.skip(skipped - missing);
            &buf[skipped..]
        } else if let Some(newline) = newline {
            self.carry_extend(&buf[..=newline]);
            sink(Chunk::Lines(&self.carry));
            self.skip(self.carry.len());
            self.carry.clear();
            &buf[newline + 1..]
        } else {
            self.carry_extend(buf);
            &buf[buf.len()..]
        }
    }

    /// Appends to the carry, never reserving more than `max_line_bytes + 1`.
    fn carry_extend(&mut self, bytes: &[u8]) {
        let needed = self.carry.len() + bytes.len();
        if needed > self.carry.capacity() {
            let target = (self.carry.capacity() * 2)
                .min(self.max_line_bytes + 1)
                .max(needed);
            self.carry.reserve_exact(target - self.carry.len());
        }
        self.carry.extend_from_slice(bytes);
    }

    fn skip(&mut self, n: usize) {
        self.offset += n as u64;
    }

    /// The unfinished last line, as a record at end of input.
    ///
    /// Returns `None` when there is none (or when it is the tail of a line
    /// already handed out as [`Chunk::Truncated`]).
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.finished {
            self.carry.clear();
            self.finished = false;
        }
        if self.skipping || self.carry.is_empty() {
            self.skipping = false;
            return None;
        }
        self.skip(self.carry.len());
        self.finished = true;
        Some(&self.carry)
    }

    /// Absolute offset just past the last byte handed out (or skipped): the
    /// position from which a restarted reader continues without counting a
    /// record twice.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes framed but not handed out yet (an unfinished line).
    pub fn pending_bytes(&self) -> usize {
        if self.finished { 0 } else { self.carry.len() }
    }
}

/// Start and length (without `\n`) of the first line of `lines` longer than
/// `max_line_bytes`, or `None`. `lines` ends in `\n` (or is empty).
///
/// Looks for the last newline in each window of `max_line_bytes + 1` bytes
/// from a line start: every line ending there fits, so the cost is a few
/// byte compares per window, not a visit to every line.
fn first_over_long_line(lines: &[u8], max_line_bytes: usize) -> Option<(usize, usize)> {
    let mut line_start = 0;
    while lines.len() - line_start > max_line_bytes {
        let window = &lines[line_start..line_start + max_line_bytes + 1];
        match memchr::memrchr(b'\n', window) {
            Some(newline) => line_start += newline + 1,
            None => {
                let len = memchr::memchr(b'\n', &lines[line_start..])?;
                return Some((line_start, len));
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// What a reader of the framer sees: lines (without `\n`) and whether
    /// each was truncated.
    fn frame_all(input: &[u8], max_line: usize, read_size: usize) -> Vec<(Vec<u8>, bool)> {
        let mut framer = LineFramer::new(max_line, read_size);
        let mut out = Vec::new();
        let mut rest = input;
        loop {
            let spare = framer.spare();
            let n = spare.len().min(rest.len()).min(read_size);
            spare[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            framer.filled(n);
            while let Some(chunk) = framer.next_chunk() {
                match chunk {
                    Chunk::Lines(lines) => {
                        assert_eq!(lines.last(), Some(&b'\n'));
                        for line in lines[..lines.len() - 1].split(|&b| b == b'\n') {
                            out.push((line.to_vec(), false));
                        }
                    }
                    Chunk::Truncated(head) => {
                        assert_eq!(head.len(), max_line);
                        out.push((head.to_vec(), true));
                    }
                }
            }
            if n == 0 {
                break;
            }
        }
        if let Some(last) = framer.finish() {
            out.push((last.to_vec(), false));
        }
        assert_eq!(framer.offset(), input.len() as u64);
        out
    }

    /// The framing rules written out plainly.
    fn reference(input: &[u8], max_line: usize) -> Vec<(Vec<u8>, bool)> {
        let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
            .into_iter()
            .map(|l| {
                if l.len() > max_line {
                    (l[..max_line].to_vec(), true)
                } else {
                    (l.to_vec(), false)
                }
            })
            .collect()
    }

    #[test]
    fn complete_lines_come_out_whole() {
        let got = frame_all(b"a\nbb\nccc\n", 16, 4);
        assert_eq!(got, reference(b"a\nbb\nccc\n", 16));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn partial_last_line_is_held_until_finish() {
        let mut framer = LineFramer::new(16, 16);
        framer.spare()[..5].copy_from_slice(b"ab\ncd");
        framer.filled(5);
        assert_eq!(framer.next_chunk(), Some(Chunk::Lines(b"ab\n")));
        assert_eq!(framer.next_chunk(), None);
        assert_eq!(framer.offset(), 3);
        assert_eq!(framer.pending_bytes(), 2);
        framer.spare()[..2].copy_from_slice(b"e\n");
        framer.filled(2);
        assert_eq!(framer.next_chunk(), Some(Chunk::Lines(b"cde\n")));
        assert_eq!(framer.offset(), 7);
        assert_eq!(framer.finish(), None);
    }

    #[test]
    fn line_of_exactly_max_is_whole_and_one_more_is_truncated() {
        let input = b"12345678\n123456789\n";
        let got = frame_all(input, 8, 3);
        assert_eq!(
            got,
            vec![(b"12345678".to_vec(), false), (b"12345678".to_vec(), true)]
        );
    }

    #[test]
    fn endless_line_keeps_memory_bounded_and_resumes_after_newline() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nok\n");
        let got = frame_all(&input, 100, 64);
        assert_eq!(got, vec![(vec![b'x'; 100], true), (b"ok".to_vec(), false)]);
    }

    #[test]
    fn over_long_last_line_without_newline_is_one_truncated_record() {
        let got = frame_all(&[b'y'; 50], 10, 7);
        assert_eq!(got, vec![(vec![b'y'; 10], true)]);
    }

    #[test]
    fn starting_offset_is_carried() {
        let mut framer = LineFramer::starting_at(8, 8, 1000);
        framer.spare()[..3].copy_from_slice(b"a\nb");
        framer.filled(3);
        assert!(framer.next_chunk().is_some());
        assert_eq!(framer.offset(), 1002);
    }

    #[test]
    fn every_read_size_frames_like_the_reference() {
        let input = b"{\"a\":1}\r\n\nlong line here!!\nshort\n\n\nx\nlonger than ten\nend";
        for max_line in 1..20 {
            for read_size in 1..20 {
                assert_eq!(
                    frame_all(input, max_line, read_size),
                    reference(input, max_line),
                    "max_line={max_line} read_size={read_size}"
                );
            }
        }
    }

    /// What a reader of a [`SliceFramer`] sees when `input` arrives in
    /// buffers of the given sizes (cycled; zero-sized buffers included).
    fn slice_frame_all(input: &[u8], max_line: usize, sizes: &[usize]) -> Vec<(Vec<u8>, bool)> {
        let mut framer = SliceFramer::new(max_line);
        let mut out = Vec::new();
        let mut rest = input;
        // All-zero sizes would never advance: read one byte at a time then.
        let sizes = if sizes.iter().all(|&size| size == 0) {
            &[1][..]
        } else {
            sizes
        };
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = sizes.next().copied().unwrap_or(1).min(rest.len());
            framer.frame(&rest[..n], |chunk| match chunk {
                Chunk::Lines(lines) => {
                    assert_eq!(lines.last(), Some(&b'\n'));
                    for line in lines[..lines.len() - 1].split(|&b| b == b'\n') {
                        assert!(line.len() <= max_line);
                        out.push((line.to_vec(), false));
                    }
                }
                Chunk::Truncated(head) => {
                    assert_eq!(head.len(), max_line);
                    out.push((head.to_vec(), true));
                }
            });
            rest = &rest[n..];
            assert!(framer.carry.capacity() <= max_line + 1);
            assert_eq!(
                framer.offset() + framer.pending_bytes() as u64,
                (input.len() - rest.len()) as u64
            );
        }
        if let Some(last) = framer.finish() {
            out.push((last.to_vec(), false));
        }
        assert_eq!(framer.finish(), None);
        assert_eq!(framer.offset(), input.len() as u64);
        out
    }

    const SLICE_INPUT: &[u8] =
        b"{\"a\":1}\r\n\nlong line here!!\nshort\n\n\nx\nlonger than ten\nend";

    #[test]
    fn slice_framer_hands_out_lines_in_place() {
        let buf = b"ab\ncd\nef";
        let mut framer = SliceFramer::new(16);
        let mut chunks = Vec::new();
        framer.frame(buf, |chunk| {
            if let Chunk::Lines(lines) = chunk {
                chunks.push(lines.as_ptr());
            }
        });
        assert_eq!(chunks, vec![buf.as_ptr()]);
        assert_eq!(framer.offset(), 6);
        assert_eq!(framer.pending_bytes(), 2);
        assert_eq!(framer.finish(), Some(&b"ef"[..]));
    }

    #[test]
    fn slice_framer_joins_a_line_split_across_buffers() {
        assert_eq!(
            slice_frame_all(b"abc\ndef\n", 8, &[5, 1, 2]),
            reference(b"abc\ndef\n", 8)
        );
    }

    #[test]
    fn slice_framer_truncates_a_line_split_across_buffers() {
        let got = slice_frame_all(b"123456789\nok\n", 8, &[3, 3, 3, 3]);
        assert_eq!(
            got,
            vec![(b"12345678".to_vec(), true), (b"ok".to_vec(), false)]
        );
    }

    #[test]
    fn slice_framer_truncates_long_lines_inside_one_buffer() {
        let input = b"a\n123456789\nb\n123456789\n12345678\nc";
        assert_eq!(slice_frame_all(input, 8, &[64]), reference(input, 8));
    }

    #[test]
    fn slice_framer_skips_an_endless_line_with_bounded_carry() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nok\n");
        let got = slice_frame_all(&input, 100, &[7, 64, 1000]);
        assert_eq!(got, vec![(vec![b'x'; 100], true), (b"ok".to_vec(), false)]);
    }

    #[test]
    fn slice_framer_over_long_last_line_without_newline_is_one_truncated_record() {
        assert_eq!(
            slice_frame_all(&[b'y'; 50], 10, &[7]),
            vec![(vec![b'y'; 10], true)]
        );
        assert_eq!(
            slice_frame_all(&[b'y'; 50], 10, &[50]),
            vec![(vec![b'y'; 10], true)]
        );
    }

    #[test]
    fn slice_framer_every_buffer_size_frames_like_the_reference() {
        for max_line in 1..20 {
            let expected = reference(SLICE_INPUT, max_line);
            for size in 1..=SLICE_INPUT.len() + 1 {
                assert_eq!(
                    slice_frame_all(SLICE_INPUT, max_line, &[size]),
                    expected,
                    "max_line={max_line} size={size}"
                );
            }
        }
    }

    #[test]
    fn slice_framer_every_two_way_split_frames_like_the_reference() {
        for max_line in 1..20 {
            let expected = reference(SLICE_INPUT, max_line);
            for split in 0..=SLICE_INPUT.len() {
                assert_eq!(
                    slice_frame_all(SLICE_INPUT, max_line, &[split, SLICE_INPUT.len()]),
                    expected,
                    "max_line={max_line} split={split}"
                );
            }
        }
    }

    #[test]
    fn over_long_line_search_finds_only_lines_past_the_maximum() {
        assert_eq!(first_over_long_line(b"", 3), None);
        assert_eq!(first_over_long_line(b"abc\nabc\n", 3), None);
        assert_eq!(first_over_long_line(b"abc\nabcd\n", 3), Some((4, 4)));
        assert_eq!(first_over_long_line(b"\n\nabcd\n", 1), Some((2, 4)));
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_gives_the_same_records(
            input in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'a'), proptest::num::u8::ANY], 0..400),
            max_line in 1usize..40,
            read_size in 1usize..50,
        ) {
            proptest::prop_assert_eq!(frame_all(&input, max_line, read_size), reference(&input, max_line));
        }

        #[test]
        fn slice_framer_any_split_gives_the_same_records(
            input in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'a'), proptest::num::u8::ANY], 0..400),
            max_line in 1usize..40,
            sizes in proptest::collection::vec(0usize..80, 1..12),
        ) {
            proptest::prop_assert_eq!(slice_frame_all(&input, max_line, &sizes), reference(&input, max_line));
        }
    }
    use proptest::strategy::Just;
}
