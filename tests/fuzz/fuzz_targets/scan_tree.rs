//! The scanner against a slow reference that knows each record's error from
//! how it was built: the fuzzer's bytes choose a JSON tree (objects, keys
//! near `error_type` and `status_code`, strings with every escape, numbers,
//! JSON embedded in strings up to three quoting levels, white space around
//! colons); the record is its rendering behind a CRI or syslog prefix, and
//! the reference walks the tree for the first `error_type` key with a string
//! value and the first valid `status_code` at its level (README rules 2-5).
//! The same generator and rules as the property test in
//! `src/scan/tests.rs`, whose module is private to the crate.

#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::{Result, Unstructured};
use errtally::catalog::Catalog;
use errtally::scan::{Finding, MAX_LEVEL, STATUS_RANGE, Scanner};
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
enum Node {
    Object(Vec<(String, Node)>, Spacing),
    Text(String, Escaping),
    Number(String),
    Null,
    /// A string holding a prefix followed by the JSON of the node.
    Embedded(String, Box<Node>),
}

#[derive(Debug, Clone, Copy)]
struct Spacing {
    before_colon: &'static str,
    after_colon: &'static str,
}

#[derive(Debug, Clone, Copy)]
struct Escaping {
    underscore: bool,
    non_ascii: bool,
    slash: bool,
}

const PLAIN: Escaping = Escaping {
    underscore: false,
    non_ascii: false,
    slash: false,
};

fn catalog() -> Arc<Catalog> {
    static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();
    Arc::clone(CATALOG.get_or_init(|| Arc::new(Catalog::builtin().unwrap())))
}

fn random_text(u: &mut Unstructured<'_>, charset: &[u8], most: usize) -> Result<String> {
    let len = u.int_in_range(0..=most)?;
    (0..len)
        .map(|_| u.choose(charset).map(|&b| char::from(b)))
        .collect()
}

fn key(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=13)? {
        0..=3 => "error_type".to_string(),
        4..=5 => "status_code".to_string(),
        6 => "my_error_type".to_string(),
        7 => "error_type_detail".to_string(),
        8 => "Error_type".to_string(),
        9 => "error_types".to_string(),
        10 => "error type".to_string(),
        _ => {
            let mut key = random_text(u, b"abcdefghijklmnopqrstuvwxyz", 5)?;
            key.insert(0, 'k');
            key
        }
    })
}

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=10)? {
        0..=2 => {
            let catalog = catalog();
            let entries = &catalog.entries()[..6];
            u.choose(entries)?.error_type.clone()
        }
        3 => "rate_limit_exceeded".to_string(),
        4 => "error_type".to_string(),
        5 => "404".to_string(),
        6 => "4O4".to_string(),
        7 => "missing error_type: see docs".to_string(),
        8 => "a \"quoted\" \\ back/slash".to_string(),
        9 => "ünï_cødé 🚀_x".to_string(),
        _ => random_text(u, b"abcdefghijklmnopqrstuvwxyz_ :", 12)?,
    })
}

fn number(u: &mut Unstructured<'_>) -> Result<String> {
    if u.arbitrary()? {
        Ok(u.choose(&[
            "404", "429", "500", "99", "600", "4040", "-404", "404.0", "4.04e2", "0", "100", "599",
        ])?
        .to_string())
    } else {
        Ok(u.int_in_range(0u32..=999)?.to_string())
    }
}

fn node(u: &mut Unstructured<'_>, depth: u32) -> Result<Node> {
    if depth == 0 || u.ratio(1, 3)? {
        return Ok(match u.int_in_range(0..=5)? {
            0..=2 => Node::Text(
                text(u)?,
                Escaping {
                    underscore: u.arbitrary()?,
                    non_ascii: u.arbitrary()?,
                    slash: u.arbitrary()?,
                },
            ),
            3..=4 => Node::Number(number(u)?),
            _ => Node::Null,
        });
    }
    if u.ratio(3, 4)? {
        let fields = u.int_in_range(0..=5)?;
        let mut object = Vec::with_capacity(fields);
        for _ in 0..fields {
            object.push((key(u)?, node(u, depth - 1)?));
        }
        let blanks = ["", " ", "  ", "\t", "\n ", "\r\n"];
        Ok(Node::Object(
            object,
            Spacing {
                before_colon: u.choose(&blanks)?,
                after_colon: u.choose(&blanks)?,
            },
        ))
    } else {
        let prefix = u.choose(&["", "stytch: ", "err="])?.to_string();
        Ok(Node::Embedded(prefix, Box::new(node(u, depth - 1)?)))
    }
}

