//! The daemon, `errtally run`: start-up order, the pipeline of inputs,
//! checkpoints, reloads and shutdown.
//!
//! Start-up: config and catalogue (a mistake ends here, exit 2), metrics,
//! the listener (a bind failure ends here, exit 1), the checkpoint, then the
//! inputs; `/-/ready` turns 200 once they are open. A reload (SIGHUP, or a
//! change of the config or catalogue file) loads both anew; if either is
//! invalid the running pipeline is kept and
//! `errtally_config_last_reload_successful` drops to 0. Shutdown stops the
//! inputs after their current read, publishes what they counted and writes
//! the checkpoint one last time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::{Catalog, CatalogError};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore};
use crate::config::{Config, ConfigError, InputPath, StartAt};
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::scan::Scanner;
use crate::status::DaemonStatus;
use crate::tail::input::{FileInput, InputEnd, InputParts};
use crate::tail::stdin::{self, StdinBinding, StdinControl};
use crate::tail::watch::{Route, absolute_pattern, watch_dir, watch_files, watch_inputs};
use crate::tail::{OffsetBoard, Wake};

/// How long inputs get to finish their current read at shutdown.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);

/// Quiet time after a config file event before reloading, so an editor's
/// several writes make one reload.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);

/// Longest a stream of config file changes can put off their reload.
const MAX_RELOAD_DELAY: Duration = Duration::from_secs(2);

/// Waits until config file changes have been quiet for [`RELOAD_DEBOUNCE`]
/// (at most [`MAX_RELOAD_DELAY`]), taking every change meanwhile: one
/// reload for an editor's several writes.
async fn settle(changes: &mut mpsc::Receiver<()>) {
    let give_up = tokio::time::Instant::now() + MAX_RELOAD_DELAY;
    loop {
        let quiet_until = (tokio::time::Instant::now() + RELOAD_DEBOUNCE).min(give_up);
        match tokio::time::timeout_at(quiet_until, changes.recv()).await {
            Ok(Some(())) if tokio::time::Instant::now() < give_up => {}
            _ => return,
        }
    }
}

/// What `errtally run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The config file, if any.
    pub config_path: Option<PathBuf>,
    /// `--web.listen-address`, overriding the file.
    pub listen_address: Option<SocketAddr>,
    /// `--web.systemd-socket`: serve on the listening socket systemd passes.
    pub systemd_socket: bool,
    /// PATH/GLOB arguments: one input named `default`.
    pub paths: Vec<String>,
    /// `--stdin`: an input named `stdin`.
    pub stdin: bool,
    /// Where command-line inputs start in files present at start.
    pub start_at: StartAt,
}

/// Why the daemon could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A catalogue file is invalid.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `--web.systemd-socket` without a usable socket from systemd.
    #[error("no listening TCP socket from systemd (LISTEN_FDS): {0}")]
    SystemdSocket(std::io::Error),
    /// The state directory cannot be used.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The signal handlers (SIGTERM, SIGINT, SIGHUP) could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// Metrics could not be registered (a bug).
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl RunError {
    /// The process exit code: 2 for configuration mistakes, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Config(_) | RunError::Catalog(_) => 2,
            _ => 1,
        }
    }
}

/// Loads and validates the configuration and its catalogue.
pub fn load(options: &RunOptions) -> Result<(Config, Arc<Catalog>), RunError> {
    let mut config = match &options.config_path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    config.add_cli_inputs(&options.paths, options.stdin, options.start_at)?;
    config.validate_inputs()?;
    if let Some(address) = options.listen_address {
        config.listen_address = address;
    }
    let catalog = load_catalog(&config)?;
    Ok((config, catalog))
}

/// The config's catalogue files, or the built-in catalogue.
pub fn load_catalog(config: &Config) -> Result<Arc<Catalog>, CatalogError> {
    let catalog = if config.catalog.is_empty() {
        Catalog::builtin()?
    } else {
        Catalog::from_files(&config.catalog)?
    };
    Ok(Arc::new(catalog))
}

