//! `errtally scan` and `errtally catalog` against generated corpora.

use serde_json::Value;

use crate::support::{add_tallies, corpus, json_stdout, run};

#[test]
fn scan_of_a_hostile_corpus_matches_the_generators_tally() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = corpus(
        dir.path(),
        "api.log",
        11,
        8 << 20,
        &["--max-line-bytes", "65536"],
    );
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            "--max-line-bytes",
            "65536",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success());
    assert_eq!(json_stdout(&output), expected);
    assert!(
        expected["errors"].as_object().unwrap().len() > 20,
        "corpus too thin: {expected}"
    );
    assert!(
        expected["truncated_lines"].as_u64().unwrap() > 0,
        "no over-long lines: {expected}"
    );
}

#[test]
fn scan_of_stdin_matches_the_generators_tally() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = corpus(dir.path(), "stdin.log", 12, 4 << 20, &[]);
    let output = run(&["scan", "--format", "json"], Some(&path));
    assert!(output.status.success());
    assert_eq!(json_stdout(&output), expected);
    let output = run(&["scan", "--format", "json", "-"], Some(&path));
    assert_eq!(json_stdout(&output), expected);
}

#[test]
fn scan_adds_up_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let (first, first_expected) = corpus(dir.path(), "a.log", 21, 2 << 20, &[]);
    let (second, second_expected) = corpus(dir.path(), "b.log", 22, 3 << 20, &["--clean"]);
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success());
    assert_eq!(
        json_stdout(&output),
        add_tallies(&first_expected, &second_expected)
    );
}

#[test]
fn small_max_line_bytes_truncates_as_the_generator_expects() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = corpus(
        dir.path(),
        "long.log",
        31,
        2 << 20,
        &["--max-line-bytes", "4096"],
    );
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            "--max-line-bytes",
            "4096",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success());
    assert_eq!(json_stdout(&output), expected);
    assert!(expected["truncated_lines"].as_u64().unwrap() > 0);
}

#[test]
fn a_missing_path_is_named_and_the_others_are_still_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = corpus(dir.path(), "ok.log", 41, 1 << 20, &[]);
    let missing = dir.path().join("missing.log");
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            missing.to_str().unwrap(),
            path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains("missing.log"), "stderr: {stderr}");
    assert_eq!(json_stdout(&output), expected);
}

#[test]
fn a_directory_is_an_unreadable_path() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["scan", dir.path().to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(dir.path().to_str().unwrap()));
}

#[test]
fn table_report_lists_types_by_count_with_hints() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("t.log");
    let line = |t: &str| format!("{{\"status_code\":404,\"error_type\":\"{t}\"}}\n");
    let text = line("oauth_token_not_found").repeat(3) + &line("email_not_found") + &line("nope");
    std::fs::write(&log, text).unwrap();
    let output = run(&["scan", log.to_str().unwrap()], None);
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    let oauth = table.find("oauth_token_not_found").expect(&table);
    let email = table.find("email_not_found").expect(&table);
    assert!(oauth < email, "not sorted by count: {table}");
    assert!(
        table.contains("Review your code which grabs the token"),
        "{table}"
    );
    assert!(table.contains("uncatalogued by status: 404=1"), "{table}");
    assert!(table.starts_with("5 lines"), "{table}");
}

#[test]
fn prometheus_report_has_every_type_and_lints_clean() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = corpus(dir.path(), "p.log", 51, 1 << 20, &[]);
    let output = run(
        &["scan", "--format", "prometheus", path.to_str().unwrap()],
        None,
    );
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("errtally_errors_total{"))
        .collect();
    assert_eq!(series.len(), 46);
    for (name, count) in expected["errors"].as_object().unwrap() {
        let sample = format!(
            "errtally_errors_total{{source=\"scan\",status_code=\"404\",error_type=\"{name}\"}} {count}"
        );
        assert!(text.lines().any(|l| l == sample), "missing {sample}");
    }
    let lines = format!(
        "errtally_lines_total{{source=\"scan\"}} {}",
        expected["lines"]
    );
    assert!(text.lines().any(|l| l == lines));
    crate::support::promtool_check(&text);
}

#[test]
fn catalog_lists_46_types_and_round_trips_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["catalog", "--format", "json"], None);
    assert!(output.status.success());
    let catalog: Value = json_stdout(&output);
    let errors = catalog["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 46);
    let oauth = errors
        .iter()
        .find(|e| e["error_type"] == "oauth_token_not_found")
        .unwrap();
    assert_eq!(oauth["error_message"], "OAuth Token could not be found.");
    let file = dir.path().join("dump.json");
    std::fs::write(&file, &output.stdout).unwrap();
    let reloaded = run(&["catalog", "--catalog", file.to_str().unwrap()], None);
    assert!(
        reloaded.status.success(),
        "{}",
        String::from_utf8_lossy(&reloaded.stderr)
    );
    let table = String::from_utf8(reloaded.stdout).unwrap();
    assert!(table.contains("46 error types"), "{table}");
}

#[test]
fn a_bad_catalog_names_file_line_and_column_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, "{\n  \"name\": \"x\",\n  \"errors\": [\n    {\"error_type\": \"a\", \"colour\": 1}\n  ]\n}\n").unwrap();
    let output = run(&["scan", "--catalog", file.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:4:", file.display())),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("colour"), "stderr: {stderr}");
}

#[test]
fn a_custom_catalog_replaces_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.json");
    std::fs::write(
        &file,
        r#"{"name":"mine","errors":[{"error_type":"widget_not_found","status_code":404,"title":"Not found","description":"No widget.","error_message":"Widget could not be found.","doc_url":"https://example.invalid/widget"}]}"#,
    )
    .unwrap();
    let log = dir.path().join("l.log");
    std::fs::write(&log, "{\"error_type\":\"widget_not_found\"}\n{\"error_type\":\"email_not_found\",\"status_code\":404}\n").unwrap();
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            "--catalog",
            file.to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success());
    let report = json_stdout(&output);
    assert_eq!(report["errors"], serde_json::json!({"widget_not_found": 1}));
    assert_eq!(report["uncatalogued"], serde_json::json!({"404": 1}));
    assert_eq!(
        report["uncatalogued_types"],
        serde_json::json!({"email_not_found": 1})
    );
}
