//! The status page's examples: for each catalogued type, the latest
//! [`KEPT`] records a daemon input counted, with their time, request ID,
//! file and byte offset, and (only when `status_page_show_lines` asks for
//! it, since logs carry personal data) the line itself, cut at
//! [`LINE_BYTES`].
//!
//! Reading a record's time and request ID costs about a thousand
//! instructions, more than finding its error, so it is put off until
//! someone could look: the scanner hands over the last [`KEPT`] records of
//! each type in each slice it scanned ([`super::latest::Latest::resolve`]),
//! which are *copied* here ([`RecentRecords::capture`], a few hundred bytes
//! each); they are read ([`RecentRecords::examples`]) when the input
//! publishes its status, at most five times a second, not per slice.
//!
//! Which records are the latest: a log is written in time order, so of one
//! file's records the ones read later are the later ones, and a record with
//! [`KEPT`] later ones from its own file behind it can be dropped unread.
//! Records of another file can be older or newer, so when a type's copies
//! switch files the copies held are read first, and the times decide. A
//! record without a time was written "now" as far as errtally can tell: it
//! takes the time it is read at, and so does one stamped more than five
//! minutes past it ([`Seen::believed_at`]).
//!
//! Memory is bounded by types x [`KEPT`]: at most [`KEPT`] copies of at
//! most [`RECORD_BYTES`] and [`KEPT`] examples per type. A longer record is
//! read at once instead of copied.

use std::path::Path;
use std::sync::Arc;

use crate::time::{Stamp, TimeReader};

use super::latest::{RequestId, Seen};
use super::request_id::find_request_id;

/// Examples kept per type.
pub const KEPT: usize = 5;

/// Bytes of a line the status page shows, with `status_page_show_lines`.
pub const LINE_BYTES: usize = 300;

/// Longest record copied whole to be read later; a longer one is read at
/// once (rare, and the copy would cost more than the reading).
pub const RECORD_BYTES: usize = 4096;

/// One example, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The record's own time, or when errtally read it.
    pub time: Stamp,
    /// Whether `time` is the record's own.
    pub timed: bool,
    /// Its request ID, if one of the known forms holds one.
    pub request_id: Option<RequestId>,
    /// The file it was read from.
    pub path: Arc<Path>,
    /// Byte offset of its first byte in that (uncompressed) file.
    pub offset: u64,
    /// Its first [`LINE_BYTES`] bytes, as text (invalid UTF-8 replaced),
    /// when lines are shown; `cut` when there was more.
    pub line: Option<Line>,
}

/// The head of a record, for the status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// At most [`LINE_BYTES`] bytes of the record, cut at a character
    /// boundary.
    pub text: Box<str>,
    /// The record went on past `text`.
    pub cut: bool,
}

impl Line {
    fn of(record: &[u8]) -> Self {
        let mut end = record.len().min(LINE_BYTES);
        // Cut before a character that the limit would split.
        if let Err(error) = std::str::from_utf8(&record[..end])
            && error.error_len().is_none()
        {
            end = error.valid_up_to();
        }
        Self {
            text: String::from_utf8_lossy(&record[..end]).into(),
            cut: end < record.len(),
        }
    }
}

/// A counted record as copied, not read yet (or read at once, when long).
#[derive(Debug, Clone, Default)]
struct Copy {
    offset: u64,
    /// The record (at most [`RECORD_BYTES`]); for a long one, its head.
    bytes: Vec<u8>,
    /// The Docker envelope of a split record's first part.
    envelope: Option<Vec<u8>>,
    /// A long record's time and request ID, read when it was copied.
    read: Option<(Seen, Option<RequestId>)>,
}

/// One type's copies and examples.
#[derive(Debug, Clone, Default)]
struct OfType {
    /// Copies not read yet, all of `copies_of`, oldest first (at most
    /// [`KEPT`]).
    copies: Vec<Copy>,
    /// Spare buffers of dropped copies, reused.
    spare: Vec<Copy>,
    /// The file the copies are from.
    copies_of: Option<Arc<Path>>,
    /// The latest examples, latest first (at most [`KEPT`]).
    kept: Vec<Example>,
}

/// See the module docs; one per daemon input. Slots are catalogue indexes.
#[derive(Debug, Clone)]
pub struct RecentRecords {
    reader: TimeReader,
    show_lines: bool,
    /// Catalogue entries: slots past them (uncatalogued statuses) have no
    /// examples.
    types: usize,
    slots: Vec<OfType>,
    /// Slots with copies not read yet.
    copied: Vec<usize>,
    /// The file the scanner reads now, and where its slice starts in it.
    file: Option<Arc<Path>>,
    base: u64,
    /// Examples changed since [`RecentRecords::examples`] last said so.
    changed: bool,
}

