//! The scanner: finds each record's Stytch error type and counts it.
//!
//! This module is the product's counting contract (see the README):
//! - a record is one line; its error is the **first** error form in it:
//!   - an `error_type` key whose value is a JSON string, at quoting level 0
//!     (`"error_type":"x"`), 1 (`\"error_type\":\"x\"`, JSON inside a JSON
//!     string) or 2 (escaped twice), with optional white space around the
//!     colon;
//!   - or one of the forms the official SDKs print (the `forms` module): Python
//!     `error_type='x'` and `'error_type': 'x'`, Go `Stytch Error - …, type:
//!     x, …`, Ruby `"error_type"=>"x"`, Kotlin `errorType=x`;
//! - a JSON value is decoded as a JSON string at its level and must close
//!   inside the record;
//! - a catalogued value is counted under its type; any other value is
//!   *uncatalogued*: a JSON key's is counted under the record's first valid
//!   `status_code` at the same level (100..=599), else `unknown`; an SDK
//!   form's only with its own form's status.
//!
//! Speed comes from never looking at lines without a hit: one `memmem` pass
//! over a whole chunk of lines for `ype`, which every form holds, and only
//! around a hit is the line found and parsed. Lines without an error cost no
//! allocation, no UTF-8 validation and no JSON parsing. Decoding happens only
//! for values with escapes, through a streaming unescaper whose work is
//! bounded by the value, not the line.
//!
//! No I/O here: callers hand in complete lines ([`crate::read::frame`]).

use std::collections::HashMap;
use std::sync::Arc;

use memchr::memmem::Finder;

mod anchor;
pub mod examples;
mod forms;
pub mod latest;
pub mod recent;
pub mod request_id;
pub mod timeline;

use anchor::{Anchor, AnchorKind, Anchors};
pub use timeline::{Periods, Timeline};

use crate::catalog::Catalog;

/// Deepest quoting level understood: JSON escaped twice (Docker json-file
/// around an app that embeds the API's JSON body in a string).
pub const MAX_LEVEL: u32 = 2;

/// Lowest and highest HTTP status accepted as an uncatalogued error's status.
pub const STATUS_RANGE: std::ops::RangeInclusive<u16> = 100..=599;

/// Slots of [`Tally::uncatalogued`]: one per status in [`STATUS_RANGE`], then `unknown`.
pub const STATUS_SLOTS: usize = 501;

/// The slot of [`Tally::uncatalogued`] for errors without a valid status.
pub const UNKNOWN_STATUS_SLOT: usize = STATUS_SLOTS - 1;

/// Longest uncatalogued error type name kept for reporting; longer names
/// are cut (they are untrusted input and never catalogued anyway).
pub const MAX_NAME_BYTES: usize = 128;

/// How many distinct uncatalogued names are tracked before new ones are
/// lumped together: memory stays bounded whatever the logs contain.
pub const MAX_TRACKED_NAMES: usize = 1000;

/// What a record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A catalogued error type, by catalogue index.
    Catalogued(usize),
    /// An error type that is not in the catalogue, with the record's status.
    Uncatalogued {
        /// Its status code, if the record has a valid one at the same level.
        status: Option<u16>,
    },
}

/// Counts for a stream of records; merged into shared counters by callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Records seen.
    pub lines: u64,
    /// Bytes seen (maintained by the caller, which knows what it read).
    pub bytes: u64,
    /// Records longer than the maximum line length.
    pub truncated_lines: u64,
    /// Per catalogued type, by catalogue index.
    pub errors: Vec<u64>,
    /// Uncatalogued errors per status slot (see [`status_slot`]).
    pub uncatalogued: Vec<u64>,
    /// Uncatalogued names, when the caller asked for them.
    pub uncatalogued_names: Option<NameCounts>,
    /// Counts by time, when the caller asked for a window or periods
    /// ([`timeline`]); `None` costs the scanner nothing.
    pub timeline: Option<Box<Timeline>>,
    /// The latest record of each type, its time and request ID, when the
    /// caller asked for them ([`latest`]); `None` costs the scanner
    /// nothing.
    pub latest: Option<Box<latest::Latest>>,
    /// The latest records of each catalogued type with their offsets
    /// (`scan --examples`, [`examples`]); `None` costs the scanner nothing.
    pub examples: Option<Box<examples::Examples>>,
    /// A daemon input's latest records of each catalogued type, for the
    /// status page ([`recent`]); kept with [`Tally::latest`], which finds
    /// them. Not counts: [`Tally::clear`] and [`Tally::merge`] leave them.
    pub recent: Option<Box<recent::RecentRecords>>,
}

