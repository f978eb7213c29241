//! Checkpoint state: how far each tailed file has been counted, so the daemon
//! resumes after a restart without losing or double-counting a line.
//!
//! This module owns the state file `<state_dir>/checkpoint.json` and is its
//! only writer. It holds three things:
//!
//! - [`FileIdentity`]: dev + inode + a hex fingerprint of the first
//!   [`FINGERPRINT_BYTES`] bytes. A path alone is not enough (rotation renames
//!   files) and dev + inode alone is not either (Linux reuses inodes of deleted
//!   files right away), so an entry only matches the file it was written for.
//! - [`Checkpoint`]: versioned JSON listing, per input and file, the offset of
//!   the end of the last complete line already counted, and a fingerprint of
//!   the bytes just before it ([`FileCheckpoint::tail`]): a file that reuses
//!   the inode *and* begins like the old one (a fixed banner, Docker's
//!   json-file with `time` last) still differs there, so it is not resumed
//!   at the old file's offset.
//! - [`CheckpointStore`]: loads and saves that JSON. A save writes a temp
//!   file, fsyncs it, renames it over the state file and fsyncs the
//!   directory, so a crash at any point leaves the old or the new state
//!   whole. A state file that cannot be understood is moved aside (never
//!   deleted, so an operator can inspect it) and reported as
//!   [`CheckpointError::Corrupt`]; the caller logs it and starts fresh.
//!
//! Beside them, the two halves of saving: [`OffsetBoard`], where inputs
//! publish their offsets once per poll, and [`writer`], the one task that
//! saves the board (when it moved, and once more at shutdown).
//!
//! What it deliberately does not do: no locking against other processes
//! (one daemon per state directory), and no tailing, rotation or truncation
//! logic (that belongs to the tailer, which compares identities and offsets
//! it gets from here). Linux only.

mod board;
pub mod writer;

pub use board::OffsetBoard;

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Version of the state file format; a file with any other version is not
/// trusted (its offsets could mean something else) and is moved aside.
pub const VERSION: u32 = 1;

/// How many head bytes identify a file besides dev+inode (so a reused inode
/// is not mistaken for the old file).
pub const FINGERPRINT_BYTES: usize = 64;

/// Name of the state file inside the state directory.
const FILE_NAME: &str = "checkpoint.json";

/// Name of the temp file a save writes before renaming it into place. It is
/// in the same directory so the rename never crosses filesystems.
const TMP_FILE_NAME: &str = "checkpoint.json.tmp";

/// Which file an offset belongs to, independent of its current path, so a
/// renamed (rotated) file keeps its offset and a new file at the old path
/// does not inherit it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileIdentity {
    /// Device of the filesystem holding the file (`st_dev`).
    pub dev: u64,
    /// Inode number (`st_ino`); unique only among files that exist now.
    pub ino: u64,
    /// Lowercase hex of the first min(FINGERPRINT_BYTES, size) bytes; tells
    /// a new file apart from a deleted one whose inode it reuses.
    pub head: String,
}

impl FileIdentity {
    /// Identifies an open file: fstat + positional read of the head
    /// (`FileExt::read_at`, so the file cursor does not move and the caller
    /// can keep reading where it was). The file must be open for reading.
    ///
    /// Taking the identity from the open descriptor rather than the path
    /// means it describes the file actually being read, even if the path has
    /// been rotated to another file meanwhile.
    pub fn of(file: &File) -> io::Result<FileIdentity> {
        let metadata = file.metadata()?;
        let mut head = [0u8; FINGERPRINT_BYTES];
        let filled = read_at_most(file, &mut head, 0)?;
        Ok(FileIdentity {
            dev: metadata.dev(),
            ino: metadata.ino(),
            head: to_hex(&head[..filled]),
        })
    }

    /// Same dev and inode, and one head is a prefix of the other (a file
    /// first seen with fewer than FINGERPRINT_BYTES bytes has since grown).
    ///
    /// Limitation: an identity taken while the file was empty has an empty
    /// head, which is a prefix of anything; such an identity only tells
    /// dev + inode apart. Callers refresh partial identities as the file
    /// grows (see [`FileIdentity::is_partial`]) to keep that window short.
    pub fn is_same_file(&self, other: &FileIdentity) -> bool {
        self.dev == other.dev
            && self.ino == other.ino
            && (self.head.starts_with(&other.head) || other.head.starts_with(&self.head))
    }

