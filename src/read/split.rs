//! Split records: container runtimes cut a long log line into parts, and this
//! module puts the parts back together into one record.
//!
//! Two framings split lines:
//! - Docker's json-file driver writes a line longer than 16 KiB as several
//!   records `{"log":"<part>","stream":"stdout",…,"time":"…"}`; only the
//!   last part's `log` value ends in `\n` (the two bytes `\n` before the
//!   closing quote).
//! - CRI runtimes (containerd, CRI-O) write `<RFC 3339 time> <stdout|stderr>
//!   <P|F> <content>`: `P` marks a partial line, `F` its last part.
//!
//! [`Assembler`] sits in the one read loop ([`crate::read::LineReader`]),
//! between the framer and the scanner. The record it builds is the first
//! part up to the end of its content, then each following part's content
//! (still escaped: Docker escapes every part whole, so the escaped contents
//! concatenate into valid JSON), then the last part's end (Docker: from the
//! closing quote; CRI: nothing). It holds at most `max_line_bytes` of it;
//! the rest of a longer group is counted once in `truncated_lines`, like an
//! over-long line. A group is continued only by the next line, of the same
//! framing and stream; any other line ends it, and the parts so far are one
//! record. So a key or value that straddles a split is scanned whole and
//! counts once, and a record's `status_code` is found in whichever part.
//!
//! Only lines of the exact shape are parts ([`classify`]); anything else is a
//! plain line. Which a stream is, is decided once by its first lines
//! (`Mode`): a stream whose first [`SNIFF_LINES`] lines are all Docker or
//! CRI records is a container log, and every line is looked at; at its
//! first plain line among them a stream is plain for good, and pays
//! nothing more for this module (the scanner runs over whole buffers as
//! before). A Docker or CRI log file is that framing throughout.
//!
//! Accounting, so that a restart neither loses nor counts twice: while a
//! group is open its physical lines are held back from `lines` and the
//! checkpoint offset stays at its first part ([`Assembler::group_start`]);
//! both move when the group is counted. At the end of input ([`Assembler::finish`])
//! an unfinished group is a record; a followed file never ends, so there a
//! group waits for its last part.

use std::sync::LazyLock;

use memchr::memmem::FinderRev;

use crate::read::frame::TAIL_BYTES;
use crate::scan::{Scanner, Tally};

/// How many bytes of a line's start [`classify`] looks at (the CRI header
/// and Docker's `{"log":"`).
pub const HEAD_BYTES: usize = 64;

const DOCKER_PREFIX: &[u8] = b"{\"log\":\"";
const DOCKER_STREAM: &[u8] = b"\",\"stream\":\"";

/// Which output stream a part was written to: a group only continues on its
/// own stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout.
    Out,
    /// stderr.
    Err,
}

/// What a line is, by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Not a Docker or CRI record.
    Plain,
    /// A Docker json-file record: its content ends just before the quote at
    /// `close` (an index into the line); `partial` when the content does not
    /// end in `\n`.
    Docker {
        /// Stream.
        stream: Stream,
        /// True for every part but the last.
        partial: bool,
        /// Index of the `log` value's closing quote in the line.
        close: usize,
    },
    /// A CRI record: its content starts at `content` (an index into the
    /// line); `partial` for a `P` tag.
    Cri {
        /// Stream.
        stream: Stream,
        /// True for `P`.
        partial: bool,
        /// Index of the content's first byte.
        content: usize,
    },
}

impl Shape {
    /// True for a part that another part follows.
    pub fn is_partial(self) -> bool {
        match self {
            Shape::Plain => false,
            Shape::Docker { partial, .. } | Shape::Cri { partial, .. } => partial,
        }
    }
}

/// The shape of a line of `len` bytes (without its `\n`) from its first
/// bytes `head` and its last bytes `tail`: whole lines pass themselves as
/// both; an over-long line or a line read with `pread` passes at least
/// [`HEAD_BYTES`] and [`TAIL_BYTES`] of it. Only those many bytes of each
/// are looked at, so every reader of a line classifies it the same way.
pub fn classify(head: &[u8], tail: &[u8], len: usize) -> Shape {
    let head = &head[..head.len().min(HEAD_BYTES)];
    let tail = &tail[tail.len().saturating_sub(TAIL_BYTES)..];
    if head.starts_with(DOCKER_PREFIX) {
        docker_shape(tail, len)
    } else if head.first().is_some_and(u8::is_ascii_digit) {
        cri_shape(head)
    } else {
        Shape::Plain
    }
}

/// `tail` ends the line (a trailing `\r` is a line end): `","stream":"stdout"`
/// or `stderr`, then `,"time":"` or `,"attrs":{`, and `"}` at the end.
fn docker_shape(tail: &[u8], len: usize) -> Shape {
    let tail_start = len - tail.len();
    let tail = tail.strip_suffix(b"\r").unwrap_or(tail);
    if !tail.ends_with(b"\"}") {
        return Shape::Plain;
    }
    let Some(close) = find_docker_stream(tail) else {
        return Shape::Plain;
    };
    if tail_start + close < DOCKER_PREFIX.len() {
        return Shape::Plain;
    }
    let after = &tail[close + DOCKER_STREAM.len()..];
    let stream = if after.starts_with(b"stdout\"") {
        Stream::Out
    } else if after.starts_with(b"stderr\"") {
        Stream::Err
    } else {
        return Shape::Plain;
    };
    let after = &after[b"stdout\"".len()..];
    if !(after.starts_with(b",\"time\":\"") || after.starts_with(b",\"attrs\":{")) {
        return Shape::Plain;
    }
    let content = &tail[..close];
    // The closing quote is one only if not escaped itself.
    if trailing_backslashes(content) % 2 == 1 {
        return Shape::Plain;
    }
    let ends_in_newline = content
        .strip_suffix(b"n")
        .is_some_and(|before| trailing_backslashes(before) % 2 == 1);
    Shape::Docker {
        stream,
        partial: !ends_in_newline,
        close: tail_start + close,
    }
}

