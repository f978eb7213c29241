//! A counted record's Stytch request ID: pure, synchronous, and
//! allocation-free, like the framer. Asked only of records that count (an
//! error was found), so other lines never pay for it.
//!
//! The forms are those the API and the official SDKs print, at the quoting
//! levels the scanner understands (a JSON string inside a JSON string, up
//! to twice):
//! - the API's JSON `"request_id":"…"`, and the Java/Kotlin JSON
//!   `"requestId":"…"`;
//! - Python `request_id='…'` and its dict form `'request_id': '…'`;
//! - Go `%#v` `RequestID:"…"` and the Go error string `request ID: …,`;
//! - Ruby `"request_id"=>"…"` (and ` => `);
//! - Kotlin `requestId=…`.
//!
//! The first such key in the record whose value is an ID wins. An ID is 1
//! to [`MAX_REQUEST_ID_BYTES`] bytes of `[A-Za-z0-9._:-]`: anything else
//! (a longer value, another byte inside the quotes) is not taken, and the
//! search goes on. A request ID is never a label of a series: it is log
//! content, unbounded in number.

use std::sync::LazyLock;

use memchr::memmem;

/// Longest request ID kept; Stytch's are about 50 bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 100;

/// Every key name holds it: `request_id`, `requestId`, `RequestID`,
/// `request ID`.
const NEEDLE: &[u8] = b"equest";

/// The key names, each after its `r`/`R`.
const KEYS: [&[u8]; 4] = [b"request_id", b"requestId", b"RequestID", b"request ID"];

/// The searcher for [`NEEDLE`], built once: building it for every record
/// cost about a third of a search.
static NEEDLE_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(NEEDLE));

/// The record's request ID, if one of the forms holds one.
pub fn find_request_id(record: &[u8]) -> Option<&[u8]> {
    NEEDLE_FINDER.find_iter(record).find_map(|hit| {
        let start = hit.checked_sub(1)?;
        let key = KEYS.iter().find(|key| record[start..].starts_with(key))?;
        value_after_key(record, start, start + key.len())
    })
}

/// A quote around a key or value: `'`, or `"` after 0, 1 or 3 backslashes
/// (quoting levels 0 to 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Single,
    Double { backslashes: usize },
    None,
}

impl Quote {
    /// The quote that ends just before `end` (exclusive), if any.
    fn ending_at(record: &[u8], end: usize) -> Quote {
        match end.checked_sub(1).map(|at| record[at]) {
            Some(b'\'') => Quote::Single,
            Some(b'"') => {
                let backslashes = record[..end - 1]
                    .iter()
                    .rev()
                    .take_while(|&&byte| byte == b'\\')
                    .count();
                match backslashes {
                    0 | 1 | 3 => Quote::Double { backslashes },
                    _ => Quote::None,
                }
            }
            _ => Quote::None,
        }
    }

    /// Its bytes, as they appear in the record.
    fn matches_at(self, record: &[u8], at: usize) -> Option<usize> {
        let len = match self {
            Quote::None => return Some(at),
            Quote::Single => {
                return (record.get(at) == Some(&b'\'')).then_some(at + 1);
            }
            Quote::Double { backslashes } => backslashes + 1,
        };
        let bytes = record.get(at..at + len)?;
        let (escapes, quote) = bytes.split_at(len - 1);
        (escapes.iter().all(|&byte| byte == b'\\') && quote == b"\"").then_some(at + len)
    }

    /// The quote that opens a value at `at`: the key's own (a JSON or Ruby
    /// value is quoted like its key), or `'`, or a `"` at any level.
    fn opening_at(record: &[u8], at: usize) -> (Quote, usize) {
        if record.get(at) == Some(&b'\'') {
            return (Quote::Single, at + 1);
        }
        for backslashes in [0, 1, 3] {
            let quote = Quote::Double { backslashes };
            if let Some(next) = quote.matches_at(record, at) {
                return (quote, next);
            }
        }
        (Quote::None, at)
    }
}

