//! The one-shot commands: `scan` (read inputs to their end and report),
//! `catalog` (list the catalogue) and `gen` (write a synthetic corpus).
//!
//! `scan` reads a file on a second thread into a small pool of large
//! buffers ([`crate::read::ahead`]) and frames and scans each one in place
//! ([`LineReader`]), so the kernel's copies overlap the scan and memory
//! stays flat whatever the file size (no mmap: a truncated log would raise
//! SIGBUS). Stdin is read with plain blocking reads into one buffer. A missing or unreadable input is
//! reported on stderr and the others are still scanned.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::Catalog;
use crate::cli::{CatalogArgs, CatalogFormat, CatalogSelection, GenArgs, ScanArgs, ScanFormat};
use crate::corpus::{self, CorpusConfig};
use crate::read::ahead::Pool;
use crate::read::{LineReader, READ_SIZE};
use crate::report;
use crate::scan::{Scanner, Tally};

/// Inputs larger than this get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// Loads the user's catalogue files, or the built-in catalogue.
pub fn load_catalog(selection: &CatalogSelection) -> anyhow::Result<Catalog> {
    if selection.catalogs.is_empty() {
        Ok(Catalog::builtin()?)
    } else {
        Ok(Catalog::from_files(&selection.catalogs)?)
    }
}

