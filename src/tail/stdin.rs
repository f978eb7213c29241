//! The stdin input: counts lines as they arrive, until end of input.
//!
//! A plain thread, not a tokio task: a blocking read of stdin cannot be
//! cancelled, and a thread that is still blocked at shutdown simply ends
//! with the process instead of holding up the runtime.

use std::io::{self, Read};
use std::sync::Arc;

use crate::frame::LineFramer;
use crate::metrics::InputMetrics;
use crate::scan::{Scanner, Tally};
use crate::status::{DaemonStatus, InputStatus};

/// Size of one read from stdin: small enough that a slow pipe's lines show
/// up at once (a read returns whatever is there), large enough for a fast one.
const STDIN_READ_SIZE: usize = 256 << 10;

/// Starts reading stdin on its own thread.
pub fn spawn(
    name: String,
    mut scanner: Scanner,
    mut metrics: InputMetrics,
    status: Arc<DaemonStatus>,
    max_line_bytes: usize,
) -> io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut tally = Tally::new(scanner.catalog().len());
            let mut framer = LineFramer::new(max_line_bytes);
            let mut buf = vec![0; STDIN_READ_SIZE];
            let mut stdin = io::stdin().lock();
            let report = |finished: bool| InputStatus {
                patterns: vec!["-".to_string()],
                files: Vec::new(),
                finished,
            };
            status.set_input(&name, report(false));
            metrics.files_watched.set(1);
            loop {
                let read = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => {
                        metrics.read_errors.inc();
                        tracing::error!(%error, "cannot read stdin; it is no longer followed");
                        break;
                    }
                };
                framer.frame(&buf[..read], |chunk| scanner.scan_chunk(chunk, &mut tally));
                tally.bytes += read as u64;
                metrics.publish(&mut tally);
            }
            if let Some(last) = framer.finish() {
                scanner.scan_record(last, &mut tally);
            }
            metrics.publish(&mut tally);
            metrics.files_watched.set(0);
            status.set_input(&name, report(true));
            tracing::info!("stdin reached its end; metrics are still served");
        })
}
