//! The offset board: the latest offsets of every input's files, as the
//! next checkpoint will store them.
//!
//! Inputs replace their part once per poll; the writer
//! ([`super::writer`]) saves a snapshot when the generation moved. A plain
//! mutex: it is taken once per poll and per save, never per line, and never
//! held across an await.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::{Checkpoint, FileCheckpoint};

/// The latest offsets of every input's files, as the checkpoint will store
/// them. Inputs replace their part once per poll; the checkpoint task saves
/// a snapshot when the generation moved.
#[derive(Debug, Default)]
pub struct OffsetBoard {
    files: Mutex<BTreeMap<String, Vec<FileCheckpoint>>>,
    generation: AtomicU64,
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
        }
    }

    /// The offsets last published for `input`.
    pub fn input(&self, input: &str) -> Vec<FileCheckpoint> {
        let files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        files.get(input).cloned().unwrap_or_default()
    }

    /// Replaces `input`'s offsets, if they changed.
    pub fn publish(&self, input: &str, offsets: Vec<FileCheckpoint>) {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        if files.get(input) != Some(&offsets) {
            files.insert(input.to_string(), offsets);
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
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
