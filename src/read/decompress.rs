//! A source for compressed files: gzip and zstd, recognised by their magic
//! bytes (not by name), decompressed in-process.
//!
//! [`Decompressor`] is a `Read` over the *uncompressed* stream, so it plugs
//! into the one read loop like a plain file; under
//! [`crate::read::LineReader::read_ahead`] the decompression runs on the
//! reader thread and overlaps the scan. Multi-member gzip (`cat a.gz b.gz`)
//! and concatenated zstd frames are read to the end.
//!
//! Memory: gzip needs its 32 KiB window; zstd the window its frame
//! declares, accepted up to zstd's default decoder limit of 128 MiB
//! (`--long` up to 27; the standard levels use at most 8 MiB). A frame that
//! needs more, corrupt data and a file cut short end the stream with a
//! [`DecompressError`] naming the format and the compressed offset reached;
//! what was decompressed before it has been handed out.
//!
//! It does not look at the uncompressed bytes, and it knows nothing of
//! paths: the caller names the file in its message.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Compressed input read per `read` of the underlying file.
const INPUT_BUFFER_BYTES: usize = 128 << 10;

/// The largest zstd window accepted, as a power of two: zstd's default
/// decoder limit (`ZSTD_WINDOWLOG_LIMIT_DEFAULT`, 128 MiB).
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// What a file holds, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Anything else: read as it is.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Bytes [`Compression::detect`] wants to see.
    pub const MAGIC_BYTES: usize = 4;

    /// The compression of a stream that starts with `head` (its first
    /// [`Compression::MAGIC_BYTES`], or fewer if it is that short).
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "plain",
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
        }
    }
}

/// Reads the first bytes of a stream (up to [`Compression::MAGIC_BYTES`],
/// fewer only at its end) and tells its compression; the caller reads the
/// returned bytes again before the rest (`Cursor::new(head).chain(rest)`).
/// Shared by `scan` and the daemon's search for compressed rotations, so
/// both recognise an archive the same way.
pub fn sniff(reader: &mut impl Read) -> io::Result<(Compression, Vec<u8>)> {
    let mut head = Vec::with_capacity(Compression::MAGIC_BYTES);
    reader
        .take(Compression::MAGIC_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok((Compression::detect(&head), head))
}

/// Why a compressed stream ended early.
#[derive(Debug, thiserror::Error)]
pub struct DecompressError {
    /// The format being decoded.
    pub compression: Compression,
    /// Compressed bytes consumed when the error was found.
    pub offset: u64,
    /// What the decoder said.
    #[source]
    pub source: io::Error,
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = self.compression.name();
        let offset = self.offset;
        if self.source.kind() == io::ErrorKind::UnexpectedEof {
            write!(
                f,
                "truncated {format} data: the file ends at byte {offset} inside a compressed stream"
            )
        } else if self.compression == Compression::Zstd
            && self.source.to_string().contains("too much memory")
        {
            write!(
                f,
                "zstd frame at byte {offset} needs a window larger than {} MiB (written with --long above {ZSTD_WINDOW_LOG_MAX}), more than errtally accepts",
                (1u64 << ZSTD_WINDOW_LOG_MAX) >> 20
            )
        } else {
            write!(f, "corrupt {format} data at byte {offset}: {}", self.source)
        }
    }
}

/// A `BufRead` over the compressed file that counts what the decoder
/// consumed, for error offsets and progress.
#[derive(Debug)]
struct Counted<R> {
    inner: io::BufReader<R>,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.consumed.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

impl<R: Read> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        self.consumed.fetch_add(amount as u64, Ordering::Relaxed);
    }
}

enum Decoder<R: Read> {
    Gzip(Box<flate2::bufread::MultiGzDecoder<Counted<R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, Counted<R>>>),
}

/// The uncompressed stream of a gzip or zstd file: see the module docs.
pub struct Decompressor<R: Read> {
    decoder: Decoder<R>,
    compression: Compression,
    consumed: Arc<AtomicU64>,
    /// Set once an error was returned: the stream is over.
    failed: bool,
}

impl<R: Read> fmt::Debug for Decompressor<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decompressor")
            .field("compression", &self.compression)
            .field("consumed", &self.consumed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<R: Read> Decompressor<R> {
    /// Decompresses `reader`, a stream in `compression` read from its
    /// first byte; [`Compression::None`] is an `InvalidInput` error.
    pub fn new(reader: R, compression: Compression) -> io::Result<Self> {
        let consumed = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: io::BufReader::with_capacity(INPUT_BUFFER_BYTES, reader),
            consumed: Arc::clone(&consumed),
        };
        let decoder = match compression {
            Compression::None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a compressed stream",
                ));
            }
            Compression::Gzip => {
                Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(counted)))
            }
            Compression::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(counted)?;
                decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Decoder::Zstd(Box::new(decoder))
            }
        };
        Ok(Self {
            decoder,
            compression,
            consumed,
            failed: false,
        })
    }

    /// A shared count of the compressed bytes consumed so far, readable
    /// from another thread (a progress bar over compressed sizes).
    pub fn consumed(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.consumed)
    }
}