impl Tally {
    /// An empty tally for a catalogue of `types` entries.
    pub fn new(types: usize) -> Self {
        Self {
            lines: 0,
            bytes: 0,
            truncated_lines: 0,
            errors: vec![0; types],
            uncatalogued: vec![0; STATUS_SLOTS],
            uncatalogued_names: None,
            timeline: None,
            latest: None,
            examples: None,
            recent: None,
        }
    }

    /// The same tally keeping examples of each catalogued type.
    pub fn with_examples(self, examples: examples::Examples) -> Self {
        Self {
            examples: Some(Box::new(examples)),
            ..self
        }
    }

    /// The records the scanner is handed next start at absolute `offset`
    /// of their stream: only [`examples`] needs it.
    #[inline]
    pub fn set_offset(&mut self, offset: u64) {
        if let Some(examples) = &mut self.examples {
            examples.set_base(offset);
        }
        if let Some(recent) = &mut self.recent {
            recent.set_base(offset);
        }
    }

    /// The records the scanner is handed next are from `path`: only
    /// [`recent`] needs it.
    pub fn set_file(&mut self, path: &std::path::Path) {
        if let Some(recent) = &mut self.recent {
            recent.set_file(path);
        }
    }

    /// The same tally keeping the latest records of each type in `latest`
    /// and, for the status page, in `recent`.
    pub fn with_recent(self, latest: latest::Latest, recent: recent::RecentRecords) -> Self {
        Self {
            latest: Some(Box::new(latest)),
            recent: Some(Box::new(recent)),
            ..self
        }
    }

    /// The same tally keeping the latest record of each type in `latest`.
    pub fn with_latest(self, latest: latest::Latest) -> Self {
        Self {
            latest: Some(Box::new(latest)),
            ..self
        }
    }

    /// The same tally with counts by time kept in `timeline`.
    pub fn timed(self, timeline: Timeline) -> Self {
        Self {
            timeline: Some(Box::new(timeline)),
            ..self
        }
    }

    /// An empty tally counting what this one counts (names, times).
    pub fn empty_like(&self) -> Self {
        let mut empty = self.clone();
        empty.clear();
        empty
    }

    /// An empty tally that also counts uncatalogued names.
    pub fn with_names(types: usize) -> Self {
        Self {
            uncatalogued_names: Some(NameCounts::default()),
            ..Self::new(types)
        }
    }

    /// Sets every count back to zero, keeping the allocations.
    pub fn clear(&mut self) {
        self.lines = 0;
        self.bytes = 0;
        self.truncated_lines = 0;
        self.errors.fill(0);
        self.uncatalogued.fill(0);
        if let Some(names) = &mut self.uncatalogued_names {
            *names = NameCounts::default();
        }
        if let Some(timeline) = &mut self.timeline {
            timeline.clear();
        }
        if let Some(latest) = &mut self.latest {
            latest.clear();
        }
        if let Some(examples) = &mut self.examples {
            examples.clear();
        }
    }

    /// True when nothing has been counted since the last clear.
    pub fn is_empty(&self) -> bool {
        self.lines == 0 && self.bytes == 0 && self.truncated_lines == 0
    }

    /// Adds `other`'s counts to this tally.
    pub fn merge(&mut self, other: &Tally) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.truncated_lines += other.truncated_lines;
        for (mine, theirs) in self.errors.iter_mut().zip(&other.errors) {
            *mine += theirs;
        }
        for (mine, theirs) in self.uncatalogued.iter_mut().zip(&other.uncatalogued) {
            *mine += theirs;
        }
        if let (Some(mine), Some(theirs)) =
            (&mut self.uncatalogued_names, &other.uncatalogued_names)
        {
            for (name, count) in &theirs.counts {
                mine.add(name, *count);
            }
            mine.untracked += theirs.untracked;
        }
        if let (Some(mine), Some(theirs)) = (&mut self.timeline, &other.timeline) {
            mine.merge(theirs);
        }
        if let (Some(mine), Some(theirs)) = (&mut self.latest, &other.latest) {
            mine.merge(theirs);
        }
        if let (Some(mine), Some(theirs)) = (&mut self.examples, &other.examples) {
            mine.merge(theirs);
        }
    }

    /// Uncatalogued counts by status label (`"404"`, `"unknown"`), non-zero only.
    pub fn uncatalogued_by_status(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.uncatalogued
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(slot, count)| (status_label(slot), *count))
    }
}

