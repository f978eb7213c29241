//! The running file inputs of one configuration: one supervised task per
//! input, under a child of the daemon's inputs [`Stage`] (see
//! [`crate::lifecycle`]) and a task tracker of its own.
//!
//! A reload replaces the whole pipeline: the old one is stopped and awaited
//! before its successor starts, so two inputs never publish counts or
//! offsets for the same files. An input that fails (its task ends with
//! [`InputEnd::Failed`]) is restarted with exponential backoff, and shows as
//! down in `errtally_input_up` and `/-/ready` meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Wake;
use super::budget::DescriptorBudget;
use super::input::{FileInput, InputEnd, InputParts};
use super::watch::{DirWatches, Route, absolute_pattern, watch_dir};
use crate::catalog::Catalog;
use crate::checkpoint::OffsetBoard;
use crate::config::{Config, InputConfig, InputPath};
use crate::export::metrics::Metrics;
use crate::export::status::DaemonStatus;
use crate::lifecycle::{STOP_TIMEOUT, Stage};
use crate::scan::Scanner;

/// The running file inputs of one configuration.
pub struct Pipeline {
    /// Cancels every task of the pipeline; polls in progress on the
    /// blocking pool check it too (`is_cancelled()`, an atomic load)
    /// between files and buffers.
    cancel: CancellationToken,
    /// Owns every task of the pipeline, so stopping can await them all
    /// (they count in the inputs stage's tracker too).
    tracker: TaskTracker,
    /// Keeps the inotify watches alive (the inputs hold it too).
    _watches: Option<Arc<DirWatches>>,
}

/// The config's file inputs, each with its globs made absolute and the
/// wake its watches and polls share.
fn file_inputs(config: &Config) -> Vec<(&InputConfig, Vec<String>, Arc<Wake>)> {
    config
        .inputs
        .iter()
        .filter(|input| !input.reads_stdin())
        .map(|input| {
            let patterns = input
                .paths
                .iter()
                .filter_map(|path| match path {
                    InputPath::Glob(pattern) => Some(absolute_pattern(pattern)),
                    InputPath::Stdin => None,
                })
                .collect();
            (input, patterns, Arc::new(Wake::default()))
        })
        .collect()
}

impl Pipeline {
    /// Starts one task per file input of `config` (stdin is started once,
    /// by the daemon, since it cannot be reopened), under a child of the
    /// `inputs` stage's token and in its tracker. The inputs stop when the
    /// stage is cancelled (shutdown), or when [`Pipeline::stop`] is called
    /// (a reload).
    /// (Most of its length is the one closure that builds an input afresh
    /// for each restart, which must capture everything it needs.)
    pub fn start(
        inputs_stage: &Stage,
        config: &Config,
        catalog: &Arc<Catalog>,
        metrics: &Metrics,
        status: &Arc<DaemonStatus>,
        board: &Arc<OffsetBoard>,
        budget: &Arc<DescriptorBudget>,
    ) -> Pipeline {
        let cancel = inputs_stage.token().child_token();
        let tracker = TaskTracker::new();
        let inputs = file_inputs(config);
        let routes: Vec<Route> = inputs
            .iter()
            .flat_map(|(_, patterns, wake)| {
                patterns
                    .iter()
                    .map(|pattern| (watch_dir(pattern), Arc::clone(wake)))
            })
            .collect();
        let watches = DirWatches::new(routes, metrics, config.watch);
        for (input, patterns, wake) in inputs {
            // A restarted input is built afresh and resumes from the
            // offsets it last published.
            let build = {
                let (input, catalog, metrics) =
                    (input.clone(), Arc::clone(catalog), metrics.clone());
                let (status, board) = (Arc::clone(status), Arc::clone(board));
                let budget = Arc::clone(budget);
                let watches = Arc::clone(&watches);
                let (max_line_bytes, poll_interval) = (config.max_line_bytes, config.poll_interval);
                let record_zone = config.record_zone();
                let show_lines = config.status_page_show_lines;
                let cancel = cancel.clone();
                move || {
                    let parts = InputParts {
                        scanner: Scanner::new(Arc::clone(&catalog)),
                        metrics: metrics.file_input(
                            &input.name,
                            &catalog,
                            input.path_labels.as_ref(),
                        ),
                        status: Arc::clone(&status),
                        offsets: Arc::clone(&board),
                        watches: Arc::clone(&watches),
                        max_line_bytes,
                        poll_interval,
                        budget: Arc::clone(&budget),
                        record_zone: record_zone.clone(),
                        show_lines,
                    };
                    FileInput::new(&input, patterns.clone(), parts).run(
                        Arc::clone(&wake),
                        poll_interval,
                        cancel.clone(),
                    )
                }
            };
            // Not ready until its first poll has opened its files: a line
            // written after `/-/ready` must not fall before a `start_at =
            // "end"` offset.
            status.set_input_down(&input.name, true);
            let health = InputHealth {
                name: input.name.clone(),
                up: metrics.input_up(&input.name),
                status: Arc::clone(status),
            };
            tracker.spawn(inputs_stage.tasks().track_future(supervise(
                build,
                health,
                cancel.clone(),
            )));
        }
        tracker.close();
        Pipeline {
            cancel,
            tracker,
            _watches: Some(watches),
        }
    }

