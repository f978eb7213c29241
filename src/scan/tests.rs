//! Scanner tests: one rule per test, then a property test against a slow
//! reference that knows each record's error from how it was built.

use super::*;

fn scanner() -> Scanner {
    Scanner::new(Arc::new(Catalog::builtin().unwrap()))
}

fn index(name: &str) -> usize {
    Catalog::builtin()
        .unwrap()
        .index_of(name.as_bytes())
        .unwrap()
}

fn find(record: &str) -> Option<Finding> {
    scanner().find_error(record.as_bytes())
}

fn catalogued(name: &str) -> Option<Finding> {
    Some(Finding::Catalogued(index(name)))
}

fn uncatalogued(status: Option<u16>) -> Option<Finding> {
    Some(Finding::Uncatalogued { status })
}

#[test]
fn plain_json_key_is_found() {
    assert_eq!(
        find(r#"{"status_code":404,"error_type":"email_not_found"}"#),
        catalogued("email_not_found")
    );
}

#[test]
fn white_space_around_the_colon_is_allowed() {
    assert_eq!(
        find(r#"{"error_type" :	 "member_not_found" }"#),
        catalogued("member_not_found")
    );
}

#[test]
fn anything_may_precede_the_json() {
    assert_eq!(
        find(r#"2026-11-29T01:02:03.123456789Z stdout F {"error_type":"session_not_found"}"#),
        catalogued("session_not_found")
    );
    assert_eq!(
        find(r#"<14>Nov 29 01:02:03 host api[42]: {"error_type":"session_not_found"}"#),
        catalogued("session_not_found")
    );
}

#[test]
fn json_escaped_once_inside_a_string_is_found() {
    assert_eq!(
        find(
            r#"{"level":"warn","body":"{\"status_code\":404,\"error_type\":\"oauth_token_not_found\"}"}"#
        ),
        catalogued("oauth_token_not_found")
    );
}

#[test]
fn docker_json_file_around_an_embedding_app_is_found() {
    let line = r#"{"log":"{\"msg\":\"failed\",\"body\":\"{\\\"error_type\\\":\\\"otp_code_not_found\\\"}\"}\n","stream":"stdout"}"#;
    assert_eq!(find(line), catalogued("otp_code_not_found"));
}

#[test]
fn escaped_white_space_around_an_escaped_colon_is_allowed() {
    let line = r#"{"body":"{\n  \"error_type\"\n:\t\"member_not_found\"\n}"}"#;
    assert_eq!(find(line), catalogued("member_not_found"));
}

#[test]
fn near_miss_names_are_not_keys() {
    assert_eq!(find(r#"{"my_error_type":"email_not_found"}"#), None);
    assert_eq!(find(r#"{"error_type_detail":"email_not_found"}"#), None);
    assert_eq!(
        find(r#"{"field":"error_type","x":"email_not_found"}"#),
        None
    );
    assert_eq!(
        find(r#"{"msg":"missing error_type: email_not_found"}"#),
        None
    );
    assert_eq!(find(r#"{error_type:"email_not_found"}"#), None);
    assert_eq!(find(r#"{"Error_type":"email_not_found"}"#), None);
}

#[test]
fn the_first_key_with_a_string_value_wins() {
    assert_eq!(
        find(r#"{"error_type":"member_not_found","inner":{"error_type":"email_not_found"}}"#),
        catalogued("member_not_found")
    );
}

#[test]
fn a_non_string_value_is_skipped_for_a_later_key() {
    assert_eq!(find(r#"{"error_type":null}"#), None);
    assert_eq!(find(r#"{"error_type":404}"#), None);
    assert_eq!(
        find(r#"{"error_type":null,"body":{"error_type":"email_not_found"}}"#),
        catalogued("email_not_found")
    );
}

#[test]
fn escapes_in_the_value_are_decoded() {
    assert_eq!(
        find(r#"{"error_type":"email\u005fnot\u005Ffound"}"#),
        catalogued("email_not_found")
    );
    assert_eq!(
        find(r#"{"body":"{\"error_type\":\"email\\u005fnot_found\"}"}"#),
        catalogued("email_not_found")
    );
}

#[test]
fn an_unterminated_value_is_no_error() {
    assert_eq!(find(r#"{"error_type":"email_not_found"#), None);
    assert_eq!(find(r#"{"error_type":"email\u005fnot_found"#), None);
    assert_eq!(
        find(r#"{"body":"{\"error_type\":\"email_not_found"}"#),
        None
    );
}

#[test]
fn an_invalid_escape_is_no_error() {
    assert_eq!(find(r#"{"error_type":"email\qnot_found"}"#), None);
    assert_eq!(find(r#"{"error_type":"email\u00zz"}"#), None);
}

#[test]
fn uncatalogued_types_are_counted_by_their_status() {
    assert_eq!(
        find(r#"{"status_code":429,"error_type":"rate_limit_exceeded"}"#),
        uncatalogued(Some(429))
    );
    assert_eq!(
        find(r#"{"error_type":"rate_limit_exceeded","status_code":"429"}"#),
        uncatalogued(Some(429))
    );
    assert_eq!(find(r#"{"error_type":"x"}"#), uncatalogued(None));
}

#[test]
fn invalid_statuses_are_skipped_for_the_first_valid_one() {
    assert_eq!(
        find(
            r#"{"status_code":99,"status_code":4040,"status_code":404.5,"status_code":"40","status_code":600,"error_type":"x","status_code":503}"#
        ),
        uncatalogued(Some(503))
    );
    assert_eq!(
        find(r#"{"status_code":-404,"error_type":"x"}"#),
        uncatalogued(None)
    );
}

#[test]
fn status_must_be_at_the_error_types_level() {
    assert_eq!(
        find(r#"{"status_code":500,"body":"{\"error_type\":\"x\"}"}"#),
        uncatalogued(None)
    );
    assert_eq!(
        find(r#"{"status_code":500,"body":"{\"error_type\":\"x\",\"status_code\":401}"}"#),
        uncatalogued(Some(401))
    );
}

#[test]
fn crlf_line_endings_are_handled() {
    let mut tally = Tally::new(46);
    scanner().scan_lines(
        b"{\"error_type\":\"email_not_found\"}\r\n{}\r\n",
        &mut tally,
    );
    assert_eq!(tally.lines, 2);
    assert_eq!(tally.errors[index("email_not_found")], 1);
}

#[test]
fn binary_garbage_never_panics() {
    let mut garbage: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    garbage.extend_from_slice(b"\"error_type\":\"\xff\xfe\0\"\n\"error_type\\");
    garbage.extend_from_slice(b"\\\\\\\"error_type\\\\\\\":\\\\\\\"\\\\u12");
    let mut scanner = scanner();
    let mut tally = Tally::with_names(46);
    let mut records = 0;
    for end in 0..garbage.len() {
        scanner.scan_lines(&garbage[..end], &mut tally);
        scanner.scan_record(&garbage[end..], &mut tally);
        let head = &garbage[..end];
        records += head.iter().filter(|&&b| b == b'\n').count() as u64;
        records += u64::from(head.last().is_some_and(|&b| b != b'\n'));
        records += 1;
    }
    // Every split is counted as its records, and nothing in the garbage is
    // a catalogued type.
    assert_eq!(tally.lines, records);
    assert_eq!(tally.errors.iter().sum::<u64>(), 0);
}

#[test]
fn lines_are_counted_including_a_final_line_without_newline() {
    let mut tally = Tally::new(46);
    let mut scanner = scanner();
    scanner.scan_lines(b"a\n\nb\n", &mut tally);
    assert_eq!(tally.lines, 3);
    scanner.scan_lines(b"c\nd", &mut tally);
    assert_eq!(tally.lines, 5);
}

#[test]
fn only_one_error_per_line_is_counted() {
    let mut tally = Tally::new(46);
    let line = b"{\"error_type\":\"email_not_found\"} {\"error_type\":\"email_not_found\"}\n";
    scanner().scan_lines(line, &mut tally);
    assert_eq!(tally.errors[index("email_not_found")], 1);
    assert_eq!(tally.errors.iter().sum::<u64>(), 1);
}

#[test]
fn uncatalogued_names_are_bounded() {
    let mut tally = Tally::with_names(46);
    let mut lines = Vec::new();
    for i in 0..(MAX_TRACKED_NAMES + 10) {
        lines.extend_from_slice(format!("{{\"error_type\":\"type_{i}\"}}\n").as_bytes());
    }
    let long = "y".repeat(1000);
    lines.extend_from_slice(format!("{{\"error_type\":\"{long}\"}}\n").as_bytes());
    scanner().scan_lines(&lines, &mut tally);
    let names = tally.uncatalogued_names.as_ref().unwrap();
    assert_eq!(names.top(usize::MAX).len(), MAX_TRACKED_NAMES);
    assert_eq!(names.untracked, 11);
    assert_eq!(
        tally.uncatalogued[UNKNOWN_STATUS_SLOT],
        MAX_TRACKED_NAMES as u64 + 11
    );
}

#[test]
fn status_slots_round_trip_to_labels() {
    assert_eq!(status_label(status_slot(Some(404))), "404");
    assert_eq!(status_label(status_slot(Some(100))), "100");
    assert_eq!(status_label(status_slot(Some(599))), "599");
    assert_eq!(status_label(status_slot(Some(600))), "unknown");
    assert_eq!(status_label(status_slot(None)), "unknown");
}

/// Records built as trees, so each record's error is known from its shape.
mod reference {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    pub enum Node {
        Object(Vec<(String, Node)>, Spacing),
        Text(String, Escaping),
        Number(String),
        Null,
        /// A string holding `prefix` followed by the JSON of the node.
        Embedded(String, Box<Node>),
    }

    #[derive(Debug, Clone, Copy)]
    pub struct Spacing {
        before_colon: &'static str,
        after_colon: &'static str,
    }

    #[derive(Debug, Clone, Copy)]
    pub struct Escaping {
        underscore: bool,
        non_ascii: bool,
        slash: bool,
    }

    /// Renders `node` as JSON; `level` 0 is the line itself, where a raw
    /// newline cannot stand, so blanks there are flattened.
    pub fn render(node: &Node, out: &mut String) {
        render_at(node, 0, out)
    }

    fn render_at(node: &Node, level: u32, out: &mut String) {
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
                    render_at(value, level, out);
                }
                out.push('}');
            }
            Node::Text(text, escaping) => quote(text, *escaping, out),
            Node::Number(number) => out.push_str(number),
            Node::Null => out.push_str("null"),
            Node::Embedded(prefix, inner) => {
                let mut text = prefix.clone();
                render_at(inner, level + 1, &mut text);
                quote(&text, PLAIN, out);
            }
        }
    }

    const PLAIN: Escaping = Escaping {
        underscore: false,
        non_ascii: false,
        slash: false,
    };

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

    /// The string value of the first `error_type` key in document order,
    /// with its level; and every `status_code` value with its level.
    /// A string value and its quoting level.
    type Leveled = (String, u32);
    /// A `status_code` key's level and valid value.
    type LeveledStatus = (u32, Option<u16>);

    pub fn truth(node: &Node) -> (Option<Leveled>, Vec<LeveledStatus>) {
        let mut error = None;
        let mut statuses = Vec::new();
        walk(node, 0, &mut error, &mut statuses);
        (error, statuses)
    }

    fn walk(
        node: &Node,
        level: u32,
        error: &mut Option<Leveled>,
        statuses: &mut Vec<LeveledStatus>,
    ) {
        match node {
            Node::Object(fields, _) => {
                for (key, value) in fields {
                    if key == "error_type" && error.is_none() {
                        match value {
                            Node::Text(text, _) => *error = Some((text.clone(), level)),
                            Node::Embedded(prefix, inner) => {
                                let mut text = prefix.clone();
                                render_at(inner, level + 1, &mut text);
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
            Node::Embedded(_, inner) if level < MAX_LEVEL => {
                walk(inner, level + 1, error, statuses)
            }
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
                render_at(inner, level + 1, &mut embedded);
                embedded.as_str()
            }
            _ => return None,
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let status: u16 = digits.parse().ok().filter(|_| digits.len() == 3)?;
        STATUS_RANGE.contains(&status).then_some(status)
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just("error_type".to_string()),
            2 => Just("status_code".to_string()),
            1 => Just("my_error_type".to_string()),
            1 => Just("error_type_detail".to_string()),
            1 => Just("Error_type".to_string()),
            1 => Just("error_types".to_string()),
            1 => Just("error type".to_string()),
            2 => "[a-z]{1,6}",
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        let names: Vec<String> = Catalog::builtin()
            .unwrap()
            .entries()
            .iter()
            .map(|e| e.error_type.clone())
            .take(6)
            .collect();
        prop_oneof![
            3 => proptest::sample::select(names),
            1 => Just("rate_limit_exceeded".to_string()),
            1 => Just("error_type".to_string()),
            1 => Just("404".to_string()),
            1 => Just("4O4".to_string()),
            1 => Just("missing error_type: see docs".to_string()),
            1 => Just("a \"quoted\" \\ back/slash".to_string()),
            1 => Just("ünï_cødé 🚀_x".to_string()),
            1 => "[a-z_ :]{0,12}",
        ]
    }

    fn escaping() -> impl Strategy<Value = Escaping> {
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(underscore, non_ascii, slash)| {
            Escaping {
                underscore,
                non_ascii,
                slash,
            }
        })
    }

    fn spacing() -> impl Strategy<Value = Spacing> {
        let blanks = proptest::sample::select(vec!["", " ", "  ", "\t", "\n ", "\r\n"]);
        (blanks.clone(), blanks).prop_map(|(before_colon, after_colon)| Spacing {
            before_colon,
            after_colon,
        })
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(vec![
                "404", "429", "500", "99", "600", "4040", "-404", "404.0", "4.04e2", "0", "100",
                "599",
            ])
            .prop_map(str::to_string),
            (0u32..1000).prop_map(|n| n.to_string()),
        ]
    }

    pub fn node() -> impl Strategy<Value = Node> {
        let leaf = prop_oneof![
            3 => (text(), escaping()).prop_map(|(t, e)| Node::Text(t, e)),
            2 => number().prop_map(Node::Number),
            1 => Just(Node::Null),
        ];
        leaf.prop_recursive(5, 40, 6, |inner| {
            prop_oneof![
                3 => (proptest::collection::vec((key(), inner.clone()), 0..6), spacing())
                    .prop_map(|(fields, spacing)| Node::Object(fields, spacing)),
                1 => (proptest::sample::select(vec!["", "stytch: ", "err="]), inner.clone())
                    .prop_map(|(prefix, node)| Node::Embedded(prefix.to_string(), Box::new(node))),
            ]
        })
    }

    /// Records are objects.
    pub fn top_level(node: Node) -> Option<Node> {
        matches!(node, Node::Object(..)).then_some(node)
    }
}

/// The finding the rules give for a record built as `node`.
fn expected_finding(node: &reference::Node, catalog: &Catalog) -> Option<Finding> {
    let (error, statuses) = reference::truth(node);
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

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    #[test]
    fn fast_scanner_agrees_with_the_reference(
        node in proptest::strategy::Strategy::prop_filter_map(reference::node(), "not a top-level record", reference::top_level),
        prefix in proptest::sample::select(vec!["", "2026-11-29T01:02:03Z stdout F ", "<14>Nov 29 01:02:03 h a[1]: "]),
    ) {
        let catalog = Catalog::builtin().unwrap();
        let mut record = prefix.to_string();
        reference::render(&node, &mut record);
        let expected = expected_finding(&node, &catalog);
        let mut scanner = Scanner::new(Arc::new(catalog));
        proptest::prop_assert_eq!(scanner.find_error(record.as_bytes()), expected, "record: {}", record);
    }

    #[test]
    fn chunks_count_what_their_records_carry(
        nodes in proptest::collection::vec(reference::node(), 1..20),
    ) {
        let catalog = Catalog::builtin().unwrap();
        let mut expected = Tally::new(catalog.len());
        let mut chunk = String::new();
        for node in nodes.into_iter().filter_map(reference::top_level) {
            reference::render(&node, &mut chunk);
            chunk.push('\n');
            expected.lines += 1;
            match expected_finding(&node, &catalog) {
                Some(Finding::Catalogued(index)) => expected.errors[index] += 1,
                Some(Finding::Uncatalogued { status }) => expected.uncatalogued[status_slot(status)] += 1,
                None => {}
            }
        }
        let mut tally = Tally::new(catalog.len());
        Scanner::new(Arc::new(catalog)).scan_lines(chunk.as_bytes(), &mut tally);
        proptest::prop_assert!(tally == expected, "chunk: {}", chunk);
    }
}

/// A record's start is after the last newline before its anchor, found 32
/// bytes at a time from the end: a newline at every position of slices
/// of every length around the 32-byte steps, with an earlier newline that
/// must not be taken, and none at all.
#[test]
fn the_last_newline_is_found_at_every_position() {
    for len in 0..100 {
        let blank = vec![b'x'; len];
        assert_eq!(last_newline(&blank), None, "len {len}");
        assert_eq!(record_start(&blank, 0, len), 0);
        for at in 0..len {
            let mut bytes = blank.clone();
            bytes[at] = b'\n';
            if at > 3 {
                bytes[1] = b'\n';
            }
            assert_eq!(last_newline(&bytes), Some(at), "len {len}, at {at}");
            // From 2 on, the earlier newline at 1 is out of the slice.
            if at >= 2 {
                assert_eq!(record_start(&bytes, 2, len), at + 1, "len {len}, at {at}");
            }
        }
    }
}