fn render(node: &Node, level: u32, out: &mut String) {
    // A raw newline cannot stand in the line itself (level 0).
    let flat = |s: &'static str| {
        if level == 0 && s.contains('\n') {
            " "
        } else {
            s
        }
    };
    match node {
        Node::Object(fields, spacing) => {
            out.push('{');
            for (i, (key, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                quote(key, PLAIN, out);
                out.push_str(flat(spacing.before_colon));
                out.push(':');
                out.push_str(flat(spacing.after_colon));
                render(value, level, out);
            }
            out.push('}');
        }
        Node::Text(text, escaping) => quote(text, *escaping, out),
        Node::Number(number) => out.push_str(number),
        Node::Null => out.push_str("null"),
        Node::Embedded(prefix, inner) => {
            let mut text = prefix.clone();
            render(inner, level + 1, &mut text);
            quote(&text, PLAIN, out);
        }
    }
}

fn quote(text: &str, escaping: Escaping, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '_' if escaping.underscore => out.push_str("\\u005f"),
            '/' if escaping.slash => out.push_str("\\/"),
            c if (c as u32) < 0x20 || (escaping.non_ascii && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The first `error_type` key's string value and its level; every
/// `status_code` key's level and valid value, in document order.
fn walk(
    node: &Node,
    level: u32,
    error: &mut Option<(String, u32)>,
    statuses: &mut Vec<(u32, Option<u16>)>,
) {
    match node {
        Node::Object(fields, _) => {
            for (key, value) in fields {
                if key == "error_type" && error.is_none() {
                    match value {
                        Node::Text(text, _) => *error = Some((text.clone(), level)),
                        Node::Embedded(prefix, inner) => {
                            let mut text = prefix.clone();
                            render(inner, level + 1, &mut text);
                            *error = Some((text, level));
                        }
                        _ => {}
                    }
                }
                if key == "status_code" {
                    statuses.push((level, status_value(value, level)));
                }
                walk(value, level, error, statuses);
            }
        }
        Node::Embedded(_, inner) if level < MAX_LEVEL => walk(inner, level + 1, error, statuses),
        _ => {}
    }
}

fn status_value(node: &Node, level: u32) -> Option<u16> {
    let mut embedded = String::new();
    let digits = match node {
        Node::Number(number) => number.as_str(),
        Node::Text(text, _) => text.as_str(),
        Node::Embedded(prefix, inner) => {
            embedded.push_str(prefix);
            render(inner, level + 1, &mut embedded);
            embedded.as_str()
        }
        _ => return None,
    };
    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status: u16 = digits.parse().ok()?;
    STATUS_RANGE.contains(&status).then_some(status)
}

fn expected(node: &Node, catalog: &Catalog) -> Option<Finding> {
    let mut error = None;
    let mut statuses = Vec::new();
    walk(node, 0, &mut error, &mut statuses);
    let (value, level) = error?;
    if let Some(index) = catalog.index_of(value.as_bytes()) {
        return Some(Finding::Catalogued(index));
    }
    let status = statuses
        .iter()
        .find(|(status_level, status)| *status_level == level && status.is_some())
        .and_then(|(_, status)| *status);
    Some(Finding::Uncatalogued { status })
}

fuzz_target!(|bytes: &[u8]| {
    let mut u = Unstructured::new(bytes);
    let Ok(prefix) = u.choose(&[
        "",
        "2026-11-29T01:02:03Z stdout F ",
        "<14>Nov 29 01:02:03 h a[1]: ",
    ]) else {
        return;
    };
    let Ok(node) = node(&mut u, 5) else { return };
    if !matches!(node, Node::Object(..)) {
        return;
    }
    let mut record = prefix.to_string();
    render(&node, 0, &mut record);
    let catalog = catalog();
    let want = expected(&node, &catalog);
    let got = Scanner::new(Arc::clone(&catalog)).find_error(record.as_bytes());
    assert_eq!(got, want, "record: {record}");
});