/// The [`Tally::uncatalogued`] slot for a status.
pub fn status_slot(status: Option<u16>) -> usize {
    match status {
        Some(code) if STATUS_RANGE.contains(&code) => usize::from(code - STATUS_RANGE.start()),
        _ => UNKNOWN_STATUS_SLOT,
    }
}

/// The `status_code` label of a [`Tally::uncatalogued`] slot.
pub fn status_label(slot: usize) -> String {
    if slot >= UNKNOWN_STATUS_SLOT {
        "unknown".to_string()
    } else {
        (usize::from(*STATUS_RANGE.start()) + slot).to_string()
    }
}

/// Bounded counts of uncatalogued error type names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameCounts {
    counts: HashMap<Vec<u8>, u64>,
    /// Occurrences of names that arrived after [`MAX_TRACKED_NAMES`] were tracked.
    pub untracked: u64,
}

impl NameCounts {
    fn add(&mut self, name: &[u8], count: u64) {
        let name = &name[..name.len().min(MAX_NAME_BYTES)];
        if let Some(existing) = self.counts.get_mut(name) {
            *existing += count;
        } else if self.counts.len() < MAX_TRACKED_NAMES {
            self.counts.insert(name.to_vec(), count);
        } else {
            self.untracked += count;
        }
    }

    /// The `limit` most frequent names (ties by name), lossily decoded.
    pub fn top(&self, limit: usize) -> Vec<(String, u64)> {
        let mut names: Vec<(String, u64)> = self
            .counts
            .iter()
            .map(|(name, count)| (String::from_utf8_lossy(name).into_owned(), *count))
            .collect();
        names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        names.truncate(limit);
        names
    }
}

/// Finds and counts errors in complete records. One per reading task: it
/// keeps scratch space, so scanning needs `&mut self`.
#[derive(Debug, Clone)]
pub struct Scanner {
    catalog: Arc<Catalog>,
    anchors: Anchors,
    status_code: Finder<'static>,
    scratch: Vec<u8>,
}

const ERROR_TYPE: &[u8] = b"error_type";
const STATUS_CODE: &[u8] = b"status_code";

/// Where an error's name was read from.
#[derive(Debug, PartialEq, Eq)]
enum Name {
    /// These bytes of the record, as they stand.
    Raw(std::ops::Range<usize>),
    /// The scanner's scratch buffer (a JSON string that needed decoding).
    Decoded,
}

impl Name {
    /// The name's bytes, from the record or the scratch buffer.
    fn bytes<'a>(&self, line: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        match self {
            Name::Raw(range) => &line[range.clone()],
            Name::Decoded => scratch,
        }
    }
}

/// What [`Scanner::classify`] found in a record: its finding, where the
/// record starts (in the slice it was given), and an uncatalogued name to
/// track once the record counts.
#[derive(Debug)]
struct Classified {
    finding: Finding,
    record_start: Option<usize>,
    /// Where the error's form starts: the record starts at or before it.
    anchor_at: usize,
    uncatalogued_name: Option<Name>,
}

/// An error form matched at an anchor: its name, and how to find the
/// record's status if the name is not catalogued.
#[derive(Debug)]
struct Matched {
    name: Name,
    status: StatusSource,
}

/// Where an uncatalogued error's status comes from.
#[derive(Debug, Clone, Copy)]
enum StatusSource {
    /// The record's first `status_code` key at this JSON quoting level; an
    /// error without one still counts, under `unknown`.
    JsonKey(u32),
    /// An SDK form's own status field ([`forms::status_of`]); an error
    /// without one is not counted (another library's `error_type='x'`).
    Sdk(forms::Form),
    /// The status written inside the form itself (Go's error string).
    Inline(Option<u16>),
}

