//! A source for one range of a regular file, cut at line boundaries, so
//! that several readers can count one file in parallel and together count
//! each record exactly once.
//!
//! A file is cut at byte offsets (`0 = cut_0 < cut_1 < … < cut_n = size`,
//! see [`cuts`]); the range `[cut_i, cut_i+1)` owns every record that
//! *starts* in it. So a [`RangeReader`] hands out the bytes from the first
//! line start at or after its cut (the byte after the first `\n` at or after
//! `cut_i - 1`; range 0 starts at 0) up to the first line start at or after
//! the next cut (just past the first `\n` at or after `cut_i+1 - 1`). The
//! end of one range is the start of the next, so the ranges partition the
//! file: every byte is read once, every `\n` is counted once, and a line
//! longer than a whole range belongs to the range it starts in (the ranges
//! it covers are empty). The last range has no end: it reads to end of file
//! like the sequential reader, so a file that grows during the scan counts
//! the same.
//!
//! It reads with `pread` on a shared descriptor (no mmap: a file truncated
//! under a mapping raises SIGBUS), into the caller's buffer: it owns no
//! memory. It does no framing or counting; it is a source for
//! [`crate::read::LineReader`], like a plain file.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use crate::read::frame::TAIL_BYTES;
use crate::read::split;

/// How far past its cut a range reads in one go while looking for the end
/// of the line that straddles the cut: one read usually finds it, and a
/// range over-reads at most this much.
const STRADDLE_READ: u64 = 64 << 10;

/// How far back from a cut a range looks for the start of the line that
/// straddles it, to tell whether that line is a split part. A longer line
/// is taken as no part (container runtimes split at 16 KiB).
pub const LOOK_BACK: u64 = 1 << 20;

/// Cut offsets that split `size` bytes into `ranges` nearly equal ranges:
/// `ranges + 1` offsets from 0 to `size` (`[0, size]` for one range).
pub fn cuts(size: u64, ranges: usize) -> Vec<u64> {
    let ranges = ranges.max(1) as u64;
    (0..=ranges)
        .map(|i| (u128::from(size) * u128::from(i) / u128::from(ranges)) as u64)
        .collect()
}

/// Where a [`RangeReader`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the range's start (the first boundary at or after
    /// `pos`) and end.
    Seeking,
    /// Handing out bytes from `pos`.
    Reading,
    /// Past the end of the range.
    Done,
}

/// The records of one range of a file: see the module docs.
#[derive(Debug)]
pub struct RangeReader<'f> {
    file: &'f File,
    /// The next byte to read (or to look at while seeking).
    pos: u64,
    /// The next range's cut, or `None` for the last range.
    end_cut: Option<u64>,
    /// Where the range ends, once found (`None`: at end of file).
    end: Option<u64>,
    /// True unless the range starts at 0: its start is a boundary to find.
    find_start: bool,
    state: State,
}

impl<'f> RangeReader<'f> {
    /// The range of `file` from cut `start` to cut `end` (`None`: to end of
    /// file).
    pub fn new(file: &'f File, start: u64, end: Option<u64>) -> Self {
        if end.is_some_and(|end| end <= start) {
            // No record starts in an empty range.
            Self {
                file,
                pos: start,
                end_cut: end,
                end: None,
                find_start: false,
                state: State::Done,
            }
        } else if start == 0 {
            Self {
                file,
                pos: 0,
                end_cut: end,
                end: None,
                find_start: false,
                state: State::Seeking,
            }
        } else {
            // The record owning byte `start` begins after the last `\n`
            // before it: look from the byte just before the cut.
            Self {
                file,
                pos: start - 1,
                end_cut: end,
                end: None,
                find_start: true,
                state: State::Seeking,
            }
        }
    }

