//! One followed file: opening (with resume), reading whole lines, and the
//! end-of-file checks that notice truncation.
//!
//! A [`FileTailer`] keeps its descriptor across renames and deletion, so a
//! rotated file is drained through the descriptor it was opened with; which
//! file a *path* names is the input's business ([`super::input`]), decided
//! by [`FileIdentity`].
//!
//! Reading has two speeds. A small append (the steady state) is one plain
//! `read` into a buffer the input lends, framed in place by the tailer's
//! [`LineReader`]: no thread, no allocation. A large backlog (a file opened
//! from its beginning, or a burst) is read like `errtally scan` reads:
//! [`LineReader::read_ahead`] fills a pool on a second thread while this one
//! frames and scans, so catching up runs at `scan`'s speed. Both buffers belong to
//! the input ([`ReadBuffers`]), which frees the pool once caught up; the
//! reader owns the only per-file memory: the unfinished last line, at most
//! `max_line_bytes + 1`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::{
    FINGERPRINT_BYTES, FileCheckpoint, FileIdentity, read_at_most, tail_fingerprint, to_hex,
};
use crate::export::metrics::LabelSetId;
use crate::read::ahead::{NewlineCounter, Pool};
use crate::read::{LineReader, READ_SIZE, RECENT_BYTES};
use crate::scan::{Scanner, Tally};

/// Unread bytes from which a read continues on a reader thread
/// ([`LineReader::read_ahead`]) instead of with plain reads. Measured on 2 cores, file
/// in page cache, median of 21: 8 to 16 MiB take the same time either way
/// (about 0.2 ms/MiB; 2.5 ms more for read-ahead when its pool is first
/// touched), 32 MiB 6.4 ms read ahead vs 8.0 ms plain, 64 MiB 12.7 vs 16.5.
const READ_AHEAD_MIN_BYTES: u64 = 16 << 20;

// The entry's tail fingerprint is taken from the bytes a read kept
// ([`FileTailer::tail_fingerprint`]): both are the same 64 bytes.
const _: () = assert!(RECENT_BYTES == FINGERPRINT_BYTES);

/// How far back from the end a file opened "at the end" looks for the last
/// newline, so that a half-written last line is counted once it completes.
const LAST_LINE_LOOKBACK: u64 = 64 << 10;

/// Opens a log file for reading without ever blocking: a glob can match
/// files whose reads wait for data that may never come (`/proc/kmsg`, a
/// device behind a `**`), and a blocked read would hold the input's poll,
/// and a stop, forever. On a regular file `O_NONBLOCK` changes nothing;
/// elsewhere the read fails with `EAGAIN`, which is counted and retried.
pub fn open_log(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Where reading starts in a newly opened file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    /// From its first byte.
    Beginning,
    /// After its last complete line.
    End,
    /// At a checkpointed offset (the end of a line already counted).
    Offset(u64),
    /// At a checkpointed offset inside a line longer than `max_line_bytes`
    /// whose head was already counted: the rest of that line is skipped.
    InsideLongLine(u64),
}

impl StartPosition {
    /// Where a checkpoint entry resumes its file.
    pub fn of(saved: &FileCheckpoint) -> Self {
        if saved.skipping {
            StartPosition::InsideLongLine(saved.offset)
        } else {
            StartPosition::Offset(saved.offset)
        }
    }
}

/// What an input lends to its tailers' reads, one file after another: a
/// buffer for plain reads and the pool for catch-ups. One per input, not
/// per file, so a hundred quiet files cost no buffer memory.
#[derive(Debug)]
pub struct ReadBuffers {
    plain: Box<[u8]>,
    pool: Pool,
}

impl ReadBuffers {
    /// A plain buffer of [`READ_SIZE`] and a default pool, not allocated
    /// until a catch-up needs it.
    pub fn new() -> Self {
        Self {
            plain: vec![0; READ_SIZE].into_boxed_slice(),
            pool: Pool::default(),
        }
    }

    /// Frees the catch-up pool, which is kept from one read to the next
    /// while a backlog lasts.
    pub fn release_pool(&mut self) {
        self.pool.release();
    }
}

