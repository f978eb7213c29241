//! `errtally scan` and `errtally catalog` against generated corpora.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{add_tallies, corpus, json_stdout, run, scan_json, sh};

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

/// A rotated-logs directory as logrotate leaves it, written by the real
/// tools: the live file, a plain rotation, gzip and zstd ones (one of them
/// in a subdirectory), a link to the live file, a symlink loop, a dangling
/// link and a named pipe. Returns the files in path order, each with the
/// generator's tally of its uncompressed content.
fn rotated_logs(dir: &Path) -> Vec<(PathBuf, Value)> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(logs.join("old")).unwrap();
    let mut files = Vec::new();
    for (seed, name, extra) in [
        (91, "app.log", &[][..]),
        (92, "app.log.1", &["--clean"][..]),
        (93, "app.log.2", &[][..]),
        (94, "app.log.3", &["--clean"][..]),
        (95, "old/app.log.4", &[][..]),
    ] {
        let (path, expected) = corpus(&logs, name, seed, 1 << 20, extra);
        std::fs::remove_file(logs.join(format!("{name}.expected.json"))).unwrap();
        files.push((path, expected));
    }
    sh(
        &logs,
        "gzip app.log.2; zstd -q --rm app.log.3; gzip -9 old/app.log.4
         ln -s app.log current; ln -s . old/loop; ln -s missing dangling; mkfifo pipe",
    );
    let names = [
        "app.log",
        "app.log.1",
        "app.log.2.gz",
        "app.log.3.zst",
        "old/app.log.4.gz",
    ];
    files
        .into_iter()
        .zip(names)
        .map(|((_, expected), name)| (logs.join(name), expected))
        .collect()
}

#[test]
fn a_directory_of_rotated_logs_is_walked_in_path_order_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let files = rotated_logs(dir.path());
    let logs = dir.path().join("logs");
    let total = files
        .iter()
        .skip(1)
        .fold(files[0].1.clone(), |sum, (_, expected)| {
            add_tallies(&sum, expected)
        });
    for threads in ["1", "2"] {
        let mut report = scan_json(&["--threads", threads, "--by-file"], &[&logs]);
        let listed = report.as_object_mut().unwrap().remove("files").unwrap();
        assert_eq!(report, total, "threads {threads}");
        // Every file, in path order; the link to app.log, the loop, the
        // dangling link and the pipe add nothing.
        let listed = listed.as_array().unwrap();
        let paths: Vec<&str> = listed.iter().map(|f| f["path"].as_str().unwrap()).collect();
        let want: Vec<&str> = files.iter().map(|(p, _)| p.to_str().unwrap()).collect();
        assert_eq!(paths, want, "threads {threads}");
        for ((path, expected), file) in files.iter().zip(listed) {
            assert_eq!(file["lines"], expected["lines"], "{}", path.display());
            assert_eq!(file["errors"], expected["errors"], "{}", path.display());
            assert_eq!(file["error"], Value::Null);
        }
    }
    // A directory among files counts like its files named one by one.
    let named: Vec<&Path> = files.iter().map(|(p, _)| p.as_path()).collect();
    assert_eq!(scan_json(&[], &named), total);
    let first = files[0].0.as_path();
    assert_eq!(
        scan_json(&[], &[first, &logs.join("old")]),
        add_tallies(&files[0].1, &files[4].1)
    );
}

#[test]
fn an_unreadable_file_or_directory_in_a_walk_is_named_and_the_rest_counted() {
    // CI runs as root, which reads any file: run scan as nobody.
    let dir = tempfile::tempdir().unwrap();
    let files = rotated_logs(dir.path());
    let logs = dir.path().join("logs");
    let locked_file = &files[1].0;
    let locked_dir = logs.join("old");
    let chmod = |path: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    chmod(&logs, 0o755);
    chmod(locked_file, 0o600);
    chmod(&locked_dir, 0o700);
    let output = crate::daemon_support::as_nobody(dir.path())
        .args(["scan", "--format", "json", "--by-file", "logs"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr,
        "errtally: logs/app.log.1: Permission denied (os error 13)\n\
         errtally: logs/old: cannot list the directory: Permission denied (os error 13)\n"
    );
    let report = json_stdout(&output);
    let readable = [&files[0].1, &files[2].1, &files[3].1];
    let total = add_tallies(&add_tallies(readable[0], readable[1]), readable[2]);
    for key in ["lines", "bytes", "errors", "uncatalogued"] {
        assert_eq!(report[key], total[key], "{key}");
    }
    let listed: Vec<(&str, bool)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["error"].is_null()))
        .collect();
    assert_eq!(
        listed,
        [
            ("logs/app.log", true),
            ("logs/app.log.1", false),
            ("logs/app.log.2.gz", true),
            ("logs/app.log.3.zst", true),
            ("logs/old", false),
        ]
    );
}

