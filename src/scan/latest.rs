//! The latest record of each type a reader counted: its time and, for the
//! latest one that had one, its request ID. The daemon turns them into
//! `errtally_error_last_seen_timestamp_seconds` and into the exemplars of
//! its OpenMetrics scrape ([`crate::export::metrics`]).
//!
//! Like the [`super::Timeline`], a [`Latest`] rides in a
//! [`super::Tally`] only when asked for (the daemon's file and stdin
//! readers); without one the scanner never looks for a time or a request
//! ID. With one, the scanner tells it where each counted record is
//! ([`Latest::defer`]), and once it has scanned a slice of lines it reads
//! the time ([`crate::time`]) and request ID ([`super::request_id`]) of
//! the *last* record of each type in it ([`Latest::resolve`]): a log is
//! written in time order, so within one read the last record stands for
//! the latest, and the cost is a few records per read, not one per error
//! (reading every counted record's time and ID cost about 1,100
//! instructions each, 60% more instructions for the daemon on logs with
//! 10% errors). Across reads and files the times decide.
//!
//! The example (the exemplar's request ID) is the latest record *with* a
//! request ID: when the last record of a type in a read has none, the
//! records of that type before it in the read are searched, up to the
//! last 8 (a ring, [`Latest::defer`]), so the result does not depend on
//! where reads split the log as long as no more than 7 records without an
//! ID follow the one with it. The last 5 go to the status page's examples
//! ([`super::recent`]).
//!
//! "Latest" is by the record's own time. A record without one was written
//! "now" as far as errtally can tell: it ranks after every timed record of
//! the same read and after the untimed ones before it, and the daemon gives
//! it the time of the publish that carries it.

use crate::time::{Stamp, TimeReader};

use super::recent::{KEPT, RecentRecords};
use super::record_start;
use super::request_id::{MAX_REQUEST_ID_BYTES, find_request_id, is_id_byte};

/// A request ID, held inline (no allocation per record).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    bytes: [u8; MAX_REQUEST_ID_BYTES],
    len: u8,
}

impl RequestId {
    /// `id` if it is one: 1 to [`MAX_REQUEST_ID_BYTES`] bytes of
    /// `[A-Za-z0-9._:-]` (as [`find_request_id`] gives them).
    pub fn new(id: &[u8]) -> Option<Self> {
        if id.is_empty() || !id.iter().all(|&byte| is_id_byte(byte)) {
            return None;
        }
        let len = u8::try_from(id.len()).ok()?;
        let mut bytes = [0; MAX_REQUEST_ID_BYTES];
        bytes.get_mut(..id.len())?.copy_from_slice(id);
        Some(Self { bytes, len })
    }

    /// The ID: ASCII letters, digits and `._:-` only.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// When a record was written: its own time, or "when it was read".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Seen {
    /// The record's own time.
    At(Stamp),
    /// No time in the record: the publish that carries it gives one.
    Untimed,
}

/// How far past the time it is read at a record's own time is believed:
/// clocks of writers drift, but a time further ahead is a wrong clock or
/// zone.
pub const AHEAD_BELIEVED_SECONDS: i64 = 300;

impl Seen {
    /// When `record` was written, as `reader` reads it (`envelope` as for
    /// [`TimeReader::time_of`]).
    pub fn of(reader: &mut TimeReader, record: &[u8], envelope: Option<&[u8]>) -> Self {
        match reader.time_of(record, envelope) {
            Some(stamp) => Seen::At(stamp),
            None => Seen::Untimed,
        }
    }

    /// Untimed when its time is more than [`AHEAD_BELIEVED_SECONDS`] past
    /// `read`: believed, one record stamped in 2200 would stay the latest
    /// for good (exemplars and last seen never go back, examples rank by
    /// time) and hide every record after it.
    pub fn believed_at(self, read: Stamp) -> Self {
        match self {
            Seen::At(stamp)
                if stamp.nanos()
                    > read
                        .nanos()
                        .saturating_add(AHEAD_BELIEVED_SECONDS * 1_000_000_000) =>
            {
                Seen::Untimed
            }
            seen => seen,
        }
    }

    /// The time, with `read` for an untimed record or one not
    /// [`Seen::believed_at`] `read`.
    pub fn or_read_at(self, read: Stamp) -> Stamp {
        match self.believed_at(read) {
            Seen::At(stamp) => stamp,
            Seen::Untimed => read,
        }
    }
}

