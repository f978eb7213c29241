//! The checkpoint writer: the one task that owns the state file.
//!
//! It saves the [`OffsetBoard`]'s snapshot every `checkpoint_interval` when
//! offsets moved, at once when an input starts following a file the
//! checkpoint does not hold yet (so that a crash a moment later replays
//! that file from its entry instead of applying `start_at` to it), and once
//! more when the daemon's inputs have stopped. One
//! task, so two saves never overlap and nothing is aborted mid-write. A
//! failed save (a full disk, a read-only directory) leaves counting alone:
//! it is logged once until a save succeeds again, counted in
//! `errtally_checkpoint_errors_total`, and retried at the next interval.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{CheckpointStore, OffsetBoard};
use crate::export::metrics::Metrics;

/// Owns the state file: writes the checkpoint every `interval` when offsets
/// moved, and once more when `finish` is cancelled (the inputs have
/// stopped and published), then returns.
pub async fn write_checkpoints(
    store: Arc<CheckpointStore>,
    board: Arc<OffsetBoard>,
    interval: Duration,
    metrics: Metrics,
    finish: CancellationToken,
) {
    // Generation 0 is the state loaded from disk: anything later is news.
    let mut saved = 0;
    let mut failing = false;
    loop {
        let finishing = tokio::select! {
            () = finish.cancelled() => true,
            () = tokio::time::sleep(interval) => false,
            () = board.new_file_published() => false,
        };
        let generation = board.generation();
        if generation != saved || finishing || failing {
            let snapshot = board.snapshot();
            let store = Arc::clone(&store);
            let result = tokio::task::spawn_blocking(move || store.save(&snapshot))
                .await
                .map_err(|error| error.to_string())
                .and_then(|saved| saved.map_err(|error| error.to_string()));
            metrics.record_checkpoint(result.is_ok());
            match result {
                Ok(()) => {
                    if failing {
                        tracing::info!("checkpoint saved again");
                    } else if finishing {
                        tracing::info!("checkpoint written");
                    }
                    saved = generation;
                    failing = false;
                }
                Err(error) if finishing => {
                    tracing::error!(%error, "cannot write the final checkpoint");
                }
                Err(error) if !failing => {
                    tracing::warn!(%error, "cannot write the checkpoint; counting goes on, will retry");
                    failing = true;
                }
                Err(_) => {}
            }
        }
        if finishing {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::checkpoint::{Checkpoint, FileCheckpoint, FileIdentity};

    /// `/logs/a.log` (inode `ino`) counted to `offset`.
    fn entry(ino: u64, offset: u64) -> FileCheckpoint {
        FileCheckpoint {
            input: "api".to_string(),
            path: PathBuf::from("/logs/a.log"),
            identity: FileIdentity {
                dev: 1,
                ino,
                head: "7b".to_string(),
            },
            offset,
            tail: String::new(),
            skipping: false,
        }
    }

    /// Waits (bounded) for `path` to exist: saves run on a blocking thread,
    /// in real time, while the test's clock is paused.
    async fn appears(path: &std::path::Path) -> bool {
        for _ in 0..2000 {
            tokio::task::yield_now().await;
            if path.exists() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    #[tokio::test(start_paused = true)]
    async fn saves_on_its_interval_when_offsets_moved_and_once_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CheckpointStore::open(dir.path()).unwrap());
        // A file the loaded checkpoint holds: its moves wait for the interval.
        let board = Arc::new(OffsetBoard::from_checkpoint(Checkpoint {
            files: vec![entry(2, 5)],
            ..Checkpoint::default()
        }));
        let metrics = Metrics::new().unwrap();
        let finish = CancellationToken::new();
        let writer = tokio::spawn(write_checkpoints(
            Arc::clone(&store),
            Arc::clone(&board),
            Duration::from_secs(1),
            metrics.clone(),
            finish.clone(),
        ));
        let saved = dir.path().join("checkpoint.json");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!saved.exists(), "written although nothing moved");

        board.publish("api", vec![entry(2, 10)]);
        tokio::time::sleep(Duration::from_millis(400)).await; // t = 2.9 s
        assert!(!saved.exists(), "written before the interval");
        tokio::time::sleep(Duration::from_millis(200)).await; // t = 3.1 s: the tick at 3 s
        assert!(appears(&saved).await, "not written at the interval");
        let checkpoint = store.load().unwrap();
        assert_eq!(checkpoint.files.len(), 1);
        assert_eq!(checkpoint.files[0].offset, 10);

        // The final save happens when asked, between ticks, and ends the task.
        std::fs::remove_file(&saved).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await; // t = 3.4 s
        finish.cancel();
        writer.await.unwrap();
        assert!(saved.exists(), "no final save");
    }

    #[tokio::test(start_paused = true)]
    async fn a_file_new_to_the_checkpoint_is_saved_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CheckpointStore::open(dir.path()).unwrap());
        let board = Arc::new(OffsetBoard::from_checkpoint(Checkpoint {
            files: vec![entry(2, 5)],
            ..Checkpoint::default()
        }));
        let finish = CancellationToken::new();
        let writer = tokio::spawn(write_checkpoints(
            Arc::clone(&store),
            Arc::clone(&board),
            Duration::from_secs(3600),
            Metrics::new().unwrap(),
            finish.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        board.publish("api", vec![entry(2, 5), entry(3, 0)]);
        let saved = dir.path().join("checkpoint.json");
        // The clock stays far from the hour's tick.
        assert!(appears(&saved).await, "a new file waited for the interval");
        assert_eq!(store.load().unwrap().files.len(), 2);
        finish.cancel();
        writer.await.unwrap();
    }

    /// The value of a self-metric in `metrics`' exposition.
    fn sample(metrics: &Metrics, name: &str) -> f64 {
        let text = String::from_utf8(metrics.render()).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap()
            .parse()
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_save_is_counted_and_retried_until_it_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CheckpointStore::open(dir.path()).unwrap());
        let board = Arc::new(OffsetBoard::default());
        board.publish("api", Vec::new());
        let metrics = Metrics::new().unwrap();
        // A directory where the state file goes: every save's rename fails,
        // as on a full or read-only filesystem (permissions do not stop
        // root).
        let blocker = dir.path().join("checkpoint.json");
        std::fs::create_dir(&blocker).unwrap();
        let finish = CancellationToken::new();
        let writer = tokio::spawn(write_checkpoints(
            Arc::clone(&store),
            board,
            Duration::from_secs(1),
            metrics.clone(),
            finish.clone(),
        ));
        let errors = "errtally_checkpoint_errors_total";
        let saved_at = "errtally_checkpoint_last_success_timestamp_seconds";
        // Saves run on a blocking thread in real time: wait for each, bounded.
        let mut failures = 0.0;
        for _ in 0..2000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::thread::sleep(Duration::from_millis(1));
            failures = sample(&metrics, errors);
            if failures >= 2.0 {
                break;
            }
        }
        assert!(failures >= 2.0, "failed saves not retried");
        assert_eq!(sample(&metrics, saved_at), 0.0);

        std::fs::remove_dir(&blocker).unwrap();
        let mut recovered = false;
        for _ in 0..2000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::thread::sleep(Duration::from_millis(1));
            recovered = sample(&metrics, saved_at) > 0.0;
            if recovered {
                break;
            }
        }
        assert!(recovered, "saving did not resume");
        assert!(dir.path().join("checkpoint.json").is_file());
        // No failed save left its temp file behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        finish.cancel();
        writer.await.unwrap();
    }
}