    /// A pipeline with no inputs (a placeholder while one is replaced).
    pub fn idle() -> Pipeline {
        let tracker = TaskTracker::new();
        tracker.close();
        Pipeline {
            cancel: CancellationToken::new(),
            tracker,
            _watches: None,
        }
    }

    /// Stops the inputs after their current read and waits for them (a
    /// reload). Each is awaited to its end, however long a stuck read
    /// takes, so that it cannot publish counts or offsets next to its
    /// successor; only `shutdown` ends that wait (the daemon's tree then
    /// bounds it).
    pub async fn stop(self, shutdown: &CancellationToken) {
        self.cancel.cancel();
        loop {
            tokio::select! {
                () = self.tracker.wait() => return,
                () = tokio::time::sleep(STOP_TIMEOUT) => {
                    tracing::warn!("an input is still stopping; the reloaded one waits for it");
                }
                () = shutdown.cancelled() => return,
            }
        }
    }
}

/// First wait before restarting a failed input; doubled per failure in a
/// row, up to [`MAX_RESTART_BACKOFF`].
const FIRST_RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait before restarting a failed input.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(60);

/// How long an input must run to count as recovered (its backoff resets).
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// Where an input's health shows: `errtally_input_up` and `/-/ready`.
struct InputHealth {
    name: String,
    up: prometheus::IntGauge,
    status: Arc<DaemonStatus>,
}

impl InputHealth {
    /// Shows the input running (it turns ready itself once its first poll
    /// has opened its files) or failed.
    fn set(&self, up: bool) {
        self.up.set(i64::from(up));
        if !up {
            self.status.set_input_down(&self.name, true);
        }
    }
}

/// Runs an input built by `build` until it stops; a failed one is logged,
/// shown as down, and restarted with exponential backoff.
async fn supervise<F, R>(build: F, health: InputHealth, cancel: CancellationToken)
where
    F: Fn() -> R,
    R: std::future::Future<Output = InputEnd>,
{
    let mut backoff = FIRST_RESTART_BACKOFF;
    loop {
        health.set(true);
        let started = tokio::time::Instant::now();
        if build().await == InputEnd::Stopped {
            return;
        }
        health.set(false);
        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_RESTART_BACKOFF;
        }
        tracing::error!(input = %health.name, backoff = ?backoff, "input failed; restarting");
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A pipeline of one input whose poll takes `busy` to notice the stop.
    fn pipeline_stopping_after(busy: Duration) -> Pipeline {
        let tracker = TaskTracker::new();
        tracker.spawn(tokio::time::sleep(busy));
        tracker.close();
        Pipeline {
            cancel: CancellationToken::new(),
            tracker,
            _watches: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_replaced_input_is_awaited_to_its_end_unless_shutdown_comes() {
        // (At shutdown the daemon's tree bounds the inputs' stop: see
        // `lifecycle`'s tests.)
        let started = tokio::time::Instant::now();
        let daemon_shutdown = CancellationToken::new();
        pipeline_stopping_after(Duration::from_secs(20))
            .stop(&daemon_shutdown)
            .await;
        assert!(
            started.elapsed() >= Duration::from_secs(20),
            "reload did not wait"
        );

        // A shutdown during a reload's wait ends the wait.
        let started = tokio::time::Instant::now();
        let daemon_shutdown = CancellationToken::new();
        let watching = daemon_shutdown.clone();
        let stopping = tokio::spawn(async move {
            pipeline_stopping_after(Duration::from_secs(60))
                .stop(&watching)
                .await;
        });
        tokio::time::sleep(Duration::from_secs(7)).await;
        daemon_shutdown.cancel();
        stopping.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_input_is_restarted_with_backoff_and_shown_down_meanwhile() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let metrics = Metrics::new().unwrap();
        let status = Arc::new(DaemonStatus::new(Arc::new(Catalog::builtin().unwrap())));
        status.set_ready(true);
        let cancel = CancellationToken::new();
        let runs = Arc::new(AtomicUsize::new(0));
        // Fails twice at once, then runs until cancelled.
        let build = {
            let (runs, cancel) = (Arc::clone(&runs), cancel.clone());
            let status = Arc::clone(&status);
            move || {
                let run = runs.fetch_add(1, Ordering::SeqCst);
                let cancel = cancel.clone();
                let status_for_runs = Arc::clone(&status);
                async move {
                    if run < 2 {
                        return InputEnd::Failed;
                    }
                    // What the input's first poll does.
                    status_for_runs.set_input_down("api", false);
                    cancel.cancelled().await;
                    InputEnd::Stopped
                }
            }
        };
        let health = InputHealth {
            name: "api".to_string(),
            up: metrics.input_up("api"),
            status: Arc::clone(&status),
        };
        let up = metrics.input_up("api");
        let task = tokio::spawn(supervise(build, health, cancel.clone()));
        let at = |millis| tokio::time::sleep(Duration::from_millis(millis));

        at(500).await; // the first run failed; 1 s backoff
        assert_eq!((runs.load(Ordering::SeqCst), up.get()), (1, 0));
        assert!(!status.is_ready());
        at(1000).await; // t = 1.5 s: the second failed; 2 s backoff
        assert_eq!((runs.load(Ordering::SeqCst), up.get()), (2, 0));
        at(1000).await; // t = 2.5 s: still waiting
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        at(1000).await; // t = 3.5 s: the third runs
        assert_eq!((runs.load(Ordering::SeqCst), up.get()), (3, 1));
        assert!(status.is_ready());
        cancel.cancel();
        task.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
