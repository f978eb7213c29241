//! The forms in which the official Stytch SDKs print an error, beside the
//! JSON key that [`super`] reads:
//!
//! 1. Python, `str()`/`repr()` of the SDK's pydantic error details:
//!    `error_type='V'`, not preceded by a word character;
//! 2. Python dict repr (`original_json={…}`): `'error_type': 'V'`, preceded
//!    by `{`, `,` or white space;
//! 3. Go, `stytcherror.Error.Error()`: `Stytch Error - [request ID: …, ]status
//!    code: D, type: V, message: …` (also `Stytch OAuth2 Error - …`, and
//!    `http status: D` for `status code: D` in releases before the
//!    `stytcherror` package);
//! 4. Ruby `Hash#inspect`: `"error_type"=>"V"` (`"error_type" => "V"` from
//!    Ruby 3.4), quoted at any JSON level (read by [`super::key_at`]);
//! 5. Kotlin data-class `toString()`: `…(statusCode=404, …, errorType=V, …`;
//! 6. Go `%#v` of the error struct: `stytcherror.Error{StatusCode:404, …,
//!    ErrorType:"V", …}`.
//!
//! loguru's default traceback prints each frame's variables under the
//! source line (`│   └ {'error_type': 'V', …}`); those annotations are not
//! events, the exception's own line is, so Python forms on them are skipped.
//!
//! V is `[A-Za-z0-9_]{1,64}` followed at once by the form's closing
//! delimiter, so a value cut short by a logger (`'session_no...`) is no
//! match. None of these forms holds a double quote, so they read the same at
//! every JSON quoting level; only "preceded by white space" must also accept
//! the escapes `\n`, `\t` and `\r`, which stand for white space there.
//!
//! An uncatalogued value of these forms counts only with its form's own
//! status ([`status_of`]): `error_type='x'` alone may be any library's.

use memchr::memmem::Finder;

use super::{ERROR_TYPE, STATUS_CODE, Separator, first_status, key_status, three_digits};

/// Longest SDK error type value.
const MAX_SDK_NAME: usize = 64;

/// Longest request ID skipped in Go's error string before its status.
const MAX_REQUEST_ID: usize = 256;

/// An SDK form whose status lies elsewhere in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Form {
    /// `error_type='V'`; status from `status_code=DDD`.
    PythonAttr,
    /// `'error_type': 'V'`; status from `'status_code': DDD`.
    PythonDict,
    /// `"error_type"=>"V"` at a JSON quoting level; status from
    /// `"status_code"=>DDD` at the same level.
    Ruby(u32),
    /// `errorType=V`; status from `statusCode=DDD`.
    Kotlin,
    /// `ErrorType:"V"`; status from `StatusCode:DDD`.
    GoSyntax,
}

