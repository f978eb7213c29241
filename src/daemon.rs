//! The daemon, `errtally run`: the orchestration of start-up, reloads and
//! shutdown. What runs lives elsewhere: inputs in [`crate::tail`], the
//! checkpoint writer in [`crate::checkpoint::writer`], the endpoints in
//! [`crate::export::http`].
//!
//! Start-up: config and catalogue (a mistake ends here, exit 2), metrics,
//! the listener (a bind failure ends here, exit 1), the checkpoint, then the
//! inputs; `/-/ready` turns 200 once they are open. A reload (SIGHUP, or a
//! change of the config or catalogue file) loads both anew; if either is
//! invalid the running pipeline is kept and
//! `errtally_config_last_reload_successful` drops to 0. Shutdown stops the
//! inputs after their current read, publishes what they counted, writes
//! the checkpoint one last time and stops the HTTP server, within 5 s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::catalog::{Catalog, CatalogError};
use crate::checkpoint::writer::write_checkpoints;
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, OffsetBoard};
use crate::config::{Config, ConfigError, StartAt};
use crate::export::http::{self, HttpState};
use crate::export::metrics::Metrics;
use crate::export::status::DaemonStatus;
use crate::export::status_page::history::sample_counters;
use crate::lifecycle::{STOP_TIMEOUT, Stage};
use crate::tail::budget::DescriptorBudget;
use crate::tail::pipeline::Pipeline;
use crate::tail::stdin::StdinInput;
use crate::tail::watch::watch_files;

/// Quiet time after a config file event before reloading, so an editor's
/// several writes make one reload.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);

/// Longest a stream of config file changes can put off their reload.
const MAX_RELOAD_DELAY: Duration = Duration::from_secs(2);