/// Runs the daemon until `shutdown` turns true. `reload` asks for a reload
/// (SIGHUP). Returns once inputs are stopped and the checkpoint is written.
pub async fn run(
    options: RunOptions,
    mut shutdown: watch::Receiver<bool>,
    mut reload: mpsc::Receiver<()>,
) -> Result<(), RunError> {
    let (mut config, mut catalog) = load(&options)?;
    let metrics = Metrics::new()?;
    metrics.set_catalog(&catalog);
    metrics.set_reload_result(true);

    let listener = if options.systemd_socket {
        systemd_listener()?
    } else {
        TcpListener::bind(config.listen_address)
            .await
            .map_err(|source| RunError::Bind {
                address: config.listen_address,
                source,
            })?
    };
    let address = listener.local_addr().unwrap_or(config.listen_address);
    tracing::info!(%address, version = env!("CARGO_PKG_VERSION"), "listening");

    let status = Arc::new(DaemonStatus::new(Arc::clone(&catalog)));
    let state = Arc::new(HttpState {
        metrics: metrics.clone(),
        status: Arc::clone(&status),
    });
    let (http_stop, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(listener, state, async {
        let _ = http_stopped.await;
    }));

    let store = match &config.state_dir {
        Some(dir) => Some(Arc::new(CheckpointStore::open(dir)?)),
        None => None,
    };
    let checkpoint = match &store {
        Some(store) => match store.load() {
            Ok(checkpoint) => checkpoint,
            // Moved aside already: nothing in it can be trusted.
            Err(error @ CheckpointError::Corrupt { .. }) => {
                tracing::warn!(%error, "starting without the checkpoint");
                Checkpoint::default()
            }
            // Unreadable (permissions, a directory in its place): starting
            // fresh would overwrite every file's position at the next save.
            Err(error) => return Err(error.into()),
        },
        None => Checkpoint::default(),
    };
    let board = Arc::new(OffsetBoard::from_checkpoint(checkpoint));

    let stdin = StdinInput::new(Arc::clone(&status), config.max_line_bytes);
    stdin.bind(&config, &catalog, &metrics);
    let mut pipeline = Pipeline::start(&config, &catalog, &metrics, &status, &board);
    status.set_ready(true);
    notify_systemd(sd_notify::NotifyState::Ready);

    // The one writer of the state file: periodic saves, then the final one.
    let (finish_checkpoints, finishing) = watch::channel(false);
    let checkpointer = store.as_ref().map(|store| {
        tokio::spawn(write_checkpoints(
            Arc::clone(store),
            Arc::clone(&board),
            config.checkpoint_interval,
            finishing,
        ))
    });
    let (changed_tx, mut config_changed) = mpsc::channel::<()>(1);
    let mut config_watcher = watch_files(&watched_files(&options, &config), changed_tx.clone());

    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            Some(()) = reload.recv() => {}
            Some(()) = config_changed.recv() => settle(&mut config_changed).await,
        }
        if *shutdown.borrow() {
            break;
        }
        match load(&options) {
            Err(error) => {
                metrics.set_reload_result(false);
                tracing::error!(%error, "reload failed; keeping the running configuration");
            }
            Ok((new_config, new_catalog)) => {
                if new_config.listen_address != config.listen_address {
                    tracing::warn!("listen_address changes take effect at the next restart");
                }
                pipeline.stop(Some(shutdown.clone())).await;
                let keep: Vec<String> = new_config
                    .inputs
                    .iter()
                    .map(|input| input.name.clone())
                    .collect();
                for input in &config.inputs {
                    if keep.contains(&input.name) {
                        metrics.forget_types(&input.name, &catalog, &new_catalog);
                    } else {
                        metrics.forget_input(&input.name, &catalog);
                    }
                }
                // stdin first: it must not count into series forgotten next.
                stdin.bind(&new_config, &new_catalog, &metrics);
                status.retain_inputs(&keep);
                board.retain(&keep);
                metrics.set_catalog(&new_catalog);
                status.set_catalog(Arc::clone(&new_catalog));
                pipeline = Pipeline::start(&new_config, &new_catalog, &metrics, &status, &board);
                config = new_config;
                catalog = new_catalog;
                config_watcher = watch_files(&watched_files(&options, &config), changed_tx.clone());
                metrics.set_reload_result(true);
                tracing::info!(
                    inputs = config.inputs.len(),
                    types = catalog.len(),
                    "configuration reloaded"
                );
            }
        }
    }

    tracing::info!("shutting down");
    notify_systemd(sd_notify::NotifyState::Stopping);
    drop(config_watcher);
    pipeline.stop(None).await;
    // Inputs have stopped and published: the writer saves once more and ends.
    let _ = finish_checkpoints.send(true);
    if let Some(checkpointer) = checkpointer
        && let Err(error) = checkpointer.await
    {
        tracing::error!(%error, "checkpoint task failed");
    }
    let _ = http_stop.send(());
    match server.await {
        Ok(Err(error)) => tracing::error!(%error, "http server failed"),
        Err(error) => tracing::error!(%error, "http server task failed"),
        Ok(Ok(())) => {}
    }
    Ok(())
}