/// A record's time and request ID.
fn read_record(
    reader: &mut TimeReader,
    record: &[u8],
    envelope: Option<&[u8]>,
) -> (Seen, Option<RequestId>) {
    (
        Seen::of(reader, record, envelope),
        find_request_id(record).and_then(RequestId::new),
    )
}

/// Equal when the examples read so far are.
impl PartialEq for RecentRecords {
    fn eq(&self, other: &Self) -> bool {
        let kept = |records: &Self| -> Vec<Vec<Example>> {
            records.slots.iter().map(|of| of.kept.clone()).collect()
        };
        kept(self) == kept(other)
    }
}

impl Eq for RecentRecords {}

impl RecentRecords {
    /// Nothing seen yet, for a catalogue of `types` entries; zone-less
    /// times read with `reader`; the lines kept only when `show_lines`.
    pub fn new(reader: TimeReader, types: usize, show_lines: bool) -> Self {
        Self {
            reader,
            show_lines,
            types,
            slots: Vec::new(),
            copied: Vec::new(),
            file: None,
            base: 0,
            changed: false,
        }
    }

    /// The scanner reads `path` next (a reader's records have no path of
    /// their own).
    pub fn set_file(&mut self, path: &Path) {
        if self.file.as_deref() != Some(path) {
            self.file = Some(Arc::from(path));
        }
    }

    /// The slice the scanner is handed next starts at absolute `offset`
    /// of the file.
    #[inline]
    pub fn set_base(&mut self, offset: u64) {
        self.base = offset;
    }

