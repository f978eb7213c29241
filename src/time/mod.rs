//! A counted record's time: where to find it, and how to read it.
//!
//! Like [`crate::read::frame`], this is pure and synchronous: no I/O, and no
//! allocation on the way from a record's bytes to its instant. Only records
//! that count (the scanner found an error in them) are looked at, so lines
//! without an error never pay for it.
//!
//! Where ([`find_candidate`]); **only the first candidate in this order is
//! used**, and if it does not read, the record is untimed:
//! 1. the container runtime's time: a CRI line's prefix (`<RFC 3339>
//!    stdout|stderr P|F …`), or Docker json-file's `"time"` at the end of
//!    its envelope. A record that Docker split takes the first part's
//!    (the caller passes that part's envelope end);
//! 2. the record's own time key: the first `time`, `ts`, `timestamp`,
//!    `@timestamp`, `asctime`, `date`, `datetime` or `logtime` key at any
//!    of the JSON quoting levels the scanner reads (0, 1 and 2), followed by
//!    a colon: a string holding a date-time or an epoch number, or a bare
//!    number;
//! 3. a date-time at the start of the record, or of the message inside a
//!    Docker envelope, directly or after a level prefix: `[` or Ruby
//!    Logger's `E, [`.
//!
//! How ([`parse`]): RFC 3339 / ISO 8601 with `T` or a space, a fraction
//! after `.` or `,`, and `Z`, `±hh:mm`, `±hhmm` or no zone;
//! `YYYY/MM/DD HH:MM:SS`; epoch numbers whose unit follows from their
//! magnitude. A time without a zone is read in the reader's [`Zone`] (gap:
//! forward by the gap; fold: the earlier instant).
//!
//! Not done: carrying a time over from an earlier line (a traceback line
//! that holds the error has no time of its own, and stays untimed); the
//! envelope of a line longer than the maximum record (only its head is a
//! record, so only candidates 2 and 3 are in it).

pub mod parse;
pub mod zone;

pub use zone::{LocalZone, Zone, ZoneError};

use parse::{DateTime, HeadCache, parse_epoch};

/// An instant: nanoseconds since 1970-01-01T00:00:00Z (years 1678 to 2261).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(i64);

impl Stamp {
    /// The instant `nanos` nanoseconds after the epoch.
    pub fn from_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    /// The instant `seconds` seconds after the epoch, if it fits.
    pub fn from_seconds(seconds: i64) -> Option<Self> {
        seconds.checked_mul(NANOS_PER_SECOND).map(Self)
    }

    /// Nanoseconds since the epoch.
    pub fn nanos(self) -> i64 {
        self.0
    }

    /// The system clock's now (the epoch if the clock is before it).
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Seconds since the epoch with their fraction (whole seconds and the
    /// fraction converted apart, so a time like `.25` stays exact).
    pub fn as_seconds_f64(self) -> f64 {
        self.seconds() as f64 + self.0.rem_euclid(NANOS_PER_SECOND) as f64 / NANOS_PER_SECOND as f64
    }

    /// Whole seconds since the epoch, rounded down.
    pub fn seconds(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SECOND)
    }
}

/// RFC 3339 in UTC with `Z`, with the fraction only when there is one.
impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match jiff::Timestamp::from_nanosecond(i128::from(self.0)) {
            Ok(time) => write!(f, "{time}"),
            Err(_) => write!(f, "{}ns", self.0),
        }
    }
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The keys that hold a record's own time, in no order: the first of them
/// in the record is its candidate.
pub const TIME_KEYS: [&[u8]; 8] = [
    b"time",
    b"timestamp",
    b"ts",
    b"@timestamp",
    b"asctime",
    b"date",
    b"datetime",
    b"logtime",
];

/// Deepest JSON quoting level a time key is looked for at (the scanner's).
const MAX_LEVEL: u32 = 2;

/// How Docker's json-file driver starts a record.
const DOCKER_PREFIX: &[u8] = b"{\"log\":\"";

/// How Docker's envelope introduces its time (it is the last key).
const DOCKER_TIME_KEY: &[u8] = b",\"time\":\"";

/// How far into a line the CRI prefix's fields may reach.
const CRI_HEAD_BYTES: usize = 64;