/// True for an SDK error type value: 1 to 64 of `[A-Za-z0-9_]`.
pub(super) fn is_sdk_name(name: &[u8]) -> bool {
    (1..=MAX_SDK_NAME).contains(&name.len()) && name.iter().all(|&b| is_word(b))
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// The end of an SDK value starting at `start` if `close` follows it at
/// once.
fn sdk_value(line: &[u8], start: usize, close: impl Fn(u8) -> bool) -> Option<usize> {
    let len = line
        .get(start..)?
        .iter()
        .take(MAX_SDK_NAME + 1)
        .take_while(|&&b| is_word(b))
        .count();
    let end = start + len;
    ((1..=MAX_SDK_NAME).contains(&len) && line.get(end).is_some_and(|&b| close(b))).then_some(end)
}

/// True if the byte before `at` is white space, raw or (at an escaped JSON
/// level) written as `\n`, `\t` or `\r`.
fn is_space_before(line: &[u8], at: usize) -> bool {
    match at.checked_sub(1).map(|i| line[i]) {
        Some(b' ' | b'\t' | b'\r' | b'\n') => true,
        Some(b'n' | b't' | b'r') => at >= 2 && line[at - 2] == b'\\',
        _ => false,
    }
}

/// True if the text before `at` does not end in a word character; an
/// escaped `\n`, `\t` or `\r` ends in a letter but stands for white space.
fn is_boundary_before(line: &[u8], at: usize) -> bool {
    at == 0 || !is_word(line[at - 1]) || is_space_before(line, at)
}

/// Position after `>` at `pos`, or after its `\u003e` spelling (with the
/// backslashes of any quoting level).
pub(super) fn after_greater_than(line: &[u8], pos: usize) -> Option<usize> {
    match line.get(pos)? {
        b'>' => Some(pos + 1),
        b'\\' => {
            let backslashes = line[pos..]
                .iter()
                .take(4)
                .take_while(|&&b| b == b'\\')
                .count();
            let escape = pos + backslashes;
            (line.get(escape..escape + 5)? == b"u003e").then_some(escape + 5)
        }
        _ => None,
    }
}

/// Python forms at the literal `error_type` at `at`: the value's range and
/// the form.
pub(super) fn python_error_type(line: &[u8], at: usize) -> Option<(std::ops::Range<usize>, Form)> {
    let (value, form) = python_form(line, at)?;
    (!is_loguru_annotation(line, at)).then_some((value, form))
}

fn python_form(line: &[u8], at: usize) -> Option<(std::ops::Range<usize>, Form)> {
    let after = at + ERROR_TYPE.len();
    if at >= 1 && line[at - 1] == b'\'' {
        // 'error_type': 'V'
        let opener = at - 1;
        let preceded =
            opener >= 1 && matches!(line[opener - 1], b'{' | b',') || is_space_before(line, opener);
        if !preceded || line.get(after..after + 2)? != b"':" {
            return None;
        }
        let quote = after + 2 + line[after + 2..].iter().take_while(|&&b| b == b' ').count();
        if line.get(quote) != Some(&b'\'') {
            return None;
        }
        let end = sdk_value(line, quote + 1, |b| b == b'\'')?;
        return Some((quote + 1..end, Form::PythonDict));
    }
    // error_type='V'
    if !is_boundary_before(line, at) || line.get(after..after + 2)? != b"='" {
        return None;
    }
    let end = sdk_value(line, after + 2, |b| b == b'\'')?;
    Some((after + 2..end, Form::PythonAttr))
}

/// Go's `Stytch Error - [request ID: …, ]status code: D, type: V, …` (or
/// `Stytch OAuth2 Error - …`) whose `, type: ` is at `type_at`: the value's
/// range and the status written in it (`None` when it is not a valid HTTP
/// status).
pub(super) fn go_error(
    line: &[u8],
    type_at: usize,
) -> Option<(std::ops::Range<usize>, Option<u16>)> {
    // The longest text between `Stytch ` and `, type: `.
    const MAX_HEAD: usize = b"OAuth2 Error - request ID: , status code: 000".len() + MAX_REQUEST_ID;
    let window_start = type_at.saturating_sub(MAX_HEAD + b"Stytch ".len());
    let window = &line[window_start..type_at];
    let head_start = memchr::memrchr(b'\n', window).map_or(window_start, |i| window_start + i + 1);
    let start = head_start + memchr::memmem::rfind(&line[head_start..type_at], b"Stytch ")?;
    let (value, status) = go_error_at(line, start)?;
    (value.start == type_at + b", type: ".len()).then_some((value, status))
}

/// Go's error string starting at `at` (`Stytch …`).
fn go_error_at(line: &[u8], at: usize) -> Option<(std::ops::Range<usize>, Option<u16>)> {
    let rest = line.get(at..)?;
    let prefix = [&b"Stytch Error - "[..], b"Stytch OAuth2 Error - "]
        .into_iter()
        .find(|prefix| rest.starts_with(prefix))?;
    let mut pos = at + prefix.len();
    if line[pos..].starts_with(b"request ID: ") {
        // The ID is the API's, normally `request-id-…`; find the status
        // that follows it within a bound rather than trusting its charset.
        let window = &line[pos..line.len().min(pos + MAX_REQUEST_ID)];
        pos += memchr::memmem::find_iter(window, b", ")
            .find(|&comma| go_status_label(&window[comma + 2..]).is_some())?
            + 2;
    }
    let digits_start = pos + go_status_label(&line[pos..])?;
    let digits = line[digits_start..]
        .iter()
        .take(4)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=3).contains(&digits) {
        return None;
    }
    let type_start = digits_start + digits;
    if !line[type_start..].starts_with(b", type: ") {
        return None;
    }
    let value_start = type_start + b", type: ".len();
    let end = sdk_value(line, value_start, |b| b == b',')?;
    let status = status_digits(line, digits_start);
    Some((value_start..end, status))
}

/// The length of the status label `text` starts with: `status code: `
/// today, `http status: ` in stytch-go's releases before the
/// `stytcherror` package.
fn go_status_label(text: &[u8]) -> Option<usize> {
    [&b"status code: "[..], b"http status: "]
        .into_iter()
        .find(|label| text.starts_with(label))
        .map(<[u8]>::len)
}

