//! One input's files: which files its globs match, which of them are new,
//! rotated, truncated or gone, and the loop that reads them when woken.
//!
//! Files are tracked by identity (device + inode), not by path: a file
//! renamed by rotation keeps its reader and is drained through the same
//! descriptor, while the new file at the old path gets a reader of its own,
//! from its first byte. A file no matched path names any more is read for a
//! grace period (writers that have not reopened yet) and then closed.
//! End of file triggers the size check for truncation, as in mtail; before
//! each read, the file's first bytes and the last ones read are compared
//! with what it holds now ([`FileTailer::check_rewritten`]), which sees a
//! truncation the file has already grown past.
//!
//! With `path_labels`, each file counts into the label set its path names
//! when it is opened ([`InputMetrics::attach`]), and each read is published
//! into that set; closing the file detaches it, and the full polls remove
//! the sets that have had no file for `path_labels_ttl`.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::budget::DescriptorBudget;
use super::file::{FileTailer, ReadBuffers, Restart, StartPosition, open_log};
use super::parked::{ParkedFile, ParkedFiles};
use super::rotated;
use super::watch::{DirWatches, watch_dir};
use super::{Changed, Wake};
use crate::checkpoint::OffsetBoard;
use crate::checkpoint::{FileCheckpoint, FileIdentity};
use crate::config::{InputConfig, StartAt};
use crate::export::metrics::InputMetrics;
use crate::export::status::{DaemonStatus, FileStatus, InputStatus, TypeExamples};
use crate::scan::latest::Latest;
use crate::scan::recent::RecentRecords;
use crate::scan::{Scanner, Tally};
use crate::time::TimeReader;
use crate::walk;

/// Most bytes read from one file per poll, so one busy file cannot starve
/// the others or delay shutdown.
const READ_BUDGET: u64 = 64 << 20;

/// Least time between two reads woken by file events: the batch window
/// under a stream of writes, well inside the 250 ms append-to-visible target.
const MIN_READ_SPACING: Duration = Duration::from_millis(50);

/// With every directory of an input watched, its globs are re-listed every
/// this many `poll_interval`s (and on every create, rename or delete event);
/// in between, the safety net only looks at the open descriptors.
const WATCHED_RESCAN_FACTOR: u32 = 30;

/// Least time between two publications of offsets after reads woken by
/// file events (full polls always publish): the checkpoint writer saves
/// what was published, so a crash replays at most `checkpoint_interval`
/// plus this much, while a stream of writes costs a few publications a
/// second, not one per read.
const MIN_PUBLISH_SPACING: Duration = Duration::from_millis(200);

/// Least time a file keeps its descriptor before a file waiting for one
/// may take it (under descriptor pressure, see `park_longest_held`).
const MIN_TURN: Duration = Duration::from_secs(1);

/// How long a file that no path names any more is still read.
const MIN_ORPHAN_GRACE: Duration = Duration::from_secs(5);

/// Device and inode: which file, while we hold it open.
type Inode = (u64, u64);

/// The size and modification time a listing found for a file.
type Look = (u64, Option<std::time::SystemTime>);

/// What one listing of the globs found.
struct Listing {
    /// Each matched file, with the first path it was found at and its look.
    matched: HashMap<Inode, (PathBuf, Look)>,
    /// The file each matched path names.
    path_inodes: HashMap<PathBuf, Inode>,
    /// Every directory could be listed: only then does a file missing from
    /// `matched` say anything.
    complete: bool,
}

/// What one poll looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// The files a wake named (or all, after too many events).
    Changed,
    /// Every open file, by descriptor (`fstat`): reads those whose size
    /// moved; publishes offsets and status.
    Stat,
    /// Lists the globs afresh (new, rotated, gone files), then as `Stat`.
    Rescan,
}

/// Why [`FileInput::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputEnd {
    /// Shutdown or reload asked it to stop.
    Stopped,
    /// A poll failed (panicked); the input's state is lost.
    Failed,
}

/// Everything one input needs; moved into a blocking task for each poll.
pub struct FileInput {
    name: String,
    patterns: Vec<String>,
    start_at: StartAt,
    max_line_bytes: usize,
    orphan_grace: Duration,
    scanner: Scanner,
    tally: Tally,
    metrics: InputMetrics,
    status: Arc<DaemonStatus>,
    offsets: Arc<OffsetBoard>,
    /// Offsets to resume from, for files present at the first poll.
    resume: Vec<FileCheckpoint>,
    /// `resume` by device and inode, and its paths: one look per file, not
    /// a search through every entry (100,000 files resume in linear time).
    resume_by_inode: HashMap<Inode, Vec<usize>>,
    resume_paths: HashSet<PathBuf>,
    tailers: Vec<FileTailer>,
    /// Lent to each tailer's reads in turn: one set per input, not per
    /// file, so many quiet files cost little memory.
    read_buffers: ReadBuffers,
    /// The file each path named at the last scan, to count rotations.
    path_inodes: HashMap<PathBuf, Inode>,
    /// Paths whose failure was logged already (logged once, counted always).
    warned: HashSet<PathBuf>,
    first_scan_done: bool,
    /// Files a wake named since the last read (reused, not reallocated).
    changed: Changed,
    /// Which tailer follows each path, for reads of just the changed files.
    by_path: HashMap<PathBuf, usize>,
    /// The tailers one poll reads (reused, not reallocated).
    to_read: Vec<usize>,
    /// The literal prefix directory of each glob.
    roots: Vec<PathBuf>,
    /// The directories the last listing found at the globs' directory
    /// levels: what to watch besides the roots.
    listed_dirs: Vec<PathBuf>,
    /// Most files followed at once (`max_files`).
    max_files: usize,
    /// Files past `max_files` at the highest count since the last complete
    /// listing: the counter rises only when more are dropped.
    files_past_cap: usize,
    /// Whether the cap and the depth limit were logged (once each).
    warned_cap: bool,
    warned_depth: bool,
    /// The directories this input watches, with the rescan that last
    /// wanted each.
    watches: Arc<DirWatches>,
    watched: HashMap<PathBuf, u64>,
    rescans: u64,
    /// Every directory the input's files are in is watched: the globs need
    /// re-listing only on events (and rarely, as a safety net).
    fully_watched: bool,
    /// A rescan added watches: list once more, since a file created in a
    /// new directory before its watch was added raised no event.
    rescan_again: bool,
    /// Something offsets, status or gauges show moved since they were last
    /// published.
    dirty: bool,
    /// The daemon's log-file descriptors: one slot per open tailer.
    budget: Arc<DescriptorBudget>,
    /// Files closed to free their descriptor, reopened when they change.
    parked: ParkedFiles,
    /// Files present at the first scan that no slot was free for yet: they
    /// start at `start_at` when opened, like the files opened at once.
    waiting_since_start: HashSet<Inode>,
    /// The last listing found files it had no slot for: list again at every
    /// poll until all are open or parked.
    starved: bool,
    /// Files the last listing found that no slot was free for, in its
    /// order: opened a batch at a time between listings.
    pending: std::collections::VecDeque<(Inode, PathBuf)>,
    /// The last batch opened some of them (else waiting is left to the
    /// listings, so nothing spins while no slot can be had).
    pending_moved: bool,
    /// When offsets were last published.
    published_at: Instant,
    /// A rotated copy was drained: its entry leaves the next publication,
    /// which the checkpoint writer is asked to save at once.
    save_soon: bool,
    /// The latest examples of each type, as last published.
    examples: Arc<Vec<TypeExamples>>,
}

/// Shared pieces an input is built from.
pub struct InputParts {
    /// The catalogue-bound scanner.
    pub scanner: Scanner,
    /// Counter handles for the input.
    pub metrics: InputMetrics,
    /// Status for the HTTP page.
    pub status: Arc<DaemonStatus>,
    /// Where offsets are published for checkpoints.
    pub offsets: Arc<OffsetBoard>,
    /// The pipeline's inotify watches.
    pub watches: Arc<DirWatches>,
    /// Longest line.
    pub max_line_bytes: usize,
    /// Safety-net poll period.
    pub poll_interval: Duration,
    /// The daemon's log-file descriptors, shared by its inputs.
    pub budget: Arc<DescriptorBudget>,
    /// The zone record times without one are read in (`timezone`).
    pub record_zone: crate::time::Zone,
    /// Whether the status page's examples keep their lines
    /// (`status_page_show_lines`).
    pub show_lines: bool,
}

impl FileInput {
    /// An input following `config`'s globs (not stdin), resuming from the
    /// offsets on the board.
    pub fn new(config: &InputConfig, patterns: Vec<String>, parts: InputParts) -> Self {
        let types = parts.scanner.catalog().len();
        let roots = patterns.iter().map(|pattern| watch_dir(pattern)).collect();
        let resume = parts.offsets.input(&config.name);
        let mut resume_by_inode: HashMap<Inode, Vec<usize>> = HashMap::new();
        for (index, saved) in resume.iter().enumerate() {
            resume_by_inode
                .entry((saved.identity.dev, saved.identity.ino))
                .or_default()
                .push(index);
        }
        let resume_paths = resume.iter().map(|saved| saved.path.clone()).collect();
        let mut recent = RecentRecords::new(
            TimeReader::new(parts.record_zone.clone()),
            types,
            parts.show_lines,
        );
        // A reload or a restart goes on from what the page showed.
        TypeExamples::resume(
            &parts.status.examples_of(&config.name),
            parts.scanner.catalog(),
            &mut recent,
        );
        Self {
            name: config.name.clone(),
            start_at: config.start_at,
            max_line_bytes: parts.max_line_bytes,
            orphan_grace: MIN_ORPHAN_GRACE.max(parts.poll_interval * 2),
            scanner: parts.scanner,
            // The latest records of each type, for last seen, exemplars
            // and the status page's examples.
            tally: Tally::new(types)
                .with_recent(Latest::new(TimeReader::new(parts.record_zone)), recent),
            examples: Arc::default(),
            resume,
            resume_by_inode,
            resume_paths,
            metrics: parts.metrics,
            status: parts.status,
            offsets: parts.offsets,
            tailers: Vec::new(),
            read_buffers: ReadBuffers::new(),
            path_inodes: HashMap::new(),
            warned: HashSet::new(),
            first_scan_done: false,
            changed: Changed::default(),
            by_path: HashMap::new(),
            to_read: Vec::new(),
            patterns,
            roots,
            listed_dirs: Vec::new(),
            max_files: config.max_files,
            files_past_cap: 0,
            warned_cap: false,
            warned_depth: false,
            watches: parts.watches,
            watched: HashMap::new(),
            rescans: 0,
            fully_watched: false,
            rescan_again: false,
            dirty: true,
            published_at: Instant::now(),
            budget: parts.budget,
            parked: ParkedFiles::default(),
            waiting_since_start: HashSet::new(),
            starved: false,
            pending: std::collections::VecDeque::new(),
            pending_moved: false,
            save_soon: false,
        }
    }