/// The first candidate of a record's time: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate<'a> {
    /// A value that must be a date-time or an epoch number in full: a
    /// JSON string's content, or a CRI prefix's time.
    Whole(&'a [u8]),
    /// An unquoted JSON value from its first byte on: an epoch number.
    Bare(&'a [u8]),
    /// Text from a record's or message's start on: a date-time.
    Leading(&'a [u8]),
}

/// Reads the times of counted records in one zone; one per reading thread
/// (its zone keeps lookup caches).
#[derive(Debug, Clone)]
pub struct TimeReader {
    zone: Zone,
    heads: HeadCache,
}

impl TimeReader {
    /// A reader of zone-less times in `zone`.
    pub fn new(zone: Zone) -> Self {
        Self {
            zone,
            heads: HeadCache::default(),
        }
    }

    /// The zone zone-less times are read in.
    pub fn zone(&mut self) -> &mut Zone {
        &mut self.zone
    }

    /// The time of `record` (one line without its `\n`, or a record put
    /// together from split parts). `envelope` is, for a record Docker
    /// split, the first part's end from its `log` value's closing quote:
    /// the time it holds is the record's.
    pub fn time_of(&mut self, record: &[u8], envelope: Option<&[u8]>) -> Option<Stamp> {
        match find_candidate(record, envelope)? {
            Candidate::Whole(value) => {
                if let Some((date_time, len)) = self.heads.parse(value)
                    && len == value.len()
                {
                    return self.instant(date_time);
                }
                match parse_epoch(value)? {
                    (nanos, len) if len == value.len() => Some(Stamp(nanos)),
                    _ => None,
                }
            }
            Candidate::Bare(value) => parse_epoch(value).map(|(nanos, _)| Stamp(nanos)),
            Candidate::Leading(text) => {
                let parsed = self.heads.parse(text);
                parsed.and_then(|(date_time, _)| self.instant(date_time))
            }
        }
    }

    fn instant(&mut self, date_time: DateTime) -> Option<Stamp> {
        let seconds = match date_time.offset {
            Some(offset) => date_time.civil_seconds.checked_sub(i64::from(offset))?,
            None => self.zone.instant_of(date_time.civil_seconds)?,
        };
        seconds
            .checked_mul(NANOS_PER_SECOND)?
            .checked_add(i64::from(date_time.nanos))
            .map(Stamp)
    }
}

/// The first candidate of `record`'s time, in the order of the module docs.
pub fn find_candidate<'a>(record: &'a [u8], envelope: Option<&'a [u8]>) -> Option<Candidate<'a>> {
    let record = record.strip_suffix(b"\r").unwrap_or(record);
    if let Some(time) = cri_time(record) {
        return Some(Candidate::Whole(time));
    }
    if record.starts_with(DOCKER_PREFIX)
        && let Some(time) = docker_time(envelope.unwrap_or(record))
    {
        return Some(Candidate::Whole(time));
    }
    key_value(record).or_else(|| leading(record))
}

/// The time of a CRI line: `<time> <stdout|stderr> <P|F>` then a space or
/// the line's end.
fn cri_time(record: &[u8]) -> Option<&[u8]> {
    if !record.first()?.is_ascii_digit() {
        return None;
    }
    let head = &record[..record.len().min(CRI_HEAD_BYTES)];
    let space = first_of(head, 0, b' ', b' ')?;
    let rest = &record[space + 1..];
    if !(rest.starts_with(b"stdout ") || rest.starts_with(b"stderr ")) {
        return None;
    }
    let tag = &rest[b"stdout ".len()..];
    match tag {
        [b'P' | b'F'] | [b'P' | b'F', b' ', ..] => Some(&record[..space]),
        _ => None,
    }
}

/// The `"time"` value that ends a Docker envelope: `…,"time":"<value>"}`.
fn docker_time(end: &[u8]) -> Option<&[u8]> {
    let end = end.strip_suffix(b"\r").unwrap_or(end);
    let body = end.strip_suffix(b"\"}")?;
    let quote = last_quote(body)?;
    body[..=quote]
        .ends_with(DOCKER_TIME_KEY)
        .then(|| &body[quote + 1..])
}

/// The value of the record's first time key, at any quoting level.
fn key_value(record: &[u8]) -> Option<Candidate<'_>> {
    for quote in KeyQuotes::new(record) {
        let name_at = quote + 1;
        let Some(&initial) = record.get(name_at) else {
            continue;
        };
        let backslashes = record[..quote]
            .iter()
            .rev()
            .take(8)
            .take_while(|&&b| b == b'\\')
            .count();
        let Some(level) = (0..=MAX_LEVEL).find(|&level| quote_escapes(level) == backslashes) else {
            continue;
        };
        // Each name tried on its own with a constant length (compared in
        // place, not by a `memcmp` call per name); at most one can match,
        // as a name ends at a quote and none holds one.
        let found = match initial {
            b't' => key_named(record, name_at, level, b"time")
                .or_else(|| key_named(record, name_at, level, b"timestamp"))
                .or_else(|| key_named(record, name_at, level, b"ts")),
            b'd' => key_named(record, name_at, level, b"date")
                .or_else(|| key_named(record, name_at, level, b"datetime")),
            b'a' => key_named(record, name_at, level, b"asctime"),
            b'l' => key_named(record, name_at, level, b"logtime"),
            b'@' => key_named(record, name_at, level, b"@timestamp"),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The value of the time key `key` if its name starts at `name_at`, quoted
/// at `level` and followed by a colon.
#[inline(always)]
fn key_named<'a, const N: usize>(
    record: &'a [u8],
    name_at: usize,
    level: u32,
    key: &[u8; N],
) -> Option<Candidate<'a>> {
    let name: &[u8; N] = record.get(name_at..name_at + N)?.try_into().ok()?;
    if name != key {
        return None;
    }
    let after_key = expect_quote(record, name_at + N, level)?;
    let colon = skip_blanks(record, after_key);
    (record.get(colon) == Some(&b':'))
        .then(|| value_at(record, skip_blanks(record, colon + 1), level))
}

/// Positions of the `"` in a record that a time key's first letter (`t`,
/// `d`, `a`, `l`, `@`) follows, in order, found 64 bytes at a time as a bit
/// mask: a record holds dozens of quotes, few of them before such a
/// letter, and one `memchr` call per quote cost more than the rest of the
/// key search.
struct KeyQuotes<'a> {
    bytes: &'a [u8],
    /// Start of the block `mask` covers.
    base: usize,
    /// Start of the next block.
    next_block: usize,
    /// The block's quotes not handed out yet, one bit per byte.
    mask: u64,
    /// Whether the CPU has AVX2, which finds a block's quotes in half the
    /// instructions SSE2 takes (records without a time key are searched
    /// to their end, so this is most of the key search's cost).
    avx2: bool,
}

impl<'a> KeyQuotes<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            base: 0,
            next_block: 0,
            mask: 0,
            #[cfg(target_arch = "x86_64")]
            avx2: std::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            avx2: false,
        }
    }
}