/// Waits until config file changes have been quiet for [`RELOAD_DEBOUNCE`]
/// (at most [`MAX_RELOAD_DELAY`]), taking every change meanwhile: one
/// reload for an editor's several writes. Returns at once on `shutdown`.
async fn settle(changes: &mut mpsc::Receiver<()>, shutdown: &CancellationToken) {
    let give_up = tokio::time::Instant::now() + MAX_RELOAD_DELAY;
    loop {
        let quiet_until = (tokio::time::Instant::now() + RELOAD_DEBOUNCE).min(give_up);
        let changed = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            changed = tokio::time::timeout_at(quiet_until, changes.recv()) => changed,
        };
        match changed {
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
    /// `--web.config.file`: TLS, basic auth and headers (exporter-toolkit).
    pub web_config_file: Option<PathBuf>,
    /// `--web.max-connections`; `None` is [`http::DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: Option<usize>,
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
    /// The web config file (`--web.config.file`) is invalid.
    #[error(transparent)]
    WebConfig(#[from] http::WebConfigError),
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
            RunError::Config(_) | RunError::Catalog(_) | RunError::WebConfig(_) => 2,
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

/// What `errtally check` warns about in the config's globs (it does not
/// fail: the daemon walks such trees safely), one sentence each: a `**`
/// over a pseudo filesystem or across a symlink loop.
pub fn glob_warnings(config: &Config) -> Vec<String> {
    config
        .inputs
        .iter()
        .flat_map(|input| &input.paths)
        .filter_map(|path| match path {
            crate::config::InputPath::Glob(pattern) => Some(pattern),
            crate::config::InputPath::Stdin => None,
        })
        .flat_map(|pattern| crate::walk::risks(pattern))
        .collect()
}

/// The config's catalogue files, or the built-in catalogue. A file that
/// cannot be read is the config's mistake, at the entry that names it.
pub fn load_catalog(config: &Config) -> Result<Arc<Catalog>, RunError> {
    match Catalog::load(&config.catalog) {
        Ok(catalog) => Ok(Arc::new(catalog)),
        Err(CatalogError::Io { path, error }) => {
            Err(match config.unreadable_catalog(&path, &error) {
                Some(mistake) => mistake.into(),
                None => CatalogError::Io { path, error }.into(),
            })
        }
        Err(error) => Err(error.into()),
    }
}

/// Runs the daemon until `shutdown` is cancelled (SIGTERM, SIGINT, or a
/// test). Each message on `reload` asks for a reload (SIGHUP); once its
/// sender is gone, only config file changes reload. Returns once inputs
/// are stopped and the checkpoint is written.
pub async fn run(
    options: RunOptions,
    shutdown: CancellationToken,
    reload: mpsc::Receiver<()>,
) -> Result<(), RunError> {
    let (config_changes, config_changed) = mpsc::channel::<()>(1);
    let daemon = Daemon::start(options, &shutdown, config_changes).await?;
    daemon.follow(reload, config_changed).await;
    Ok(())
}

impl Daemon {
    /// Reloads on each request until the daemon's token is cancelled, then
    /// shuts down in order. Only a message reloads: a closed channel
    /// disables its branch instead of returning at once, and a token
    /// carries no value that could be taken for a request.
    async fn follow(
        mut self,
        mut reload: mpsc::Receiver<()>,
        mut config_changed: mpsc::Receiver<()>,
    ) {
        let shutdown = self.tree.token.clone();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                Some(()) = reload.recv() => {}
                Some(()) = config_changed.recv() => settle(&mut config_changed, &shutdown).await,
            }
            if shutdown.is_cancelled() {
                break;
            }
            self.reload().await;
        }
        self.shut_down().await;
    }
}

/// The daemon's part of the cancellation tree (see [`crate::lifecycle`]):
/// a token of its own under the caller's, so that a failed start stops
/// what it started without cancelling the caller, and one stage per level,
/// in the order they stop.
#[derive(Clone)]
struct Tree {
    token: CancellationToken,
    /// The file inputs (each pipeline under a child of it) and the stdin
    /// reader.
    inputs: Stage,
    /// The checkpoint writer: cancelled once the inputs have ended, so its
    /// final save holds what they published last.
    checkpointing: Stage,
    /// The HTTP server and the status sampler: cancelled last, so scrapes
    /// answer until the final checkpoint is written.
    serving: Stage,
}

impl Tree {
    /// The tree under `parent` (`main`'s token, cancelled on a signal).
    fn under(parent: &CancellationToken) -> Self {
        let token = parent.child_token();
        let inputs = Stage::under(&token);
        let checkpointing = Stage::after(&token, &inputs, "checkpoint writer");
        let serving = Stage::after(&token, &checkpointing, "http server");
        Self {
            token,
            inputs,
            checkpointing,
            serving,
        }
    }

    /// Cancels the tree and awaits each stage in turn: the inputs, the
    /// final checkpoint, then the HTTP server. Each stage gets
    /// [`STOP_TIMEOUT`] from its own cancellation.
    async fn stop(&self) {
        self.token.cancel();
        for (stage, name) in [
            (&self.inputs, "inputs"),
            (&self.checkpointing, "checkpoint writer"),
            (&self.serving, "http server"),
        ] {
            stage.token().cancelled().await;
            stage.stopped(name, STOP_TIMEOUT).await;
        }
    }
}

/// Everything `errtally run` has running, each part in a stage of
/// [`Tree`]: a signal reaches every input, every poll on the blocking pool
/// and the stdin reader at once, and the checkpoint writer and the HTTP
/// server after them, in that order. A reload stops and awaits just the
/// file inputs' pipeline.
struct Daemon {
    options: RunOptions,
    config: Config,
    catalog: Arc<Catalog>,
    metrics: Metrics,
    status: Arc<DaemonStatus>,
    board: Arc<OffsetBoard>,
    /// Log-file descriptors, shared by every pipeline (an old one stopping
    /// and its replacement starting included).
    budget: Arc<DescriptorBudget>,
    stdin: StdinInput,
    pipeline: Pipeline,
    tree: Tree,
    config_changes: mpsc::Sender<()>,
    config_watcher: Option<notify::RecommendedWatcher>,
}

/// Spawns the HTTP server and the status page's sampler, which stops with
/// the page it feeds.
fn spawn_serving(
    stage: &Stage,
    listener: TcpListener,
    serving: http::ServeOptions,
    metrics: &Metrics,
    status: &Arc<DaemonStatus>,
) {
    let state = Arc::new(HttpState::new(metrics.clone(), Arc::clone(status)));
    let stop = stage.token();
    stage
        .tasks()
        .spawn(serve(listener, state, serving, stop.clone()));
    stage.tasks().spawn(sample_counters(
        metrics.clone(),
        Arc::clone(status.history()),
        stop.clone(),
    ));
}

/// The checkpoint store (with `state_dir`) and the offset board filled
/// from what it holds.
fn open_checkpoint(
    config: &Config,
) -> Result<(Option<Arc<CheckpointStore>>, Arc<OffsetBoard>), RunError> {
    let store = match &config.state_dir {
        Some(dir) => Some(Arc::new(CheckpointStore::open(dir)?)),
        None => None,
    };
    let board = OffsetBoard::from_checkpoint(load_checkpoint(store.as_deref())?);
    Ok((store, Arc::new(board)))
}

impl Daemon {
    /// Start-up, in order: config and catalogue, metrics, the listener, the
    /// checkpoint, the inputs; then readiness.
    ///
    /// A start that fails cancels the tree it made and awaits what it had
    /// started, so the port is free again when the error is returned. (The
    /// steps that can fail come before the first task anyway: what they
    /// opened, the listener and the state directory, closes as it is
    /// dropped.)
    async fn start(
        options: RunOptions,
        shutdown: &CancellationToken,
        config_changes: mpsc::Sender<()>,
    ) -> Result<Self, RunError> {
        let tree = Tree::under(shutdown);
        let started = Self::start_in(tree.clone(), options, config_changes).await;
        if started.is_err() {
            tree.stop().await;
        }
        started
    }

    /// [`Daemon::start`]'s steps, in `tree`.
    async fn start_in(
        tree: Tree,
        options: RunOptions,
        config_changes: mpsc::Sender<()>,
    ) -> Result<Self, RunError> {
        let (config, catalog) = load(&options)?;
        let web_config = match &options.web_config_file {
            Some(path) => Some(http::WebConfig::load(path)?),
            None => None,
        };
        let metrics = Metrics::new()?;
        metrics.set_catalog(&catalog);
        metrics.set_reload_result(true);
        let listener = listen(&options, &config).await?;
        let (store, board) = open_checkpoint(&config)?;

        // Nothing fails from here on.
        let status = Arc::new(DaemonStatus::new(Arc::clone(&catalog)));
        let serving_connections = options
            .max_connections
            .unwrap_or(http::DEFAULT_MAX_CONNECTIONS);
        let serve_options = http::ServeOptions {
            web_config,
            max_connections: serving_connections,
        };
        spawn_serving(&tree.serving, listener, serve_options, &metrics, &status);
        let stdin = StdinInput::new(Arc::clone(&status), config.max_line_bytes, &tree.inputs);
        stdin.bind(&config, &catalog, &metrics);
        let budget = Arc::new(DescriptorBudget::for_process(serving_connections));
        let pipeline = Pipeline::start(
            &tree.inputs,
            &config,
            &catalog,
            &metrics,
            &status,
            &board,
            &budget,
        );
        status.set_ready(true);
        notify_systemd(sd_notify::NotifyState::Ready);

        if let Some(store) = store {
            tree.checkpointing.tasks().spawn(write_checkpoints(
                store,
                Arc::clone(&board),
                config.checkpoint_interval,
                metrics.clone(),
                tree.checkpointing.token().clone(),
            ));
        }
        let config_watcher = watch_files(&watched_files(&options, &config), config_changes.clone());
        Ok(Self {
            options,
            config,
            catalog,
            metrics,
            status,
            board,
            budget,
            stdin,
            pipeline,
            tree,
            config_changes,
            config_watcher,
        })
    }

    /// Loads the config and catalogue anew and swaps them in: the running
    /// inputs are stopped and awaited, series of removed inputs and types
    /// go, and every input (stdin too) counts with the new catalogue. An
    /// invalid config keeps everything as it is.
    async fn reload(&mut self) {
        let (config, catalog) = match load(&self.options) {
            Ok(loaded) => loaded,
            Err(error) => {
                self.metrics.set_reload_result(false);
                tracing::error!(%error, "reload failed; keeping the running configuration");
                return;
            }
        };
        if config.listen_address != self.config.listen_address {
            tracing::warn!("listen_address changes take effect at the next restart");
        }
        let stopped = std::mem::replace(&mut self.pipeline, Pipeline::idle());
        stopped.stop(self.tree.inputs.token()).await;
        if self.tree.inputs.is_cancelled() {
            // Shutting down: the final checkpoint may already be under way,
            // and nothing new may publish past it.
            return;
        }
        // stdin first: once bound anew, nothing counts into the old
        // binding, so no late publish makes a forgotten series again.
        self.stdin.bind(&config, &catalog, &self.metrics);
        let keep: Vec<String> = config
            .inputs
            .iter()
            .map(|input| input.name.clone())
            .collect();
        for input in &self.config.inputs {
            if keep.contains(&input.name) {
                self.metrics.forget_types(&input.name, &catalog);
            } else {
                self.metrics.forget_input(&input.name);
            }
        }
        self.status.retain_inputs(&keep);
        self.board.retain(&keep);
        self.metrics.set_catalog(&catalog);
        self.status.set_catalog(Arc::clone(&catalog));
        self.pipeline = Pipeline::start(
            &self.tree.inputs,
            &config,
            &catalog,
            &self.metrics,
            &self.status,
            &self.board,
            &self.budget,
        );
        self.config_watcher = watch_files(
            &watched_files(&self.options, &config),
            self.config_changes.clone(),
        );
        self.metrics.set_reload_result(true);
        tracing::info!(
            inputs = config.inputs.len(),
            types = catalog.len(),
            "configuration reloaded"
        );
        self.config = config;
        self.catalog = catalog;
    }

    /// Shutdown, in order: stop reading (inputs publish what they counted),
    /// the final checkpoint, then the HTTP server.
    async fn shut_down(self) {
        tracing::info!("shutting down");
        notify_systemd(sd_notify::NotifyState::Stopping);
        drop(self.config_watcher);
        self.tree.stop().await;
    }
}

/// Binds the listen address, or takes systemd's socket.
async fn listen(options: &RunOptions, config: &Config) -> Result<TcpListener, RunError> {
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
    Ok(listener)
}

/// Serves HTTP until `stop` is cancelled.
async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    options: http::ServeOptions,
    stop: CancellationToken,
) {
    if let Err(error) = http::serve(listener, state, options, stop).await {
        tracing::error!(%error, "http server failed");
    }
}