    /// True when the head is shorter than FINGERPRINT_BYTES (caller re-reads
    /// it later, as the file grows), because a short head identifies the file
    /// less reliably.
    pub fn is_partial(&self) -> bool {
        self.head.len() < FINGERPRINT_BYTES * 2
    }
}

/// Fills `buf` from `at` (positional reads, the cursor stays) until it is
/// full or the file ends; returns the bytes read.
fn read_at_most(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], at + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Lowercase hex of the up to [`FINGERPRINT_BYTES`] bytes of `file` just
/// before `offset` (empty at offset 0): what [`FileCheckpoint::tail`]
/// stores.
pub fn tail_fingerprint(file: &File, offset: u64) -> io::Result<String> {
    let len = offset.min(FINGERPRINT_BYTES as u64);
    let mut tail = [0u8; FINGERPRINT_BYTES];
    let filled = read_at_most(file, &mut tail[..len as usize], offset - len)?;
    Ok(to_hex(&tail[..filled]))
}

/// Lowercase hex: readable in the JSON and compared by prefix, which matches
/// a byte prefix because every byte is two characters.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Progress on one file of one input: everything before `offset` has been
/// counted, so a restart resumes there.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileCheckpoint {
    /// Name of the configured input the file belongs to; two inputs may tail
    /// the same file and each keeps its own offset.
    pub input: String,
    /// Path the file was last seen at; informational for operators and for
    /// finding a rotated file, never used to match (see `identity`).
    pub path: PathBuf,
    /// Which file this is, whatever its current path.
    pub identity: FileIdentity,
    /// Byte offset of the end of the last complete line already counted
    /// (inside a line only when `skipping`).
    pub offset: u64,
    /// Lowercase hex of the up to [`FINGERPRINT_BYTES`] bytes just before
    /// `offset`. The head fingerprint tells a reused inode apart only when
    /// the new file begins differently; two files that begin alike (a
    /// banner, a fixed first record) still differ in the bytes that end the
    /// old one's counted part, or are shorter than it. So the entry resumes
    /// a file only when these bytes are still there
    /// ([`FileCheckpoint::still_fits`]). Empty in checkpoints from before
    /// it was added (and at offset 0): then only the identity is checked.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tail: String,
    /// True when `offset` lies inside a line longer than `max_line_bytes`
    /// whose head was already counted: the bytes up to its next newline
    /// are skipped on resume, not counted as a record of their own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipping: bool,
}

impl FileCheckpoint {
    /// Whether `file` (already matched by [`FileIdentity::is_same_file`])
    /// still holds the bytes this entry saw before its offset, so resuming
    /// at the offset continues the same stream. False for a file shorter
    /// than the offset, or one that reused the inode and begins like the
    /// old one but differs there. One `pread` of at most 64 bytes.
    pub fn still_fits(&self, file: &File) -> io::Result<bool> {
        if self.tail.is_empty() {
            return Ok(true);
        }
        Ok(tail_fingerprint(file, self.offset)? == self.tail)
    }
}

/// The whole persisted state: what the daemon needs to resume every file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Format version; see [`VERSION`].
    pub version: u32,
    /// One entry per (input, file) pair being tailed.
    pub files: Vec<FileCheckpoint>,
}

impl Default for Checkpoint {
    /// An empty state at the current version: what a first start, or a start
    /// after a corrupt state file, resumes from.
    fn default() -> Self {
        Checkpoint {
            version: VERSION,
            files: Vec::new(),
        }
    }
}

/// Why the state file could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing a file (or the state directory) failed; `path`
    /// names the one that failed.
    #[error("{}: checkpoint i/o failed: {source}", path.display())]
    Io {
        /// The file or directory being accessed.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The state file exists but cannot be trusted (bad JSON, wrong shape or
    /// unknown version). It has been moved to `moved_to` (None if even that
    /// failed); the caller logs this and starts from an empty state.
    #[error(
        "{}: corrupt checkpoint ({reason}); {}",
        path.display(),
        describe_move(moved_to.as_deref())
    )]
    Corrupt {
        /// The state file that was rejected.
        path: PathBuf,
        /// Where the rejected file now is, for an operator to inspect.
        moved_to: Option<PathBuf>,
        /// What was wrong with it.
        reason: String,
    },
}

