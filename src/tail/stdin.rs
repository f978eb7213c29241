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

use arc_swap::ArcSwapOption;

use crate::catalog::Catalog;
use crate::metrics::InputMetrics;
use crate::read::LineReader;
use crate::scan::{Scanner, Tally};
use crate::status::{DaemonStatus, InputStatus};

/// Size of one read from stdin: small enough that a slow pipe's lines show
/// up at once (a read returns whatever is there), large enough for a fast one.
const STDIN_READ_SIZE: usize = 256 << 10;

/// What the stdin input counts with, as of the last (re)load.
pub struct StdinBinding {
    /// The input's name (the `source` label).
    pub name: String,
    /// The catalogue to classify against.
    pub catalog: Arc<Catalog>,
    /// The input's counter handles.
    pub metrics: InputMetrics,
}

/// The binding the stdin thread follows; `None` when no input reads stdin.
pub type StdinControl = ArcSwapOption<StdinBinding>;

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
pub fn spawn(
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