impl Scanner {
    /// A scanner that classifies error types against `catalog`.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            catalog,
            anchors: Anchors::new(),
            status_code: Finder::new(STATUS_CODE).into_owned(),
            scratch: Vec::with_capacity(MAX_NAME_BYTES),
        }
    }

    /// The catalogue this scanner counts against.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Counts complete lines, each ending in `\n`; a last line without one
    /// counts as a record too.
    pub fn scan_lines(&mut self, lines: &[u8], tally: &mut Tally) {
        tally.lines += count_records(lines);
        self.find_errors_in_lines(lines, tally);
    }

    /// Counts the errors of complete lines, leaving `tally.lines` alone:
    /// the read loop counts newlines itself ([`crate::read::LineReader`]),
    /// on the read-ahead thread while the buffer is still hot.
    pub fn find_errors_in_lines(&mut self, lines: &[u8], tally: &mut Tally) {
        let mut pos = 0;
        while let Some(anchor) = self.anchors.find(lines, pos) {
            let line_end =
                memchr::memchr(b'\n', &lines[anchor.at..]).map_or(lines.len(), |i| anchor.at + i);
            // The slice starts at a line start at or before the anchor's
            // line (lines without an anchor in between): the forms only look
            // back a few bytes, which never cross a newline, and the real
            // line start is found only when a status or a time is needed.
            let line = &lines[..line_end];
            if let Some(classified) = self.classify(line, pos, anchor) {
                self.count(line, pos, None, classified, tally);
            }
            pos = line_end + 1;
            if pos >= lines.len() {
                break;
            }
        }
        if let Some(latest) = &mut tally.latest {
            latest.resolve(lines, None, tally.recent.as_deref_mut());
        }
        if let Some(examples) = &mut tally.examples {
            examples.resolve(lines);
        }
    }

    /// Counts one record (a line without its newline, or the head of an
    /// over-long line).
    pub fn scan_record(&mut self, record: &[u8], tally: &mut Tally) {
        tally.lines += 1;
        self.find_record_error(record, tally);
    }

    /// Counts the error of one record, leaving `tally.lines` alone.
    pub fn find_record_error(&mut self, record: &[u8], tally: &mut Tally) {
        self.find_group_error(record, None, tally);
    }

    /// Counts the error of a record put together from the parts a
    /// container runtime split ([`crate::read::split`]); for Docker,
    /// `envelope` is the first part's end from its `log` value's closing
    /// quote, whose time is the record's.
    pub fn find_group_error(&mut self, record: &[u8], envelope: Option<&[u8]>, tally: &mut Tally) {
        if let Some(anchor) = self.anchors.find(record, 0)
            && let Some(classified) = self.classify(record, 0, anchor)
        {
            self.count(record, 0, envelope, classified, tally);
        }
        if let Some(latest) = &mut tally.latest {
            latest.resolve(record, envelope, tally.recent.as_deref_mut());
        }
        if let Some(examples) = &mut tally.examples {
            examples.resolve(record);
        }
    }

    /// The error a single record carries, if any.
    pub fn find_error(&mut self, record: &[u8]) -> Option<Finding> {
        let anchor = self.anchors.find(record, 0)?;
        self.classify(record, 0, anchor)
            .map(|classified| classified.finding)
    }

    /// Counts a classified record of `line` (which ends where the record
    /// ends; `from` is a line start at or before the record's): in its
    /// timeline first, when the tally keeps one, which may leave it out of
    /// the totals.
    #[inline(always)]
    fn count(
        &mut self,
        line: &[u8],
        from: usize,
        envelope: Option<&[u8]>,
        classified: Classified,
        tally: &mut Tally,
    ) {
        // What only `scan` asks for (a window, examples, names) is out of
        // line: the daemon's path stays a few instructions per record.
        if (tally.timeline.is_some()
            || tally.examples.is_some()
            || tally.uncatalogued_names.is_some())
            && !self.note_for_scan(line, from, envelope, &classified, tally)
        {
            return;
        }
        if let Some(latest) = &mut tally.latest {
            let slot = slot_of(&classified.finding, tally.errors.len());
            // `line` starts where the scanned slice does; the record's start
            // is found only for the slot's last records, at the resolve.
            let (from, anchor) = match classified.record_start {
                Some(start) => (start, start),
                None => (from, classified.anchor_at),
            };
            latest.defer(slot, from, anchor, line.len());
        }
        count(classified.finding, tally);
    }

    /// Places a classified record in the tally's timeline, examples and
    /// names, as [`Scanner::count`]; false when the timeline leaves it out
    /// of the counts (outside the window).
    #[inline(never)]
    fn note_for_scan(
        &mut self,
        line: &[u8],
        from: usize,
        envelope: Option<&[u8]>,
        classified: &Classified,
        tally: &mut Tally,
    ) -> bool {
        let start = || {
            classified
                .record_start
                .unwrap_or_else(|| record_start(line, from, classified.anchor_at))
        };
        if let Some(timeline) = &mut tally.timeline {
            let slot = slot_of(&classified.finding, tally.errors.len());
            if !timeline.place(&line[start()..], envelope, slot) {
                return false;
            }
        }
        if let (Some(examples), Finding::Catalogued(index)) =
            (&mut tally.examples, &classified.finding)
        {
            let start = start();
            examples.note(&line[start..], envelope, start, *index);
        }
        if let (Some(names), Some(name)) =
            (&mut tally.uncatalogued_names, &classified.uncatalogued_name)
        {
            names.add(name.bytes(line, &self.scratch), 1);
        }
        true
    }

    /// The error of the record that ends at `line.len()` and holds
    /// `anchor`, the first anchor at or after `from` (a line start at or
    /// before the record's).
    fn classify(&mut self, line: &[u8], from: usize, mut anchor: Anchor) -> Option<Classified> {
        loop {
            if let Some(matched) = self.match_form(line, anchor) {
                if let Some(index) = self
                    .catalog
                    .index_of(matched.name.bytes(line, &self.scratch))
                {
                    return Some(Classified {
                        finding: Finding::Catalogued(index),
                        // Found only if a timeline needs it.
                        record_start: None,
                        anchor_at: anchor.at,
                        uncatalogued_name: None,
                    });
                }
                let line_start = record_start(line, from, anchor.at);
                let record = &line[line_start..];
                let status = match matched.status {
                    StatusSource::JsonKey(level) => Some(self.status_of(record, level)),
                    StatusSource::Sdk(form) => {
                        forms::status_of(record, form, &self.status_code).map(Some)
                    }
                    StatusSource::Inline(status) => status.map(Some),
                };
                if let Some(status) = status {
                    return Some(Classified {
                        finding: Finding::Uncatalogued { status },
                        record_start: Some(line_start),
                        anchor_at: anchor.at,
                        uncatalogued_name: Some(matched.name),
                    });
                }
            }
            anchor = self.anchors.find(line, anchor.at + 1)?;
        }
    }

    /// The form at `anchor`, if one is complete there.
    fn match_form(&mut self, line: &[u8], anchor: Anchor) -> Option<Matched> {
        match anchor.kind {
            AnchorKind::Snake => self.match_error_type(line, anchor.at),
            AnchorKind::Go => forms::go_error(line, anchor.at).map(|(name, status)| Matched {
                name: Name::Raw(name),
                status: StatusSource::Inline(status),
            }),
            AnchorKind::Kotlin => forms::kotlin_error_type(line, anchor.at).map(|name| Matched {
                name: Name::Raw(name),
                status: StatusSource::Sdk(forms::Form::Kotlin),
            }),
            AnchorKind::GoSyntax => {
                forms::go_syntax_error_type(line, anchor.at).map(|name| Matched {
                    name: Name::Raw(name),
                    status: StatusSource::Sdk(forms::Form::GoSyntax),
                })
            }
        }
    }

    /// The forms around the literal `error_type` at `at`: a JSON key or a
    /// Ruby hash key (quoted at some level), a Python attribute or a Python
    /// dict key.
    fn match_error_type(&mut self, line: &[u8], at: usize) -> Option<Matched> {
        if let Some((level, separator, value_start)) = key_at(line, at, ERROR_TYPE.len()) {
            let name = read_string(line, value_start, level, &mut self.scratch)?;
            return Some(match separator {
                Separator::Colon => Matched {
                    name,
                    status: StatusSource::JsonKey(level),
                },
                Separator::Arrow => {
                    if !forms::is_sdk_name(name.bytes(line, &self.scratch)) {
                        return None;
                    }
                    Matched {
                        name,
                        status: StatusSource::Sdk(forms::Form::Ruby(level)),
                    }
                }
            });
        }
        let (name, form) = forms::python_error_type(line, at)?;
        Some(Matched {
            name: Name::Raw(name),
            status: StatusSource::Sdk(form),
        })
    }

    /// The first valid `status_code` JSON key of `line` at quoting `level`.
    fn status_of(&self, line: &[u8], level: u32) -> Option<u16> {
        first_status(line, &self.status_code, |line, at| {
            key_status(line, at, level, Separator::Colon)
        })
    }
}