    /// Runs the input until `cancel` is cancelled: a full poll at start and
    /// every `poll_interval` (glob rescan, every file read, offsets and
    /// status published), and in between, on each wake, a read of just the
    /// files whose data changed.
    ///
    /// Longer than most functions here on purpose: it is the input's whole
    /// schedule (which sweep, when to rescan, when to wait and for what),
    /// and reads best as one loop.
    pub async fn run(
        mut self,
        wake: Arc<Wake>,
        poll_interval: Duration,
        cancel: CancellationToken,
    ) -> InputEnd {
        let input_name = self.name.clone();
        let mut rescan = true;
        let mut next_rescan = Instant::now();
        let mut next_sweep = Instant::now();
        loop {
            let last_read = Instant::now();
            let sweep = if rescan || last_read >= next_rescan {
                Sweep::Rescan
            } else if last_read >= next_sweep {
                Sweep::Stat
            } else {
                Sweep::Changed
            };
            if sweep != Sweep::Changed {
                next_sweep = last_read + poll_interval;
            }
            // The poll checks the same token between files and buffers.
            let stop = cancel.clone();
            let joined = tokio::task::spawn_blocking(move || {
                let more = self.poll(sweep, &stop);
                (self, more)
            })
            .await;
            let more;
            (self, more) = match joined {
                Ok(done) => done,
                Err(error) => {
                    tracing::error!(input = %input_name, %error, "input poll task failed");
                    return InputEnd::Failed;
                }
            };
            if cancel.is_cancelled() {
                return self.stopped().await;
            }
            if self.starved {
                // Files wait for a slot: a listing finds them due.
                next_rescan = next_rescan.min(last_read + poll_interval);
            }
            if sweep == Sweep::Rescan {
                let factor = if self.fully_watched && !self.starved {
                    WATCHED_RESCAN_FACTOR
                } else {
                    1
                };
                next_rescan = last_read + poll_interval * factor;
                // Its files are open: the input counts towards `/-/ready`.
                self.status.set_input_down(&self.name, false);
            }
            // Files with more to read stay in the set for the next round.
            if !more {
                self.changed.clear();
            }
            rescan = wake.take_rescan() || std::mem::take(&mut self.rescan_again);
            wake.take_changed(&mut self.changed);
            if more || rescan {
                continue;
            }
            tokio::select! {
                () = cancel.cancelled() => return self.stopped().await,
                () = wake.woken() => {}
                () = tokio::time::sleep_until(next_sweep.min(next_rescan)) => {}
            }
            // A lone event is read at once; under a stream of them, reads
            // are spaced so that each takes in every write since the last
            // (one hand-off per batch, not per write).
            let batch_until = last_read + MIN_READ_SPACING;
            if Instant::now() < batch_until {
                tokio::select! {
                    () = cancel.cancelled() => return self.stopped().await,
                    () = tokio::time::sleep_until(batch_until) => {}
                }
            }
            rescan |= wake.take_rescan();
            wake.take_changed(&mut self.changed);
        }
    }

    /// At a stop (shutdown or reload): lists the globs once more, so that a
    /// file created since the last rescan (its event not handled yet, or a
    /// directory only the poll finds) is published at offset 0, then
    /// publishes every offset. The next process, or the reloaded input,
    /// then reads such a file from its first byte, as this one would have,
    /// instead of taking it for a file present at start (`start_at`).
    /// Nothing is read.
    ///
    /// First, each file's head is checked as before a read: a file
    /// truncated and written again since it was last read is handed over
    /// at 0 with its new identity, and a head taken while the file was
    /// short is completed. Handed over as it was, the entry would fit no
    /// file (the head changed) or only by device and inode (an empty
    /// head, which a successor does not drain), and if the file was also
    /// renamed away, nobody would read it.
    async fn stopped(mut self) -> InputEnd {
        let name = self.name.clone();
        let done = tokio::task::spawn_blocking(move || {
            for tailer in &mut self.tailers {
                match tailer.check_rewritten() {
                    Ok(Some(restart)) => {
                        log_restart(&self.name, tailer.path(), restart);
                        self.metrics.rotations.inc();
                    }
                    // Grown since its head was taken (after a truncation,
                    // say): the entry gets the full head, so the successor
                    // can find it even if it is renamed meanwhile.
                    Ok(None) => {
                        let _ = tailer.complete_identity();
                    }
                    Err(_) => {}
                }
            }
            self.scan_paths();
            self.publish_state();
        })
        .await;
        if let Err(error) = done {
            tracing::error!(input = %name, %error, "input stop task failed");
        }
        InputEnd::Stopped
    }

    /// Reads what is new and publishes the counts. A [`Sweep::Changed`]
    /// poll reads the files in `self.changed`; the others look at every
    /// file (a [`Sweep::Rescan`] lists the globs first), read those whose
    /// size moved, and publish offsets and status if anything did. Returns
    /// true when a file has more to read right away.
    pub fn poll(&mut self, sweep: Sweep, stop: &CancellationToken) -> bool {
        let rescan = sweep == Sweep::Rescan || !self.first_scan_done;
        if rescan {
            self.scan_paths();
        } else {
            if !self.parked.is_empty() && !self.changed.paths.is_empty() {
                self.reopen_changed();
            }
            if !self.pending.is_empty() {
                self.open_pending();
            }
        }
        // Files wait for a slot and the last batch opened some: once they
        // are read (below), the next poll parks them and opens more.
        let pending = !self.pending.is_empty() && self.pending_moved;
        let read_all = sweep != Sweep::Changed || self.changed.all;
        let to_read = self.files_to_read(sweep, rescan, read_all);
        let mut more = false;
        let mut closing = false;
        let now = Instant::now();
        for &index in &to_read {
            if stop.is_cancelled() {
                break;
            }
            let (file_more, file_closing) = self.read_file(index, stop, now);
            more |= file_more;
            closing |= file_closing;
        }
        // Kept for the next poll: no allocation per poll.
        self.to_read = to_read;
        if closing {
            self.close_marked(now);
        }
        if !more {
            // Caught up: the read-ahead pool is needed only for a backlog.
            self.read_buffers.release_pool();
        }
        if sweep != Sweep::Changed {
            self.metrics.expire(now);
        }
        if self.dirty && (read_all || self.published_at.elapsed() >= MIN_PUBLISH_SPACING) {
            self.publish_state();
        }
        more || pending
    }

    /// The files this poll reads, by index (see [`FileInput::poll`]).
    fn files_to_read(&mut self, sweep: Sweep, rescan: bool, read_all: bool) -> Vec<usize> {
        let mut to_read = std::mem::take(&mut self.to_read);
        to_read.clear();
        if rescan {
            // The glob rescan just listed every file's size: a quiet file
            // (same size as read so far, still at its path) needs no read
            // and no truncation check. Drained and new files are read.
            to_read.extend(
                self.tailers
                    .iter()
                    .enumerate()
                    .filter(|(_, tailer)| {
                        tailer.orphaned_since.is_some()
                            || tailer.listed_size != Some(tailer.read_to())
                            || tailer.was_modified()
                    })
                    .map(|(index, _)| index),
            );
        } else if sweep == Sweep::Stat {
            for (index, tailer) in self.tailers.iter_mut().enumerate() {
                let before = tailer.size();
                match tailer.stat() {
                    Ok(size) => {
                        self.dirty |= size != before;
                        if size != tailer.read_to()
                            || tailer.orphaned_since.is_some()
                            || tailer.was_modified()
                        {
                            to_read.push(index);
                        }
                    }
                    // The read reports it.
                    Err(_) => to_read.push(index),
                }
            }
        } else if read_all {
            to_read.extend(0..self.tailers.len());
        } else {
            to_read.extend(
                self.changed
                    .paths
                    .iter()
                    .filter_map(|path| self.by_path.get(path).copied()),
            );
        }
        if sweep != Sweep::Changed && !self.changed.paths.is_empty() {
            // A file an event named is read even when its size did not
            // move (rewritten in place to the same size): the event would
            // otherwise be cleared with this round.
            to_read.extend(
                self.changed
                    .paths
                    .iter()
                    .filter_map(|path| self.by_path.get(path).copied()),
            );
            to_read.sort_unstable();
            to_read.dedup();
        }
        to_read
    }

