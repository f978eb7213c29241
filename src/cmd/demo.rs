//! `errtally demo`: synthetic Stytch logs written at a steady rate to a
//! temporary file, so a newcomer sees live numbers with no setup.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::catalog::Catalog;
use crate::cmd::corpus::RecordGenerator;

/// A running log writer. Dropping it removes its directory (the writer
/// thread's next write then fails and it stops).
#[derive(Debug)]
pub struct Demo {
    log_path: PathBuf,
    /// Removed when the demo ends.
    _dir: tempfile::TempDir,
}

impl Demo {
    /// The file being written.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

/// Starts writing `rate` lines per second to a new file in the temp dir.
pub fn start(rate: u32) -> anyhow::Result<Demo> {
    let dir = tempfile::Builder::new()
        .prefix("errtally-demo-")
        .tempdir()?;
    let log_path = dir.path().join("stytch-api.log");
    let mut file = File::create(&log_path)?;
    let types = Catalog::builtin()?.error_types();
    let mut generator = RecordGenerator::new(
        1,
        types,
        crate::read::frame::DEFAULT_MAX_LINE_BYTES,
        10,
        false,
    );
    let rate = rate.max(1);
    std::thread::Builder::new()
        .name("demo-writer".into())
        .spawn(move || {
            if let Err(error) = write_steadily(&mut file, &mut generator, rate) {
                tracing::error!(%error, "demo log writer stopped");
            }
        })?;
    Ok(Demo {
        log_path,
        _dir: dir,
    })
}

/// Writes batches every 100 ms so that `rate` lines per second arrive.
fn write_steadily(file: &mut File, generator: &mut RecordGenerator, rate: u32) -> io::Result<()> {
    let tick = Duration::from_millis(100);
    let started = Instant::now();
    let mut written: u64 = 0;
    let mut batch = Vec::new();
    loop {
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as u64;
        batch.clear();
        while written < due {
            generator.next_record(&mut batch);
            written += 1;
        }
        file.write_all(&batch)?;
        std::thread::sleep(tick);
    }
}
