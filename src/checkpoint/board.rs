//! The offset board: the latest offsets of every input's files, as the
//! next checkpoint will store them.
//!
//! Inputs replace their part once per poll; the writer
//! ([`super::writer`]) saves a snapshot when the generation moved, at its
//! interval, and at once when a file appears that the board did not hold
//! (so a crash soon after a file is first followed finds it in the
//! checkpoint and replays it, rather than treating it as unknown). A plain
//! mutex: it is taken once per poll and per save, never per line, and never
//! held across an await.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

use super::{Checkpoint, FileCheckpoint};

/// The latest offsets of every input's files, as the checkpoint will store
/// them. Inputs replace their part once per poll; the checkpoint task saves
/// a snapshot when the generation moved.
#[derive(Debug, Default)]
pub struct OffsetBoard {
    files: Mutex<BTreeMap<String, Vec<FileCheckpoint>>>,
    generation: AtomicU64,
    /// Signalled when a publish holds a file the input's last one did not.
    new_file: Notify,
}

impl OffsetBoard {
    /// A board holding a loaded checkpoint, so inputs can resume from it.
    pub fn from_checkpoint(checkpoint: Checkpoint) -> Self {
        let mut files: BTreeMap<String, Vec<FileCheckpoint>> = BTreeMap::new();
        for file in checkpoint.files {
            files.entry(file.input.clone()).or_default().push(file);
        }
        Self {
            files: Mutex::new(files),
            generation: AtomicU64::new(0),
            new_file: Notify::new(),
        }
    }

    /// The offsets last published for `input`.
    pub fn input(&self, input: &str) -> Vec<FileCheckpoint> {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.get(input).cloned().unwrap_or_default()
    }

    /// Replaces `input`'s offsets, if they changed. A file that the
    /// input's previous offsets did not hold (by device and inode) wakes
    /// the writer at once ([`OffsetBoard::new_file_published`]).
    pub fn publish(&self, input: &str, offsets: Vec<FileCheckpoint>) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let old = files.get(input);
        if old == Some(&offsets) {
            return;
        }
        // A set, not a search per entry: an input may follow thousands of
        // files, and it publishes several times a second while they grow.
        let known: HashSet<(u64, u64)> = old
            .into_iter()
            .flatten()
            .map(|entry| (entry.identity.dev, entry.identity.ino))
            .collect();
        let has_new_file = offsets
            .iter()
            .any(|entry| !known.contains(&(entry.identity.dev, entry.identity.ino)));
        files.insert(input.to_string(), offsets);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if has_new_file {
            self.new_file.notify_one();
        }
    }

    /// Asks the writer to save the next publication at once, as for a new
    /// file: an input that counted a rotated copy to its end (and dropped
    /// its entry) keeps the window in which a crash counts it again to one
    /// save, not a `checkpoint_interval`.
    pub fn save_soon(&self) {
        self.new_file.notify_one();
    }

    /// Returns when a publish has held a file new to its input (at once if
    /// one did since the last call).
    pub async fn new_file_published(&self) {
        self.new_file.notified().await;
    }

    /// Keeps only the inputs named in `keep` (after a reload).
    pub fn retain(&self, keep: &[String]) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let before = files.len();
        files.retain(|name, _| keep.contains(name));
        if files.len() != before {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Changes so far; a checkpoint is due when this moved.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Everything, as a checkpoint.
    pub fn snapshot(&self) -> Checkpoint {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        Checkpoint {
            files: files.values().flatten().cloned().collect(),
            ..Checkpoint::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::checkpoint::FileIdentity;

    fn entry(ino: u64, offset: u64) -> FileCheckpoint {
        FileCheckpoint {
            input: "api".to_string(),
            path: PathBuf::from(format!("/logs/{ino}.log")),
            identity: FileIdentity {
                dev: 1,
                ino,
                head: "7b".to_string(),
            },
            offset,
            tail: String::new(),
            skipping: false,
        }
    }

    async fn signalled(board: &OffsetBoard) -> bool {
        tokio::time::timeout(Duration::from_millis(50), board.new_file_published())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn only_a_file_new_to_its_input_asks_for_a_prompt_save() {
        let board = OffsetBoard::from_checkpoint(Checkpoint {
            files: vec![entry(7, 10)],
            ..Checkpoint::default()
        });
        // The loaded file, moved on: the interval's business.
        board.publish("api", vec![entry(7, 20)]);
        assert!(!signalled(&board).await);
        assert_eq!(board.generation(), 1);
        // A file the checkpoint did not hold.
        board.publish("api", vec![entry(7, 20), entry(8, 0)]);
        assert!(signalled(&board).await);
        // One closed: nothing to hurry.
        board.publish("api", vec![entry(8, 5)]);
        assert!(!signalled(&board).await);
        assert_eq!(board.generation(), 3);
    }
}