impl Iterator for KeyQuotes<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            if self.next_block >= self.bytes.len() {
                return None;
            }
            #[cfg(target_arch = "x86_64")]
            if self.avx2 && self.bytes.len() >= self.next_block + 65 {
                // SAFETY: the CPU has AVX2 (`self.avx2`).
                let (at, mask) = unsafe { first_key_quote_block_avx2(self.bytes, self.next_block) };
                self.next_block = at;
                if mask != 0 {
                    self.base = at;
                    self.mask = mask;
                    self.next_block += 64;
                }
                // Otherwise fewer than 65 bytes are left from `at`: the
                // last block is read below, shifted.
                continue;
            }
            self.base = self.next_block;
            self.mask = key_quote_mask(self.bytes, self.base, self.avx2);
            self.next_block += 64;
        }
        let bit = self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(self.base + bit)
    }
}

/// True for the first letter of a [`TIME_KEYS`] name.
fn is_key_initial(byte: u8) -> bool {
    matches!(byte, b't' | b'd' | b'a' | b'l' | b'@')
}

/// Bit `i` set when `bytes[at + i]` is `"` and a key's first letter
/// follows it, for the 64 bytes from `at`. `avx2`: the CPU has it.
fn key_quote_mask(bytes: &[u8], at: usize, avx2: bool) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if avx2 && bytes.len() >= at + 65 {
        // SAFETY: the caller saw AVX2 on this CPU, and the length is
        // what `key_quote_mask_avx2` reads.
        return unsafe { key_quote_mask_avx2(bytes, at) };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2 && bytes.len() >= 65 && bytes.len() < at + 65 {
        // The record's last block, short of 65 bytes: the 64 bytes before
        // its last byte, shifted, rather than byte by byte. The last byte
        // itself is no key quote (nothing follows it).
        let window = bytes.len() - 65;
        // `at` is the last byte when the shift is 64: no key quote.
        let shift = (at - window) as u32;
        // SAFETY: as above, with `window + 65 == bytes.len()`.
        return unsafe { key_quote_mask_avx2(bytes, window) }
            .checked_shr(shift)
            .unwrap_or(0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = avx2;
    #[cfg(target_arch = "x86_64")]
    if bytes.len() >= at + 65 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        let start = bytes[at..].as_ptr();
        // SAFETY: SSE2 is part of every x86-64 CPU, and the unaligned
        // 16-byte loads read `bytes[at..at + 65]`, which is in bounds.
        return unsafe {
            let is = |v: __m128i, byte: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8));
            let part = |offset: usize| {
                let here = _mm_loadu_si128(start.add(offset).cast::<__m128i>());
                let next = _mm_loadu_si128(start.add(offset + 1).cast::<__m128i>());
                let initial = _mm_or_si128(
                    _mm_or_si128(is(next, b't'), is(next, b'd')),
                    _mm_or_si128(_mm_or_si128(is(next, b'a'), is(next, b'l')), is(next, b'@')),
                );
                let both = std::arch::x86_64::_mm_and_si128(is(here, b'"'), initial);
                u64::from(_mm_movemask_epi8(both) as u16)
            };
            part(0) | part(16) << 16 | part(32) << 32 | part(48) << 48
        };
    }
    (at..bytes.len().min(at + 64))
        .filter(|&i| bytes[i] == b'"' && bytes.get(i + 1).is_some_and(|&b| is_key_initial(b)))
        .fold(0, |mask, i| mask | 1 << (i - at))
}