/// `errtally scan`: exit 0, or 1 when an input could not be read.
pub fn scan(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let catalog = Arc::new(load_catalog(&args.catalog)?);
    let mut scanner = Scanner::new(Arc::clone(&catalog));
    let mut tally = Tally::with_names(catalog.len());
    let stdin_only = [PathBuf::from("-")];
    let paths = if args.paths.is_empty() {
        &stdin_only[..]
    } else {
        &args.paths[..]
    };
    let mut failed = false;
    for path in paths {
        if let Err(error) = scan_path(path, args.max_line_bytes, &mut scanner, &mut tally) {
            eprintln!("errtally: {}: {error}", path.display());
            failed = true;
        }
    }
    let rendered = match args.format {
        ScanFormat::Table => report::table(&catalog, &tally),
        ScanFormat::Json => {
            let mut json = serde_json::to_string(&report::JsonReport::new(&catalog, &tally))?;
            json.push('\n');
            json
        }
        ScanFormat::Prometheus => report::prometheus(&catalog, &tally, "scan"),
    };
    write_stdout(rendered.as_bytes())?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Scans one input (`-` is stdin) to its end into `tally`.
fn scan_path(
    path: &Path,
    max_line_bytes: usize,
    scanner: &mut Scanner,
    tally: &mut Tally,
) -> io::Result<()> {
    if path == Path::new("-") {
        // A pipe hands out a few pages per read: a reader thread buys nothing.
        return scan_reader(io::stdin().lock(), max_line_bytes, scanner, tally, None);
    }
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let progress = (size > PROGRESS_MIN_BYTES && io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let result = scan_reader_threaded(file, max_line_bytes, scanner, tally, progress.as_ref());
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    result
}

/// Reads `reader` to its end with plain reads of [`READ_SIZE`], counting
/// every record. Records read before an error are counted.
pub fn scan_reader(
    mut reader: impl Read,
    max_line_bytes: usize,
    scanner: &mut Scanner,
    tally: &mut Tally,
    progress: Option<&ProgressBar>,
) -> io::Result<()> {
    let mut lines = LineReader::new(max_line_bytes);
    let mut buf = vec![0; READ_SIZE];
    loop {
        let read = lines.read_once(&mut reader, &mut buf, scanner, tally)?;
        if read == 0 {
            break;
        }
        if let Some(bar) = progress {
            bar.inc(read as u64);
        }
    }
    lines.finish(scanner, tally);
    Ok(())
}

/// Like [`scan_reader`], but the `read` calls run on a second thread
/// ([`LineReader::read_ahead`] with the default [`Pool`]), overlapping the
/// kernel's copies with the scan; each filled buffer is framed and scanned
/// in place, so memory stays at the pool plus one carried line. Records
/// read before an error are counted (except an unfinished last line).
pub fn scan_reader_threaded(
    reader: impl Read + Send,
    max_line_bytes: usize,
    scanner: &mut Scanner,
    tally: &mut Tally,
    progress: Option<&ProgressBar>,
) -> io::Result<()> {
    scan_with_pool(
        reader,
        Pool::default(),
        max_line_bytes,
        scanner,
        tally,
        progress,
    )
}

fn scan_with_pool(
    reader: impl Read + Send,
    mut pool: Pool,
    max_line_bytes: usize,
    scanner: &mut Scanner,
    tally: &mut Tally,
    progress: Option<&ProgressBar>,
) -> io::Result<()> {
    let mut lines = LineReader::new(max_line_bytes);
    lines.read_ahead(reader, &mut pool, scanner, tally, |_, read| {
        if let Some(bar) = progress {
            bar.inc(read as u64);
        }
        ControlFlow::Continue(())
    })?;
    lines.finish(scanner, tally);
    Ok(())
}

/// `errtally catalog`.
pub fn print_catalog(args: &CatalogArgs) -> anyhow::Result<ExitCode> {
    let catalog = load_catalog(&args.catalog)?;
    let rendered = match args.format {
        CatalogFormat::Table => report::catalog_table(&catalog),
        CatalogFormat::Json => {
            // The catalogue file format, so the output can be edited and
            // loaded back with --catalog.
            let file = serde_json::json!({
                "name": catalog.sources().join("+"),
                "errors": catalog.entries(),
            });
            let mut json = serde_json::to_string_pretty(&file)?;
            json.push('\n');
            json
        }
    };
    write_stdout(rendered.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `errtally gen`.
pub fn generate(args: &GenArgs) -> anyhow::Result<ExitCode> {
    let types = Catalog::builtin()?.error_types();
    let config = CorpusConfig {
        seed: args.seed,
        target_bytes: args.bytes,
        max_line_bytes: args.max_line_bytes,
        error_percent: args.error_percent,
        hostile: !args.clean,
    };
    let expected = if args.out == Path::new("-") {
        corpus::generate(
            &config,
            &types,
            io::BufWriter::with_capacity(READ_SIZE, io::stdout().lock()),
        )
    } else {
        let file = File::create(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
        corpus::generate(
            &config,
            &types,
            io::BufWriter::with_capacity(READ_SIZE, file),
        )
    }
    .context("cannot write the corpus")?;
    if let Some(path) = &args.expected {
        let json = serde_json::to_string_pretty(&expected)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::read::ahead::tests::FailingReader;
    use crate::read::frame::DEFAULT_MAX_LINE_BYTES;

    fn hostile_corpus(max_line_bytes: usize) -> Vec<u8> {
        let catalog = Catalog::builtin().unwrap();
        let types = catalog.error_types();
        let config = CorpusConfig {
            seed: 7,
            target_bytes: 200_000,
            max_line_bytes,
            error_percent: 20,
            hostile: true,
        };
        let mut out = Vec::new();
        corpus::generate(&config, &types, &mut out).unwrap();
        out
    }

    fn sequential(input: &[u8], max_line_bytes: usize) -> Tally {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let mut tally = Tally::with_names(catalog.len());
        scan_reader(input, max_line_bytes, &mut scanner, &mut tally, None).unwrap();
        tally
    }

    fn pooled(
        reader: impl Read + Send,
        pool: Pool,
        max_line_bytes: usize,
    ) -> (Tally, io::Result<()>) {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let mut tally = Tally::with_names(catalog.len());
        let result = scan_with_pool(reader, pool, max_line_bytes, &mut scanner, &mut tally, None);
        (tally, result)
    }

    #[test]
    fn threaded_scan_counts_like_the_sequential_scan_at_any_buffer_size() {
        for max_line_bytes in [64, 4096, DEFAULT_MAX_LINE_BYTES] {
            let input = hostile_corpus(max_line_bytes);
            let expected = sequential(&input, max_line_bytes);
            for (buffers, buffer_bytes) in [(1, 61), (2, 4096), (3, 65_536), (2, 1 << 20)] {
                let (tally, result) =
                    pooled(&input[..], Pool::new(buffers, buffer_bytes), max_line_bytes);
                result.unwrap();
                assert_eq!(
                    tally, expected,
                    "max={max_line_bytes} pool={buffers}x{buffer_bytes}"
                );
            }
        }
    }

    #[test]
    fn read_error_counts_the_lines_before_it_and_is_returned() {
        for buffer_bytes in [3, 8, 1 << 20] {
            let reader = FailingReader {
                data: b"{\"a\":1}\n{\"b\":2}\nunfinished",
            };
            let (tally, result) = pooled(reader, Pool::new(2, buffer_bytes), 1024);
            assert_eq!(result.unwrap_err().to_string(), "disk on fire");
            assert_eq!(tally.lines, 2, "buffer_bytes={buffer_bytes}");
            assert_eq!(tally.bytes, 26);
        }
    }
}