/// The first `status_code` literal of `record` from which `read` gets a
/// status.
fn first_status(
    record: &[u8],
    status_code: &Finder<'_>,
    read: impl Fn(&[u8], usize) -> Option<u16>,
) -> Option<u16> {
    let mut pos = 0;
    while let Some(found) = status_code.find(&record[pos..]) {
        let at = pos + found;
        if let Some(status) = read(record, at) {
            return Some(status);
        }
        pos = at + 1;
    }
    None
}

/// The valid status of a `status_code` key at `at`, quoted at `level` and
/// followed by `separator`.
fn key_status(record: &[u8], at: usize, level: u32, separator: Separator) -> Option<u16> {
    match key_at(record, at, STATUS_CODE.len())? {
        (key_level, key_separator, value) if key_level == level && key_separator == separator => {
            read_status(record, value, level)
        }
        _ => None,
    }
}

/// Where the record holding `at` starts: after the last newline between
/// `from` (a line start) and `at`.
pub(crate) fn record_start(line: &[u8], from: usize, at: usize) -> usize {
    from + last_newline(&line[from..at]).map_or(0, |i| i + 1)
}

/// The last `\n` in `bytes`. An anchor is a few hundred bytes past its
/// record's start, where a `memrchr` call's setup cost as much as the
/// search: with AVX2, 32 bytes at a time in place.
fn last_newline(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() >= 32 && std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above), and `bytes` holds at
        // least 32 bytes.
        return unsafe { last_newline_avx2(bytes) };
    }
    memchr::memrchr(b'\n', bytes)
}

