//! The error catalogue: which `error_type` values errtally knows, the dense
//! index each one is counted under, and the advice shown for it.
//!
//! A catalogue is loaded once at start-up, either from the built-in
//! `config/catalog/stytch-b2b-404.json` (generated from the Stytch B2B 404
//! reference page by `config/catalog/extract.py`) or from one or more files
//! given by the user, which then *replace* the built-in one. It is immutable
//! afterwards and meant to be shared as `Arc<Catalog>`.
//!
//! Invariants:
//! - entries are sorted by `error_type`, and an entry's index is its position,
//!   so counters can be plain arrays indexed by it;
//! - every `error_type` is unique, non-empty and made of `[a-z0-9_]` only,
//!   because it becomes a Prometheus label value and a scanner key;
//! - every `status_code` is in `100..=599`.
//!
//! Every load error names the file, line and column it is about. This module
//! does not scan logs and does not know about metrics.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::position::{LineIndex, Mistake, Position, PositionedError, located};

/// Source name reported for the catalogue compiled into the binary, so error
/// messages and the status page can tell it apart from user files.
pub(crate) const BUILTIN_SOURCE: &str = "<built-in>";

/// The catalogue compiled into the binary, so errtally works without any
/// configuration file.
const BUILTIN_TEXT: &str = include_str!("../config/catalog/stytch-b2b-404.json");

/// One catalogued error type and what the reference documentation says about it.
///
/// The prose `description` and the API's `error_message` are kept apart on
/// purpose: they differ for several entries, and operators search logs for the
/// latter while they read the former.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// The API's `error_type`; the key logs are matched on.
    pub error_type: String,
    /// The HTTP status the API returns with this error.
    pub status_code: u16,
    /// Short human title of the status, e.g. "Not found".
    pub title: String,
    /// What the error means, from the reference page.
    pub description: String,
    /// The `error_message` the API actually returns.
    pub error_message: String,
    /// Known reasons this error happens; may be empty.
    #[serde(default)]
    pub common_causes: Vec<String>,
    /// What to do about it; may be empty.
    #[serde(default)]
    pub troubleshooting: Vec<String>,
    /// Where to read more.
    pub doc_url: String,
}

impl CatalogEntry {
    /// The single most actionable line for a report: the first troubleshooting
    /// step, else the first common cause, else the description.
    pub fn hint(&self) -> &str {
        self.troubleshooting
            .first()
            .or_else(|| self.common_causes.first())
            .map_or(self.description.as_str(), String::as_str)
    }

    /// Every common cause in one line, `1. … 2. …`; empty when there is none.
    /// Alerts and the status page show the whole list, not only the hint.
    pub(crate) fn causes_numbered(&self) -> String {
        numbered(&self.common_causes)
    }

    /// Every troubleshooting step in one line, `1. … 2. …`; empty when there
    /// is none.
    pub(crate) fn troubleshooting_numbered(&self) -> String {
        numbered(&self.troubleshooting)
    }
}

/// `items` as `1. first 2. second`: one line, so it fits a label value.
fn numbered(items: &[String]) -> String {
    let mut out = String::new();
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{}. {item}", position + 1);
    }
    out
}

/// The loaded, validated catalogue: maps `error_type` bytes to a dense index.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Sorted by `error_type`; an entry's index is its position.
    entries: Vec<CatalogEntry>,
    /// `error_type` bytes -> position in `entries`.
    index: NameIndex,
    /// Where the entries came from, in load order.
    sources: Vec<String>,
}

