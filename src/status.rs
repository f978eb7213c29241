//! What the daemon is doing, for people: inputs, their files and lag, and
//! readiness. Written by the input tasks once per poll (never per line),
//! read by the HTTP status page and `/-/ready`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::catalog::Catalog;

/// One open file of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// The path it was found at.
    pub path: PathBuf,
    /// Bytes read and counted (end of the last complete line).
    pub offset: u64,
    /// Its size at the last look.
    pub size: u64,
}

impl FileStatus {
    /// Bytes written but not read yet.
    pub fn lag(&self) -> u64 {
        self.size.saturating_sub(self.offset)
    }
}

/// One input as the status page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputStatus {
    /// Paths or globs it follows (`-` for stdin).
    pub patterns: Vec<String>,
    /// Its open files.
    pub files: Vec<FileStatus>,
    /// True once stdin reached its end.
    pub finished: bool,
}

/// Shared daemon state for the HTTP layer.
#[derive(Debug)]
pub struct DaemonStatus {
    ready: AtomicBool,
    /// Inputs not following their files: not opened yet, or failed and
    /// waiting for their restart.
    down: Mutex<std::collections::BTreeSet<String>>,
    started: SystemTime,
    inputs: Mutex<BTreeMap<String, InputStatus>>,
    catalog: Mutex<Arc<Catalog>>,
}

impl DaemonStatus {
    /// Not ready yet, with `catalog` in effect.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            ready: AtomicBool::new(false),
            down: Mutex::new(std::collections::BTreeSet::new()),
            started: SystemTime::now(),
            inputs: Mutex::new(BTreeMap::new()),
            catalog: Mutex::new(catalog),
        }
    }

    /// True once the catalogue is loaded and every input has opened its
    /// files, while none is down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && self
                .down
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
    }

    /// Marks an input as down (not opened yet, or failed) or following.
    pub fn set_input_down(&self, name: &str, down: bool) {
        let mut inputs = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        if down {
            inputs.insert(name.to_string());
        } else {
            inputs.remove(name);
        }
    }

    /// Marks the daemon ready (or not, while a reload swaps the inputs).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// When the daemon started.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// Replaces what is known of one input.
    pub fn set_input(&self, name: &str, status: InputStatus) {
        let mut inputs = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
        inputs.insert(name.to_string(), status);
    }

    /// Forgets inputs not in `keep` (after a reload).
    pub fn retain_inputs(&self, keep: &[String]) {
        let mut inputs = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
        inputs.retain(|name, _| keep.contains(name));
        let mut down = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        down.retain(|name| keep.contains(name));
    }

    /// A copy of every input's status, by name.
    pub fn inputs(&self) -> BTreeMap<String, InputStatus> {
        self.inputs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The catalogue in effect.
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Swaps in a reloaded catalogue.
    pub fn set_catalog(&self, catalog: Arc<Catalog>) {
        *self.catalog.lock().unwrap_or_else(PoisonError::into_inner) = catalog;
    }
}