    /// Reads one file: checks first that it was not rewritten, then at its
    /// end whether it was truncated, or drained long enough to close.
    /// Returns whether it has more to read right away, and whether it is
    /// to be closed.
    fn read_file(&mut self, index: usize, stop: &CancellationToken, now: Instant) -> (bool, bool) {
        let (mut more, mut closing) = (false, false);
        let tailer = &mut self.tailers[index];
        // An error: the read reports it.
        if let Ok(Some(restart)) = tailer.check_rewritten() {
            log_restart(&self.name, tailer.path(), restart);
            self.metrics.rotations.inc();
        }
        let metrics = &mut self.metrics;
        let set = tailer.label_set;
        self.tally.set_file(tailer.path());
        let outcome = tailer.read(
            &mut self.read_buffers,
            &mut self.scanner,
            &mut self.tally,
            READ_BUDGET,
            stop,
            |tally| metrics.publish_to(set, tally),
        );
        // What a failed read counted before failing is this file's too.
        self.metrics.publish_to(set, &mut self.tally);
        self.dirty |= outcome.as_ref().is_ok_and(|outcome| outcome.bytes > 0);
        match outcome {
            Ok(outcome) if outcome.at_end => match tailer.check_truncation() {
                Ok(true) => {
                    tracing::info!(input = %self.name, path = %tailer.path().display(), "file truncated, reading from the start");
                    self.metrics.rotations.inc();
                    more = true;
                    self.changed.add(tailer.path());
                }
                Ok(false) => {
                    if tailer
                        .orphaned_since
                        .is_some_and(|since| now.duration_since(since) >= self.orphan_grace)
                    {
                        tailer.closing = true;
                        closing = true;
                    }
                }
                Err(error) => self.read_failed(index, &error),
            },
            // Budget spent: the next round, a read of changed files,
            // goes on with this one.
            Ok(_) => {
                more = true;
                self.changed.add(tailer.path());
            }
            Err(error) => self.read_failed(index, &error),
        }
        (more, closing)
    }

    /// Closes the files marked for closing.
    fn close_marked(&mut self, now: Instant) {
        self.dirty = true;
        let (name, metrics) = (&self.name, &mut self.metrics);
        let before = self.tailers.len();
        self.tailers.retain(|tailer| {
            if tailer.closing {
                tracing::info!(input = %name, path = %tailer.path().display(), "closed file no longer matched");
                metrics.detach(tailer.label_set, now);
            }
            !tailer.closing
        });
        self.budget.release(before - self.tailers.len());
        self.reindex();
    }

    fn read_failed(&mut self, index: usize, error: &std::io::Error) {
        self.metrics.read_errors.inc();
        self.dirty = true;
        let path = self.tailers[index].path().to_path_buf();
        if self.warned.insert(path.clone()) {
            tracing::warn!(input = %self.name, path = %path.display(), %error, "cannot read file; will retry");
        }
    }

    /// Expands the globs and reconciles the matched files with the open ones.
    fn scan_paths(&mut self) {
        let first_scan = !self.first_scan_done;
        self.first_scan_done = true;
        let Listing {
            mut matched,
            path_inodes: mut new_path_inodes,
            complete,
        } = self.list_globs();

        let now = Instant::now();
        let mut reindex = false;
        for tailer in &mut self.tailers {
            let identity = tailer.identity();
            match matched.remove(&(identity.dev, identity.ino)) {
                Some((path, (size, modified))) => {
                    if tailer.path() != path {
                        reindex = true;
                        tailer.set_path(path);
                    }
                    tailer.orphaned_since = None;
                    tailer.listed_size = Some(size);
                    tailer.note_modified(modified);
                }
                // A failed listing says nothing about which files exist:
                // only a complete one, confirmed by the descriptor, lets a
                // file go.
                None if complete && tailer.is_gone_from_path() => {
                    tailer.orphaned_since.get_or_insert(now);
                }
                None => {}
            }
        }
        let due = self.look_at_parked(&mut matched, complete, now);
        // What is left in `matched` is not open yet.
        let opened = self.open_listed(matched, due, &mut new_path_inodes, first_scan);
        self.pending_moved = opened;
        reindex |= opened;
        if first_scan {
            reindex |= self.drain_rotated_while_down();
        }
        // A path whose file is still open (being drained after a rename)
        // is remembered even while nothing is at it, so the file that
        // appears there next counts as a rotation. One set, not a search
        // of the open files per path: linear in the files.
        let open = self.open_inodes();
        for (path, inode) in self.path_inodes.drain() {
            if open.contains(&inode) {
                new_path_inodes.entry(path).or_insert(inode);
            }
        }
        self.path_inodes = new_path_inodes;
        if reindex {
            self.dirty = true;
            self.reindex();
        }
        self.update_watches(complete);
        // Files left without a slot wait in `pending`: once the ones just
        // opened are read, the next polls park them to make room, a batch
        // at a time, without listing again.
        let _ = opened;
    }

    /// Device and inode of every file followed, open or parked.
    fn open_inodes(&self) -> HashSet<Inode> {
        self.tailers
            .iter()
            .map(|tailer| (tailer.identity().dev, tailer.identity().ino))
            .chain(self.parked.inodes().copied())
            .collect()
    }

    /// Lists the globs: each matched file by device and inode, with the
    /// first path it was found at and its size and modification time, each
    /// path's inode, and whether every directory could be listed (a
    /// failed listing, `EMFILE` or `EACCES`, hides files that still
    /// exist). Past `max_files`, open files keep their place and new ones
    /// are taken in sorted path order; the rest are dropped and counted.
    /// Warnings about paths no longer listed are forgotten.
    fn list_globs(&mut self) -> Listing {
        let mut complete = true;
        let mut depth_limited = false;
        let mut found: Vec<(PathBuf, Inode, Look)> = Vec::new();
        self.listed_dirs.clear();
        // Paths the globs still yield: warnings about the others are
        // forgotten, so the set stays bounded whatever the churn.
        let mut listed: HashSet<PathBuf> = HashSet::new();
        let patterns = std::mem::take(&mut self.patterns);
        for pattern in &patterns {
            let expansion = match walk::expand(pattern) {
                Ok(expansion) => expansion,
                Err(error) => {
                    tracing::error!(input = %self.name, %pattern, %error, "bad glob");
                    continue;
                }
            };
            depth_limited |= expansion.depth_limited;
            for error in expansion.errors {
                complete = false;
                self.metrics.read_errors.inc();
                listed.insert(error.path.clone());
                if self.warned.insert(error.path.clone()) {
                    tracing::warn!(input = %self.name, path = %error.path.display(), error = %error.source, "cannot list directory; will retry");
                }
            }
            self.listed_dirs.extend(expansion.dirs);
            for path in expansion.matches {
                let look = self.look_at(&path);
                // After the look, which may have warned about this path.
                if !self.warned.is_empty() {
                    listed.insert(path.clone());
                }
                if let Some((inode, look)) = look {
                    found.push((path, inode, look));
                }
            }
        }
        self.patterns = patterns;
        self.warned.retain(|path| listed.contains(path));
        if depth_limited && !self.warned_depth {
            self.warned_depth = true;
            tracing::warn!(input = %self.name, max_depth = walk::MAX_DEPTH, "glob reaches deeper than the depth limit; deeper directories are not walked");
        }
        let (listing, dropped) = self.cap_files(found, complete);
        self.count_dropped(dropped, complete);
        listing
    }

