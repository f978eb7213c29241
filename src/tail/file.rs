//! One followed file: opening (with resume), reading whole lines, and the
//! end-of-file checks that notice truncation.
//!
//! A [`FileTailer`] keeps its descriptor across renames and deletion, so a
//! rotated file is drained through the descriptor it was opened with; which
//! file a *path* names is the input's business ([`super::input`]), decided
//! by [`FileIdentity`].

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::checkpoint::FileIdentity;
use crate::frame::LineFramer;
use crate::scan::{Scanner, Tally};

/// Size of one plain read: the buffer an input lends to
/// [`FileTailer::read`] (one per input, not per file).
pub const READ_SIZE: usize = 1 << 20;

/// How far back from the end a file opened "at the end" looks for the last
/// newline, so that a half-written last line is counted once it completes.
const LAST_LINE_LOOKBACK: u64 = 64 << 10;

/// Where reading starts in a newly opened file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// From its first byte.
    Beginning,
    /// After its last complete line.
    End,
    /// At a checkpointed offset (the end of a line already counted).
    Offset(u64),
}

/// What one call to [`FileTailer::read`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes read.
    pub bytes: u64,
    /// True when the read reached the end of the file.
    pub at_end: bool,
}

/// An open file being followed.
#[derive(Debug)]
pub struct FileTailer {
    path: PathBuf,
    file: File,
    identity: FileIdentity,
    framer: LineFramer,
    size: u64,
    /// Set when no matched path names this file any more: it is drained
    /// for a grace period, then closed.
    pub orphaned_since: Option<Instant>,
}

impl FileTailer {
    /// Opens `path` and positions it at `start`. An offset beyond the end
    /// (the file was truncated while nobody watched) starts again at 0.
    pub fn open(path: &Path, start: StartPosition, max_line_bytes: usize) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let identity = FileIdentity::of(&file)?;
        let size = file.metadata()?.len();
        let offset = match start {
            StartPosition::Beginning => 0,
            StartPosition::Offset(offset) if offset <= size => offset,
            StartPosition::Offset(_) => 0,
            StartPosition::End => end_of_last_line(&file, size)?,
        };
        file.seek(SeekFrom::Start(offset))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            identity,
            framer: LineFramer::starting_at(max_line_bytes, offset),
            size,
            orphaned_since: None,
        })
    }

    /// The path the file was last seen at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the file is now seen at `path` (renamed, still matched).
    pub fn set_path(&mut self, path: PathBuf) {
        self.path = path;
    }

    /// Which file this is.
    pub fn identity(&self) -> &FileIdentity {
        &self.identity
    }

    /// Offset just past the last line counted: what a checkpoint stores.
    pub fn offset(&self) -> u64 {
        self.framer.offset()
    }

    /// The file's size at the last look.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes written but not yet read (a held partial line counts as read).
    pub fn lag(&self) -> u64 {
        self.size
            .saturating_sub(self.framer.offset() + self.framer.pending_bytes() as u64)
    }

    /// Reads up to about `budget` bytes into `buf` (lent by the input, so
    /// idle files hold no read buffer; must not be empty), counting every
    /// complete line into `tally` and calling `publish` after each read so
    /// counts become visible during long catch-ups. A partial last line is
    /// held.
    pub fn read(
        &mut self,
        buf: &mut [u8],
        scanner: &mut Scanner,
        tally: &mut Tally,
        budget: u64,
        mut publish: impl FnMut(&mut Tally),
    ) -> io::Result<ReadOutcome> {
        let mut total = 0u64;
        loop {
            let read = match self.file.read(buf) {
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if read == 0 {
                return Ok(ReadOutcome {
                    bytes: total,
                    at_end: true,
                });
            }
            self.framer
                .frame(&buf[..read], |chunk| scanner.scan_chunk(chunk, tally));
            tally.bytes += read as u64;
            total += read as u64;
            publish(tally);
            if total >= budget {
                return Ok(ReadOutcome {
                    bytes: total,
                    at_end: false,
                });
            }
        }
    }

    /// At end of file: looks at the file's size. Returns true when it shrank
    /// below what was read (copytruncate): reading restarts at 0 and the
    /// held partial line is dropped.
    pub fn check_truncation(&mut self) -> io::Result<bool> {
        let size = self.file.metadata()?.len();
        let read_to = self.framer.offset() + self.framer.pending_bytes() as u64;
        self.size = size;
        if size >= read_to {
            if self.identity.is_partial() && size > 0 {
                self.refresh_identity()?;
            }
            return Ok(false);
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.framer = LineFramer::starting_at(self.framer.max_line_bytes(), 0);
        self.refresh_identity()?;
        Ok(true)
    }

    /// Re-reads the head fingerprint: a file first seen nearly empty is
    /// identified by more bytes once it has them.
    fn refresh_identity(&mut self) -> io::Result<()> {
        self.identity = FileIdentity::of(&self.file)?;
        Ok(())
    }
}

/// The offset just past the last newline of a file of `size` bytes, looking
/// back at most [`LAST_LINE_LOOKBACK`] bytes (else the end itself).
fn end_of_last_line(file: &File, size: u64) -> io::Result<u64> {
    let look = size.min(LAST_LINE_LOOKBACK);
    let mut tail = vec![0; look as usize];
    file.read_exact_at(&mut tail, size - look)?;
    Ok(match memchr::memrchr(b'\n', &tail) {
        Some(newline) => size - look + newline as u64 + 1,
        None if look == size => 0,
        None => size,
    })
}
