//! The daemon's configuration: the TOML file, command-line inputs, and their
//! validation into a [`Config`].
//!
//! Parsing happens in two steps. Raw serde structs mirror the file exactly
//! (`deny_unknown_fields`, with [`toml::Spanned`] on every value that gets a
//! semantic check), then [`Config::parse`] validates them into typed values.
//! Every mistake becomes a [`ConfigError::Invalid`] naming the file, the
//! 1-based line and column, and the dotted key (`input[1].start_at`), because
//! the people reading it are SREs looking at a failed start, not at Rust.
//!
//! Invariants of a [`Config`] built here: durations are at least
//! [`MIN_INTERVAL`], `max_line_bytes` is within [`MAX_LINE_BYTES_LIMIT`],
//! input names are valid Prometheus label values and unique, at most one input
//! reads stdin, every glob compiles, and relative paths from the file are
//! already joined to the file's directory. An input's `path_labels` compiles,
//! names every capture group with a Prometheus label name of its own (see
//! [`PathLabels`]), and is never on an input that reads stdin.
//!
//! Deliberately not done here: expanding globs, checking that files or the
//! state directory exist (files may appear later; that is the tailer's job),
//! and resolving host names in `listen_address`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::position::{LineIndex, Mistake, Position, PositionedError};

/// Default `/metrics` address; port 10404 lies outside Prometheus' allocated
/// exporter range (9100-9999), so it will not collide with a node_exporter.
pub(crate) const DEFAULT_LISTEN_ADDRESS: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, DEFAULT_PORT));

/// The port of [`DEFAULT_LISTEN_ADDRESS`].
pub(crate) const DEFAULT_PORT: u16 = 10404;

/// Default for both `checkpoint_interval` and `poll_interval`: frequent enough
/// that a restart recounts at most a second of logs, cheap enough to ignore.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Shortest accepted interval: anything faster turns the daemon into a busy
/// loop of fsyncs and stats without making the numbers any fresher.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Default longest line, the framer's: JSON log records above 1 MiB are
/// almost always a runaway dump, not a request log.
pub use crate::read::frame::DEFAULT_MAX_LINE_BYTES;

/// Upper bound for `max_line_bytes`, so one bad file cannot make the framer
/// hold an unbounded buffer.
pub(crate) const MAX_LINE_BYTES_LIMIT: usize = 64 * 1024 * 1024;

/// Longest input name; names become the `source` label on every series.
pub(crate) const MAX_INPUT_NAME_LEN: usize = 64;

/// Default `path_labels_ttl`: a label set whose files are all gone is kept
/// this long, so a pod restarting under the same name keeps its series.
pub(crate) const DEFAULT_PATH_LABELS_TTL: Duration = Duration::from_secs(3600);

/// Default `max_label_sets`: live label sets per input before counts go to
/// the `__overflow__` set; 1,000 sets are 48,000 series.
pub(crate) const DEFAULT_MAX_LABEL_SETS: usize = 1000;

/// Upper bound for `max_label_sets`: each set is about 48 series.
pub(crate) const MAX_LABEL_SETS_LIMIT: usize = 100_000;

/// Default `max_files`: files one input follows at most. A glob that
/// matches more (`/**/*` by mistake) would otherwise open every file it
/// finds and hold a descriptor and a reader for each.
pub(crate) const DEFAULT_MAX_FILES: usize = 100_000;

/// Upper bound for `max_files`.
pub(crate) const MAX_FILES_LIMIT: usize = 10_000_000;

/// Labels of the families that carry path labels, which a capture may not
/// reuse; and the labels Prometheus puts on every scraped series, which a
/// capture would override under `honor_labels`.
pub(crate) const RESERVED_LABELS: &[&str] =
    &["source", "status_code", "error_type", "job", "instance"];

/// Name of the input made of the positional PATH arguments.
pub(crate) const CLI_INPUT_NAME: &str = "default";

/// Name of the input added by `--stdin`.
pub(crate) const STDIN_INPUT_NAME: &str = "stdin";

/// The path spelling that means standard input, as in most Unix tools.
pub(crate) const STDIN_PATH: &str = "-";

const NO_INPUTS: &str = "no inputs: give PATH arguments, --stdin or [[input]] in the config";

/// Top-level keys, used to explain a key that landed inside `[[input]]`
/// because it was written below the first `[[input]]` header.
const TOP_LEVEL_KEYS: &[&str] = &[
    "listen_address",
    "state_dir",
    "checkpoint_interval",
    "poll_interval",
    "watch",
    "max_line_bytes",
    "catalog",
    "timezone",
    "status_page_show_lines",
];

/// Everything `errtally run` needs to know before it starts, already
/// validated so the rest of the daemon never re-checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where `/metrics` is served.
    pub listen_address: SocketAddr,
    /// Directory for checkpoints; `None` means every start begins afresh.
    pub state_dir: Option<PathBuf>,
    /// How often changed offsets are persisted.
    pub checkpoint_interval: Duration,
    /// Safety-net stat of watched files, for filesystems where notifications
    /// are lost (NFS, some container mounts).
    pub poll_interval: Duration,
    /// How file changes are noticed.
    pub watch: WatchMode,
    /// Longest line counted; longer lines are skipped, bounding memory.
    pub max_line_bytes: usize,
    /// Catalogue files; empty means the built-in catalogue.
    pub catalog: Vec<PathBuf>,
    /// Each `catalog` entry as written in the file, in the same order, so
    /// that a catalogue which cannot be read is told as a mistake of the
    /// config ([`Config::unreadable_catalog`]).
    pub catalog_entries: Vec<CatalogEntry>,
    /// The zone a record's time without one is read in (`timezone`: an
    /// IANA name, `UTC` or `±hh:mm`, checked here; `None` is the machine's
    /// zone), as `scan --timezone`. The daemon reads the times of counted
    /// records in it, for `errtally_error_last_seen_timestamp_seconds` and
    /// the exemplars.
    pub timezone: Option<String>,
    /// Whether the status page's examples show the line of each record
    /// (`status_page_show_lines`, off by default: logs carry personal
    /// data).
    pub status_page_show_lines: bool,
    /// The sources to tail, in file order, then command-line order.
    pub inputs: Vec<InputConfig>,
    /// The file this came from, kept for messages and the status page.
    pub path: Option<PathBuf>,
}

/// One `catalog` entry where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The position of its string in the config file.
    pub at: Position,
    /// The path as written (relative ones unjoined).
    pub written: String,
}

/// How the daemon notices file changes (`watch`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WatchMode {
    /// inotify where it works, polling every `poll_interval` where not.
    #[default]
    Auto,
    /// As `auto`, but a directory that cannot be watched is an error in
    /// the log, not a warning.
    Inotify,
    /// No inotify: every `poll_interval`, every file is looked at and the
    /// globs are re-listed (filesystems whose notifications cannot be
    /// trusted, such as NFS or FUSE mounts).
    Poll,
}

/// One source of log lines, counted under its own `source` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputConfig {
    /// The `source` label value: 1..=64 chars of `[A-Za-z0-9_.-]`, unique.
    pub name: String,
    /// What to read; never empty.
    pub paths: Vec<InputPath>,
    /// Where to begin in files found at start without a checkpoint.
    pub start_at: StartAt,
    /// Labels captured from each file's path; `None` keeps the series as
    /// they are without (no extra labels). Never set on an input that reads
    /// stdin, which has no path.
    pub path_labels: Option<PathLabels>,
    /// Most files followed at once; the matches past it, in sorted path
    /// order, are dropped and counted (`errtally_files_dropped_total`).
    pub max_files: usize,
}