    /// The identity and look of the file at a matched path; None for what
    /// is not a regular file (a directory, or gone since the listing),
    /// with a warning for what cannot be looked at.
    fn look_at(&mut self, path: &Path) -> Option<(Inode, Look)> {
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => {
                Some(((meta.dev(), meta.ino()), (meta.len(), meta.modified().ok())))
            }
            Ok(_) => None,
            // A dangling symlink is a file nobody can read (yet).
            Err(error)
                if error.kind() == std::io::ErrorKind::NotFound
                    && std::fs::symlink_metadata(path).is_ok() =>
            {
                self.open_failed(path, &error);
                None
            }
            // Gone between listing and stat: the next scan settles it.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                self.open_failed(path, &error);
                None
            }
        }
    }

    /// The files to follow among those `found` (in the globs' order, each
    /// glob's sorted), at most `max_files`: the open ones first, then new
    /// ones in order. Returns them as a listing (`complete` as given) and
    /// how many files were left out.
    fn cap_files(&self, found: Vec<(PathBuf, Inode, Look)>, complete: bool) -> (Listing, usize) {
        let open = self.open_inodes();
        let open_found: HashSet<Inode> = found
            .iter()
            .map(|(_, inode, _)| *inode)
            .filter(|inode| open.contains(inode))
            .collect();
        let mut slots = self.max_files.saturating_sub(open_found.len());
        let mut matched: HashMap<Inode, (PathBuf, Look)> = HashMap::new();
        let mut path_inodes = HashMap::new();
        let mut dropped: HashSet<Inode> = HashSet::new();
        for (path, inode, look) in found {
            if !open_found.contains(&inode) && !matched.contains_key(&inode) {
                if slots == 0 {
                    dropped.insert(inode);
                    continue;
                }
                slots -= 1;
            }
            path_inodes.insert(path.clone(), inode);
            matched.entry(inode).or_insert((path, look));
        }
        let listing = Listing {
            matched,
            path_inodes,
            complete,
        };
        (listing, dropped.len())
    }

    /// Counts the files past `max_files` (each rise in their number, so a
    /// file left out is counted once however many listings leave it out)
    /// and warns the first time.
    fn count_dropped(&mut self, dropped: usize, complete: bool) {
        if dropped > 0 && !self.warned_cap {
            self.warned_cap = true;
            tracing::warn!(input = %self.name, max_files = self.max_files, dropped, "more files match than max_files; following the first in sorted path order");
        }
        if dropped > self.files_past_cap {
            self.metrics
                .files_dropped
                .inc_by((dropped - self.files_past_cap) as u64);
            self.files_past_cap = dropped;
        } else if complete {
            // Only a complete listing says fewer are left out now.
            self.files_past_cap = dropped;
        }
    }

    /// Opens the files a listing found that are not open yet, each at its
    /// start position, and reopens the parked files in `due`; a path that
    /// fails is forgotten, so the next listing tries again. When the
    /// descriptor budget is short, the least recently written files read
    /// to their end are parked first, and what still finds no slot waits
    /// for the next listing (due files first, then new ones by path).
    /// Returns whether any was opened.
    fn open_listed(
        &mut self,
        matched: HashMap<Inode, (PathBuf, Look)>,
        due: Vec<Inode>,
        new_path_inodes: &mut HashMap<PathBuf, Inode>,
        first_scan: bool,
    ) -> bool {
        let mut fresh: Vec<(Inode, PathBuf)> = matched
            .into_iter()
            .map(|(inode, (path, _))| (inode, path))
            .collect();
        fresh.sort_by(|a, b| a.1.cmp(&b.1));
        self.pending.clear();
        let mut slots = self.take_slots(due.len() + fresh.len());
        self.starved = slots < due.len() + fresh.len();
        let mut opened_any = false;
        for inode in due {
            if slots == 0 {
                break;
            }
            slots -= 1;
            opened_any |= self.reopen_parked(inode);
        }
        for (inode, path) in fresh {
            if slots == 0 {
                if let Some(saved) = self.resumed_entry(inode) {
                    // Its checkpointed offset is kept (and handed over)
                    // until a slot is free to verify and resume it.
                    let mut saved = saved.clone();
                    saved.path = path.clone();
                    let label_set = self.metrics.attach(&path);
                    // Due once its size is not the offset, as a quiet
                    // file's listing is read only when its size moved (its
                    // bytes before the offset are checked at the reopen).
                    let look = (!saved.skipping).then_some((saved.offset, None));
                    self.parked.insert(ParkedFile {
                        saved,
                        look,
                        label_set,
                        away_since: None,
                    });
                } else {
                    if first_scan {
                        self.waiting_since_start.insert(inode);
                    }
                    self.pending.push_back((inode, path.clone()));
                }
                // Seen, not opened: a file that appears at its path later
                // is not a rotation of it.
                new_path_inodes.remove(&path);
                continue;
            }
            slots -= 1;
            let replaced = self.path_inodes.get(&path).is_some_and(|old| *old != inode);
            let present_at_start = first_scan || self.waiting_since_start.remove(&inode);
            if self.open_fresh(inode, &path, present_at_start, replaced) {
                opened_any = true;
            } else {
                // Forget the path so the next scan tries again.
                new_path_inodes.remove(&path);
            }
        }
        self.budget.release(slots);
        opened_any
    }

    /// Opens a file a listing found (a slot is taken for it) at its start
    /// position. Returns whether it opened; if not, the slot is given back
    /// and the failure counted.
    fn open_fresh(
        &mut self,
        inode: Inode,
        path: &Path,
        present_at_start: bool,
        replaced: bool,
    ) -> bool {
        let opened = open_log(path).and_then(|file| {
            let identity = FileIdentity::of(&file)?;
            if (identity.dev, identity.ino) != inode {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "another file at its path since the listing",
                ));
            }
            let start = self.start_position(path, &file, &identity, present_at_start);
            FileTailer::from_open(path, file, identity, start, self.max_line_bytes)
        });
        match opened {
            Ok(mut tailer) => {
                tailer.label_set = self.metrics.attach(path);
                if replaced {
                    self.metrics.rotations.inc();
                    tracing::info!(input = %self.name, path = %path.display(), "file rotated");
                }
                tracing::debug!(input = %self.name, path = %path.display(), offset = tailer.offset(), "opened file");
                self.warned.remove(path);
                self.by_path.insert(path.to_path_buf(), self.tailers.len());
                self.tailers.push(tailer);
                true
            }
            Err(error) => {
                self.budget.release(1);
                if present_at_start {
                    self.waiting_since_start.insert(inode);
                }
                if error.kind() != std::io::ErrorKind::NotFound {
                    self.open_failed(path, &error);
                }
                false
            }
        }
    }

    /// Opens the files the last listing left waiting for a slot, in its
    /// order, as many as slots can be had (idle files parked first), and
    /// marks them to be read in this poll: a small budget then works
    /// through thousands of waiting files a batch at a time, without a
    /// listing of them all per batch.
    fn open_pending(&mut self) {
        let mut slots = self.take_slots(self.pending.len());
        self.pending_moved = false;
        while slots > 0 {
            let Some((inode, path)) = self.pending.pop_front() else {
                break;
            };
            slots -= 1;
            let present_at_start = self.waiting_since_start.remove(&inode);
            if self.open_fresh(inode, &path, present_at_start, false) {
                self.path_inodes.insert(path.clone(), inode);
                self.changed.add(&path);
                self.pending_moved = true;
            }
        }
        self.budget.release(slots);
        self.dirty = true;
    }

    /// Takes up to `wanted` descriptor slots, parking idle files when the
    /// budget has too few. Returns how many were taken.
    fn take_slots(&mut self, wanted: usize) -> usize {
        let mut taken = 0;
        while taken < wanted && self.budget.try_acquire() {
            taken += 1;
        }
        if taken < wanted && self.park_idle(wanted - taken) > 0 {
            while taken < wanted && self.budget.try_acquire() {
                taken += 1;
            }
        }
        if taken < wanted && self.park_longest_held(wanted - taken) > 0 {
            while taken < wanted && self.budget.try_acquire() {
                taken += 1;
            }
        }
        taken
    }

    /// When no idle file is left to park, parks up to `count` files that
    /// still have lines to read, those that have held their slot longest
    /// first (and at least [`MIN_TURN`]), at the end of their last counted
    /// line: they are due at once and take their turn again when a slot
    /// frees. Busy files then share the budget with the files waiting for
    /// it, instead of holding it for as long as they are written. Returns
    /// how many were parked.
    fn park_longest_held(&mut self, count: usize) -> usize {
        let now = Instant::now();
        let mut held: Vec<(Instant, usize)> = self
            .tailers
            .iter()
            .enumerate()
            .filter(|(_, tailer)| {
                tailer.orphaned_since.is_none()
                    && !tailer.closing
                    && now.duration_since(tailer.opened_at) >= MIN_TURN
            })
            .map(|(index, tailer)| (tailer.opened_at, index))
            .collect();
        if held.is_empty() {
            return 0;
        }
        held.sort_unstable();
        held.truncate(count);
        let indices: Vec<usize> = held.iter().map(|(_, index)| *index).collect();
        // Due while anything past the offset is unread.
        self.park(&indices, |tailer| (tailer.offset(), None))
    }

    /// Parks up to `count` files that are read to their end and still at
    /// their path, least recently written first, giving back their slots.
    /// Returns how many were parked.
    fn park_idle(&mut self, count: usize) -> usize {
        // A file that grew, or was rewritten, since it was last looked at
        // (one `fstat`: an event's write is visible to it) has unread
        // lines: parked, it would wait for the next listing, as its event
        // is spent.
        let mut idle: Vec<(Option<std::time::SystemTime>, usize)> = self
            .tailers
            .iter_mut()
            .enumerate()
            .filter_map(|(index, tailer)| {
                let idle = tailer.is_idle() && tailer.stat().is_ok() && tailer.is_idle();
                idle.then(|| (tailer.modified(), index))
            })
            .collect();
        if idle.is_empty() {
            return 0;
        }
        idle.sort_unstable();
        idle.truncate(count);
        let indices: Vec<usize> = idle.iter().map(|(_, index)| *index).collect();
        self.park(&indices, |tailer| (tailer.size(), tailer.modified()))
    }

    /// Parks the tailers at `indices`: each is closed and remembered with
    /// the entry a stop would hand it over with, and the size and time
    /// `look` says it has (a listing or an event showing other ones makes
    /// it due); their slots are given back. Returns how many were parked.
    fn park(
        &mut self,
        indices: &[usize],
        look: impl Fn(&FileTailer) -> (u64, Option<std::time::SystemTime>),
    ) -> usize {
        let mut parking = vec![false; self.tailers.len()];
        for &index in indices {
            parking[index] = true;
        }
        let tailers = std::mem::take(&mut self.tailers);
        for (index, mut tailer) in tailers.into_iter().enumerate() {
            if !parking[index] {
                self.tailers.push(tailer);
                continue;
            }
            let saved = FileCheckpoint {
                input: self.name.clone(),
                path: tailer.path().to_path_buf(),
                identity: tailer.identity().clone(),
                offset: tailer.offset(),
                tail: tailer.tail_fingerprint(),
                skipping: tailer.is_skipping(),
            };
            tracing::debug!(input = %self.name, path = %saved.path.display(), "parked file");
            self.parked.insert(ParkedFile {
                look: Some(look(&tailer)),
                saved,
                label_set: tailer.label_set,
                away_since: None,
            });
        }
        self.budget.release(indices.len());
        self.dirty = true;
        self.reindex();
        indices.len()
    }

    /// Reopens a parked file (a slot is taken for it) at its path, from its
    /// offset if its bytes before the offset are still there, else from 0
    /// (truncated or rewritten while parked). Returns whether it opened; if
    /// not, the slot is given back and the file stays parked.
    fn reopen_parked(&mut self, inode: Inode) -> bool {
        let Some(parked) = self.parked.remove(&inode) else {
            self.budget.release(1);
            return false;
        };
        let path = parked.saved.path.clone();
        let (mut restarted, mut reused) = (false, false);
        let opened = open_log(&path).and_then(|file| {
            let identity = FileIdentity::of(&file)?;
            if (identity.dev, identity.ino) != inode {
                return Err(std::io::Error::other("another file at its path"));
            }
            let start = if identity.is_same_file(&parked.saved.identity)
                && parked.saved.still_fits(&file)?
            {
                StartPosition::of(&parked.saved)
            } else if parked.away_since.is_some() {
                // Found by inode under another name, but not the file: it
                // was deleted and a new one (a copytruncate's copy, an
                // archive) took its inode. Reading that from 0 would count
                // another file's lines.
                reused = true;
                return Err(std::io::Error::other("its inode reused"));
            } else {
                // At its own path: truncated or rewritten in place.
                restarted = true;
                StartPosition::Beginning
            };
            FileTailer::from_open(&path, file, identity, start, self.max_line_bytes)
        });
        match opened {
            Ok(mut tailer) => {
                if restarted {
                    tracing::info!(input = %self.name, path = %path.display(), "file truncated, reading from the start");
                    self.metrics.rotations.inc();
                }
                tracing::debug!(input = %self.name, path = %path.display(), offset = tailer.offset(), "reopened parked file");
                tailer.label_set = parked.label_set;
                // Renamed away while parked: drained for what is left of
                // the grace period, then closed.
                tailer.orphaned_since = parked.away_since;
                self.by_path.insert(path, self.tailers.len());
                self.tailers.push(tailer);
                self.dirty = true;
                true
            }
            Err(_) if reused => {
                self.budget.release(1);
                tracing::debug!(input = %self.name, path = %path.display(), "a parked file renamed away is gone; another file has its inode");
                self.dirty = true;
                false
            }
            Err(error) => {
                self.budget.release(1);
                if error.kind() != std::io::ErrorKind::Other {
                    self.open_failed(&path, &error);
                }
                // The next listing settles where it went.
                self.parked.insert(parked);
                self.rescan_again = true;
                false
            }
        }
    }

    /// Matches the parked files against a listing: each one listed is taken
    /// out of `matched` (it is not new), follows a rename, and is due for
    /// reopening when its size or time moved. One a complete listing does
    /// not show is gone from its path: renamed away within its directory
    /// (one listing of the directory finds it by inode), it stays parked
    /// there, *away*, and is due as soon as it grew past its offset, to be
    /// drained like a rotated file within the descriptor budget; after the
    /// grace period with nothing unread, or deleted, it is forgotten. A
    /// directory that cannot be listed says nothing: the file stays parked.
    /// Returns the due files.
    fn look_at_parked(
        &mut self,
        matched: &mut HashMap<Inode, (PathBuf, Look)>,
        complete: bool,
        now: Instant,
    ) -> Vec<Inode> {
        if self.parked.is_empty() {
            return Vec::new();
        }
        let mut due = Vec::new();
        let mut gone = Vec::new();
        let mut away = Vec::new();
        let inodes: Vec<Inode> = self.parked.inodes().copied().collect();
        for inode in inodes {
            match matched.remove(&inode) {
                Some((path, (size, modified))) => {
                    self.parked.set_path(&inode, &path);
                    self.parked.set_away(&inode, None);
                    if self
                        .parked
                        .get(&inode)
                        .is_some_and(|parked| parked.is_due(size, modified))
                    {
                        due.push(inode);
                    }
                }
                None if self
                    .parked
                    .get(&inode)
                    .is_some_and(|p| p.away_since.is_some()) =>
                {
                    away.push(inode);
                }
                None if complete => gone.push(inode),
                None => {}
            }
        }
        // Where the files a listing no longer shows went: one look at each
        // of their directories, not one per file.
        let mut directories: HashMap<PathBuf, Option<HashMap<u64, PathBuf>>> = HashMap::new();
        for inode in gone {
            let Some(dir) = self
                .parked
                .get(&inode)
                .and_then(|parked| parked.saved.path.parent().map(Path::to_path_buf))
            else {
                continue;
            };
            let found = directories
                .entry(dir.clone())
                .or_insert_with(|| inodes_in(&dir))
                .as_ref()
                .map(|names| names.get(&inode.1).cloned());
            match found {
                // The directory could not be listed: nothing is known.
                None => {}
                Some(Some(path)) => {
                    self.parked.set_path(&inode, &path);
                    self.parked.set_away(&inode, Some(now));
                    self.metrics.rotations.inc();
                    away.push(inode);
                }
                Some(None) => self.forget_parked(inode, now),
            }
        }
        for inode in away {
            let Some(parked) = self.parked.get(&inode) else {
                continue;
            };
            match std::fs::metadata(&parked.saved.path) {
                Ok(meta) if (meta.dev(), meta.ino()) == inode => {
                    if parked.is_due(meta.len(), meta.modified().ok()) {
                        due.push(inode);
                    } else if parked
                        .away_since
                        .is_some_and(|since| now.duration_since(since) >= self.orphan_grace)
                    {
                        self.forget_parked(inode, now);
                    }
                }
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {}
                // Deleted, or another file at its name now.
                _ => self.forget_parked(inode, now),
            }
        }
        due
    }

    /// Forgets a parked file that is gone (its entry goes with it).
    fn forget_parked(&mut self, inode: Inode, now: Instant) {
        if let Some(parked) = self.parked.remove(&inode) {
            self.dirty = true;
            tracing::info!(input = %self.name, path = %parked.saved.path.display(), "closed file no longer matched");
            self.metrics.detach(parked.label_set, now);
        }
    }

    /// Reopens the parked files a wake named whose size or time moved
    /// (between listings, a write to a parked file is seen only this way).
    fn reopen_changed(&mut self) {
        let mut due = Vec::new();
        for path in &self.changed.paths {
            let Some(inode) = self.parked.at_path(path) else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(path) else {
                continue;
            };
            if (meta.dev(), meta.ino()) != inode {
                // Another file at its path: the listing sorts it out.
                self.rescan_again = true;
            } else if self
                .parked
                .get(&inode)
                .is_some_and(|parked| parked.is_due(meta.len(), meta.modified().ok()))
            {
                due.push(inode);
            }
        }
        if due.is_empty() {
            return;
        }
        let mut slots = self.take_slots(due.len());
        let mut reopened = false;
        for inode in due {
            if slots == 0 {
                // The rest wait for a listing, which finds them due; once
                // the ones just reopened are read, they can be parked again
                // to make room, so that listing comes at once.
                self.starved = true;
                self.rescan_again |= reopened;
                break;
            }
            slots -= 1;
            reopened |= self.reopen_parked(inode);
        }
    }

    /// Watches the globs' literal prefixes and every directory the last
    /// listing found at their directory levels (a glob like
    /// `pods/*/*/*.log` spans many), which includes every open file's, and
    /// drops the watches no longer needed: after a `complete` listing only,
    /// since a failed one misses directories that are still there.
    fn update_watches(&mut self, complete_listing: bool) {
        self.rescans += 1;
        let rescan = self.rescans;
        let mut complete = true;
        let mut added = false;
        let mut want = |dir: &Path, watched: &mut HashMap<PathBuf, u64>| match watched.get_mut(dir)
        {
            Some(seen) => *seen = rescan,
            None if self.watches.add(dir) => {
                watched.insert(dir.to_path_buf(), rescan);
                added = true;
            }
            None => complete = false,
        };
        for root in &self.roots {
            want(root, &mut self.watched);
        }
        for dir in &self.listed_dirs {
            want(dir, &mut self.watched);
        }
        let watches = &self.watches;
        self.watched.retain(|dir, seen| {
            let keep = *seen == rescan || !complete_listing;
            if !keep {
                watches.remove(dir);
            }
            keep
        });
        self.rescan_again = added;
        self.fully_watched = complete;
    }

    /// At the first scan: a checkpointed file that no glob found (renamed
    /// while errtally was down, to a name the globs do not match) is looked
    /// for in its old directory by device, inode and head fingerprint, and
    /// followed from its offset as a rotated file: its unread tail is
    /// drained for the grace period, then it is closed. One whose inode is
    /// gone too (compressed, or copied, while errtally was down) is looked
    /// for among its siblings by content and counted to its end at once
    /// ([`rotated`]). Returns whether a file was opened.
    fn drain_rotated_while_down(&mut self) -> bool {
        let now = Instant::now();
        let mut opened = false;
        let resume = std::mem::take(&mut self.resume);
        let mut open = self.open_inodes();
        let open_identities: HashMap<Inode, &FileIdentity> = self
            .tailers
            .iter()
            .map(|tailer| {
                (
                    (tailer.identity().dev, tailer.identity().ino),
                    tailer.identity(),
                )
            })
            .collect();
        let inode_reused: HashSet<Inode> = resume
            .iter()
            .map(|saved| ((saved.identity.dev, saved.identity.ino), &saved.identity))
            .filter(|(inode, identity)| {
                open_identities
                    .get(inode)
                    .is_some_and(|open| !open.is_same_file(identity))
            })
            .map(|(inode, _)| inode)
            .collect();
        // Gone from their inode too: looked for among their siblings
        // (compressed, or copied) once every renamed file is open.
        let mut unfound = Vec::new();
        for saved in &resume {
            // Seen only empty: nothing but device and inode tells it from a
            // file that reused the inode since (a copytruncate's copy, an
            // archive), which draining would count whole. Its lines written
            // while errtally was down, if it was then renamed away, are
            // lost instead (README).
            if saved.identity.head.is_empty() {
                continue;
            }
            let (dev, ino) = (saved.identity.dev, saved.identity.ino);
            // Its inode taken by another file (logrotate rotating several
            // files in one run: the next file's new log gets the inode the
            // last one's compressed original gave back): the entry's own
            // file is looked for among its siblings, compressed ones only:
            // the original is gone, so what holds it is an archive made
            // from it (a plain copy is a copytruncate's, whose part past
            // the offset raced with the truncation and counts as lost).
            if open.contains(&(dev, ino)) && !inode_reused.contains(&(dev, ino))
                || self.waiting_since_start.contains(&(dev, ino))
            {
                continue;
            }
            let Some(path) = find_by_inode(saved) else {
                unfound.push((saved, inode_reused.contains(&(dev, ino))));
                continue;
            };
            let followed_file = open_log(&path).and_then(|file| {
                let identity = FileIdentity::of(&file)?;
                if !identity.is_same_file(&saved.identity) || !saved.still_fits(&file)? {
                    return Err(std::io::Error::other("another file (inode reused)"));
                }
                let start = StartPosition::of(saved);
                FileTailer::from_open(&path, file, identity, start, self.max_line_bytes)
            });
            let Ok(mut tailer) = followed_file else {
                // Its inode is still there, truncated or reused in place (a
                // copytruncate while down): only an archive can hold it; a
                // plain copy's part past the offset raced with the
                // truncation, which counts as lost (README).
                unfound.push((saved, true));
                continue;
            };
            if self.take_slots(1) == 0 {
                // No descriptor free: parked where it is now, due, and
                // drained once a slot is.
                let mut away = saved.clone();
                away.path = path.clone();
                let label_set = self.metrics.attach(&path);
                self.parked.insert(ParkedFile {
                    saved: away,
                    look: None,
                    label_set,
                    away_since: Some(now),
                });
                self.metrics.rotations.inc();
                self.starved = true;
                open.insert((dev, ino));
                continue;
            }
            tracing::info!(input = %self.name, was = %saved.path.display(), path = %path.display(), "draining a file rotated while errtally was down");
            self.metrics.rotations.inc();
            tailer.label_set = self.metrics.attach(&path);
            tailer.orphaned_since = Some(now);
            self.tailers.push(tailer);
            open.insert((dev, ino));
            opened = true;
        }
        if !unfound.is_empty() {
            let drainer = rotated::Drainer {
                input: &self.name,
                max_line_bytes: self.max_line_bytes,
                scanner: &mut self.scanner,
                tally: &mut self.tally,
                metrics: &mut self.metrics,
            };
            self.save_soon |= rotated::drain_rotated_copies(&unfound, &self.tailers, drainer);
        }
        self.resume = resume;
        opened
    }

    /// Rebuilds [`FileInput::by_path`] after the tailers or their paths
    /// changed.
    fn reindex(&mut self) {
        self.by_path.clear();
        for (index, tailer) in self.tailers.iter().enumerate() {
            self.by_path.insert(tailer.path().to_path_buf(), index);
        }
    }

    /// Where to start reading `file`, open at `path` as `identity` (the
    /// descriptor that will be read): its checkpoint if it is the same file;
    /// else, for files found after start, the beginning (so
    /// the first lines of a fresh file are not lost); for files present at
    /// start, the beginning if the checkpoint knew another file at this path
    /// (rotated while errtally was down) or an entry's identity fits but
    /// its bytes before the offset are not there (a file that reused the
    /// inode and begins like the old one), else `start_at`.
    fn start_position(
        &self,
        path: &Path,
        file: &std::fs::File,
        identity: &FileIdentity,
        first_scan: bool,
    ) -> StartPosition {
        let mut reused = false;
        let candidates = self
            .resume_by_inode
            .get(&(identity.dev, identity.ino))
            .map_or(&[][..], Vec::as_slice);
        for saved in candidates
            .iter()
            .map(|&index| &self.resume[index])
            .filter(|saved| saved.identity.is_same_file(identity))
        {
            // Unreadable now: the read reports it; trust the identity.
            if saved.still_fits(file).unwrap_or(true) {
                return StartPosition::of(saved);
            }
            reused = true;
        }
        if reused {
            tracing::info!(input = %self.name, path = %path.display(), "file reuses a checkpointed file's inode and head but not its content; reading it from the start");
        }
        if reused || !first_scan || self.resume_paths.contains(path) {
            return StartPosition::Beginning;
        }
        self.configured_start()
    }

    /// The checkpoint entry of the file with this device and inode, if one
    /// (of a file with content) is there.
    fn resumed_entry(&self, inode: Inode) -> Option<&FileCheckpoint> {
        self.resume_by_inode
            .get(&inode)?
            .iter()
            .map(|&index| &self.resume[index])
            .find(|saved| !saved.identity.head.is_empty())
    }

    fn configured_start(&self) -> StartPosition {
        match self.start_at {
            StartAt::Beginning => StartPosition::Beginning,
            StartAt::End => StartPosition::End,
        }
    }

    fn open_failed(&mut self, path: &Path, error: &std::io::Error) {
        self.metrics.read_errors.inc();
        if self.warned.insert(path.to_path_buf()) {
            tracing::warn!(input = %self.name, path = %path.display(), %error, "cannot open file; will retry");
        }
    }

    /// Publishes gauges, status and offsets.
    fn publish_state(&mut self) {
        self.dirty = false;
        self.published_at = Instant::now();
        let files: Vec<FileStatus> = self
            .tailers
            .iter()
            .map(|tailer| FileStatus {
                path: tailer.path().to_path_buf(),
                offset: tailer.offset(),
                size: tailer.size(),
            })
            .collect();
        self.metrics.files_watched.set(files.len() as i64);
        self.metrics.files_parked.set(self.parked.len() as i64);
        let lag: u64 = self.tailers.iter().map(FileTailer::lag).sum();
        self.metrics
            .input_lag
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
        // A deleted file being drained is not handed over: nobody can open
        // it again, and its entry could fit whatever file reuses its inode.
        let offsets = self
            .tailers
            .iter_mut()
            .filter(|tailer| tailer.orphaned_since.is_none() || !tailer.is_deleted())
            .map(|tailer| FileCheckpoint {
                input: self.name.clone(),
                path: tailer.path().to_path_buf(),
                identity: tailer.identity().clone(),
                offset: tailer.offset(),
                tail: tailer.tail_fingerprint(),
                skipping: tailer.is_skipping(),
            })
            .chain(self.parked.entries().cloned())
            .collect();
        self.offsets.publish(&self.name, offsets);
        if std::mem::take(&mut self.save_soon) {
            self.offsets.save_soon();
        }
        if let Some(recent) = self.tally.recent.as_deref_mut()
            && let Some(examples) = TypeExamples::read(recent, self.scanner.catalog())
        {
            self.examples = examples;
        }
        self.status.set_input(
            &self.name,
            InputStatus {
                patterns: self.patterns.clone(),
                files,
                finished: false,
                examples: Arc::clone(&self.examples),
            },
        );
    }
}