    /// The absolute offset of the range's first byte (finding it first,
    /// with `scratch` as the read buffer): where its records' offsets
    /// count from.
    pub fn find_start(&mut self, scratch: &mut [u8]) -> io::Result<u64> {
        if self.state == State::Seeking && !scratch.is_empty() {
            self.find_bounds(scratch)?;
        }
        Ok(self.pos)
    }

    /// Finds where the range starts and ends: `pos` moves past the first
    /// boundary at or after it (unless the range starts at 0), and the end
    /// is the first boundary at or after `end_cut - 1`. A range whose first
    /// boundary is at or past its end's search is empty.
    fn find_bounds(&mut self, scratch: &mut [u8]) -> io::Result<()> {
        if self.find_start {
            // Only a `\n` before `end - 1` starts a line inside the range.
            let limit = self.end_cut.map(|end| end - 1);
            match boundary(self.file, self.pos, limit, scratch)? {
                Some(start) => self.pos = start,
                None => {
                    self.state = State::Done;
                    return Ok(());
                }
            }
        }
        if let Some(end_cut) = self.end_cut {
            self.end = boundary(self.file, end_cut - 1, None, scratch)?;
        }
        self.state = State::Reading;
        Ok(())
    }
}

/// Just past the first `\n` at or after `from` (and before `limit`) whose
/// line is no split part; `None` when there is none before end of file (or
/// `limit`).
fn boundary(
    file: &File,
    from: u64,
    limit: Option<u64>,
    scratch: &mut [u8],
) -> io::Result<Option<u64>> {
    let mut pos = from;
    // The start of the line holding `pos`, once known.
    let mut line_start = None;
    loop {
        let Some(newline) = next_newline(file, pos, limit, scratch)? else {
            return Ok(None);
        };
        let start = match line_start {
            Some(start) => Some(start),
            None => line_start_before(file, newline, scratch)?,
        };
        let is_part = match start {
            Some(start) => line_is_partial(file, start, newline)?,
            None => false,
        };
        if !is_part {
            return Ok(Some(newline + 1));
        }
        pos = newline + 1;
        line_start = Some(pos);
    }
}

/// The first `\n` at or after `pos` (and before `limit`).
fn next_newline(
    file: &File,
    mut pos: u64,
    limit: Option<u64>,
    scratch: &mut [u8],
) -> io::Result<Option<u64>> {
    loop {
        let mut want = (scratch.len() as u64).min(STRADDLE_READ);
        if let Some(limit) = limit {
            let left = limit.saturating_sub(pos);
            if left == 0 {
                return Ok(None);
            }
            want = want.min(left);
        }
        let read = read_at_retrying(file, &mut scratch[..want as usize], pos)?;
        if read == 0 {
            return Ok(None);
        }
        match memchr::memchr(b'\n', &scratch[..read]) {
            Some(newline) => return Ok(Some(pos + newline as u64)),
            None => pos += read as u64,
        }
    }
}

/// The start of the line that ends at the `\n` at `newline`, looking back at
/// most [`LOOK_BACK`] bytes (`None` past that).
fn line_start_before(file: &File, newline: u64, scratch: &mut [u8]) -> io::Result<Option<u64>> {
    let mut end = newline;
    while end > 0 {
        if newline - end >= LOOK_BACK {
            return Ok(None);
        }
        let want = (scratch.len() as u64).min(STRADDLE_READ).min(end);
        let from = end - want;
        let read = read_at_retrying(file, &mut scratch[..want as usize], from)?;
        if read < want as usize {
            // The file shrank under us: no part to protect.
            return Ok(None);
        }
        if let Some(previous) = memchr::memrchr(b'\n', &scratch[..read]) {
            return Ok(Some(from + previous as u64 + 1));
        }
        end = from;
    }
    Ok(Some(0))
}

