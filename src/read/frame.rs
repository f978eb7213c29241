//! Line framing: raw bytes in, complete records out.
//!
//! [`LineFramer`] frames buffers it does not own (a caller's read buffer, or
//! a pool filled by a reader thread, see [`crate::read::ahead`]), in place: it
//! hands out [`Chunk`]s that point into the caller's buffer: runs of
//! complete lines (each ending in `\n`), or the head of a line longer than
//! the maximum. It tracks the absolute byte offset just past the last byte
//! handed out or skipped, which is what a checkpoint stores.
//!
//! It owns only a carry: the unfinished last line of one buffer, kept for
//! the next. The carry never holds more than `max_line_bytes + 1` bytes
//! (the head of an over-long line is kept, its rest only counted), so an
//! endless line costs that much memory, not its length; lines that end in
//! the buffer they begin in are never copied. The framer does no I/O and
//! never fails, so the same code serves `scan` and the daemon, whatever
//! their buffer sizes.

/// Default maximum record length: longer lines are truncated to this many bytes.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Complete records, borrowed from the buffer being framed (or the carry).
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// One or more complete lines, each ending in `\n`.
    Lines(&'a [u8]),
    /// The first `max_line_bytes` bytes of a line that is longer than that.
    /// The rest of the line, up to and including its `\n`, is skipped.
    Truncated(&'a [u8]),
    /// The end of the line handed out as [`Chunk::Truncated`], once its
    /// `\n` is read: the line's last bytes (at most [`TAIL_BYTES`], without
    /// the `\n`), which tell a container runtime's split part by its end
    /// ([`crate::read::split`]), and where the next line starts. Callers
    /// that only count lines ignore it.
    TruncatedEnd {
        /// The last bytes of the over-long line, without its `\n`.
        tail: &'a [u8],
        /// Absolute offset of the line after it.
        next_line_at: u64,
    },
}

/// How many of an over-long line's last bytes [`Chunk::TruncatedEnd`] keeps.
pub const TAIL_BYTES: usize = 1024;

/// Splits a stream that arrives as a sequence of caller-owned buffers into
/// complete lines, handing out records *inside* those buffers.
///
/// Each buffer is framed in place by [`LineFramer::frame`]. Only a line that
/// straddles two buffers is assembled in a carry of at most
/// `max_line_bytes + 1` bytes, so memory stays bounded whatever the buffer
/// sizes and line lengths.
///
/// The records are the same whatever the buffer sizes: complete lines as
/// [`Chunk::Lines`] (none longer than the maximum), the first
/// `max_line_bytes` of a longer line as [`Chunk::Truncated`] (the rest of
/// that line skipped), and the unfinished last line from
/// [`LineFramer::finish`], which only a reader at the true end of its input
/// calls (a followed file may still grow).
#[derive(Debug)]
pub struct LineFramer {
    /// The head of a line begun in an earlier buffer (at most
    /// `max_line_bytes`), plus its `\n` while it is handed out.
    carry: Vec<u8>,
    max_line_bytes: usize,
    /// True while discarding the tail of an over-long line.
    skipping: bool,
    /// True once the carry was handed out by [`LineFramer::finish`].
    finished: bool,
    /// The last bytes (at most [`TAIL_BYTES`]) of the over-long line being
    /// skipped.
    skipped_tail: Vec<u8>,
    /// Absolute stream offset just past the last byte handed out or skipped.
    offset: u64,
}

impl LineFramer {
    /// A framer whose records are at most `max_line_bytes` long.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            carry: Vec::new(),
            max_line_bytes: max_line_bytes.max(1),
            skipping: false,
            finished: false,
            skipped_tail: Vec::new(),
            offset: 0,
        }
    }

    /// Like [`LineFramer::new`], for a stream whose next byte is at `offset`
    /// (a file resumed from a checkpoint).
    pub fn starting_at(max_line_bytes: usize, offset: u64) -> Self {
        Self {
            offset,
            ..Self::new(max_line_bytes)
        }
    }

    /// Like [`LineFramer::starting_at`], for a stream whose next bytes are
    /// the rest of an over-long line already handed out (its head counted
    /// by an earlier reader): they are skipped up to and including its
    /// `\n`, as the earlier framer would have.
    pub fn skipping_from(max_line_bytes: usize, offset: u64) -> Self {
        Self {
            skipping: true,
            ..Self::starting_at(max_line_bytes, offset)
        }
    }

    /// True while the rest of an over-long line is being skipped: the
    /// offset is then inside that line, and a reader resuming there must
    /// skip too ([`LineFramer::skipping_from`]).
    pub fn is_skipping(&self) -> bool {
        self.skipping
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
                    keep_tail(&mut self.skipped_tail, &buf[..newline]);
                    self.skip(newline + 1);
                    buf = &buf[newline + 1..];
                    self.skipping = false;
                    sink(Chunk::TruncatedEnd {
                        tail: &self.skipped_tail,
                        next_line_at: self.offset,
                    });
                }
                None => {
                    keep_tail(&mut self.skipped_tail, buf);
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
            let end = start + len;
            sink(Chunk::TruncatedEnd {
                tail: &lines[end - len.min(TAIL_BYTES)..end],
                next_line_at: self.offset,
            });
            lines = &lines[end + 1..];
        }
        if !lines.is_empty() {
            sink(Chunk::Lines(lines));
            self.skip(lines.len());
        }
        if tail.len() > self.max_line_bytes {
            sink(Chunk::Truncated(&tail[..self.max_line_bytes]));
            self.skip(tail.len());
            self.skipping = true;
            self.skipped_tail.clear();
            keep_tail(&mut self.skipped_tail, tail);
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
            self.skipped_tail.clear();
            keep_tail(&mut self.skipped_tail, &self.carry);
            keep_tail(&mut self.skipped_tail, &buf[missing..head_len]);
            self.carry.clear();
            let skipped = match newline {
                Some(newline) => newline + 1,
                None => {
                    self.skipping = true;
                    buf.len()
                }
            };
            self.skip(skipped - missing);
            if newline.is_some() {
                sink(Chunk::TruncatedEnd {
                    tail: &self.skipped_tail,
                    next_line_at: self.offset,
                });
            }
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

    /// Bytes framed but not handed out yet (an unfinished line): the next
    /// unframed byte is at `offset() + pending_bytes()`.
    pub fn pending_bytes(&self) -> usize {
        if self.finished { 0 } else { self.carry.len() }
    }

    /// The longest record this framer hands out whole.
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }
}