/// The listening socket systemd passed (socket activation).
fn systemd_listener() -> Result<TcpListener, RunError> {
    let missing = || std::io::Error::new(std::io::ErrorKind::NotFound, "none passed");
    let listener = listenfd::ListenFd::from_env()
        .take_tcp_listener(0)
        .map_err(RunError::SystemdSocket)?
        .ok_or_else(|| RunError::SystemdSocket(missing()))?;
    listener
        .set_nonblocking(true)
        .map_err(RunError::SystemdSocket)?;
    TcpListener::from_std(listener).map_err(RunError::SystemdSocket)
}

/// Tells systemd (`Type=notify`) where the daemon is; nothing without
/// `NOTIFY_SOCKET`.
fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(error) = sd_notify::notify(false, &[state]) {
        tracing::warn!(%error, "cannot notify systemd");
    }
}

/// Owns the state file: writes the checkpoint every `interval` when offsets
/// moved, and once more when `finish` turns true (the inputs have stopped),
/// then returns. One task, so two saves never overlap.
async fn write_checkpoints(
    store: Arc<CheckpointStore>,
    board: Arc<OffsetBoard>,
    interval: Duration,
    mut finish: watch::Receiver<bool>,
) {
    // Generation 0 is the state loaded from disk: anything later is news.
    let mut saved = 0;
    loop {
        let finishing = tokio::select! {
            changed = finish.changed() => changed.is_err() || *finish.borrow(),
            () = tokio::time::sleep(interval) => false,
        };
        let generation = board.generation();
        if generation != saved || finishing {
            let snapshot = board.snapshot();
            let store = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || store.save(&snapshot)).await {
                Ok(Ok(())) => {
                    saved = generation;
                    if finishing {
                        tracing::info!("checkpoint written");
                    }
                }
                Ok(Err(error)) if finishing => {
                    tracing::error!(%error, "cannot write the final checkpoint");
                }
                Ok(Err(error)) => tracing::warn!(%error, "cannot write the checkpoint; will retry"),
                Err(error) => tracing::warn!(%error, "checkpoint task failed; will retry"),
            }
        }
        if finishing {
            return;
        }
    }
}

/// The stdin input: one reader thread for the process's life (stdin cannot
/// be reopened), bound at each (re)load to the current catalogue and
/// handles, or to nothing when no input reads stdin.
struct StdinInput {
    control: Arc<StdinControl>,
    status: Arc<DaemonStatus>,
    max_line_bytes: usize,
    started: AtomicBool,
}

impl StdinInput {
    fn new(status: Arc<DaemonStatus>, max_line_bytes: usize) -> Self {
        Self {
            control: Arc::new(StdinControl::empty()),
            status,
            max_line_bytes,
            started: AtomicBool::new(false),
        }
    }

    /// Binds stdin to `config`'s stdin input, if any, starting the reader
    /// the first time one exists.
    fn bind(&self, config: &Config, catalog: &Arc<Catalog>, metrics: &Metrics) {
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
        match stdin::spawn(
            Arc::clone(&self.control),
            Arc::clone(&self.status),
            self.max_line_bytes,
        ) {
            Ok(_) => self.started.store(true, Ordering::Release),
            Err(error) => tracing::error!(%error, "cannot start the stdin reader"),
        }
    }
}