/// [`key_quote_mask`] 32 bytes at a time.
///
/// # Safety
/// The CPU must have AVX2, and `bytes.len() >= at + 65`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn key_quote_mask_avx2(bytes: &[u8], at: usize) -> u64 {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };
    let start = bytes[at..].as_ptr();
    let is = |v: __m256i, byte: u8| _mm256_cmpeq_epi8(v, _mm256_set1_epi8(byte as i8));
    let part = |offset: usize| {
        // SAFETY: the unaligned 32-byte loads read `bytes[at..at + 65]`,
        // in bounds by the caller's promise.
        let (here, next) = unsafe {
            (
                _mm256_loadu_si256(start.add(offset).cast::<__m256i>()),
                _mm256_loadu_si256(start.add(offset + 1).cast::<__m256i>()),
            )
        };
        let initial = _mm256_or_si256(
            _mm256_or_si256(is(next, b't'), is(next, b'd')),
            _mm256_or_si256(
                _mm256_or_si256(is(next, b'a'), is(next, b'l')),
                is(next, b'@'),
            ),
        );
        let both = _mm256_and_si256(is(here, b'"'), initial);
        u64::from(_mm256_movemask_epi8(both) as u32)
    };
    part(0) | part(32) << 32
}

/// The first 64-byte block from `at` on, in steps of 64, that holds a key
/// quote: its start and [`key_quote_mask`]; or, when no block with 65
/// bytes left has one, where those blocks end and 0. One call for the
/// blocks of a record rather than one per block: a record without a time
/// key is searched to its end, and the call and the constants cost as
/// much as a block's comparisons.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn first_key_quote_block_avx2(bytes: &[u8], mut at: usize) -> (usize, u64) {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };
    let quote = _mm256_set1_epi8(b'"' as i8);
    let initials = [b't', b'd', b'a', b'l', b'@'].map(|byte| _mm256_set1_epi8(byte as i8));
    let half = |start: *const u8| {
        // SAFETY: the loop reads `bytes[at..at + 65]` only while that is
        // in bounds.
        let (here, next) = unsafe {
            (
                _mm256_loadu_si256(start.cast::<__m256i>()),
                _mm256_loadu_si256(start.add(1).cast::<__m256i>()),
            )
        };
        let initial = _mm256_or_si256(
            _mm256_or_si256(
                _mm256_cmpeq_epi8(next, initials[0]),
                _mm256_cmpeq_epi8(next, initials[1]),
            ),
            _mm256_or_si256(
                _mm256_or_si256(
                    _mm256_cmpeq_epi8(next, initials[2]),
                    _mm256_cmpeq_epi8(next, initials[3]),
                ),
                _mm256_cmpeq_epi8(next, initials[4]),
            ),
        );
        let both = _mm256_and_si256(_mm256_cmpeq_epi8(here, quote), initial);
        u64::from(_mm256_movemask_epi8(both) as u32)
    };
    while at + 65 <= bytes.len() {
        // SAFETY: `at + 64` is in bounds (checked above).
        let start = unsafe { bytes.as_ptr().add(at) };
        // SAFETY: as above, `start + 32 + 33` is in bounds.
        let mask = half(start) | half(unsafe { start.add(32) }) << 32;
        if mask != 0 {
            return (at, mask);
        }
        at += 64;
    }
    (at, 0)
}