impl Default for ReadBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a followed file is read again from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// It is shorter than what was read (copytruncate).
    Truncated,
    /// It starts with other bytes than when it was first read, or holds
    /// other bytes just before where reading goes on, though it is not
    /// shorter: truncated and written again past the offset between two
    /// looks (copytruncate while the writer goes on), or rewritten in place.
    Rewritten,
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
    lines: LineReader,
    size: u64,
    /// Set when no matched path names this file any more: it is drained
    /// for a grace period, then closed.
    pub orphaned_since: Option<Instant>,
    /// Marked by the input for closing at the end of its poll.
    pub closing: bool,
    /// When it was opened: under descriptor pressure, the file that has
    /// held its slot longest gives it up first.
    pub opened_at: Instant,
    /// The size the input's last glob rescan listed for the file's path.
    pub listed_size: Option<u64>,
    /// The modification time at the last look (listing or `fstat`), and
    /// whether that look found it moved: a file rewritten in place to the
    /// same size is read (and its head and tail checked) on the strength
    /// of it.
    modified: Option<SystemTime>,
    modified_moved: bool,
    /// The label set the file counts into, chosen by the input from the
    /// path the file was opened at (a rename does not move it).
    pub label_set: LabelSetId,
    /// The last [`FileTailer::tail_fingerprint`], with the offset it was
    /// taken at: publishing a quiet file's offset costs no read.
    tail: Option<(u64, String)>,
}

impl FileTailer {
    /// Opens `path` and positions it at `start`. An offset beyond the end
    /// (the file was truncated while nobody watched) starts again at 0.
    #[cfg(test)]
    pub fn open(path: &Path, start: StartPosition, max_line_bytes: usize) -> io::Result<Self> {
        let file = open_log(path)?;
        let identity = FileIdentity::of(&file)?;
        Self::from_open(path, file, identity, start, max_line_bytes)
    }

