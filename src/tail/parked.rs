//! Files an input follows without holding them open: closed to give their
//! descriptor to another file when the [`super::budget::DescriptorBudget`]
//! ran out, and remembered by identity with the checkpoint entry they
//! would have been handed over with, so that reopening resumes exactly
//! where reading stopped (or from 0, if the file was truncated or
//! rewritten meanwhile), and a stop hands their offsets over like any
//! open file's.
//!
//! Only files read to their end are parked, least recently written first,
//! like Filebeat's `close_inactive` but driven by the budget. A parked file
//! is due for reopening when a listing or an event shows its size or
//! modification time moved. It owns no descriptor and reads nothing; the
//! input decides when to park and reopen.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio::time::Instant;

use crate::checkpoint::FileCheckpoint;
use crate::export::metrics::LabelSetId;

/// Device and inode.
pub type Inode = (u64, u64);

/// One parked file.
#[derive(Debug, Clone)]
pub struct ParkedFile {
    /// Identity, offset and the fingerprint before it, as a stop would hand
    /// the file over; its `path` is where the file was last seen.
    pub saved: FileCheckpoint,
    /// The size and modification time when it was parked; `None` when
    /// unknown (a checkpointed file not opened yet), which makes it due.
    pub look: Option<(u64, Option<SystemTime>)>,
    /// The label set it counts into, kept attached while parked.
    pub label_set: LabelSetId,
    /// Since when it is renamed away from every matched path (rotated):
    /// reopened, it is drained for what is left of the grace period.
    pub away_since: Option<Instant>,
}

impl ParkedFile {
    /// Whether a look at the file (its size and modification time) shows
    /// that it changed since it was parked.
    pub fn is_due(&self, size: u64, modified: Option<SystemTime>) -> bool {
        match self.look {
            Some((parked_size, parked_modified)) => {
                size != parked_size
                    || (modified.is_some()
                        && parked_modified.is_some()
                        && modified != parked_modified)
            }
            None => true,
        }
    }
}

/// The parked files of one input, by identity and by path.
#[derive(Debug, Default)]
pub struct ParkedFiles {
    by_inode: HashMap<Inode, ParkedFile>,
    by_path: HashMap<PathBuf, Inode>,
}

impl ParkedFiles {
    /// How many files are parked.
    pub fn len(&self) -> usize {
        self.by_inode.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_inode.is_empty()
    }

    /// The parked file at `path`, if any.
    pub fn at_path(&self, path: &Path) -> Option<Inode> {
        self.by_path.get(path).copied()
    }

    /// The parked file with this identity.
    pub fn get(&self, inode: &Inode) -> Option<&ParkedFile> {
        self.by_inode.get(inode)
    }

    /// Parks a file (replacing any entry for the same identity).
    pub fn insert(&mut self, parked: ParkedFile) {
        let inode = (parked.saved.identity.dev, parked.saved.identity.ino);
        if let Some(old) = self.by_inode.remove(&inode) {
            self.by_path.remove(&old.saved.path);
        }
        self.by_path.insert(parked.saved.path.clone(), inode);
        self.by_inode.insert(inode, parked);
    }

    /// Unparks a file: it is reopened, or gone.
    pub fn remove(&mut self, inode: &Inode) -> Option<ParkedFile> {
        let parked = self.by_inode.remove(inode)?;
        if self.by_path.get(&parked.saved.path) == Some(inode) {
            self.by_path.remove(&parked.saved.path);
        }
        Some(parked)
    }

    /// Records that a parked file is now seen at `path` (renamed, still
    /// matched).
    pub fn set_path(&mut self, inode: &Inode, path: &Path) {
        let Some(parked) = self.by_inode.get_mut(inode) else {
            return;
        };
        if parked.saved.path == path {
            return;
        }
        if self.by_path.get(&parked.saved.path) == Some(inode) {
            self.by_path.remove(&parked.saved.path);
        }
        parked.saved.path = path.to_path_buf();
        self.by_path.insert(path.to_path_buf(), *inode);
    }

    /// Marks a parked file renamed away (or back under a matched path).
    pub fn set_away(&mut self, inode: &Inode, since: Option<Instant>) {
        if let Some(parked) = self.by_inode.get_mut(inode) {
            parked.away_since = match (parked.away_since, since) {
                (Some(first), Some(_)) => Some(first),
                (_, since) => since,
            };
        }
    }

    /// The identities of every parked file.
    pub fn inodes(&self) -> impl Iterator<Item = &Inode> {
        self.by_inode.keys()
    }

    /// Every parked file's checkpoint entry.
    pub fn entries(&self) -> impl Iterator<Item = &FileCheckpoint> {
        self.by_inode.values().map(|parked| &parked.saved)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::checkpoint::FileIdentity;

    fn parked(path: &str, ino: u64, look: Option<(u64, Option<SystemTime>)>) -> ParkedFile {
        ParkedFile {
            saved: FileCheckpoint {
                input: "a".to_string(),
                path: PathBuf::from(path),
                identity: FileIdentity {
                    dev: 1,
                    ino,
                    head: String::new(),
                },
                offset: 10,
                tail: String::new(),
                skipping: false,
            },
            look,
            label_set: LabelSetId::default(),
            away_since: None,
        }
    }

    #[test]
    fn a_parked_file_is_due_when_its_size_or_time_moved_or_is_unknown() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5);
        let later = at + std::time::Duration::from_secs(1);
        let file = parked("/l/a.log", 1, Some((10, Some(at))));
        assert!(!file.is_due(10, Some(at)));
        assert!(!file.is_due(10, None), "an unknown time says nothing");
        let untimed = parked("/l/c.log", 3, Some((10, None)));
        assert!(
            !untimed.is_due(10, Some(at)),
            "nor a time unknown at parking"
        );
        assert!(untimed.is_due(11, Some(at)));
        assert!(file.is_due(11, Some(at)));
        assert!(file.is_due(3, Some(at)), "shrunk: truncated");
        assert!(file.is_due(10, Some(later)), "rewritten to the same size");
        assert!(parked("/l/b.log", 2, None).is_due(10, Some(at)));
    }

    #[test]
    fn parked_files_are_found_by_identity_and_path_through_renames() {
        let mut files = ParkedFiles::default();
        files.insert(parked("/l/a.log", 1, None));
        files.insert(parked("/l/b.log", 2, None));
        assert_eq!(files.at_path(Path::new("/l/a.log")), Some((1, 1)));
        files.set_path(&(1, 1), Path::new("/l/a.log.1"));
        assert_eq!(files.at_path(Path::new("/l/a.log")), None);
        assert_eq!(files.at_path(Path::new("/l/a.log.1")), Some((1, 1)));
        assert_eq!(
            files.get(&(1, 1)).unwrap().saved.path,
            Path::new("/l/a.log.1")
        );
        let removed = files.remove(&(1, 1)).unwrap();
        assert_eq!(removed.saved.offset, 10);
        assert_eq!(files.at_path(Path::new("/l/a.log.1")), None);
        assert_eq!(files.len(), 1);
        assert_eq!(files.entries().count(), 1);
    }
}