/// An input's `path_labels`: a regular expression whose named captures,
/// matched against a file's absolute path, become labels of the file's
/// `errtally_errors_total`, `errtally_uncatalogued_errors_total` and
/// `errtally_lines_total` series; with the bounds on how many label sets
/// live.
///
/// Every capture group is named, and every name is a valid Prometheus
/// label name that is not `__`-prefixed and not in [`RESERVED_LABELS`].
#[derive(Debug, Clone)]
pub struct PathLabels {
    regex: regex::bytes::Regex,
    names: Vec<String>,
    /// How long a label set whose files are all closed is kept.
    pub(crate) ttl: Duration,
    /// Most live label sets; past it, new ones count into `__overflow__`.
    pub max_label_sets: usize,
}

impl PartialEq for PathLabels {
    fn eq(&self, other: &Self) -> bool {
        self.pattern() == other.pattern()
            && self.ttl == other.ttl
            && self.max_label_sets == other.max_label_sets
    }
}

impl Eq for PathLabels {}

impl PathLabels {
    /// Compiles and checks `pattern`; the error says what is wrong in
    /// words for a config message.
    pub fn new(pattern: &str, ttl: Duration, max_label_sets: usize) -> Result<Self, String> {
        let regex = regex::bytes::Regex::new(pattern).map_err(|error| {
            // The crate's message draws a caret under the pattern over
            // several lines; its last line says what is wrong.
            let text = error.to_string();
            let what = text
                .lines()
                .last()
                .map(str::trim)
                .map(|line| line.strip_prefix("error: ").unwrap_or(line))
                .unwrap_or_default()
                .to_owned();
            format!("invalid regular expression {pattern:?}: {what}")
        })?;
        let mut names = Vec::new();
        for (index, name) in regex.capture_names().enumerate().skip(1) {
            let Some(name) = name else {
                return Err(format!(
                    "capture group {index} has no name; name it, as in (?P<service>[^/]+), \
                     or make it non-capturing: (?:...)"
                ));
            };
            if let Some(problem) = label_name_problem(name) {
                return Err(format!("capture name {name:?} {problem}"));
            }
            names.push(name.to_owned());
        }
        if names.is_empty() {
            return Err(
                "has no named capture group; name the parts of the path that become labels, \
                 as in '^/var/log/(?P<service>[^/]+)/'"
                    .to_owned(),
            );
        }
        Ok(Self {
            regex,
            names,
            ttl,
            max_label_sets,
        })
    }

    /// The expression as written.
    pub(crate) fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    /// The label names, in the order of their capture groups.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The label values for the file at `path`, one per name: what each
    /// group captured, or empty when the path does not match or the group
    /// took no part in the match. The path is matched in its lossy form
    /// (bytes that are not UTF-8 become U+FFFD), so `[^/]+` captures a
    /// name that is not UTF-8 as it captures any other.
    pub fn values(&self, path: &Path) -> Vec<String> {
        let lossy = path.to_string_lossy();
        let captures = self.regex.captures(lossy.as_bytes());
        self.names
            .iter()
            .map(|name| {
                captures
                    .as_ref()
                    .and_then(|captures| captures.name(name))
                    .map(|found| String::from_utf8_lossy(found.as_bytes()).into_owned())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Why `name` cannot be a path label's name, if it cannot (as "is ...").
pub(crate) fn label_name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some(
            "is not a Prometheus label name: use A-Z, a-z, 0-9 and '_', not starting with a digit"
                .to_owned(),
        );
    }
    if name.starts_with("__") {
        return Some("starts with \"__\", which Prometheus reserves for its own use".to_owned());
    }
    if RESERVED_LABELS.contains(&name) {
        return Some(format!(
            "clashes with a label errtally or Prometheus sets itself ({}); rename the capture",
            RESERVED_LABELS.join(", ")
        ));
    }
    None
}

/// One thing an input reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPath {
    /// Standard input (`"-"`); at most one input in a [`Config`] has it.
    Stdin,
    /// A glob pattern that compiles with [`glob::Pattern::new`]; relative
    /// patterns from the file are already joined to the file's directory,
    /// command-line ones are kept as given (relative to the working directory).
    Glob(String),
}

/// Where to start reading a file seen for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartAt {
    /// Count the file's existing contents too (backfill).
    Beginning,
    /// Count only what is appended from now on, so a restart without
    /// checkpoints does not recount old errors.
    #[default]
    End,
}

/// Why a configuration was rejected; the caller exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read at all.
    #[error("{}: cannot read config: {}", path.display(), crate::position::io_reason(error))]
    Io {
        /// The file that was asked for.
        path: PathBuf,
        /// Why, in the message above: not the error's `source()`, so a
        /// printer of the chain (`{:#}`) does not say it twice.
        error: std::io::Error,
    },
    /// The file was read but a value in it is wrong: the file, the 1-based
    /// line and column of the offending value (or key), the dotted key such
    /// as `input[1].start_at` (0-based index; the nearest key for syntax
    /// errors, or `(syntax)` when there is none), and what would be right.
    #[error(transparent)]
    Invalid(PositionedError),
    /// A problem with command-line inputs, or with the combination of file
    /// and command line, which has no position in a file.
    #[error("{0}")]
    Cli(String),
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen_address: DEFAULT_LISTEN_ADDRESS,
            state_dir: None,
            checkpoint_interval: DEFAULT_INTERVAL,
            poll_interval: DEFAULT_INTERVAL,
            watch: WatchMode::Auto,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            catalog: Vec::new(),
            catalog_entries: Vec::new(),
            timezone: None,
            status_page_show_lines: false,
            inputs: Vec::new(),
            path: None,
        }
    }
}

impl Config {
    /// The zone record times without one are read in: `timezone`, else
    /// the machine's (`TZ`, then `/etc/localtime`, else UTC).
    pub fn record_zone(&self) -> crate::time::Zone {
        self.timezone
            .as_deref()
            .and_then(|name| crate::time::Zone::named(name).ok())
            .unwrap_or_else(|| crate::time::Zone::local().0)
    }

    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        let config = Config::parse(path, &text)?;
        tracing::debug!(path = %path.display(), inputs = config.inputs.len(), "config loaded");
        Ok(config)
    }

    /// Validates config `text`; `path` is only named in messages and anchors
    /// relative paths, so tests can parse strings without touching the disk.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let source = Source { path, text };
        // A syntax check first, so syntax errors and schema errors (which
        // toml reports the same way) get different keys.
        if let Err(err) = text.parse::<toml::Table>() {
            return Err(source.syntax_error(&err));
        }
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|err| source.schema_error(&err))?;
        source.validate(&raw)
    }

    /// Adds the inputs given on the command line: all positional `paths`
    /// form one input named [`CLI_INPUT_NAME`] (a `"-"` among them means
    /// stdin), and `stdin` adds an input named [`STDIN_INPUT_NAME`]. Both use
    /// `start_at`. Command-line paths stay relative to the working directory.
    pub(crate) fn add_cli_inputs(
        &mut self,
        paths: &[String],
        stdin: bool,
        start_at: StartAt,
    ) -> Result<(), ConfigError> {
        let mut added = Vec::new();
        if !paths.is_empty() {
            let mut input_paths = Vec::with_capacity(paths.len());
            for path in paths {
                if path == STDIN_PATH {
                    input_paths.push(InputPath::Stdin);
                } else {
                    glob::Pattern::new(path).map_err(|err| {
                        ConfigError::Cli(format!("invalid glob pattern {path:?}: {}", err.msg))
                    })?;
                    input_paths.push(InputPath::Glob(path.clone()));
                }
            }
            added.push(InputConfig {
                name: CLI_INPUT_NAME.to_owned(),
                paths: input_paths,
                start_at,
                path_labels: None,
                max_files: DEFAULT_MAX_FILES,
            });
        }
        if stdin {
            added.push(InputConfig {
                name: STDIN_INPUT_NAME.to_owned(),
                paths: vec![InputPath::Stdin],
                start_at,
                path_labels: None,
                max_files: DEFAULT_MAX_FILES,
            });
        }
        for input in &added {
            if self
                .inputs
                .iter()
                .any(|existing| existing.name == input.name)
            {
                return Err(ConfigError::Cli(format!(
                    "the config already has an input named {:?}, which the command line needs; rename it",
                    input.name
                )));
            }
        }
        let stdin_readers = self
            .inputs
            .iter()
            .chain(&added)
            .filter(|input| input.reads_stdin())
            .count();
        if stdin_readers > 1 {
            return Err(ConfigError::Cli(
                "stdin can be read by only one input (the command line and the config both ask for it)"
                    .to_owned(),
            ));
        }
        self.inputs.extend(added);
        Ok(())
    }

    /// A catalogue file named by this config that could not be read, as
    /// the config's mistake: `FILE:LINE:COLUMN: catalog[I]: AS-WRITTEN:
    /// reason`, pointing at the entry. `None` when no entry names `path`.
    pub fn unreadable_catalog(&self, path: &Path, error: &std::io::Error) -> Option<ConfigError> {
        let file = self.path.as_ref()?;
        let index = self.catalog.iter().position(|named| named == path)?;
        let entry = self.catalog_entries.get(index)?;
        let message = format!("{}: {}", entry.written, crate::position::io_reason(error));
        Some(ConfigError::Invalid(
            Mistake::new(entry.at, format!("catalog[{index}]"), message).in_file(file),
        ))
    }

    /// Checks what only the combination of file and command line can tell:
    /// that there is something to tail at all.
    pub(crate) fn validate_inputs(&self) -> Result<(), ConfigError> {
        if self.inputs.is_empty() {
            return Err(ConfigError::Cli(NO_INPUTS.to_owned()));
        }
        Ok(())
    }
}

