//! The one-shot commands: `scan` (read inputs to their end and report),
//! `catalog` (list the catalogue) and `gen` (write a synthetic corpus).
//!
//! `scan` reads the files named, and every regular file below the
//! directories named ([`walk::files_below`]: sorted by path, each
//! directory and file once, loops and depth bounded as for the daemon's
//! globs), as `grep -r` and `rg` do. It counts its inputs on a pool of `--threads` workers, each with its
//! own [`Scanner`] and buffers, all through the one read loop
//! ([`LineReader`]) with different sources:
//! - a regular file of [`SPLIT_MIN_BYTES`] or more is cut into ranges at
//!   line boundaries ([`crate::read::range`]), counted in parallel with
//!   plain `pread`s into a small per-worker buffer, each range with its own
//!   `LineReader` and tally, merged in file order at the end;
//! - a gzip or zstd file ([`crate::read::decompress`], recognised by its
//!   magic bytes) is one unit of work, decompressed on a reader thread into
//!   the worker's pool ([`crate::read::ahead`]) so that the decompression
//!   overlaps the scan;
//! - a smaller plain file is one unit too, read with plain reads, or read
//!   ahead like an archive with `--threads 1` (the sequential path);
//! - stdin is read with plain blocking reads (a pipe hands out a few pages
//!   per read: a reader thread buys nothing), decompressed on a reader
//!   thread when it is gzip or zstd.
//!
//! Several files run in parallel on the same workers; a file's ranges are
//! taken before the next file is opened, so few files are open at once.
//! Memory stays at a pool (or one read buffer), one carried line and a
//! decompressor's window per worker whatever the sizes (no mmap: a
//! truncated log would raise SIGBUS). A missing, unreadable or corrupt
//! input, or a directory that cannot be listed, is reported on stderr, in
//! command-line order (then path order within a directory), and the
//! others are still counted; what was read from it before the error
//! counts.
//!
//! The counts are the same whatever the threads: every record is counted
//! by exactly one range, and records are independent. One exception: past
//! [`crate::scan::MAX_TRACKED_NAMES`] distinct uncatalogued names, which of
//! them are tracked depends on the order they are met in, so the listed
//! names may differ (the counts by status do not).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::Catalog;
use crate::cli::{
    CatalogArgs, CatalogFormat, CatalogSelection, GenArgs, ScanArgs, ScanFormat, SplitArg,
};
use crate::cmd::backfill::{self, Backfill};
use crate::cmd::corpus::{self, CorpusConfig, SplitFraming};
use crate::cmd::history::{self, History};
use crate::cmd::report::{self, FileTally};
use crate::read::ahead::{NewlineCounter, Pool};
use crate::read::decompress::{Compression, Decompressor, sniff};
use crate::read::range::{self, RangeReader};
use crate::read::{LineReader, READ_SIZE};
use crate::scan::examples::Examples;
use crate::scan::{Scanner, Tally, Timeline};
use crate::time::{LocalZone, TimeReader, Zone};
use crate::walk;

/// Jobs larger than this get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// Regular files at least this large are cut into ranges counted in
/// parallel (with more than one worker); smaller ones are one unit of work
/// each. Measured with 2 workers (`perf stat -r 7`, page cache warm): cut
/// into ranges, a 50 MB file takes 21 ms of CPU against 29 ms read ahead
/// on a second thread, and wall time drops with it; at 4 MB cutting is
/// still no worse, and below that the process start dominates.
pub const SPLIT_MIN_BYTES: u64 = 4 << 20;

/// Target size of one range: small enough that workers on a busy machine
/// share a file evenly, large enough that starting a range (a reader
/// thread, a line search) costs nothing measurable.
pub const RANGE_BYTES: u64 = 64 << 20;

/// Size of one plain read of a range: a quarter of a core's L2 cache on
/// the development machine, so the scan reads what the kernel just copied
/// from cache. Measured on 1 GiB in page cache, 2 workers: 64 KiB to 1 MiB
/// all cost about the same CPU time (0.28-0.36 s), all less than reading
/// ahead into 2 MiB buffers on a second thread per worker (0.35-0.48 s).
pub const PLAIN_READ_BYTES: usize = 256 << 10;

/// Loads the user's catalogue files, or the built-in catalogue.
pub fn load_catalog(selection: &CatalogSelection) -> anyhow::Result<Catalog> {
    Ok(Catalog::load(&selection.catalogs)?)
}

