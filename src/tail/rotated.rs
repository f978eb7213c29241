//! Rotations made while errtally was down that kept nothing of the file
//! but its bytes: logrotate's `compress` (without `delaycompress`) renames
//! `app.log`, writes `app.log.1.gz` or `app.log-20261205.gz` (a new inode)
//! and deletes the renamed file, so the search by device and inode in
//! [`super::input`] finds nothing, and the lines written while errtally
//! was down would be lost.
//!
//! At the first scan, each checkpointed file that is neither open nor
//! found by inode is looked for among its siblings: files in its directory
//! whose names start with its name, newest first, plain or compressed
//! (gzip or zstd, recognised by magic bytes like `scan` does, not by
//! extension). A sibling matches when its uncompressed stream starts with
//! the entry's head fingerprint and holds the entry's tail fingerprint
//! just before the offset (a plain copy with another inode is matched the
//! same way). The match is counted from the offset to its end, once,
//! through the read loop `scan` uses for archives
//! ([`LineReader::read_ahead`], decompressing on the reader thread), with
//! the input's scanner, into the label set of the entry's path.
//!
//! Once: the sibling is not followed, so neither it nor the old entry is
//! in the input's next publication, and the input asks the checkpoint
//! writer to save right after it ([`crate::checkpoint::OffsetBoard::save_soon`]).
//! A crash between the drain and that save (one fsync) counts the drained
//! lines again at the restart, like any lines counted since the last save.
//!
//! An unfinished last line is not counted: a line counts when its newline
//! is read, as for a rotated file drained through its descriptor, whose
//! held partial line is dropped when it is closed. (`scan`, whose input is
//! whole by definition, counts it.)
//!
//! Cost: the drain runs synchronously in the input's first poll, so the
//! input's other files wait for it (0.92 s for a 97 MB `.gz` holding
//! 550 MB of log, release build, 2 shared cores); every compressed
//! candidate whose head matches is decompressed up to the offset to check
//! its tail, at most [`MAX_CANDIDATES`] of them.
//!
//! What it does not do: look in other directories, or at names that do not
//! start with the file's name (`app.log.1` compressed as `app.log.2.gz` by
//! the next rotation). Not looked for: an entry whose head is empty (only
//! device and inode knew the file), as by the inode search, and one whose
//! inode a followed file has (truncated in place by a copytruncate while
//! errtally was down, or reused by a new file), as before.

use std::collections::HashSet;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::time::Instant;

use super::file::FileTailer;
use crate::checkpoint::{FINGERPRINT_BYTES, FileCheckpoint, FileIdentity, to_hex};
use crate::export::metrics::InputMetrics;
use crate::read::LineReader;
use crate::read::ahead::{NewlineCounter, Pool};
use crate::read::decompress::{Compression, Decompressor, sniff};
use crate::scan::{Scanner, Tally};

/// Most siblings examined per entry, newest first: a directory that keeps
/// a year of daily archives costs at most this many looks (the rotation
/// made while errtally was down is the newest one).
pub const MAX_CANDIDATES: usize = 16;

/// Buffer for skipping a compressed stream up to the offset.
const SKIP_BUFFER_BYTES: usize = 64 << 10;

/// Device and inode.
type Inode = (u64, u64);

/// A sibling that holds an entry's file, positioned at the entry's offset.
pub struct Found {
    /// Where it is.
    pub path: PathBuf,
    /// How it is stored.
    pub compression: Compression,
    /// Its device and inode, so it is drained for one entry only.
    pub inode: Inode,
    /// Its uncompressed bytes from the entry's offset on.
    stream: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found")
            .field("path", &self.path)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// What draining counts with: the input's own scanner, tally and metrics.
pub struct Drainer<'a> {
    /// The input's name, for logs.
    pub input: &'a str,
    /// Longest line.
    pub max_line_bytes: usize,
    /// The input's scanner.
    pub scanner: &'a mut Scanner,
    /// The input's tally, published into `metrics` after each buffer.
    pub tally: &'a mut Tally,
    /// The input's counters.
    pub metrics: &'a mut InputMetrics,
}