impl InputConfig {
    /// Whether this input reads standard input, which only one input may do.
    pub(crate) fn reads_stdin(&self) -> bool {
        self.paths.contains(&InputPath::Stdin)
    }
}

/// The file exactly as written; anything not listed here is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen_address: Option<Spanned<String>>,
    state_dir: Option<Spanned<String>>,
    // `toml::Value` rather than `String`, so a bare integer gets a hint
    // instead of serde's "invalid type".
    checkpoint_interval: Option<Spanned<toml::Value>>,
    poll_interval: Option<Spanned<toml::Value>>,
    watch: Option<Spanned<String>>,
    max_line_bytes: Option<Spanned<i64>>,
    #[serde(default)]
    catalog: Vec<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    status_page_show_lines: Option<bool>,
    #[serde(default)]
    input: Vec<Spanned<RawInput>>,
}

/// One `[[input]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    // Required, but optional here so that their absence is reported at the
    // key `input[i].name` rather than at `input[i]` (serde names a missing
    // field only in its message).
    name: Option<Spanned<String>>,
    paths: Option<Spanned<Vec<Spanned<String>>>>,
    start_at: Option<Spanned<String>>,
    path_labels: Option<Spanned<String>>,
    // `toml::Value`, as for the other durations.
    path_labels_ttl: Option<Spanned<toml::Value>>,
    max_label_sets: Option<Spanned<i64>>,
    max_files: Option<Spanned<i64>>,
}

/// The text being parsed and where it came from; turns byte spans into
/// positioned errors.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

/// What earlier `[[input]]` tables claimed, which later ones may not.
#[derive(Default)]
struct SeenInputs<'r> {
    /// Input names, with the index of the input that took each.
    names: HashMap<&'r str, usize>,
    /// The input that reads stdin.
    stdin_reader: Option<usize>,
}