/// `errtally scan`: exit 0, or 1 when an input could not be read.
pub fn scan(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    if args.by_file
        && matches!(
            args.format,
            ScanFormat::Prometheus | ScanFormat::Openmetrics
        )
    {
        anyhow::bail!("--by-file needs --format table or json");
    }
    if args.examples.is_some()
        && matches!(
            args.format,
            ScanFormat::Prometheus | ScanFormat::Openmetrics
        )
    {
        anyhow::bail!("--examples needs --format table or json");
    }
    let backfill = (args.format == ScanFormat::Openmetrics)
        .then(|| backfill_options(args))
        .transpose()?;
    let catalog = Arc::new(load_catalog(&args.catalog)?);
    let (timeline, history) = history::timeline_for(args)?.unzip();
    let stdin_only = [PathBuf::from("-")];
    let paths = if args.paths.is_empty() {
        &stdin_only[..]
    } else {
        &args.paths[..]
    };
    let inputs = find_inputs(paths);
    let readable: Vec<PathBuf> = inputs
        .iter()
        .filter(|input| input.error.is_none())
        .map(|input| input.path.clone())
        .collect();
    let examples = args
        .examples
        .map(|keep| examples_for(args, history.is_some(), keep))
        .transpose()?;
    let options = ScanOptions {
        timeline,
        examples,
        ..scan_options(args)
    };
    let progress = progress_bar(&readable);
    let counted = count_inputs(&readable, &options, &catalog, progress.as_ref());
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let mut counts = merge_counts(&inputs, counted, &options, catalog.len());
    let mut total = options.new_tally(catalog.len());
    let mut failed = false;
    for (input, count) in inputs.iter().zip(&mut counts) {
        if let Some(examples) = &mut count.tally.examples {
            examples.set_path(&input.path);
        }
        total.merge(&count.tally);
        if let Some(error) = &count.error {
            eprintln!("errtally: {}: {error}", input.path.display());
            failed = true;
        }
    }
    let files: Vec<FileTally<'_>> = inputs
        .iter()
        .zip(&counts)
        .map(|(input, count)| FileTally {
            path: &input.path,
            tally: &count.tally,
            error: count.error.as_deref(),
        })
        .collect();
    if let Some(mut backfill) = backfill {
        backfill.until = history.as_ref().and_then(|history| history.until);
        let inputs: Vec<(&Path, &Tally)> =
            files.iter().map(|file| (file.path, file.tally)).collect();
        let stdout = io::BufWriter::with_capacity(READ_SIZE, io::stdout().lock());
        let untimed = backfill.write(&catalog, &inputs, stdout)?;
        if untimed > 0 {
            eprintln!("errtally: {untimed} counted records had no time and are left out");
        }
        return Ok(if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        });
    }
    let rendered = render(args, &catalog, &total, &files, history.as_ref())?;
    write_stdout(rendered.as_bytes())?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// One input of `scan`: a path from the command line, a file found below
/// a directory, or a directory the walk could not read in full.
#[derive(Debug)]
struct FoundInput {
    path: PathBuf,
    /// Why the walk could not go on there: nothing of it is counted.
    error: Option<String>,
}

/// The command line's paths with each directory replaced by the regular
/// files below it (sorted by path, each once; see [`walk::files_below`]),
/// and, among them in path order, the directories that could not be listed
/// and the links not followed (into or above `/proc` and `/sys`), then a
/// note when the tree lay too deep. A path that is not a directory (or
/// whose type cannot be learnt) stays as given, so that reading it names
/// the error.
fn find_inputs(paths: &[PathBuf]) -> Vec<FoundInput> {
    let mut inputs = Vec::new();
    for path in paths {
        let is_dir =
            path != Path::new("-") && std::fs::metadata(path).is_ok_and(|meta| meta.is_dir());
        if !is_dir {
            inputs.push(FoundInput {
                path: path.clone(),
                error: None,
            });
            continue;
        }
        let tree = walk::files_below(path);
        let not_followed = "a link to /proc, /sys or a directory above them is not followed";
        let mut found: Vec<FoundInput> = tree
            .files
            .into_iter()
            .map(|path| FoundInput { path, error: None })
            .chain(tree.errors.into_iter().map(|error| FoundInput {
                path: error.path,
                error: Some(format!("cannot list the directory: {}", error.source)),
            }))
            .chain(tree.links_not_followed.into_iter().map(|path| FoundInput {
                path,
                error: Some(not_followed.to_string()),
            }))
            .collect();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        inputs.extend(found);
        if tree.depth_limited {
            inputs.push(FoundInput {
                path: path.clone(),
                error: Some(format!(
                    "directories more than {} levels down are not read",
                    walk::MAX_DEPTH
                )),
            });
        }
    }
    inputs
}

/// Each input's count: the next of `counted` (one per input without an
/// error, in order) for an input that was read, an empty one with the
/// walk's error for one that could not be reached.
fn merge_counts(
    inputs: &[FoundInput],
    counted: Vec<InputCount>,
    options: &ScanOptions,
    types: usize,
) -> Vec<InputCount> {
    let mut counted = counted.into_iter();
    inputs
        .iter()
        .map(|input| {
            let read = input.error.is_none().then(|| counted.next()).flatten();
            read.unwrap_or_else(|| InputCount {
                tally: options.new_tally(types),
                error: Some(
                    input
                        .error
                        .clone()
                        .unwrap_or_else(|| "not read".to_string()),
                ),
            })
        })
        .collect()
}

/// The backfill's labels and step from the command line.
fn backfill_options(args: &ScanArgs) -> anyhow::Result<Backfill> {
    let path_labels = args
        .path_labels
        .as_deref()
        .map(|pattern| {
            crate::config::PathLabels::new(pattern, std::time::Duration::ZERO, usize::MAX)
                .map_err(|problem| anyhow::anyhow!("--path-labels: {problem}"))
        })
        .transpose()?;
    Ok(Backfill {
        step: backfill::parse_step(&args.step)?,
        until: None,
        source: args.source.clone(),
        labels: backfill::parse_labels(&args.labels, path_labels.as_ref())?,
        path_labels,
    })
}