impl Catalog {
    /// The catalogue compiled into the binary, used when no `--catalog` file is
    /// given. It can only fail if the shipped JSON is broken, which the tests
    /// rule out; it still returns a `Result` so start-up never panics.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let items = parse_text(BUILTIN_SOURCE, BUILTIN_TEXT)?;
        Catalog::build(vec![BUILTIN_SOURCE.to_owned()], items)
    }

    /// The catalogue a user chose: the files in `paths` merged
    /// ([`Catalog::from_files`]), or the built-in one when there are none.
    /// The one rule for `--catalog` and the config's `catalog`.
    pub fn load(paths: &[PathBuf]) -> Result<Catalog, CatalogError> {
        if paths.is_empty() {
            Catalog::builtin()
        } else {
            Catalog::from_files(paths)
        }
    }

    /// Loads and merges the given catalogue files, which replace the built-in
    /// catalogue entirely. An `error_type` defined twice, in one file or across
    /// files, is an error naming the second definition. An empty `paths` gives
    /// an empty catalogue; choosing the built-in one instead is the caller's job.
    pub(crate) fn from_files(paths: &[PathBuf]) -> Result<Catalog, CatalogError> {
        let mut sources = Vec::with_capacity(paths.len());
        let mut items = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(path).map_err(|error| CatalogError::Io {
                path: path.clone(),
                error,
            })?;
            let name = path.display().to_string();
            items.extend(parse_text(&name, &text)?);
            sources.push(name);
        }
        Catalog::build(sources, items)
    }

    /// Builds a catalogue from entries already in memory, each tagged with the
    /// source it came from (used in error messages and [`Catalog::sources`]).
    /// The same validation applies as for files, but without file text the
    /// errors cannot name a line and column. Only tests build catalogues
    /// this way.
    #[cfg(test)]
    pub(crate) fn from_entries(
        entries: Vec<(String, CatalogEntry)>,
    ) -> Result<Catalog, CatalogError> {
        let mut sources: Vec<String> = Vec::new();
        let items = entries
            .into_iter()
            .map(|(source, entry)| {
                if !sources.contains(&source) {
                    sources.push(source.clone());
                }
                Sourced {
                    source,
                    entry,
                    location: EntryLocation::default(),
                }
            })
            .collect();
        Catalog::build(sources, items)
    }

    /// Number of catalogued error types; also the length of per-type counter arrays.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is catalogued (every error would be uncatalogued).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// All entries, sorted by `error_type`; position is the entry's index.
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// Every catalogued `error_type`, in index order: what the corpus
    /// generator draws from.
    pub fn error_types(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.error_type.clone()).collect()
    }

    /// The entry counted under `index`, if there is one.
    pub fn entry(&self, index: usize) -> Option<&CatalogEntry> {
        self.entries.get(index)
    }

    /// The index of `error_type`, or `None` if it is not catalogued. Takes raw
    /// bytes straight from the log buffer and does not allocate, because it
    /// runs for every log line that carries an error.
    pub fn index_of(&self, error_type: &[u8]) -> Option<usize> {
        self.index.find(error_type, &self.entries)
    }

    /// The files (or [`BUILTIN_SOURCE`]) the catalogue was loaded from, in load
    /// order, so the status page can say which catalogue is in effect.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Validates, rejects duplicates (naming the later definition), sorts and indexes.
    fn build(sources: Vec<String>, items: Vec<Sourced>) -> Result<Catalog, CatalogError> {
        let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(items.len());
        for (position, item) in items.iter().enumerate() {
            validate_entry(item)?;
            if let Some(&first) = first_seen.get(item.entry.error_type.as_str()) {
                let first = &items[first];
                let first_at = located(
                    Path::new(&first.source),
                    first.location.error_type_or_start(),
                );
                let message = format!(
                    "error type \"{}\" is defined twice (first in {first_at})",
                    item.entry.error_type
                );
                return Err(CatalogError::Duplicate(
                    keyless(item.location.error_type_or_start(), message).in_file(&item.source),
                ));
            }
            first_seen.insert(&item.entry.error_type, position);
        }
        drop(first_seen);

        let mut entries: Vec<CatalogEntry> = items.into_iter().map(|item| item.entry).collect();
        entries.sort_by(|a, b| a.error_type.cmp(&b.error_type));
        let index = NameIndex::new(&entries);
        Ok(Catalog {
            entries,
            index,
            sources,
        })
    }
}

/// Maps an `error_type` to its entry without hashing the whole name.
///
/// Looked up once per log line that has an error, with short keys, where
/// SipHash cost a tenth of a scan (measured with perf on a log with 50%
/// error lines). A bucket is chosen from the length and three bytes of the
/// name, then the few entries in it are compared. Lookups never insert, so
/// hostile values cannot grow or skew it.
#[derive(Debug, Clone)]
struct NameIndex {
    /// Entry positions per bucket.
    buckets: Vec<Vec<usize>>,
}

impl NameIndex {
    const BUCKETS: usize = 256;