/// For each entry in `unfound` (checkpointed files neither open nor found
/// by inode), looks for a sibling that holds it, other than the files
/// `tailers` follow, and counts it from the entry's offset to its end; an
/// entry marked `true` only from a compressed sibling (its inode reused:
/// the original is gone, so only an archive made from it holds it).
/// Returns whether anything was drained: the caller then asks for a prompt
/// checkpoint save after its next publication.
pub fn drain_rotated_copies(
    unfound: &[(&FileCheckpoint, bool)],
    tailers: &[FileTailer],
    mut drainer: Drainer<'_>,
) -> bool {
    let mut taken: HashSet<Inode> = tailers
        .iter()
        .map(|tailer| (tailer.identity().dev, tailer.identity().ino))
        .collect();
    let mut drained = false;
    for &(saved, compressed_only) in unfound {
        let Some(found) = find(saved, &taken) else {
            continue;
        };
        if compressed_only && found.compression == Compression::None {
            continue;
        }
        taken.insert(found.inode);
        drainer.drain(saved, found);
        drained = true;
    }
    drained
}

impl Drainer<'_> {
    /// Counts `found` from `saved`'s offset to its end: logged once,
    /// counted as a rotation, into the label set of `saved`'s path. A read
    /// error is logged and counted; what came before it counts.
    fn drain(&mut self, saved: &FileCheckpoint, found: Found) {
        let path = found.path.clone();
        if found.compression == Compression::None {
            tracing::info!(input = %self.input, was = %saved.path.display(), path = %path.display(), "draining a copy of a file rotated while errtally was down");
        } else {
            tracing::info!(input = %self.input, was = %saved.path.display(), path = %path.display(), compression = found.compression.name(), "draining a rotation compressed while errtally was down");
        }
        self.metrics.rotations.inc();
        let set = self.metrics.attach(&saved.path);
        self.tally.set_file(&path);
        let metrics = &mut *self.metrics;
        let result = drain(
            found,
            saved,
            self.max_line_bytes,
            self.scanner,
            self.tally,
            |tally| metrics.publish_to(set, tally),
        );
        self.metrics.publish_to(set, self.tally);
        self.metrics.detach(set, Instant::now());
        if let Err(error) = result {
            self.metrics.read_errors.inc();
            tracing::warn!(input = %self.input, path = %path.display(), %error, "cannot read rotated file to its end");
        }
    }
}

/// The sibling of `saved`'s file that holds it (see the module docs),
/// skipping the files in `taken`; `None` for an entry with an empty head.
pub fn find(saved: &FileCheckpoint, taken: &HashSet<Inode>) -> Option<Found> {
    if saved.identity.head.is_empty() {
        return None;
    }
    let name = saved.path.file_name()?.as_bytes();
    let dir = saved.path.parent()?;
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|entry| {
            let sibling = entry.file_name();
            sibling.as_bytes().len() > name.len() && sibling.as_bytes().starts_with(name)
        })
        .filter_map(|entry| {
            let path = entry.path();
            let meta = std::fs::metadata(&path).ok()?;
            let fresh = meta.is_file() && !taken.contains(&(meta.dev(), meta.ino()));
            fresh.then(|| (meta.modified().unwrap_or(std::time::UNIX_EPOCH), path))
        })
        .collect();
    // Newest first: the rotation made while errtally was down.
    candidates.sort_by(|a, b| b.cmp(a));
    candidates
        .into_iter()
        .take(MAX_CANDIDATES)
        .find_map(|(_, path)| match examine(&path, saved) {
            Ok(found) => found,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "cannot examine a possible rotation");
                None
            }
        })
}