/// `--examples`' collector: zone-less times are read in `--timezone`
/// (else the local zone, whose fallback the history part already reported
/// when it is on).
fn examples_for(args: &ScanArgs, history_on: bool, keep: u16) -> anyhow::Result<Examples> {
    let zone = match &args.timezone {
        Some(name) => Zone::named(name)?,
        None => {
            let (zone, found) = Zone::local();
            if found == LocalZone::FellBackToUtc && !history_on {
                eprintln!(
                    "errtally: no time zone in TZ or /etc/localtime: times without a zone are read in UTC"
                );
            }
            zone
        }
    };
    Ok(Examples::new(TimeReader::new(zone), usize::from(keep)))
}

/// The library's options from the command line.
fn scan_options(args: &ScanArgs) -> ScanOptions {
    let mut options = ScanOptions {
        threads: args
            .threads
            .map_or_else(default_threads, |threads| threads as usize),
        max_line_bytes: args.max_line_bytes,
        ..ScanOptions::default()
    };
    if let Some(range_bytes) = args.range_bytes {
        options.range_bytes = range_bytes;
        options.split_min_bytes = range_bytes;
    }
    options
}

/// The report in the format asked for.
fn render(
    args: &ScanArgs,
    catalog: &Catalog,
    total: &Tally,
    files: &[FileTally<'_>],
    history: Option<&History>,
) -> anyhow::Result<String> {
    Ok(match args.format {
        ScanFormat::Table => {
            let mut table = report::table(catalog, total);
            if let Some(history) = history {
                table += &history.table(catalog, total);
            }
            if args.examples.is_some() {
                table += &report::table_examples(catalog, total);
            }
            if args.by_file {
                table += &report::table_by_file(catalog, files);
            }
            table
        }
        ScanFormat::Json => {
            let mut report = report::JsonReport::new(catalog, total);
            if let Some(history) = history {
                report.untimed = Some(history.untimed(total));
                report.periods = history.periods(catalog, total);
            }
            if args.examples.is_some() {
                report.examples = Some(report::examples(catalog, total));
            }
            if args.by_file {
                report = report.with_files(catalog, files);
            }
            let mut json = serde_json::to_string(&report)?;
            json.push('\n');
            json
        }
        // `scan` writes OpenMetrics as it is made (`Backfill::write`) and
        // never renders it here.
        ScanFormat::Prometheus | ScanFormat::Openmetrics => {
            report::prometheus(catalog, total, "scan")?
        }
    })
}

/// The generator's framing for `gen --split`.
fn split_framing(arg: SplitArg) -> SplitFraming {
    match arg {
        SplitArg::Docker => SplitFraming::Docker,
        SplitArg::Cri => SplitFraming::Cri,
    }
}

/// The available cores (1 when unknown).
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// One bar for the whole job, over the inputs' sizes on disk (compressed
/// files advance by compressed bytes), when stderr is a terminal and the
/// job is large.
fn progress_bar(paths: &[PathBuf]) -> Option<ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = paths
        .iter()
        .filter(|path| *path != Path::new("-"))
        .filter_map(|path| std::fs::metadata(path).ok())
        .filter(std::fs::Metadata::is_file)
        .map(|metadata| metadata.len())
        .sum();
    (total > PROGRESS_MIN_BYTES).then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    })
}

/// How `scan` splits its work.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Workers (at least 1). With one, inputs are read one after another
    /// and no file is cut.
    pub threads: usize,
    /// Records longer than this are truncated.
    pub max_line_bytes: usize,
    /// Regular files at least this large are cut into ranges.
    pub split_min_bytes: u64,
    /// Target size of a range.
    pub range_bytes: u64,
    /// The buffers each worker reads into.
    pub buffers: usize,
    /// Size of one buffer.
    pub buffer_bytes: usize,
    /// Size of one plain read (a range, a file among others).
    pub read_bytes: usize,
    /// Counts by time ([`history`]): each part counts into a copy.
    pub timeline: Option<Timeline>,
    /// `--examples`: each part keeps its own, merged like the counts.
    pub examples: Option<Examples>,
}

impl ScanOptions {
    /// An empty tally for one part of the scan: names, and times if asked.
    pub fn new_tally(&self, types: usize) -> Tally {
        let tally = Tally::with_names(types);
        let tally = match &self.examples {
            Some(examples) => tally.with_examples(examples.clone()),
            None => tally,
        };
        match &self.timeline {
            Some(timeline) => tally.timed(timeline.clone()),
            None => tally,
        }
    }
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            max_line_bytes: crate::read::frame::DEFAULT_MAX_LINE_BYTES,
            split_min_bytes: SPLIT_MIN_BYTES,
            range_bytes: RANGE_BYTES,
            buffers: Pool::DEFAULT_BUFFERS,
            buffer_bytes: Pool::DEFAULT_BUFFER_BYTES,
            read_bytes: PLAIN_READ_BYTES,
            timeline: None,
            examples: None,
        }
    }
}

/// One input's counts, and why it could not be read to its end.
#[derive(Debug)]
pub struct InputCount {
    /// What was counted, up to the error if there was one.
    pub tally: Tally,
    /// The first error (by position in the file), as a message.
    pub error: Option<String>,
}