#[test]
fn a_link_to_proc_or_above_it_in_a_walked_directory_is_named_and_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let files = rotated_logs(dir.path());
    let logs = dir.path().join("logs");
    std::os::unix::fs::symlink("/", logs.join("everything")).unwrap();
    std::os::unix::fs::symlink("/proc/self", logs.join("old/self")).unwrap();
    let output = run(&["scan", "--format", "json", logs.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(1));
    let not_followed = "a link to /proc, /sys or a directory above them is not followed";
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "errtally: {}: {not_followed}\nerrtally: {}: {not_followed}\n",
            logs.join("everything").display(),
            logs.join("old/self").display()
        )
    );
    let total = files
        .iter()
        .skip(1)
        .fold(files[0].1.clone(), |sum, (_, expected)| {
            add_tallies(&sum, expected)
        });
    assert_eq!(json_stdout(&output), total);
}

#[test]
fn an_empty_directory_counts_nothing_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        &["scan", "--format", "json", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(json_stdout(&output)["lines"], 0);
    assert!(output.stderr.is_empty());
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
            "errtally_errors_total{{error_type=\"{name}\",source=\"scan\",status_code=\"404\"}} {count}"
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

#[test]
fn any_thread_count_gives_the_same_report_on_hostile_and_clean_corpora() {
    let dir = tempfile::tempdir().unwrap();
    let (hostile, hostile_expected) = corpus(
        dir.path(),
        "hostile.log",
        61,
        6 << 20,
        &["--max-line-bytes", "4096"],
    );
    let (clean, clean_expected) = corpus(dir.path(), "clean.log", 62, 3 << 20, &["--clean"]);
    for (path, expected, max) in [
        (&hostile, &hostile_expected, "4096"),
        (&clean, &clean_expected, "1048576"),
    ] {
        assert!(expected["truncated_lines"].as_u64().unwrap() > 0 || max != "4096");
        let one = scan_json(&["--max-line-bytes", max, "--threads", "1"], &[path]);
        assert_eq!(&one, expected);
        for threads in ["2", "3", "7"] {
            // Ranges of 100,000 bytes: tens of cuts, lines straddling
            // every one of them, over-long lines covering whole ranges.
            for range in ["100000", "1048576"] {
                let report = scan_json(
                    &[
                        "--max-line-bytes",
                        max,
                        "--threads",
                        threads,
                        "--range-bytes",
                        range,
                    ],
                    &[path],
                );
                assert_eq!(report, one, "threads {threads} range {range}");
            }
        }
    }
}

#[test]
fn a_file_over_the_default_split_size_is_cut_and_counts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = corpus(dir.path(), "big.log", 63, 12 << 20, &[]);
    for threads in ["1", "2", "3"] {
        assert_eq!(
            scan_json(&["--threads", threads], &[&path]),
            expected,
            "threads {threads}"
        );
    }
}

#[test]
fn by_file_adds_only_a_files_array_in_command_line_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, a_expected) = corpus(dir.path(), "a.log", 71, 2 << 20, &[]);
    let (b, b_expected) = corpus(dir.path(), "b.log", 72, 1 << 20, &["--clean"]);
    let missing = dir.path().join("missing.log");
    let scan = |by_file: bool| {
        let mut argv = vec!["scan", "--format", "json", "--range-bytes", "300000"];
        if by_file {
            argv.push("--by-file");
        }
        argv.extend([
            b.to_str().unwrap(),
            missing.to_str().unwrap(),
            a.to_str().unwrap(),
        ]);
        run(&argv, None)
    };
    let plain = scan(false);
    let by_file = scan(true);
    assert_eq!(plain.status.code(), Some(1));
    assert_eq!(by_file.status.code(), Some(1));
    assert_eq!(plain.stderr, by_file.stderr);
    let mut report = json_stdout(&by_file);
    let files = report.as_object_mut().unwrap().remove("files").unwrap();
    // The other keys are exactly the report without the flag.
    assert_eq!(report, json_stdout(&plain));
    assert_eq!(report, add_tallies(&a_expected, &b_expected));
    each_file_has_its_own_tally_or_error_in_order(
        files.as_array().unwrap(),
        [(&b, &b_expected), (&a, &a_expected)],
        &missing,
    );
    the_file_keys_come_in_the_documented_order(&String::from_utf8(by_file.stdout).unwrap());
}