/// `path` as a match for `saved`, positioned at its offset, if its
/// uncompressed head and the bytes before the offset are the entry's.
fn examine(path: &Path, saved: &FileCheckpoint) -> io::Result<Option<Found>> {
    let mut file = super::file::open_log(path)?;
    let meta = file.metadata()?;
    let inode = (meta.dev(), meta.ino());
    let (compression, magic) = sniff(&mut file)?;
    if compression == Compression::None {
        // Positional reads: a copy (another inode) is checked as the
        // inode search checks a renamed file.
        let identity = FileIdentity::of(&file)?;
        if !identity.head.starts_with(&saved.identity.head)
            || meta.len() < saved.offset
            || !saved.still_fits(&file)?
        {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(saved.offset))?;
        return Ok(Some(Found {
            path: path.to_path_buf(),
            compression,
            inode,
            stream: Box::new(file),
        }));
    }
    let mut stream = Decompressor::new(Cursor::new(magic).chain(file), compression)?;
    let Some(rest) = skip_to_offset(&mut stream, saved)? else {
        return Ok(None);
    };
    Ok(Some(Found {
        path: path.to_path_buf(),
        compression,
        inode,
        stream: Box::new(Cursor::new(rest).chain(stream)),
    }))
}

/// Reads `stream` up to `saved`'s offset, checking its head and the bytes
/// before the offset on the way. `None` when they differ or the stream
/// ends first; else the bytes read past the offset (a head longer than
/// the offset), which come before the rest of the stream.
fn skip_to_offset(stream: &mut impl Read, saved: &FileCheckpoint) -> io::Result<Option<Vec<u8>>> {
    let head_len = (saved.identity.head.len() / 2).min(FINGERPRINT_BYTES);
    let mut head = [0u8; FINGERPRINT_BYTES];
    if read_full(stream, &mut head[..head_len])? < head_len
        || to_hex(&head[..head_len]) != saved.identity.head
    {
        return Ok(None);
    }
    let offset = saved.offset;
    // The head may reach past the offset: its bytes there are the drain's.
    let within = usize::try_from(offset).map_or(head_len, |offset| offset.min(head_len));
    let mut tail = head[..within].to_vec();
    let rest = head[within..head_len].to_vec();
    let mut at = within as u64;
    let mut buf = vec![0u8; SKIP_BUFFER_BYTES];
    while at < offset {
        let want = usize::try_from(offset - at).map_or(buf.len(), |left| left.min(buf.len()));
        let read = read_retrying(stream, &mut buf[..want])?;
        if read == 0 {
            return Ok(None);
        }
        keep_last(&mut tail, &buf[..read]);
        at += read as u64;
    }
    keep_last(&mut tail, &[]);
    if !saved.tail.is_empty() && to_hex(&tail) != saved.tail {
        return Ok(None);
    }
    Ok(Some(rest))
}

/// Keeps in `tail` the last [`FINGERPRINT_BYTES`] of `tail` then `bytes`.
fn keep_last(tail: &mut Vec<u8>, bytes: &[u8]) {
    tail.extend_from_slice(&bytes[bytes.len().saturating_sub(FINGERPRINT_BYTES)..]);
    let excess = tail.len().saturating_sub(FINGERPRINT_BYTES);
    tail.drain(..excess);
}

