//! Command-line interface: the clap definitions and nothing else.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Counts catalogued Stytch B2B 404 errors in JSON logs and exports them as
/// Prometheus metrics.
#[derive(Debug, Parser)]
#[command(name = "errtally", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Follow log files (and stdin) and serve Prometheus metrics.
    Run(RunArgs),
    /// Validate a config file (and its catalogues) without starting.
    Check(CheckArgs),
    /// Write synthetic Stytch logs at a steady rate and run the daemon on them.
    Demo(DemoArgs),
    /// Scan log files, directories (recursively) or stdin to the end and
    /// print the counts.
    Scan(ScanArgs),
    /// Print the error catalogue.
    Catalog(CatalogArgs),
    /// Write a deterministic synthetic log corpus and its expected tally.
    #[command(hide = true)]
    Gen(GenArgs),
    /// Print a shell completion script on stdout.
    Completions(CompletionsArgs),
    /// Print the manual page (roff, section 1) on stdout.
    Man,
}

/// `errtally completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell whose completion script to print.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `errtally completions` writes for: the ones Debian packages
/// have a vendor completion directory for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// Bash (bash-completion).
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

/// Catalogue selection shared by the subcommands.
#[derive(Debug, Args)]
pub struct CatalogSelection {
    /// Catalogue file(s) to use instead of the built-in one; repeatable, merged.
    #[arg(long = "catalog", value_name = "FILE")]
    pub catalogs: Vec<PathBuf>,
}

/// `errtally scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Report format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    #[command(flatten)]
    pub catalog: CatalogSelection,
    /// Lines longer than this are truncated to it (and counted as truncated).
    #[arg(long, value_name = "BYTES", default_value_t = crate::read::frame::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Threads that read and count (default: the available cores). Files
    /// of 4 MiB and more are cut into ranges counted in parallel, and
    /// several files are counted at once; 1 reads one file after another.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Size of the ranges a file is cut into, and the least size of a file
    /// that is cut (tests and measurements).
    #[arg(long, value_name = "BYTES", hide = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub range_bytes: Option<u64>,
    /// Also report each input on its own: a section per file in the table,
    /// a "files" array in JSON (not with --format prometheus).
    #[arg(long)]
    pub by_file: bool,
    /// Also list, for each catalogued type, the N records with the latest
    /// time (untimed ones last): request ID, time, file and byte offset.
    /// Adds "examples" in JSON (not with --format prometheus).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub examples: Option<u16>,
    /// Count only records whose time is at or after T: RFC 3339, or a
    /// duration before now (7d, 36h, 90m). Adds "untimed" to the report.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Count only records whose time is before T (as for --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Also count per period of DURATION (1h, 15m, 1d, ...), starting at
    /// local midnight in --timezone. Adds "untimed" and "periods".
    #[arg(long, value_name = "DURATION")]
    pub by: Option<String>,
    /// The zone of times without one, and of the periods' midnights: an
    /// IANA name, UTC or ±hh:mm (default: TZ, then /etc/localtime).
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// With --format openmetrics: seconds between samples (at most 2m).
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub step: String,
    /// With --format openmetrics: the `source` label, as a daemon's input
    /// name.
    #[arg(long, value_name = "NAME", default_value = "scan")]
    pub source: String,
    /// With --format openmetrics: labels from each file's absolute path,
    /// as the `path_labels` config key makes them.
    #[arg(long, value_name = "REGEX")]
    pub path_labels: Option<String>,
    /// With --format openmetrics: a label on every series (repeatable),
    /// such as the `job` and `instance` a scrape adds.
    #[arg(long = "label", value_name = "NAME=VALUE")]
    pub labels: Vec<String>,
    /// Files to scan, plain, gzip or zstd (recognised by their first
    /// bytes); directories are walked for every regular file below them,
    /// in path order; `-` or none reads stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Formats of the scan report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// Catalogued types by count, with their hints.
    Table,
    /// One JSON object.
    Json,
    /// Prometheus text exposition format, the daemon's metric families.
    Prometheus,
    /// OpenMetrics with a sample at every --step, for `promtool tsdb
    /// create-blocks-from openmetrics` (history for a new Prometheus).
    Openmetrics,
}

/// `errtally catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = CatalogFormat::Table)]
    pub format: CatalogFormat,
    #[command(flatten)]
    pub catalog: CatalogSelection,
}

/// Formats of the catalogue listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatalogFormat {
    /// One line per type with its hint.
    Table,
    /// The catalogue file format.
    Json,
}