/// The Docker shape of an over-long line from its last bytes alone (its
/// head was Docker's): stream, whether a part follows, and the closing
/// quote's index in `tail`.
fn docker_end(tail: &[u8]) -> Option<(Stream, bool, usize)> {
    let tail = &tail[tail.len().saturating_sub(TAIL_BYTES)..];
    match docker_shape(tail, DOCKER_PREFIX.len() + tail.len()) {
        Shape::Docker {
            stream,
            partial,
            close,
        } => Some((stream, partial, close - DOCKER_PREFIX.len())),
        _ => None,
    }
}

/// Where `","stream":"` starts in `tail`, the end of a Docker record. The
/// usual end, `","stream":"stdout","time":"<time>"}`, is checked in place
/// (this runs on every line of a Docker log); one with `attrs` is searched.
fn find_docker_stream(tail: &[u8]) -> Option<usize> {
    const TIME_KEY: &[u8] = b"\",\"time\":\"";
    let body = tail.strip_suffix(b"\"}")?;
    if let Some(quote) = memchr::memrchr(b'"', body)
        && body[..=quote].ends_with(TIME_KEY)
    {
        let before_time = quote + 1 - TIME_KEY.len();
        let stream_value = before_time.checked_sub(b"stdout".len())?;
        let close = stream_value.checked_sub(DOCKER_STREAM.len())?;
        if tail[close..stream_value] == *DOCKER_STREAM {
            return Some(close);
        }
    }
    static FINDER: LazyLock<FinderRev<'static>> = LazyLock::new(|| FinderRev::new(DOCKER_STREAM));
    FINDER.rfind(tail)
}

fn trailing_backslashes(bytes: &[u8]) -> usize {
    bytes.iter().rev().take_while(|&&b| b == b'\\').count()
}

/// `2026-11-29T01:02:03.456789012Z stdout P content`: an RFC 3339 time
/// (checked up to its seconds), one space, the stream, the tag, then a space
/// before the content (or the line's end for an empty one).
fn cri_shape(head: &[u8]) -> Shape {
    let is_digits = |range: std::ops::Range<usize>| {
        head.get(range)
            .is_some_and(|bytes| bytes.iter().all(u8::is_ascii_digit))
    };
    let at = |i: usize, b: u8| head.get(i) == Some(&b);
    if !(is_digits(0..4)
        && at(4, b'-')
        && is_digits(5..7)
        && at(7, b'-')
        && is_digits(8..10)
        && at(10, b'T')
        && is_digits(11..13)
        && at(13, b':')
        && is_digits(14..16)
        && at(16, b':')
        && is_digits(17..19))
    {
        return Shape::Plain;
    }
    let Some(space) = memchr::memchr(b' ', &head[19..]).map(|i| 19 + i) else {
        return Shape::Plain;
    };
    let rest = &head[space + 1..];
    let stream = if rest.starts_with(b"stdout ") {
        Stream::Out
    } else if rest.starts_with(b"stderr ") {
        Stream::Err
    } else {
        return Shape::Plain;
    };
    let tag_at = space + 1 + b"stdout ".len();
    let partial = match head.get(tag_at) {
        Some(b'P') => true,
        Some(b'F') => false,
        _ => return Shape::Plain,
    };
    let content = match head.get(tag_at + 1) {
        Some(b' ') => tag_at + 2,
        None | Some(b'\r') => tag_at + 1,
        Some(_) => return Shape::Plain,
    };
    Shape::Cri {
        stream,
        partial,
        content,
    }
}

/// Positions of `\n` in a buffer, in order, found 64 bytes at a time as a
/// bit mask: a container log is looked at line by line, and one `memchr`
/// call per short line cost more than the rest of the look.
struct Newlines<'a> {
    bytes: &'a [u8],
    /// Start of the block `mask` covers.
    base: usize,
    /// Start of the next block.
    next_block: usize,
    /// The block's newlines not handed out yet, one bit per byte.
    mask: u64,
}

impl<'a> Newlines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            base: 0,
            next_block: 0,
            mask: 0,
        }
    }
}

impl Iterator for Newlines<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            let block = self.bytes.get(self.next_block..)?;
            if block.is_empty() {
                return None;
            }
            self.base = self.next_block;
            self.mask = newline_mask(block);
            self.next_block += 64;
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + bit)
    }
}

/// Bit `i` set when `block[i]` is `\n`, for the first 64 bytes of `block`.
fn newline_mask(block: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if block.len() >= 64 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        let at = block.as_ptr();
        // SAFETY: SSE2 is part of every x86-64 CPU, and the four unaligned
        // 16-byte loads read `block[..64]`, which is in bounds.
        return unsafe {
            let newline = _mm_set1_epi8(b'\n' as i8);
            let part = |offset: usize| {
                let bytes = _mm_loadu_si128(at.add(offset).cast::<__m128i>());
                u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, newline)) as u16)
            };
            part(0) | part(16) << 16 | part(32) << 32 | part(48) << 48
        };
    }
    block
        .iter()
        .take(64)
        .enumerate()
        .filter(|&(_, &b)| b == b'\n')
        .fold(0, |mask, (i, _)| mask | 1 << i)
}

/// How many first lines of a stream must all be Docker or CRI records for
/// it to be read as a container log: one such line among an app's own
/// lines does not make every later line worth a look.
pub const SNIFF_LINES: u32 = 16;

/// How a stream's lines are framed, decided by its first lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Fewer than [`SNIFF_LINES`] lines seen, all container records: every
    /// line is looked at, as in a container log.
    Unknown,
    /// An application's own lines: no line is a part.
    Plain,
    /// Docker json-file or CRI: every line is classified.
    Container,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Docker,
    Cri,
}

/// An open group of parts.
#[derive(Debug)]
struct Group {
    framing: Framing,
    /// `None` while a Docker part's stream is unknown (an over-long first
    /// part, until its end is read).
    stream: Option<Stream>,
    /// Absolute offset of the first part's line.
    start: u64,
    /// Physical lines of the group whose `\n` was read.
    lines: u64,
}

