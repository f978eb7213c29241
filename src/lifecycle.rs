//! The daemon's one cancellation tree: how a stop reaches every task,
//! thread and blocking loop, and in what order they end.
//!
//! `main` owns the root token and cancels it on SIGTERM or SIGINT. Every
//! part of the daemon runs in a [`Stage`]: a token of that tree and a task
//! tracker that owns what the stage started (tasks, blocking-pool work,
//! threads holding a tracker token). A stage hangs from its parent in one
//! of two ways:
//!
//! - [`Stage::under`]: its token is a child token, cancelled at once with
//!   the parent. The inputs hang so: a signal reaches every input and every
//!   poll on the blocking pool at the same moment (`is_cancelled()` is an
//!   atomic load, so blocking loops check it between files and buffers).
//! - [`Stage::after`]: its token is cancelled once the parent is *and* an
//!   earlier stage's tasks have ended (or [`STOP_TIMEOUT`] has passed).
//!   This edge is what keeps the shutdown order without a second mechanism:
//!   the checkpoint writer hangs after the inputs, so its final save holds
//!   what they published last, and the HTTP server after the writer, so a
//!   scrape during shutdown still answers.
//!
//! A single cancel therefore stops everything, in order; a failed start
//! cancels its own subtree and awaits it the same way. Nothing is
//! `abort()`ed: every task ends by watching its token.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a stage gets to end after its token is cancelled before the
/// next stage stops anyway (the process is ending).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// One level of the tree: a token and the tracker that owns the work
/// watching it.
#[derive(Clone)]
pub struct Stage {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Stage {
    /// A stage cancelled at once with `parent`.
    pub fn under(parent: &CancellationToken) -> Self {
        Self::with_token(parent.child_token())
    }

    /// A stage cancelled once `parent` is cancelled and `earlier`'s work has
    /// ended, or [`STOP_TIMEOUT`] after `earlier` was cancelled if it has
    /// not. `earlier` must itself end up cancelled when `parent` is (it hangs
    /// from `parent`). Must be called within a tokio runtime: the edge is a
    /// task of the new stage.
    pub fn after(parent: &CancellationToken, earlier: &Stage, name: &'static str) -> Self {
        let stage = Self::with_token(CancellationToken::new());
        let (parent, earlier, token) = (parent.clone(), earlier.clone(), stage.token.clone());
        stage.tasks.spawn(async move {
            tokio::select! {
                // Stopped directly (a test, or a stage stopped on its own).
                () = token.cancelled() => return,
                () = parent.cancelled() => {}
            }
            earlier.token.cancelled().await;
            if tokio::time::timeout(STOP_TIMEOUT, earlier.tasks.wait())
                .await
                .is_err()
            {
                tracing::warn!(
                    stage = name,
                    "the stage before it did not stop in time; stopping anyway"
                );
            }
            token.cancel();
        });
        stage
    }

    fn with_token(token: CancellationToken) -> Self {
        let tasks = TaskTracker::new();
        // Closed from the start: `wait` returns once the work is done, and
        // spawning stays possible (a reload starts new inputs).
        tasks.close();
        Self { token, tasks }
    }

    /// The stage's token, for the work it runs to watch.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The tracker that owns the stage's work.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Whether the stage has been told to stop.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Waits for the stage's work to end (its token is cancelled by its
    /// edge), for at most `limit`; false (and a warning) if it did not.
    pub async fn stopped(&self, name: &str, limit: Duration) -> bool {
        let ended = tokio::time::timeout(limit, self.tasks.wait()).await.is_ok();
        if !ended {
            tracing::warn!(stage = name, "did not stop in time");
        }
        ended
    }

    /// Cancels the stage directly and waits for its work, as
    /// [`Stage::stopped`].
    pub async fn stop(&self, name: &str) -> bool {
        self.token.cancel();
        self.stopped(name, STOP_TIMEOUT).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Three stages in a row record the order in which their work ends.
    #[tokio::test(start_paused = true)]
    async fn one_cancel_stops_every_stage_in_order() {
        let root = CancellationToken::new();
        let inputs = Stage::under(&root);
        let writer = Stage::after(&root, &inputs, "writer");
        let server = Stage::after(&root, &writer, "server");
        let ended = Arc::new(Mutex::new(Vec::new()));
        for (stage, name, linger) in [
            (&server, "server", 0),
            (&writer, "writer", 0),
            (&inputs, "inputs", 500),
        ] {
            let (token, ended) = (stage.token().clone(), Arc::clone(&ended));
            stage.tasks().spawn(async move {
                token.cancelled().await;
                // The inputs finish their current read.
                tokio::time::sleep(Duration::from_millis(linger)).await;
                ended.lock().unwrap().push(name);
            });
        }
        root.cancel();
        assert!(server.stopped("server", Duration::from_secs(10)).await);
        assert_eq!(*ended.lock().unwrap(), ["inputs", "writer", "server"]);
    }

    /// A stage whose predecessor hangs is stopped after the timeout.
    #[tokio::test(start_paused = true)]
    async fn a_hung_stage_delays_the_next_by_the_timeout_only() {
        let root = CancellationToken::new();
        let stuck = Stage::under(&root);
        stuck.tasks().spawn(std::future::pending::<()>());
        let next = Stage::after(&root, &stuck, "next");
        let started = tokio::time::Instant::now();
        root.cancel();
        next.token().cancelled().await;
        assert_eq!(started.elapsed(), STOP_TIMEOUT);
        assert!(!stuck.stopped("stuck", Duration::from_secs(1)).await);
    }

    /// Nothing is cancelled until the parent is.
    #[tokio::test(start_paused = true)]
    async fn stages_run_until_their_parent_is_cancelled() {
        let root = CancellationToken::new();
        let inputs = Stage::under(&root);
        let writer = Stage::after(&root, &inputs, "writer");
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!inputs.is_cancelled());
        assert!(!writer.is_cancelled());
        root.cancel();
        assert!(inputs.is_cancelled());
        assert!(writer.stopped("writer", Duration::from_secs(1)).await);
        assert!(writer.is_cancelled());
    }

    /// A thread holding a tracker token counts as the stage's work (real
    /// time: a paused clock would jump to the timeout while the thread runs).
    #[tokio::test]
    async fn a_thread_holding_a_tracker_token_is_awaited() {
        let root = CancellationToken::new();
        let inputs = Stage::under(&root);
        let writer = Stage::after(&root, &inputs, "writer");
        let (held, token) = (inputs.tasks().token(), inputs.token().clone());
        let done = Arc::new(Mutex::new(false));
        let thread = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                while !token.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(100));
                *done.lock().unwrap() = true;
                drop(held);
            })
        };
        root.cancel();
        writer.token().cancelled().await;
        assert!(
            *done.lock().unwrap(),
            "the writer was stopped before the thread ended"
        );
        thread.join().unwrap();
    }
}