/// The candidate a key's value at `at` (quoted at `level`) gives.
fn value_at(record: &[u8], at: usize, level: u32) -> Candidate<'_> {
    let Some(content) = expect_quote(record, at, level) else {
        return Candidate::Bare(&record[at.min(record.len())..]);
    };
    // A time holds no escape: the content ends at the first backslash or
    // quote, which must be the closing quote of its level.
    let end = first_of(record, content, b'"', b'\\').unwrap_or(record.len());
    let closes = match level {
        0 => record.get(end) == Some(&b'"'),
        _ => expect_quote(record, end, level).is_some(),
    };
    if closes {
        Candidate::Whole(&record[content..end])
    } else {
        Candidate::Whole(&[])
    }
}

/// The first `a` or `b` at or after `from`. The bytes searched here (a
/// CRI time, a time value) are short, and a `memchr` call cost more than
/// reading them 16 at a time in place.
fn first_of(bytes: &[u8], from: usize, a: u8, b: u8) -> Option<usize> {
    let mut at = from;
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= bytes.len() {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
            _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of every x86-64 CPU, and the unaligned load
        // reads `bytes[at..at + 16]`, in bounds (checked above).
        let mask = unsafe {
            let block = _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>());
            _mm_movemask_epi8(_mm_or_si128(
                _mm_cmpeq_epi8(block, _mm_set1_epi8(a as i8)),
                _mm_cmpeq_epi8(block, _mm_set1_epi8(b as i8)),
            ))
        };
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += 16;
    }
    bytes
        .get(at..)
        .unwrap_or_default()
        .iter()
        .position(|&byte| byte == a || byte == b)
        .map(|i| at + i)
}

/// The last `"` in `bytes`, read 16 bytes at a time from the end in place
/// (a Docker envelope's time is its last value, a few dozen bytes).
fn last_quote(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    #[cfg(target_arch = "x86_64")]
    while end >= 16 {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of every x86-64 CPU, and the unaligned load
        // reads `bytes[end - 16..end]`, in bounds (checked above).
        let mask = unsafe {
            let block = _mm_loadu_si128(bytes.as_ptr().add(end - 16).cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(block, _mm_set1_epi8(b'"' as i8)))
        };
        if mask != 0 {
            // The mask's highest set bit of its 16 is the last quote.
            let highest = 31 - mask.leading_zeros() as usize;
            return Some(end - 16 + highest);
        }
        end -= 16;
    }
    bytes[..end].iter().rposition(|&byte| byte == b'"')
}

/// A date-time at the start of the record or of a Docker message, after
/// a level prefix.
fn leading(record: &[u8]) -> Option<Candidate<'_>> {
    let text = record.strip_prefix(DOCKER_PREFIX).unwrap_or(record);
    let text = match text {
        [level, b',', b' ', b'[', rest @ ..] if level.is_ascii_uppercase() => rest,
        [b'[', rest @ ..] => rest,
        _ => text,
    };
    text.first()
        .is_some_and(u8::is_ascii_digit)
        .then_some(Candidate::Leading(text))
}

/// Backslashes before a quote at a quoting level: 0, 1, 3.
fn quote_escapes(level: u32) -> usize {
    (1usize << level) - 1
}

/// Position after the quote expected at `pos` for `level`, if it is there.
fn expect_quote(record: &[u8], pos: usize, level: u32) -> Option<usize> {
    let escapes = quote_escapes(level);
    let quote = record.get(pos..pos + escapes + 1)?;
    let (last, backslashes) = quote.split_last()?;
    (*last == b'"' && backslashes.iter().all(|&b| b == b'\\')).then_some(pos + escapes + 1)
}

fn skip_blanks(record: &[u8], pos: usize) -> usize {
    pos + record
        .get(pos..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