/// True if the text holding `at` is one of loguru's variable annotations:
/// `└ ` and the value, under an indent of blanks and `│` (four or more:
/// loguru indents a traceback's source lines by four). The text starts at
/// the line start or after the last `\n` escape, since a JSON logger
/// holds the whole traceback in one string.
fn is_loguru_annotation(line: &[u8], at: usize) -> bool {
    const BAR: &[u8] = "│".as_bytes();
    const CORNER: &[u8] = "└ ".as_bytes();
    const MIN_INDENT: usize = 4;
    let start = memchr::memrchr(b'\n', &line[..at]).map_or(0, |i| i + 1);
    let start = memchr::memmem::rfind(&line[start..at], b"\\n").map_or(start, |i| start + i + 2);
    let text = &line[start..at];
    let Some(corner) = memchr::memmem::rfind(text, CORNER) else {
        return false;
    };
    let mut indent = &text[..corner];
    let mut width = 0;
    while width < MIN_INDENT {
        if let Some(rest) = indent.strip_suffix(b" ") {
            indent = rest;
        } else if let Some(rest) = indent.strip_suffix(BAR) {
            indent = rest;
        } else {
            return false;
        }
        width += 1;
    }
    true
}

/// Go's `%#v`: `ErrorType:"V"` at `at` (the quotes escaped at any JSON
/// level), after `{` or `, `: the value's range.
pub(super) fn go_syntax_error_type(line: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    if !is_field_start(line, at, b'{') {
        return None;
    }
    let open = at + b"ErrorType:".len();
    let backslashes = line
        .get(open..)?
        .iter()
        .take(4)
        .take_while(|&&b| b == b'\\')
        .count();
    let start = open + backslashes + 1;
    if line.get(start - 1) != Some(&b'"') {
        return None;
    }
    let end = sdk_value(line, start, |b| {
        b == if backslashes > 0 { b'\\' } else { b'"' }
    })?;
    let close = line.get(end..end + backslashes + 1)?;
    (close[backslashes] == b'"' && close[..backslashes].iter().all(|&b| b == b'\\'))
        .then_some(start..end)
}

/// True if a struct field starts at `at`: after `open` or `, `.
fn is_field_start(line: &[u8], at: usize, open: u8) -> bool {
    at >= 1 && line[at - 1] == open || at >= 2 && &line[at - 2..at] == b", "
}

/// Kotlin's `…(statusCode=404, …, errorType=V, …` at the literal
/// `errorType=` at `at`: the value's range.
pub(super) fn kotlin_error_type(line: &[u8], at: usize) -> Option<std::ops::Range<usize>> {
    if !is_field_start(line, at, b'(') {
        return None;
    }
    let start = at + b"errorType=".len();
    let end = sdk_value(line, start, |b| b == b',' || b == b')')?;
    Some(start..end)
}

/// The status an SDK `form`'s own field gives in `record`: its first valid
/// one.
pub(super) fn status_of(record: &[u8], form: Form, status_code: &Finder<'_>) -> Option<u16> {
    match form {
        Form::PythonAttr => first_status(record, status_code, python_attr_status),
        Form::PythonDict => first_status(record, status_code, python_dict_status),
        Form::Ruby(level) => first_status(record, status_code, |record, at| {
            key_status(record, at, level, Separator::Arrow)
        }),
        Form::Kotlin => field_status(record, b"statusCode=", b'('),
        Form::GoSyntax => field_status(record, b"StatusCode:", b'{'),
    }
}

/// `status_code=DDD` at `at`, not preceded by a word character.
fn python_attr_status(record: &[u8], at: usize) -> Option<u16> {
    if !is_boundary_before(record, at) {
        return None;
    }
    let digits = at + STATUS_CODE.len() + 1;
    (record.get(at + STATUS_CODE.len()) == Some(&b'=')).then_some(())?;
    status_digits(record, digits)
}

/// `'status_code': DDD` at `at` (the literal after its quote).
fn python_dict_status(record: &[u8], at: usize) -> Option<u16> {
    if at == 0 || record[at - 1] != b'\'' {
        return None;
    }
    let after = at + STATUS_CODE.len();
    if record.get(after..after + 2)? != b"':" {
        return None;
    }
    let digits = after
        + 2
        + record[after + 2..]
            .iter()
            .take_while(|&&b| b == b' ')
            .count();
    status_digits(record, digits)
}

/// The first `FIELD` field (`statusCode=DDD` of a Kotlin `toString()`,
/// `StatusCode:DDD` of a Go `%#v`) with a valid status.
fn field_status(record: &[u8], field: &[u8], open: u8) -> Option<u16> {
    memchr::memmem::find_iter(record, field).find_map(|at| {
        is_field_start(record, at, open).then_some(())?;
        status_digits(record, at + field.len())
    })
}

/// Exactly three digits at `pos`, not followed by another digit, as a
/// valid status.
fn status_digits(record: &[u8], pos: usize) -> Option<u16> {
    three_digits(record, pos).filter(|status| super::STATUS_RANGE.contains(status))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