impl Source<'_> {
    /// The checked [`Config`] of a file that deserialized.
    fn validate(&self, raw: &RawConfig) -> Result<Config, ConfigError> {
        let mut config = Config {
            path: Some(self.path.to_path_buf()),
            ..Config::default()
        };
        self.top_level(raw, &mut config)?;
        let mut seen = SeenInputs::default();
        for (index, raw_input) in raw.input.iter().enumerate() {
            config.inputs.push(self.input(index, raw_input, &mut seen)?);
        }
        Ok(config)
    }

    /// Every key above the first `[[input]]`.
    fn top_level(&self, raw: &RawConfig, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(addr) = &raw.listen_address {
            config.listen_address = self.listen_address(addr)?;
        }
        if let Some(dir) = &raw.state_dir {
            if dir.get_ref().is_empty() {
                return Err(self.invalid(
                    dir.span(),
                    "state_dir",
                    "must not be empty; leave it out to disable checkpoints".to_owned(),
                ));
            }
            config.state_dir = Some(self.resolve(dir.get_ref()));
        }
        if let Some(value) = &raw.checkpoint_interval {
            config.checkpoint_interval = self.duration(value, "checkpoint_interval")?;
        }
        if let Some(value) = &raw.poll_interval {
            config.poll_interval = self.duration(value, "poll_interval")?;
        }
        if let Some(value) = &raw.watch {
            config.watch = self.watch(value)?;
        }
        if let Some(value) = &raw.max_line_bytes {
            config.max_line_bytes =
                self.bounded(value, "max_line_bytes", MAX_LINE_BYTES_LIMIT, " (64 MiB)")?;
        }
        for (index, entry) in raw.catalog.iter().enumerate() {
            if entry.get_ref().is_empty() {
                return Err(self.invalid(
                    entry.span(),
                    &format!("catalog[{index}]"),
                    "must not be empty".to_owned(),
                ));
            }
            config.catalog.push(self.resolve(entry.get_ref()));
            config.catalog_entries.push(CatalogEntry {
                at: LineIndex::new(self.text).position(entry.span().start),
                written: entry.get_ref().clone(),
            });
        }
        if let Some(zone) = &raw.timezone {
            crate::time::Zone::named(zone.get_ref())
                .map_err(|error| self.invalid(zone.span(), "timezone", error.to_string()))?;
            config.timezone = Some(zone.get_ref().clone());
        }
        config.status_page_show_lines = raw.status_page_show_lines.unwrap_or(false);
        Ok(())
    }

    fn listen_address(&self, addr: &Spanned<String>) -> Result<SocketAddr, ConfigError> {
        addr.get_ref().parse().map_err(|_| {
            self.invalid(
                addr.span(),
                "listen_address",
                format!(
                    "expected IP:PORT such as \"{DEFAULT_LISTEN_ADDRESS}\" or \"127.0.0.1:{DEFAULT_PORT}\", found {:?}",
                    addr.get_ref()
                ),
            )
        })
    }

    fn watch(&self, value: &Spanned<String>) -> Result<WatchMode, ConfigError> {
        match value.get_ref().as_str() {
            "auto" => Ok(WatchMode::Auto),
            "inotify" => Ok(WatchMode::Inotify),
            "poll" => Ok(WatchMode::Poll),
            other => Err(self.invalid(
                value.span(),
                "watch",
                format!("expected \"auto\", \"inotify\" or \"poll\", found {other:?}"),
            )),
        }
    }

    /// A count between 1 and `limit` (`limit_note` says it in other units).
    fn bounded(
        &self,
        value: &Spanned<i64>,
        key: &str,
        limit: usize,
        limit_note: &str,
    ) -> Result<usize, ConfigError> {
        usize::try_from(*value.get_ref())
            .ok()
            .filter(|n| (1..=limit).contains(n))
            .ok_or_else(|| {
                self.invalid(
                    value.span(),
                    key,
                    format!(
                        "must be between 1 and {limit}{limit_note}, found {}",
                        value.get_ref()
                    ),
                )
            })
    }

    /// One `[[input]]` table; `seen` holds what earlier inputs claimed
    /// (names, stdin).
    fn input<'r>(
        &self,
        index: usize,
        raw_input: &'r Spanned<RawInput>,
        seen: &mut SeenInputs<'r>,
    ) -> Result<InputConfig, ConfigError> {
        let table = raw_input.span();
        let raw_input = raw_input.get_ref();
        let required = |field: &str| {
            self.invalid(
                table.clone(),
                &format!("input[{index}].{field}"),
                format!("missing field `{field}`"),
            )
        };
        let raw_name = raw_input.name.as_ref().ok_or_else(|| required("name"))?;
        let raw_paths = raw_input.paths.as_ref().ok_or_else(|| required("paths"))?;
        self.input_name(index, raw_name, seen)?;
        let paths = self.input_paths(index, raw_paths, seen)?;
        let start_at = match &raw_input.start_at {
            None => StartAt::default(),
            Some(value) => match value.get_ref().as_str() {
                "beginning" => StartAt::Beginning,
                "end" => StartAt::End,
                other => {
                    return Err(self.invalid(
                        value.span(),
                        &format!("input[{index}].start_at"),
                        format!("expected \"beginning\" or \"end\", found {other:?}"),
                    ));
                }
            },
        };
        let path_labels = self.path_labels(raw_input, index, &paths)?;
        let max_files = match &raw_input.max_files {
            Some(value) => self.bounded(
                value,
                &format!("input[{index}].max_files"),
                MAX_FILES_LIMIT,
                "",
            )?,
            None => DEFAULT_MAX_FILES,
        };
        Ok(InputConfig {
            name: raw_name.get_ref().clone(),
            paths,
            start_at,
            path_labels,
            max_files,
        })
    }

    /// A `source` label value no earlier input took.
    fn input_name<'r>(
        &self,
        index: usize,
        raw_name: &'r Spanned<String>,
        seen: &mut SeenInputs<'r>,
    ) -> Result<(), ConfigError> {
        let name = raw_name.get_ref();
        let key = format!("input[{index}].name");
        if let Some(problem) = name_problem(name) {
            return Err(self.invalid(raw_name.span(), &key, problem));
        }
        if let Some(first) = seen.names.insert(name.as_str(), index) {
            return Err(self.invalid(
                raw_name.span(),
                &key,
                format!("duplicate input name {name:?} (first used by input[{first}])"),
            ));
        }
        Ok(())
    }

    /// An input's `paths`: at least one, each `"-"` or a glob, stdin read
    /// by one input at most; duplicates are dropped.
    fn input_paths(
        &self,
        index: usize,
        raw_paths: &Spanned<Vec<Spanned<String>>>,
        seen: &mut SeenInputs<'_>,
    ) -> Result<Vec<InputPath>, ConfigError> {
        if raw_paths.get_ref().is_empty() {
            return Err(self.invalid(
                raw_paths.span(),
                &format!("input[{index}].paths"),
                "must list at least one glob pattern or \"-\" for stdin".to_owned(),
            ));
        }
        let mut paths = Vec::with_capacity(raw_paths.get_ref().len());
        for (path_index, entry) in raw_paths.get_ref().iter().enumerate() {
            let key = format!("input[{index}].paths[{path_index}]");
            let path = self.input_path(entry, &key)?;
            if path == InputPath::Stdin {
                match seen.stdin_reader {
                    Some(other) if other != index => {
                        return Err(self.invalid(
                            entry.span(),
                            &key,
                            format!("stdin is already read by input[{other}]; only one input may read it"),
                        ));
                    }
                    _ => seen.stdin_reader = Some(index),
                }
            }
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        Ok(paths)
    }

    /// An input's `path_labels` with its `path_labels_ttl` and
    /// `max_label_sets`, which mean nothing without it.
    fn path_labels(
        &self,
        raw: &RawInput,
        index: usize,
        paths: &[InputPath],
    ) -> Result<Option<PathLabels>, ConfigError> {
        let key = |leaf: &str| format!("input[{index}].{leaf}");
        let Some(pattern) = &raw.path_labels else {
            if let Some(ttl) = &raw.path_labels_ttl {
                return Err(self.invalid(
                    ttl.span(),
                    &key("path_labels_ttl"),
                    "applies only to an input with path_labels".to_owned(),
                ));
            }
            if let Some(max) = &raw.max_label_sets {
                return Err(self.invalid(
                    max.span(),
                    &key("max_label_sets"),
                    "applies only to an input with path_labels".to_owned(),
                ));
            }
            return Ok(None);
        };
        if paths.contains(&InputPath::Stdin) {
            return Err(self.invalid(
                pattern.span(),
                &key("path_labels"),
                "cannot be used on an input that reads stdin (\"-\"), which has no path; \
                 read stdin in an input of its own"
                    .to_owned(),
            ));
        }
        let ttl = match &raw.path_labels_ttl {
            Some(value) => self.duration(value, &key("path_labels_ttl"))?,
            None => DEFAULT_PATH_LABELS_TTL,
        };
        let max_label_sets = match &raw.max_label_sets {
            Some(value) => self.bounded(value, &key("max_label_sets"), MAX_LABEL_SETS_LIMIT, "")?,
            None => DEFAULT_MAX_LABEL_SETS,
        };
        PathLabels::new(pattern.get_ref(), ttl, max_label_sets)
            .map(Some)
            .map_err(|message| self.invalid(pattern.span(), &key("path_labels"), message))
    }

    /// A human duration such as `"500ms"` or `"5s"`, at least [`MIN_INTERVAL`].
    fn duration(&self, value: &Spanned<toml::Value>, key: &str) -> Result<Duration, ConfigError> {
        let duration = match value.get_ref() {
            toml::Value::String(text) => humantime::parse_duration(text).map_err(|err| {
                self.invalid(
                    value.span(),
                    key,
                    format!("invalid duration {text:?}: {err} (use e.g. \"500ms\" or \"5s\")"),
                )
            })?,
            toml::Value::Integer(n) => {
                return Err(self.invalid(
                    value.span(),
                    key,
                    format!("{n} has no unit; use a unit, e.g. \"5s\""),
                ));
            }
            other => {
                return Err(self.invalid(
                    value.span(),
                    key,
                    format!(
                        "expected a duration string such as \"5s\", found a {}",
                        other.type_str()
                    ),
                ));
            }
        };
        if duration < MIN_INTERVAL {
            return Err(self.invalid(
                value.span(),
                key,
                format!(
                    "must be at least {}, found {}",
                    humantime::format_duration(MIN_INTERVAL),
                    humantime::format_duration(duration)
                ),
            ));
        }
        Ok(duration)
    }

    /// `"-"` or a glob that compiles; relative globs are anchored at the
    /// config file's directory, whose own glob metacharacters are escaped.
    fn input_path(&self, entry: &Spanned<String>, key: &str) -> Result<InputPath, ConfigError> {
        let text = entry.get_ref();
        if text == STDIN_PATH {
            return Ok(InputPath::Stdin);
        }
        if text.is_empty() {
            return Err(self.invalid(
                entry.span(),
                key,
                "must not be empty; use a glob pattern or \"-\" for stdin".to_owned(),
            ));
        }
        glob::Pattern::new(text).map_err(|err| {
            self.invalid(
                entry.span(),
                key,
                format!(
                    "invalid glob pattern {text:?}: {} at character {}",
                    err.msg,
                    err.pos + 1
                ),
            )
        })?;
        if Path::new(text).is_absolute() {
            return Ok(InputPath::Glob(text.clone()));
        }
        let dir = self.dir();
        if dir.as_os_str().is_empty() {
            return Ok(InputPath::Glob(text.clone()));
        }
        let dir = glob::Pattern::escape(&dir.to_string_lossy());
        Ok(InputPath::Glob(
            Path::new(&dir).join(text).to_string_lossy().into_owned(),
        ))
    }

    /// The config file's directory, which anchors relative paths so the
    /// daemon behaves the same whatever its working directory.
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new(""))
    }

    fn resolve(&self, path: &str) -> PathBuf {
        self.dir().join(path)
    }

    fn invalid(&self, span: Range<usize>, key: &str, message: String) -> ConfigError {
        let at = LineIndex::new(self.text).position(span.start);
        ConfigError::Invalid(Mistake::new(at, key, message).in_file(self.path))
    }

    /// Positions a syntax error. No key path exists for text that does not
    /// parse (toml reports only a span, and `serde_path_to_error` never
    /// runs), so this is the one key errtally finds by hand: read off the
    /// text, the nearest table header above and a `key =` on the error's
    /// own line ([`key_near`]).
    fn syntax_error(&self, err: &toml::de::Error) -> ConfigError {
        let offset = err.span().map_or(0, |span| span.start);
        let key = match key_near(self.text, offset) {
            (Some(table), Some(leaf)) => format!("{table}.{leaf}"),
            (None, Some(leaf)) => leaf.to_owned(),
            _ => "(syntax)".to_owned(),
        };
        self.invalid(offset..offset, &key, err.message().trim().to_owned())
    }

    /// Positions a schema error (unknown key, wrong type) at the key path
    /// `serde_path_to_error` recorded while deserializing.
    fn schema_error(&self, err: &serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
        let offset = err.inner().span().map_or(0, |span| span.start);
        let segments = key_segments(err.path());
        let mut message = err.inner().message().trim().to_owned();
        match segments.as_slice() {
            [
                KeySegment::Key("input"),
                KeySegment::Index(_),
                KeySegment::Key(leaf),
            ] if TOP_LEVEL_KEYS.contains(leaf) => {
                message.push_str("; top-level keys must come before the first [[input]] header");
            }
            [KeySegment::Key("input")] => {
                message.push_str("; write [[input]] (an array of tables), not [input]");
            }
            _ => {}
        }
        let key = if segments.is_empty() {
            "(top level)".to_owned()
        } else {
            dotted(&segments)
        };
        self.invalid(offset..offset, &key, message)
    }
}

