//! The stdin input: counts lines as they arrive, until end of input.
//!
//! A plain thread, not a tokio task, in the daemon's inputs stage (see
//! [`crate::lifecycle`]): it holds a token of the stage's tracker, and
//! waits for input with `poll(2)` in short turns, checking the stage's
//! token between them, so a shutdown ends it like any input instead of
//! leaving it blocked in `read`.
//!
//! stdin cannot be reopened, so a reload does not restart the thread: it
//! swaps the thread's binding (catalogue, scanner and counter handles). The
//! binding sits behind a lock that the thread holds while it counts and
//! publishes a chunk, never while it waits for input: a swap waits out the
//! chunk in progress, and once [`StdinInput::bind`] returns, nothing counts
//! with the old binding any more. The daemon can then forget the old
//! series without a late publish making them again. A reload that drops
//! the stdin input unbinds it: lines are still read, so the writer is not
//! blocked, but counted nowhere.

use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::export::metrics::{InputMetrics, Metrics};
use crate::export::status::{DaemonStatus, InputStatus, TypeExamples};
use crate::lifecycle::Stage;
use crate::read::LineReader;
use crate::scan::latest::Latest;
use crate::scan::recent::RecentRecords;
use crate::scan::{Scanner, Tally};
use crate::time::TimeReader;

/// The path stdin's records are shown at, and its pattern.
const STDIN_PATH: &str = "-";

/// Size of one read from stdin: small enough that a slow pipe's lines show
/// up at once (a read returns whatever is there), large enough for a fast one.
const STDIN_READ_SIZE: usize = 256 << 10;

/// How long one wait for input lasts before the reader looks at its token
/// again: the longest a shutdown waits for an idle stdin.
const STDIN_WAIT_MS: libc::c_int = 100;

/// Least time between two refreshes of the status page's examples while
/// input flows (reading them costs more than counting the records).
const EXAMPLES_SPACING: Duration = Duration::from_millis(200);

/// What the reader reads: the process's stdin, which it waits on with
/// `poll(2)` so that it can stop, or a test's reader, which never blocks.
enum Source {
    Stdin,
    #[cfg(test)]
    Reader(Box<dyn Read + Send>),
}

impl Source {
    /// Waits until a read will not block (input, its end, or an error for
    /// `read` to report), calling `idle` each time a turn of the wait
    /// passes without input; false once `stop` is cancelled.
    fn wait(&self, stop: &CancellationToken, mut idle: impl FnMut()) -> bool {
        match self {
            Source::Stdin => loop {
                if stop.is_cancelled() {
                    return false;
                }
                let mut stdin = libc::pollfd {
                    fd: libc::STDIN_FILENO,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, for the duration of the call.
                let ready = unsafe { libc::poll(&mut stdin, 1, STDIN_WAIT_MS) };
                // Ready, hung up, or an error (EINTR included): `read` says
                // which.
                if ready != 0 {
                    return true;
                }
                idle();
            },
            #[cfg(test)]
            Source::Reader(_) => !stop.is_cancelled(),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Stdin => io::stdin().lock().read(buf),
            #[cfg(test)]
            Source::Reader(reader) => reader.read(buf),
        }
    }
}

/// What the stdin input counts with, as of the last (re)load.
struct Bound {
    /// The input's name (the `source` label).
    name: String,
    scanner: Scanner,
    metrics: InputMetrics,
    tally: Tally,
    /// The latest examples of each type, as last shown.
    examples: Arc<Vec<TypeExamples>>,
    /// When they were last shown.
    shown_at: Instant,
}

impl Bound {
    /// Goes on from the examples its input showed last (a reload binds
    /// stdin anew).
    fn resume_examples(&mut self, status: &DaemonStatus) {
        if let Some(recent) = self.tally.recent.as_deref_mut() {
            TypeExamples::resume(
                &status.examples_of(&self.name),
                self.scanner.catalog(),
                recent,
            );
            if let Some(examples) = TypeExamples::read(recent, self.scanner.catalog()) {
                self.examples = examples;
            }
        }
    }