impl<R: Read> Read for Decompressor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(0);
        }
        let result = match &mut self.decoder {
            Decoder::Gzip(decoder) => decoder.read(buf),
            Decoder::Zstd(decoder) => decoder.read(buf),
        };
        result.map_err(|source| {
            if source.kind() == io::ErrorKind::Interrupted {
                return source;
            }
            self.failed = true;
            let kind = source.kind();
            let error = DecompressError {
                compression: self.compression,
                offset: self.consumed.load(Ordering::Relaxed),
                source,
            };
            io::Error::new(
                if kind == io::ErrorKind::UnexpectedEof {
                    kind
                } else {
                    io::ErrorKind::InvalidData
                },
                error,
            )
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Write;

    use super::*;

    fn lines(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                format!("{{\"n\":{i},\"error_type\":\"email_not_found\"}}\n").into_bytes()
            })
            .collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// As the `zstd` tool writes it: with a checksum, without which a
    /// flipped literal decodes to garbage that nobody notices.
    fn zstd(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.include_checksum(true).unwrap();
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// Everything decompressed, and how the stream ended.
    fn read_all(compressed: &[u8]) -> (Vec<u8>, io::Result<()>) {
        let compression = Compression::detect(compressed);
        let mut decoder = Decompressor::new(compressed, compression).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0; 1000];
        loop {
            match decoder.read(&mut buf) {
                Ok(0) => return (out, Ok(())),
                Ok(read) => out.extend_from_slice(&buf[..read]),
                Err(error) => return (out, Err(error)),
            }
        }
    }

    #[test]
    fn magic_bytes_decide_not_names() {
        assert_eq!(Compression::detect(&gzip(b"x")), Compression::Gzip);
        assert_eq!(Compression::detect(&zstd(b"x")), Compression::Zstd);
        assert_eq!(Compression::detect(b"{\"a\":1}\n"), Compression::None);
        assert_eq!(Compression::detect(b""), Compression::None);
        assert_eq!(Compression::detect(&[0x1f]), Compression::None);
        assert_eq!(Compression::detect(&[0x28, 0xb5, 0x2f]), Compression::None);
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let (first, second) = (lines(1000), lines(7));
        let compressed = [gzip(&first), gzip(&second)].concat();
        let (out, end) = read_all(&compressed);
        end.unwrap();
        assert_eq!(out, [first, second].concat());
    }

    #[test]
    fn concatenated_zstd_frames_are_read_whole() {
        let (first, second) = (lines(1000), lines(7));
        let compressed = [zstd(&first), zstd(&second)].concat();
        let (out, end) = read_all(&compressed);
        end.unwrap();
        assert_eq!(out, [first, second].concat());
    }

    #[test]
    fn a_truncated_file_hands_out_what_came_before_and_says_where_it_ends() {
        let plain = lines(20_000);
        for compressed in [gzip(&plain), zstd(&plain)] {
            let cut = &compressed[..compressed.len() / 2];
            let (out, end) = read_all(cut);
            let error = end.unwrap_err();
            assert!(!out.is_empty() && out.len() < plain.len());
            assert_eq!(out, plain[..out.len()]);
            let message = error.to_string();
            assert!(
                message.contains(&format!("ends at byte {}", cut.len())),
                "{message}"
            );
            assert!(message.starts_with("truncated "), "{message}");
        }
    }

    #[test]
    fn corrupt_data_is_an_error_with_the_offset() {
        let plain = lines(20_000);
        for compressed in [gzip(&plain), zstd(&plain)] {
            let mut corrupt = compressed.clone();
            let middle = corrupt.len() / 2;
            for byte in &mut corrupt[middle..middle + 64] {
                *byte = !*byte;
            }
            // What the decoder made of the bytes before it noticed (at
            // worst at the checksum) has been handed out: garbage, maybe.
            let (_, end) = read_all(&corrupt);
            let message = end.unwrap_err().to_string();
            assert!(message.starts_with("corrupt "), "{message}");
            let offset: u64 = message
                .split(" at byte ")
                .nth(1)
                .and_then(|rest| rest.split(':').next())
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                offset > middle as u64 && offset <= corrupt.len() as u64,
                "{message}"
            );
        }
    }
}
