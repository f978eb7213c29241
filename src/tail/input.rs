//! One input's files: which files its globs match, which of them are new,
//! rotated, truncated or gone, and the loop that reads them when woken.
//!
//! Files are tracked by identity (device + inode), not by path: a file
//! renamed by rotation keeps its reader and is drained through the same
//! descriptor, while the new file at the old path gets a reader of its own,
//! from its first byte. A file no matched path names any more is read for a
//! grace period (writers that have not reopened yet) and then closed.
//! Only end of file triggers the truncation check, as in mtail.
//!
//! With `path_labels`, each file counts into the label set its path names
//! when it is opened ([`InputMetrics::attach`]), and each read is published
//! into that set; closing the file detaches it, and the full polls remove
//! the sets that have had no file for `path_labels_ttl`.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::file::{FileTailer, ReadBuffers, Restart, StartPosition};
use super::rotated;
use super::watch::{DirWatches, pattern_dirs, watch_dir};
use super::{Changed, Wake};
use crate::checkpoint::OffsetBoard;
use crate::checkpoint::{FileCheckpoint, FileIdentity};
use crate::config::{InputConfig, StartAt};
use crate::export::metrics::InputMetrics;
use crate::export::status::{DaemonStatus, FileStatus, InputStatus};
use crate::scan::{Scanner, Tally};

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
    /// When offsets were last published.
    published_at: Instant,
    /// A rotated copy was drained: its entry leaves the next publication,
    /// which the checkpoint writer is asked to save at once.
    save_soon: bool,
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
}

