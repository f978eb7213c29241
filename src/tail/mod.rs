//! Following inputs: one task per input, reading files (or stdin) as they
//! grow and publishing counts and offsets.
//!
//! - [`file`](mod@file): one open file (resume, read whole lines, truncation);
//! - [`input`]: one input's files: glob discovery, rotation by identity,
//!   draining of rotated files, the wake/poll loop;
//! - [`rotated`]: at start, rotations compressed (or copied) while
//!   errtally was down, found among a file's siblings by content;
//! - [`stdin`]: the stdin reader;
//! - [`pipeline`]: the running file inputs of one configuration, each
//!   supervised (restarted with backoff when it fails);
//! - [`watch`]: the inotify watches and how a notification wakes an input.
//!
//! Inputs are woken by inotify (through `notify`): a write wakes a read of
//! just the file it names, and under a stream of writes reads are spaced
//! so that each takes in a batch. Every `poll_interval` a full poll re-lists
//! the globs (the safety net) and publishes offsets to the
//! [`crate::checkpoint::OffsetBoard`],
//! which the checkpoint writer persists. Counts go to the shared metrics
//! once per read chunk.

pub mod budget;
pub mod file;
pub mod input;
pub mod parked;
pub mod pipeline;
pub mod rotated;
pub mod stdin;
pub mod watch;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

/// Most changed paths remembered between two reads; past it, the next
/// read covers every file, as the timer's does.
const MAX_CHANGED_PATHS: usize = 4096;

/// How an input is woken: by file events naming the files whose data
/// changed, or with a note that the set of files may have changed.
#[derive(Debug, Default)]
pub struct Wake {
    notify: Notify,
    rescan: AtomicBool,
    changed: Mutex<Changed>,
}

/// Files whose data changed since the input last took them.
#[derive(Debug, Default)]
pub struct Changed {
    /// Their paths, as the watcher reports them (absolute).
    pub paths: HashSet<PathBuf>,
    /// Too many paths to remember (over 4,096): read every file.
    pub all: bool,
}

impl Changed {
    /// Forgets every path, keeping the allocation.
    pub fn clear(&mut self) {
        self.paths.clear();
        self.all = false;
    }

    pub(crate) fn add(&mut self, path: &Path) {
        if self.all || self.paths.contains(path) {
            return;
        }
        if self.paths.len() < MAX_CHANGED_PATHS {
            self.paths.insert(path.to_path_buf());
        } else {
            self.all = true;
        }
    }
}

impl Wake {
    /// Wakes the input for a full poll: files may have appeared, moved or
    /// gone.
    pub fn wake_for_rescan(&self) {
        self.rescan.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    /// Wakes the input to read the file at `path`, whose data changed.
    pub fn wake_file(&self, path: &Path) {
        self.lock_changed().add(path);
        self.notify.notify_one();
    }

    /// Waits for the next wake.
    pub async fn woken(&self) {
        self.notify.notified().await
    }

    /// Takes the rescan request, if any.
    pub fn take_rescan(&self) -> bool {
        self.rescan.swap(false, Ordering::AcqRel)
    }

    /// Moves the files changed since the last call into `into`.
    pub fn take_changed(&self, into: &mut Changed) {
        let mut pending = self.lock_changed();
        if pending.all {
            into.all = true;
        }
        for path in pending.paths.drain() {
            if into.paths.len() < MAX_CHANGED_PATHS {
                into.paths.insert(path);
            } else {
                into.all = true;
            }
        }
        pending.all = false;
    }

    fn lock_changed(&self) -> std::sync::MutexGuard<'_, Changed> {
        self.changed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
