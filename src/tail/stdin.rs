//! The stdin input: counts lines as they arrive, until end of input.
//!
//! A plain thread, not a tokio task: a blocking read of stdin cannot be
//! cancelled, and a thread that is still blocked at shutdown simply ends
//! with the process instead of holding up the runtime.
//!
//! stdin cannot be reopened, so a reload does not restart the thread: it
//! swaps the thread's [`StdinBinding`] (catalogue and counter handles), which
//! the thread picks up before its next chunk. A reload that drops the stdin
//! input unbinds it: lines are still read, so the writer is not blocked, but
//! counted nowhere.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwapOption;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::export::metrics::{InputMetrics, Metrics};
use crate::export::status::{DaemonStatus, InputStatus};
use crate::read::LineReader;
use crate::scan::{Scanner, Tally};

/// Size of one read from stdin: small enough that a slow pipe's lines show
/// up at once (a read returns whatever is there), large enough for a fast one.
const STDIN_READ_SIZE: usize = 256 << 10;

/// What the stdin input counts with, as of the last (re)load.
struct StdinBinding {
    /// The input's name (the `source` label).
    name: String,
    /// The catalogue to classify against.
    catalog: Arc<Catalog>,
    /// The input's counter handles.
    metrics: InputMetrics,
}

/// The binding the stdin thread follows; `None` when no input reads stdin.
type StdinControl = ArcSwapOption<StdinBinding>;

/// The stdin input: one reader thread for the process's life (stdin cannot
/// be reopened), bound at each (re)load to the current catalogue and
/// handles, or to nothing when no input reads stdin.
pub struct StdinInput {
    control: Arc<StdinControl>,
    status: Arc<DaemonStatus>,
    max_line_bytes: usize,
    started: AtomicBool,
}

impl StdinInput {
    /// No binding yet; the reader starts at the first [`StdinInput::bind`]
    /// that finds a stdin input.
    pub fn new(status: Arc<DaemonStatus>, max_line_bytes: usize) -> Self {
        Self {
            control: Arc::new(StdinControl::empty()),
            status,
            max_line_bytes,
            started: AtomicBool::new(false),
        }
    }

    /// Binds stdin to `config`'s stdin input, if any, starting the reader
    /// the first time one exists.
    pub fn bind(&self, config: &Config, catalog: &Arc<Catalog>, metrics: &Metrics) {
        let Some(input) = config.inputs.iter().find(|input| input.reads_stdin()) else {
            self.control.store(None);
            return;
        };
        self.control.store(Some(Arc::new(StdinBinding {
            name: input.name.clone(),
            catalog: Arc::clone(catalog),
            metrics: metrics.input(&input.name, catalog),
        })));
        if self.started.load(Ordering::Acquire) {
            return;
        }
        match spawn(
            Arc::clone(&self.control),
            Arc::clone(&self.status),
            self.max_line_bytes,
        ) {
            Ok(_) => self.started.store(true, Ordering::Release),
            Err(error) => tracing::error!(%error, "cannot start the stdin reader"),
        }
    }
}

/// The thread's working copy of a binding.
struct Bound {
    binding: Arc<StdinBinding>,
    scanner: Scanner,
    metrics: InputMetrics,
    tally: Tally,
}

impl Bound {
    fn new(binding: Arc<StdinBinding>) -> Self {
        Self {
            scanner: Scanner::new(Arc::clone(&binding.catalog)),
            metrics: binding.metrics.clone(),
            tally: Tally::new(binding.catalog.len()),
            binding,
        }
    }
}

/// Starts reading stdin on its own thread, counting with whatever `control`
/// holds at each chunk.
fn spawn(
    control: Arc<StdinControl>,
    status: Arc<DaemonStatus>,
    max_line_bytes: usize,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut lines = LineReader::new(max_line_bytes);
            let mut buf = vec![0; STDIN_READ_SIZE];
            let mut stdin = io::stdin().lock();
            let mut bound: Option<Bound> = None;
            loop {
                rebind(&control, &mut bound, &status, false);
                let read = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => {
                        if let Some(bound) = &bound {
                            bound.metrics.read_errors.inc();
                        }
                        tracing::error!(%error, "cannot read stdin; it is no longer followed");
                        break;
                    }
                };
                // A reload while the read blocked counts these bytes with
                // the new binding: the old one's series may be gone.
                rebind(&control, &mut bound, &status, false);
                match &mut bound {
                    Some(Bound {
                        scanner,
                        metrics,
                        tally,
                        ..
                    }) => {
                        lines.count(&buf[..read], scanner, tally);
                        metrics.publish(tally);
                    }
                    // Unbound: keep framing so that a later binding starts
                    // at a line boundary, count nothing.
                    None => lines.skip(&buf[..read]),
                }
            }
            if let Some(Bound {
                scanner,
                metrics,
                tally,
                ..
            }) = &mut bound
            {
                lines.finish(scanner, tally);
                metrics.publish(tally);
            }
            rebind(&control, &mut bound, &status, true);
            tracing::info!("stdin reached its end; metrics are still served");
        })
}

/// Follows a new binding, if the control holds one the thread is not bound
/// to: what the old one counted is published first, under the old handles.
fn rebind(
    control: &StdinControl,
    bound: &mut Option<Bound>,
    status: &DaemonStatus,
    finished: bool,
) {
    let current = control.load_full();
    let same = match (&current, &*bound) {
        (Some(current), Some(bound)) => Arc::ptr_eq(current, &bound.binding),
        (None, None) => true,
        _ => false,
    };
    if same && !finished {
        return;
    }
    if let Some(old) = bound.as_mut().filter(|_| !same) {
        old.metrics.publish(&mut old.tally);
        old.metrics.files_watched.set(0);
    }
    if !same {
        *bound = current.map(Bound::new);
    }
    if let Some(bound) = bound {
        bound.metrics.files_watched.set(i64::from(!finished));
        status.set_input(
            &bound.binding.name,
            InputStatus {
                patterns: vec!["-".to_string()],
                files: Vec::new(),
                finished,
            },
        );
    }
}
