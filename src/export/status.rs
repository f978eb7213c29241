//! What the daemon is doing, for people: inputs, their files and lag,
//! readiness, and the last hour of counts. Written by the input tasks once
//! per poll (never per line) and by the status page's sampler every 10 s;
//! read by the status page and `/-/ready`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::catalog::Catalog;
use crate::export::status_page::history::{History, SLOTS};
use crate::scan::recent::{Example, RecentRecords};
use crate::time::Stamp;

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
    /// The latest examples of each catalogued type it counted.
    pub examples: Arc<Vec<TypeExamples>>,
}

/// The latest examples of one catalogued type an input counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeExamples {
    /// The type.
    pub error_type: String,
    /// Its examples, latest first.
    pub examples: Vec<Example>,
}

impl TypeExamples {
    /// Hands `shown` (what an input's previous reader showed) to `recent`,
    /// by type name: a reloaded catalogue may number its types anew, and
    /// drops some.
    pub fn resume(shown: &[Self], catalog: &Catalog, recent: &mut RecentRecords) {
        for of_type in shown {
            if let Some(slot) = catalog.index_of(of_type.error_type.as_bytes()) {
                recent.resume(slot, &of_type.examples);
            }
        }
    }

    /// The examples `recent` read since it last said so (untimed ones
    /// taking now as their time), named from `catalog`, by name; `None`
    /// when nothing changed.
    pub fn read(recent: &mut RecentRecords, catalog: &Catalog) -> Option<Arc<Vec<Self>>> {
        let mut named: Vec<Self> = recent
            .examples(Stamp::now())?
            .into_iter()
            .filter_map(|(index, examples)| {
                Some(Self {
                    error_type: catalog.entry(index)?.error_type.clone(),
                    examples,
                })
            })
            .collect();
        named.sort_by(|a, b| a.error_type.cmp(&b.error_type));
        Some(Arc::new(named))
    }
}

/// One input as the status page lists it: totals over all its files, and
/// only the few files worth a look, so a page stays small at thousands of
/// files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct InputSummary {
    /// Paths or globs it follows (`-` for stdin).
    pub patterns: Vec<String>,
    /// How many files it has open.
    pub(crate) file_count: usize,
    /// Bytes written but not read yet, over all its files.
    pub lag: u64,
    /// At most the requested number of files: the most lag first, then by
    /// path.
    pub files: Vec<FileStatus>,
    /// True once stdin reached its end.
    pub finished: bool,
    /// The latest examples of each catalogued type it counted.
    pub examples: Arc<Vec<TypeExamples>>,
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
    history: Arc<History>,
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
            history: Arc::new(History::new(SLOTS)),
        }
    }

    /// True once the catalogue is loaded and every input has opened its
    /// files, while none is down.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && self
                .down
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
    }

    /// Marks an input as down (not opened yet, or failed) or following.
    pub(crate) fn set_input_down(&self, name: &str, down: bool) {
        let mut inputs = self.down.lock().unwrap_or_else(PoisonError::into_inner);
        if down {
            inputs.insert(name.to_string());
        } else {
            inputs.remove(name);
        }
    }

    /// Marks the daemon ready (or not, while a reload swaps the inputs).
    pub(crate) fn set_ready(&self, ready: bool) {
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

    /// The examples input `name` showed last (none if it is unknown).
    pub fn examples_of(&self, name: &str) -> Arc<Vec<TypeExamples>> {
        let inputs = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
        inputs
            .get(name)
            .map(|input| Arc::clone(&input.examples))
            .unwrap_or_default()
    }

    /// Forgets inputs not in `keep` (after a reload).
    pub(crate) fn retain_inputs(&self, keep: &[String]) {
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

    /// Every input with its totals and at most `limit` of its files, those
    /// with the most lag first. Copies only what it returns.
    pub(crate) fn input_summaries(&self, limit: usize) -> BTreeMap<String, InputSummary> {
        let inputs = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
        inputs
            .iter()
            .map(|(name, input)| {
                let most_lag_first = |a: &&FileStatus, b: &&FileStatus| {
                    b.lag().cmp(&a.lag()).then_with(|| a.path.cmp(&b.path))
                };
                let mut files: Vec<&FileStatus> = input.files.iter().collect();
                if files.len() > limit && limit > 0 {
                    files.select_nth_unstable_by(limit - 1, most_lag_first);
                }
                files.truncate(limit);
                files.sort_by(most_lag_first);
                let summary = InputSummary {
                    patterns: input.patterns.clone(),
                    file_count: input.files.len(),
                    lag: input
                        .files
                        .iter()
                        .fold(0u64, |sum, file| sum.saturating_add(file.lag())),
                    files: files.into_iter().cloned().collect(),
                    finished: input.finished,
                    examples: Arc::clone(&input.examples),
                };
                (name.clone(), summary)
            })
            .collect()
    }

    /// The last hour of counts, for the status page.
    pub fn history(&self) -> &Arc<History> {
        &self.history
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(path: &str, offset: u64, size: u64) -> FileStatus {
        FileStatus {
            path: PathBuf::from(path),
            offset,
            size,
        }
    }

    #[test]
    fn summaries_keep_the_files_with_the_most_lag_and_total_them_all() {
        let status = DaemonStatus::new(Arc::new(Catalog::builtin().unwrap()));
        let files = vec![
            file("/d", 0, 5),
            file("/a", 10, 10),
            file("/c", 0, 7),
            file("/b", 3, 10),
        ];
        status.set_input(
            "api",
            InputStatus {
                patterns: vec!["/*".to_string()],
                files,
                finished: false,
                examples: Arc::default(),
            },
        );
        let summary = |limit| status.input_summaries(limit).remove("api").unwrap();
        let two = summary(2);
        assert_eq!((two.file_count, two.lag), (4, 19));
        assert_eq!(two.files, [file("/b", 3, 10), file("/c", 0, 7)]);
        // Equal lag: by path.
        let all = summary(10);
        let paths: Vec<_> = all.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(paths, ["/b", "/c", "/d", "/a"].map(PathBuf::from));
        let none = summary(0);
        assert_eq!((none.file_count, none.files.len()), (4, 0));
    }
}