impl FileInput {
    /// An input following `config`'s globs (not stdin), resuming from the
    /// offsets on the board.
    pub fn new(config: &InputConfig, patterns: Vec<String>, parts: InputParts) -> Self {
        let types = parts.scanner.catalog().len();
        let roots = patterns.iter().map(|pattern| watch_dir(pattern)).collect();
        Self {
            name: config.name.clone(),
            start_at: config.start_at,
            max_line_bytes: parts.max_line_bytes,
            orphan_grace: MIN_ORPHAN_GRACE.max(parts.poll_interval * 2),
            scanner: parts.scanner,
            tally: Tally::new(types),
            resume: parts.offsets.input(&config.name),
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
            watches: parts.watches,
            watched: HashMap::new(),
            rescans: 0,
            fully_watched: false,
            rescan_again: false,
            dirty: true,
            published_at: Instant::now(),
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
        stop: Arc<AtomicBool>,
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
            let stop_flag = Arc::clone(&stop);
            let joined = tokio::task::spawn_blocking(move || {
                let more = self.poll(sweep, &stop_flag);
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
            if sweep == Sweep::Rescan {
                let factor = if self.fully_watched {
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
    pub fn poll(&mut self, sweep: Sweep, stop: &AtomicBool) -> bool {
        let rescan = sweep == Sweep::Rescan || !self.first_scan_done;
        if rescan {
            self.scan_paths();
        }
        let read_all = sweep != Sweep::Changed || self.changed.all;
        let to_read = self.files_to_read(sweep, rescan, read_all);
        let mut more = false;
        let mut closing = false;
        let now = Instant::now();
        for &index in &to_read {
            if stop.load(Ordering::Acquire) {
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
        more
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
    fn read_file(&mut self, index: usize, stop: &AtomicBool, now: Instant) -> (bool, bool) {
        let (mut more, mut closing) = (false, false);
        let tailer = &mut self.tailers[index];
        // An error: the read reports it.
        if let Ok(Some(restart)) = tailer.check_rewritten() {
            log_restart(&self.name, tailer.path(), restart);
            self.metrics.rotations.inc();
        }
        let metrics = &mut self.metrics;
        let set = tailer.label_set;
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
        self.tailers.retain(|tailer| {
            if tailer.closing {
                tracing::info!(input = %name, path = %tailer.path().display(), "closed file no longer matched");
                metrics.detach(tailer.label_set, now);
            }
            !tailer.closing
        });
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
        // What is left in `matched` is not open yet.
        reindex |= self.open_listed(matched, &mut new_path_inodes, first_scan);
        if first_scan {
            reindex |= self.drain_rotated_while_down();
        }
        // A path whose file is still open (being drained after a rename)
        // is remembered even while nothing is at it, so the file that
        // appears there next counts as a rotation.
        for (path, inode) in self.path_inodes.drain() {
            let still_open = self
                .tailers
                .iter()
                .any(|t| (t.identity().dev, t.identity().ino) == inode);
            if still_open {
                new_path_inodes.entry(path).or_insert(inode);
            }
        }
        self.path_inodes = new_path_inodes;
        if reindex {
            self.dirty = true;
            self.reindex();
        }
        self.update_watches();
    }

    /// Lists the globs: each matched file by device and inode, with the
    /// first path it was found at and its size and modification time, each
    /// path's inode, and whether every directory could be listed (a
    /// failed listing, `EMFILE` or `EACCES`, hides files that still
    /// exist). Warnings about paths no longer listed are forgotten.
    fn list_globs(&mut self) -> Listing {
        let mut complete = true;
        let mut matched: HashMap<Inode, (PathBuf, Look)> = HashMap::new();
        let mut new_path_inodes = HashMap::new();
        // Paths the globs still yield: warnings about the others are
        // forgotten, so the set stays bounded whatever the churn.
        let mut listed: HashSet<PathBuf> = HashSet::new();
        for pattern in self.patterns.clone() {
            let paths = match glob::glob(&pattern) {
                Ok(paths) => paths,
                Err(error) => {
                    tracing::error!(input = %self.name, %pattern, %error, "bad glob");
                    continue;
                }
            };
            for entry in paths {
                let path = match entry {
                    Ok(path) => path,
                    Err(error) => {
                        complete = false;
                        self.metrics.read_errors.inc();
                        let path = error.path().to_path_buf();
                        listed.insert(path.clone());
                        if self.warned.insert(path.clone()) {
                            tracing::warn!(input = %self.name, path = %path.display(), error = %error.error(), "cannot list directory; will retry");
                        }
                        continue;
                    }
                };
                let found = match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_file() => {
                        Some(((meta.dev(), meta.ino()), (meta.len(), meta.modified().ok())))
                    }
                    Ok(_) => None,
                    // A dangling symlink is a file nobody can read (yet).
                    Err(error)
                        if error.kind() == std::io::ErrorKind::NotFound
                            && std::fs::symlink_metadata(&path).is_ok() =>
                    {
                        self.open_failed(&path, &error);
                        None
                    }
                    // Gone between listing and stat: the next scan settles it.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                    Err(error) => {
                        self.open_failed(&path, &error);
                        None
                    }
                };
                if !self.warned.is_empty() {
                    listed.insert(path.clone());
                }
                if let Some((inode, look)) = found {
                    new_path_inodes.insert(path.clone(), inode);
                    matched.entry(inode).or_insert((path, look));
                }
            }
        }
        self.warned.retain(|path| listed.contains(path));
        Listing {
            matched,
            path_inodes: new_path_inodes,
            complete,
        }
    }

    /// Opens the files a listing found that are not open yet, each at its
    /// start position; a path that fails is forgotten, so the next listing
    /// tries again. Returns whether any was opened.
    fn open_listed(
        &mut self,
        matched: HashMap<Inode, (PathBuf, Look)>,
        new_path_inodes: &mut HashMap<PathBuf, Inode>,
        first_scan: bool,
    ) -> bool {
        let mut opened_any = false;
        let mut fresh: Vec<(Inode, PathBuf)> = matched
            .into_iter()
            .map(|(inode, (path, _))| (inode, path))
            .collect();
        fresh.sort_by(|a, b| a.1.cmp(&b.1));
        for (inode, path) in fresh {
            let replaced = self.path_inodes.get(&path).is_some_and(|old| *old != inode);
            let opened = std::fs::File::open(&path).and_then(|file| {
                let identity = FileIdentity::of(&file)?;
                let start = self.start_position(&path, &file, &identity, first_scan);
                FileTailer::from_open(&path, file, identity, start, self.max_line_bytes)
            });
            match opened {
                Ok(mut tailer) => {
                    tailer.label_set = self.metrics.attach(&path);
                    if replaced {
                        self.metrics.rotations.inc();
                        tracing::info!(input = %self.name, path = %path.display(), "file rotated");
                    }
                    tracing::debug!(input = %self.name, path = %path.display(), offset = tailer.offset(), "opened file");
                    self.warned.remove(&path);
                    self.tailers.push(tailer);
                    opened_any = true;
                }
                Err(error) => {
                    // Forget the path so the next scan tries again.
                    new_path_inodes.remove(&path);
                    self.open_failed(&path, &error);
                }
            }
        }
        opened_any
    }

    /// Watches the globs' literal prefixes and every directory matching
    /// their directory levels (see [`pattern_dirs`]; a glob like
    /// `pods/*/*/*.log` spans many), which includes every open file's, and
    /// drops the watches no longer needed.
    fn update_watches(&mut self) {
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
        for pattern in &self.patterns {
            for dir in pattern_dirs(pattern) {
                want(&dir, &mut self.watched);
            }
        }
        let watches = &self.watches;
        self.watched.retain(|dir, seen| {
            let keep = *seen == rescan;
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
            if self
                .tailers
                .iter()
                .any(|tailer| (tailer.identity().dev, tailer.identity().ino) == (dev, ino))
            {
                continue;
            }
            let Some(path) = find_by_inode(saved) else {
                unfound.push(saved);
                continue;
            };
            let followed = std::fs::File::open(&path).and_then(|file| {
                let identity = FileIdentity::of(&file)?;
                if !identity.is_same_file(&saved.identity) || !saved.still_fits(&file)? {
                    return Err(std::io::Error::other("another file (inode reused)"));
                }
                let start = StartPosition::of(saved);
                FileTailer::from_open(&path, file, identity, start, self.max_line_bytes)
            });
            let Ok(mut tailer) = followed else {
                unfound.push(saved);
                continue;
            };
            tracing::info!(input = %self.name, was = %saved.path.display(), path = %path.display(), "draining a file rotated while errtally was down");
            self.metrics.rotations.inc();
            tailer.label_set = self.metrics.attach(&path);
            tailer.orphaned_since = Some(now);
            self.tailers.push(tailer);
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
        for saved in self
            .resume
            .iter()
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
        if reused || !first_scan || self.resume.iter().any(|saved| saved.path == path) {
            return StartPosition::Beginning;
        }
        self.configured_start()
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
            .collect();
        self.offsets.publish(&self.name, offsets);
        if std::mem::take(&mut self.save_soon) {
            self.offsets.save_soon();
        }
        self.status.set_input(
            &self.name,
            InputStatus {
                patterns: self.patterns.clone(),
                files,
                finished: false,
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
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let metrics = Metrics::new().unwrap();
        let config = InputConfig {
            name: "api".to_string(),
            paths: Vec::new(),
            start_at,
            path_labels,
        };
        let parts = InputParts {
            scanner: Scanner::new(Arc::clone(&catalog)),
            metrics: metrics.file_input("api", &catalog, config.path_labels.as_ref()),
            status: Arc::new(DaemonStatus::new(catalog)),
            offsets: Arc::new(board),
            watches: DirWatches::new(Vec::new(), &metrics, crate::config::WatchMode::Auto),
            max_line_bytes: 1 << 20,
            poll_interval: Duration::from_secs(1),
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
        let stop = AtomicBool::new(false);
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
        let stop = AtomicBool::new(false);
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
