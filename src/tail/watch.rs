//! Watching files for the inputs and the config: which directory to watch
//! for each glob (its literal prefix; the directories below it come from
//! the input's listing, [`crate::walk`]), and how a notification wakes an
//! input (a write reads just that file; anything else, a rescan; an error
//! or lost events, a rescan of every input).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::Wake;
use crate::config::WatchMode;
use crate::export::metrics::Metrics;

/// The directory to watch for a glob: its longest leading part without
/// glob characters (for a plain path, its parent directory), made absolute
/// against the working directory, since notify reports absolute paths.
pub fn watch_dir(pattern: &str) -> PathBuf {
    let mut dir = PathBuf::new();
    let mut literal = true;
    for component in Path::new(pattern).components() {
        let text = component.as_os_str().to_string_lossy();
        if text.contains(['*', '?', '[']) {
            literal = false;
            break;
        }
        dir.push(component);
    }
    if literal {
        dir.pop();
    }
    if dir.as_os_str().is_empty() {
        dir.push(".");
    }
    absolute(&dir)
}

/// A watched directory and the wake of the input that reads it.
pub type Route = (PathBuf, Arc<Wake>);

/// The inotify watches of one pipeline of inputs, shared by its inputs.
///
/// Each input asks for the directories its files are in (a glob such as
/// `/var/log/pods/*/*/*.log` spans many) after each rescan, and drops the
/// ones it no longer needs; a directory two inputs need is watched once
/// and dropped when neither needs it. Events wake the input whose glob's
/// literal prefix ([`watch_dir`]) holds the event's path.
pub struct DirWatches {
    inner: Mutex<WatchSet>,
}

struct WatchSet {
    /// None when inotify is unavailable: every input polls.
    watcher: Option<notify::RecommendedWatcher>,
    /// How many inputs want each watched directory.
    wanted_by: HashMap<PathBuf, usize>,
    /// Whether a failed watch was logged already (once per pipeline).
    warned: bool,
    /// `watch = "inotify"`: a directory that cannot be watched is an error.
    required: bool,
}

impl DirWatches {
    /// A watcher routing events to the inputs' wakes by `routes`. Without
    /// inotify (or past its limits, or with `watch = "poll"`) inputs poll.
    pub fn new(routes: Vec<Route>, metrics: &Metrics, mode: WatchMode) -> Arc<Self> {
        let watcher = if routes.is_empty() || mode == WatchMode::Poll {
            None
        } else {
            let metrics = metrics.clone();
            let handler =
                move |event: notify::Result<notify::Event>| route_event(event, &routes, &metrics);
            match notify::recommended_watcher(handler) {
                Ok(watcher) => Some(watcher),
                Err(error) => {
                    tracing::warn!(%error, "file notifications unavailable; polling instead");
                    None
                }
            }
        };
        Arc::new(Self {
            inner: Mutex::new(WatchSet {
                watcher,
                wanted_by: HashMap::new(),
                warned: false,
                required: mode == WatchMode::Inotify,
            }),
        })
    }

    /// Watches `dir` for one more input. False when it cannot be watched
    /// (missing, no inotify, past `max_user_watches`): the input then
    /// keeps rescanning every `poll_interval`.
    pub fn add(&self, dir: &Path) -> bool {
        let mut set = self.lock();
        if let Some(count) = set.wanted_by.get_mut(dir) {
            *count += 1;
            return true;
        }
        let Some(watcher) = set.watcher.as_mut() else {
            return false;
        };
        match watcher.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                set.wanted_by.insert(dir.to_path_buf(), 1);
                true
            }
            Err(error) => {
                if !set.warned {
                    set.warned = true;
                    let message = "cannot watch some directories; polling them instead (a missing one is looked for every poll_interval; past fs.inotify.max_user_watches, raise it)";
                    if set.required {
                        tracing::error!(dir = %dir.display(), %error, "{message}");
                    } else {
                        tracing::warn!(dir = %dir.display(), %error, "{message}");
                    }
                }
                false
            }
        }
    }

    /// Drops one input's interest in `dir`; the watch goes with the last.
    pub fn remove(&self, dir: &Path) {
        let mut set = self.lock();
        let Some(count) = set.wanted_by.get_mut(dir) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            set.wanted_by.remove(dir);
            if let Some(watcher) = set.watcher.as_mut() {
                // Gone with its directory already, most of the time.
                let _ = watcher.unwatch(dir);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchSet> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wakes the inputs an event concerns. An error, or an event that says
/// events were lost (inotify's queue overflow: notify's rescan flag, no
/// path), wakes every input for a full rescan and is counted, since any of
/// their files may have changed unseen.
fn route_event(event: notify::Result<notify::Event>, routes: &[Route], metrics: &Metrics) {
    let event = match event {
        Ok(event) if !event.need_rescan() && !event.paths.is_empty() => event,
        lost => {
            match lost {
                Err(error) => {
                    tracing::warn!(%error, "file notification error; rescanning every input")
                }
                Ok(_) => tracing::warn!("file notifications were lost; rescanning every input"),
            }
            metrics.count_watch_error();
            for (_, wake) in routes {
                wake.wake_for_rescan();
            }
            return;
        }
    };
    match event.kind {
        EventKind::Access(_) => {}
        // New data in a file: read that file, not all the input's.
        EventKind::Modify(notify::event::ModifyKind::Data(_)) => {
            for path in &event.paths {
                for (dir, wake) in routes {
                    if path.starts_with(dir) {
                        wake.wake_file(path);
                    }
                }
            }
        }
        // Files may have appeared, moved or gone.
        _ => {
            for (dir, wake) in routes {
                if event.paths.iter().any(|path| path.starts_with(dir)) {
                    wake.wake_for_rescan();
                }
            }
        }
    }
}

/// Watches `files` (through their directories, so editors that replace a
/// file by renaming are seen) and sends on `changed` when one changes.
pub fn watch_files(
    files: &[PathBuf],
    changed: mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    if files.is_empty() {
        return None;
    }
    let names: Vec<PathBuf> = files.iter().map(|file| absolute(file)).collect();
    let targets = names.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|path| is_config_change(path, &targets))
        {
            let _ = changed.try_send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "cannot watch the config for changes; reload with SIGHUP");
            return None;
        }
    };
    for name in &names {
        if let Some(dir) = name.parent()
            && let Err(error) = watcher.watch(dir, RecursiveMode::NonRecursive)
        {
            tracing::warn!(dir = %dir.display(), %error, "cannot watch for config changes; reload with SIGHUP");
        }
    }
    Some(watcher)
}

