//! The SDK forms: one rule per test on lines as the SDKs and their loggers
//! print them, then a property test against a reference that builds each
//! record from its parts.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::read::LineReader;
use crate::scan::{Finding, Scanner, Tally, status_slot};

fn catalog() -> Catalog {
    Catalog::builtin().unwrap()
}

fn find(record: &str) -> Option<Finding> {
    Scanner::new(Arc::new(catalog())).find_error(record.as_bytes())
}

fn catalogued(name: &str) -> Option<Finding> {
    Some(Finding::Catalogued(
        catalog().index_of(name.as_bytes()).unwrap(),
    ))
}

fn uncatalogued(status: u16) -> Option<Finding> {
    Some(Finding::Uncatalogued {
        status: Some(status),
    })
}

const PYTHON_STR: &str = "stytch.core.response_base.StytchError: status_code=404 request_id='request-id-test-1' error_type='session_not_found' error_message='Session could not be found.' error_url='https://stytch.com/docs/api/errors/404' original_json={'status_code': 404, 'request_id': 'request-id-test-1', 'error_type': 'session_not_found'}";

#[test]
fn python_str_of_the_error_details_is_found() {
    assert_eq!(find(PYTHON_STR), catalogued("session_not_found"));
}

#[test]
fn python_repr_with_commas_is_found() {
    let line = "failed: StytchError(details=StytchErrorDetails(status_code=404, request_id='r', error_type='member_not_found', error_message='m'))";
    assert_eq!(find(line), catalogued("member_not_found"));
}

#[test]
fn python_attribute_inside_a_json_string_is_found() {
    let line = r#"{"message": "failed", "exc_info": "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\nStytchError: status_code=404 request_id='r' error_type='widget_not_found' error_message='W'"}"#;
    assert_eq!(find(line), uncatalogued(404));
}

#[test]
fn an_escaped_newline_before_the_python_attribute_is_a_boundary() {
    let line = r#"{"exc_info": "details:\nerror_type='email_not_found' status_code=404"}"#;
    assert_eq!(find(line), catalogued("email_not_found"));
    let line = r#"{"exc_info": "details:\terror_type='email_not_found'"}"#;
    assert_eq!(find(line), catalogued("email_not_found"));
}

#[test]
fn a_word_character_before_the_python_attribute_is_no_match() {
    assert_eq!(find("my_error_type='session_not_found'"), None);
    assert_eq!(find("xerror_type='session_not_found'"), None);
}

#[test]
fn python_dict_repr_is_found() {
    assert_eq!(
        find("original_json={'error_type': 'oauth_token_not_found', 'status_code': 404}"),
        catalogued("oauth_token_not_found")
    );
    assert_eq!(
        find("{'status_code': 404, 'error_type': 'widget_not_found'}"),
        uncatalogued(404)
    );
    assert_eq!(
        find("{'a': 1,\t'error_type': 'member_not_found'}"),
        catalogued("member_not_found")
    );
}

#[test]
fn python_dict_key_needs_a_separator_before_it() {
    assert_eq!(find("x'error_type': 'member_not_found'"), None);
}

#[test]
fn a_value_cut_short_by_the_logger_is_skipped_for_a_later_form() {
    let line = "{'error_type': 'session_no... error_type='email_not_found' status_code=404";
    assert_eq!(find(line), catalogued("email_not_found"));
    assert_eq!(find("error_type='session_not_fou"), None);
    assert_eq!(
        find("Stytch Error - status code: 404, type: session_no..."),
        None
    );
}

