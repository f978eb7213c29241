//! The one-shot commands: `scan` (read inputs to their end and report),
//! `catalog` (list the catalogue) and `gen` (write a synthetic corpus).
//!
//! `scan` reads each input with large blocking reads into one bounded
//! [`LineFramer`], so memory stays flat whatever the file size. A missing or
//! unreadable input is reported on stderr and the others are still scanned.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::Catalog;
use crate::cli::{CatalogArgs, CatalogFormat, CatalogSelection, GenArgs, ScanArgs, ScanFormat};
use crate::corpus::{self, CorpusConfig};
use crate::frame::LineFramer;
use crate::report;
use crate::scan::{Scanner, Tally};

/// Size of one read: large enough that system calls cost nothing.
pub const READ_SIZE: usize = 1 << 20;

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
    let mut framer = LineFramer::new(max_line_bytes, READ_SIZE);
    if path == Path::new("-") {
        return scan_reader(io::stdin().lock(), &mut framer, scanner, tally, None);
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
    let result = scan_reader(file, &mut framer, scanner, tally, progress.as_ref());
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    result
}

/// Reads `reader` to its end, counting every record. Records read before an
/// error are counted.
pub fn scan_reader(
    mut reader: impl Read,
    framer: &mut LineFramer,
    scanner: &mut Scanner,
    tally: &mut Tally,
    progress: Option<&ProgressBar>,
) -> io::Result<()> {
    loop {
        let read = match reader.read(framer.spare()) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        framer.filled(read);
        tally.bytes += read as u64;
        while let Some(chunk) = framer.next_chunk() {
            scanner.scan_chunk(chunk, tally);
        }
        if let Some(bar) = progress {
            bar.inc(read as u64);
        }
    }
    if let Some(last) = framer.finish() {
        scanner.scan_record(last, tally);
    }
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
    let catalog = Catalog::builtin()?;
    let types: Vec<String> = catalog
        .entries()
        .iter()
        .map(|e| e.error_type.clone())
        .collect();
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