/// Whether the line `[start, newline)` is a split part, by its head and tail.
fn line_is_partial(file: &File, start: u64, newline: u64) -> io::Result<bool> {
    let len = newline - start;
    let mut head = [0u8; split::HEAD_BYTES];
    let mut tail = [0u8; TAIL_BYTES];
    let head_len = len.min(head.len() as u64) as usize;
    let tail_len = len.min(tail.len() as u64) as usize;
    let head_read = read_at_retrying(file, &mut head[..head_len], start)?;
    let tail_read = read_at_retrying(file, &mut tail[..tail_len], newline - tail_len as u64)?;
    if head_read < head_len || tail_read < tail_len {
        return Ok(false);
    }
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    Ok(split::classify(&head[..head_len], &tail[..tail_len], len).is_partial())
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.state == State::Seeking {
            self.find_bounds(buf)?;
        }
        if self.state == State::Done {
            return Ok(0);
        }
        let mut want = buf.len();
        if let Some(end) = self.end {
            if self.pos >= end {
                self.state = State::Done;
                return Ok(0);
            }
            want = want.min(usize::try_from(end - self.pos).unwrap_or(usize::MAX));
        }
        let read = read_at_retrying(self.file, &mut buf[..want], self.pos)?;
        if read == 0 {
            self.state = State::Done;
            return Ok(0);
        }
        self.pos += read as u64;
        Ok(read)
    }
}