#[test]
fn an_uncatalogued_sdk_value_needs_its_forms_status() {
    assert_eq!(find("error_type='widget_not_found'"), None);
    assert_eq!(
        find("error_type='widget_not_found' status_code=404"),
        uncatalogued(404)
    );
    // Another form's status is not this form's.
    assert_eq!(
        find(r#"error_type='widget_not_found' {"status_code":404}"#),
        None
    );
    assert_eq!(find("{'error_type': 'widget_not_found'}"), None);
    assert_eq!(find(r#"{"error_type"=>"widget_not_found"}"#), None);
    assert_eq!(find("ErrorResponse(errorType=widget_not_found)"), None);
}

#[test]
fn catalogued_sdk_values_count_whatever_the_status() {
    assert_eq!(
        find("error_type='session_not_found'"),
        catalogued("session_not_found")
    );
    assert_eq!(
        find("Stytch Error - status code: 0, type: session_not_found, message: m"),
        catalogued("session_not_found")
    );
}

#[test]
fn sdk_values_are_short_words() {
    let long = "a".repeat(65);
    assert_eq!(find(&format!("error_type='{long}' status_code=404")), None);
    assert_eq!(find("error_type='two words' status_code=404"), None);
    assert_eq!(find("error_type='' status_code=404"), None);
}

#[test]
fn prose_and_bare_types_are_not_counted() {
    assert_eq!(
        find("retrying after missing error_type: email_not_found"),
        None
    );
    assert_eq!(
        find("lookup failed, type: email_not_found, status code: 404"),
        None
    );
    // Node's console.error continuation line: the event counts on its first line.
    assert_eq!(find("  error_type: 'session_not_found',"), None);
    assert_eq!(find("error_type=session_not_found status_code=404"), None);
}

#[test]
fn go_error_string_is_found() {
    assert_eq!(
        find(
            "Stytch Error - request ID: request-id-test-1, status code: 404, type: oauth_token_not_found, message: Token not found"
        ),
        catalogued("oauth_token_not_found")
    );
    assert_eq!(
        find(
            "Stytch Error - status code: 404, type: member_not_found, message: m error_url: https://stytch.com/docs/api/errors/404"
        ),
        catalogued("member_not_found")
    );
}

#[test]
fn older_go_error_strings_are_found() {
    assert_eq!(
        find("Stytch Error - request ID: r, http status: 404, type: member_not_found, message: m"),
        catalogued("member_not_found")
    );
    // The oldest: `code:` holds the message and `message:` the URL.
    assert_eq!(
        find(
            "Stytch Error - request ID: , http status: 404, type: widget_not_found, code: m, message: u"
        ),
        uncatalogued(404)
    );
}

#[test]
fn go_oauth2_error_string_is_found_with_its_status() {
    assert_eq!(
        find(
            "Stytch OAuth2 Error - request ID: r, status code: 400, type: invalid_grant, message: m"
        ),
        uncatalogued(400)
    );
}

#[test]
fn go_error_inside_zap_and_logrus_is_found() {
    let zap = r#"{"level":"error","ts":1764378123.5,"msg":"auth failed","error":"Stytch Error - request ID: r, status code: 404, type: widget_not_found, message: W"}"#;
    assert_eq!(find(zap), uncatalogued(404));
    let logrus = r#"time="2026-11-29T01:02:03Z" level=error msg="auth failed" error="Stytch Error - status code: 404, type: session_not_found, message: Session could not be found.""#;
    assert_eq!(find(logrus), catalogued("session_not_found"));
}

#[test]
fn go_error_needs_its_whole_pattern() {
    assert_eq!(
        find("Stytch Error - type: session_not_found, message: m"),
        None
    );
    assert_eq!(
        find("Stytch Error - status code: 404, type: session_not_found"),
        None
    );
    assert_eq!(
        find("Stytch error - status code: 404, type: session_not_found, m"),
        None
    );
    assert_eq!(
        find("Stytch Error - status code: 4040, type: session_not_found, m"),
        None
    );
}

#[test]
fn ruby_hash_inspect_is_found() {
    assert_eq!(
        find(
            r#"E, [2026-11-29T01:02:03 #1] ERROR -- : failed: {"status_code"=>404, "error_type"=>"session_not_found"}"#
        ),
        catalogued("session_not_found")
    );
    assert_eq!(
        find(
            r#"failed: {"status_code" => 404, "request_id" => "r", "error_type" => "widget_not_found"}"#
        ),
        uncatalogued(404)
    );
}

#[test]
fn ruby_hash_inside_docker_json_file_is_found() {
    let line = r#"{"log":"E, [2026] ERROR -- : {\"status_code\"=\u003e404, \"error_type\"=\u003e\"widget_not_found\"}\n","stream":"stderr"}"#;
    assert_eq!(find(line), uncatalogued(404));
    let line = r#"{"log":"failed: {\"error_type\" =\u003e \"member_not_found\"}\n"}"#;
    assert_eq!(find(line), catalogued("member_not_found"));
    let line = r#"{"log":"{\"msg\":\"{\\\"status_code\\\"=\\u003e404, \\\"error_type\\\"=\\u003e\\\"widget_not_found\\\"}\"}"}"#;
    assert_eq!(find(line), uncatalogued(404));
}

#[test]
fn kotlin_data_class_to_string_is_found() {
    let line = "ERROR c.e.Auth - StytchResult.Error(exception=StytchException.Response(reason=ErrorResponse(statusCode=404, requestId=request-id-test-1, errorType=member_not_found, errorMessage=Member not found., errorUrl=https://stytch.com/docs/api/errors/404)))";
    assert_eq!(find(line), catalogued("member_not_found"));
    assert_eq!(
        find("ErrorResponse(statusCode=404, requestId=r, errorType=widget_not_found)"),
        uncatalogued(404)
    );
}

#[test]
fn kotlin_field_needs_a_data_class_separator() {
    assert_eq!(
        find("level=error errorType=session_not_found statusCode=404"),
        None
    );
}

#[test]
fn go_syntax_representation_is_found() {
    let line = r#"2025/11/29 13:41:10 stytch call failed: stytcherror.Error{StatusCode:404, RequestID:"r", ErrorType:"member_not_found", ErrorMessage:"m"}"#;
    assert_eq!(find(line), catalogued("member_not_found"));
    let line = r#"{"msg":"failed: stytcherror.Error{StatusCode:404, RequestID:\"r\", ErrorType:\"widget_not_found\", ErrorMessage:\"m\"}"}"#;
    assert_eq!(find(line), uncatalogued(404));
    assert_eq!(find(r#"Error{ErrorType:"widget_not_found"}"#), None);
    assert_eq!(find(r#"x ErrorType:"member_not_found""#), None);
}

#[test]
fn loguru_variable_annotations_are_not_events() {
    let annotation = "    │           └ StytchErrorDetails(status_code=404, request_id='r', error_type='email_not_found', error_message='m')";
    assert_eq!(find(annotation), None);
    let annotation = "           │   └ {'status_code': 404, 'request_id': 'r', 'error_type': 'session_not_found'}";
    assert_eq!(find(annotation), None);
    // The exception's own line is the event.
    let event =
        "stytch.core.response_base.StytchError: status_code=404 error_type='session_not_found'";
    assert_eq!(find(event), catalogued("session_not_found"));
    // Inside Docker's json-file and behind a CRI prefix, too.
    let docker = r#"{"log":"    │   └ {'status_code': 404, 'error_type': 'session_not_found'}\n","stream":"stderr"}"#;
    assert_eq!(find(docker), None);
    let cri = "2026-11-29T13:41:08.1Z stderr F     │   └ {'error_type': 'session_not_found'}";
    assert_eq!(find(cri), None);
    // A JSON logger's one-string traceback: the exception's own line, after
    // the annotations, is the event.
    let serialized = r#"{"text":"    │   └ {'error_type': 'session_no...\nStytchError: status_code=404 error_type='session_not_found'\n"}"#;
    assert_eq!(find(serialized), catalogued("session_not_found"));
    // A corner elsewhere on the line is just text.
    assert_eq!(
        find("tree └ done: error_type='session_not_found'"),
        catalogued("session_not_found")
    );
}

#[test]
fn the_first_form_in_a_record_wins() {
    let line = r#"Stytch Error - status code: 404, type: member_not_found, message: m {"error_type":"session_not_found"}"#;
    assert_eq!(find(line), catalogued("member_not_found"));
    let line = r#"{"error_type":"session_not_found","error":"error_type='member_not_found'"}"#;
    assert_eq!(find(line), catalogued("session_not_found"));
}

#[test]
fn a_record_with_several_forms_counts_once() {
    let catalog = Arc::new(catalog());
    let mut tally = Tally::new(catalog.len());
    let lines = format!("{PYTHON_STR}\n{PYTHON_STR}\n");
    Scanner::new(Arc::clone(&catalog)).scan_lines(lines.as_bytes(), &mut tally);
    let index = catalog.index_of(b"session_not_found").unwrap();
    assert_eq!(tally.errors[index], 2);
    assert_eq!(tally.errors.iter().sum::<u64>(), 2);
}

/// Builds records in the SDK forms from their parts, so that the expected
/// finding is known without scanning.
mod reference {
    use proptest::prelude::*;

    /// One SDK-form error as its parts.
    #[derive(Debug, Clone)]
    pub struct SdkError {
        pub form: usize,
        pub name: String,
        pub status: Option<u16>,
        /// Cut the value short, as loguru and structlog do.
        pub truncated: bool,
    }

    /// The forms, rendered without their status field where `status` is `None`.
    pub fn render(error: &SdkError) -> String {
        let name = if error.truncated {
            format!("{}...", &error.name[..error.name.len().min(5)])
        } else {
            error.name.clone()
        };
        let close = if error.truncated { "" } else { "'" };
        let status = error.status.map(|s| s.to_string());
        match (error.form, &status) {
            (0, Some(s)) => format!(
                "StytchError: status_code={s} request_id='request-id-test-9' error_type='{name}{close} error_message='m'"
            ),
            (0, None) => format!(
                "StytchError: request_id='request-id-test-9' error_type='{name}{close} error_message='m'"
            ),
            (1, Some(s)) => format!(
                "original_json={{'status_code': {s}, 'error_type': '{name}{close}, 'error_url': 'u'}}"
            ),
            (1, None) => format!("original_json={{'error_type': '{name}{close}}}"),
            (2, Some(s)) => format!(
                "Stytch Error - request ID: request-id-test-9, status code: {s}, type: {name}, message: Not found."
            ),
            (2, None) => format!(
                "Stytch OAuth2 Error - status code: {}, type: {name}, message: m",
                0
            ),
            (3, Some(s)) => format!("{{\"status_code\"=>{s}, \"error_type\"=>\"{name}\"}}"),
            (3, None) => format!("{{\"error_type\" => \"{name}\", \"request_id\" => \"r\"}}"),
            (4, Some(s)) => format!(
                "ErrorResponse(statusCode={s}, requestId=r, errorType={name}, errorMessage=m)"
            ),
            (4, None) => format!("ErrorResponse(requestId=r, errorType={name}, errorMessage=m)"),
            (5, Some(s)) => format!(
                "stytcherror.Error{{StatusCode:{s}, RequestID:\"r\", ErrorType:\"{name}\", ErrorMessage:\"m\"}}"
            ),
            _ => format!("stytcherror.Error{{RequestID:\"r\", ErrorType:\"{name}\"}}"),
        }
    }

    /// Whether the rendered form is complete (the Ruby and Go forms cut
    /// with `...` leave no closing delimiter either).
    pub fn is_complete(error: &SdkError) -> bool {
        !error.truncated
    }

    /// JSON-escapes `text` once (the next quoting level), writing `>` as
    /// `\u003e` when `html` (Docker's and Go's encoders do).
    pub fn escape(text: &str, html: bool) -> String {
        let mut out = String::new();
        for ch in text.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '>' if html => out.push_str("\\u003e"),
                '<' if html => out.push_str("\\u003c"),
                c => out.push(c),
            }
        }
        out
    }

    pub fn sdk_error(names: Vec<String>) -> impl Strategy<Value = SdkError> {
        (
            0..6usize,
            prop_oneof![
                3 => proptest::sample::select(names),
                1 => Just("widget_not_found".to_string()),
                1 => Just("invalid_grant".to_string()),
            ],
            prop_oneof![2 => (100u16..=599).prop_map(Some), 1 => Just(None)],
            proptest::bool::weighted(0.2),
        )
            .prop_map(|(form, name, status, truncated)| SdkError {
                form,
                name,
                status,
                truncated,
            })
    }
}

/// What the rules say a record built from `error` carries.
fn expected(error: &reference::SdkError, catalog: &Catalog) -> Option<Finding> {
    if !reference::is_complete(error) {
        return None;
    }
    if let Some(index) = catalog.index_of(error.name.as_bytes()) {
        return Some(Finding::Catalogued(index));
    }
    error.status.map(|status| Finding::Uncatalogued {
        status: Some(status),
    })
}

fn catalogued_names() -> Vec<String> {
    catalog().error_types()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

    /// Every form, at every quoting level (plain, in a JSON string, in a
    /// JSON string inside Docker's json-file), with text around it.
    #[test]
    fn sdk_forms_agree_with_the_reference(
        error in reference::sdk_error(catalogued_names()),
        level in 0..3usize,
        html in proptest::bool::ANY,
        before in proptest::sample::select(vec!["", "failed: ", "Traceback:\n  File \"a.py\"\n", "x\t"]),
        after in proptest::sample::select(vec!["", " done", "\n", ", retrying"]),
    ) {
        let catalog = catalog();
        let mut text = format!("{before}{}{after}", reference::render(&error));
        if level == 0 {
            text = text.replace('\n', " ");
        }
        for depth in 0..level {
            let field = if depth == 0 { "exc_info" } else { "log" };
            text = format!("{{\"{field}\":\"{}\"}}", reference::escape(&text, html && depth + 1 == level));
        }
        let finding = Scanner::new(Arc::new(catalog.clone())).find_error(text.as_bytes());
        proptest::prop_assert_eq!(finding, expected(&error, &catalog), "record: {}", text);
    }

    /// A stream of such records, framed at any buffer size, counts what the
    /// records carry.
    #[test]
    fn framed_sdk_records_count_what_they_carry(
        errors in proptest::collection::vec(reference::sdk_error(catalogued_names()), 1..30),
        buffer in 1usize..300,
    ) {
        let catalog = Arc::new(catalog());
        let mut stream = String::new();
        let mut expected_tally = Tally::new(catalog.len());
        for error in &errors {
            stream.push_str(&reference::render(error));
            stream.push('\n');
            expected_tally.lines += 1;
            match expected(error, &catalog) {
                Some(Finding::Catalogued(index)) => expected_tally.errors[index] += 1,
                Some(Finding::Uncatalogued { status }) => expected_tally.uncatalogued[status_slot(status)] += 1,
                None => {}
            }
        }
        let mut scanner = Scanner::new(Arc::clone(&catalog));
        let mut tally = Tally::new(catalog.len());
        expected_tally.bytes = stream.len() as u64;
        let mut lines = LineReader::new(1 << 20);
        for piece in stream.as_bytes().chunks(buffer) {
            lines.count(piece, &mut scanner, &mut tally);
        }
        proptest::prop_assert_eq!(lines.read_to(), lines.offset(), "a line is left unfinished");
        proptest::prop_assert!(tally == expected_tally, "stream: {}", stream);
    }
}