/// An over-long line being skipped by the framer, after its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LongLine {
    /// None (or one that is already counted).
    None,
    /// A CRI part of the open group, classified by its head.
    CriPart,
    /// A line that starts like a Docker record and was added to the open
    /// group: its end tells whether it is a part, and which.
    DockerPart,
}

/// Reassembles split records of one stream: see the module docs.
#[derive(Debug)]
pub struct Assembler {
    max_line_bytes: usize,
    mode: Mode,
    /// Container records among the first lines, while the mode is unknown.
    sniffed: u32,
    group: Option<Group>,
    /// The record being assembled: at most `max_line_bytes`.
    record: Vec<u8>,
    /// True when the group is longer than `max_line_bytes`.
    truncated: bool,
    /// Docker: the latest part's end, from its closing quote (at most
    /// [`TAIL_BYTES`]), which closes the record if no other part comes.
    closing: Vec<u8>,
    /// Docker: the first part's end, whose time is the record's
    /// ([`crate::time`]); empty until that part's end is read.
    first_closing: Vec<u8>,
    long: LongLine,
}

impl Assembler {
    /// An assembler for records of at most `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            max_line_bytes,
            mode: Mode::Unknown,
            sniffed: 0,
            group: None,
            record: Vec::new(),
            truncated: false,
            closing: Vec::new(),
            first_closing: Vec::new(),
            long: LongLine::None,
        }
    }

    /// True once the first line showed a stream of plain lines: the caller
    /// then hands buffers straight to the scanner.
    pub fn is_plain(&self) -> bool {
        self.mode == Mode::Plain
    }

    /// Absolute offset of the open group's first part: no checkpoint may
    /// pass it, or a restart would lose the parts held here.
    pub fn group_start(&self) -> Option<u64> {
        self.group.as_ref().map(|group| group.start)
    }

    /// Physical lines held back from `lines` until their group is counted.
    pub fn held_lines(&self) -> u64 {
        self.group.as_ref().map_or(0, |group| group.lines)
    }

    /// Drops an open group uncounted (its bytes were skipped, not counted).
    pub fn forget(&mut self) {
        self.group = None;
        self.record.clear();
        self.truncated = false;
        self.long = LongLine::None;
    }

    /// Counts complete lines (`lines` ends in `\n`), the first of which
    /// starts at absolute offset `start`.
    pub fn lines(&mut self, lines: &[u8], start: u64, scanner: &mut Scanner, tally: &mut Tally) {
        if self.mode == Mode::Plain {
            tally.set_offset(start);
            scanner.find_errors_in_lines(lines, tally);
            return;
        }
        // Lines that are neither parts nor end a group are scanned together,
        // as the plain path would.
        let mut run_start = 0;
        let mut at = 0;
        for newline in Newlines::new(lines) {
            let line = &lines[at..newline];
            // Only a line that starts like a part can be one; any line
            // ends an open group.
            let maybe_part = matches!(line.first(), Some(b'{' | b'0'..=b'9'));
            if maybe_part || self.group.is_some() || self.mode == Mode::Unknown {
                let shape = classify(line, line, line.len());
                if self.mode == Mode::Unknown && !self.sniff(shape) {
                    // A plain stream: what is left goes the plain way.
                    if run_start < at {
                        tally.set_offset(start + run_start as u64);
                        scanner.find_errors_in_lines(&lines[run_start..at], tally);
                    }
                    self.emit(scanner, tally);
                    tally.set_offset(start + at as u64);
                    scanner.find_errors_in_lines(&lines[at..], tally);
                    return;
                }
                if shape.is_partial() || self.group.is_some() {
                    if run_start < at {
                        tally.set_offset(start + run_start as u64);
                        scanner.find_errors_in_lines(&lines[run_start..at], tally);
                    }
                    if !self.add_line(line, shape, start + at as u64, scanner, tally) {
                        tally.set_offset(start + at as u64);
                        scanner.find_errors_in_lines(&lines[at..=newline], tally);
                    }
                    run_start = newline + 1;
                }
            }
            at = newline + 1;
        }
        if run_start < lines.len() {
            tally.set_offset(start + run_start as u64);
            scanner.find_errors_in_lines(&lines[run_start..], tally);
        }
    }

    /// The unfinished last line at the end of input (no `\n`): a part or a
    /// record. Open groups are counted by [`Assembler::finish`] after it.
    pub fn last_line(&mut self, line: &[u8], start: u64, scanner: &mut Scanner, tally: &mut Tally) {
        let shape = classify(line, line, line.len());
        if self.mode == Mode::Unknown && !self.sniff(shape) {
            self.emit(scanner, tally);
        }
        if self.mode == Mode::Plain || !self.add_line(line, shape, start, scanner, tally) {
            tally.set_offset(start);
            scanner.find_record_error(line, tally);
        }
    }

    /// Adds a complete line of `shape` to the open group or starts one;
    /// counts a group it ends. Returns false for a line that is no part (the
    /// caller scans it).
    fn add_line(
        &mut self,
        line: &[u8],
        shape: Shape,
        start: u64,
        scanner: &mut Scanner,
        tally: &mut Tally,
    ) -> bool {
        if !self.continues(shape) {
            self.emit(scanner, tally);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match shape {
            Shape::Plain => return false,
            Shape::Docker {
                stream,
                partial,
                close,
            } => {
                if self.group.is_some() {
                    self.push(&line[DOCKER_PREFIX.len()..close]);
                } else if partial {
                    self.open(Framing::Docker, Some(stream), start);
                    self.push(&line[..close]);
                } else {
                    return false;
                }
                self.set_closing(&line[close..]);
            }
            Shape::Cri {
                stream,
                partial,
                content,
            } => {
                if self.group.is_some() {
                    self.push(line.get(content..).unwrap_or_default());
                } else if partial {
                    self.open(Framing::Cri, Some(stream), start);
                    self.push(line);
                } else {
                    return false;
                }
            }
        }
        if let Some(group) = &mut self.group {
            group.lines += 1;
        }
        if !shape.is_partial() {
            self.emit(scanner, tally);
        }
        true
    }

    /// Whether a line of `shape` is the open group's next part.
    fn continues(&self, shape: Shape) -> bool {
        match (&self.group, shape) {
            (None, _) => true,
            (Some(group), Shape::Docker { stream, .. }) => {
                group.framing == Framing::Docker && group.stream == Some(stream)
            }
            (Some(group), Shape::Cri { stream, .. }) => {
                group.framing == Framing::Cri && group.stream == Some(stream)
            }
            (Some(_), Shape::Plain) => false,
        }
    }

    /// The first `max_line_bytes` of a line longer than that, starting at
    /// absolute offset `start`; its end follows in [`Assembler::truncated_end`].
    pub fn truncated_head(
        &mut self,
        head: &[u8],
        start: u64,
        scanner: &mut Scanner,
        tally: &mut Tally,
    ) {
        let shape = classify(head, &[], 0);
        let docker_like = head.starts_with(DOCKER_PREFIX);
        if self.mode == Mode::Unknown && !docker_like && !self.sniff(shape) {
            self.emit(scanner, tally);
        } else if self.mode == Mode::Unknown {
            self.sniffed += 1;
        }
        self.long = LongLine::None;
        if self.mode == Mode::Plain {
            tally.truncated_lines += 1;
            tally.set_offset(start);
            scanner.find_record_error(head, tally);
            return;
        }
        if docker_like {
            // Whether it is a part, and of which stream, shows at its end.
            match &self.group {
                Some(group) if group.framing == Framing::Docker => {
                    self.push(&head[DOCKER_PREFIX.len()..]);
                }
                _ => {
                    self.emit(scanner, tally);
                    self.open(Framing::Docker, None, start);
                    self.push(head);
                }
            }
            self.truncated = true;
            self.long = LongLine::DockerPart;
            return;
        }
        if !self.continues(shape) {
            self.emit(scanner, tally);
        }
        match shape {
            Shape::Cri {
                stream,
                partial,
                content,
            } if partial || self.group.is_some() => {
                if self.group.is_some() {
                    self.push(head.get(content..).unwrap_or_default());
                } else {
                    self.open(Framing::Cri, Some(stream), start);
                    self.push(head);
                }
                self.truncated = true;
                if partial {
                    self.long = LongLine::CriPart;
                } else {
                    // The last part: the group is counted now, its line's
                    // `\n` with the other lines when it is read.
                    self.emit(scanner, tally);
                }
            }
            _ => {
                tally.truncated_lines += 1;
                tally.set_offset(start);
                scanner.find_record_error(head, tally);
            }
        }
    }

    /// The end of the over-long line whose head came last: its last bytes
    /// (without `\n`).
    pub fn truncated_end(&mut self, tail: &[u8], scanner: &mut Scanner, tally: &mut Tally) {
        let long = std::mem::replace(&mut self.long, LongLine::None);
        if let Some(group) = &mut self.group
            && long != LongLine::None
        {
            group.lines += 1;
        }
        if long != LongLine::DockerPart {
            return;
        }
        match docker_end(tail) {
            Some((stream, partial, close)) => {
                if let Some(group) = &mut self.group {
                    group.stream.get_or_insert(stream);
                }
                self.set_closing(&tail[close..]);
                if !partial {
                    self.emit(scanner, tally);
                }
            }
            // A line that only began like a part: the record ends here.
            None => self.emit(scanner, tally),
        }
    }

    /// The end of input: an open group is one record, however it ends.
    pub fn finish(&mut self, scanner: &mut Scanner, tally: &mut Tally) {
        self.long = LongLine::None;
        self.emit(scanner, tally);
    }

    /// One of the stream's first lines, while its framing is unknown: a
    /// plain line makes the stream plain (returns false), and
    /// [`SNIFF_LINES`] container records make it a container log.
    fn sniff(&mut self, shape: Shape) -> bool {
        if shape == Shape::Plain {
            self.mode = Mode::Plain;
            return false;
        }
        self.sniffed += 1;
        if self.sniffed >= SNIFF_LINES {
            self.mode = Mode::Container;
        }
        true
    }

    fn open(&mut self, framing: Framing, stream: Option<Stream>, start: u64) {
        self.group = Some(Group {
            framing,
            stream,
            start,
            lines: 0,
        });
        self.record.clear();
        self.closing.clear();
        self.first_closing.clear();
        self.truncated = false;
    }

    /// Keeps a Docker part's end: the latest closes the record, the first
    /// holds its time.
    fn set_closing(&mut self, closing: &[u8]) {
        self.closing.clear();
        self.closing.extend_from_slice(closing);
        if self.first_closing.is_empty() {
            self.first_closing.extend_from_slice(closing);
        }
    }

    /// Appends to the record, keeping at most `max_line_bytes`.
    fn push(&mut self, bytes: &[u8]) {
        let room = self.max_line_bytes - self.record.len().min(self.max_line_bytes);
        if bytes.len() > room {
            self.truncated = true;
        }
        let bytes = &bytes[..bytes.len().min(room)];
        let needed = self.record.len() + bytes.len();
        if needed > self.record.capacity() {
            let target = (self.record.capacity() * 2)
                .min(self.max_line_bytes)
                .max(needed);
            self.record.reserve_exact(target - self.record.len());
        }
        self.record.extend_from_slice(bytes);
    }

    /// Counts the open group, if any, as one record.
    fn emit(&mut self, scanner: &mut Scanner, tally: &mut Tally) {
        let Some(group) = self.group.take() else {
            return;
        };
        if group.framing == Framing::Docker && !self.closing.is_empty() {
            let closing = std::mem::take(&mut self.closing);
            self.push(&closing);
            self.closing = closing;
        }
        if self.truncated {
            tally.truncated_lines += 1;
        }
        let envelope = (group.framing == Framing::Docker && !self.first_closing.is_empty())
            .then_some(self.first_closing.as_slice());
        tally.set_offset(group.start);
        scanner.find_group_error(&self.record, envelope, tally);
        self.record.clear();
        self.closing.clear();
        self.first_closing.clear();
        self.truncated = false;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;
    use crate::read::LineReader;

    const TIME: &str = "2026-11-29T01:02:03.123456789Z";

    /// A JSON string's escaped content (no quotes), as Docker writes it.
    fn escaped(raw: &str) -> String {
        let quoted = serde_json::to_string(raw).unwrap();
        quoted[1..quoted.len() - 1].to_string()
    }

    /// `raw` (one line an app wrote, without its `\n`) as Docker json-file
    /// records, split before each index of `cuts`.
    fn docker(raw: &str, cuts: &[usize], stream: &str) -> String {
        let mut out = String::new();
        let mut from = 0;
        for (i, &to) in cuts.iter().chain([&raw.len()]).enumerate() {
            let last = i == cuts.len();
            let mut part = raw[from..to].to_string();
            if last {
                part.push('\n');
            }
            out.push_str(&format!(
                "{{\"log\":\"{}\",\"stream\":\"{stream}\",\"time\":\"{TIME}\"}}\n",
                escaped(&part)
            ));
            from = to;
        }
        out
    }

    /// `raw` as CRI records, split before each index of `cuts`.
    fn cri(raw: &str, cuts: &[usize], stream: &str) -> String {
        let mut out = String::new();
        let mut from = 0;
        for (i, &to) in cuts.iter().chain([&raw.len()]).enumerate() {
            let tag = if i == cuts.len() { 'F' } else { 'P' };
            out.push_str(&format!("{TIME} {stream} {tag} {}\n", &raw[from..to]));
            from = to;
        }
        out
    }

    fn catalog() -> Arc<Catalog> {
        Arc::new(Catalog::builtin().unwrap())
    }

    /// Counts `input` through the read loop with plain reads of `buf_len`.
    fn count(input: &[u8], max_line_bytes: usize, buf_len: usize) -> Tally {
        crate::read::tests::plain(input, buf_len, max_line_bytes)
    }

    /// The same through the read-ahead pool, with newlines counted on
    /// either thread.
    fn count_ahead(input: &[u8], max_line_bytes: usize, buf_len: usize) -> Tally {
        crate::read::tests::pooled(input, buf_len, max_line_bytes)
    }

    /// Counts at several buffer sizes, both paths, and checks they agree.
    fn count_everyhow(input: &[u8], max_line_bytes: usize) -> Tally {
        let expected = count(input, max_line_bytes, 1 << 16);
        for buf_len in [1, 2, 7, 64, 333, 4096] {
            assert_eq!(
                count(input, max_line_bytes, buf_len),
                expected,
                "buffer {buf_len}"
            );
            assert_eq!(
                count_ahead(input, max_line_bytes, buf_len),
                expected,
                "pool {buf_len}"
            );
        }
        expected
    }

    fn error_count(tally: &Tally, name: &str) -> u64 {
        tally.errors[catalog().index_of(name.as_bytes()).unwrap()]
    }

    const ERROR_LINE: &str = r#"{"level":"error","msg":"stytch","status_code":404,"error_type":"oauth_token_not_found"}"#;

    /// A cut inside `error_type`, so that only the joined parts hold the key.
    fn inside_key() -> usize {
        ERROR_LINE.find("error_ty").unwrap() + 5
    }

    /// `lines` with the `i`th line's [`TIME`] replaced by `times[i]`.
    fn retimed(lines: &str, times: &[&str]) -> String {
        lines
            .lines()
            .zip(times)
            .map(|(line, time)| format!("{}\n", line.replace(TIME, time)))
            .collect()
    }

    /// The seconds at which `input`'s records count, read in UTC at several
    /// buffer sizes by both read paths (which must agree).
    fn counted_seconds(input: &[u8], max_line_bytes: usize) -> Vec<(i64, u64)> {
        use crate::scan::{Periods, Timeline};
        use crate::time::{TimeReader, Zone};
        let timeline = Timeline::new(
            TimeReader::new(Zone::utc()),
            None,
            None,
            Some(Periods::Steps { seconds: 1 }),
        );
        let template = Tally::new(catalog().len()).timed(timeline);
        let cells = |tally: Tally| {
            let timeline = tally.timeline.unwrap();
            let mut cells: Vec<_> = timeline
                .cells()
                .map(|((second, _), count)| (second, count))
                .collect();
            cells.sort();
            (cells, timeline.untimed)
        };
        let expected = cells(crate::read::tests::plain_into(
            input,
            1 << 16,
            max_line_bytes,
            template.empty_like(),
        ));
        for buf_len in [1, 7, 64, 333] {
            let plain = crate::read::tests::plain_into(
                input,
                buf_len,
                max_line_bytes,
                template.empty_like(),
            );
            let pooled = crate::read::tests::pooled_into(input, buf_len, max_line_bytes, &template);
            assert_eq!(cells(plain), expected, "buffer {buf_len}");
            assert_eq!(cells(pooled), expected, "pool {buf_len}");
        }
        assert_eq!(expected.1, 0, "untimed");
        expected.0
    }

    const FIRST: &str = "2026-11-29T13:15:22.000000001Z";
    const SECOND: &str = "2026-11-29T13:15:23.5Z";
    const LAST: &str = "2026-11-29T13:15:24Z";
    /// `date -u -d 2026-11-29T13:15:22Z +%s`
    const FIRST_SECOND: i64 = 1_795_958_122;

    /// The length of `input`'s first line.
    fn first_line_len(input: &str) -> usize {
        input.lines().next().unwrap().len()
    }

    #[test]
    fn a_docker_split_record_takes_the_first_parts_time() {
        let cuts = [10, 40];
        let input = retimed(&docker(ERROR_LINE, &cuts, "stdout"), &[FIRST, SECOND, LAST]);
        assert_eq!(
            counted_seconds(input.as_bytes(), 1 << 20),
            vec![(FIRST_SECOND, 1)]
        );
        // The group after it starts over with its own first part.
        let two = format!(
            "{input}{}",
            retimed(&docker(ERROR_LINE, &[5], "stdout"), &[LAST, FIRST])
        );
        assert_eq!(
            counted_seconds(two.as_bytes(), 1 << 20),
            vec![(FIRST_SECOND, 1), (FIRST_SECOND + 2, 1)]
        );
    }

    #[test]
    fn an_over_long_first_docker_part_gives_its_time_from_its_end() {
        // The error is whole in the head of the first part; the part's
        // envelope, past the maximum, is read after the head.
        let input = retimed(
            &docker(ERROR_LINE, &[ERROR_LINE.len() - 1], "stdout"),
            &[FIRST, LAST],
        );
        let max_line_bytes = first_line_len(&input) - 10;
        assert_eq!(
            counted_seconds(input.as_bytes(), max_line_bytes),
            vec![(FIRST_SECOND, 1)]
        );
    }

    #[test]
    fn a_cri_split_record_takes_the_first_parts_time() {
        let input = retimed(
            &cri(ERROR_LINE, &[10, 40], "stderr"),
            &[FIRST, SECOND, LAST],
        );
        assert_eq!(
            counted_seconds(input.as_bytes(), 1 << 20),
            vec![(FIRST_SECOND, 1)]
        );
        // A first part longer than the maximum, whose head holds the error.
        let raw = format!("{ERROR_LINE} and some words after it");
        let long_first = retimed(
            &cri(&raw, &[ERROR_LINE.len() + 8], "stderr"),
            &[FIRST, LAST],
        );
        let max_line_bytes = first_line_len(&long_first) - 4;
        assert_eq!(
            counted_seconds(long_first.as_bytes(), max_line_bytes),
            vec![(FIRST_SECOND, 1)]
        );
    }

    #[test]
    fn newlines_are_found_in_order_in_any_block() {
        let mut bytes = Vec::new();
        for i in 0..700usize {
            bytes.push(if i % 7 == 0 || i % 64 == 63 || i % 64 == 0 {
                b'\n'
            } else {
                b'x'
            });
            let got: Vec<usize> = Newlines::new(&bytes).collect();
            let want: Vec<usize> = memchr::memchr_iter(b'\n', &bytes).collect();
            assert_eq!(got, want, "length {}", bytes.len());
        }
    }

    #[test]
    fn classify_knows_the_exact_shapes_only() {
        let line = |s: &str| classify(s.as_bytes(), s.as_bytes(), s.len());
        let docker = docker("abc", &[1], "stdout");
        let parts: Vec<&str> = docker.lines().collect();
        assert!(matches!(
            line(parts[0]),
            Shape::Docker {
                partial: true,
                stream: Stream::Out,
                ..
            }
        ));
        assert!(matches!(
            line(parts[1]),
            Shape::Docker { partial: false, .. }
        ));
        // An escaped backslash before `n` is no newline.
        let literal = format!(r#"{{"log":"a\\n","stream":"stderr","time":"{TIME}"}}"#);
        assert!(matches!(
            line(&literal),
            Shape::Docker {
                partial: true,
                stream: Stream::Err,
                ..
            }
        ));
        let attrs =
            format!(r#"{{"log":"a","stream":"stdout","attrs":{{"tag":"x"}},"time":"{TIME}"}}"#);
        assert!(line(&attrs).is_partial());
        assert!(line(&format!("{TIME} stdout P abc")).is_partial());
        assert!(line(&format!("{TIME} stderr P ")).is_partial());
        assert!(line(&format!("{TIME} stdout P")).is_partial());
        assert!(!line(&format!("{TIME} stdout F abc")).is_partial());
        for plain in [
            String::new(),
            r#"{"log":"a","stream":"stdin","time":"x"}"#.to_string(),
            r#"{"log":"a","stream":"stdout","time":"x""#.to_string(),
            r#"{"log":"a\","stream":"stdout","time":"x"}"#.to_string(),
            r#"{"msg":"a","stream":"stdout","time":"x"}"#.to_string(),
            format!("{TIME} stdout X abc"),
            format!("{TIME} stdout Pabc"),
            format!("{TIME}  stdout P abc"),
            "2026-11-29 01:02:03 stdout P abc".to_string(),
            "12345 stdout P abc".to_string(),
        ] {
            assert_eq!(line(&plain), Shape::Plain, "{plain}");
        }
    }

    #[test]
    fn a_key_or_value_straddling_a_docker_split_counts_once_at_every_byte() {
        for cut in 0..=ERROR_LINE.len() {
            let input = docker(ERROR_LINE, &[cut], "stdout");
            let tally = count_everyhow(input.as_bytes(), 1 << 20);
            assert_eq!(error_count(&tally, "oauth_token_not_found"), 1, "cut {cut}");
            assert_eq!(tally.lines, 2);
            assert_eq!(tally.truncated_lines, 0);
            assert_eq!(tally.uncatalogued.iter().sum::<u64>(), 0);
        }
    }

    #[test]
    fn a_key_or_value_straddling_a_cri_split_counts_once_at_every_byte() {
        for cut in 0..=ERROR_LINE.len() {
            let input = cri(ERROR_LINE, &[cut], "stdout");
            let tally = count_everyhow(input.as_bytes(), 1 << 20);
            assert_eq!(error_count(&tally, "oauth_token_not_found"), 1, "cut {cut}");
            assert_eq!(tally.lines, 2);
        }
    }

    #[test]
    fn an_uncatalogued_type_takes_the_status_from_another_part() {
        let raw = r#"{"error_type":"made_up_error","msg":"x","status_code":429}"#;
        for cut in 0..=raw.len() {
            for input in [docker(raw, &[cut], "stdout"), cri(raw, &[cut], "stderr")] {
                let tally = count_everyhow(input.as_bytes(), 1 << 20);
                assert_eq!(
                    tally.uncatalogued[crate::scan::status_slot(Some(429))],
                    1,
                    "cut {cut}"
                );
                assert_eq!(tally.uncatalogued.iter().sum::<u64>(), 1);
            }
        }
    }

    #[test]
    fn an_error_in_any_of_many_parts_counts_once() {
        let raw = format!("{}{ERROR_LINE}{}", "a".repeat(300), "b".repeat(300));
        let cuts = [100, 200, 310, 330, 500];
        for input in [docker(&raw, &cuts, "stdout"), cri(&raw, &cuts, "stdout")] {
            let tally = count_everyhow(input.as_bytes(), 1 << 20);
            assert_eq!(error_count(&tally, "oauth_token_not_found"), 1);
            assert_eq!(tally.lines, 6);
        }
    }

    #[test]
    fn a_group_longer_than_the_maximum_is_one_truncated_record() {
        // 40 parts of 100 bytes: the error sits in part 2, inside the first
        // 1000 bytes of the record; a second one sits past them.
        let mut raw = "x".repeat(150);
        raw.push_str(ERROR_LINE);
        raw.push_str(&"y".repeat(3000));
        raw.push_str(r#""error_type":"session_not_found""#);
        raw.push_str(&"z".repeat(800));
        let cuts: Vec<usize> = (1..raw.len() / 100).map(|i| i * 100).collect();
        for max in [1000, 60] {
            for input in [docker(&raw, &cuts, "stdout"), cri(&raw, &cuts, "stdout")] {
                let tally = count_everyhow(input.as_bytes(), max);
                assert_eq!(tally.truncated_lines, 1, "max {max}");
                assert_eq!(tally.lines, cuts.len() as u64 + 1);
                let expected = u64::from(max == 1000);
                assert_eq!(error_count(&tally, "oauth_token_not_found"), expected);
                assert_eq!(error_count(&tally, "session_not_found"), 0);
            }
        }
    }

    #[test]
    fn parts_each_longer_than_the_maximum_still_make_one_record() {
        let raw = format!("{ERROR_LINE}{}", "q".repeat(5000));
        let cuts = [1000, 2000, 3000, 4000];
        for input in [docker(&raw, &cuts, "stdout"), cri(&raw, &cuts, "stdout")] {
            let tally = count_everyhow(input.as_bytes(), 200);
            assert_eq!(tally.truncated_lines, 1);
            assert_eq!(tally.lines, 5);
            assert_eq!(error_count(&tally, "oauth_token_not_found"), 1);
        }
    }

    #[test]
    fn an_unfinished_group_at_the_end_of_input_is_a_record() {
        let whole = docker(ERROR_LINE, &[40], "stdout");
        let first = whole.lines().next().unwrap();
        for input in [format!("{first}\n"), first.to_string()] {
            let tally = count_everyhow(input.as_bytes(), 1 << 20);
            assert_eq!(error_count(&tally, "oauth_token_not_found"), 0);
            assert_eq!(tally.lines, 1);
        }
        let almost = ERROR_LINE.len() - 1;
        let two = docker(ERROR_LINE, &[inside_key(), almost], "stdout");
        let unfinished: String = two.lines().take(2).map(|l| format!("{l}\n")).collect();
        let tally = count_everyhow(unfinished.as_bytes(), 1 << 20);
        assert_eq!(error_count(&tally, "oauth_token_not_found"), 1);
        assert_eq!(tally.lines, 2);
        let cri_two = cri(ERROR_LINE, &[inside_key(), almost], "stdout");
        let mut cri_unfinished: String =
            cri_two.lines().take(2).map(|l| format!("{l}\n")).collect();
        for input in [cri_unfinished.clone(), {
            cri_unfinished.pop();
            cri_unfinished
        }] {
            let tally = count_everyhow(input.as_bytes(), 1 << 20);
            assert_eq!(error_count(&tally, "oauth_token_not_found"), 1);
            assert_eq!(tally.lines, 2);
        }
    }

    #[test]
    fn a_last_part_without_its_newline_ends_the_group() {
        for mut input in [
            docker(ERROR_LINE, &[30], "stdout"),
            cri(ERROR_LINE, &[30], "stdout"),
        ] {
            input.pop();
            let tally = count_everyhow(input.as_bytes(), 1 << 20);
            assert_eq!(error_count(&tally, "oauth_token_not_found"), 1);
            assert_eq!(tally.lines, 2);
        }
    }

    #[test]
    fn crlf_line_ends_join_like_lf() {
        for cut in [0, 20, 45, ERROR_LINE.len()] {
            for input in [
                docker(ERROR_LINE, &[cut], "stdout"),
                cri(ERROR_LINE, &[cut], "stdout"),
            ] {
                let input = input.replace('\n', "\r\n");
                let tally = count_everyhow(input.as_bytes(), 1 << 20);
                assert_eq!(error_count(&tally, "oauth_token_not_found"), 1, "cut {cut}");
                assert_eq!(tally.lines, 2);
            }
        }
    }

    #[test]
    fn another_stream_or_a_plain_line_ends_a_group() {
        let parts = docker(ERROR_LINE, &[inside_key()], "stdout");
        let (first, last) = parts.split_once('\n').unwrap();
        let other = docker(r#"{"error_type":"session_not_found"}"#, &[], "stderr");
        // stdout part 1, a stderr line, stdout part 2: the split key is
        // never whole, the stderr line counts.
        let input = format!("{first}\n{other}{last}");
        let tally = count_everyhow(input.as_bytes(), 1 << 20);
        assert_eq!(error_count(&tally, "session_not_found"), 1);
        assert_eq!(error_count(&tally, "oauth_token_not_found"), 0);
        assert_eq!(tally.lines, 3);
        let input = format!("{first}\nplain line {ERROR_LINE}\n{last}");
        let tally = count_everyhow(input.as_bytes(), 1 << 20);
        // Only the plain line's whole key counts.
        assert_eq!(error_count(&tally, "oauth_token_not_found"), 1);
        assert_eq!(tally.lines, 3);
    }

    #[test]
    fn a_stream_whose_first_line_is_plain_never_joins_lines() {
        let input = format!("plain\n{}", cri(ERROR_LINE, &[inside_key()], "stdout"));
        let tally = count_everyhow(input.as_bytes(), 1 << 20);
        assert_eq!(error_count(&tally, "oauth_token_not_found"), 0);
        assert_eq!(tally.lines, 3);
    }

    #[test]
    fn a_plain_line_among_the_first_lines_makes_the_stream_plain() {
        let single = docker("{\"level\":\"info\"}", &[], "stdout");
        let split = cri(ERROR_LINE, &[inside_key()], "stdout");
        let lines = SNIFF_LINES as usize - 1;
        let mixed = format!("{}plain\n{split}", single.repeat(lines - 1));
        let tally = count_everyhow(mixed.as_bytes(), 1 << 20);
        assert_eq!(error_count(&tally, "oauth_token_not_found"), 0);
        assert_eq!(tally.lines, lines as u64 + 2);
        // After the first lines, a plain line only ends a group.
        let container = format!("{}plain\n{split}", single.repeat(lines + 1));
        let tally = count_everyhow(container.as_bytes(), 1 << 20);
        assert_eq!(error_count(&tally, "oauth_token_not_found"), 1);
    }

    #[test]
    fn the_offset_stays_at_the_first_part_of_an_unfinished_group() {
        let catalog = catalog();
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let mut tally = Tally::new(catalog.len());
        let mut reader = LineReader::new(1 << 20);
        let single = docker("{\"level\":\"info\"}", &[], "stdout");
        let parts = docker(ERROR_LINE, &[30, 60], "stdout");
        let lines: Vec<&str> = parts.split_inclusive('\n').collect();
        reader.count(single.as_bytes(), &mut scanner, &mut tally);
        let group_start = single.len() as u64;
        assert_eq!(reader.offset(), group_start);
        reader.count(lines[0].as_bytes(), &mut scanner, &mut tally);
        reader.count(lines[1].as_bytes(), &mut scanner, &mut tally);
        assert_eq!(reader.offset(), group_start);
        assert_eq!(
            reader.read_to(),
            (single.len() + lines[0].len() + lines[1].len()) as u64
        );
        // The held parts are not counted yet, so a restart at the offset
        // counts each line once.
        assert_eq!(tally.lines, 1);
        assert_eq!(error_count(&tally, "oauth_token_not_found"), 0);
        reader.count(lines[2].as_bytes(), &mut scanner, &mut tally);
        assert_eq!(reader.offset(), (single.len() + parts.len()) as u64);
        assert_eq!(tally.lines, 4);
        assert_eq!(error_count(&tally, "oauth_token_not_found"), 1);

        // A reader resuming at the held offset counts the whole group.
        let mut resumed = LineReader::starting_at(1 << 20, group_start);
        let mut after = Tally::new(catalog.len());
        resumed.count(parts.as_bytes(), &mut scanner, &mut after);
        assert_eq!(after.lines, 3);
        assert_eq!(error_count(&after, "oauth_token_not_found"), 1);
    }

    /// One app line, split or not, in either framing.
    #[derive(Debug, Clone)]
    struct Record {
        raw: String,
        cuts: Vec<usize>,
        stderr: bool,
    }

    fn record() -> impl proptest::strategy::Strategy<Value = Record> {
        use proptest::prelude::*;
        let raws = prop::sample::select(vec![
            ERROR_LINE.to_string(),
            r#"{"error_type":"made_up_error","status_code":"503"}"#.to_string(),
            r#"{"msg":"body {\"error_type\":\"email_not_found\"} end"}"#.to_string(),
            r#"{"level":"info","msg":"nothing here"}"#.to_string(),
            format!("{}{ERROR_LINE}", "p".repeat(90)),
        ]);
        (
            raws,
            prop::collection::vec(0usize..200, 0..4),
            any::<bool>(),
        )
            .prop_map(|(raw, mut cuts, stderr)| {
                cuts.iter_mut().for_each(|cut| *cut = (*cut).min(raw.len()));
                cuts.sort_unstable();
                Record { raw, cuts, stderr }
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Split records in any buffers count like their unsplit lines, one
        /// record each (all of one framing, as a container's log file is).
        #[test]
        fn split_records_count_like_their_unsplit_lines(
            records in proptest::collection::vec(record(), 1..12),
            cri_file in proptest::prelude::any::<bool>(),
            buf_len in 1usize..300,
            max_line in proptest::sample::select(vec![64usize, 150, 1 << 20]),
        ) {
            let mut split = String::new();
            let mut whole = String::new();
            let mut physical = 0u64;
            for record in &records {
                let stream = if record.stderr { "stderr" } else { "stdout" };
                let (framed, single) = if cri_file {
                    (cri(&record.raw, &record.cuts, stream), cri(&record.raw, &[], stream))
                } else {
                    (docker(&record.raw, &record.cuts, stream), docker(&record.raw, &[], stream))
                };
                split.push_str(&framed);
                whole.push_str(&single);
                physical += record.cuts.len() as u64 + 1;
            }
            // The unsplit lines count alike in a reader that never joins,
            // except where a group's record is longer than its first part
            // (truncation), which the test keeps clear of by its maximum.
            let got = count(split.as_bytes(), max_line, buf_len);
            let mut expected = count(whole.as_bytes(), max_line, 1 << 16);
            proptest::prop_assert_eq!(got.lines, physical);
            expected.lines = physical;
            expected.bytes = split.len() as u64;
            if max_line >= 1 << 20 {
                proptest::prop_assert_eq!(got, expected);
            } else {
                proptest::prop_assert_eq!(got.truncated_lines, expected.truncated_lines);
            }
        }
    }
}