    fn new(entries: &[CatalogEntry]) -> Self {
        let mut buckets = vec![Vec::new(); Self::BUCKETS];
        for (position, entry) in entries.iter().enumerate() {
            buckets[Self::bucket(entry.error_type.as_bytes())].push(position);
        }
        Self { buckets }
    }

    fn bucket(name: &[u8]) -> usize {
        let (Some(first), Some(last)) = (name.first(), name.last()) else {
            return 0;
        };
        let middle = name[name.len() / 2];
        let mixed = name.len().wrapping_mul(0x9E37)
            ^ usize::from(*first).wrapping_mul(0x85EB)
            ^ usize::from(middle).wrapping_mul(0xC2B3)
            ^ usize::from(*last).wrapping_mul(0x27D5);
        (mixed ^ (mixed >> 8)) % Self::BUCKETS
    }

    fn find(&self, name: &[u8], entries: &[CatalogEntry]) -> Option<usize> {
        self.buckets[Self::bucket(name)]
            .iter()
            .copied()
            .find(|&position| entries[position].error_type.as_bytes() == name)
    }
}

/// Why a catalogue could not be loaded. Every variant names the file; all but
/// `Io` also name the 1-based line and column (`FILE:LINE:COLUMN: message`,
/// no key: a catalogue's keys are fixed), or only the file when the
/// position is unknown (`Catalog::from_entries`), so the user can go
/// straight to the problem.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read.
    #[error("{}: cannot read catalogue: {}", path.display(), crate::position::io_reason(error))]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// Why, in the message above: not the error's `source()`, so a
        /// printer of the chain (`{:#}`) does not say it twice.
        error: std::io::Error,
    },
    /// The text is not valid JSON or does not have the catalogue's shape
    /// (unknown or missing field, wrong type), at serde_json's position.
    #[error(transparent)]
    Syntax(PositionedError),
    /// An `error_type` is defined a second time, at the second definition's
    /// `"error_type"` key; the message names the first.
    #[error(transparent)]
    Duplicate(PositionedError),
    /// Well-formed but not acceptable: a bad `error_type`, an impossible
    /// status code, an empty file.
    #[error(transparent)]
    Invalid(PositionedError),
}

/// The top level of a catalogue file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    /// Catalogue name, e.g. "stytch-b2b-404".
    name: String,
    /// Where the catalogue was taken from; informational only.
    #[serde(default, rename = "source")]
    _source: Option<String>,
    errors: Vec<CatalogEntry>,
}

/// An entry with what is needed to report problems with it.
#[derive(Debug)]
struct Sourced {
    source: String,
    entry: CatalogEntry,
    location: EntryLocation,
}

/// Where an entry's parts are in its file; all unknown for entries built
/// in memory.
#[derive(Debug, Default, Clone, Copy)]
struct EntryLocation {
    /// The entry's opening `{`.
    start: Option<Position>,
    /// Its `"error_type"` key.
    error_type: Option<Position>,
    /// Its `"status_code"` key.
    status_code: Option<Position>,
}

impl EntryLocation {
    fn error_type_or_start(&self) -> Option<Position> {
        self.error_type.or(self.start)
    }

    fn status_code_or_start(&self) -> Option<Position> {
        self.status_code.or(self.start)
    }
}

/// Parses one catalogue text and checks the file-level rules; entry rules are
/// checked in [`Catalog::build`] so they also apply to `Catalog::from_entries`.
fn parse_text(source: &str, text: &str) -> Result<Vec<Sourced>, CatalogError> {
    let file: CatalogFile = serde_json::from_str(text).map_err(|err| {
        // serde_json's line is 0 for an error it cannot place.
        let at = (err.line() > 0).then(|| Position {
            line: err.line(),
            column: err.column(),
        });
        let message = serde_message(&err);
        CatalogError::Syntax(keyless(at, message).in_file(source))
    })?;
    let locations = locate(text);
    let invalid = |at: Option<Position>, message: &str| {
        let at = at.or(Some(Position::START));
        CatalogError::Invalid(keyless(at, message.to_owned()).in_file(source))
    };
    if file.name.is_empty() {
        return Err(invalid(locations.name, "catalogue name is empty"));
    }
    if file.errors.is_empty() {
        return Err(invalid(
            locations.errors,
            "catalogue has no entries in \"errors\"",
        ));
    }
    Ok(file
        .errors
        .into_iter()
        .enumerate()
        .map(|(i, entry)| Sourced {
            source: source.to_owned(),
            entry,
            location: locations.entries.get(i).copied().unwrap_or_default(),
        })
        .collect())
}