/// The files array in command-line order: `b`'s tally, the missing
/// file's error, `a`'s tally.
fn each_file_has_its_own_tally_or_error_in_order(
    files: &[Value],
    [(b, b_expected), (a, a_expected)]: [(&Path, &Value); 2],
    missing: &Path,
) {
    assert_eq!(files.len(), 3);
    let entry = |path: &Path, expected: &Value| {
        serde_json::json!({
            "path": path.to_str().unwrap(),
            "lines": expected["lines"],
            "bytes": expected["bytes"],
            "truncated_lines": expected["truncated_lines"],
            "errors": expected["errors"],
            "uncatalogued": expected["uncatalogued"],
            "error": null,
        })
    };
    assert_eq!(files[0], entry(b, b_expected));
    assert_eq!(files[2], entry(a, a_expected));
    assert_eq!(files[1]["path"], missing.to_str().unwrap());
    assert_eq!(files[1]["lines"], 0);
    assert!(
        files[1]["error"]
            .as_str()
            .unwrap()
            .contains("No such file or directory"),
        "{}",
        files[1]
    );
}

/// The first file entry's keys, in the printed report `text`.
fn the_file_keys_come_in_the_documented_order(text: &str) {
    let keys = [
        "\"path\"",
        "\"lines\"",
        "\"bytes\"",
        "\"truncated_lines\"",
        "\"errors\"",
        "\"uncatalogued\"",
        "\"error\"",
    ];
    let first = text.find("\"files\":[{").unwrap();
    let positions: Vec<usize> = keys
        .iter()
        .map(|key| first + text[first..].find(key).unwrap())
        .collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
}