/// Counts each of `paths` (`-` is stdin), in order. Every input gets a
/// count, an input that failed with what was read before the error.
pub fn count_inputs(
    paths: &[PathBuf],
    options: &ScanOptions,
    catalog: &Arc<Catalog>,
    progress: Option<&ProgressBar>,
) -> Vec<InputCount> {
    let job = Job::new(paths, options, catalog, progress);
    let workers = options.threads.max(1);
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(|| job.work());
        }
        job.work();
    });
    let mut parts = job
        .parts
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    parts.sort_by_key(|part| (part.input, part.index));
    let mut counts: Vec<InputCount> = paths
        .iter()
        .map(|_| InputCount {
            tally: options.new_tally(catalog.len()),
            error: None,
        })
        .collect();
    for part in parts {
        let count = &mut counts[part.input];
        count.tally.merge(&part.tally);
        if count.error.is_none() {
            count.error = part.error.map(|error| error.to_string());
        }
    }
    counts
}

/// The shared state of one `scan`: the work left and the counts done.
struct Job<'a> {
    paths: &'a [PathBuf],
    options: &'a ScanOptions,
    catalog: &'a Arc<Catalog>,
    progress: Option<&'a ProgressBar>,
    queue: Mutex<Queue>,
    /// Signalled when ranges are queued or an input's planning ends.
    changed: Condvar,
    parts: Mutex<Vec<Part>>,
}

/// The work left.
struct Queue {
    /// The next input nobody has opened.
    next_input: usize,
    /// Ranges of cut files, taken before the next input.
    ranges: VecDeque<RangeWork>,
    /// Inputs being opened, which may still queue ranges: a worker with
    /// nothing to do waits for them rather than leave.
    planning: usize,
}

/// One range of a cut file.
struct RangeWork {
    input: usize,
    index: usize,
    file: Arc<File>,
    start: u64,
    end: Option<u64>,
}

enum Work {
    Input(usize),
    Range(RangeWork),
}

/// What one unit of work counted: a whole input (index 0) or one range.
struct Part {
    input: usize,
    index: usize,
    tally: Tally,
    error: Option<io::Error>,
}

/// Ends an input's planning when dropped, whatever happened to it.
struct Planning<'j, 'a>(&'j Job<'a>);

impl Drop for Planning<'_, '_> {
    fn drop(&mut self) {
        self.0.queue().planning -= 1;
        self.0.changed.notify_all();
    }
}

/// What a worker reads with: its own scanner and buffers, allocated on
/// first use.
struct Worker {
    scanner: Scanner,
    pool: Pool,
    buf: Vec<u8>,
}