/// Logs that a followed file is read again from its first byte.
fn log_restart(input: &str, path: &Path, restart: Restart) {
    match restart {
        Restart::Truncated => {
            tracing::info!(input = %input, path = %path.display(), "file truncated, reading from the start");
        }
        Restart::Rewritten => {
            tracing::info!(input = %input, path = %path.display(), "file rewritten from the start, reading it from the start");
        }
    }
}

/// Every name in `dir` by inode number (the device is checked by whoever
/// opens one), or `None` when `dir` cannot be listed.
fn inodes_in(dir: &Path) -> Option<HashMap<u64, PathBuf>> {
    use std::os::unix::fs::DirEntryExt;
    let entries = std::fs::read_dir(dir).ok()?;
    let mut names = HashMap::new();
    for entry in entries {
        let entry = entry.ok()?;
        names.insert(entry.ino(), entry.path());
    }
    Some(names)
}

/// The path in `saved`'s directory of the file with its device and inode,
/// if one is there (renamed within the directory, as rotation does).
fn find_by_inode(saved: &FileCheckpoint) -> Option<PathBuf> {
    use std::os::unix::fs::DirEntryExt;
    let dir = saved.path.parent()?;
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|entry| entry.ino() == saved.identity.ino)
        .map(|entry| entry.path())
        .find(|path| {
            std::fs::metadata(path).is_ok_and(|meta| {
                meta.is_file()
                    && (meta.dev(), meta.ino()) == (saved.identity.dev, saved.identity.ino)
            })
        })
}