/// `pread`, retried while interrupted by a signal.
fn read_at_retrying(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, offset) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Write;

    use proptest::strategy::Just;

    use super::*;

    fn file_with(bytes: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(bytes).unwrap();
        file
    }

    /// Everything each range hands out, read with buffers of `buf_len`.
    fn ranges(file: &File, cuts: &[u64], buf_len: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (i, pair) in cuts.windows(2).enumerate() {
            let end = (i + 2 < cuts.len()).then_some(pair[1]);
            let mut reader = RangeReader::new(file, pair[0], end);
            let mut bytes = Vec::new();
            let mut buf = vec![0; buf_len];
            loop {
                let read = reader.read(&mut buf).unwrap();
                if read == 0 {
                    break;
                }
                bytes.extend_from_slice(&buf[..read]);
            }
            out.push(bytes);
        }
        out
    }

    /// Records (lines, with their `\n`) that start in `[start, end)`.
    fn records_starting_in(input: &[u8], start: u64, end: Option<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line_start = 0;
        for line in input.split_inclusive(|&b| b == b'\n') {
            let pos = line_start as u64;
            if pos >= start && end.is_none_or(|end| pos < end) {
                out.extend_from_slice(line);
            }
            line_start += line.len();
        }
        out
    }

    fn check_partition(input: &[u8], cuts: &[u64], buf_len: usize) {
        let file = file_with(input);
        let got = ranges(&file, cuts, buf_len);
        assert_eq!(got.concat(), input, "cuts {cuts:?} buf {buf_len}");
        for (i, pair) in cuts.windows(2).enumerate() {
            let end = (i + 2 < cuts.len()).then_some(pair[1]);
            assert_eq!(
                got[i],
                records_starting_in(input, pair[0], end),
                "range {i} of cuts {cuts:?} buf {buf_len}"
            );
        }
    }

    #[test]
    fn cuts_split_evenly_and_cover_the_file() {
        assert_eq!(cuts(10, 1), vec![0, 10]);
        assert_eq!(cuts(10, 3), vec![0, 3, 6, 10]);
        assert_eq!(cuts(0, 2), vec![0, 0, 0]);
        assert_eq!(cuts(u64::MAX, 2), vec![0, u64::MAX / 2, u64::MAX]);
    }

    #[test]
    fn a_cut_on_a_line_start_starts_the_range_there() {
        // "ab\n" ends at 3, so a cut at 3 is a line start.
        let file = file_with(b"ab\ncd\nef\n");
        assert_eq!(
            ranges(&file, &[0, 3, 9], 64),
            vec![b"ab\n".to_vec(), b"cd\nef\n".to_vec()]
        );
    }

    #[test]
    fn a_cut_inside_a_line_gives_the_line_to_the_range_it_starts_in() {
        let file = file_with(b"ab\ncd\nef\n");
        assert_eq!(
            ranges(&file, &[0, 4, 9], 64),
            vec![b"ab\ncd\n".to_vec(), b"ef\n".to_vec()]
        );
    }

    #[test]
    fn a_line_longer_than_a_range_counts_once_in_the_range_it_starts_in() {
        let mut input = b"a\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend_from_slice(b"\nb\n");
        let file = file_with(&input);
        // The long line starts at 2, inside range 0, and ends at 10_002:
        // the ranges it covers are empty, the one after starts past it.
        let got = ranges(
            &file,
            &[0, 1000, 4000, 8000, 10_001, input.len() as u64],
            300,
        );
        let lens: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![10_003, 0, 0, 0, 2]);
        assert_eq!(got[4], b"b\n");
    }

    #[test]
    fn an_unfinished_last_line_is_the_last_ranges() {
        check_partition(b"ab\ncd\nef", &[0, 4, 7, 8], 2);
    }

    #[test]
    fn the_last_range_reads_past_its_cut_to_end_of_file() {
        // A file that grew after it was cut still counts whole.
        let file = file_with(b"ab\ncd\nef\ngh\n");
        assert_eq!(ranges(&file, &[0, 4, 6], 64).concat(), b"ab\ncd\nef\ngh\n");
    }

    #[test]
    fn every_cut_position_partitions_a_small_input_at_every_buffer_size() {
        let input = b"{\"a\":1}\n\n\nlong line here!!\nx\n\r\nend";
        let size = input.len() as u64;
        for buf_len in [1, 2, 5, 64] {
            for first in 0..=size {
                check_partition(input, &[0, first, size], buf_len);
                for second in first..=size {
                    check_partition(input, &[0, first, second, size], buf_len);
                }
            }
        }
    }

    #[test]
    fn no_range_starts_inside_a_group_of_split_parts() {
        let time = "2026-11-29T01:02:03.123456789Z";
        let mut input = String::new();
        // Where each record (a group of parts or a single line) starts.
        let mut record_starts = vec![0];
        for i in 0..6 {
            for part in 0..i % 4 {
                input.push_str(&format!(
                    r#"{{"log":"part {part}","stream":"stdout","time":"{time}"}}"#
                ));
                input.push('\n');
            }
            input.push_str(&format!(
                r#"{{"log":"end {i}\n","stream":"stdout","time":"{time}"}}"#
            ));
            input.push('\n');
            record_starts.push(input.len() as u64);
            for _ in 0..i % 3 {
                input.push_str(&format!("{time} stderr P some part\n"));
            }
            input.push_str(&format!("{time} stderr F last\n"));
            record_starts.push(input.len() as u64);
        }
        let input = input.as_bytes();
        let file = file_with(input);
        let size = input.len() as u64;
        for buf_len in [3, 64, 4096] {
            for first in 0..=size {
                for cuts in [vec![0, first, size], vec![0, first / 2, first, size]] {
                    let got = ranges(&file, &cuts, buf_len);
                    assert_eq!(got.concat(), input, "cuts {cuts:?}");
                    let mut at = 0;
                    for range in &got {
                        assert!(
                            record_starts.contains(&at),
                            "a range starts at {at}, cuts {cuts:?}"
                        );
                        at += range.len() as u64;
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_cuts_partition_the_records(
            input in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'a'), proptest::num::u8::ANY], 0..300),
            mut cut_points in proptest::collection::vec(0u64..400, 0..8),
            buf_len in 1usize..100,
        ) {
            let size = input.len() as u64;
            cut_points.iter_mut().for_each(|cut| *cut = (*cut).min(size));
            cut_points.push(0);
            cut_points.push(size);
            cut_points.sort_unstable();
            check_partition(&input, &cut_points, buf_len);
        }
    }
}
