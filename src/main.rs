//! The `errtally` binary: parses arguments, sets up logging and signals,
//! and hands over to the library. Exit codes: 0 success, 1 runtime failure
//! (an unreadable scan input, a failed bind), 2 a configuration mistake.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use errtally::cli::{self, Cli, Command, LogArgs, LogLevel, RunArgs, StartAtArg};
use errtally::config::{Config, StartAt};
use errtally::daemon::{self, RunOptions};
use errtally::logging::{LogFormat, LogOptions};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => errtally::cmd::batch::scan(&args),
        Command::Catalog(args) => errtally::cmd::batch::print_catalog(&args),
        Command::Gen(args) => errtally::cmd::batch::generate(&args),
        Command::Check(args) => check(args.config.as_deref(), args.web_config_file.as_deref()),
        Command::Run(args) => return run(&args),
        Command::Completions(args) => {
            return print(&errtally::cmd::docs::completion_script(args.shell));
        }
        Command::Man => {
            return match errtally::cmd::docs::man_page() {
                Ok(page) => print(&page),
                Err(error) => {
                    eprintln!("errtally: cannot render the manual page: {error}");
                    ExitCode::from(1)
                }
            };
        }
        Command::Demo(args) => {
            errtally::logging::init(log_options(&args.log));
            return match errtally::cmd::demo::start(args.rate) {
                Ok(demo) => {
                    let options = RunOptions {
                        listen_address: Some(args.listen_address),
                        paths: vec![demo.log_path().display().to_string()],
                        start_at: StartAt::Beginning,
                        web_config_file: args.web.config_file.clone(),
                        max_connections: Some(args.web.max_connections),
                        ..RunOptions::default()
                    };
                    // With a web config the scheme may be https.
                    let scheme = if args.web.config_file.is_some() {
                        "http(s)"
                    } else {
                        "http"
                    };
                    eprintln!(
                        "errtally demo: writing {} synthetic Stytch log lines/s to {}\n  metrics:     {scheme}://{}/metrics\n  status page: {scheme}://{}/",
                        args.rate,
                        demo.log_path().display(),
                        args.listen_address,
                        args.listen_address
                    );
                    let code = serve(options);
                    drop(demo);
                    code
                }
                Err(error) => {
                    eprintln!("errtally: cannot start the demo: {error:#}");
                    ExitCode::from(1)
                }
            };
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("errtally: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Writes a generated document to stdout: exit 1 if it cannot.
fn print(document: &[u8]) -> ExitCode {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(document).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("errtally: cannot write to stdout: {error}");
            ExitCode::from(1)
        }
    }
}

/// The library's logging options from `--log.level` and `--log.format`.
fn log_options(args: &LogArgs) -> LogOptions {
    LogOptions {
        level: match args.level {
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Error => tracing::Level::ERROR,
        },
        format: match args.format {
            cli::LogFormat::Logfmt => LogFormat::Logfmt,
            cli::LogFormat::Json => LogFormat::Json,
        },
    }
}

/// `errtally check`: loads the config and its catalogues, and the web
/// config with the files it names; prints a summary of each.
fn check(
    path: Option<&std::path::Path>,
    web_config: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = path {
        let config = Config::load(path)?;
        let catalog = daemon::load_catalog(&config)?;
        for warning in daemon::glob_warnings(&config) {
            eprintln!("errtally: warning: {warning}");
        }
        println!(
            "{}: ok ({} inputs, {} error types, listen_address {})",
            path.display(),
            config.inputs.len(),
            catalog.len(),
            config.listen_address
        );
    }
    if let Some(path) = web_config {
        let web = errtally::export::http::WebConfig::load(path)?;
        println!(
            "{}: ok (tls {}, {} basic auth users, {} headers)",
            path.display(),
            if web.tls().is_some() { "on" } else { "off" },
            web.auth().map_or(0, |auth| auth.len()),
            web.headers().len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `errtally run`.
fn run(args: &RunArgs) -> ExitCode {
    errtally::logging::init(log_options(&args.log));
    let options = RunOptions {
        config_path: args.config.clone(),
        listen_address: args.listen_address,
        systemd_socket: args.systemd_socket,
        paths: args.paths.clone(),
        stdin: args.stdin,
        start_at: match args.start_at {
            StartAtArg::Beginning => StartAt::Beginning,
            StartAtArg::End => StartAt::End,
        },
        web_config_file: args.web.config_file.clone(),
        max_connections: Some(args.web.max_connections),
    };
    serve(options)
}

/// Runs the daemon on its own runtime until SIGTERM or SIGINT; SIGHUP reloads.
fn serve(options: RunOptions) -> ExitCode {
    raise_open_file_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("errtally: cannot start the runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        let (reload_tx, reload_rx) = mpsc::channel(1);
        // Without handlers SIGTERM would kill the daemon before its final
        // checkpoint: refuse to run rather than lose positions.
        forward_signals(shutdown.clone(), reload_tx).map_err(daemon::RunError::Signals)?;
        daemon::run(options, shutdown, reload_rx).await
    });
    // Everything watched the tree and has ended; a blocking-pool read
    // stuck in the kernel (a hung NFS mount) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "errtally stopped");
            eprintln!("errtally: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// Each followed file holds a descriptor, and a node's thousands of pod logs
/// pass systemd's default soft limit of 1,024: raise the soft limit to the
/// hard one.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open file limit"),
    }
}

/// SIGTERM and SIGINT cancel `shutdown`, the root of every task's token;
/// SIGHUP asks for a reload.
fn forward_signals(shutdown: CancellationToken, reload: mpsc::Sender<()>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    let _ = reload.try_send(());
                }
            }
        }
        tracing::info!("signal received: stopping");
        shutdown.cancel();
    });
    Ok(())
}