    /// Follows `file`, already open at `path` and known as `identity`: the
    /// start position was chosen for this very descriptor, so a rotation
    /// between choosing and opening cannot give one file's offset to another.
    pub fn from_open(
        path: &Path,
        mut file: File,
        identity: FileIdentity,
        start: StartPosition,
        max_line_bytes: usize,
    ) -> io::Result<Self> {
        let size = file.metadata()?.len();
        let (offset, skipping) = match start {
            StartPosition::Beginning => (0, false),
            StartPosition::Offset(offset) if offset <= size => (offset, false),
            StartPosition::InsideLongLine(offset) if offset <= size => (offset, true),
            StartPosition::Offset(_) | StartPosition::InsideLongLine(_) => (0, false),
            StartPosition::End => (end_of_last_line(&file, size)?, false),
        };
        file.seek(SeekFrom::Start(offset))?;
        let mut lines = if skipping {
            LineReader::skipping_from(max_line_bytes, offset)
        } else {
            LineReader::starting_at(max_line_bytes, offset)
        };
        // The bytes before the offset, so that the first read already
        // checks them (one `pread` per open). Unreadable: that first read
        // goes unchecked, the ones after it are.
        let len = offset.min(RECENT_BYTES as u64);
        let mut preceding = [0u8; RECENT_BYTES];
        if let Ok(filled) = read_at_most(&file, &mut preceding[..len as usize], offset - len)
            && filled as u64 == len
        {
            lines.note_preceding(&preceding[..filled]);
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            identity,
            lines,
            size,
            orphaned_since: None,
            closing: false,
            opened_at: Instant::now(),
            listed_size: None,
            modified: None,
            modified_moved: false,
            label_set: LabelSetId::default(),
            tail: None,
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
    /// Inside a line only while [`FileTailer::is_skipping`].
    pub fn offset(&self) -> u64 {
        self.lines.offset()
    }

    /// True while the rest of an over-long line, whose head was counted, is
    /// skipped: a checkpoint stores that with the offset, so a successor
    /// (after a stop or a reload) skips the rest too instead of counting it
    /// as a record.
    pub fn is_skipping(&self) -> bool {
        self.lines.is_skipping()
    }

    /// The fingerprint of the bytes just before [`FileTailer::offset`]
    /// (see [`FileCheckpoint::tail`]); empty when they cannot be read,
    /// which leaves only the identity to match a restart by. Taken again
    /// only when the offset moved: from the last bytes read when they end
    /// at the offset (no partial line held), else with a `pread`.
    pub fn tail_fingerprint(&mut self) -> String {
        let offset = self.offset();
        match &self.tail {
            Some((at, tail)) if *at == offset => tail.clone(),
            _ => {
                let recent = self.lines.recent_bytes();
                let tail = if self.lines.read_to() == offset
                    && recent.len() as u64 == offset.min(FINGERPRINT_BYTES as u64)
                {
                    to_hex(recent)
                } else {
                    tail_fingerprint(&self.file, offset).unwrap_or_default()
                };
                self.tail = Some((offset, tail.clone()));
                tail
            }
        }
    }

    /// The file's size at the last look.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the file has no name left (deleted; drained through its
    /// descriptor). Such a file can never be found again, so its offset is
    /// not worth keeping, and an entry kept for it could fit another file
    /// that reuses its inode once it is closed. One `fstat`.
    pub fn is_deleted(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.file.metadata().is_ok_and(|meta| meta.nlink() == 0)
    }

    /// Whether the file no longer is at its path: deleted (no name left),
    /// or its path now names another file or nothing. A path that cannot
    /// be looked at (`EACCES`, `EMFILE`) says nothing, so the file stays.
    /// One `fstat` and one `stat`, only for files a listing missed.
    pub fn is_gone_from_path(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let Ok(held) = self.file.metadata() else {
            return false;
        };
        if held.nlink() == 0 {
            return true;
        }
        match std::fs::metadata(&self.path) {
            Ok(named) => (named.dev(), named.ino()) != (held.dev(), held.ino()),
            Err(error) => error.kind() == io::ErrorKind::NotFound,
        }
    }

    /// Looks at the file's size through its descriptor (no path lookup).
    pub fn stat(&mut self) -> io::Result<u64> {
        let metadata = self.file.metadata()?;
        self.size = metadata.len();
        self.note_modified(metadata.modified().ok());
        Ok(self.size)
    }

    /// Notes the modification time a look found (`None`: unknown).
    pub fn note_modified(&mut self, modified: Option<SystemTime>) {
        self.modified_moved |= self.modified.is_some() && modified != self.modified;
        self.modified = modified;
    }

    /// The modification time at the last look.
    pub fn modified(&self) -> Option<SystemTime> {
        self.modified
    }

    /// Whether the file may be parked: read to its last look's end, still
    /// at its path, nothing pending (no move of its time unread).
    pub fn is_idle(&self) -> bool {
        self.orphaned_since.is_none()
            && !self.closing
            && !self.modified_moved
            && self.size == self.read_to()
    }

    /// Whether the modification time moved since the file was last read.
    pub fn was_modified(&self) -> bool {
        self.modified_moved
    }

    /// Bytes written but not yet read (a held partial line counts as read).
    pub fn lag(&self) -> u64 {
        self.size.saturating_sub(self.lines.read_to())
    }

    /// Reads up to about `budget` bytes, counting every complete line into
    /// `tally` and calling `publish` after each read so counts become
    /// visible during long catch-ups. A partial last line is held.
    ///
    /// Plain reads go into the input's `buffers`. When a read fills the
    /// plain buffer and at least 16 MiB are still unread, the rest of the
    /// budget is read ahead on a second thread into the pool, which stays
    /// allocated (see [`ReadBuffers::release_pool`]); `stop` (the input's token) is checked
    /// between its buffers, so shutdown does not wait for the whole budget.
    pub fn read(
        &mut self,
        buffers: &mut ReadBuffers,
        scanner: &mut Scanner,
        tally: &mut Tally,
        budget: u64,
        stop: &CancellationToken,
        mut publish: impl FnMut(&mut Tally),
    ) -> io::Result<ReadOutcome> {
        // Whatever moved the modification time, this read takes it in.
        self.modified_moved = false;
        let buf = &mut buffers.plain;
        let mut total = 0u64;
        let mut looked_ahead = false;
        loop {
            let read = self.lines.read_once(&mut self.file, buf, scanner, tally)?;
            if read == 0 {
                return Ok(ReadOutcome {
                    bytes: total,
                    at_end: true,
                });
            }
            total += read as u64;
            publish(tally);
            if total >= budget {
                return Ok(ReadOutcome {
                    bytes: total,
                    at_end: false,
                });
            }
            // A full buffer may be the head of a backlog: one look at the
            // size per call, never for the small appends of the steady state.
            if read == buf.len() && !looked_ahead {
                looked_ahead = true;
                self.size = self.file.metadata()?.len();
                if self.lag() >= READ_AHEAD_MIN_BYTES {
                    let outcome = self.catch_up(
                        &mut buffers.pool,
                        scanner,
                        tally,
                        budget - total,
                        stop,
                        publish,
                    )?;
                    return Ok(ReadOutcome {
                        bytes: total + outcome.bytes,
                        at_end: outcome.at_end,
                    });
                }
            }
        }
    }

    /// Reads up to `budget` bytes with [`LineReader::read_ahead`], framing each pool
    /// buffer in place and publishing after each.
    fn catch_up(
        &mut self,
        pool: &mut Pool,
        scanner: &mut Scanner,
        tally: &mut Tally,
        budget: u64,
        stop: &CancellationToken,
        mut publish: impl FnMut(&mut Tally),
    ) -> io::Result<ReadOutcome> {
        let mut stopped = false;
        let file = (&self.file).take(budget);
        let result = self.lines.read_ahead(
            file,
            pool,
            NewlineCounter::Reader,
            scanner,
            tally,
            |tally, _| {
                publish(tally);
                if stop.is_cancelled() {
                    stopped = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            },
        );
        // After a stop or an error the reader thread may have read past
        // what was framed: continue from what was.
        let repositioned = self.file.seek(SeekFrom::Start(self.lines.read_to()));
        let bytes = result?;
        repositioned?;
        Ok(ReadOutcome {
            bytes,
            // The reader stops short of the budget only at end of file.
            at_end: bytes < budget && !stopped,
        })
    }

    /// How far the file has been read: the offset plus a held partial line.
    pub fn read_to(&self) -> u64 {
        self.lines.read_to()
    }

    /// At end of file: looks at the file's size. Returns true when it shrank
    /// below what was read (copytruncate): reading restarts at 0 and the
    /// held partial line is dropped.
    pub fn check_truncation(&mut self) -> io::Result<bool> {
        let size = self.file.metadata()?.len();
        let read_to = self.read_to();
        self.size = size;
        if size >= read_to {
            if self.identity.is_partial() && size > 0 {
                self.refresh_identity()?;
            }
            return Ok(false);
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.lines.restart();
        self.tail = None;
        self.refresh_identity()?;
        Ok(true)
    }

    /// Before a read: whether the file still holds the bytes it was read
    /// as, at both ends of what was read: its first bytes (the head
    /// fingerprint) and the last bytes read, just before where reading
    /// goes on ([`LineReader::recent_bytes`], kept raw as they were
    /// framed). A file truncated and written again past our offset between
    /// two looks, so that its size never showed the truncation (a
    /// copytruncate, then the writer goes on at once), differs at one end
    /// or the other even when every line starts alike (a logger that puts
    /// the time last): it is read again from 0, like a truncated one. A
    /// file now shorter than what was read is reported as
    /// [`Restart::Truncated`] (a copytruncate seen before the end-of-file
    /// check saw it), so that one event is logged and counted one way
    /// whichever check meets it first. The bound: a rewrite that keeps
    /// both the first 64 bytes and the 64 before the offset goes unseen,
    /// and so does one between this check and the read that follows it.
    ///
    /// Two `pread`s of at most 64 bytes each (one when what was read is
    /// no longer than the head), no allocation; an `fstat` only when a
    /// check fails.
    pub fn check_rewritten(&mut self) -> io::Result<Option<Restart>> {
        if self.lines.read_to() == 0 {
            return Ok(None);
        }
        if self.head_unchanged()? && self.recent_unchanged()? {
            return Ok(None);
        }
        let size = self.file.metadata()?.len();
        let restart = if size < self.read_to() {
            Restart::Truncated
        } else {
            Restart::Rewritten
        };
        self.size = size;
        self.file.seek(SeekFrom::Start(0))?;
        self.lines.restart();
        self.tail = None;
        self.refresh_identity()?;
        Ok(Some(restart))
    }

    /// Whether the file still starts with the bytes of its head
    /// fingerprint (as many as it had when taken). One `pread`.
    fn head_unchanged(&self) -> io::Result<bool> {
        let known = self.identity.head.len() / 2;
        if known == 0 {
            return Ok(true);
        }
        let mut head = [0u8; FINGERPRINT_BYTES];
        let filled = read_at_most(&self.file, &mut head[..known], 0)?;
        Ok(filled == known && is_hex_of(self.identity.head.as_bytes(), &head[..known]))
    }

    /// Whether the file still holds the last bytes read just before
    /// [`FileTailer::read_to`]. One `pread`, none when those bytes lie
    /// within the head just compared.
    fn recent_unchanged(&self) -> io::Result<bool> {
        let recent = self.lines.recent_bytes();
        let read_to = self.lines.read_to();
        let len = recent.len();
        if len == 0 || read_to <= (self.identity.head.len() / 2) as u64 {
            return Ok(true);
        }
        let mut now = [0u8; RECENT_BYTES];
        let filled = read_at_most(&self.file, &mut now[..len], read_to - len as u64)?;
        Ok(now[..filled] == *recent)
    }

    /// Completes a head fingerprint taken while the file was shorter than
    /// 64 bytes (after [`FileTailer::check_rewritten`] found the known
    /// part unchanged): before handing the file over, so that its entry
    /// identifies it by more than device and inode.
    pub fn complete_identity(&mut self) -> io::Result<()> {
        if self.identity.is_partial() {
            self.refresh_identity()?;
        }
        Ok(())
    }

    /// Re-reads the head fingerprint: a file first seen nearly empty is
    /// identified by more bytes once it has them.
    fn refresh_identity(&mut self) -> io::Result<()> {
        self.identity = FileIdentity::of(&self.file)?;
        Ok(())
    }
}

/// Whether `hex` (lowercase, as [`FileIdentity`] stores heads) spells `bytes`.
fn is_hex_of(hex: &[u8], bytes: &[u8]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    hex.len() == bytes.len() * 2
        && bytes.iter().zip(hex.chunks_exact(2)).all(|(byte, pair)| {
            pair[0] == DIGITS[usize::from(byte >> 4)] && pair[1] == DIGITS[usize::from(byte & 0xf)]
        })
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn a_log_that_would_block_is_opened_and_read_without_waiting() {
        // A FIFO with no writer: a plain open would wait for one forever.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.log");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut file = open_log(&fifo).unwrap();
            let mut byte = [0u8; 1];
            let _ = done.send(file.read(&mut byte).map_err(|error| error.kind()));
        });
        let read = finished
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("open or read blocked");
        // No writer yet: end of file or "would block", never a wait.
        assert!(
            matches!(read, Ok(0) | Err(io::ErrorKind::WouldBlock)),
            "{read:?}"
        );
    }

    const ERROR_LINE: &[u8] = b"{\"status_code\":404,\"error_type\":\"email_not_found\"}\n";
    const PLAIN_LINE: &[u8] = b"{\"status_code\":200,\"path\":\"/v1/b2b/organizations/members\"}\n";

    /// A file of `lines` complete lines (every tenth an error), then an
    /// unfinished one; with its size and the bytes of complete lines.
    fn backlog(lines: usize) -> (tempfile::NamedTempFile, u64, u64) {
        let mut bytes = Vec::new();
        for i in 0..lines {
            bytes.extend_from_slice(if i % 10 == 0 { ERROR_LINE } else { PLAIN_LINE });
        }
        let complete = bytes.len() as u64;
        bytes.extend_from_slice(b"{\"status_code\":404,\"err");
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &bytes).unwrap();
        (file, bytes.len() as u64, complete)
    }

    /// A token cancelled already: a stop asked before the read.
    fn cancelled() -> CancellationToken {
        let token = CancellationToken::new();
        token.cancel();
        token
    }

    struct Reader {
        scanner: Scanner,
        tally: Tally,
        buffers: ReadBuffers,
    }

    impl Reader {
        fn new() -> Self {
            let catalog = Arc::new(Catalog::builtin().unwrap());
            Self {
                tally: Tally::new(catalog.len()),
                scanner: Scanner::new(catalog),
                buffers: ReadBuffers::new(),
            }
        }

        fn read(
            &mut self,
            tailer: &mut FileTailer,
            budget: u64,
            stop: &CancellationToken,
        ) -> ReadOutcome {
            let (scanner, tally) = (&mut self.scanner, &mut self.tally);
            tailer
                .read(&mut self.buffers, scanner, tally, budget, stop, |_| {})
                .unwrap()
        }

        fn errors(&self) -> u64 {
            self.tally.errors.iter().sum()
        }
    }

    /// Lines in a backlog larger than [`READ_AHEAD_MIN_BYTES`].
    const BACKLOG_LINES: usize = 400_000;

    #[test]
    fn a_backlog_is_read_ahead_to_its_end_and_the_partial_line_held() {
        let (file, size, complete) = backlog(BACKLOG_LINES);
        assert!(size > READ_AHEAD_MIN_BYTES + READ_SIZE as u64);
        let mut tailer = FileTailer::open(file.path(), StartPosition::Beginning, 1024).unwrap();
        let mut reader = Reader::new();
        let outcome = reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(
            outcome,
            ReadOutcome {
                bytes: size,
                at_end: true
            }
        );
        assert_eq!(reader.tally.lines, BACKLOG_LINES as u64);
        assert_eq!(reader.errors(), BACKLOG_LINES as u64 / 10);
        assert_eq!(tailer.offset(), complete);
        assert_eq!(tailer.lag(), 0);
    }

    #[test]
    fn a_backlog_larger_than_the_budget_is_read_over_several_calls() {
        let (file, size, complete) = backlog(BACKLOG_LINES);
        let budget = READ_AHEAD_MIN_BYTES + (3 << 20) + 12_345;
        let mut tailer = FileTailer::open(file.path(), StartPosition::Beginning, 1024).unwrap();
        let mut reader = Reader::new();
        let never = CancellationToken::new();
        let first = reader.read(&mut tailer, budget, &never);
        assert_eq!(
            first,
            ReadOutcome {
                bytes: budget,
                at_end: false
            }
        );
        assert_eq!(tailer.lag(), size - budget);
        let mut total = first.bytes;
        loop {
            let outcome = reader.read(&mut tailer, budget, &never);
            total += outcome.bytes;
            if outcome.at_end {
                break;
            }
        }
        assert_eq!(total, size);
        assert_eq!(reader.tally.lines, BACKLOG_LINES as u64);
        assert_eq!(reader.errors(), BACKLOG_LINES as u64 / 10);
        assert_eq!(tailer.offset(), complete);
    }

    #[test]
    fn a_stop_during_a_catch_up_resumes_where_framing_stopped() {
        let (file, size, complete) = backlog(BACKLOG_LINES);
        let mut tailer = FileTailer::open(file.path(), StartPosition::Beginning, 1024).unwrap();
        let mut reader = Reader::new();
        let stopped = reader.read(&mut tailer, u64::MAX, &cancelled());
        assert!(!stopped.at_end);
        // The plain read, then one pool buffer: the reader thread had read
        // further, and those bytes must not be lost.
        let one_buffer = (READ_SIZE + Pool::DEFAULT_BUFFER_BYTES) as u64;
        assert_eq!(stopped.bytes, one_buffer);
        let rest = reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(
            rest,
            ReadOutcome {
                bytes: size - stopped.bytes,
                at_end: true
            }
        );
        assert_eq!(reader.tally.lines, BACKLOG_LINES as u64);
        assert_eq!(reader.errors(), BACKLOG_LINES as u64 / 10);
        assert_eq!(tailer.offset(), complete);
    }

    #[test]
    fn a_small_append_is_read_in_place_and_a_resumed_file_starts_at_its_offset() {
        let (file, size, complete) = backlog(100);
        // The last complete line (the 100th) is not an error.
        let resume = complete - PLAIN_LINE.len() as u64;
        let mut tailer =
            FileTailer::open(file.path(), StartPosition::Offset(resume), 1024).unwrap();
        let mut reader = Reader::new();
        let outcome = reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(
            outcome,
            ReadOutcome {
                bytes: size - resume,
                at_end: true
            }
        );
        assert_eq!(reader.tally.lines, 1);
        assert_eq!(tailer.offset(), complete);
    }

    #[test]
    fn a_file_resumed_inside_an_over_long_line_skips_its_rest() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let long = [
            &b"x".repeat(1500)[..],
            b"\"error_type\":\"email_not_found\"\n",
        ]
        .concat();
        std::fs::write(file.path(), [&long[..], ERROR_LINE].concat()).unwrap();
        let mut tailer =
            FileTailer::open(file.path(), StartPosition::InsideLongLine(1300), 1024).unwrap();
        assert!(tailer.is_skipping());
        let mut reader = Reader::new();
        reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        // The long line's newline, and the next line; nothing of its rest
        // is a record (its key would be an error).
        assert_eq!((reader.tally.lines, reader.errors()), (2, 1));
        assert_eq!(reader.tally.truncated_lines, 0);
        assert!(!tailer.is_skipping());
        assert_eq!(tailer.offset(), (long.len() + ERROR_LINE.len()) as u64);

        // A head counted by this reader: the offset it hands over is inside
        // the line, with skipping set.
        std::fs::write(file.path(), &long[..1300]).unwrap();
        let mut tailer = FileTailer::open(file.path(), StartPosition::Beginning, 1024).unwrap();
        let mut reader = Reader::new();
        reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(reader.tally.truncated_lines, 1);
        assert_eq!((tailer.offset(), tailer.is_skipping()), (1300, true));
        assert_eq!(tailer.tail_fingerprint(), "78".repeat(64));
    }