/// `errtally gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Seed: the same seed writes the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Approximate size of the corpus in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub bytes: u64,
    /// Percentage of lines that carry an error_type.
    #[arg(long, default_value_t = 10)]
    pub error_percent: u32,
    /// Only clean, realistic lines (no garbage, no over-long lines).
    #[arg(long)]
    pub clean: bool,
    /// The max line length the expected tally assumes.
    #[arg(long, value_name = "BYTES", default_value_t = crate::read::frame::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Where to write the corpus (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where to write the expected tally (JSON, the `scan --format json` shape).
    #[arg(long, value_name = "FILE")]
    pub expected: Option<PathBuf>,
    /// Frame every record as this container runtime does, and split about
    /// half of them into parts (the tally's `lines` counts each part).
    #[arg(long, value_enum, value_name = "FRAMING")]
    pub split: Option<SplitArg>,
    /// Write a time on every logger line, in a mix of logger styles; the
    /// expected tally then counts errors by minute ("times").
    #[arg(long)]
    pub times: bool,
    /// With --times: the zone zone-less times are written in (an IANA
    /// name, UTC or ±hh:mm).
    #[arg(long, value_name = "ZONE", default_value = "UTC", requires = "times")]
    pub timezone: String,
    /// With --times: spread the lines over about this long (6h, 7d)
    /// instead of 20 ms a line.
    #[arg(long, value_name = "DURATION", requires = "times", value_parser = humantime::parse_duration)]
    pub span: Option<std::time::Duration>,
}

/// `gen --split`: the container runtime whose framing splits records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    /// Docker's json-file driver.
    Docker,
    /// CRI (containerd, CRI-O).
    Cri,
}

/// Logging flags, as in the Prometheus ecosystem.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Only log messages at or above this level.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub level: LogLevel,
    /// Log line format (on stderr).
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub format: LogFormat,
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including each file opened.
    Debug,
    /// Start, stop, rotations, reloads.
    Info,
    /// Problems errtally works around.
    Warn,
    /// Problems that lose data or features.
    Error,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `ts=… level=info msg="…" key=value`.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Where new files start, for `--start-at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StartAtArg {
    /// Count what the files already hold.
    Beginning,
    /// Count only lines written from now on.
    End,
}

/// `errtally run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Config file (TOML); flags and PATH arguments add to it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to serve /metrics on (overrides listen_address).
    #[arg(long = "web.listen-address", value_name = "ADDR")]
    pub listen_address: Option<SocketAddr>,
    /// Serve on the socket systemd passes (socket activation, `errtally.socket`)
    /// instead of binding one.
    #[arg(long = "web.systemd-socket", conflicts_with = "listen_address")]
    pub systemd_socket: bool,
    #[command(flatten)]
    pub web: WebArgs,
    /// Also count lines from stdin (source label "stdin").
    #[arg(long)]
    pub stdin: bool,
    /// For files given as arguments and present at start: where to begin.
    #[arg(long, value_enum, default_value_t = StartAtArg::End)]
    pub start_at: StartAtArg,
    #[command(flatten)]
    pub log: LogArgs,
    /// Files or globs to follow (source label "default").
    #[arg(value_name = "PATH|GLOB")]
    pub paths: Vec<String>,
}

/// How the endpoint is protected and how much it serves at once.
#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Web config file in the Prometheus exporter-toolkit format: TLS,
    /// client certificates, basic auth, response headers. Re-read when it
    /// or its certificate files change.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Connections served at once; past it, new connections wait in the
    /// accept queue.
    #[arg(
        long = "web.max-connections",
        value_name = "N",
        default_value_t = crate::export::http::DEFAULT_MAX_CONNECTIONS,
        value_parser = parse_max_connections
    )]
    pub max_connections: usize,
}

fn parse_max_connections(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(error) => Err(error.to_string()),
    }
}

/// `errtally check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Config file to validate.
    #[arg(long, value_name = "FILE", required_unless_present = "web_config_file")]
    pub config: Option<PathBuf>,
    /// Web config file (exporter-toolkit format) to validate, with the
    /// certificate and key files it names.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
}

/// `errtally demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to serve /metrics on.
    #[arg(
        long = "web.listen-address",
        value_name = "ADDR",
        default_value = "127.0.0.1:10404"
    )]
    pub listen_address: SocketAddr,
    #[command(flatten)]
    pub web: WebArgs,
    /// Log lines written per second.
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    #[command(flatten)]
    pub log: LogArgs,
}