/// The running file inputs of one configuration.
struct Pipeline {
    /// Seen by polls in progress (blocking code cannot await a token).
    stop: Arc<AtomicBool>,
    /// Cancels every task of the pipeline.
    cancel: CancellationToken,
    /// Owns every task of the pipeline, so stopping can await them all.
    tracker: TaskTracker,
    /// Keeps the inotify watches alive.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Pipeline {
    /// Starts one task per file input of `config` (stdin is started once,
    /// by [`run`], since it cannot be reopened).
    fn start(
        config: &Config,
        catalog: &Arc<Catalog>,
        metrics: &Metrics,
        status: &Arc<DaemonStatus>,
        board: &Arc<OffsetBoard>,
    ) -> Pipeline {
        let stop = Arc::new(AtomicBool::new(false));
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut routes: Vec<Route> = Vec::new();
        for input in config.inputs.iter().filter(|input| !input.reads_stdin()) {
            let patterns: Vec<String> = input
                .paths
                .iter()
                .filter_map(|path| match path {
                    InputPath::Glob(pattern) => Some(absolute_pattern(pattern)),
                    InputPath::Stdin => None,
                })
                .collect();
            let wake = Arc::new(Wake::default());
            for pattern in &patterns {
                routes.push((watch_dir(pattern), Arc::clone(&wake)));
            }
            // A restarted input is built afresh and resumes from the
            // offsets it last published.
            let build = {
                let (input, catalog, metrics) =
                    (input.clone(), Arc::clone(catalog), metrics.clone());
                let (status, board) = (Arc::clone(status), Arc::clone(board));
                let (max_line_bytes, poll_interval) = (config.max_line_bytes, config.poll_interval);
                let (stop, cancel) = (Arc::clone(&stop), cancel.clone());
                move || {
                    let parts = InputParts {
                        scanner: Scanner::new(Arc::clone(&catalog)),
                        metrics: metrics.input(&input.name, &catalog),
                        status: Arc::clone(&status),
                        offsets: Arc::clone(&board),
                        max_line_bytes,
                        poll_interval,
                    };
                    FileInput::new(&input, patterns.clone(), parts).run(
                        Arc::clone(&wake),
                        poll_interval,
                        Arc::clone(&stop),
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
            tracker.spawn(supervise(build, health, cancel.clone()));
        }
        tracker.close();
        let watcher = watch_inputs(routes, metrics);
        Pipeline {
            stop,
            cancel,
            tracker,
            _watcher: watcher,
        }
    }

    /// Stops the inputs after their current read and waits for them.
    ///
    /// At shutdown (`replacing` is `None`) each input gets [`STOP_TIMEOUT`]:
    /// the process ends anyway. When the inputs are being replaced (a
    /// reload), each is awaited to its end, however long a stuck read takes,
    /// so that it cannot publish counts or offsets next to its successor;
    /// only a shutdown ends that wait.
    async fn stop(self, replacing: Option<watch::Receiver<bool>>) {
        self.stop.store(true, Ordering::Release);
        self.cancel.cancel();
        let Some(mut shutdown) = replacing else {
            if tokio::time::timeout(STOP_TIMEOUT, self.tracker.wait())
                .await
                .is_err()
            {
                tracing::warn!("an input did not stop in time");
            }
            return;
        };
        loop {
            tokio::select! {
                () = self.tracker.wait() => return,
                () = tokio::time::sleep(STOP_TIMEOUT) => {
                    tracing::warn!("an input is still stopping; the reloaded one waits for it");
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
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

/// The config and catalogue files whose change triggers a reload.
fn watched_files(options: &RunOptions, config: &Config) -> Vec<PathBuf> {
    options
        .config_path
        .iter()
        .cloned()
        .chain(config.catalog.iter().cloned())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_checkpoint_writer_saves_on_its_interval_when_offsets_moved_and_once_at_the_end() {
        use crate::checkpoint::{FileCheckpoint, FileIdentity};
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CheckpointStore::open(dir.path()).unwrap());
        let board = Arc::new(OffsetBoard::default());
        let (finish, finishing) = watch::channel(false);
        let writer = tokio::spawn(write_checkpoints(
            Arc::clone(&store),
            Arc::clone(&board),
            Duration::from_secs(1),
            finishing,
        ));
        let saved = dir.path().join("checkpoint.json");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!saved.exists(), "written although nothing moved");

        board.publish(
            "api",
            vec![FileCheckpoint {
                input: "api".to_string(),
                path: PathBuf::from("/logs/a.log"),
                identity: FileIdentity {
                    dev: 1,
                    ino: 2,
                    head: "7b".to_string(),
                },
                offset: 10,
            }],
        );
        tokio::time::sleep(Duration::from_millis(400)).await; // t = 2.9 s
        assert!(!saved.exists(), "written before the interval");
        tokio::time::sleep(Duration::from_millis(200)).await; // t = 3.1 s: the tick at 3 s
        // The save itself runs on a blocking thread, in real time: let the
        // writer run and wait for it, bounded.
        let mut written = false;
        for _ in 0..2000 {
            tokio::task::yield_now().await;
            written = saved.exists();
            if written {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(written, "not written at the interval");
        let checkpoint = store.load().unwrap();
        assert_eq!(checkpoint.files.len(), 1);
        assert_eq!(checkpoint.files[0].offset, 10);

        // The final save happens when asked, between ticks, and ends the task.
        std::fs::remove_file(&saved).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await; // t = 3.4 s
        finish.send(true).unwrap();
        writer.await.unwrap();
        assert!(saved.exists(), "no final save");
    }

    #[tokio::test(start_paused = true)]
    async fn config_changes_settle_into_one_reload() {
        let (changed, mut changes) = mpsc::channel::<()>(1);
        let writer = tokio::spawn(async move {
            // An editor's three writes, 150 ms apart.
            for _ in 0..3 {
                changed.send(()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            changed
        });
        let started = tokio::time::Instant::now();
        changes.recv().await.unwrap();
        settle(&mut changes).await;
        // The last write at 300 ms, then 200 ms of quiet.
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        assert!(
            changes.try_recv().is_err(),
            "a change left for a second reload"
        );

        // A file that never stops changing is reloaded after at most 2 s.
        let changed = writer.await.unwrap();
        let _forever = tokio::spawn(async move {
            loop {
                if changed.send(()).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let started = tokio::time::Instant::now();
        changes.recv().await.unwrap();
        settle(&mut changes).await;
        assert_eq!(started.elapsed(), MAX_RELOAD_DELAY);
    }

    /// A pipeline of one input whose poll takes `busy` to notice the stop.
    fn pipeline_stopping_after(busy: Duration) -> Pipeline {
        let tracker = TaskTracker::new();
        tracker.spawn(tokio::time::sleep(busy));
        tracker.close();
        Pipeline {
            stop: Arc::new(AtomicBool::new(false)),
            cancel: CancellationToken::new(),
            tracker,
            _watcher: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_replaced_input_is_awaited_to_its_end_and_shutdown_keeps_its_limit() {
        let started = tokio::time::Instant::now();
        let (_daemon_shutdown, watching) = watch::channel(false);
        pipeline_stopping_after(Duration::from_secs(20))
            .stop(Some(watching))
            .await;
        assert!(
            started.elapsed() >= Duration::from_secs(20),
            "reload did not wait"
        );

        let started = tokio::time::Instant::now();
        pipeline_stopping_after(Duration::from_secs(20))
            .stop(None)
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "shutdown waited too long"
        );

        // A shutdown during a reload's wait ends the wait.
        let started = tokio::time::Instant::now();
        let (daemon_shutdown, watching) = watch::channel(false);
        let stopping =
            tokio::spawn(pipeline_stopping_after(Duration::from_secs(60)).stop(Some(watching)));
        tokio::time::sleep(Duration::from_secs(7)).await;
        daemon_shutdown.send(true).unwrap();
        stopping.await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_input_is_restarted_with_backoff_and_shown_down_meanwhile() {
        use std::sync::atomic::AtomicUsize;
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