    /// Shows the examples if they changed, at most every
    /// [`EXAMPLES_SPACING`] unless `now_anyway`.
    fn show_examples(&mut self, status: &DaemonStatus, finished: bool, now_anyway: bool) {
        if !now_anyway && self.shown_at.elapsed() < EXAMPLES_SPACING {
            return;
        }
        if let Some(recent) = self.tally.recent.as_deref_mut()
            && let Some(examples) = TypeExamples::read(recent, self.scanner.catalog())
        {
            self.examples = examples;
            self.shown_at = Instant::now();
            show(self, status, finished);
        }
    }
}

/// What the reader thread and [`StdinInput::bind`] share.
struct Shared {
    /// `None` when no input reads stdin.
    bound: Option<Bound>,
    /// stdin has ended (or failed): the binding shows as finished.
    finished: bool,
}

/// The lock on [`Shared`]; a panic while it was held leaves nothing half
/// done that counting cannot go on from.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The stdin input: one reader thread for the process's life (stdin cannot
/// be reopened), bound at each (re)load to the current catalogue and
/// handles, or to nothing when no input reads stdin.
pub struct StdinInput {
    shared: Arc<Mutex<Shared>>,
    status: Arc<DaemonStatus>,
    max_line_bytes: usize,
    /// What the reader will read, until it starts: stdin, or a test's
    /// source.
    source: Mutex<Option<Source>>,
    /// The stage the reader runs in: it stops when the stage is cancelled,
    /// and the stage's tracker awaits it.
    stage: Stage,
}

impl StdinInput {
    /// No binding yet; the reader starts in `stage` at the first
    /// [`StdinInput::bind`] that finds a stdin input.
    pub fn new(status: Arc<DaemonStatus>, max_line_bytes: usize, stage: &Stage) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                bound: None,
                finished: false,
            })),
            status,
            max_line_bytes,
            source: Mutex::new(Some(Source::Stdin)),
            stage: stage.clone(),
        }
    }

    /// As [`StdinInput::new`], reading `source` instead of stdin.
    #[cfg(test)]
    pub(crate) fn reading(
        status: Arc<DaemonStatus>,
        max_line_bytes: usize,
        stage: &Stage,
        source: impl Read + Send + 'static,
    ) -> Self {
        let input = Self::new(status, max_line_bytes, stage);
        *input.source.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Source::Reader(Box::new(source)));
        input
    }

    /// Binds stdin to `config`'s stdin input, if any, starting the reader
    /// the first time one exists. Waits out a chunk being counted: once it
    /// returns, the old binding's handles are no longer used.
    pub fn bind(&self, config: &Config, catalog: &Arc<Catalog>, metrics: &Metrics) {
        let input = config.inputs.iter().find(|input| input.reads_stdin());
        let mut new = input.map(|input| {
            let zone = config.record_zone();
            let mut tally = Tally::new(catalog.len()).with_recent(
                Latest::new(TimeReader::new(zone.clone())),
                RecentRecords::new(
                    TimeReader::new(zone),
                    catalog.len(),
                    config.status_page_show_lines,
                ),
            );
            tally.set_file(Path::new(STDIN_PATH));
            Bound {
                name: input.name.clone(),
                scanner: Scanner::new(Arc::clone(catalog)),
                metrics: metrics.input(&input.name, catalog),
                tally,
                examples: Arc::default(),
                shown_at: Instant::now(),
            }
        });
        {
            let mut shared = lock(&self.shared);
            let finished = shared.finished;
            if let Some(old) = &mut shared.bound {
                old.metrics.publish(&mut old.tally);
                // Its copies not read yet, read for the binding that
                // goes on from them.
                old.show_examples(&self.status, finished, true);
                old.metrics.files_watched.set(0);
            }
            if let Some(bound) = &mut new {
                bound.resume_examples(&self.status);
            }
            shared.bound = new;
            if let Some(bound) = &shared.bound {
                show(bound, &self.status, finished);
            }
        }
        if input.is_none() {
            return;
        }
        let source = self
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(source) = source else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        let status = Arc::clone(&self.status);
        let max_line_bytes = self.max_line_bytes;
        let (stop, running) = (self.stage.token().clone(), self.stage.tasks().token());
        let spawned = std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                read(source, &shared, &status, max_line_bytes, &stop);
                drop(running);
            });
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot start the stdin reader");
        }
    }
}

/// Shows `bound` in `errtally_files_watched` and on the status page.
fn show(bound: &Bound, status: &DaemonStatus, finished: bool) {
    bound.metrics.files_watched.set(i64::from(!finished));
    status.set_input(
        &bound.name,
        InputStatus {
            patterns: vec![STDIN_PATH.to_string()],
            files: Vec::new(),
            finished,
            examples: Arc::clone(&bound.examples),
        },
    );
}