/// One step of a key path.
enum KeySegment<'a> {
    Key(&'a str),
    Index(usize),
}

/// The key path of a deserialization error, without the steps taken
/// inside a [`Spanned`] value (its private `$__serde_spanned_private_*`
/// fields; serde's convention for such fields is the `$__` prefix).
fn key_segments(path: &serde_path_to_error::Path) -> Vec<KeySegment<'_>> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Map { key } if key.starts_with("$__") => None,
            Segment::Map { key } => Some(KeySegment::Key(key.as_str())),
            Segment::Seq { index } => Some(KeySegment::Index(*index)),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// `input[1].start_at`, as every config message names a key.
fn dotted(segments: &[KeySegment<'_>]) -> String {
    let mut key = String::new();
    for segment in segments {
        match segment {
            KeySegment::Key(name) => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(name);
            }
            KeySegment::Index(index) => {
                let _ = write!(key, "[{index}]");
            }
        }
    }
    key
}

/// Why `name` cannot be a `source` label value, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    let is_allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if name.is_empty() || name.chars().count() > MAX_INPUT_NAME_LEN {
        return Some(format!(
            "must be 1 to {MAX_INPUT_NAME_LEN} characters, found {}",
            name.chars().count()
        ));
    }
    name.chars().find(|&c| !is_allowed(c)).map(|c| {
        format!("invalid character {c:?} in {name:?}; use only A-Z, a-z, 0-9, '_', '.' and '-'")
    })
}

/// A best-effort reading of which table and key the byte `offset` belongs
/// to, for syntax errors, which toml reports only with a span. Table headers
/// are matched line by line; `[[input]]` headers are counted to give
/// `input[i]`. The key is a `key =` on the offset's own line only, as the
/// lines above parsed fine.
fn key_near(text: &str, offset: usize) -> (Option<String>, Option<&str>) {
    let line_index = LineIndex::new(text).position(offset).line - 1;
    let lines: Vec<&str> = text.lines().collect();
    let mut table: Option<String> = None;
    let mut input_count = 0usize;
    for line in lines.iter().take(line_index + 1) {
        if let Some(header) = table_header(line) {
            table = Some(match header {
                Header::Array("input") => {
                    input_count += 1;
                    format!("input[{}]", input_count - 1)
                }
                Header::Array(name) | Header::Table(name) => name.to_owned(),
            });
        }
    }
    // The last line, for an offset at the end past a final newline.
    let key = lines
        .iter()
        .take(line_index + 1)
        .next_back()
        .filter(|line| table_header(line).is_none())
        .and_then(|line| assigned_key(line));
    (table, key)
}

enum Header<'a> {
    Table(&'a str),
    Array(&'a str),
}

fn table_header(line: &str) -> Option<Header<'_>> {
    let line = line.split('#').next().unwrap_or("").trim();
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ');
    if let Some(inner) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
        let inner = inner.trim();
        return (!inner.is_empty() && inner.chars().all(is_key_char))
            .then_some(Header::Array(inner));
    }
    let inner = line.strip_prefix('[')?.strip_suffix(']')?.trim();
    (!inner.is_empty() && inner.chars().all(is_key_char)).then_some(Header::Table(inner))
}