    /// A counted record of catalogue index `slot`, `start` bytes into the
    /// slice at the base; `envelope` as for [`TimeReader::time_of`]. A
    /// type's records come oldest first.
    pub fn capture(&mut self, slot: usize, record: &[u8], envelope: Option<&[u8]>, start: usize) {
        let Some(file) = self.file.clone().filter(|_| slot < self.types) else {
            return;
        };
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, OfType::default);
        }
        if self.slots[slot]
            .copies_of
            .as_ref()
            .is_some_and(|of| !Arc::ptr_eq(of, &file) && **of != *file)
        {
            // Another file's records may be older or newer: read what is
            // held before copies of this one take their place.
            self.read_copies(slot, Stamp::now());
        }
        let read_now = record.len() > RECORD_BYTES;
        let read = read_now.then(|| read_record(&mut self.reader, record, envelope));
        let of_type = &mut self.slots[slot];
        if of_type.copies.is_empty() {
            self.copied.push(slot);
        }
        of_type.copies_of = Some(file);
        // Dropped unread: the ones after it in the same file are later.
        let mut copy = if of_type.copies.len() >= KEPT {
            of_type.copies.remove(0)
        } else {
            of_type.spare.pop().unwrap_or_default()
        };
        copy.offset = self.base + start as u64;
        copy.bytes.clear();
        copy.bytes
            .extend_from_slice(&record[..record.len().min(RECORD_BYTES)]);
        copy.envelope = envelope.map(|envelope| {
            let mut kept = copy.envelope.take().unwrap_or_default();
            kept.clear();
            kept.extend_from_slice(envelope);
            kept
        });
        copy.read = read;
        of_type.copies.push(copy);
    }

    /// Takes up `examples` (latest first) of catalogue index `slot` that a
    /// previous reader of the input showed, so that a reload or a restart
    /// does not empty the page; their lines go unless lines are shown.
    pub fn resume(&mut self, slot: usize, examples: &[Example]) {
        if slot >= self.types || examples.is_empty() {
            return;
        }
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, OfType::default);
        }
        let kept = &mut self.slots[slot].kept;
        kept.clear();
        kept.extend(examples.iter().take(KEPT).cloned().map(|mut example| {
            if !self.show_lines {
                example.line = None;
            }
            example
        }));
        self.changed = true;
    }

    /// Reads every copy held, then, if anything changed since the last
    /// call, the latest examples of each catalogue index, latest first;
    /// untimed records take `now` as their time.
    pub fn examples(&mut self, now: Stamp) -> Option<Vec<(usize, Vec<Example>)>> {
        for slot in std::mem::take(&mut self.copied) {
            self.read_copies(slot, now);
        }
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        Some(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, of_type)| !of_type.kept.is_empty())
                .map(|(slot, of_type)| (slot, of_type.kept.clone()))
                .collect(),
        )
    }

    /// Reads the copies of `slot` into its examples.
    fn read_copies(&mut self, slot: usize, now: Stamp) {
        let Some(of_type) = self.slots.get_mut(slot) else {
            return;
        };
        let Some(path) = of_type.copies_of.clone() else {
            return;
        };
        for mut copy in of_type.copies.drain(..) {
            let (seen, request_id) = copy.read.take().unwrap_or_else(|| {
                read_record(&mut self.reader, &copy.bytes, copy.envelope.as_deref())
            });
            let seen = seen.believed_at(now);
            let example = Example {
                time: seen.or_read_at(now),
                timed: matches!(seen, Seen::At(_)),
                request_id,
                path: Arc::clone(&path),
                offset: copy.offset,
                line: self.show_lines.then(|| Line::of(&copy.bytes)),
            };
            // Equal times: the one read later first.
            let at = of_type
                .kept
                .partition_point(|before| before.time > example.time);
            if at < KEPT {
                of_type.kept.insert(at, example);
                of_type.kept.truncate(KEPT);
                self.changed = true;
            }
            of_type.spare.push(copy);
        }
        of_type.spare.truncate(KEPT);
        // Later copies of the same file start a new run.
        of_type.copies_of = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::time::Zone;

    fn recent(show_lines: bool) -> RecentRecords {
        RecentRecords::new(TimeReader::new(Zone::utc()), 8, show_lines)
    }

    fn record(seconds: i64, id: &str) -> String {
        format!(r#"{{"ts":{seconds},"request_id":"{id}","error_type":"x"}}"#)
    }

    /// (request ID, offset) of each example of `slot`.
    fn listed(examples: &[(usize, Vec<Example>)], slot: usize) -> Vec<(String, u64)> {
        examples
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, list)| {
                list.iter()
                    .map(|e| {
                        let id = e.request_id.map(|id| id.as_str().to_owned());
                        (id.unwrap_or_default(), e.offset)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn now() -> Stamp {
        Stamp::from_seconds(2_000_000_000).unwrap()
    }

    #[test]
    fn the_last_five_of_a_file_are_kept_latest_first_with_their_offsets() {
        let mut recent = recent(false);
        recent.set_file(Path::new("/logs/a.log"));
        recent.set_base(1000);
        for n in 0..8 {
            let text = record(1_796_464_800 + n, &format!("req-{n}"));
            recent.capture(2, text.as_bytes(), None, n as usize * 100);
        }
        let examples = recent.examples(now()).unwrap();
        assert_eq!(
            listed(&examples, 2),
            [
                ("req-7".to_owned(), 1700),
                ("req-6".to_owned(), 1600),
                ("req-5".to_owned(), 1500),
                ("req-4".to_owned(), 1400),
                ("req-3".to_owned(), 1300),
            ]
        );
        let first = &examples[0].1[0];
        assert_eq!(
            (first.time, first.timed, first.line.clone()),
            (Stamp::from_seconds(1_796_464_807).unwrap(), true, None)
        );
        assert_eq!(&*first.path, Path::new("/logs/a.log"));
        // Nothing new: nothing to publish.
        assert_eq!(recent.examples(now()), None);
    }

    #[test]
    fn records_of_two_files_are_ranked_by_their_times() {
        let mut recent = recent(false);
        recent.set_file(Path::new("/logs/live.log"));
        for n in 0..5 {
            let text = record(1_796_464_900 + n, &format!("live-{n}"));
            recent.capture(0, text.as_bytes(), None, n as usize * 10);
        }
        // An older rotated file read afterwards: its records are older, so
        // none of them is among the latest five.
        recent.set_file(Path::new("/logs/live.log.1"));
        for n in 0..5 {
            let text = record(1_796_464_000 + n, &format!("old-{n}"));
            recent.capture(0, text.as_bytes(), None, n as usize * 10);
        }
        // A newer one from a third file ranks first.
        recent.set_file(Path::new("/logs/other.log"));
        recent.capture(0, record(1_796_465_000, "newest").as_bytes(), None, 7);
        let examples = recent.examples(now()).unwrap();
        let ids: Vec<String> = listed(&examples, 0).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["newest", "live-4", "live-3", "live-2", "live-1"]);
        assert_eq!(&*examples[0].1[0].path, Path::new("/logs/other.log"));
    }

    #[test]
    fn an_untimed_record_takes_the_time_it_is_read_at_and_an_id_may_be_missing() {
        let mut recent = recent(false);
        recent.set_file(Path::new("/l"));
        recent.capture(1, br#"{"error_type":"x"}"#, None, 3);
        let examples = recent.examples(now()).unwrap();
        let example = &examples[0].1[0];
        assert_eq!(
            (example.time, example.timed, example.request_id),
            (now(), false, None)
        );
    }

    #[test]
    fn lines_are_kept_only_when_asked_for_and_cut_at_a_character_boundary() {
        let mut recent = recent(true);
        recent.set_file(Path::new("/l"));
        let short = record(1_796_464_800, "short");
        recent.capture(0, short.as_bytes(), None, 0);
        // 298 ASCII bytes, then a 3-byte character across the limit.
        let mut long = "a".repeat(LINE_BYTES - 2).into_bytes();
        long.extend_from_slice("€ and more".as_bytes());
        recent.capture(1, &long, None, 0);
        let examples = recent.examples(now()).unwrap();
        let line = |slot: usize| examples[slot].1[0].line.clone().unwrap();
        assert_eq!(
            line(0),
            Line {
                text: short.into(),
                cut: false
            }
        );
        assert_eq!(
            line(1),
            Line {
                text: "a".repeat(LINE_BYTES - 2).into(),
                cut: true
            }
        );
    }

    #[test]
    fn a_record_longer_than_a_copy_is_read_at_once_and_keeps_its_docker_time() {
        let mut recent = recent(false);
        recent.set_file(Path::new("/l"));
        // Docker's time is at the end of the envelope, past the copy.
        let message = format!(
            r#"{{\"request_id\":\"req-long\",\"error_type\":\"x\",\"pad\":\"{}\"}}"#,
            "p".repeat(RECORD_BYTES)
        );
        let line =
            format!(r#"{{"log":"{message}\n","stream":"stdout","time":"2026-12-05T10:00:00Z"}}"#);
        recent.capture(0, line.as_bytes(), None, 0);
        let examples = recent.examples(now()).unwrap();
        let example = &examples[0].1[0];
        assert_eq!(
            (
                example.time,
                example.request_id.map(|id| id.as_str().to_owned())
            ),
            (
                Stamp::from_seconds(1_796_464_800).unwrap(),
                Some("req-long".to_owned())
            )
        );
    }

    #[test]
    fn a_record_stamped_far_ahead_takes_the_time_it_is_read_at_and_is_passed_later() {
        let mut recent = recent(false);
        recent.set_file(Path::new("/l"));
        // 2200-01-01, from a wrong clock.
        recent.capture(3, record(7_258_118_400, "ahead").as_bytes(), None, 0);
        let examples = recent.examples(now()).unwrap();
        let example = &examples[0].1[0];
        assert_eq!((example.time, example.timed), (now(), false));
        // Records written after it was read rank before it.
        recent.set_file(Path::new("/m"));
        recent.capture(3, record(2_000_000_001, "after").as_bytes(), None, 9);
        let examples = recent.examples(now()).unwrap();
        let ids: Vec<String> = listed(&examples, 3).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, ["after", "ahead"]);
    }

    #[test]
    fn resumed_examples_lose_their_lines_unless_shown_and_rank_with_new_records() {
        let mut before = recent(true);
        before.set_file(Path::new("/l"));
        for n in [10, 30] {
            let text = record(1_796_464_800 + n, &format!("old-{n}"));
            before.capture(2, text.as_bytes(), None, n as usize);
        }
        let shown = before.examples(now()).unwrap();
        let mut after = recent(false);
        after.resume(2, &shown[0].1);
        // Past the catalogue: ignored.
        after.resume(8, &shown[0].1);
        after.set_file(Path::new("/l"));
        after.capture(2, record(1_796_464_820, "new").as_bytes(), None, 99);
        let examples = after.examples(now()).unwrap();
        assert_eq!(
            listed(&examples, 2),
            [
                ("old-30".to_owned(), 30),
                ("new".to_owned(), 99),
                ("old-10".to_owned(), 10)
            ]
        );
        assert!(examples[0].1.iter().all(|example| example.line.is_none()));
        assert_eq!(examples.len(), 1);
    }

    #[test]
    fn uncatalogued_slots_and_records_before_any_file_have_no_examples() {
        let mut recent = recent(false);
        recent.capture(0, record(1_796_464_800, "before").as_bytes(), None, 0);
        recent.set_file(Path::new("/l"));
        // Slot 8 is past the 8 catalogue entries: an uncatalogued status.
        recent.capture(8, record(1_796_464_800, "status").as_bytes(), None, 0);
        assert_eq!(recent.examples(now()), None);
    }

    #[test]
    fn memory_is_bounded_by_types_times_five() {
        let mut recent = recent(true);
        recent.set_file(Path::new("/l"));
        for round in 0..50 {
            // Each round another file, so every copy is read and ranked.
            recent.set_file(Path::new(if round % 2 == 0 { "/a" } else { "/b" }));
            for n in 0..20 {
                let text = record(1_796_464_800 + round * 100 + n, "r");
                recent.capture(4, text.as_bytes(), None, 0);
            }
        }
        let of_type = &recent.slots[4];
        assert!(of_type.copies.len() <= KEPT && of_type.spare.len() <= KEPT);
        let examples = recent.examples(now()).unwrap();
        assert_eq!(examples[0].1.len(), KEPT);
        assert_eq!(
            examples[0].1[0].time,
            Stamp::from_seconds(1_796_464_800 + 49 * 100 + 19).unwrap()
        );
    }
}
