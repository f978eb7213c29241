//! `scan --examples N`: for each catalogued type, the N counted records
//! with the greatest time, each with its request ID, its file and the byte
//! offset where it starts in that (uncompressed) file.
//!
//! Like the [`super::latest::Latest`], an [`Examples`] rides in a
//! [`super::Tally`] only when asked for; without one the scanner looks for
//! no time. With one, the scanner hands it each counted catalogued record
//! and where the record starts in the slice being scanned; the reader sets
//! the slice's absolute offset first ([`super::Tally::set_offset`]). The
//! record's time is read for every counted record, its request ID only
//! when it enters the top N.
//!
//! Order: timed records by time, latest first; untimed ones after them;
//! ties by path, then offset. Within one tally every record has the same
//! (unknown) path; `scan` names each file's records
//! ([`Examples::set_path`]) before merging the files, so the order holds
//! across files and across the ranges of one file.

use std::cmp::Ordering;
use std::path::Path;
use std::sync::Arc;

use crate::time::{Stamp, TimeReader};

use super::request_id::find_request_id;

/// One counted record kept as an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The record's own time, if it has one.
    pub time: Option<Stamp>,
    /// Its request ID, if one of the known forms holds one.
    pub request_id: Option<Box<str>>,
    /// Its file, once `scan` named it.
    pub path: Option<Arc<Path>>,
    /// Absolute byte offset of its first byte in its uncompressed file.
    pub offset: u64,
    /// Where the record lies in the slice being scanned, until its request
    /// ID is looked for ([`Examples::resolve`]).
    unresolved: Option<(usize, usize)>,
}

impl Example {
    /// The order of the module docs: `Less` ranks first.
    fn rank(&self, other: &Example) -> Ordering {
        rank_times(self.time, other.time)
            .then_with(|| self.path.cmp(&other.path))
            .then_with(|| self.offset.cmp(&other.offset))
    }
}

/// Later times first, untimed last.
fn rank_times(a: Option<Stamp>, b: Option<Stamp>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => b.cmp(&a),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// See the module docs. Slots are catalogue indexes.
#[derive(Debug, Clone)]
pub struct Examples {
    reader: TimeReader,
    /// How many to keep per type.
    keep: usize,
    /// Per catalogue index, the best first (at most `keep`).
    slots: Vec<Vec<Example>>,
    /// Absolute offset of the slice the scanner is handed next.
    base: u64,
    /// Whether some example kept awaits its request ID.
    unresolved: bool,
}

impl PartialEq for Examples {
    fn eq(&self, other: &Self) -> bool {
        self.keep == other.keep && self.slots == other.slots
    }
}

impl Eq for Examples {}

impl Examples {
    /// Keeps `keep` examples per type; zone-less times are read with
    /// `reader`.
    pub fn new(reader: TimeReader, keep: usize) -> Self {
        Self {
            reader,
            keep,
            slots: Vec::new(),
            base: 0,
            unresolved: false,
        }
    }

    /// The slice the scanner is handed next starts at absolute `offset`.
    pub fn set_base(&mut self, offset: u64) {
        self.base = offset;
    }

    /// A counted record of catalogue index `slot`, from its first byte,
    /// starting `start` bytes into the slice at the base; `envelope` as
    /// for [`TimeReader::time_of`].
    pub fn note(&mut self, record: &[u8], envelope: Option<&[u8]>, start: usize, slot: usize) {
        if self.keep == 0 {
            return;
        }
        let time = self.reader.time_of(record, envelope);
        if self.slots.len() <= slot {
            self.slots.resize(slot + 1, Vec::new());
        }
        let kept = &mut self.slots[slot];
        let offset = self.base + start as u64;
        // The common case for a busy type: no better than the worst kept,
        // so no request ID is looked for.
        if kept.len() >= self.keep
            && kept.last().is_some_and(|worst| {
                rank_times(time, worst.time).then(offset.cmp(&worst.offset)) != Ordering::Less
            })
        {
            return;
        }
        // The request ID is looked for when the slice is done, only for
        // the records still kept: in a log in time order nearly every
        // record enters the top N, and nearly all leave it again.
        let example = Example {
            time,
            request_id: None,
            path: None,
            offset,
            unresolved: Some((start, record.len())),
        };
        insert(kept, example, self.keep);
        self.unresolved = true;
    }

    /// The scanner is done with `slice` (the one [`Examples::note`]'s
    /// starts are in): the request IDs of the records kept from it.
    #[inline]
    pub fn resolve(&mut self, slice: &[u8]) {
        if !self.unresolved {
            return;
        }
        self.unresolved = false;
        for example in self.slots.iter_mut().flatten() {
            if let Some((start, len)) = example.unresolved.take() {
                example.request_id = slice
                    .get(start..start + len)
                    .and_then(find_request_id)
                    .and_then(|id| std::str::from_utf8(id).ok())
                    .map(Box::from);
            }
        }
    }

    /// Names the file of every example kept (all from one file).
    pub fn set_path(&mut self, path: &Path) {
        let path: Arc<Path> = Arc::from(path);
        for example in self.slots.iter_mut().flatten() {
            example.path = Some(Arc::clone(&path));
        }
    }

    /// The examples of catalogue index `slot`, best first.
    pub fn of(&self, slot: usize) -> &[Example] {
        self.slots.get(slot).map_or(&[], Vec::as_slice)
    }

    /// Forgets every example.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(Vec::clear);
    }

    /// Takes in `other`'s examples, keeping the best.
    pub fn merge(&mut self, other: &Examples) {
        if self.slots.len() < other.slots.len() {
            self.slots.resize(other.slots.len(), Vec::new());
        }
        for (mine, theirs) in self.slots.iter_mut().zip(&other.slots) {
            for example in theirs {
                insert(mine, example.clone(), self.keep);
            }
        }
    }
}