impl Drop for FileInput {
    /// Gives back its watches, however the input ends (a failed poll
    /// included), so the pipeline's shared watches stay counted right.
    fn drop(&mut self) {
        self.budget.release(self.tailers.len());
        for dir in self.watched.keys() {
            self.watches.remove(dir);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::checkpoint::Checkpoint;
    use crate::export::metrics::Metrics;

    fn identity(ino: u64, head: &str) -> FileIdentity {
        FileIdentity {
            dev: 1,
            ino,
            head: head.to_string(),
        }
    }

    /// An input named `api` following `patterns` from `start_at`, resuming
    /// from `board`, and the metrics it counts into.
    fn input_named_api(
        patterns: Vec<String>,
        start_at: StartAt,
        board: OffsetBoard,
    ) -> (FileInput, Metrics) {
        labelled_input_named_api(patterns, start_at, board, None)
    }

    /// As [`input_named_api`], with `path_labels`.
    fn labelled_input_named_api(
        patterns: Vec<String>,
        start_at: StartAt,
        board: OffsetBoard,
        path_labels: Option<crate::config::PathLabels>,
    ) -> (FileInput, Metrics) {
        budgeted_input_named_api(
            patterns,
            start_at,
            board,
            path_labels,
            DescriptorBudget::unlimited(),
        )
    }

    /// As [`labelled_input_named_api`], within `budget`.
    fn budgeted_input_named_api(
        patterns: Vec<String>,
        start_at: StartAt,
        board: OffsetBoard,
        path_labels: Option<crate::config::PathLabels>,
        budget: DescriptorBudget,
    ) -> (FileInput, Metrics) {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let metrics = Metrics::new().unwrap();
        let config = InputConfig {
            name: "api".to_string(),
            paths: Vec::new(),
            start_at,
            path_labels,
            max_files: crate::config::DEFAULT_MAX_FILES,
        };
        let parts = InputParts {
            scanner: Scanner::new(Arc::clone(&catalog)),
            metrics: metrics.file_input("api", &catalog, config.path_labels.as_ref()),
            status: Arc::new(DaemonStatus::new(catalog)),
            offsets: Arc::new(board),
            watches: DirWatches::new(Vec::new(), &metrics, crate::config::WatchMode::Auto),
            max_line_bytes: 1 << 20,
            poll_interval: Duration::from_secs(1),
            record_zone: crate::time::Zone::utc(),
            show_lines: false,
            budget: Arc::new(budget),
        };
        (FileInput::new(&config, patterns, parts), metrics)
    }

    /// An input whose checkpoint saved `/logs/a.log` (inode 7) at offset 100.
    fn resuming_input() -> FileInput {
        let saved = FileCheckpoint {
            input: "api".to_string(),
            path: PathBuf::from("/logs/a.log"),
            identity: identity(7, "7b22"),
            offset: 100,
            tail: String::new(),
            skipping: false,
        };
        let board = OffsetBoard::from_checkpoint(Checkpoint {
            files: vec![saved],
            ..Checkpoint::default()
        });
        input_named_api(Vec::new(), StartAt::End, board).0
    }

    /// An input following `pattern` from the beginning, without checkpoint.
    fn fresh_input(pattern: &str) -> (FileInput, Metrics) {
        input_named_api(
            vec![pattern.to_string()],
            StartAt::Beginning,
            OffsetBoard::default(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_renamed_file_is_drained_for_the_grace_period_then_closed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        std::fs::write(&path, "one\n").unwrap();
        let (mut input, metrics) = fresh_input(&format!("{}/*.log", dir.path().display()));
        let stop = CancellationToken::new();
        input.poll(Sweep::Rescan, &stop);
        assert_eq!(input.tailers.len(), 1);

        // Rotated away; the writer has not reopened yet and writes once more.
        let rotated = dir.path().join("a.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        std::fs::write(&rotated, "one\ntwo\n").unwrap();
        input.poll(Sweep::Rescan, &stop);
        assert_eq!(input.tailers.len(), 1, "drained, not closed at once");
        assert_eq!(
            metrics.series_line("errtally_lines_total{"),
            r#"errtally_lines_total{source="api"} 2"#
        );

        // The grace period is 5 s (at least, and 2 x poll_interval).
        tokio::time::advance(Duration::from_millis(4900)).await;
        input.poll(Sweep::Rescan, &stop);
        assert_eq!(
            input.tailers.len(),
            1,
            "closed before the grace period ended"
        );
        tokio::time::advance(Duration::from_millis(200)).await;
        input.poll(Sweep::Rescan, &stop);
        assert_eq!(input.tailers.len(), 0, "still open after the grace period");
    }

    #[tokio::test(start_paused = true)]
    async fn each_file_counts_under_its_path_labels_until_its_set_expires() {
        let dir = tempfile::tempdir().unwrap();
        for (service, text) in [("billing", "a\nb\nc\n"), ("auth", "a\n")] {
            std::fs::create_dir(dir.path().join(service)).unwrap();
            std::fs::write(dir.path().join(service).join("x.log"), text).unwrap();
        }
        let labels = crate::config::PathLabels::new(
            r"/(?P<service>[^/]+)/[^/]+\.log$",
            Duration::from_secs(10),
            10,
        )
        .unwrap();
        let (mut input, metrics) = labelled_input_named_api(
            vec![format!("{}/*/*.log", dir.path().display())],
            StartAt::Beginning,
            OffsetBoard::default(),
            Some(labels),
        );
        let stop = CancellationToken::new();
        input.poll(Sweep::Rescan, &stop);
        let lines = |service: &str| {
            metrics.series_line(&format!(
                "errtally_lines_total{{service=\"{service}\",source=\"api\"}}"
            ))
        };
        assert!(lines("billing").ends_with("} 3"), "{}", lines("billing"));
        assert!(lines("auth").ends_with("} 1"), "{}", lines("auth"));

        // Its file gone, the set lives through the grace period (5 s) and
        // then its TTL (10 s).
        std::fs::remove_file(dir.path().join("auth/x.log")).unwrap();
        input.poll(Sweep::Rescan, &stop);
        tokio::time::advance(Duration::from_millis(5100)).await;
        input.poll(Sweep::Rescan, &stop);
        assert_eq!(input.tailers.len(), 1, "closed after the grace period");
        tokio::time::advance(Duration::from_millis(9800)).await;
        input.poll(Sweep::Stat, &stop);
        assert!(lines("auth").ends_with("} 1"), "expired before its TTL");
        tokio::time::advance(Duration::from_millis(300)).await;
        input.poll(Sweep::Stat, &stop);
        assert_eq!(lines("auth"), "", "still there after its TTL");
        assert!(lines("billing").ends_with("} 3"));
    }

    /// An input following `dir/*.log` from the beginning within a budget
    /// of `slots` descriptors.
    fn input_within(dir: &Path, slots: usize) -> (FileInput, Metrics) {
        budgeted_input_named_api(
            vec![format!("{}/*.log", dir.display())],
            StartAt::Beginning,
            OffsetBoard::default(),
            None,
            DescriptorBudget::new(slots),
        )
    }

    /// `count` files `0.log`, `1.log`, ... each holding `text`, followed
    /// within `slots` descriptors and polled until settled.
    fn settled_within(
        count: usize,
        text: &str,
        slots: usize,
    ) -> (tempfile::TempDir, FileInput, Metrics) {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..count {
            std::fs::write(dir.path().join(format!("{i}.log")), text).unwrap();
        }
        let (mut input, metrics) = input_within(dir.path(), slots);
        poll_until_settled(&mut input, 20);
        (dir, input, metrics)
    }

    /// Polls (a rescan each time, as the loop does while files wait for a
    /// slot) until nothing is left to do, at most `rounds` times.
    fn poll_until_settled(input: &mut FileInput, rounds: usize) {
        let stop = CancellationToken::new();
        for _ in 0..rounds {
            let more = input.poll(Sweep::Rescan, &stop);
            if !more && !input.starved && !std::mem::take(&mut input.rescan_again) {
                return;
            }
        }
    }

    fn gauge(metrics: &Metrics, name: &str) -> String {
        metrics.series_line(&format!("{name}{{"))
    }

    #[test]
    fn more_files_than_descriptors_are_all_counted_by_parking_the_idle_ones() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..7 {
            std::fs::write(dir.path().join(format!("{i}.log")), "x\n".repeat(i + 1)).unwrap();
        }
        let (mut input, metrics) = input_within(dir.path(), 2);
        poll_until_settled(&mut input, 20);
        // 1 + 2 + ... + 7 lines, each once.
        assert_eq!(
            gauge(&metrics, "errtally_lines_total"),
            r#"errtally_lines_total{source="api"} 28"#
        );
        assert!(input.tailers.len() <= 2, "{} open", input.tailers.len());
        assert_eq!(input.tailers.len() + input.parked.len(), 7);
        assert_eq!(input.budget.used(), input.tailers.len());
        assert_eq!(
            gauge(&metrics, "errtally_files_parked"),
            format!(
                r#"errtally_files_parked{{source="api"}} {}"#,
                input.parked.len()
            )
        );
        // Every file's offset is handed over, open or parked.
        let mut offsets: Vec<(String, u64)> = input
            .offsets
            .input("api")
            .into_iter()
            .map(|saved| {
                (
                    saved
                        .path
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    saved.offset,
                )
            })
            .collect();
        offsets.sort();
        let want: Vec<(String, u64)> = (0..7)
            .map(|i| (format!("{i}.log"), 2 * (i as u64 + 1)))
            .collect();
        assert_eq!(offsets, want);
    }

    #[test]
    fn a_parked_file_that_grows_is_reopened_and_read_from_its_offset() {
        let (_dir, mut input, metrics) = settled_within(4, "x\n", 2);
        assert_eq!(input.parked.len(), 2);
        let parked = input.parked.entries().next().unwrap().path.clone();
        append_to(&parked, "y\ny\ny\n");
        poll_until_settled(&mut input, 20);
        assert_eq!(
            gauge(&metrics, "errtally_lines_total"),
            r#"errtally_lines_total{source="api"} 7"#
        );
        assert!(input.by_path.contains_key(&parked), "reopened");
        assert_eq!(
            gauge(&metrics, "errtally_rotations_total"),
            r#"errtally_rotations_total{source="api"} 0"#
        );
    }

    #[test]
    fn more_parked_files_named_by_events_than_slots_are_all_read_without_waiting_for_the_timer() {
        let (_dir, mut input, metrics) = settled_within(6, "x\n", 2);
        let parked: Vec<PathBuf> = input
            .parked
            .entries()
            .map(|saved| saved.path.clone())
            .collect();
        assert_eq!(parked.len(), 4);
        for path in &parked {
            append_to(path, "y\n");
            input.changed.add(path);
        }
        // As the run loop does: a read of the files events named, then the
        // listings it asks for at once (never the timer's).
        let stop = CancellationToken::new();
        input.poll(Sweep::Changed, &stop);
        input.changed.clear();
        for _ in 0..10 {
            if !std::mem::take(&mut input.rescan_again) {
                break;
            }
            input.poll(Sweep::Rescan, &stop);
        }
        assert_eq!(
            gauge(&metrics, "errtally_lines_total"),
            r#"errtally_lines_total{source="api"} 10"#
        );
    }

    #[test]
    fn a_file_with_unread_lines_is_not_parked_to_make_room() {
        let (_dir, mut input, metrics) = settled_within(3, "x\n", 2);
        // The open file a parking would pick first (least recently
        // written) grows, and no event says so yet.
        let oldest = input
            .tailers
            .iter()
            .min_by_key(|tailer| (tailer.modified(), tailer.path().to_path_buf()))
            .unwrap()
            .path()
            .to_path_buf();
        append_to(&oldest, "y\n");
        let parked = input.parked.entries().next().unwrap().path.clone();
        append_to(&parked, "y\n");
        input.changed.add(&parked);
        let stop = CancellationToken::new();
        input.poll(Sweep::Changed, &stop);
        input.changed.clear();
        assert!(
            input.by_path.contains_key(&oldest),
            "parked with unread lines"
        );
        // The safety net's look at open files reads it.
        input.poll(Sweep::Stat, &stop);
        assert_eq!(
            gauge(&metrics, "errtally_lines_total"),
            r#"errtally_lines_total{source="api"} 5"#
        );
    }

    #[tokio::test(start_paused = true)]
    async fn parked_files_rotated_away_are_drained_within_the_budget() {
        // logrotate's create: every file renamed out of the glob, a line
        // more in each renamed file, a new file at each path.
        let (dir, mut input, metrics) = settled_within(6, "x\n", 2);
        for i in 0..6 {
            let path = dir.path().join(format!("{i}.log"));
            let rotated = dir.path().join(format!("{i}.log.1"));
            std::fs::rename(&path, &rotated).unwrap();
            append_to(&rotated, "tail\n");
            std::fs::write(&path, "new\n").unwrap();
        }
        // The open files, rotated too, hold their slots while drained for
        // the grace period (5 s); then the others take their turns.
        let stop = CancellationToken::new();
        for _ in 0..40 {
            input.poll(Sweep::Rescan, &stop);
            assert!(
                input.budget.used() <= 2,
                "{} slots in use",
                input.budget.used()
            );
            tokio::time::advance(Duration::from_millis(500)).await;
        }
        // 6 at first, 6 rotated tails, 6 new files: each once.
        assert_eq!(
            gauge(&metrics, "errtally_lines_total"),
            r#"errtally_lines_total{source="api"} 18"#
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_file_written_without_pause_gives_its_slot_to_a_waiting_one_after_its_turn() {
        let (dir, mut input, metrics) = settled_within(2, "x\n", 1);
        let busy = input.tailers[0].path().to_path_buf();
        let waiting = input.parked.entries().next().unwrap().path.clone();
        assert_ne!(busy, waiting);
        let stop = CancellationToken::new();
        append_to(&waiting, "y\n");
        let mut written = 2 + 1;
        // The busy file is written before every look, for 3 s.
        for _ in 0..30 {
            append_to(&busy, "z\n");
            written += 1;
            input.changed.add(&busy);
            input.changed.add(&waiting);
            input.poll(Sweep::Changed, &stop);
            input.changed.clear();
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        let _ = dir;
        // Let the busy file have its turn back, and read it to its end.
        for _ in 0..30 {
            input.changed.add(&busy);
            input.changed.add(&waiting);
            input.poll(Sweep::Rescan, &stop);
            input.changed.clear();
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        assert_eq!(
            gauge(&metrics, "errtally_lines_total"),
            format!(r#"errtally_lines_total{{source="api"}} {written}"#)
        );
    }

    #[test]
    fn a_parked_file_truncated_and_rewritten_is_read_from_0() {
        let (_dir, mut input, metrics) = settled_within(3, "first\nsecond\n", 1);
        assert_eq!(input.parked.len(), 2);
        let parked = input.parked.entries().next().unwrap().path.clone();
        // Longer than before, different bytes before the old offset.
        std::fs::write(&parked, "other\nlines\nhere\n").unwrap();
        poll_until_settled(&mut input, 20);
        assert_eq!(
            gauge(&metrics, "errtally_lines_total"),
            r#"errtally_lines_total{source="api"} 9"#
        );
        assert_eq!(
            gauge(&metrics, "errtally_rotations_total"),
            r#"errtally_rotations_total{source="api"} 1"#
        );
    }

    #[test]
    fn a_deleted_parked_file_is_forgotten_and_gives_up_its_entry() {
        let (_dir, mut input, _metrics) = settled_within(3, "x\n", 1);
        let parked = input.parked.entries().next().unwrap().path.clone();
        std::fs::remove_file(&parked).unwrap();
        poll_until_settled(&mut input, 20);
        assert_eq!(input.tailers.len() + input.parked.len(), 2);
        assert!(
            input
                .offsets
                .input("api")
                .iter()
                .all(|saved| saved.path != parked)
        );
    }

    fn append_to(path: &Path, text: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn past_max_files_the_first_in_sorted_order_are_followed_and_the_rest_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["e", "b", "d", "a", "c"] {
            std::fs::write(dir.path().join(format!("{name}.log")), format!("{name}\n")).unwrap();
        }
        let (mut input, metrics) = fresh_input(&format!("{}/*.log", dir.path().display()));
        input.max_files = 3;
        let stop = CancellationToken::new();
        input.poll(Sweep::Rescan, &stop);
        let mut followed: Vec<_> = input
            .tailers
            .iter()
            .map(|t| t.path().to_path_buf())
            .collect();
        followed.sort();
        assert_eq!(
            followed,
            ["a.log", "b.log", "c.log"].map(|name| dir.path().join(name))
        );
        let dropped = || metrics.series_line("errtally_files_dropped_total{");
        assert_eq!(dropped(), r#"errtally_files_dropped_total{source="api"} 2"#);
        assert_eq!(
            metrics.series_line("errtally_lines_total{"),
            r#"errtally_lines_total{source="api"} 3"#
        );
        // The same files left out again are not counted again.
        input.poll(Sweep::Rescan, &stop);
        assert_eq!(dropped(), r#"errtally_files_dropped_total{source="api"} 2"#);
        // A new file sorting first does not push out a followed one.
        std::fs::write(dir.path().join("0.log"), "0\n").unwrap();
        input.poll(Sweep::Rescan, &stop);
        assert_eq!(input.tailers.len(), 3);
        assert_eq!(dropped(), r#"errtally_files_dropped_total{source="api"} 3"#);
    }

    #[tokio::test(start_paused = true)]
    async fn a_file_whose_name_is_not_utf8_is_followed_through_a_symlink_loop() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.log");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub").join(name), "one\ntwo\n").unwrap();
        std::os::unix::fs::symlink(".", dir.path().join("X")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("sub/Y")).unwrap();
        let (mut input, metrics) = fresh_input(&format!("{}/**/*.log", dir.path().display()));
        let stop = CancellationToken::new();
        input.poll(Sweep::Rescan, &stop);
        assert_eq!(input.tailers.len(), 1);
        assert_eq!(input.tailers[0].path(), dir.path().join("sub").join(name));
        assert_eq!(
            metrics.series_line("errtally_lines_total{"),
            r#"errtally_lines_total{source="api"} 2"#
        );
        assert_eq!(input.listed_dirs, [dir.path().join("sub")]);
    }

    /// The rescan's cost (listing + reconcile) at 10,000 and 100,000
    /// empty files in one directory: run by `benches/rescan.sh` (release
    /// build), which prints the times. Where the descriptor limit cannot
    /// hold every file open, the listing alone (walk, stat, cap) is timed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    #[ignore = "benchmark: benches/rescan.sh"]
    async fn rescan_time() {
        let sizes: Vec<usize> = std::env::var("ERRTALLY_RESCAN_FILES")
            .unwrap_or_else(|_| "10000,100000".to_owned())
            .split(',')
            .map(|n| n.trim().parse().unwrap())
            .collect();
        let (nofile, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        for files in sizes {
            let dir = tempfile::tempdir().unwrap();
            for index in 0..files {
                std::fs::File::create(dir.path().join(format!("{index:06}.log"))).unwrap();
            }
            let (mut input, _metrics) = fresh_input(&format!("{}/*.log", dir.path().display()));
            let stop = CancellationToken::new();
            let ms = |took: Duration| took.as_secs_f64() * 1e3;
            let timed = |input: &mut FileInput, open: bool| {
                let started = std::time::Instant::now();
                if open {
                    input.poll(Sweep::Rescan, &stop);
                } else {
                    assert_eq!(input.list_globs().matched.len(), files);
                }
                started.elapsed()
            };
            let open = (files as u64) + 200 < nofile;
            let first = timed(&mut input, open);
            let mut rescans: Vec<Duration> = (0..5).map(|_| timed(&mut input, open)).collect();
            rescans.sort();
            if open {
                assert_eq!(input.tailers.len(), files, "every file open");
            }
            println!(
                "rescan files={files} measured={} first_ms={:.1} median_ms={:.1} min_ms={:.1} max_ms={:.1}",
                if open {
                    "poll(Rescan): listing + reconcile + open"
                } else {
                    "listing only (nofile limit below the file count)"
                },
                ms(first),
                ms(rescans[2]),
                ms(rescans[0]),
                ms(rescans[4]),
            );
        }
    }

    #[test]
    fn a_saved_offset_goes_only_to_the_file_it_was_saved_for() {
        let input = resuming_input();
        let path = Path::new("/logs/a.log");
        // The entry has no tail fingerprint: only the identity decides.
        let file = tempfile::tempfile().unwrap();
        assert_eq!(
            input.start_position(path, &file, &identity(7, "7b22"), true),
            StartPosition::Offset(100)
        );
        // Another file at the saved path (rotated while errtally was down):
        // from its first byte, never at the old file's offset.
        assert_eq!(
            input.start_position(path, &file, &identity(8, "7b22"), true),
            StartPosition::Beginning
        );
        // A file the checkpoint never knew, present at start: `start_at`.
        assert_eq!(
            input.start_position(Path::new("/logs/b.log"), &file, &identity(9, "00"), true),
            StartPosition::End
        );
        // Found after start: from its first byte.
        assert_eq!(
            input.start_position(Path::new("/logs/b.log"), &file, &identity(9, "00"), false),
            StartPosition::Beginning
        );
    }
}