/// The checkpoint to resume from: the stored one, or none.
fn load_checkpoint(store: Option<&CheckpointStore>) -> Result<Checkpoint, RunError> {
    let Some(store) = store else {
        return Ok(Checkpoint::default());
    };
    match store.load() {
        Ok(checkpoint) => Ok(checkpoint),
        // Moved aside already: nothing in it can be trusted.
        Err(error @ CheckpointError::Corrupt { .. }) => {
            tracing::warn!(%error, "starting without the checkpoint");
            Ok(Checkpoint::default())
        }
        // Unreadable (permissions, a directory in its place): starting
        // fresh would overwrite every file's position at the next save.
        Err(error) => Err(error.into()),
    }
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

    /// A daemon on an ephemeral port whose config file holds one input on
    /// `dir`'s logs. Its config file is not watched: the test decides
    /// when it reloads.
    async fn daemon_in(dir: &std::path::Path) -> (Daemon, mpsc::Receiver<()>) {
        let config = dir.join("errtally.toml");
        let input = format!(
            "[[input]]\nname = \"app\"\npaths = [\"{}/*.log\"]\n",
            dir.display()
        );
        std::fs::write(&config, input).unwrap();
        let options = RunOptions {
            config_path: Some(config),
            listen_address: Some("127.0.0.1:0".parse().unwrap()),
            ..RunOptions::default()
        };
        let (changes, changed) = mpsc::channel(1);
        let mut daemon = Daemon::start(options, &CancellationToken::new(), changes)
            .await
            .unwrap();
        daemon.config_watcher = None;
        (daemon, changed)
    }

    /// A loopback address no one listens on (bound, then let go).
    fn free_address() -> SocketAddr {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap()
    }

    /// The value of the unlabelled `name` in `metrics`' exposition.
    fn value(metrics: &Metrics, name: &str) -> Option<f64> {
        let text = String::from_utf8(metrics.render()).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[tokio::test]
    async fn a_closed_reload_channel_never_reloads_and_shutdown_ends_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        let (daemon, config_changed) = daemon_in(dir.path()).await;
        let metrics = daemon.metrics.clone();
        // Any reload from here on fails, and shows.
        std::fs::write(dir.path().join("errtally.toml"), "listen_address = \"x\"\n").unwrap();
        let shutdown = daemon.tree.token.clone();
        let (reload_tx, reload) = mpsc::channel(1);
        drop(reload_tx);
        let following = tokio::spawn(daemon.follow(reload, config_changed));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            value(&metrics, "errtally_config_last_reload_successful"),
            Some(1.0),
            "reloaded without being asked"
        );
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), following)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_reload_that_drops_stdin_leaves_none_of_its_series() {
        let dir = tempfile::tempdir().unwrap();
        let (mut daemon, _config_changed) = daemon_in(dir.path()).await;
        // Lines without pause, with new uncatalogued statuses, so a late
        // publish from the old binding would make series again.
        daemon.stdin = StdinInput::reading(
            Arc::clone(&daemon.status),
            1 << 20,
            &daemon.tree.inputs,
            crate::tail::stdin::test_source::Endless::default(),
        );
        let config = dir.path().join("errtally.toml");
        let files = std::fs::read_to_string(&config).unwrap();
        let with_stdin = files.clone() + "[[input]]\nname = \"pipe\"\npaths = [\"-\"]\n";
        let metrics = daemon.metrics.clone();
        let shows_stdin = || {
            String::from_utf8(metrics.render())
                .unwrap()
                .contains("source=\"pipe\"")
        };
        for round in 0..30 {
            std::fs::write(&config, &with_stdin).unwrap();
            daemon.reload().await;
            while !shows_stdin() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            std::fs::write(&config, &files).unwrap();
            daemon.reload().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert!(!shows_stdin(), "a zombie stdin series in round {round}");
        }
        daemon.shut_down().await;
    }

    #[tokio::test]
    async fn a_failed_start_leaves_its_port_free() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::write(&state, "a file where the state directory goes").unwrap();
        let config = dir.path().join("errtally.toml");
        let text = format!(
            "state_dir = \"{}\"\n[[input]]\nname = \"app\"\npaths = [\"{}/*.log\"]\n",
            state.display(),
            dir.path().display()
        );
        std::fs::write(&config, text).unwrap();
        let address = free_address();
        let options = RunOptions {
            config_path: Some(config),
            listen_address: Some(address),
            ..RunOptions::default()
        };
        let (changes, _changed) = mpsc::channel(1);
        let error = Daemon::start(options, &CancellationToken::new(), changes)
            .await
            .err()
            .unwrap();
        assert!(matches!(error, RunError::Checkpoint(_)), "{error}");
        // Bound by the start, and left open by nothing it started.
        TcpListener::bind(address).await.unwrap();
    }

    #[tokio::test]
    async fn a_shutdown_saves_what_the_inputs_counted_then_frees_the_port() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let line = "{\"error_type\":\"email_not_found\"}\n";
        std::fs::write(&log, line).unwrap();
        let state = dir.path().join("state");
        let config = dir.path().join("errtally.toml");
        let text = format!(
            "state_dir = \"{}\"\ncheckpoint_interval = \"1h\"\n\
             [[input]]\nname = \"app\"\nstart_at = \"beginning\"\npaths = [\"{}\"]\n",
            state.display(),
            log.display()
        );
        std::fs::write(&config, text).unwrap();
        let address = free_address();
        let options = RunOptions {
            config_path: Some(config),
            listen_address: Some(address),
            ..RunOptions::default()
        };
        let (changes, _changed) = mpsc::channel(1);
        let root = CancellationToken::new();
        let daemon = Daemon::start(options, &root, changes).await.unwrap();
        let counted = "errtally_errors_total{error_type=\"email_not_found\",source=\"app\",status_code=\"404\"} 3";
        let mut appending = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut appending, line.repeat(2).as_bytes()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !String::from_utf8(daemon.metrics.render())
            .unwrap()
            .contains(counted)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never counted: {}",
                String::from_utf8(daemon.metrics.render()).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let tree = daemon.tree.clone();
        root.cancel();
        daemon.shut_down().await;
        for stage in [&tree.inputs, &tree.checkpointing, &tree.serving] {
            assert!(stage.is_cancelled());
            assert!(stage.tasks().is_empty());
        }
        let saved = CheckpointStore::open(&state).unwrap().load().unwrap();
        let entry = saved.files.iter().find(|entry| entry.path == log).unwrap();
        assert_eq!(entry.offset, 3 * line.len() as u64);
        TcpListener::bind(address).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn settling_gives_way_to_shutdown() {
        let (changed, mut changes) = mpsc::channel::<()>(1);
        // A file that never stops changing.
        let _forever = tokio::spawn(async move {
            while changed.send(()).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        let _signal = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            signal.cancel();
        });
        let started = tokio::time::Instant::now();
        changes.recv().await.unwrap();
        settle(&mut changes, &shutdown).await;
        assert_eq!(started.elapsed(), Duration::from_millis(300));
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
        settle(&mut changes, &CancellationToken::new()).await;
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
        settle(&mut changes, &CancellationToken::new()).await;
        assert_eq!(started.elapsed(), MAX_RELOAD_DELAY);
    }
}