/// What [`Latest`] keeps of one type (slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatestOfType {
    /// The latest record's time.
    pub seen: Option<Seen>,
    /// The latest record that had a request ID: its time and ID.
    pub example: Option<(Seen, RequestId)>,
}

/// Records of one slot in the slice being scanned, in a ring that holds
/// the last [`RING`] (a power of two, so that the position is a mask).
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    at: [Deferred; RING],
    /// Records deferred: the latest is at `(count - 1) % RING`.
    count: usize,
}

/// Slots of a [`Pending`] ring: at least [`KEPT`].
const RING: usize = KEPT.next_power_of_two();

/// Where a deferred record lies in its slice: it starts at the last line
/// start before `anchor` at or after `from` (`from == anchor` when the
/// start is known), and ends at `end`.
#[derive(Debug, Clone, Copy, Default)]
struct Deferred {
    from: usize,
    anchor: usize,
    end: usize,
}

/// See the module docs. Slots as the timeline's ([`super::slot_of`]).
#[derive(Debug, Clone)]
pub struct Latest {
    reader: TimeReader,
    slots: Vec<LatestOfType>,
    /// Slots with something, so clearing and publishing touch only them.
    touched: Vec<u32>,
    /// The last records of each slot in the slice being scanned, by slot.
    pending: Vec<Pending>,
    /// Slots with a pending record.
    pending_slots: Vec<u32>,
}

impl PartialEq for Latest {
    fn eq(&self, other: &Self) -> bool {
        self.slots == other.slots
    }
}

impl Eq for Latest {}

impl Latest {
    /// Nothing seen yet; zone-less times are read with `reader`.
    pub fn new(reader: TimeReader) -> Self {
        Self {
            reader,
            slots: Vec::new(),
            touched: Vec::new(),
            pending: Vec::new(),
            pending_slots: Vec::new(),
        }
    }

    /// A counted record of `slot` ending at `end` of the slice being
    /// scanned, that starts at the last line start before `anchor` at or
    /// after `from` (`from == anchor`: it starts there); read when the
    /// slice is [`Latest::resolve`]d, if it is among the slot's last ones.
    /// Called for every counted record: a few stores, no search.
    #[inline]
    pub fn defer(&mut self, slot: u32, from: usize, anchor: usize, end: usize) {
        let index = slot as usize;
        if index >= self.pending.len() {
            self.pending.resize(index + 1, Pending::default());
        }
        let pending = &mut self.pending[index];
        pending.at[pending.count % RING] = Deferred { from, anchor, end };
        pending.count += 1;
        if pending.count == 1 {
            self.pending_slots.push(slot);
        }
    }

    /// Reads the last deferred record of each slot in `lines` (the slice
    /// the positions are in; `envelope` as for [`Latest::note`]), and hands
    /// the last [`KEPT`] of each to `recent`, when there is one.
    pub fn resolve(
        &mut self,
        lines: &[u8],
        envelope: Option<&[u8]>,
        mut recent: Option<&mut RecentRecords>,
    ) {
        let slots = std::mem::take(&mut self.pending_slots);
        for &slot in &slots {
            let Some(pending) = self.pending.get_mut(slot as usize) else {
                continue;
            };
            let Pending { at, count } = std::mem::take(pending);
            let located = |Deferred { from, anchor, end }: Deferred| {
                if from > anchor || anchor > lines.len() {
                    return None;
                }
                let start = record_start(lines, from, anchor);
                Some((start, lines.get(start..end)?))
            };
            // The example is the latest record with a request ID: when the
            // last one has none, the ring's earlier ones are looked at.
            // The time of an earlier one is read only if it has an ID.
            for n in (count.saturating_sub(RING)..count).rev() {
                let Some((_, record)) = located(at[n % RING]) else {
                    continue;
                };
                let last = n + 1 == count;
                if (last || find_request_id(record).is_some()) && self.note(record, envelope, slot)
                {
                    break;
                }
            }
            if let Some(recent) = recent.as_deref_mut() {
                for n in count.saturating_sub(KEPT)..count {
                    if let Some((start, record)) = located(at[n % RING]) {
                        recent.capture(slot as usize, record, envelope, start);
                    }
                }
            }
        }
        self.pending_slots = slots;
        self.pending_slots.clear();
    }

