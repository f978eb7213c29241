//! Where in a file a mistake is, and the one error that says so:
//! `FILE:LINE:COLUMN: KEY: message`, shared by the config
//! ([`crate::config::ConfigError`]), the catalogue
//! ([`crate::catalog::CatalogError`]) and the web config
//! ([`crate::export::http::WebConfigError`]), so the three read alike to the
//! SRE looking at a failed start and cannot drift apart.
//!
//! Positions come from the parsers wherever they give them: toml's byte
//! spans (turned into lines and columns by [`LineIndex`]), serde_json's line
//! and column, marked_yaml's markers, and the key paths of
//! `serde_path_to_error`. Finding a place no parser reports (the key of a
//! TOML syntax error, a key in a catalogue serde_json already accepted) is
//! left to the module that knows its format.
//!
//! Invariants: lines and columns are 1-based, columns count characters, not
//! bytes. A mistake with no known position (a catalogue built in memory)
//! names only its file.
//!
//! Deliberately not here: parsing, and any knowledge of a file format.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A 1-based line and column, in characters, as editors count them, so
/// `vim +LINE` and "go to line" land on the mistake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Position {
    /// The first character of a file: where a mistake about the whole file
    /// points when its parser names no better place.
    pub const START: Position = Position { line: 1, column: 1 };
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Turns byte offsets of one text into [`Position`]s, for parsers that
/// report spans (toml) and for keys located in text a parser accepted.
/// Built once per text, so locating many keys does not rescan it.
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes the lines of `text`.
    pub fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
            .collect();
        LineIndex { text, line_starts }
    }

    /// The position of byte `offset`. An offset past the end is the end (a
    /// parser's "unexpected end of input"); one inside a character is that
    /// character.
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self
            .line_starts
            .get(line.wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map_or(0, |prefix| prefix.chars().count());
        Position {
            line,
            column: column + 1,
        }
    }
}

/// What is wrong and where, before the file is named: what the code below a
/// file's parser (certificate loading, entry validation) can know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mistake {
    /// Where the offending value (or key) is, if known.
    pub at: Option<Position>,
    /// Dotted key such as `input[1].start_at`, or `(syntax)` when there is
    /// none; `None` for formats whose messages name no key (the catalogue).
    pub key: Option<String>,
    /// What is wrong, and what would be right.
    pub message: String,
}

impl Mistake {
    /// A mistake at `at`, under `key`: the common case of config files.
    pub fn new(at: Position, key: impl Into<String>, message: impl Into<String>) -> Mistake {
        Mistake {
            at: Some(at),
            key: Some(key.into()),
            message: message.into(),
        }
    }

    /// The error naming `FILE:LINE:COLUMN: KEY` in `path`.
    pub fn in_file(self, path: impl Into<PathBuf>) -> PositionedError {
        PositionedError {
            path: path.into(),
            mistake: self,
        }
    }
}

/// A [`Mistake`] in a named file, displayed as
/// `FILE:LINE:COLUMN: KEY: message` (without the parts not known).
#[derive(Debug, thiserror::Error)]
pub struct PositionedError {
    /// The file (or a name such as `<built-in>`).
    pub path: PathBuf,
    /// What is wrong in it, and where.
    pub mistake: Mistake,
}

impl fmt::Display for PositionedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", located(&self.path, self.mistake.at))?;
        if let Some(key) = &self.mistake.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.mistake.message)
    }
}

/// `FILE:LINE:COLUMN`, or `FILE` when the position is unknown: how every
/// message names a place, the second place of a message included.
pub fn located(path: &Path, at: Option<Position>) -> String {
    match at {
        Some(at) => format!("{}:{at}", path.display()),
        None => path.display().to_string(),
    }
}

/// Why a file could not be read, as the message after its name: the
/// system's words without Rust's ` (os error N)` suffix, which says the
/// same thing again in a number.
pub fn io_reason(error: &io::Error) -> String {
    let text = error.to_string();
    match (error.raw_os_error(), text.rfind(" (os error ")) {
        (Some(_), Some(at)) => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn at(text: &str, offset: usize) -> (usize, usize) {
        let position = LineIndex::new(text).position(offset);
        (position.line, position.column)
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        assert_eq!(at("ab\ncd", 0), (1, 1));
        assert_eq!(at("ab\ncd", 3), (2, 1));
        assert_eq!(at("ab\ncd", 4), (2, 2));
        assert_eq!(at("ab\n", 3), (2, 1));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(at("é = 1\nab", 7), (2, 1));
        assert_eq!(at("é = \"x\"", 6), (1, 6));
        assert_eq!(at("é", 1), (1, 1), "inside a character is that character");
    }

    #[test]
    fn an_offset_past_the_end_is_the_end() {
        assert_eq!(at("abc", 99), (1, 4));
        assert_eq!(at("", 5), (1, 1));
    }

    #[test]
    fn an_io_reason_is_the_systems_words_once() {
        assert_eq!(
            io_reason(&io::Error::from_raw_os_error(2)),
            "No such file or directory"
        );
        assert_eq!(
            io_reason(&io::Error::from_raw_os_error(13)),
            "Permission denied"
        );
        assert_eq!(
            io_reason(&io::Error::other("disk on fire (os error 5)")),
            "disk on fire (os error 5)",
            "only the OS's own suffix goes"
        );
    }

    #[test]
    fn an_error_names_file_position_and_key_as_far_as_known() {
        let full = Mistake::new(Position { line: 2, column: 7 }, "input[0].name", "bad");
        assert_eq!(
            full.clone().in_file("/etc/e.toml").to_string(),
            "/etc/e.toml:2:7: input[0].name: bad"
        );
        let keyless = Mistake {
            key: None,
            ..full.clone()
        };
        assert_eq!(keyless.in_file("c.json").to_string(), "c.json:2:7: bad");
        let nowhere = Mistake {
            at: None,
            key: None,
            ..full
        };
        assert_eq!(nowhere.in_file("<built-in>").to_string(), "<built-in>: bad");
    }
}