/// [`last_newline`] 32 bytes at a time from the end; the first block read
/// again from 0, its bytes already read masked off.
///
/// # Safety
/// The CPU must have AVX2, and `bytes.len() >= 32`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn last_newline_avx2(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let newline = _mm256_set1_epi8(b'\n' as i8);
    // Newlines among the 32 bytes from `start`, one bit per byte.
    let newlines_at = |start: usize| {
        // SAFETY: callers pass `start + 32 <= bytes.len()`.
        let block = unsafe { _mm256_loadu_si256(bytes.as_ptr().add(start).cast::<__m256i>()) };
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(block, newline)) as u32
    };
    let mut end = bytes.len();
    while end >= 32 {
        let mask = newlines_at(end - 32);
        if mask != 0 {
            return Some(end - 32 + 31 - mask.leading_zeros() as usize);
        }
        end -= 32;
    }
    // Fewer than 32 bytes are left before `end`: the block at 0, with the
    // bits at `end` and past (already read) cleared.
    let mask = newlines_at(0) & ((1u32 << end) - 1);
    (mask != 0).then(|| 31 - mask.leading_zeros() as usize)
}

/// A finding's slot in a [`Timeline`]: its catalogue index, or after the
/// catalogue's `types` its uncatalogued status slot.
pub fn slot_of(finding: &Finding, types: usize) -> u32 {
    let slot = match finding {
        Finding::Catalogued(index) => *index,
        Finding::Uncatalogued { status } => types + status_slot(*status),
    };
    u32::try_from(slot).unwrap_or(u32::MAX)
}

/// Records in `lines`: its newlines, plus a last line without one.
fn count_records(lines: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', lines).count() as u64;
    newlines + u64::from(lines.last().is_some_and(|&last| last != b'\n'))
}

fn count(finding: Finding, tally: &mut Tally) {
    match finding {
        Finding::Catalogued(index) => {
            if let Some(slot) = tally.errors.get_mut(index) {
                *slot += 1;
            }
        }
        Finding::Uncatalogued { status } => tally.uncatalogued[status_slot(status)] += 1,
    }
}

/// Backslashes before a quote at each quoting level: 0, 1, 3 (2^level - 1).
fn quote_escapes(level: u32) -> usize {
    (1usize << level) - 1
}

/// Backslashes that escape a character (like `n` in `\n`) at a level >= 1.
fn char_escapes(level: u32) -> usize {
    1usize << (level.saturating_sub(1))
}