/// Fills `buf` unless the stream ends first; returns the bytes read.
fn read_full(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_retrying(stream, &mut buf[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

fn read_retrying(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

/// Counts `found` from `saved`'s offset to its end into `tally`, calling
/// `publish` after each buffer; an unfinished last line is not counted
/// (see the module docs). Returns the bytes counted.
pub fn drain(
    found: Found,
    saved: &FileCheckpoint,
    max_line_bytes: usize,
    scanner: &mut Scanner,
    tally: &mut Tally,
    mut publish: impl FnMut(&mut Tally),
) -> io::Result<u64> {
    let mut lines = if saved.skipping {
        LineReader::skipping_from(max_line_bytes, saved.offset)
    } else {
        LineReader::starting_at(max_line_bytes, saved.offset)
    };
    // A drain is rare: its pool lives as long as it does.
    let mut pool = Pool::default();
    let counter = if found.compression == Compression::None {
        NewlineCounter::Reader
    } else {
        // The reader decompresses: the slower side sets the pace.
        NewlineCounter::Caller
    };
    lines.read_ahead(
        found.stream,
        &mut pool,
        counter,
        scanner,
        tally,
        |tally, _| {
            publish(tally);
            ControlFlow::Continue(())
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;

    fn line(error_type: &str, n: usize) -> String {
        format!(
            "{{\"ts\":\"2026-12-05T01:02:03Z\",\"level\":\"warn\",\"msg\":\"stytch request failed\",\"n\":{n},\"error_type\":\"{error_type}\"}}\n"
        )
    }

    fn lines(error_type: &str, from: usize, count: usize) -> String {
        (from..from + count).map(|n| line(error_type, n)).collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(bytes, 3).unwrap()
    }

    /// The entry a stop would have saved for `path` holding `counted`.
    fn entry(path: &Path, counted: &[u8]) -> FileCheckpoint {
        let head = &counted[..counted.len().min(FINGERPRINT_BYTES)];
        let tail = &counted[counted.len().saturating_sub(FINGERPRINT_BYTES)..];
        FileCheckpoint {
            input: "api".to_string(),
            path: path.to_path_buf(),
            identity: FileIdentity {
                dev: 0,
                ino: 0,
                head: to_hex(head),
            },
            offset: counted.len() as u64,
            tail: to_hex(tail),
            skipping: false,
        }
    }

    /// Drains what `find` finds for `saved`: (sibling name, lines, errors
    /// of `member_not_found`).
    fn drained(saved: &FileCheckpoint) -> Option<(String, u64, u64)> {
        let found = find(saved, &HashSet::new())?;
        let name = found
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let mut tally = Tally::new(catalog.len());
        drain(found, saved, 1 << 20, &mut scanner, &mut tally, |_| {}).unwrap();
        let member = catalog.index_of(b"member_not_found").unwrap();
        Some((name, tally.lines, tally.errors[member]))
    }

    #[test]
    fn a_compressed_rotation_is_counted_from_the_offset_whatever_its_format() {
        let counted = lines("email_not_found", 0, 120);
        let unread = lines("member_not_found", 120, 50);
        let whole = [counted.as_bytes(), unread.as_bytes()].concat();
        for (name, bytes) in [
            ("app.log-20261205.gz", gzip(&whole)),
            ("app.log.1.gz", gzip(&whole)),
            ("app.log.1.zst", zstd(&whole)),
            // Magic bytes decide, not names.
            ("app.log.1", zstd(&whole)),
            // A plain copy with another inode.
            ("app.log.copy", whole.clone()),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(name), bytes).unwrap();
            let saved = entry(&dir.path().join("app.log"), counted.as_bytes());
            assert_eq!(drained(&saved), Some((name.to_string(), 50, 50)), "{name}");
        }
    }

    #[test]
    fn a_sibling_that_begins_alike_but_differs_before_the_offset_is_not_drained() {
        let counted = lines("email_not_found", 0, 120);
        // The same first 64 bytes (the time comes last), other lines.
        let other = lines("email_not_found", 1000, 170);
        assert_eq!(other.as_bytes()[..64], counted.as_bytes()[..64]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.log.1.gz"), gzip(other.as_bytes())).unwrap();
        std::fs::write(dir.path().join("app.log.2"), other.as_bytes()).unwrap();
        // Shorter than the offset, though alike up to its end.
        std::fs::write(
            dir.path().join("app.log.3.gz"),
            gzip(&counted.as_bytes()[..counted.len() - 1]),
        )
        .unwrap();
        let saved = entry(&dir.path().join("app.log"), counted.as_bytes());
        assert_eq!(drained(&saved), None);
    }

    #[test]
    fn only_names_that_start_with_the_file_name_are_looked_at() {
        let counted = lines("email_not_found", 0, 3);
        let whole = [counted.clone(), lines("member_not_found", 3, 2)].concat();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("other.log.1.gz"), gzip(whole.as_bytes())).unwrap();
        let saved = entry(&dir.path().join("app.log"), counted.as_bytes());
        assert_eq!(drained(&saved), None);
    }

    #[test]
    fn an_offset_inside_the_head_and_an_unfinished_last_line() {
        // 40 bytes counted; the head (64 bytes) reaches past the offset.
        let counted = "{\"level\":\"info\",\"msg\":\"short line\"}\n";
        let rest = format!(
            "{}{{\"error_type\":\"member_not_found\"",
            line("member_not_found", 1)
        );
        let whole = format!("{counted}{rest}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.log.1.gz"), gzip(whole.as_bytes())).unwrap();
        let mut saved = entry(&dir.path().join("app.log"), counted.as_bytes());
        // Taken when the file had more than the counted line.
        saved.identity.head = to_hex(&whole.as_bytes()[..FINGERPRINT_BYTES]);
        // The unfinished last line is not counted (a line counts at its
        // newline, as in a rotated file drained through its descriptor).
        assert_eq!(drained(&saved), Some(("app.log.1.gz".to_string(), 1, 1)));
    }

    /// The input's side: a checkpointed `app.log` compressed while down
    /// is counted at the first poll, into the input's metrics; the next
    /// publication no longer holds its entry, and the writer is asked to
    /// save it at once.
    #[tokio::test]
    async fn an_input_drains_the_archive_once_and_asks_for_a_prompt_save() {
        use std::time::Duration;

        use crate::checkpoint::{Checkpoint, OffsetBoard};
        use crate::config::{InputConfig, StartAt, WatchMode};
        use crate::export::metrics::Metrics;
        use crate::export::status::DaemonStatus;
        use crate::tail::input::{FileInput, InputParts, Sweep};
        use crate::tail::watch::DirWatches;

        let dir = tempfile::tempdir().unwrap();
        let counted = lines("email_not_found", 0, 120);
        let whole = [counted.clone(), lines("member_not_found", 120, 50)].concat();
        std::fs::write(dir.path().join("app.log.1.gz"), gzip(whole.as_bytes())).unwrap();
        let log = dir.path().join("app.log");
        let saved = entry(&log, counted.as_bytes());
        let board = Arc::new(OffsetBoard::from_checkpoint(Checkpoint {
            files: vec![saved.clone()],
            ..Checkpoint::default()
        }));
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let metrics = Metrics::new().unwrap();
        let config = InputConfig {
            name: "api".to_string(),
            paths: Vec::new(),
            start_at: StartAt::Beginning,
            path_labels: None,
            max_files: crate::config::DEFAULT_MAX_FILES,
        };
        let parts = InputParts {
            scanner: Scanner::new(Arc::clone(&catalog)),
            metrics: metrics.file_input("api", &catalog, None),
            status: Arc::new(DaemonStatus::new(catalog)),
            offsets: Arc::clone(&board),
            watches: DirWatches::new(Vec::new(), &metrics, WatchMode::Auto),
            max_line_bytes: 1 << 20,
            poll_interval: Duration::from_secs(1),
            record_zone: crate::time::Zone::utc(),
            show_lines: false,
            budget: Arc::new(crate::tail::budget::DescriptorBudget::unlimited()),
        };
        let mut input = FileInput::new(&config, vec![log.display().to_string()], parts);
        input.poll(Sweep::Rescan, &tokio_util::sync::CancellationToken::new());
        assert_eq!(
            metrics.series_line("errtally_lines_total{"),
            r#"errtally_lines_total{source="api"} 50"#
        );
        assert_eq!(
            metrics.series_line("errtally_rotations_total{"),
            r#"errtally_rotations_total{source="api"} 1"#
        );
        assert!(
            board.input("api").is_empty(),
            "the entry was published again"
        );
        tokio::time::timeout(Duration::from_secs(1), board.new_file_published())
            .await
            .expect("no prompt save was asked for");
    }

    #[test]
    fn an_entry_with_an_empty_head_and_taken_siblings_are_skipped() {
        let whole = lines("member_not_found", 0, 2);
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("app.log.1");
        std::fs::write(&copy, whole.as_bytes()).unwrap();
        let mut saved = entry(&dir.path().join("app.log"), b"");
        assert_eq!(drained(&saved), None, "empty head");
        saved.identity.head = to_hex(&whole.as_bytes()[..FINGERPRINT_BYTES]);
        assert!(drained(&saved).is_some());
        let meta = std::fs::metadata(&copy).unwrap();
        let taken = HashSet::from([(meta.dev(), meta.ino())]);
        assert!(find(&saved, &taken).is_none(), "followed already");
    }
}