#[test]
fn by_file_table_has_a_section_per_input() {
    let dir = tempfile::tempdir().unwrap();
    let line = |t: &str| format!("{{\"status_code\":404,\"error_type\":\"{t}\"}}\n");
    let first = dir.path().join("app.log.1");
    let second = dir.path().join("app.log");
    std::fs::write(
        &first,
        line("oauth_token_not_found").repeat(3) + &line("nope"),
    )
    .unwrap();
    std::fs::write(&second, line("email_not_found")).unwrap();
    let output = run(
        &[
            "scan",
            "--by-file",
            first.to_str().unwrap(),
            second.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    let (total, by_file) = table.split_once("\nby file:\n").expect(&table);
    assert!(total.starts_with("5 lines, "), "{table}");
    assert_eq!(
        by_file,
        format!(
            "{}: 4 lines, {} bytes, 0 truncated\n           3  oauth_token_not_found\n  uncatalogued by status: 404=1\n{}: 1 lines, {} bytes, 0 truncated\n           1  email_not_found\n",
            first.display(),
            std::fs::metadata(&first).unwrap().len(),
            second.display(),
            std::fs::metadata(&second).unwrap().len(),
        )
    );
    let without = run(
        &["scan", first.to_str().unwrap(), second.to_str().unwrap()],
        None,
    );
    assert_eq!(
        format!("{}\n", String::from_utf8(without.stdout).unwrap()),
        format!("{total}\n")
    );
}

#[test]
fn by_file_with_prometheus_is_a_usage_error() {
    let output = run(&["scan", "--by-file", "--format", "prometheus"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--by-file"));
}

#[test]
fn gzip_and_zstd_files_count_like_the_plain_file_whatever_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, expected) = corpus(
        dir.path(),
        "app.log",
        81,
        4 << 20,
        &["--max-line-bytes", "4096"],
    );
    // Multi-member gzip and concatenated zstd frames, as `cat` makes them,
    // and archives whose names say nothing.
    sh(
        dir.path(),
        "head -c 1000000 app.log > head.part; tail -c +1000001 app.log > tail.part
         gzip -c app.log > app.log.1.gz
         gzip -1 -c head.part > multi.gz; gzip -9 -c tail.part >> multi.gz
         zstd -q -c app.log > app.log.2.zst
         zstd -q -19 -c head.part > multi.zst; zstd -q -c tail.part >> multi.zst
         cp app.log.1.gz no-extension; cp app.log.2.zst looks-plain.log",
    );
    for name in [
        "app.log.1.gz",
        "multi.gz",
        "app.log.2.zst",
        "multi.zst",
        "no-extension",
        "looks-plain.log",
    ] {
        let path = dir.path().join(name);
        for threads in ["1", "2"] {
            let report = scan_json(
                &["--max-line-bytes", "4096", "--threads", threads],
                &[&path],
            );
            assert_eq!(report, expected, "{name} threads {threads}");
        }
        // Compressed stdin too.
        let output = run(
            &["scan", "--format", "json", "--max-line-bytes", "4096"],
            Some(&path),
        );
        assert_eq!(json_stdout(&output), expected, "{name} on stdin");
    }
    // Many archives at once, with the plain file, on the pool.
    let paths: Vec<PathBuf> = ["app.log.1.gz", "multi.zst", "app.log", "multi.gz"]
        .iter()
        .map(|name| dir.path().join(name))
        .collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let report = scan_json(&["--max-line-bytes", "4096", "--by-file"], &refs);
    for file in report["files"].as_array().unwrap() {
        assert_eq!(file["lines"], expected["lines"]);
        assert_eq!(file["bytes"], expected["bytes"], "bytes are uncompressed");
        assert_eq!(file["errors"], expected["errors"]);
    }
    assert_eq!(report["lines"], expected["lines"].as_u64().unwrap() * 4);
    let _ = plain;
}

#[test]
fn a_truncated_or_corrupt_archive_is_named_with_its_offset_and_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let (_, expected) = corpus(dir.path(), "app.log", 82, 4 << 20, &["--clean"]);
    sh(
        dir.path(),
        "gzip -c app.log > full.gz; zstd -q -c app.log > full.zst
         head -c 300000 full.gz > cut.gz; head -c 300000 full.zst > cut.zst
         cp full.gz corrupt.gz
         printf 'garbage garbage garbage garbage' | dd of=corrupt.gz bs=1 seek=200000 conv=notrunc 2>/dev/null",
    );
    let lines = expected["lines"].as_u64().unwrap();
    for (name, message) in [
        (
            "cut.gz",
            "truncated gzip data: the file ends at byte 300000",
        ),
        (
            "cut.zst",
            "truncated zstd data: the file ends at byte 300000",
        ),
        ("corrupt.gz", "corrupt gzip data at byte "),
    ] {
        let path = dir.path().join(name);
        let output = run(
            &[
                "scan",
                "--format",
                "json",
                "--by-file",
                path.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("errtally: {}: {message}", path.display())),
            "{name}: {stderr}"
        );
        let report = json_stdout(&output);
        let counted = report["lines"].as_u64().unwrap();
        // What came before the damage is counted: the first ~200-300 kB of
        // compressed data hold well over a tenth of the lines.
        assert!(
            counted > lines / 10 && counted < lines,
            "{name}: {counted} of {lines}"
        );
        assert!(report["errors"].as_object().unwrap().len() > 10, "{name}");
        assert!(
            report["files"][0]["error"]
                .as_str()
                .unwrap()
                .starts_with(message),
            "{name}"
        );
    }
}

#[test]
fn a_zstd_window_over_128_mib_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // From a pipe zstd does not know the size, so the frame keeps the
    // whole --long window: 256 MiB.
    sh(
        dir.path(),
        "printf '{\"error_type\":\"email_not_found\"}\\n' | zstd -q --long=28 -c > long.zst; printf '{\"error_type\":\"email_not_found\"}\\n' | zstd -q --long=27 -c > ok.zst",
    );
    let long = dir.path().join("long.zst");
    let ok = dir.path().join("ok.zst");
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            long.to_str().unwrap(),
            ok.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs a window larger than 128 MiB"),
        "{stderr}"
    );
    assert_eq!(json_stdout(&output)["errors"]["email_not_found"], 1);
}