/// The reader thread: reads `source` to its end or until `stop`, counting
/// each chunk with whatever binding `shared` holds once the chunk has
/// arrived (a reload while the read waited counts it with the new binding:
/// the old one's series may be gone). Each chunk is published as it is
/// counted, so a stop loses only an unfinished last line, which the
/// process could not have completed anyway.
fn read(
    mut source: Source,
    shared: &Mutex<Shared>,
    status: &DaemonStatus,
    max_line_bytes: usize,
    stop: &CancellationToken,
) {
    let mut lines = LineReader::new(max_line_bytes);
    let mut buf = vec![0; STDIN_READ_SIZE];
    loop {
        let idle = || {
            let mut shared = lock(shared);
            let finished = shared.finished;
            if let Some(bound) = &mut shared.bound {
                bound.show_examples(status, finished, true);
            }
        };
        if !source.wait(stop, idle) {
            tracing::info!("stdin reader stopped");
            return;
        }
        let read = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                if let Some(bound) = &lock(shared).bound {
                    bound.metrics.read_errors.inc();
                }
                tracing::error!(%error, "cannot read stdin; it is no longer followed");
                break;
            }
        };
        match &mut lock(shared).bound {
            Some(bound) => {
                lines.count(&buf[..read], &mut bound.scanner, &mut bound.tally);
                bound.metrics.publish(&mut bound.tally);
                bound.show_examples(status, false, false);
            }
            // Unbound: keep framing so that a later binding starts at a
            // line boundary, count nothing.
            None => lines.skip(&buf[..read]),
        }
    }
    let mut shared = lock(shared);
    shared.finished = true;
    if let Some(bound) = &mut shared.bound {
        lines.finish(&mut bound.scanner, &mut bound.tally);
        bound.metrics.publish(&mut bound.tally);
        bound.show_examples(status, true, true);
        show(bound, status, true);
    }
    tracing::info!("stdin reached its end; metrics are still served");
}

/// Readers for tests.
#[cfg(test)]
pub(crate) mod test_source {
    use std::io::{self, Read};

    /// Lines without end, never blocking: each chunk holds uncatalogued
    /// errors of one status, the next chunk another (400 to 499 in turn),
    /// so a binding keeps making series as it publishes.
    #[derive(Default)]
    pub(crate) struct Endless(u64);

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0 += 1;
            let status = 400 + self.0 % 100;
            let line =
                format!("{{\"status_code\":{status},\"error_type\":\"gadget_not_found\"}}\n");
            let mut written = 0;
            while written + line.len() <= buf.len().min(64 << 10) {
                buf[written..written + line.len()].copy_from_slice(line.as_bytes());
                written += line.len();
            }
            Ok(written)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::test_source::Endless;
    use super::*;
    use crate::config::InputConfig;

    fn config(stdin: bool) -> Config {
        let mut config = Config::default();
        if stdin {
            config
                .add_cli_inputs(&[], true, crate::config::StartAt::End)
                .unwrap();
        }
        config
    }

    #[test]
    fn once_bind_returns_the_old_binding_counts_nothing_more() {
        let catalog = Arc::new(Catalog::builtin().unwrap());
        let metrics = Metrics::new().unwrap();
        let status = Arc::new(DaemonStatus::new(Arc::clone(&catalog)));
        let stage = Stage::under(&CancellationToken::new());
        let stdin = StdinInput::reading(status, 1 << 20, &stage, Endless::default());
        let (with, without) = (config(true), config(false));
        let name = with
            .inputs
            .iter()
            .find(|input: &&InputConfig| input.reads_stdin())
            .unwrap()
            .name
            .clone();
        let shows = |metrics: &Metrics| {
            String::from_utf8(metrics.render())
                .unwrap()
                .contains(&format!("source=\"{name}\""))
        };
        for round in 0..200 {
            stdin.bind(&with, &catalog, &metrics);
            while !shows(&metrics) {
                std::thread::yield_now();
            }
            // What a reload that drops the stdin input does.
            stdin.bind(&without, &catalog, &metrics);
            metrics.forget_input(&name);
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert!(!shows(&metrics), "a zombie series in round {round}");
        }
    }
}