/// What follows a quoted key: JSON's colon, or Ruby's hash rocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Separator {
    /// `:`, as in JSON.
    Colon,
    /// `=>`, as in Ruby's `Hash#inspect` (`" => "` from Ruby 3.4 on; the
    /// `>` may be written `\u003e`, as Docker's and Go's encoders do).
    Arrow,
}

/// If the name of `name_len` bytes at `at` is a key (quoted at some level
/// and followed by a colon or a hash rocket), its level, its separator and
/// where its value starts.
fn key_at(line: &[u8], at: usize, name_len: usize) -> Option<(u32, Separator, usize)> {
    if at == 0 || line[at - 1] != b'"' {
        return None;
    }
    let backslashes = line[..at - 1]
        .iter()
        .rev()
        .take(8)
        .take_while(|&&b| b == b'\\')
        .count();
    let level = (0..=MAX_LEVEL).find(|&level| quote_escapes(level) == backslashes)?;
    let after_name = at + name_len;
    let after_quote = expect_quote(line, after_name, level)?;
    let separator = skip_whitespace(line, after_quote, level);
    match line.get(separator) {
        Some(b':') => Some((
            level,
            Separator::Colon,
            skip_whitespace(line, separator + 1, level),
        )),
        Some(b'=') => {
            let after = forms::after_greater_than(line, separator + 1)?;
            Some((level, Separator::Arrow, skip_whitespace(line, after, level)))
        }
        _ => None,
    }
}

/// Position after the quote expected at `pos` for `level`, if it is there.
fn expect_quote(line: &[u8], pos: usize, level: u32) -> Option<usize> {
    let escapes = quote_escapes(level);
    let quote = line.get(pos..pos + escapes + 1)?;
    let (last, backslashes) = quote.split_last()?;
    (*last == b'"' && backslashes.iter().all(|&b| b == b'\\')).then_some(pos + escapes + 1)
}

/// Skips JSON white space at `level`: raw blanks, and at levels >= 1 also
/// escaped newlines and tabs (pretty-printed JSON inside a string).
fn skip_whitespace(line: &[u8], mut pos: usize, level: u32) -> usize {
    let escapes = char_escapes(level);
    loop {
        match line.get(pos) {
            Some(b' ' | b'\t' | b'\r') => pos += 1,
            Some(b'\\') if level > 0 => {
                let Some(sequence) = line.get(pos..pos + escapes + 1) else {
                    return pos;
                };
                let (last, backslashes) = match sequence.split_last() {
                    Some(parts) => parts,
                    None => return pos,
                };
                if matches!(last, b'n' | b't' | b'r') && backslashes.iter().all(|&b| b == b'\\') {
                    pos += escapes + 1;
                } else {
                    return pos;
                }
            }
            _ => return pos,
        }
    }
}

/// Reads the JSON string value at `pos` at quoting `level`. `None` when the
/// value is not a string or does not close inside the line.
fn read_string(line: &[u8], pos: usize, level: u32, scratch: &mut Vec<u8>) -> Option<Name> {
    let content = expect_quote(line, pos, level)?;
    // Fast path: no escape inside the value, only (at levels >= 1) the
    // escaped closing quote.
    let stop = content + memchr::memchr2(b'"', b'\\', &line[content..])?;
    match (line[stop], level) {
        (b'"', 0) => return Some(Name::Raw(content..stop)),
        (b'"', _) => return None, // the enclosing string ended first
        _ if level > 0 && expect_quote(line, stop, level).is_some() => {
            return Some(Name::Raw(content..stop));
        }
        _ => {}
    }
    decode_string(&line[pos..], level, scratch).then_some(Name::Decoded)
}

/// Decodes the string at the start of `text` (quoted at `level`) into
/// `out`, cut at [`MAX_NAME_BYTES`]. False if it does not close in `text`
/// or holds an invalid escape.
fn decode_string(text: &[u8], level: u32, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut raw = RawBytes { text, pos: 0 };
    match level {
        0 => decode_string_from(&mut raw, out),
        1 => decode_string_from(&mut Unescaper::new(&mut raw), out),
        _ => decode_string_from(&mut Unescaper::new(&mut Unescaper::new(&mut raw)), out),
    }
}

/// A byte stream at some quoting level.
trait ByteSource {
    /// The next byte; `None` at the end (or after an invalid escape).
    fn next_byte(&mut self) -> Option<u8>;
}