    #[test]
    fn a_file_rewritten_past_the_offset_between_two_looks_is_read_from_the_start() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), PLAIN_LINE.repeat(10)).unwrap();
        let mut tailer = FileTailer::open(file.path(), StartPosition::Beginning, 1024).unwrap();
        let mut reader = Reader::new();
        reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(
            tailer.check_rewritten().unwrap(),
            None,
            "nothing changed yet"
        );

        // Truncated and written again, longer than before, unseen between.
        std::fs::write(file.path(), ERROR_LINE.repeat(20)).unwrap();
        assert_eq!(tailer.check_rewritten().unwrap(), Some(Restart::Rewritten));
        reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(reader.errors(), 20);
        assert_eq!(reader.tally.lines, 30);
        assert_eq!(
            tailer.check_rewritten().unwrap(),
            None,
            "its new head is known"
        );

        // Truncated (copytruncate) and not yet written again: shorter than
        // what was read, so a truncation, whichever check sees it first.
        std::fs::write(file.path(), b"").unwrap();
        assert_eq!(tailer.check_rewritten().unwrap(), Some(Restart::Truncated));
    }

    /// A line of a logger that puts the time last: every line's first 64
    /// bytes are the same, `n` changes only its end.
    fn timed_line(n: usize) -> String {
        format!(
            "{{\"level\":\"info\",\"message\":\"GET /health 200\",\"service\":\"api\",\"status_code\":404,\"error_type\":\"email_not_found\",\"timestamp\":\"12:00:{n:05}\"}}\n"
        )
    }

    fn timed_lines(from: usize, to: usize) -> String {
        (from..to).map(timed_line).collect()
    }

    #[test]
    fn a_file_truncated_and_regrown_past_the_offset_with_the_same_head_is_read_from_the_start() {
        assert_eq!(timed_line(0)[..80], timed_line(1)[..80]);
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), timed_lines(0, 10)).unwrap();
        let mut tailer = FileTailer::open(file.path(), StartPosition::Beginning, 1024).unwrap();
        let mut reader = Reader::new();
        reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(reader.tally.lines, 10);

        // Grown: nothing to see.
        let mut appender = std::fs::OpenOptions::new()
            .append(true)
            .open(file.path())
            .unwrap();
        std::io::Write::write_all(&mut appender, timed_lines(10, 15).as_bytes()).unwrap();
        assert_eq!(tailer.check_rewritten().unwrap(), None);
        reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(reader.tally.lines, 15);

        // Copied and truncated, then the writer goes on at once through
        // its O_APPEND descriptor: 40 lines, past the old offset, with the
        // same head. Only the bytes before the offset tell.
        file.as_file().set_len(0).unwrap();
        std::io::Write::write_all(&mut appender, timed_lines(15, 55).as_bytes()).unwrap();
        assert!(file.as_file().metadata().unwrap().len() > tailer.read_to());
        assert_eq!(tailer.check_rewritten().unwrap(), Some(Restart::Rewritten));
        assert_eq!(tailer.offset(), 0);
        reader.read(&mut tailer, u64::MAX, &CancellationToken::new());
        assert_eq!(reader.tally.lines, 55);
        assert_eq!(reader.errors(), 55);
        assert_eq!(tailer.check_rewritten().unwrap(), None, "read as it is now");
        // The entry's fingerprint, taken from the bytes read, is what the
        // file holds before the offset.
        assert_eq!(
            tailer.tail_fingerprint(),
            tail_fingerprint(file.as_file(), tailer.offset()).unwrap()
        );

        // The same, for a file resumed at an offset (from a checkpoint):
        // the bytes before it are known from the open.
        let mut resumed =
            FileTailer::open(file.path(), StartPosition::Offset(tailer.offset()), 1024).unwrap();
        file.as_file().set_len(0).unwrap();
        std::io::Write::write_all(&mut appender, timed_lines(55, 100).as_bytes()).unwrap();
        assert_eq!(resumed.check_rewritten().unwrap(), Some(Restart::Rewritten));
        assert_eq!(resumed.offset(), 0);
    }
}