/// A catalogue mistake: its messages name no key, as a catalogue's keys are
/// fixed and the position says which entry.
fn keyless(at: Option<Position>, message: String) -> Mistake {
    Mistake {
        at,
        key: None,
        message,
    }
}

/// serde_json's message without the " at line N column M" suffix, which we
/// render ourselves in `path:line:column` form.
fn serde_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match full.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => full,
    }
}

fn validate_entry(item: &Sourced) -> Result<(), CatalogError> {
    let entry = &item.entry;
    let invalid = |at: Option<Position>, message: String| {
        CatalogError::Invalid(keyless(at, message).in_file(&item.source))
    };
    if entry.error_type.is_empty() {
        return Err(invalid(
            item.location.error_type_or_start(),
            "error type is empty".to_owned(),
        ));
    }
    if !entry.error_type.bytes().all(is_error_type_byte) {
        return Err(invalid(
            item.location.error_type_or_start(),
            format!(
                "error type {:?} may only contain a-z, 0-9 and _ (it is used as a metric label)",
                entry.error_type
            ),
        ));
    }
    if !(100..=599).contains(&entry.status_code) {
        return Err(invalid(
            item.location.status_code_or_start(),
            format!(
                "status code {} of error type {:?} is not an HTTP status (100..=599)",
                entry.status_code, entry.error_type
            ),
        ));
    }
    Ok(())
}

fn is_error_type_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

/// Positions of the keys that validation errors point at.
#[derive(Debug, Default)]
struct FileLocations {
    /// The top-level `"name"` key.
    name: Option<Position>,
    /// The top-level `"errors"` key.
    errors: Option<Position>,
    /// One per element of the `errors` array, in order.
    entries: Vec<EntryLocation>,
}