impl<'a> Job<'a> {
    fn new(
        paths: &'a [PathBuf],
        options: &'a ScanOptions,
        catalog: &'a Arc<Catalog>,
        progress: Option<&'a ProgressBar>,
    ) -> Self {
        Self {
            paths,
            options,
            catalog,
            progress,
            queue: Mutex::new(Queue {
                next_input: 0,
                ranges: VecDeque::new(),
                planning: 0,
            }),
            changed: Condvar::new(),
            parts: Mutex::new(Vec::new()),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A worker: takes work until none is left.
    fn work(&self) {
        let mut worker = Worker {
            scanner: Scanner::new(Arc::clone(self.catalog)),
            pool: Pool::new(self.options.buffers, self.options.buffer_bytes),
            buf: Vec::new(),
        };
        while let Some(work) = self.next_work() {
            let part = match work {
                Work::Input(input) => self.count_input(input, &mut worker),
                Work::Range(range) => self.count_range(range, &mut worker),
            };
            self.parts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(part);
        }
    }

    /// The next range, else the next input; `None` when all is taken and
    /// no input being opened can queue more.
    fn next_work(&self) -> Option<Work> {
        let mut queue = self.queue();
        loop {
            if let Some(range) = queue.ranges.pop_front() {
                return Some(Work::Range(range));
            }
            if queue.next_input < self.paths.len() {
                queue.next_input += 1;
                queue.planning += 1;
                return Some(Work::Input(queue.next_input - 1));
            }
            if queue.planning == 0 {
                return None;
            }
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn new_part(&self, input: usize, index: usize) -> Part {
        Part {
            input,
            index,
            tally: self.options.new_tally(self.catalog.len()),
            error: None,
        }
    }

    /// Opens an input and counts it, or the first range of it after
    /// queueing the others.
    fn count_input(&self, input: usize, worker: &mut Worker) -> Part {
        let planning = Planning(self);
        let mut part = self.new_part(input, 0);
        let path = &self.paths[input];
        let result = if path == Path::new("-") {
            drop(planning);
            self.count_stdin(worker, &mut part.tally)
        } else {
            self.count_file(path, input, planning, worker, &mut part.tally)
        };
        part.error = result.err();
        part
    }

    fn count_file(
        &self,
        path: &Path,
        input: usize,
        planning: Planning<'_, '_>,
        worker: &mut Worker,
        tally: &mut Tally,
    ) -> io::Result<()> {
        let mut file = File::open(path)?;
        let metadata = file.metadata()?;
        let (compression, head) = sniff(&mut file)?;
        let size = metadata.len();
        if metadata.is_file()
            && compression == Compression::None
            && self.options.threads > 1
            && size >= self.options.split_min_bytes
        {
            let ranges = size
                .div_ceil(self.options.range_bytes.max(1))
                .max(self.options.threads as u64)
                .min(size) as usize;
            let cuts = range::cuts(size, ranges);
            let file = Arc::new(file);
            {
                let mut queue = self.queue();
                for (index, pair) in cuts.windows(2).enumerate().skip(1) {
                    queue.ranges.push_back(RangeWork {
                        input,
                        index,
                        file: Arc::clone(&file),
                        start: pair[0],
                        // The last range reads to end of file.
                        end: (index + 1 < ranges).then_some(pair[1]),
                    });
                }
            }
            drop(planning);
            let first = RangeWork {
                input,
                index: 0,
                file,
                start: 0,
                end: Some(cuts[1]),
            };
            let first_range = RangeReader::new(&first.file, 0, first.end);
            return self.count_plain(first_range, 0, worker, tally);
        }
        drop(planning);
        let stream = io::Cursor::new(head).chain(file);
        if compression == Compression::None {
            // The sequential path reads ahead on a second core; with more
            // workers, plain reads cost less (a small file needs no pool).
            if self.options.threads == 1 {
                self.count_ahead(stream, worker, tally)
            } else {
                self.count_plain(stream, 0, worker, tally)
            }
        } else {
            let decompressor = Decompressor::new(stream, compression)?;
            self.count_compressed(decompressor, worker, tally)
        }
    }

    fn count_range(&self, range: RangeWork, worker: &mut Worker) -> Part {
        let mut part = self.new_part(range.input, range.index);
        let mut reader = RangeReader::new(&range.file, range.start, range.end);
        worker.buf.resize(self.options.read_bytes.max(1), 0);
        part.error = reader
            .find_start(&mut worker.buf)
            .and_then(|start| self.count_plain(reader, start, worker, &mut part.tally))
            .err();
        part
    }

    /// Counts a source with plain reads into the worker's buffer, which
    /// the scan finds still in cache: the least work per byte, for a
    /// worker among others that keep the cores busy.
    /// `start` is the absolute offset of the source's first byte.
    fn count_plain(
        &self,
        mut reader: impl Read,
        start: u64,
        worker: &mut Worker,
        tally: &mut Tally,
    ) -> io::Result<()> {
        worker.buf.resize(self.options.read_bytes.max(1), 0);
        let mut lines = LineReader::starting_at(self.options.max_line_bytes, start);
        loop {
            let read = lines.read_once(&mut reader, &mut worker.buf, &mut worker.scanner, tally)?;
            if read == 0 {
                break;
            }
            if let Some(bar) = self.progress {
                bar.inc(read as u64);
            }
        }
        lines.finish(&mut worker.scanner, tally);
        Ok(())
    }

    /// Counts a source on a reader thread into the worker's pool, so the
    /// kernel's copies overlap the scan.
    fn count_ahead(
        &self,
        reader: impl Read + Send,
        worker: &mut Worker,
        tally: &mut Tally,
    ) -> io::Result<()> {
        let mut lines = LineReader::new(self.options.max_line_bytes);
        lines.read_ahead(
            reader,
            &mut worker.pool,
            NewlineCounter::Reader,
            &mut worker.scanner,
            tally,
            |_, read| {
                if let Some(bar) = self.progress {
                    bar.inc(read as u64);
                }
                ControlFlow::Continue(())
            },
        )?;
        lines.finish(&mut worker.scanner, tally);
        Ok(())
    }

    /// Counts a decompressed stream: the decompression runs on the reader
    /// thread; progress goes by compressed bytes, as the total does.
    fn count_compressed(
        &self,
        decompressor: Decompressor<impl Read + Send>,
        worker: &mut Worker,
        tally: &mut Tally,
    ) -> io::Result<()> {
        let consumed = decompressor.consumed();
        let mut shown = 0;
        let mut lines = LineReader::new(self.options.max_line_bytes);
        let result = lines.read_ahead(
            decompressor,
            &mut worker.pool,
            // The reader decompresses: the slower side sets the pace.
            NewlineCounter::Caller,
            &mut worker.scanner,
            tally,
            |_, _| {
                show_progress(self.progress, &consumed, &mut shown);
                ControlFlow::Continue(())
            },
        );
        show_progress(self.progress, &consumed, &mut shown);
        result?;
        lines.finish(&mut worker.scanner, tally);
        Ok(())
    }

    /// Stdin: plain reads, or a decompressor on a reader thread.
    fn count_stdin(&self, worker: &mut Worker, tally: &mut Tally) -> io::Result<()> {
        // `Stdin`, not its lock: a decompressor reads it on another thread.
        let mut stdin = io::stdin();
        let (compression, head) = sniff(&mut stdin)?;
        let stream = io::Cursor::new(head).chain(stdin);
        if compression == Compression::None {
            scan_reader(
                stream,
                self.options.max_line_bytes,
                &mut worker.scanner,
                tally,
            )
        } else {
            let decompressor = Decompressor::new(stream, compression)?;
            self.count_compressed(decompressor, worker, tally)
        }
    }
}

/// Reads `reader` to its end with plain reads of [`READ_SIZE`], counting
/// every record. Records read before an error are counted (except an
/// unfinished last line).
pub fn scan_reader(
    mut reader: impl Read,
    max_line_bytes: usize,
    scanner: &mut Scanner,
    tally: &mut Tally,
) -> io::Result<()> {
    let mut lines = LineReader::new(max_line_bytes);
    let mut buf = vec![0; READ_SIZE];
    while lines.read_once(&mut reader, &mut buf, scanner, tally)? > 0 {}
    lines.finish(scanner, tally);
    Ok(())
}

/// Advances the bar by the compressed bytes consumed since the last call.
fn show_progress(bar: Option<&ProgressBar>, consumed: &AtomicU64, shown: &mut u64) {
    if let Some(bar) = bar {
        let now = consumed.load(Ordering::Relaxed);
        bar.inc(now.saturating_sub(*shown));
        *shown = now;
    }
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
        times: args.times.then(|| args.timezone.clone()),
        span_seconds: args.span.map(|span| span.as_secs()),
    };
    let expected = if args.out == Path::new("-") {
        corpus::generate_framed(
            &config,
            args.split.map(split_framing),
            &types,
            io::BufWriter::with_capacity(READ_SIZE, io::stdout().lock()),
        )
    } else {
        let file = File::create(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
        corpus::generate_framed(
            &config,
            args.split.map(split_framing),
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
    use std::io::Write as _;

    use proptest::strategy::Just;

    use super::*;
    use crate::cmd::corpus::{Expected, TimeTruth};
    use crate::read::ahead::tests::FailingReader;
    use crate::read::frame::DEFAULT_MAX_LINE_BYTES;

    fn corpus_bytes(seed: u64, max_line_bytes: usize, hostile: bool) -> Vec<u8> {
        let catalog = Catalog::builtin().unwrap();
        let types = catalog.error_types();
        let config = CorpusConfig {
            seed,
            target_bytes: 300_000,
            max_line_bytes,
            error_percent: 20,
            hostile,
            times: None,
            span_seconds: None,
        };
        let mut out = Vec::new();
        corpus::generate(&config, &types, &mut out).unwrap();
        out
    }

    fn catalog() -> Arc<Catalog> {
        Arc::new(Catalog::builtin().unwrap())
    }

    /// The plain sequential read of `input`, the reference for every other
    /// way of counting it.
    fn sequential(input: &[u8], max_line_bytes: usize) -> Tally {
        let catalog = catalog();
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let mut tally = Tally::with_names(catalog.len());
        scan_reader(input, max_line_bytes, &mut scanner, &mut tally).unwrap();
        tally
    }

    fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn count(paths: &[PathBuf], options: &ScanOptions) -> Vec<InputCount> {
        count_inputs(paths, options, &catalog(), None)
    }

    /// Cut into many small ranges, so that lines straddle cuts, over-long
    /// lines cover whole ranges and the workers interleave.
    fn split_options(threads: usize, range_bytes: u64, max_line_bytes: usize) -> ScanOptions {
        ScanOptions {
            threads,
            max_line_bytes,
            split_min_bytes: 1,
            range_bytes,
            buffers: 2,
            buffer_bytes: 4096,
            read_bytes: 777,
            timeline: None,
            examples: None,
        }
    }

    #[test]
    fn parallel_ranges_count_like_the_sequential_read_on_every_corpus() {
        let dir = tempfile::tempdir().unwrap();
        for (seed, max_line_bytes, hostile) in [
            (7, 64, true),
            (8, 4096, true),
            (9, DEFAULT_MAX_LINE_BYTES, true),
            (10, DEFAULT_MAX_LINE_BYTES, false),
        ] {
            let input = corpus_bytes(seed, max_line_bytes, hostile);
            let expected = sequential(&input, max_line_bytes);
            assert!(expected.truncated_lines > 0 || max_line_bytes > 4096);
            let path = write_file(dir.path(), &format!("{seed}.log"), &input);
            for threads in [1, 2, 3, 7] {
                for range_bytes in [997, 10_000, 65_536, 1 << 30] {
                    let options = split_options(threads, range_bytes, max_line_bytes);
                    let counts = count(std::slice::from_ref(&path), &options);
                    assert!(counts[0].error.is_none());
                    assert_eq!(
                        counts[0].tally, expected,
                        "seed {seed} threads {threads} range {range_bytes}"
                    );
                }
            }
        }
    }

    /// A `gen --times` corpus and its expected tally.
    fn timed_corpus(
        seed: u64,
        hostile: bool,
        zone: &str,
        split: Option<SplitFraming>,
    ) -> (Vec<u8>, Expected) {
        let types = Catalog::builtin().unwrap().error_types();
        let config = CorpusConfig {
            seed,
            target_bytes: 3_000_000,
            max_line_bytes: 4096,
            error_percent: 30,
            hostile,
            times: Some(zone.to_string()),
            span_seconds: None,
        };
        let mut out = Vec::new();
        let expected = corpus::generate_framed(&config, split, &types, &mut out).unwrap();
        (out, expected)
    }

    /// `input` counted by minute, its times read in `zone`, in the shape of
    /// the generator's truth.
    fn count_by_minute(input: &[u8], zone: &str) -> TimeTruth {
        use crate::scan::{Periods, Timeline};
        use crate::time::{TimeReader, Zone};
        let catalog = catalog();
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let timeline = Timeline::new(
            TimeReader::new(Zone::named(zone).unwrap()),
            None,
            None,
            Some(Periods::Steps { seconds: 60 }),
        );
        let mut tally = Tally::new(catalog.len()).timed(timeline);
        scan_reader(input, 4096, &mut scanner, &mut tally).unwrap();
        let timeline = tally.timeline.unwrap();
        let mut truth = TimeTruth {
            untimed: timeline.untimed,
            ..TimeTruth::default()
        };
        for ((minute, slot), count) in timeline.cells() {
            let counts = truth.minutes.entry(minute).or_default();
            let slot = slot as usize;
            match catalog.entry(slot) {
                Some(entry) => {
                    counts.errors.insert(entry.error_type.clone(), count);
                }
                None => {
                    let status = crate::scan::status_label(slot - catalog.len());
                    counts.uncatalogued.insert(status, count);
                }
            }
        }
        truth
    }

    #[test]
    fn a_timed_corpus_counts_by_minute_like_the_generators_clock() {
        for (seed, hostile, zone, split) in [
            (1, false, "UTC", None),
            (2, true, "Europe/Berlin", None),
            (3, true, "America/New_York", None),
            (4, true, "-03:30", None),
            (5, false, "Asia/Kathmandu", Some(SplitFraming::Docker)),
            (6, true, "Europe/Berlin", Some(SplitFraming::Cri)),
        ] {
            let (input, expected) = timed_corpus(seed, hostile, zone, split);
            let truth = expected.times.unwrap();
            assert!(truth.minutes.len() >= 3, "seed {seed}: some minutes long");
            if hostile && split.is_none() {
                assert!(truth.untimed > 0, "seed {seed}: some records untimed");
            }
            assert_eq!(
                count_by_minute(&input, zone),
                truth,
                "seed {seed} zone {zone}"
            );
        }
    }

    #[test]
    fn the_corpus_without_times_is_byte_for_byte_what_it_was() {
        // SHA-256 of `errtally gen --seed 3 --bytes 200000 --max-line-bytes
        // 4096 --out -` as built before --times existed (commit 9e96c3d).
        const BEFORE_TIMES: &str =
            "43d7d56de53a2a28ba6ccd0a9e7d01e833e1f781a6748d2f2cc96be75c49f2dc";
        let config = CorpusConfig {
            seed: 3,
            target_bytes: 200_000,
            max_line_bytes: 4096,
            error_percent: 10,
            hostile: true,
            times: None,
            span_seconds: None,
        };
        let mut bytes = Vec::new();
        let expected = corpus::generate(&config, &catalog().error_types(), &mut bytes).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, BEFORE_TIMES);
        assert_eq!(expected.times, None);
    }

    #[test]
    fn a_line_longer_than_several_ranges_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut input = b"{\"error_type\":\"email_not_found\"}\n".to_vec();
        input.extend_from_slice(b"{\"error_type\":\"session_not_found\",\"pad\":\"");
        input.extend(std::iter::repeat_n(b'x', 50_000));
        input.extend_from_slice(b"\"}\n{\"error_type\":\"organization_not_found\"}\n");
        let path = write_file(dir.path(), "long.log", &input);
        let catalog = catalog();
        for max_line_bytes in [100, 100_000] {
            let expected = sequential(&input, max_line_bytes);
            assert_eq!(expected.lines, 3);
            assert_eq!(expected.truncated_lines, u64::from(max_line_bytes == 100));
            assert_eq!(
                expected.errors[catalog.index_of(b"session_not_found").unwrap()],
                1
            );
            // Ranges of 1,000 bytes: the long line covers about fifty.
            let options = split_options(3, 1000, max_line_bytes);
            let counts = count(std::slice::from_ref(&path), &options);
            assert_eq!(counts[0].tally, expected, "max {max_line_bytes}");
        }
    }

    /// Counts a file cut at `cuts`, each range through its own
    /// `LineReader` (reading 64 bytes at a time), and merges the ranges'
    /// tallies in order.
    fn count_cut(file: &File, cuts: &[u64], max_line_bytes: usize, scanner: &mut Scanner) -> Tally {
        let types = scanner.catalog().len();
        let mut total = Tally::with_names(types);
        let mut buf = [0; 64];
        for (i, pair) in cuts.windows(2).enumerate() {
            let end = (i + 2 < cuts.len()).then_some(pair[1]);
            let mut reader = RangeReader::new(file, pair[0], end);
            let mut lines = LineReader::new(max_line_bytes);
            let mut tally = Tally::with_names(types);
            while lines
                .read_once(&mut reader, &mut buf, scanner, &mut tally)
                .unwrap()
                > 0
            {}
            lines.finish(scanner, &mut tally);
            total.merge(&tally);
        }
        total
    }

    /// Records of every kind, short enough to cut everywhere.
    const RECORDS: &[&[u8]] = &[
        b"{\"status_code\":404,\"error_type\":\"email_not_found\"}\n",
        b"{\"log\":\"{\\\"error_type\\\":\\\"session_not_found\\\"}\\n\",\"stream\":\"stdout\"}\n",
        b"2026-01-01T00:00:00Z stdout F {\"error_type\":\"not_catalogued\",\"status_code\":410}\n",
        b"error_type='organization_not_found' status_code=404\n",
        b"{\"error_type\":\"member_not_found\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n",
        b"\n",
        b"\r\n",
        b"plain\n",
        b"{\"error_type\":\"email_not_found\"",
    ];

    #[test]
    fn every_cut_position_of_a_small_input_counts_like_the_whole() {
        let input: Vec<u8> = RECORDS.concat();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&input).unwrap();
        let size = input.len() as u64;
        let mut scanner = Scanner::new(catalog());
        for max_line_bytes in [40, 1024] {
            let expected = sequential(&input, max_line_bytes);
            for first in 0..=size {
                assert_eq!(
                    count_cut(&file, &[0, first, size], max_line_bytes, &mut scanner),
                    expected,
                    "cut {first} max {max_line_bytes}"
                );
            }
            for first in (0..=size).step_by(7) {
                for second in first..=size {
                    assert_eq!(
                        count_cut(
                            &file,
                            &[0, first, second, size],
                            max_line_bytes,
                            &mut scanner
                        ),
                        expected,
                        "cuts {first} {second} max {max_line_bytes}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_cuts_of_any_records_count_like_the_whole(
            picks in proptest::collection::vec(0..RECORDS.len(), 0..40),
            garbage in proptest::collection::vec(
                proptest::prop_oneof![Just(b'\n'), Just(b'"'), proptest::num::u8::ANY], 0..60),
            mut cut_points in proptest::collection::vec(0u64..4000, 0..6),
            max_line_bytes in 8usize..200,
        ) {
            let mut input: Vec<u8> = picks.iter().flat_map(|&i| RECORDS[i].iter().copied()).collect();
            input.extend_from_slice(&garbage);
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&input).unwrap();
            let size = input.len() as u64;
            cut_points.iter_mut().for_each(|cut| *cut = (*cut).min(size));
            cut_points.extend([0, size]);
            cut_points.sort_unstable();
            let mut scanner = Scanner::new(catalog());
            proptest::prop_assert_eq!(
                count_cut(&file, &cut_points, max_line_bytes, &mut scanner),
                sequential(&input, max_line_bytes)
            );
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(bytes, 1).unwrap()
    }

    #[test]
    fn many_files_plain_and_compressed_count_like_one_after_another() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        let mut expected = Vec::new();
        for seed in 0..6u64 {
            let input = corpus_bytes(20 + seed, DEFAULT_MAX_LINE_BYTES, seed % 2 == 0);
            expected.push(sequential(&input, DEFAULT_MAX_LINE_BYTES));
            // A .gz holding zstd: the first bytes decide, not the name.
            let (name, bytes) = match seed % 3 {
                0 => (format!("{seed}.log"), input),
                1 => (format!("{seed}.log.gz"), gzip(&input)),
                _ => (format!("{seed}.log.gz"), zstd(&input)),
            };
            paths.push(write_file(dir.path(), &name, &bytes));
        }
        for threads in [1, 2, 5] {
            let counts = count(
                &paths,
                &split_options(threads, 50_000, DEFAULT_MAX_LINE_BYTES),
            );
            for (i, count) in counts.iter().enumerate() {
                assert!(count.error.is_none(), "{:?}", count.error);
                assert_eq!(count.tally, expected[i], "file {i} threads {threads}");
            }
        }
    }

    #[test]
    fn a_truncated_archive_keeps_what_came_before_and_names_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let input = corpus_bytes(30, DEFAULT_MAX_LINE_BYTES, false);
        let whole = sequential(&input, DEFAULT_MAX_LINE_BYTES);
        for (name, compressed) in [("a.gz", gzip(&input)), ("a.zst", zstd(&input))] {
            let cut = &compressed[..compressed.len() / 2];
            let path = write_file(dir.path(), name, cut);
            let counts = count(&[path], &ScanOptions::default());
            let error = counts[0].error.as_deref().unwrap();
            assert!(
                error.contains(&format!("ends at byte {}", cut.len())),
                "{error}"
            );
            let tally = &counts[0].tally;
            assert!(
                tally.lines > whole.lines / 4 && tally.lines < whole.lines,
                "{name}"
            );
            assert!(tally.errors.iter().sum::<u64>() > 0);
        }
    }

    #[test]
    fn a_read_error_counts_the_lines_before_it_and_is_returned() {
        let catalog = catalog();
        for buffer_bytes in [3, 8, 1 << 20] {
            let options = ScanOptions {
                buffers: 2,
                buffer_bytes,
                read_bytes: buffer_bytes,
                max_line_bytes: 1024,
                ..ScanOptions::default()
            };
            let job = Job::new(&[], &options, &catalog, None);
            let mut worker = Worker {
                scanner: Scanner::new(Arc::clone(&catalog)),
                pool: Pool::new(options.buffers, options.buffer_bytes),
                buf: Vec::new(),
            };
            for ahead in [false, true] {
                let mut tally = Tally::with_names(catalog.len());
                let reader = FailingReader {
                    data: b"{\"a\":1}\n{\"b\":2}\nunfinished",
                };
                let result = if ahead {
                    job.count_ahead(reader, &mut worker, &mut tally)
                } else {
                    job.count_plain(reader, 0, &mut worker, &mut tally)
                };
                assert_eq!(result.unwrap_err().to_string(), "disk on fire");
                assert_eq!(tally.lines, 2, "buffer_bytes={buffer_bytes}");
                assert_eq!(tally.bytes, 26);
            }
        }
    }

    #[test]
    fn a_missing_file_among_others_is_an_error_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let input = corpus_bytes(40, DEFAULT_MAX_LINE_BYTES, true);
        let path = write_file(dir.path(), "ok.log", &input);
        let paths = [dir.path().join("missing.log"), path];
        let counts = count(&paths, &split_options(2, 10_000, DEFAULT_MAX_LINE_BYTES));
        assert!(counts[0].error.as_deref().unwrap().contains("No such file"));
        assert_eq!(counts[0].tally.lines, 0);
        assert!(counts[1].error.is_none());
        assert_eq!(counts[1].tally, sequential(&input, DEFAULT_MAX_LINE_BYTES));
    }
}