fn describe_move(moved_to: Option<&Path>) -> String {
    match moved_to {
        Some(path) => format!("moved aside to {}", path.display()),
        None => "could not move it aside".to_owned(),
    }
}

/// Just the version of a state file, read before the full shape so a file
/// from another version is reported as such rather than as a shape error.
#[derive(serde::Deserialize)]
struct VersionProbe {
    version: u32,
}

/// Loads and atomically saves the state file in one state directory.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
    path: PathBuf,
    tmp_path: PathBuf,
}

impl CheckpointStore {
    /// Creates state_dir if needed (create_dir_all), so the first save does
    /// not fail and a bad state directory is reported at startup.
    pub fn open(state_dir: &Path) -> Result<CheckpointStore, CheckpointError> {
        fs::create_dir_all(state_dir).map_err(|source| CheckpointError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        Ok(CheckpointStore {
            dir: state_dir.to_path_buf(),
            path: state_dir.join(FILE_NAME),
            tmp_path: state_dir.join(TMP_FILE_NAME),
        })
    }

    /// Path of the state file.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Missing file -> Ok(Checkpoint::default()). Unreadable JSON, wrong
    /// shape or an unknown `version` -> the file is renamed aside to
    /// `checkpoint.json.corrupt-<unix seconds>` and
    /// Err(CheckpointError::Corrupt { path, moved_to, reason }) is returned;
    /// the caller logs it and starts fresh.
    ///
    /// Moving the file aside (rather than failing on every start) keeps the
    /// daemon running, and keeps the evidence. A leftover temp file from an
    /// interrupted save is ignored: the rename never happened, so the state
    /// file still holds the last complete save.
    pub fn load(&self) -> Result<Checkpoint, CheckpointError> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Checkpoint::default()),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        match parse(&bytes) {
            Ok(checkpoint) => Ok(checkpoint),
            Err(reason) => Err(CheckpointError::Corrupt {
                path: self.path.clone(),
                moved_to: self.move_aside(),
                reason,
            }),
        }
    }

    /// Atomic: write to `checkpoint.json.tmp` in the same dir, fsync it,
    /// rename over checkpoint.json, fsync the directory. A crash at any point
    /// leaves either the old or the new file whole.
    ///
    /// The checkpoint is written as given, including its `version`; build it
    /// from [`Checkpoint::default`] so it carries [`VERSION`].
    pub fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let mut json = serde_json::to_vec_pretty(checkpoint).map_err(|e| CheckpointError::Io {
            path: self.tmp_path.clone(),
            source: io::Error::other(e),
        })?;
        json.push(b'\n');

        if let Err(source) = self.write_tmp(&json) {
            if let Err(e) = fs::remove_file(&self.tmp_path)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %self.tmp_path.display(), error = %e, "cannot remove checkpoint temp file");
            }
            return Err(CheckpointError::Io {
                path: self.tmp_path.clone(),
                source,
            });
        }
        fs::rename(&self.tmp_path, &self.path).map_err(|source| CheckpointError::Io {
            path: self.path.clone(),
            source,
        })?;
        // Without this the rename itself may not survive a power loss.
        sync_dir(&self.dir).map_err(|source| CheckpointError::Io {
            path: self.dir.clone(),
            source,
        })
    }

    /// Writes and fsyncs the temp file, replacing any leftover from an
    /// interrupted save.
    fn write_tmp(&self, json: &[u8]) -> io::Result<()> {
        let mut tmp = File::create(&self.tmp_path)?;
        tmp.write_all(json)?;
        tmp.sync_all()
    }

    /// Renames the rejected state file to `checkpoint.json.corrupt-<secs>`
    /// (with `.1`, `.2`, ... appended if that name is taken, so an earlier
    /// corrupt file is never overwritten). Returns None if that failed; the
    /// next save overwrites the bad file anyway.
    fn move_aside(&self) -> Option<PathBuf> {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let base = format!("{FILE_NAME}.corrupt-{secs}");
        let target = (0u32..1000)
            .map(|n| {
                if n == 0 {
                    self.dir.join(&base)
                } else {
                    self.dir.join(format!("{base}.{n}"))
                }
            })
            .find(|candidate| !candidate.exists())?;
        match fs::rename(&self.path, &target) {
            Ok(()) => {
                if let Err(e) = sync_dir(&self.dir) {
                    tracing::warn!(path = %self.dir.display(), error = %e, "cannot sync state directory");
                }
                Some(target)
            }
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot move corrupt checkpoint aside");
                None
            }
        }
    }
}