struct RawBytes<'a> {
    text: &'a [u8],
    pos: usize,
}

impl ByteSource for RawBytes<'_> {
    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.text.get(self.pos).copied();
        self.pos += 1;
        byte
    }
}

/// Removes one level of JSON string escaping from a byte stream, ending at
/// the first unescaped quote (the end of the enclosing string).
struct Unescaper<'s, S: ByteSource> {
    source: &'s mut S,
    pending: [u8; 4],
    pending_len: usize,
    pending_pos: usize,
    ended: bool,
}

impl<'s, S: ByteSource> Unescaper<'s, S> {
    fn new(source: &'s mut S) -> Self {
        Self {
            source,
            pending: [0; 4],
            pending_len: 0,
            pending_pos: 0,
            ended: false,
        }
    }
}

impl<S: ByteSource> ByteSource for Unescaper<'_, S> {
    fn next_byte(&mut self) -> Option<u8> {
        if self.pending_pos < self.pending_len {
            self.pending_pos += 1;
            return Some(self.pending[self.pending_pos - 1]);
        }
        if self.ended {
            return None;
        }
        match self.source.next_byte() {
            Some(b'"') | None => {
                self.ended = true;
                None
            }
            Some(b'\\') => match decode_escape(self.source) {
                Some(ch) => {
                    let encoded = ch.encode_utf8(&mut self.pending);
                    self.pending_len = encoded.len();
                    self.pending_pos = 1;
                    Some(self.pending[0])
                }
                None => {
                    self.ended = true;
                    None
                }
            },
            Some(byte) => Some(byte),
        }
    }
}

/// Decodes the escape after a backslash; `None` if it is invalid.
fn decode_escape(source: &mut impl ByteSource) -> Option<char> {
    Some(match source.next_byte()? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = read_hex4(source)?;
            match unit {
                0xD800..=0xDBFF => {
                    // A high surrogate wants `\uXXXX` with a low one next.
                    if source.next_byte()? != b'\\' || source.next_byte()? != b'u' {
                        return Some(char::REPLACEMENT_CHARACTER);
                    }
                    let low = read_hex4(source)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Some(char::REPLACEMENT_CHARACTER);
                    }
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
                _ => char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER),
            }
        }
        _ => return None,
    })
}

fn read_hex4(source: &mut impl ByteSource) -> Option<u32> {
    let mut value = 0;
    for _ in 0..4 {
        let digit = char::from(source.next_byte()?).to_digit(16)?;
        value = value * 16 + digit;
    }
    Some(value)
}

/// Decodes a level-0 JSON string (opening quote first) from `source`.
fn decode_string_from(source: &mut impl ByteSource, out: &mut Vec<u8>) -> bool {
    if source.next_byte() != Some(b'"') {
        return false;
    }
    let push = |out: &mut Vec<u8>, bytes: &[u8]| {
        let room = MAX_NAME_BYTES.saturating_sub(out.len());
        out.extend_from_slice(&bytes[..bytes.len().min(room)]);
    };
    loop {
        match source.next_byte() {
            None => return false,
            Some(b'"') => return true,
            Some(b'\\') => match decode_escape(source) {
                Some(ch) => push(out, ch.encode_utf8(&mut [0; 4]).as_bytes()),
                None => return false,
            },
            Some(byte) => push(out, &[byte]),
        }
    }
}

/// Reads a status at `pos` at quoting `level`: an integer, or a string of
/// three digits, in [`STATUS_RANGE`].
fn read_status(line: &[u8], pos: usize, level: u32) -> Option<u16> {
    let (digits_start, quoted_end) = match expect_quote(line, pos, level) {
        Some(content) => (content, true),
        None => (pos, false),
    };
    let status = three_digits(line, digits_start)?;
    let after = digits_start + 3;
    let terminated = if quoted_end {
        expect_quote(line, after, level).is_some()
    } else {
        !matches!(line.get(after), Some(b'.' | b'e' | b'E'))
    };
    (terminated && STATUS_RANGE.contains(&status)).then_some(status)
}

/// The value of exactly three ASCII digits at `pos` (a fourth digit makes
/// it no status).
fn three_digits(line: &[u8], pos: usize) -> Option<u16> {
    let digits = line
        .get(pos..)?
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    (digits == 3).then(|| {
        line[pos..pos + 3]
            .iter()
            .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