/// The value of the key at `start..end`, if the key is one (quoted alike
/// on both sides, or unquoted after a non-word byte) followed by `:`, `=`
/// or `=>` and an ID (quoted, or after an unquoted key also bare).
fn value_after_key(record: &[u8], start: usize, end: usize) -> Option<&[u8]> {
    let quote = Quote::ending_at(record, start);
    let mut at = if quote == Quote::None {
        // A bare key must start a word (not `x_request_id=`), and a quote
        // before it that is none of ours (`\\"`) makes it no key at all.
        if start > 0 && is_key_joined(record[start - 1]) {
            return None;
        }
        end
    } else {
        quote.matches_at(record, end)?
    };
    at = skip_spaces(record, at);
    at = match record.get(at..) {
        Some([b'=', b'>', ..]) => at + 2,
        Some([b':' | b'=', ..]) => at + 1,
        _ => return None,
    };
    at = skip_spaces(record, at);
    let (value_quote, value_start) = Quote::opening_at(record, at);
    let length = id_run_len(&record[value_start..]);
    let value_end = value_start + length;
    if length == 0 || length > MAX_REQUEST_ID_BYTES {
        return None;
    }
    match value_quote {
        // A quoted key's value is quoted too (JSON `null` is no ID).
        Quote::None if quote != Quote::None => None,
        // Ends at the first byte an ID cannot hold.
        Quote::None => Some(&record[value_start..value_end]),
        quoted => {
            quoted.matches_at(record, value_end)?;
            Some(&record[value_start..value_end])
        }
    }
}

fn skip_spaces(record: &[u8], mut at: usize) -> usize {
    while record.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// Whether a bare key after this byte is part of something else.
fn is_key_joined(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'"' | b'\'' | b'\\')
}

pub(crate) fn is_id_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b':' | b'-')
}