/// Parses a state file; the error is a human-readable reason.
fn parse(bytes: &[u8]) -> Result<Checkpoint, String> {
    let probe: VersionProbe =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid json: {e}"))?;
    if probe.version != VERSION {
        return Err(format!(
            "unsupported version {} (expected {VERSION})",
            probe.version
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("invalid checkpoint: {e}"))
}

/// Fsyncs a directory so renames inside it are durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn identity(head: &[u8], ino: u64) -> FileIdentity {
        FileIdentity {
            dev: 1,
            ino,
            head: to_hex(head),
        }
    }

    fn entry(input: &str, path: &str, identity: FileIdentity, offset: u64) -> FileCheckpoint {
        FileCheckpoint {
            input: input.to_owned(),
            path: PathBuf::from(path),
            identity,
            offset,
            tail: String::new(),
            skipping: false,
        }
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            version: VERSION,
            files: vec![
                entry("app", "/var/log/app.log", identity(&[7; 64], 10), 1234),
                entry("api", "/var/log/api.log", identity(b"short", 11), 5),
            ],
        }
    }

    fn write_file(path: &Path, bytes: &[u8]) {
        fs::write(path, bytes).unwrap();
    }

    fn identity_of(path: &Path) -> FileIdentity {
        FileIdentity::of(&File::open(path).unwrap()).unwrap()
    }

    /// Names in the state dir other than the state file itself.
    fn other_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != FILE_NAME)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap(), sample());
    }

    #[test]
    fn open_creates_state_dir_and_path_is_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("a/b");
        let store = CheckpointStore::open(&state_dir).unwrap();
        assert!(state_dir.is_dir());
        assert_eq!(store.path(), state_dir.join("checkpoint.json"));
    }

    #[test]
    fn missing_file_loads_default() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let checkpoint = store.load().unwrap();
        assert_eq!(checkpoint, Checkpoint::default());
        assert_eq!(checkpoint.version, VERSION);
        assert!(checkpoint.files.is_empty());
    }

    #[test]
    fn saved_json_is_pretty_and_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.save(&sample()).unwrap();
        let text = fs::read_to_string(store.path()).unwrap();
        assert!(text.starts_with("{\n  \"version\": 1,"), "{text}");
        assert!(text.lines().count() > 10);
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn save_overwrites_fully_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        let mut big = sample();
        for i in 0..100 {
            big.files
                .push(entry("app", "/var/log/x.log", identity(b"x", 100 + i), i));
        }
        store.save(&big).unwrap();
        let small = Checkpoint::default();
        store.save(&small).unwrap();

        let text = fs::read_to_string(store.path()).unwrap();
        let parsed: Checkpoint = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, small);
        assert_eq!(store.load().unwrap(), small);
        assert!(
            other_files(dir.path()).is_empty(),
            "{:?}",
            other_files(dir.path())
        );
    }

    #[test]
    fn save_replaces_leftover_temp_file_from_interrupted_save() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        store.save(&sample()).unwrap();
        // A crash after writing part of the temp file: load still sees the old state.
        write_file(&dir.path().join(TMP_FILE_NAME), b"{\"version\": 1, \"fi");
        assert_eq!(store.load().unwrap(), sample());

        store.save(&Checkpoint::default()).unwrap();
        assert_eq!(store.load().unwrap(), Checkpoint::default());
        assert!(other_files(dir.path()).is_empty());
    }

    fn assert_corrupt_moved_aside(contents: &[u8], reason_part: &str) {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        write_file(store.path(), contents);

        let err = store.load().unwrap_err();
        let CheckpointError::Corrupt {
            path,
            moved_to,
            reason,
        } = &err
        else {
            panic!("expected Corrupt, got {err:?}");
        };
        assert_eq!(path, store.path());
        assert!(reason.contains(reason_part), "{reason}");
        let moved_to = moved_to.as_ref().unwrap();
        assert_eq!(moved_to.parent().unwrap(), dir.path());
        let name = moved_to.file_name().unwrap().to_str().unwrap();
        let secs = name.strip_prefix("checkpoint.json.corrupt-").unwrap();
        assert!(secs.parse::<u64>().unwrap() > 1_600_000_000, "{name}");
        assert_eq!(fs::read(moved_to).unwrap(), contents);
        assert!(!store.path().exists());
        assert!(err.to_string().contains("moved aside to"), "{err}");

        // The caller starts fresh: the next load sees no state file.
        assert_eq!(store.load().unwrap(), Checkpoint::default());
    }

    #[test]
    fn corrupt_json_is_moved_aside() {
        assert_corrupt_moved_aside(b"{\"version\": 1, \"files\": [", "invalid json");
    }

    #[test]
    fn empty_file_is_corrupt() {
        assert_corrupt_moved_aside(b"", "invalid json");
    }

    #[test]
    fn unknown_version_is_corrupt() {
        assert_corrupt_moved_aside(
            b"{\"version\": 99, \"files\": [], \"future\": true}",
            "unsupported version 99",
        );
    }

    #[test]
    fn unknown_field_is_corrupt() {
        assert_corrupt_moved_aside(
            b"{\"version\": 1, \"files\": [], \"extra\": 1}",
            "invalid checkpoint",
        );
    }

    #[test]
    fn wrong_shape_is_corrupt() {
        assert_corrupt_moved_aside(
            b"{\"version\": 1, \"files\": [{\"input\": \"app\"}]}",
            "invalid checkpoint",
        );
    }

    #[test]
    fn second_corrupt_file_in_same_second_keeps_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        write_file(store.path(), b"first");
        let first = store.load().unwrap_err();
        write_file(store.path(), b"second");
        let second = store.load().unwrap_err();
        let moved = |e: &CheckpointError| match e {
            CheckpointError::Corrupt { moved_to, .. } => moved_to.clone().unwrap(),
            CheckpointError::Io { .. } => panic!("expected Corrupt, got {e:?}"),
        };
        assert_ne!(moved(&first), moved(&second));
        assert_eq!(fs::read(moved(&first)).unwrap(), b"first");
        assert_eq!(fs::read(moved(&second)).unwrap(), b"second");
    }

    #[test]
    fn unreadable_state_file_is_io_error_naming_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path()).unwrap();
        fs::create_dir(store.path()).unwrap();
        let err = store.load().unwrap_err();
        assert!(matches!(&err, CheckpointError::Io { path, .. } if path == store.path()));
        assert!(err.to_string().contains("checkpoint.json"), "{err}");
        // Not moved aside: an I/O error says nothing about the contents.
        assert!(store.path().is_dir());
    }

    #[test]
    fn identity_of_same_file_is_equal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        write_file(&path, &[b'a'; 200]);
        let first = identity_of(&path);
        let second = identity_of(&path);
        assert_eq!(first, second);
        assert_eq!(first.head, "61".repeat(FINGERPRINT_BYTES));
        assert!(!first.is_partial());
        assert!(first.is_same_file(&second));
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((first.dev, first.ino), (meta.dev(), meta.ino()));
    }

    #[test]
    fn growing_file_is_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let content: Vec<u8> = (0..100u8).collect();
        write_file(&path, &content[..10]);
        let small = identity_of(&path);
        assert!(small.is_partial());
        assert_eq!(small.head, to_hex(&content[..10]));

        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&content[10..]).unwrap();
        let grown = identity_of(&path);
        assert!(!grown.is_partial());
        assert_eq!(grown.head, to_hex(&content[..FINGERPRINT_BYTES]));
        assert!(small.is_same_file(&grown));
        assert!(grown.is_same_file(&small));
    }

    #[test]
    fn same_head_different_inode_is_not_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.log");
        let b = dir.path().join("b.log");
        write_file(&a, b"same content\n");
        write_file(&b, b"same content\n");
        let (ia, ib) = (identity_of(&a), identity_of(&b));
        assert_eq!(ia.head, ib.head);
        assert_ne!(ia.ino, ib.ino);
        assert!(!ia.is_same_file(&ib));
    }

    #[test]
    fn new_file_at_same_path_is_not_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        write_file(&path, b"old file line one\n");
        let old = identity_of(&path);
        fs::remove_file(&path).unwrap();
        // Linux often hands the freed inode to the next file; the head must
        // tell them apart either way.
        write_file(&path, b"new file line one\n");
        let new = identity_of(&path);
        assert!(!old.is_same_file(&new));
        assert!(!new.is_same_file(&old));
    }

    #[test]
    fn differing_heads_with_same_inode_are_not_same_file() {
        // The inode-reuse case made deterministic.
        let old = identity(b"old file", 5);
        let new = identity(b"new file", 5);
        assert!(!old.is_same_file(&new));
        let mut other_dev = identity(b"old file", 5);
        other_dev.dev = 2;
        assert!(!old.is_same_file(&other_dev));
    }

    #[test]
    fn identity_does_not_move_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        write_file(&path, b"first line\nsecond line\n");
        let mut file = File::open(&path).unwrap();
        FileIdentity::of(&file).unwrap();
        let mut buf = [0u8; 5];
        file.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"first");

        // Nor from a position other than the start.
        FileIdentity::of(&file).unwrap();
        file.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b" line");
    }

    #[test]
    fn empty_file_has_empty_partial_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        write_file(&path, b"");
        let id = identity_of(&path);
        assert_eq!(id.head, "");
        assert!(id.is_partial());
    }

    #[test]
    fn the_tail_fingerprint_tells_a_file_that_begins_alike_from_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let banner = [b'b'; 80];
        let old = [&banner[..], b"\n", b"old line one\n"].concat();
        write_file(&path, &old);
        let offset = old.len() as u64;
        let saved = FileCheckpoint {
            tail: tail_fingerprint(&File::open(&path).unwrap(), offset).unwrap(),
            ..entry("app", "/a", identity_of(&path), offset)
        };
        assert_eq!(saved.tail.len(), FINGERPRINT_BYTES * 2);
        // The same file, grown: fits.
        write_file(&path, &[&old[..], b"old line two\n"].concat());
        assert!(saved.still_fits(&File::open(&path).unwrap()).unwrap());
        // Same head, other lines, longer than the offset: does not.
        write_file(
            &path,
            &[&banner[..], b"\n", b"new line one, longer\n"].concat(),
        );
        let file = File::open(&path).unwrap();
        assert!(identity_of(&path).is_same_file(&saved.identity));
        assert!(!saved.still_fits(&file).unwrap());
        // Shorter than the offset: does not either.
        write_file(&path, &banner);
        assert!(!saved.still_fits(&File::open(&path).unwrap()).unwrap());
        // Near the start, the tail is what there is.
        assert_eq!(
            tail_fingerprint(&File::open(&path).unwrap(), 3).unwrap(),
            "626262"
        );
        assert_eq!(
            tail_fingerprint(&File::open(&path).unwrap(), 0).unwrap(),
            ""
        );
    }

    #[test]
    fn an_entry_without_tail_or_skipping_reads_and_writes_as_before() {
        let json = br#"{"version":1,"files":[{"input":"app","path":"/a","identity":{"dev":1,"ino":2,"head":"7b"},"offset":10}]}"#;
        let checkpoint = parse(json).unwrap();
        assert_eq!(checkpoint.files[0].tail, "");
        assert!(!checkpoint.files[0].skipping);
        let written = serde_json::to_string(&checkpoint).unwrap();
        assert!(!written.contains("tail") && !written.contains("skipping"));
    }

    #[test]
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(to_hex(&[0x00, 0x0a, 0xff]), "000aff");
        assert_eq!(to_hex(&[]), "");
    }
}