/// Finds key positions in a catalogue text that serde_json has already
/// accepted. This stays hand-written because no crate gives them:
/// serde_json reports positions only for errors, and a type defined twice
/// (or a status code out of range) is a fine JSON value it raises none for.
/// A minimal JSON tokenizer: it tracks nesting and string boundaries, so
/// `"error_type"` inside a description is never mistaken for a key.
fn locate(text: &str) -> FileLocations {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Container {
        Object,
        Array,
    }
    use Container::{Array, Object};

    let lines = LineIndex::new(text);
    let bytes = text.as_bytes();
    let mut found = FileLocations::default();
    let mut stack: Vec<Container> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                if stack == [Object, Array] {
                    found.entries.push(EntryLocation {
                        start: Some(lines.position(i)),
                        ..EntryLocation::default()
                    });
                }
                stack.push(Object);
            }
            b'[' => stack.push(Array),
            b'}' | b']' => {
                stack.pop();
            }
            b'"' => {
                let end = string_end(bytes, i);
                let is_key = bytes[end..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_some_and(|&b| b == b':');
                if is_key {
                    let key = decode_string(&text[i..end]);
                    let position = lines.position(i);
                    if stack == [Object] {
                        match key.as_str() {
                            "name" => found.name = Some(position),
                            "errors" => found.errors = Some(position),
                            _ => {}
                        }
                    } else if stack == [Object, Array, Object]
                        && let Some(entry) = found.entries.last_mut()
                    {
                        match key.as_str() {
                            "error_type" => entry.error_type = Some(position),
                            "status_code" => entry.status_code = Some(position),
                            _ => {}
                        }
                    }
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// Byte offset just past the string literal whose opening quote is at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The value of a JSON string literal (quotes included in `literal`).
fn decode_string(literal: &str) -> String {
    let inner = literal
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(literal);
    if inner.contains('\\') {
        serde_json::from_str(literal).unwrap_or_else(|_| inner.to_owned())
    } else {
        inner.to_owned()
    }
}

/// `text` cut to at most `max` characters, marked with an ellipsis.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn builtin() -> Catalog {
        Catalog::builtin().expect("built-in catalogue loads")
    }

    fn builtin_entry(error_type: &str) -> CatalogEntry {
        let catalog = builtin();
        let index = catalog.index_of(error_type.as_bytes()).unwrap();
        catalog.entry(index).unwrap().clone()
    }

    fn entry(error_type: &str) -> CatalogEntry {
        CatalogEntry {
            error_type: error_type.to_owned(),
            status_code: 404,
            title: "Not found".to_owned(),
            description: format!("{error_type} description"),
            error_message: format!("{error_type} message"),
            common_causes: Vec::new(),
            troubleshooting: Vec::new(),
            doc_url: format!("https://example.com/#{error_type}"),
        }
    }

    /// Pretty-printed like the built-in file. With empty lists each entry
    /// takes 10 lines and entry k's `"error_type"` key is at line 6 + 10k, column 7.
    fn file_text(entries: &[CatalogEntry]) -> String {
        #[derive(Serialize)]
        struct TestFile<'a> {
            name: &'a str,
            source: &'a str,
            errors: &'a [CatalogEntry],
        }
        serde_json::to_string_pretty(&TestFile {
            name: "test",
            source: "https://example.com/",
            errors: entries,
        })
        .unwrap()
    }

    fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        path
    }

    /// The line and column an error names, if it names one.
    fn position(err: &CatalogError) -> Option<(usize, usize)> {
        match err {
            CatalogError::Io { .. } => None,
            CatalogError::Syntax(error)
            | CatalogError::Duplicate(error)
            | CatalogError::Invalid(error) => error.mistake.at.map(|at| (at.line, at.column)),
        }
    }

    fn load_text(text: &str) -> Result<Catalog, CatalogError> {
        let items = parse_text("test.json", text)?;
        Catalog::build(vec!["test.json".to_owned()], items)
    }

    #[test]
    fn builtin_has_46_entries() {
        let catalog = builtin();
        assert_eq!(catalog.len(), 46);
        assert!(!catalog.is_empty());
        assert_eq!(catalog.sources(), [BUILTIN_SOURCE]);
    }

    #[test]
    fn builtin_is_sorted_and_all_404() {
        let catalog = builtin();
        let names: Vec<&str> = catalog
            .entries()
            .iter()
            .map(|e| e.error_type.as_str())
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for entry in catalog.entries() {
            assert_eq!(entry.status_code, 404);
            assert_eq!(entry.title, "Not found");
            assert_eq!(
                entry.doc_url,
                format!(
                    "https://stytch.com/docs/b2b/api/errors/404#{}",
                    entry.error_type
                )
            );
            assert!(!entry.description.is_empty());
            assert!(!entry.error_message.is_empty());
        }
    }

    #[test]
    fn oauth_token_not_found_matches_page() {
        let e = builtin_entry("oauth_token_not_found");
        assert_eq!(
            e.description,
            "The OAuth token provided can not be found. This may be because the token never \
             existed, or has already been used successfully."
        );
        assert_eq!(e.error_message, "OAuth Token could not be found.");
        assert_ne!(e.error_message, e.description);
        assert_eq!(
            e.common_causes,
            [
                "The web app is attempting to authenticate the token multiple times. In this \
                 case, the first attempt results in a successful response, but all following \
                 attempts result in this error."
            ]
        );
        let step = "Review your code which grabs the token from the redirect URL query params \
                    and authenticates the token. Each token can only be authenticated once.";
        assert_eq!(e.troubleshooting, [step]);
        assert_eq!(e.hint(), step);
        assert_eq!(
            e.doc_url,
            "https://stytch.com/docs/b2b/api/errors/404#oauth_token_not_found"
        );
    }

    #[test]
    fn session_not_found_matches_page() {
        let e = builtin_entry("session_not_found");
        assert_eq!(
            e.description,
            "The session could not be found. It could be revoked, expired, or nonexistent."
        );
        assert_eq!(e.error_message, "Session could not be found.");
        assert_eq!(
            e.common_causes,
            [
                "When a session expires or is revoked, Stytch will return a session_not_found \
                 error for an attempt to authenticate it.",
                "A user returns to a browser session after a long period of inactivity.",
                "A user is deleted and their session is automatically revoked.",
            ]
        );
        assert_eq!(
            e.troubleshooting,
            [
                "You can pull all of a user\u{2019}s active sessions using the get sessions endpoint.",
                "In most cases, a session_not_found error should prompt your app to \
                 re-authenticate the user; their session was either revoked, expired, or \
                 otherwise no longer exists. They\u{2019}ll need to generate a new session.",
            ]
        );
        assert_eq!(e.hint(), e.troubleshooting[0]);
    }

    #[test]
    fn otp_code_not_found_matches_page() {
        let e = builtin_entry("otp_code_not_found");
        assert_eq!(
            e.description,
            "The passcode provided was incorrect and could not be authenticated."
        );
        assert_eq!(
            e.error_message,
            "The passcode was incorrect and could not be authenticated, encourage the user to \
             try inputting the passcode again or send another passcode."
        );
        // "OPT code" is the page's typo, kept verbatim.
        assert_eq!(
            e.common_causes,
            [
                "The user is not providing the correct OTP code for their authentication \
                 attempt. They may have mistyped the value, or are referencing an old or \
                 unassociated OPT code."
            ]
        );
        assert_eq!(
            e.troubleshooting,
            [
                "Ask the user to try again. Additionally, provide an option for the user to send \
                 a new code if they are unable to authenticate."
            ]
        );
    }

    #[test]
    fn email_not_found_has_two_troubleshooting_steps() {
        let e = builtin_entry("email_not_found");
        assert_eq!(
            e.description,
            "There is not a user in this project associated with the supplied email or email_id."
        );
        assert_eq!(e.error_message, "Email could not be found.");
        assert_eq!(
            e.common_causes,
            [
                "The user mistypes their email when trying to authenticate via an email-based \
                 method which does not fall back to creating a new user. This includes password, \
                 magic link (via send), and OTP (via send) authentication."
            ]
        );
        assert_eq!(
            e.troubleshooting,
            [
                "Prompt the user to check their inputted email, and try again",
                "Consider using a loginOrCreate method if you would like new users to be able \
                 to authenticate",
            ]
        );
        assert_eq!(
            e.hint(),
            "Prompt the user to check their inputted email, and try again"
        );
    }

    #[test]
    fn hint_falls_back_to_description_without_causes() {
        let e = builtin_entry("billing_info_not_found");
        assert!(e.common_causes.is_empty());
        assert!(e.troubleshooting.is_empty());
        assert_eq!(e.description, "Billing info could not be found.");
        assert_eq!(e.hint(), "Billing info could not be found.");
    }

    #[test]
    fn hint_falls_back_to_first_cause_without_steps() {
        let e = builtin_entry("phone_number_not_found");
        assert!(e.troubleshooting.is_empty());
        assert_eq!(e.error_message, "Phone Number could not be found.");
        assert_eq!(
            e.hint(),
            "Calling a /send instead of a login_or_create endpoint for a new user; /send will \
             only succeed given a phone number which is already attached to an existing User."
        );
    }

    #[test]
    fn numbered_lists_join_every_item_in_order() {
        let e = builtin_entry("email_not_found");
        assert_eq!(
            e.troubleshooting_numbered(),
            "1. Prompt the user to check their inputted email, and try again \
             2. Consider using a loginOrCreate method if you would like new users to be able \
             to authenticate"
        );
        assert_eq!(e.causes_numbered(), format!("1. {}", e.common_causes[0]));
        let e = builtin_entry("billing_info_not_found");
        assert_eq!(e.causes_numbered(), "");
        assert_eq!(e.troubleshooting_numbered(), "");
    }

    #[test]
    fn index_of_round_trips_every_entry() {
        let catalog = builtin();
        for (i, entry) in catalog.entries().iter().enumerate() {
            assert_eq!(catalog.index_of(entry.error_type.as_bytes()), Some(i));
            assert_eq!(catalog.entry(i), Some(entry));
        }
        assert_eq!(catalog.entry(catalog.len()), None);
    }

    #[test]
    fn index_of_unknown_is_none() {
        let catalog = builtin();
        assert_eq!(catalog.index_of(b"nope"), None);
        assert_eq!(catalog.index_of(b""), None);
        assert_eq!(catalog.index_of(b"session_not_foun"), None);
        assert_eq!(catalog.index_of(b"SESSION_NOT_FOUND"), None);
    }

    #[test]
    fn unknown_entry_field_names_line_and_column() {
        let text = file_text(&[entry("a_not_found")]).replacen(
            "\"title\"",
            "\"foo\": 1,\n      \"title\"",
            1,
        );
        let err = load_text(&text).unwrap_err();
        assert!(matches!(err, CatalogError::Syntax(_)), "{err:?}");
        let (line, column) = position(&err).unwrap();
        assert_eq!(line, 8);
        assert!(column > 0);
        let message = err.to_string();
        assert!(message.starts_with("test.json:8:"), "{message}");
        assert!(
            message.contains("unknown field `foo`, expected one of"),
            "{message}"
        );
        assert!(!message.contains(" at line "), "{message}");
    }

    #[test]
    fn unknown_top_level_field_is_rejected() {
        let text = file_text(&[entry("a_not_found")]).replacen('{', "{\n  \"extra\": true,", 1);
        let err = load_text(&text).unwrap_err();
        assert!(matches!(err, CatalogError::Syntax(_)), "{err:?}");
        assert_eq!(position(&err).unwrap().0, 2, "{err:?}");
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
    }

    #[test]
    fn missing_field_is_rejected() {
        let mut value = serde_json::to_value(entry("a_not_found")).unwrap();
        value.as_object_mut().unwrap().remove("doc_url");
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "name": "test",
            "errors": [value],
        }))
        .unwrap();
        let err = load_text(&text).unwrap_err();
        assert!(matches!(err, CatalogError::Syntax { .. }), "{err:?}");
        assert!(err.to_string().starts_with("test.json:"), "{err}");
        assert!(err.to_string().contains("missing field `doc_url`"), "{err}");
    }

    #[test]
    fn bad_json_names_line_and_column() {
        let text = "{\n  \"name\": \"x\",\n  \"errors\": [\n    {,\n  ]\n}\n";
        let err = load_text(text).unwrap_err();
        assert!(matches!(err, CatalogError::Syntax(_)), "{err:?}");
        assert_eq!(position(&err), Some((4, 6)), "{err:?}");
        assert!(err.to_string().starts_with("test.json:4:6: "), "{err}");
    }

    #[test]
    fn missing_file_is_io_error_naming_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.json");
        let err = Catalog::from_files(std::slice::from_ref(&path)).unwrap_err();
        assert!(matches!(err, CatalogError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("absent.json"), "{err}");
    }

    #[test]
    fn duplicate_within_file_names_second_definition() {
        let text = file_text(&[
            entry("a_not_found"),
            entry("b_not_found"),
            entry("a_not_found"),
        ]);
        let err = load_text(&text).unwrap_err();
        assert!(matches!(err, CatalogError::Duplicate(_)), "{err:?}");
        assert_eq!(position(&err), Some((26, 7)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "test.json:26:7: error type \"a_not_found\" is defined twice (first in test.json:6:7)"
        );
    }

    #[test]
    fn duplicate_across_files_names_second_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_file(&dir, "first.json", &file_text(&[entry("a_not_found")]));
        let second = write_file(
            &dir,
            "extra.json",
            &file_text(&[entry("b_not_found"), entry("a_not_found")]),
        );
        let err = Catalog::from_files(&[first.clone(), second.clone()]).unwrap_err();
        let CatalogError::Duplicate(error) = &err else {
            panic!("expected Duplicate, got {err:?}");
        };
        assert_eq!(error.path, second);
        assert_eq!(position(&err).unwrap().0, 16);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{}:16:7: ", second.display())),
            "{message}"
        );
        assert!(
            message.contains(&format!("(first in {}:6:7)", first.display())),
            "{message}"
        );
    }

    #[test]
    fn duplicate_is_located_by_key_not_by_text_in_values() {
        let mut decoy = entry("a_not_found");
        decoy.description = "see \"error_type\": \"b_not_found\" {[".to_owned();
        let text = file_text(&[decoy, entry("b_not_found"), entry("b_not_found")]);
        let err = load_text(&text).unwrap_err();
        assert!(matches!(err, CatalogError::Duplicate(_)), "{err:?}");
        assert_eq!(position(&err).unwrap().0, 26, "{err:?}");
        assert!(err.to_string().contains("(first in test.json:16:"), "{err}");
    }

    #[test]
    fn empty_errors_list_is_rejected() {
        let err = load_text(&file_text(&[])).unwrap_err();
        assert!(matches!(err, CatalogError::Invalid(_)), "{err:?}");
        assert_eq!(position(&err), Some((4, 3)), "{err:?}");
        assert!(err.to_string().contains("no entries"), "{err}");
    }

    #[test]
    fn invalid_error_type_chars_are_rejected() {
        for bad in ["Email_Not_Found", "email-not-found", "email not found", "é"] {
            let text = file_text(&[entry("a_not_found"), entry(bad)]);
            let err = load_text(&text).unwrap_err();
            assert!(matches!(err, CatalogError::Invalid(_)), "{bad}: {err:?}");
            assert_eq!(position(&err), Some((16, 7)), "{bad}: {err:?}");
            assert!(
                err.to_string().starts_with("test.json:16:7: error type"),
                "{err}"
            );
        }
    }

    #[test]
    fn empty_error_type_is_rejected() {
        let err = load_text(&file_text(&[entry("")])).unwrap_err();
        assert!(matches!(err, CatalogError::Invalid(_)), "{err:?}");
        assert_eq!(position(&err), Some((6, 7)), "{err:?}");
    }

    #[test]
    fn status_code_out_of_range_is_rejected() {
        let mut bad = entry("a_not_found");
        bad.status_code = 600;
        let err = load_text(&file_text(&[bad])).unwrap_err();
        assert!(matches!(err, CatalogError::Invalid(_)), "{err:?}");
        assert_eq!(position(&err), Some((7, 7)), "{err:?}");
        assert!(err.to_string().contains("600"), "{err}");
    }

    #[test]
    fn merging_two_files_gives_sorted_union() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_file(
            &dir,
            "one.json",
            &file_text(&[entry("zeta_not_found"), entry("beta_not_found")]),
        );
        let second = write_file(
            &dir,
            "two.json",
            &file_text(&[entry("alpha_not_found"), entry("gamma_not_found")]),
        );
        let catalog = Catalog::from_files(&[first.clone(), second.clone()]).unwrap();
        let names: Vec<&str> = catalog
            .entries()
            .iter()
            .map(|e| e.error_type.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "alpha_not_found",
                "beta_not_found",
                "gamma_not_found",
                "zeta_not_found"
            ]
        );
        assert_eq!(
            catalog.sources(),
            [first.display().to_string(), second.display().to_string()]
        );
        assert_eq!(catalog.index_of(b"zeta_not_found"), Some(3));
        assert_eq!(catalog.index_of(b"session_not_found"), None);
    }

    #[test]
    fn load_is_the_builtin_catalogue_without_files_and_only_the_files_with_them() {
        assert_eq!(Catalog::load(&[]).unwrap().entries(), builtin().entries());
        assert_eq!(Catalog::load(&[]).unwrap().sources(), [BUILTIN_SOURCE]);
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "own.json", &file_text(&[entry("alpha_not_found")]));
        let own = Catalog::load(std::slice::from_ref(&path)).unwrap();
        let types: Vec<&str> = own
            .entries()
            .iter()
            .map(|e| e.error_type.as_str())
            .collect();
        assert_eq!(types, ["alpha_not_found"]);
        assert_eq!(own.sources(), [path.display().to_string()]);
    }

    #[test]
    fn builtin_file_round_trips_through_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, "builtin.json", BUILTIN_TEXT);
        let loaded = Catalog::from_files(&[path]).unwrap();
        assert_eq!(loaded.entries(), builtin().entries());
    }

    #[test]
    fn from_entries_validates_sorts_and_rejects_duplicates() {
        let catalog = Catalog::from_entries(vec![
            ("x".to_owned(), entry("b_not_found")),
            ("y".to_owned(), entry("a_not_found")),
        ])
        .unwrap();
        assert_eq!(catalog.entries()[0].error_type, "a_not_found");
        assert_eq!(catalog.sources(), ["x", "y"]);

        let err = Catalog::from_entries(vec![
            ("x".to_owned(), entry("a_not_found")),
            ("y".to_owned(), entry("a_not_found")),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "y: error type \"a_not_found\" is defined twice (first in x)"
        );

        let err = Catalog::from_entries(vec![("x".to_owned(), entry("Bad"))]).unwrap_err();
        assert!(matches!(err, CatalogError::Invalid(_)), "{err:?}");
    }

    #[test]
    fn from_entries_empty_is_empty_catalog() {
        let catalog = Catalog::from_entries(Vec::new()).unwrap();
        assert!(catalog.is_empty());
        assert_eq!(catalog.len(), 0);
        assert_eq!(catalog.index_of(b"a"), None);
    }
}