/// Appends `bytes` to `tail`, keeping only the last [`TAIL_BYTES`].
fn keep_tail(tail: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() >= TAIL_BYTES {
        tail.clear();
        tail.extend_from_slice(&bytes[bytes.len() - TAIL_BYTES..]);
    } else {
        let excess = (tail.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        tail.drain(..excess);
        tail.extend_from_slice(bytes);
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
    use proptest::strategy::Just;

    use super::*;

    /// What a reader of the framer sees when `input` arrives in buffers of
    /// the given sizes (cycled; zero-sized buffers included): lines (without
    /// `\n`) and whether each was truncated. Checks the invariants after
    /// every buffer: bounded carry, and every byte framed is either handed
    /// out, skipped or pending.
    fn frame_all(input: &[u8], max_line: usize, sizes: &[usize]) -> Vec<(Vec<u8>, bool)> {
        let mut framer = LineFramer::new(max_line);
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
                Chunk::TruncatedEnd { .. } => {}
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

    /// Every chunk handed out by one `frame` call, copied.
    fn chunks(framer: &mut LineFramer, buf: &[u8]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        framer.frame(buf, |chunk| match chunk {
            Chunk::Lines(lines) => out.push((lines.to_vec(), false)),
            Chunk::Truncated(head) => out.push((head.to_vec(), true)),
            Chunk::TruncatedEnd { .. } => {}
        });
        out
    }

    const MIXED_INPUT: &[u8] =
        b"{\"a\":1}\r\n\nlong line here!!\nshort\n\n\nx\nlonger than ten\nend";

    #[test]
    fn complete_lines_come_out_whole() {
        let got = frame_all(b"a\nbb\nccc\n", 16, &[4]);
        assert_eq!(got, reference(b"a\nbb\nccc\n", 16));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn lines_are_handed_out_in_place() {
        let buf = b"ab\ncd\nef";
        let mut framer = LineFramer::new(16);
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
    fn partial_last_line_is_held_until_finish() {
        let mut framer = LineFramer::new(16);
        assert_eq!(
            chunks(&mut framer, b"ab\ncd"),
            vec![(b"ab\n".to_vec(), false)]
        );
        assert_eq!(framer.offset(), 3);
        assert_eq!(framer.pending_bytes(), 2);
        assert_eq!(chunks(&mut framer, b""), vec![]);
        assert_eq!(framer.pending_bytes(), 2);
        assert_eq!(
            chunks(&mut framer, b"e\n"),
            vec![(b"cde\n".to_vec(), false)]
        );
        assert_eq!(framer.offset(), 7);
        assert_eq!(framer.pending_bytes(), 0);
        assert_eq!(framer.finish(), None);
    }

    #[test]
    fn line_of_exactly_max_is_whole_and_one_more_is_truncated() {
        let input = b"12345678\n123456789\n";
        let expected = vec![(b"12345678".to_vec(), false), (b"12345678".to_vec(), true)];
        for size in [3, 8, 9, 10, input.len()] {
            assert_eq!(frame_all(input, 8, &[size]), expected, "size={size}");
        }
    }

    #[test]
    fn line_split_across_buffers_is_joined() {
        assert_eq!(
            frame_all(b"abc\ndef\n", 8, &[5, 1, 2]),
            reference(b"abc\ndef\n", 8)
        );
    }

    #[test]
    fn over_long_line_split_across_buffers_is_truncated() {
        let got = frame_all(b"123456789\nok\n", 8, &[3, 3, 3, 3]);
        assert_eq!(
            got,
            vec![(b"12345678".to_vec(), true), (b"ok".to_vec(), false)]
        );
    }

    #[test]
    fn over_long_lines_inside_one_buffer_are_truncated() {
        let input = b"a\n123456789\nb\n123456789\n12345678\nc";
        assert_eq!(frame_all(input, 8, &[64]), reference(input, 8));
    }

    #[test]
    fn endless_line_keeps_memory_bounded_and_resumes_after_newline() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nok\n");
        for sizes in [&[64][..], &[7, 64, 1000], &[20_000]] {
            let got = frame_all(&input, 100, sizes);
            assert_eq!(got, vec![(vec![b'x'; 100], true), (b"ok".to_vec(), false)]);
        }
    }

    #[test]
    fn over_long_last_line_without_newline_is_one_truncated_record() {
        for size in [7, 50] {
            assert_eq!(
                frame_all(&[b'y'; 50], 10, &[size]),
                vec![(vec![b'y'; 10], true)]
            );
        }
    }

    #[test]
    fn starting_offset_is_carried() {
        let mut framer = LineFramer::starting_at(8, 1000);
        assert_eq!(chunks(&mut framer, b"a\nb"), vec![(b"a\n".to_vec(), false)]);
        assert_eq!(framer.offset(), 1002);
        assert_eq!(framer.pending_bytes(), 1);
        assert_eq!(chunks(&mut framer, b"123456789\n").len(), 1);
        assert_eq!(framer.offset(), 1013);
    }

    #[test]
    fn every_buffer_size_frames_like_the_reference() {
        for max_line in 1..20 {
            let expected = reference(MIXED_INPUT, max_line);
            for size in 1..=MIXED_INPUT.len() + 1 {
                assert_eq!(
                    frame_all(MIXED_INPUT, max_line, &[size]),
                    expected,
                    "max_line={max_line} size={size}"
                );
            }
        }
    }

    #[test]
    fn every_two_way_split_frames_like_the_reference() {
        for max_line in 1..20 {
            let expected = reference(MIXED_INPUT, max_line);
            for split in 0..=MIXED_INPUT.len() {
                assert_eq!(
                    frame_all(MIXED_INPUT, max_line, &[split, MIXED_INPUT.len()]),
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

    /// The ends of the over-long lines of `input` as the framer reports
    /// them, in buffers of `sizes` (cycled, none zero).
    fn truncated_ends(input: &[u8], max_line: usize, sizes: &[usize]) -> Vec<(Vec<u8>, u64)> {
        let mut framer = LineFramer::new(max_line);
        let mut out = Vec::new();
        let mut rest = input;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
            framer.frame(&rest[..n], |chunk| {
                if let Chunk::TruncatedEnd { tail, next_line_at } = chunk {
                    out.push((tail.to_vec(), next_line_at));
                }
            });
            rest = &rest[n..];
        }
        out
    }

    /// Each over-long line ended by a `\n`: its last bytes and the offset after it.
    fn truncated_ends_reference(input: &[u8], max_line: usize) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        let mut at = 0u64;
        for line in input.split_inclusive(|&b| b == b'\n') {
            at += line.len() as u64;
            if let Some(body) = line.strip_suffix(b"\n")
                && body.len() > max_line
            {
                out.push((body[body.len().saturating_sub(TAIL_BYTES)..].to_vec(), at));
            }
        }
        out
    }

    #[test]
    fn an_over_long_line_reports_its_last_bytes_and_the_next_line_start() {
        let mut input = b"ok\n".to_vec();
        input.extend((0..3000u32).map(|i| b'a' + (i % 26) as u8));
        input.extend_from_slice(b"\nnext\nxxxxxxxxxxxxxx\nend");
        let expected = truncated_ends_reference(&input, 10);
        assert_eq!(expected.len(), 2);
        assert_eq!(expected[0].0.len(), TAIL_BYTES);
        for sizes in [&[1][..], &[7, 300], &[1000, 5], &[10_000]] {
            assert_eq!(truncated_ends(&input, 10, sizes), expected, "{sizes:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_reports_the_same_ends_of_over_long_lines(
            input in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'a'), proptest::num::u8::ANY], 0..3000),
            max_line in 1usize..40,
            sizes in proptest::collection::vec(1usize..1500, 1..12),
        ) {
            proptest::prop_assert_eq!(
                truncated_ends(&input, max_line, &sizes),
                truncated_ends_reference(&input, max_line)
            );
        }

        #[test]
        fn any_chunking_gives_the_same_records(
            input in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'a'), proptest::num::u8::ANY], 0..400),
            max_line in 1usize..40,
            sizes in proptest::collection::vec(0usize..80, 1..12),
        ) {
            proptest::prop_assert_eq!(frame_all(&input, max_line, &sizes), reference(&input, max_line));
        }
    }
}