/// How many bytes an ID may hold lead `bytes`: 16 at a time with SSE2
/// (an ID is about 50 bytes, and byte by byte this was most of a search).
fn id_run_len(bytes: &[u8]) -> usize {
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= bytes.len() {
        use std::arch::x86_64::{
            __m128i, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8,
            _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_sub_epi8,
        };
        // SAFETY: SSE2 is part of every x86-64 CPU, and the unaligned load
        // reads `bytes[at..at + 16]`, in bounds (checked above).
        let id_bytes = unsafe {
            let block = _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>());
            let splat = |byte: u8| _mm_set1_epi8(byte as i8);
            // `lo <= x <= hi` as unsigned bytes: `x - lo` wraps past the
            // width of the range below `lo`.
            let within = |x: __m128i, lo: u8, hi: u8| {
                let offset = _mm_sub_epi8(x, splat(lo));
                _mm_cmpeq_epi8(_mm_min_epu8(offset, splat(hi - lo)), offset)
            };
            // Either case of a letter is a lowercase one with 0x20 set.
            let letter = within(_mm_or_si128(block, splat(0x20)), b'a', b'z');
            // `-`, `.`, `/`, the digits and `:` are one run; `/` is none.
            let digit_or_mark = _mm_andnot_si128(
                _mm_cmpeq_epi8(block, splat(b'/')),
                within(block, b'-', b':'),
            );
            let underscore = _mm_cmpeq_epi8(block, splat(b'_'));
            _mm_movemask_epi8(_mm_or_si128(
                _mm_or_si128(letter, digit_or_mark),
                underscore,
            )) as u32
        };
        if id_bytes != 0xFFFF {
            return at + (!id_bytes).trailing_zeros() as usize;
        }
        at += 16;
    }
    at + bytes
        .get(at..)
        .unwrap_or_default()
        .iter()
        .take_while(|&&byte| is_id_byte(byte))
        .count()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ID: &str = "request-id-test-aabf176c-0061-4843-8603-1517d5934f61";

    fn found(record: &str) -> Option<String> {
        find_request_id(record.as_bytes()).map(|id| String::from_utf8(id.to_vec()).unwrap())
    }

    #[test]
    fn every_form_the_api_and_sdks_print() {
        for record in [
            // The API's JSON, at quoting levels 0, 1 and 2.
            format!(r#"{{"status_code":404,"request_id":"{ID}","error_type":"x"}}"#),
            format!(r#"{{"request_id" : "{ID}"}}"#),
            format!(r#"{{"msg":"{{\"status_code\":404,\"request_id\":\"{ID}\"}}"}}"#),
            format!(r#"{{"log":"{{\"msg\":\"{{\\\"request_id\\\":\\\"{ID}\\\"}}\"}}"}}"#),
            // Java/Kotlin JSON.
            format!(r#"{{"stytch_error":{{"statusCode":404,"requestId":"{ID}"}}}}"#),
            // Python.
            format!("StytchError: status_code=404 request_id='{ID}' error_type='x'"),
            format!("{{'status_code': 404, 'request_id': '{ID}', 'error_type': 'x'}}"),
            format!(r#"{{"exc_value": "status_code=404 request_id='{ID}'"}}"#),
            // Go.
            format!(r#"stytcherror.Error{{StatusCode:404, RequestID:"{ID}", ErrorType:"x"}}"#),
            format!(r#"{{"err":"stytcherror.Error{{StatusCode:404, RequestID:\"{ID}\"}}"}}"#),
            format!("Stytch Error - request ID: {ID}, status: 404, type: x"),
            format!(r#"{{"err":"Stytch Error - request ID: {ID}, status: 404"}}"#),
            // Ruby.
            format!(r#"ERROR -- : {{"status_code"=>404, "request_id"=>"{ID}"}}"#),
            format!(r#"ERROR -- : {{"status_code" => 404, "request_id" => "{ID}"}}"#),
            // Kotlin.
            format!("ErrorResponse(statusCode=404, requestId={ID}, errorType=x)"),
            format!("ErrorResponse(statusCode=404, requestId={ID})"),
        ] {
            assert_eq!(found(&record).as_deref(), Some(ID), "{record}");
        }
    }

    #[test]
    fn values_that_are_not_ids_are_not_taken() {
        let long = "a".repeat(MAX_REQUEST_ID_BYTES + 1);
        let longest = "a".repeat(MAX_REQUEST_ID_BYTES);
        for record in [
            format!(r#"{{"request_id":"{long}"}}"#),
            format!("request ID: {long}, status: 404"),
            r#"{"request_id":"has space"}"#.to_owned(),
            r#"{"request_id":"quote\"inside"}"#.to_owned(),
            r#"{"request_id":"<script>"}"#.to_owned(),
            r#"{"request_id":""}"#.to_owned(),
            r#"{"request_id":null}"#.to_owned(),
            r#"{"request_id":"unterminated"#.to_owned(),
            "request_id='mismatched\"".to_owned(),
            // Another key that ends alike.
            r#"{"parent_request_id":"abc"}"#.to_owned(),
            "x_request_id=abc".to_owned(),
            // A key quoted differently on each side.
            r#"{"request_id':'abc'}"#.to_owned(),
            "no key here: request".to_owned(),
            "request_id".to_owned(),
            "request_id=".to_owned(),
        ] {
            assert_eq!(found(&record), None, "{record}");
        }
        assert_eq!(
            found(&format!(r#"{{"request_id":"{longest}"}}"#)),
            Some(longest)
        );
    }

    #[test]
    fn the_first_key_with_an_id_wins() {
        assert_eq!(
            found(r#"{"request_id":"bad value","err":"Error - request ID: second, x","request_id":"third"}"#)
                .as_deref(),
            Some("second")
        );
        assert_eq!(
            found(r#"{"request_id":"first","requestId":"second"}"#).as_deref(),
            Some("first")
        );
    }

    /// The lines the official SDKs printed (tests/fixtures/sdk): each test
    /// request ID the capture made is found in the line that holds it.
    #[test]
    fn every_request_id_in_the_sdk_captures_is_found() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdk");
        let mut checked = 0;
        for sdk in ["go", "kotlin", "node", "python", "ruby"] {
            for file in std::fs::read_dir(root.join(sdk)).unwrap() {
                let path = file.unwrap().path();
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                for line in text.lines() {
                    let Some(at) = line.find("request-id-test-") else {
                        continue;
                    };
                    let truth: String = line[at..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    // `request-id-test-` and a UUID; a logger that cut the
                    // value short (loguru's `…`) left no ID to find.
                    let whole = truth.len() == 16 + 36;
                    assert_eq!(
                        found(line).as_deref(),
                        whole.then_some(truth.as_str()),
                        "{}: {line}",
                        path.display()
                    );
                    checked += usize::from(whole);
                }
            }
        }
        assert!(checked >= 50, "only {checked} lines with a request ID");
    }

    #[test]
    fn id_bytes_are_letters_digits_and_four_marks() {
        let allowed: Vec<u8> = (b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(b'0'..=b'9')
            .chain(*b"._:-")
            .collect();
        assert_eq!(allowed.len(), 66);
        for byte in 0..=255u8 {
            assert_eq!(is_id_byte(byte), allowed.contains(&byte), "{byte}");
        }
    }

    /// The 16-byte run count agrees with `is_id_byte` for every byte
    /// value at every position of runs around the 16-byte steps.
    #[test]
    fn an_id_run_ends_at_the_first_byte_no_id_holds() {
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 47, 60] {
            let run = vec![b'a'; len];
            assert_eq!(id_run_len(&run), len);
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut bytes = run.clone();
                    bytes[at] = byte;
                    let expected = if is_id_byte(byte) { len } else { at };
                    assert_eq!(id_run_len(&bytes), expected, "{len} {at} {byte}");
                }
            }
        }
        // A run of every ID byte, in order: read in full.
        let every: Vec<u8> = (0..=255u8).filter(|&b| is_id_byte(b)).collect();
        assert_eq!(id_run_len(&every), 66);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        for record in [
            &b"\\\\\\\"request_id"[..],
            b"\"request_id\\",
            b"'request_id'",
            b"'request_id':",
            b"equest",
            b"Request",
            b"\xff\"request_id\":\"\xfe\"",
            b"\\\\\\\\\"request_id\\\\\\\\\":\"a\"",
        ] {
            let _ = find_request_id(record);
        }
    }

    /// A slow reference: the same forms as regular expressions, tried at
    /// every key position, first position first.
    fn reference(record: &str) -> Option<String> {
        let key = r#"(?:request_id|requestId|RequestID|request ID)"#;
        let quote = r#"(?:'|"|\\"|\\\\\\")"#;
        let pattern = regex::Regex::new(&format!(
            r#"^(?:(?P<kq>{quote}){key}(?P<kq2>{quote})|{key}) *(?:=>|:|=) *(?:(?P<vq>{quote})(?P<qv>[A-Za-z0-9._:-]{{1,100}})(?P<vq2>{quote})|(?P<bv>[A-Za-z0-9._:-]{{1,101}}))"#
        ))
        .unwrap();
        for start in 0..record.len() {
            if !record.is_char_boundary(start) {
                continue;
            }
            // A key position: its quote, or the key itself after a non-word
            // byte.
            let Some(caps) = pattern.captures(&record[start..]) else {
                continue;
            };
            match (caps.name("kq"), caps.name("kq2")) {
                (None, _) => {
                    if record[..start].bytes().last().is_some_and(is_key_joined) {
                        continue;
                    }
                }
                (Some(open), Some(close)) => {
                    // A double quote is the whole run of backslashes
                    // before it.
                    let escaped = open.as_str() != "'" && record[..start].ends_with('\\');
                    if open.as_str() != close.as_str() || escaped {
                        continue;
                    }
                }
                (Some(_), None) => continue,
            }
            if let Some(value) = caps.name("qv") {
                let (open, close) = (&caps["vq"], &caps["vq2"]);
                if open == close {
                    return Some(value.as_str().to_owned());
                }
                continue;
            }
            if let Some(value) = caps.name("bv")
                && caps.name("kq").is_none()
                && value.as_str().len() <= 100
            {
                return Some(value.as_str().to_owned());
            }
        }
        None
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("request_id".to_owned()),
            Just("requestId".to_owned()),
            Just("RequestID".to_owned()),
            Just("request ID".to_owned()),
            Just("\"".to_owned()),
            Just("\\\"".to_owned()),
            Just("'".to_owned()),
            Just(":".to_owned()),
            Just("=>".to_owned()),
            Just("=".to_owned()),
            Just(" ".to_owned()),
            Just(",".to_owned()),
            "[A-Za-z0-9._:-]{1,8}",
            "[a-z]{95,105}",
            "[^\\n]{0,3}",
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_the_slow_reference(pieces in prop::collection::vec(piece(), 0..12)) {
            let record = pieces.concat();
            prop_assert_eq!(found(&record), reference(&record), "{}", record);
        }
    }
}