/// Puts `example` in its place in `kept` (best first), keeping at most
/// `keep`.
fn insert(kept: &mut Vec<Example>, example: Example, keep: usize) {
    // In a log in time order a new record is the best yet: no search.
    let at = if kept
        .first()
        .is_none_or(|best| example.rank(best) == Ordering::Less)
    {
        0
    } else {
        kept.partition_point(|before| before.rank(&example) == Ordering::Less)
    };
    if at >= keep {
        return;
    }
    kept.insert(at, example);
    kept.truncate(keep);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::time::Zone;

    /// Notes `record` as the scanner does: `start` bytes into a slice,
    /// resolved once the slice is done.
    fn note(examples: &mut Examples, record: &[u8], start: usize, slot: usize) {
        let mut slice = vec![b'\n'; start];
        slice.extend_from_slice(record);
        examples.note(&slice[start..], None, start, slot);
        examples.resolve(&slice);
    }

    fn examples(keep: usize) -> Examples {
        Examples::new(TimeReader::new(Zone::utc()), keep)
    }

    /// (request ID, offset) of the examples of `slot`.
    fn kept(examples: &Examples, slot: usize) -> Vec<(Option<String>, u64)> {
        examples
            .of(slot)
            .iter()
            .map(|e| (e.request_id.as_deref().map(str::to_owned), e.offset))
            .collect()
    }

    fn id(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn many_records_of_one_slice_in_any_order_keep_the_best_as_a_full_sort_would() {
        // 1,000 records in one slice (several batches), times drawn from a
        // small range so that many tie, a tenth untimed.
        let mut state = 7u64;
        let mut draw = |below: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % below
        };
        let mut slice = Vec::new();
        let mut written = Vec::new();
        for n in 0..1000 {
            let time = (draw(10) != 0).then(|| 1_796_464_800 + draw(40));
            let record = match time {
                Some(time) => format!("{{\"ts\":{time},\"request_id\":\"r{n}\"}}"),
                None => format!("{{\"request_id\":\"r{n}\"}}"),
            };
            written.push((time, slice.len(), format!("r{n}")));
            slice.extend_from_slice(record.as_bytes());
            slice.push(b'\n');
        }
        for keep in [1, 5, 300] {
            let mut examples = examples(keep);
            for (_, start, _) in &written {
                let end = start + slice[*start..].iter().position(|&b| b == b'\n').unwrap();
                examples.note(&slice[*start..end], None, *start, 2);
            }
            examples.resolve(&slice);
            // The reference: every record sorted, later times first,
            // untimed last, ties by offset.
            let mut sorted = written.clone();
            sorted.sort_by(|a, b| rank_times(a.0.map(stamp), b.0.map(stamp)).then(a.1.cmp(&b.1)));
            let want: Vec<(Option<String>, u64)> = sorted
                .into_iter()
                .take(keep)
                .map(|(_, start, id)| (Some(id), start as u64))
                .collect();
            assert_eq!(kept(&examples, 2), want, "keep {keep}");
        }
    }

    fn stamp(seconds: u64) -> Stamp {
        Stamp::from_seconds(i64::try_from(seconds).unwrap()).unwrap()
    }

    #[test]
    fn the_latest_records_are_kept_untimed_last_and_ties_by_offset() {
        let mut examples = examples(3);
        examples.set_base(1000);
        let records: [(&str, usize); 5] = [
            (r#"{"request_id":"untimed","error_type":"x"}"#, 0),
            (
                r#"{"ts":1796464800,"request_id":"early","error_type":"x"}"#,
                10,
            ),
            (
                r#"{"ts":1796464900,"request_id":"late","error_type":"x"}"#,
                20,
            ),
            (
                r#"{"ts":1796464800,"request_id":"early-tie","error_type":"x"}"#,
                30,
            ),
            (
                r#"{"ts":1796464700,"request_id":"earliest","error_type":"x"}"#,
                40,
            ),
        ];
        for (record, start) in records {
            note(&mut examples, record.as_bytes(), start, 1);
        }
        assert_eq!(
            kept(&examples, 1),
            [
                (id("late"), 1020),
                (id("early"), 1010),
                (id("early-tie"), 1030)
            ]
        );
        assert!(examples.of(0).is_empty());
        assert!(examples.of(7).is_empty());
    }

    #[test]
    fn untimed_records_fill_a_list_that_timed_ones_displace() {
        let mut examples = examples(2);
        note(&mut examples, br#"{"error_type":"x"}"#, 5, 0);
        note(
            &mut examples,
            br#"{"request_id":"u2","error_type":"x"}"#,
            9,
            0,
        );
        assert_eq!(kept(&examples, 0), [(None, 5), (id("u2"), 9)]);
        note(
            &mut examples,
            br#"{"ts":1796464800,"request_id":"t"}"#,
            12,
            0,
        );
        assert_eq!(kept(&examples, 0), [(id("t"), 12), (None, 5)]);
        assert_eq!(
            examples.of(0)[0].time,
            Some(Stamp::from_seconds(1_796_464_800).unwrap())
        );
    }

    #[test]
    fn a_new_best_goes_first_and_a_tie_with_the_best_by_offset() {
        let mut examples = examples(3);
        let records: [(&str, usize); 4] = [
            (r#"{"ts":1796464700,"request_id":"a"}"#, 10),
            (r#"{"ts":1796464800,"request_id":"b"}"#, 20),
            // The best's time at an earlier offset: it ranks first.
            (r#"{"ts":1796464800,"request_id":"c"}"#, 5),
            // The best's time at a later offset: after both, pushing
            // out the earliest time.
            (r#"{"ts":1796464800,"request_id":"d"}"#, 30),
        ];
        for (record, start) in records {
            note(&mut examples, record.as_bytes(), start, 0);
        }
        assert_eq!(
            kept(&examples, 0),
            [(id("c"), 5), (id("b"), 20), (id("d"), 30)]
        );
    }

    #[test]
    fn merging_orders_files_by_path_and_keeps_the_best() {
        let (mut a, mut b) = (examples(2), examples(2));
        note(&mut a, br#"{"ts":1796464800,"request_id":"a"}"#, 50, 3);
        note(&mut b, br#"{"ts":1796464800,"request_id":"b"}"#, 10, 3);
        note(&mut b, br#"{"ts":1796464000,"request_id":"old"}"#, 0, 3);
        a.set_path(Path::new("/logs/z"));
        b.set_path(Path::new("/logs/a"));
        let mut total = examples(2);
        total.merge(&a);
        total.merge(&b);
        assert_eq!(kept(&total, 3), [(id("b"), 10), (id("a"), 50)]);
        assert_eq!(total.of(3)[0].path.as_deref(), Some(Path::new("/logs/a")));
        total.clear();
        assert!(total.of(3).is_empty());
    }
}