/// The bare key of a `key = value` line.
fn assigned_key(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    (!key.is_empty() && key.chars().all(is_key_char)).then_some(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::position::Position;

    const PATH: &str = "/etc/errtally/errtally.toml";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new(PATH), text)
    }

    /// Parses `text`, expecting a positioned error; returns it and its display.
    fn positioned(text: &str) -> (Mistake, String) {
        let err = parse(text).expect_err("config should be rejected");
        let display = err.to_string();
        match err {
            ConfigError::Invalid(error) => (error.mistake, display),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    /// Parses `text`, expecting a positioned error; returns (line, key, display).
    fn invalid(text: &str) -> (usize, String, String) {
        let (mistake, display) = positioned(text);
        let line = mistake.at.expect("a config mistake has a position").line;
        (
            line,
            mistake.key.expect("a config mistake has a key"),
            display,
        )
    }

    fn assert_invalid(text: &str, line: usize, key: &str, needle: &str) {
        let (got_line, got_key, display) = invalid(text);
        assert_eq!((got_line, got_key.as_str()), (line, key), "{display}");
        let prefix = format!("{PATH}:{line}:");
        assert!(display.starts_with(&prefix), "{display}");
        assert!(display.contains(&format!(": {key}: ")), "{display}");
        assert!(display.contains(needle), "{display:?} lacks {needle:?}");
    }

    #[test]
    fn empty_file_gives_defaults() {
        let config = parse("").unwrap();
        assert_eq!(
            config,
            Config {
                path: Some(PathBuf::from(PATH)),
                ..Config::default()
            }
        );
        assert_eq!(
            config.listen_address,
            "0.0.0.0:10404".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(config.checkpoint_interval, Duration::from_secs(1));
        assert_eq!(config.poll_interval, Duration::from_secs(1));
        assert_eq!(config.max_line_bytes, 1024 * 1024);
        assert!(config.state_dir.is_none() && config.catalog.is_empty());
        assert!(config.inputs.is_empty());
    }

    #[test]
    fn full_valid_file() {
        let text = r#"
listen_address = "127.0.0.1:9000"
state_dir = "/var/lib/errtally"
checkpoint_interval = "500ms"
poll_interval = "2s"
max_line_bytes = 4096
catalog = ["/etc/errtally/extra.json"]

[[input]]
name = "api"
paths = ["/var/log/api/*.log", "/var/log/api/*.log.1"]
start_at = "beginning"

[[input]]
name = "pipe.v2-x_y"
paths = ["-"]
"#;
        let config = parse(text).unwrap();
        assert_eq!(config.listen_address, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.state_dir, Some(PathBuf::from("/var/lib/errtally")));
        assert_eq!(config.checkpoint_interval, Duration::from_millis(500));
        assert_eq!(config.poll_interval, Duration::from_secs(2));
        assert_eq!(config.max_line_bytes, 4096);
        assert_eq!(
            config.catalog,
            vec![PathBuf::from("/etc/errtally/extra.json")]
        );
        assert_eq!(
            config.inputs,
            vec![
                InputConfig {
                    name: "api".into(),
                    paths: vec![
                        InputPath::Glob("/var/log/api/*.log".into()),
                        InputPath::Glob("/var/log/api/*.log.1".into()),
                    ],
                    start_at: StartAt::Beginning,
                    path_labels: None,
                    max_files: DEFAULT_MAX_FILES,
                },
                InputConfig {
                    name: "pipe.v2-x_y".into(),
                    paths: vec![InputPath::Stdin],
                    start_at: StartAt::End,
                    path_labels: None,
                    max_files: DEFAULT_MAX_FILES,
                },
            ]
        );
    }

    #[test]
    fn example_config_loads() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/errtally.toml"));
        let config = Config::load(path).unwrap();
        assert_eq!(
            config.listen_address,
            "0.0.0.0:10404".parse::<SocketAddr>().unwrap()
        );
        assert!(!config.inputs.is_empty());
        assert_eq!(config.path.as_deref(), Some(path));
    }

    #[test]
    fn missing_file_is_io_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.toml");
        let err = Config::load(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "{}: cannot read config: No such file or directory",
                path.display()
            )
        );
        // Said once, not again by the chain (`{:#}` of anyhow).
        assert!(std::error::Error::source(&err).is_none());
    }

    #[test]
    fn an_unreadable_catalogue_is_the_mistake_of_the_entry_naming_it() {
        let text = "# catalogues\ncatalog = [\"/abs/a.json\", \"rel/path.json\"]\n";
        let config = parse(text).unwrap();
        let missing = std::io::Error::from_raw_os_error(2);
        let error = config
            .unreadable_catalog(Path::new("/etc/errtally/rel/path.json"), &missing)
            .unwrap();
        assert_eq!(
            error.to_string(),
            "/etc/errtally/errtally.toml:2:27: catalog[1]: rel/path.json: No such file or directory"
        );
        let error = config
            .unreadable_catalog(Path::new("/abs/a.json"), &missing)
            .unwrap();
        assert_eq!(
            error.to_string(),
            "/etc/errtally/errtally.toml:2:12: catalog[0]: /abs/a.json: No such file or directory"
        );
        assert!(
            config
                .unreadable_catalog(Path::new("/other.json"), &missing)
                .is_none()
        );
    }

    #[test]
    fn load_reads_a_file_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("errtally.toml");
        std::fs::write(&path, "[[input]]\nname = \"a\"\npaths = [\"logs/*.log\"]\n").unwrap();
        let config = Config::load(&path).unwrap();
        let expected = format!("{}/logs/*.log", dir.path().display());
        assert_eq!(config.inputs[0].paths, vec![InputPath::Glob(expected)]);
    }

    #[test]
    fn toml_syntax_error() {
        let text = "listen_address = \"0.0.0.0:1\"\n\nstate_dir = \"/x\n";
        assert_invalid(text, 3, "state_dir", "");
        let (line, key, _) = invalid("max_line_bytes = 5\n[[input]\n");
        assert_eq!((line, key.as_str()), (2, "(syntax)"));
    }

    #[test]
    fn unknown_top_level_key() {
        let text = "listen_address = \"0.0.0.0:1\"\ncolour = \"red\"\n";
        assert_invalid(text, 2, "colour", "unknown field `colour`");
    }

    #[test]
    fn unknown_key_in_input_names_its_line() {
        let text = r#"[[input]]
name = "a"
paths = ["/a"]

[[input]]
name = "b"
paths = ["/b"]
start = "end"
"#;
        assert_invalid(text, 8, "input[1].start", "unknown field `start`");
    }

    #[test]
    fn top_level_key_below_input_gets_a_hint() {
        let text = "[[input]]\nname = \"a\"\npaths = [\"/a\"]\nstate_dir = \"/s\"\n";
        assert_invalid(text, 4, "input[0].state_dir", "before the first [[input]]");
    }

    #[test]
    fn single_input_table_gets_a_hint() {
        let text = "[input]\nname = \"a\"\npaths = [\"/a\"]\n";
        let (_, _, display) = invalid(text);
        assert!(display.contains("[[input]]"), "{display}");
    }

    #[test]
    fn missing_input_paths() {
        let text = "poll_interval = \"1s\"\n[[input]]\nname = \"a\"\n";
        let (_, key, display) = invalid(text);
        assert_eq!(key, "input[0].paths", "{display}");
        assert!(display.contains("missing field `paths`"), "{display}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let text = "\nmax_line_bytes = \"big\"\n";
        assert_invalid(text, 2, "max_line_bytes", "invalid type");
    }

    #[test]
    fn wrong_type_inside_a_list_names_the_element() {
        let text = "[[input]]\nname = \"a\"\npaths = [\"/a\", 3]\n";
        assert_invalid(text, 3, "input[0].paths[1]", "invalid type: integer `3`");
        assert_invalid("catalog = [5]\n", 1, "catalog[0]", "expected a string");
    }

    #[test]
    fn a_missing_name_is_named_at_its_input() {
        let text = "[[input]]\nname = \"a\"\npaths = [\"/a\"]\n\n[[input]]\npaths = [\"/b\"]\n";
        assert_invalid(text, 5, "input[1].name", "missing field `name`");
    }

    #[test]
    fn bad_duration() {
        let text = "listen_address = \"0.0.0.0:1\"\ncheckpoint_interval = \"5 parsecs\"\n";
        assert_invalid(
            text,
            2,
            "checkpoint_interval",
            "invalid duration \"5 parsecs\"",
        );
    }

    #[test]
    fn integer_duration_asks_for_a_unit() {
        let text = "\n\npoll_interval = 5\n";
        assert_invalid(text, 3, "poll_interval", "use a unit, e.g. \"5s\"");
    }

    #[test]
    fn too_short_duration() {
        assert_invalid(
            "poll_interval = \"9ms\"\n",
            1,
            "poll_interval",
            "at least 10ms",
        );
        assert_eq!(
            parse("poll_interval = \"10ms\"\n").unwrap().poll_interval,
            MIN_INTERVAL
        );
    }

    #[test]
    fn bad_listen_address() {
        let text = "# comment\nlisten_address = \"localhost\"\n";
        assert_invalid(text, 2, "listen_address", "expected IP:PORT");
        let (mistake, _) = positioned(text);
        assert_eq!(
            mistake.at,
            Some(Position {
                line: 2,
                column: 18
            })
        );
    }

    #[test]
    fn bad_glob() {
        let text = "[[input]]\nname = \"a\"\npaths = [\"/ok/*.log\",\n  \"[abc\"]\n";
        assert_invalid(
            text,
            4,
            "input[0].paths[1]",
            "invalid glob pattern \"[abc\"",
        );
    }

    #[test]
    fn empty_paths() {
        let text = "[[input]]\nname = \"a\"\npaths = []\n";
        assert_invalid(text, 3, "input[0].paths", "at least one");
    }

    #[test]
    fn duplicate_input_name_points_at_the_second() {
        let text = r#"[[input]]
name = "api"
paths = ["/a"]

[[input]]
name = "web"
paths = ["/w"]

[[input]]
name = "api"
paths = ["/b"]
"#;
        assert_invalid(
            text,
            10,
            "input[2].name",
            "duplicate input name \"api\" (first used by input[0])",
        );
    }

    #[test]
    fn bad_start_at() {
        let text = r#"[[input]]
name = "a"
paths = ["/a"]

[[input]]
name = "b"
paths = ["/b"]
start_at = "middle"
"#;
        assert_invalid(
            text,
            8,
            "input[1].start_at",
            r#"expected "beginning" or "end", found "middle""#,
        );
    }

    #[test]
    fn bad_name_chars() {
        let text = "[[input]]\nname = \"api server\"\npaths = [\"/a\"]\n";
        assert_invalid(text, 2, "input[0].name", "invalid character ' '");
        let long = format!(
            "[[input]]\nname = \"{}\"\npaths = [\"/a\"]\n",
            "a".repeat(65)
        );
        assert_invalid(&long, 2, "input[0].name", "1 to 64 characters");
        let empty = "[[input]]\nname = \"\"\npaths = [\"/a\"]\n";
        assert_invalid(empty, 2, "input[0].name", "1 to 64 characters");
    }

    #[test]
    fn two_stdin_inputs() {
        let text = r#"[[input]]
name = "a"
paths = ["-"]

[[input]]
name = "b"
paths = ["/b", "-"]
"#;
        assert_invalid(text, 7, "input[1].paths[1]", "already read by input[0]");
    }

    #[test]
    fn status_page_show_lines_is_a_boolean_off_by_default() {
        assert!(!parse("").unwrap().status_page_show_lines);
        assert!(
            parse("status_page_show_lines = true\n")
                .unwrap()
                .status_page_show_lines
        );
        assert_invalid(
            "\nstatus_page_show_lines = \"yes\"\n",
            2,
            "status_page_show_lines",
            "invalid type: string \"yes\", expected a boolean",
        );
    }

    #[test]
    fn timezone_is_an_iana_name_utc_or_an_offset() {
        for zone in ["Europe/Berlin", "UTC", "+05:30"] {
            let config = parse(&format!("timezone = \"{zone}\"\n")).unwrap();
            assert_eq!(config.timezone.as_deref(), Some(zone));
        }
        assert_eq!(parse("").unwrap().timezone, None);
        assert_invalid(
            "\ntimezone = \"Mars/Olympus_Mons\"\n",
            2,
            "timezone",
            "unknown time zone \"Mars/Olympus_Mons\"",
        );
    }

    #[test]
    fn max_line_bytes_bounds() {
        assert_invalid(
            "\nmax_line_bytes = 0\n",
            2,
            "max_line_bytes",
            "between 1 and",
        );
        let too_big = format!("max_line_bytes = {}\n", MAX_LINE_BYTES_LIMIT + 1);
        assert_invalid(&too_big, 1, "max_line_bytes", "between 1 and");
        assert_invalid(
            "max_line_bytes = -1\n",
            1,
            "max_line_bytes",
            "between 1 and",
        );
        let max = format!("max_line_bytes = {MAX_LINE_BYTES_LIMIT}\n");
        assert_eq!(parse(&max).unwrap().max_line_bytes, MAX_LINE_BYTES_LIMIT);
    }

    #[test]
    fn relative_paths_join_the_config_dir() {
        let text = r#"
state_dir = "state"
catalog = ["catalog/extra.json", "/abs/cat.json"]
[[input]]
name = "a"
paths = ["logs/*.log", "/abs/*.log", "-"]
"#;
        let config = parse(text).unwrap();
        assert_eq!(config.state_dir, Some(PathBuf::from("/etc/errtally/state")));
        assert_eq!(
            config.catalog,
            vec![
                PathBuf::from("/etc/errtally/catalog/extra.json"),
                PathBuf::from("/abs/cat.json"),
            ]
        );
        assert_eq!(
            config.inputs[0].paths,
            vec![
                InputPath::Glob("/etc/errtally/logs/*.log".into()),
                InputPath::Glob("/abs/*.log".into()),
                InputPath::Stdin,
            ]
        );
    }

    #[test]
    fn config_dir_glob_characters_are_escaped() {
        let config = Config::parse(
            Path::new("/srv/[prod]/errtally.toml"),
            "[[input]]\nname = \"a\"\npaths = [\"*.log\"]\n",
        )
        .unwrap();
        let InputPath::Glob(pattern) = &config.inputs[0].paths[0] else {
            panic!("expected a glob");
        };
        let pattern = glob::Pattern::new(pattern).unwrap();
        assert!(pattern.matches("/srv/[prod]/app.log"));
        assert!(!pattern.matches("/srv/p/app.log"));
    }

    #[test]
    fn bare_file_name_keeps_relative_paths() {
        let config = Config::parse(
            Path::new("errtally.toml"),
            "catalog = [\"c.json\"]\n[[input]]\nname = \"a\"\npaths = [\"*.log\"]\n",
        )
        .unwrap();
        assert_eq!(config.catalog, vec![PathBuf::from("c.json")]);
        assert_eq!(
            config.inputs[0].paths,
            vec![InputPath::Glob("*.log".into())]
        );
    }

    const KUBERNETES_LABELS: &str =
        r"^/var/log/pods/(?P<namespace>[^_]+)_(?P<pod>[^_]+)_[^/]+/(?P<container>[^/]+)/";

    /// A config of one input `pods` whose `[[input]]` table ends with
    /// `extra` (the input table starts at line 1, `extra` at line 3).
    fn pods_input(extra: &str) -> String {
        format!("[[input]]\nname = \"pods\"\n{extra}\npaths = [\"/var/log/pods/*/*/*.log\"]\n")
    }

    #[test]
    fn path_labels_capture_kubernetes_names_with_defaults() {
        let config = parse(&pods_input(&format!("path_labels = '{KUBERNETES_LABELS}'"))).unwrap();
        let labels = config.inputs[0].path_labels.as_ref().unwrap();
        assert_eq!(labels.pattern(), KUBERNETES_LABELS);
        assert_eq!(labels.names(), ["namespace", "pod", "container"]);
        assert_eq!(labels.ttl, Duration::from_secs(3600));
        assert_eq!(labels.max_label_sets, 1000);
        assert_eq!(
            labels.values(Path::new("/var/log/pods/shop_api-7d9f_0a1b-22/app/0.log")),
            ["shop", "api-7d9f", "app"]
        );
        assert_eq!(
            labels.values(Path::new("/var/log/syslog")),
            ["", "", ""],
            "a path that does not match gets empty values"
        );
    }

    #[test]
    fn path_labels_capture_names_that_are_not_utf8_in_their_lossy_form() {
        use std::os::unix::ffi::OsStrExt;
        let labels =
            PathLabels::new(r"/(?P<name>[^/]+)\.log$", Duration::from_secs(1), 10).unwrap();
        let path = Path::new(std::ffi::OsStr::from_bytes(b"/var/log/caf\xe9.log"));
        assert_eq!(labels.values(path), ["caf\u{FFFD}"]);
    }

    #[test]
    fn path_labels_ttl_and_max_label_sets_are_read() {
        let text = pods_input(
            "path_labels = '^/var/log/(?P<service>[^/]+)/'\npath_labels_ttl = \"2s\"\nmax_label_sets = 4",
        );
        let labels = parse(&text).unwrap().inputs[0].path_labels.clone().unwrap();
        assert_eq!(
            (labels.ttl, labels.max_label_sets),
            (Duration::from_secs(2), 4)
        );
        assert_eq!(
            labels.values(Path::new("/var/log/billing/x.log")),
            ["billing"]
        );
        // A group that takes no part in the match is empty too.
        let text =
            pods_input("path_labels = '^/var/log/(?:(?P<team>t-[a-z]+)/)?(?P<service>[^/]+)/'");
        let labels = parse(&text).unwrap().inputs[0].path_labels.clone().unwrap();
        assert_eq!(
            labels.values(Path::new("/var/log/billing/x.log")),
            ["", "billing"]
        );
        assert_eq!(
            labels.values(Path::new("/var/log/t-core/auth/x.log")),
            ["t-core", "auth"]
        );
    }

    #[test]
    fn path_labels_must_compile() {
        assert_invalid(
            &pods_input("path_labels = '^/var/log/(?P<service>[^/]+'"),
            3,
            "input[0].path_labels",
            "invalid regular expression \"^/var/log/(?P<service>[^/]+\": unclosed group",
        );
    }

    #[test]
    fn path_labels_groups_must_all_be_named() {
        assert_invalid(
            &pods_input("path_labels = '^/var/log/(?P<service>[^/]+)/([0-9]+)\\.log'"),
            3,
            "input[0].path_labels",
            "capture group 2 has no name",
        );
        assert_invalid(
            &pods_input("path_labels = '^/var/log/[^/]+/'"),
            3,
            "input[0].path_labels",
            "has no named capture group",
        );
    }

    #[test]
    fn path_label_names_must_be_prometheus_label_names() {
        // The regex crate accepts '.' in names; Prometheus does not.
        assert_invalid(
            &pods_input("path_labels = '^/var/log/(?P<k8s.pod>[^/]+)/'"),
            3,
            "input[0].path_labels",
            "capture name \"k8s.pod\" is not a Prometheus label name",
        );
        assert_invalid(
            &pods_input("path_labels = '^/var/log/(?P<__name__>[^/]+)/'"),
            3,
            "input[0].path_labels",
            "capture name \"__name__\" starts with \"__\"",
        );
    }

    #[test]
    fn path_label_names_must_not_clash_with_errtallys_own() {
        for name in ["source", "status_code", "error_type", "job", "instance"] {
            assert_invalid(
                &pods_input(&format!("path_labels = '^/var/log/(?P<{name}>[^/]+)/'")),
                3,
                "input[0].path_labels",
                &format!(
                    "capture name \"{name}\" clashes with a label errtally or Prometheus sets"
                ),
            );
        }
    }

    #[test]
    fn max_files_is_read_and_bounded() {
        assert_eq!(parse(&pods_input("")).unwrap().inputs[0].max_files, 100_000);
        assert_eq!(
            parse(&pods_input("max_files = 3")).unwrap().inputs[0].max_files,
            3
        );
        assert_invalid(
            &pods_input("max_files = 0"),
            3,
            "input[0].max_files",
            "between 1 and 10000000, found 0",
        );
        assert_invalid(
            &pods_input("max_files = -5"),
            3,
            "input[0].max_files",
            "between 1 and 10000000, found -5",
        );
    }

    #[test]
    fn path_labels_need_a_path() {
        let text = "[[input]]\nname = \"pipe\"\npaths = [\"-\"]\n\
                    path_labels = '(?P<service>x)'\n";
        assert_invalid(text, 4, "input[0].path_labels", "reads stdin");
    }

    #[test]
    fn path_label_bounds_need_path_labels_and_sane_values() {
        assert_invalid(
            &pods_input("path_labels_ttl = \"1h\""),
            3,
            "input[0].path_labels_ttl",
            "applies only to an input with path_labels",
        );
        assert_invalid(
            &pods_input("max_label_sets = 10"),
            3,
            "input[0].max_label_sets",
            "applies only to an input with path_labels",
        );
        let labelled = "path_labels = '^/var/log/(?P<service>[^/]+)/'\n";
        assert_invalid(
            &pods_input(&format!("{labelled}max_label_sets = 0")),
            4,
            "input[0].max_label_sets",
            "between 1 and 100000, found 0",
        );
        assert_invalid(
            &pods_input(&format!("{labelled}path_labels_ttl = 60")),
            4,
            "input[0].path_labels_ttl",
            "use a unit",
        );
        assert_invalid(
            &pods_input(&format!("{labelled}path_labels_ttl = \"1ms\"")),
            4,
            "input[0].path_labels_ttl",
            "at least 10ms",
        );
    }

    #[test]
    fn add_cli_inputs_makes_default_and_stdin() {
        let mut config = Config::default();
        config
            .add_cli_inputs(
                &["a.log".into(), "logs/*.log".into()],
                true,
                StartAt::Beginning,
            )
            .unwrap();
        assert_eq!(
            config.inputs,
            vec![
                InputConfig {
                    name: "default".into(),
                    paths: vec![
                        InputPath::Glob("a.log".into()),
                        InputPath::Glob("logs/*.log".into()),
                    ],
                    start_at: StartAt::Beginning,
                    path_labels: None,
                    max_files: DEFAULT_MAX_FILES,
                },
                InputConfig {
                    name: "stdin".into(),
                    paths: vec![InputPath::Stdin],
                    start_at: StartAt::Beginning,
                    path_labels: None,
                    max_files: DEFAULT_MAX_FILES,
                },
            ]
        );
        config.validate_inputs().unwrap();
    }

    #[test]
    fn add_cli_inputs_nothing_is_a_no_op() {
        let mut config = Config::default();
        config.add_cli_inputs(&[], false, StartAt::End).unwrap();
        assert!(config.inputs.is_empty());
        let err = config.validate_inputs().unwrap_err();
        assert_eq!(
            err.to_string(),
            "no inputs: give PATH arguments, --stdin or [[input]] in the config"
        );
    }

    #[test]
    fn add_cli_inputs_appends_to_file_inputs() {
        let mut config = parse("[[input]]\nname = \"api\"\npaths = [\"/a\"]\n").unwrap();
        config.validate_inputs().unwrap();
        config
            .add_cli_inputs(&["/b".into()], false, StartAt::End)
            .unwrap();
        let names: Vec<_> = config.inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["api", "default"]);
    }

    #[test]
    fn add_cli_inputs_rejects_name_clashes() {
        let mut config = parse("[[input]]\nname = \"default\"\npaths = [\"/a\"]\n").unwrap();
        let err = config
            .add_cli_inputs(&["/b".into()], false, StartAt::End)
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Cli(m) if m.contains("\"default\"")),
            "{err}"
        );
        config.add_cli_inputs(&[], true, StartAt::End).unwrap();

        let mut config = parse("[[input]]\nname = \"stdin\"\npaths = [\"/a\"]\n").unwrap();
        let err = config.add_cli_inputs(&[], true, StartAt::End).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Cli(m) if m.contains("\"stdin\"")),
            "{err}"
        );
        assert_eq!(
            config.inputs.len(),
            1,
            "a failed add leaves the config unchanged"
        );
    }

    #[test]
    fn add_cli_inputs_rejects_a_second_stdin_reader() {
        let mut config = parse("[[input]]\nname = \"pipe\"\npaths = [\"-\"]\n").unwrap();
        let err = config.add_cli_inputs(&[], true, StartAt::End).unwrap_err();
        assert!(err.to_string().contains("only one input"), "{err}");

        let mut config = Config::default();
        let err = config
            .add_cli_inputs(&["-".into()], true, StartAt::End)
            .unwrap_err();
        assert!(err.to_string().contains("only one input"), "{err}");

        let mut config = Config::default();
        config
            .add_cli_inputs(&["-".into()], false, StartAt::End)
            .unwrap();
        assert_eq!(config.inputs[0].paths, vec![InputPath::Stdin]);
    }

    #[test]
    fn add_cli_inputs_rejects_a_bad_glob() {
        let mut config = Config::default();
        let err = config
            .add_cli_inputs(&["[abc".into()], false, StartAt::End)
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::Cli(m) if m.contains("[abc")),
            "{err}"
        );
    }

    #[test]
    fn watch_is_auto_inotify_or_poll() {
        assert_eq!(parse("").unwrap().watch, WatchMode::Auto);
        assert_eq!(parse("watch = \"poll\"\n").unwrap().watch, WatchMode::Poll);
        assert_eq!(
            parse("watch = \"inotify\"\n").unwrap().watch,
            WatchMode::Inotify
        );
        assert_invalid(
            "\nwatch = \"fanotify\"\n",
            2,
            "watch",
            r#"expected "auto", "inotify" or "poll", found "fanotify""#,
        );
    }
}