    /// A counted record of `slot`: `record` from its first byte, and the
    /// Docker envelope of its first part when it was split. Returns whether
    /// the slot's example is settled: this record gave it, or is older than
    /// the one it holds (so no record before this one can give it).
    pub fn note(&mut self, record: &[u8], envelope: Option<&[u8]>, slot: u32) -> bool {
        let seen = Seen::of(&mut self.reader, record, envelope);
        let index = slot as usize;
        if self.slots.len() <= index {
            self.slots.resize(index + 1, LatestOfType::default());
        }
        let latest = &mut self.slots[index];
        if latest.seen.is_none() && latest.example.is_none() {
            self.touched.push(slot);
        }
        // Later records win ties: the log's order is the writer's.
        if latest.seen.is_none_or(|before| seen >= before) {
            latest.seen = Some(seen);
        }
        if latest.example.is_some_and(|(before, _)| seen < before) {
            return true;
        }
        match find_request_id(record).and_then(RequestId::new) {
            Some(id) => {
                latest.example = Some((seen, id));
                true
            }
            None => false,
        }
    }

    /// What was seen, by slot; slots with nothing are left out.
    pub fn seen(&self) -> impl Iterator<Item = (u32, &LatestOfType)> + '_ {
        self.touched
            .iter()
            .filter_map(|&slot| Some((slot, self.slots.get(slot as usize)?)))
    }

    /// Forgets what was seen (after a publish).
    pub fn clear(&mut self) {
        for &slot in &self.touched {
            if let Some(latest) = self.slots.get_mut(slot as usize) {
                *latest = LatestOfType::default();
            }
        }
        self.touched.clear();
    }

    /// Takes in what `other` saw, the later of each.
    pub fn merge(&mut self, other: &Latest) {
        for (slot, theirs) in other.seen() {
            let index = slot as usize;
            if self.slots.len() <= index {
                self.slots.resize(index + 1, LatestOfType::default());
            }
            let mine = &mut self.slots[index];
            if mine.seen.is_none() && mine.example.is_none() {
                self.touched.push(slot);
            }
            if let Some(seen) = theirs.seen
                && mine.seen.is_none_or(|before| seen >= before)
            {
                mine.seen = Some(seen);
            }
            if let Some((seen, id)) = theirs.example
                && mine.example.is_none_or(|(before, _)| seen >= before)
            {
                mine.example = Some((seen, id));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;
    use crate::read::LineReader;
    use crate::scan::{Scanner, Tally};
    use crate::time::Zone;

    /// The types the proptest writes, by catalogue name.
    const TYPES: [&str; 3] = ["session_not_found", "email_not_found", "member_not_found"];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        /// Read in any buffer sizes, publishing after each read as the
        /// daemon does, each type's example is the request ID of the last
        /// record of it that had one (known from what was written), while at
        /// most 7 without one follow it.
        #[test]
        fn the_example_is_the_last_request_id_of_its_type_at_every_buffer_size(
            records in proptest::collection::vec((0usize..4, proptest::option::of(0u32..1000)), 0..60),
            sizes in proptest::collection::vec(1usize..300, 1..6),
        ) {
            let mut data = Vec::new();
            let mut expected: BTreeMap<usize, (String, usize)> = BTreeMap::new();
            let mut without_since = [0usize; TYPES.len()];
            for (kind, id) in &records {
                let Some(error_type) = TYPES.get(*kind) else {
                    data.extend_from_slice(b"{\"level\":\"info\",\"request_id\":\"req-plain\"}\n");
                    continue;
                };
                let line = match id {
                    Some(id) => {
                        expected.insert(*kind, (format!("req-{id}"), 0));
                        without_since[*kind] = 0;
                        format!("{{\"status_code\":404,\"request_id\":\"req-{id}\",\"error_type\":\"{error_type}\"}}\n")
                    }
                    None => {
                        without_since[*kind] += 1;
                        format!("{{\"status_code\":404,\"error_type\":\"{error_type}\"}}\n")
                    }
                };
                data.extend_from_slice(line.as_bytes());
            }
            for (kind, (_, after)) in expected.iter_mut() {
                *after = without_since[*kind];
            }
            proptest::prop_assume!(expected.values().all(|(_, after)| *after < RING));

            let catalog = Arc::new(Catalog::builtin().unwrap());
            let mut scanner = Scanner::new(Arc::clone(&catalog));
            let mut tally = Tally::new(catalog.len()).with_latest(latest());
            let mut reader = LineReader::new(1 << 20);
            let mut examples: BTreeMap<u32, String> = BTreeMap::new();
            let mut rest = &data[..];
            for size in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let n = (*size).min(rest.len());
                reader.count(&rest[..n], &mut scanner, &mut tally);
                rest = &rest[n..];
                // A publish: untimed examples all take its time, so the
                // later one wins, as in `publish_to`.
                for (slot, of_type) in tally.latest.as_deref().unwrap().seen() {
                    if let Some((_, id)) = of_type.example {
                        examples.insert(slot, id.as_str().to_owned());
                    }
                }
                tally.clear();
            }
            let want: BTreeMap<u32, String> = expected
                .into_iter()
                .map(|(kind, (id, _))| {
                    let index = catalog.index_of(TYPES[kind].as_bytes()).unwrap();
                    (u32::try_from(index).unwrap(), id)
                })
                .collect();
            proptest::prop_assert_eq!(examples, want);
        }
    }

    fn latest() -> Latest {
        Latest::new(TimeReader::new(Zone::utc()))
    }

    fn stamp(seconds: i64) -> Seen {
        Seen::At(Stamp::from_seconds(seconds).unwrap())
    }

    #[test]
    fn the_latest_time_and_the_latest_request_id_of_each_type_are_kept() {
        let mut latest = latest();
        for record in [
            r#"{"time":"2026-12-05T10:00:02Z","request_id":"req-b","error_type":"x"}"#,
            // Earlier, written later: not the latest.
            r#"{"time":"2026-12-05T10:00:01Z","request_id":"req-a","error_type":"x"}"#,
            // The latest, without an ID: the example stays req-b.
            r#"{"time":"2026-12-05T10:00:03Z","error_type":"x"}"#,
        ] {
            latest.note(record.as_bytes(), None, 4);
        }
        latest.note(br#"{"request_id":"req-c","error_type":"y"}"#, None, 7);
        let seen: Vec<(u32, LatestOfType)> = latest.seen().map(|(s, l)| (s, *l)).collect();
        assert_eq!(seen.len(), 2);
        let x = seen[0].1;
        assert_eq!(seen[0].0, 4);
        assert_eq!(x.seen, Some(stamp(1_796_464_803)));
        let (when, id) = x.example.unwrap();
        assert_eq!((when, id.as_str()), (stamp(1_796_464_802), "req-b"));
        let y = seen[1].1;
        assert_eq!(y.seen, Some(Seen::Untimed));
        assert_eq!(y.example.unwrap().1.as_str(), "req-c");
    }

    #[test]
    fn a_request_id_is_1_to_100_bytes_of_letters_digits_and_dot_colon_dash_underscore() {
        assert_eq!(
            RequestId::new(b"req_1.a:b-C").unwrap().as_str(),
            "req_1.a:b-C"
        );
        let longest = "a".repeat(100);
        assert_eq!(
            RequestId::new(longest.as_bytes()).unwrap().as_str(),
            longest
        );
        for bad in [
            &b""[..],
            b"a b",
            b"<i>",
            b"a\n",
            "é".as_bytes(),
            &[b'a'; 101],
        ] {
            assert_eq!(RequestId::new(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_untimed_record_ranks_after_timed_ones_and_later_ones_win_ties() {
        let mut latest = latest();
        latest.note(br#"{"request_id":"first","error_type":"x"}"#, None, 0);
        latest.note(
            br#"{"time":"2026-12-05T10:00:00Z","request_id":"timed","error_type":"x"}"#,
            None,
            0,
        );
        latest.note(br#"{"request_id":"second","error_type":"x"}"#, None, 0);
        let (_, of_x) = latest.seen().next().unwrap();
        assert_eq!(of_x.example.unwrap().1.as_str(), "second");
        assert_eq!(
            Seen::Untimed.or_read_at(Stamp::from_seconds(5).unwrap()),
            Stamp::from_seconds(5).unwrap()
        );
    }

    #[test]
    fn merging_keeps_the_later_of_each_and_clearing_forgets() {
        let (mut a, mut b) = (latest(), latest());
        a.note(br#"{"ts":1796464800,"request_id":"a1"}"#, None, 2);
        b.note(br#"{"ts":1796464900,"request_id":"b1"}"#, None, 2);
        b.note(br#"{"ts":1796464700,"request_id":"b2"}"#, None, 9);
        a.merge(&b);
        let kept: Vec<(u32, String)> = a
            .seen()
            .map(|(slot, l)| (slot, l.example.unwrap().1.as_str().to_owned()))
            .collect();
        assert_eq!(kept, [(2, "b1".to_owned()), (9, "b2".to_owned())]);
        a.clear();
        assert_eq!(a.seen().count(), 0);
        a.note(br#"{"request_id":"again"}"#, None, 2);
        assert_eq!(a.seen().count(), 1);
    }
}