/// Whether an event at `path` changes one of the watched `files`: the file
/// itself, or the `..data` link beside it that a Kubernetes ConfigMap
/// volume swaps to update every file at once (the files are links through
/// it, so the swap raises no event at their own paths).
fn is_config_change(path: &Path, files: &[PathBuf]) -> bool {
    files.iter().any(|file| {
        path == file
            || (path.file_name() == Some(std::ffi::OsStr::new("..data"))
                && path.parent() == file.parent())
    })
}

/// `pattern` made absolute against the working directory and written the
/// way the watcher reports paths (no `.` components, single slashes), so
/// that the files it matches compare equal to the paths of file events.
pub fn absolute_pattern(pattern: &str) -> String {
    let normal: PathBuf = absolute(Path::new(pattern)).components().collect();
    normal.to_string_lossy().into_owned()
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn watch_dir_is_the_literal_prefix_of_a_glob() {
        assert_eq!(
            watch_dir("/var/log/api/*.log"),
            PathBuf::from("/var/log/api")
        );
        assert_eq!(watch_dir("/var/log/*/app.log"), PathBuf::from("/var/log"));
        assert_eq!(watch_dir("/var/log/app.log"), PathBuf::from("/var/log"));
    }

    /// Two inputs' wakes, routed from `/logs/a` and `/logs/b`.
    fn two_inputs() -> (Arc<Wake>, Arc<Wake>, Vec<Route>) {
        let (a, b) = (Arc::new(Wake::default()), Arc::new(Wake::default()));
        let routes = vec![
            (PathBuf::from("/logs/a"), Arc::clone(&a)),
            (PathBuf::from("/logs/b"), Arc::clone(&b)),
        ];
        (a, b, routes)
    }

    #[test]
    fn an_event_wakes_only_the_input_of_its_directory() {
        let metrics = Metrics::new().unwrap();
        let (a, b, routes) = two_inputs();
        let created = notify::Event::new(EventKind::Create(notify::event::CreateKind::File))
            .add_path(PathBuf::from("/logs/a/new.log"));
        route_event(Ok(created), &routes, &metrics);
        assert!(a.take_rescan());
        assert!(!b.take_rescan());
        assert_eq!(
            metrics.series_line("errtally_watch_errors_total "),
            "errtally_watch_errors_total 0"
        );
    }

    #[test]
    fn lost_events_and_errors_rescan_every_input_and_are_counted() {
        let metrics = Metrics::new().unwrap();
        let (a, b, routes) = two_inputs();
        let overflow = notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        route_event(Ok(overflow), &routes, &metrics);
        assert!(a.take_rescan() && b.take_rescan());
        route_event(
            Err(notify::Error::generic("watch limit")),
            &routes,
            &metrics,
        );
        assert!(a.take_rescan() && b.take_rescan());
        assert_eq!(
            metrics.series_line("errtally_watch_errors_total "),
            "errtally_watch_errors_total 2"
        );
    }

    #[test]
    fn patterns_are_absolute_and_normal() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            absolute_pattern("./logs//*.log"),
            cwd.join("logs/*.log").to_string_lossy()
        );
        assert_eq!(absolute_pattern("/var/./log/*.log"), "/var/log/*.log");
    }

    #[test]
    fn relative_globs_are_watched_from_the_working_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(watch_dir("logs/a?.log"), cwd.join("logs"));
        assert_eq!(watch_dir("./logs/*.log"), cwd.join("logs"));
        assert_eq!(watch_dir("*.log"), cwd);
        assert_eq!(watch_dir("app.log"), cwd);
    }
}
