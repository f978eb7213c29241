//! The fixture corpus captured from the official Stytch SDKs and real
//! loggers (`tests/fixtures/sdk`): `errtally scan` counts exactly what the
//! capture scripts logged, as written and after wrapping by Docker's
//! json-file driver and by a CRI runtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::support::{json_stdout, run};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sdk")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Non-zero counts of a `{"name": count}` object.
fn nonzero(counts: &Value) -> BTreeMap<String, u64> {
    counts
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, count)| (name.clone(), count.as_u64().unwrap()))
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// What `scan` must report for one fixture: the events the capture logged,
/// less the documented gaps.
struct Expected {
    errors: BTreeMap<String, u64>,
    uncatalogued: BTreeMap<String, u64>,
}

fn expected_counts() -> BTreeMap<String, Expected> {
    let truth = read_json(&fixtures().join("expected.json"));
    let gaps = read_json(&fixtures().join("known-gaps.json"));
    let empty = Value::Object(Map::new());
    truth
        .as_object()
        .unwrap()
        .iter()
        .map(|(file, entry)| {
            let mut errors = nonzero(&entry["errors"]);
            let gap = gaps.get(file).map_or(&empty, |gap| &gap["errors"]);
            for (name, missed) in nonzero(gap) {
                let count = errors.get_mut(&name).unwrap();
                *count -= missed;
                if *count == 0 {
                    errors.remove(&name);
                }
            }
            let expected = Expected {
                errors,
                uncatalogued: nonzero(&entry["uncatalogued"]),
            };
            (file.clone(), expected)
        })
        .collect()
}

/// Scans `path` and checks its counts against `expected`.
fn assert_counts(path: &Path, expected: &Expected, what: &str) {
    let output = run(&["scan", "--format", "json", path.to_str().unwrap()], None);
    assert!(output.status.success(), "{what}: {output:?}");
    let report = json_stdout(&output);
    assert_eq!(
        nonzero(&report["errors"]),
        expected.errors,
        "{what}: errors"
    );
    assert_eq!(
        nonzero(&report["uncatalogued"]),
        expected.uncatalogued,
        "{what}: uncatalogued"
    );
}

/// A line as Docker's json-file driver writes it: Go's `encoding/json`,
/// which also escapes `<`, `>` and `&`.
fn docker_json_file(line: &str) -> String {
    let mut escaped = String::new();
    for ch in line.chars().chain(std::iter::once('\n')) {
        match ch {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                escaped.push_str(&format!("\\u{:04x}", ch as u32))
            }
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\u{:04x}", c as u32)),
            c => escaped.push(c),
        }
    }
    format!(r#"{{"log":"{escaped}","stream":"stderr","time":"2026-11-29T13:41:08.123456789Z"}}"#)
}

/// A line as a CRI runtime (containerd, CRI-O's conmon) writes it.
fn cri(line: &str) -> String {
    format!("2026-11-29T13:41:08.123456789Z stderr F {line}")
}

fn wrap(source: &Path, target: &Path, wrapper: fn(&str) -> String) {
    let text = std::fs::read_to_string(source).unwrap();
    let wrapped: String = text.lines().map(|line| wrapper(line) + "\n").collect();
    std::fs::write(target, wrapped).unwrap();
}

#[test]
fn every_sdk_fixture_counts_exactly_what_was_logged() {
    let expected = expected_counts();
    assert!(expected.len() >= 30, "fixture corpus too thin");
    for (file, counts) in &expected {
        assert_counts(&fixtures().join(file), counts, file);
    }
}

#[test]
fn sdk_fixtures_count_the_same_inside_docker_json_file_and_cri() {
    let dir = tempfile::tempdir().unwrap();
    for (file, counts) in &expected_counts() {
        let flat = file.replace('/', "-");
        let docker = dir.path().join(format!("docker-{flat}"));
        wrap(&fixtures().join(file), &docker, docker_json_file);
        assert_counts(&docker, counts, &format!("docker json-file {file}"));
        let cri_path = dir.path().join(format!("cri-{flat}"));
        wrap(&fixtures().join(file), &cri_path, cri);
        assert_counts(&cri_path, counts, &format!("CRI {file}"));
    }
}

#[test]
fn the_whole_sdk_corpus_adds_up_in_one_scan() {
    let expected = expected_counts();
    let mut errors = BTreeMap::new();
    let mut uncatalogued = BTreeMap::new();
    for counts in expected.values() {
        for (name, count) in &counts.errors {
            *errors.entry(name.clone()).or_insert(0) += count;
        }
        for (status, count) in &counts.uncatalogued {
            *uncatalogued.entry(status.clone()).or_insert(0) += count;
        }
    }
    let paths: Vec<String> = expected
        .keys()
        .map(|file| fixtures().join(file).to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["scan", "--format", "json"];
    args.extend(paths.iter().map(String::as_str));
    let report = json_stdout(&run(&args, None));
    assert_eq!(nonzero(&report["errors"]), errors);
    assert_eq!(nonzero(&report["uncatalogued"]), uncatalogued);
    assert!(errors.len() >= 10, "too few types: {errors:?}");
}

/// Every file under `dir`, recursively (symlinks are not followed).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            files_under(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

/// Hundreds of MB of text that is not a Stytch log: the Rust crates in the
/// cargo registry (this build's dependencies) and Python's standard library.
fn unrelated_text() -> Vec<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"));
    let stdlib = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .unwrap();
    let stdlib = PathBuf::from(String::from_utf8(stdlib.stdout).unwrap().trim());
    let mut files = Vec::new();
    files_under(&cargo_home.join("registry/src"), &mut files);
    files_under(&stdlib, &mut files);
    files.sort();
    files
}

#[test]
fn hundreds_of_megabytes_of_unrelated_text_count_nothing() {
    use std::io::Write;
    let files = unrelated_text();
    let mut child = crate::support::errtally()
        .args(["scan", "--format", "json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut bytes = 0u64;
        for file in files {
            // Files come and go (caches); a vanished one is just skipped.
            let Ok(text) = std::fs::read(&file) else {
                continue;
            };
            bytes += text.len() as u64 + 1;
            stdin.write_all(&text).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
        bytes
    });
    let output = child.wait_with_output().unwrap();
    let written = writer.join().unwrap();
    assert!(output.status.success());
    let report = json_stdout(&output);
    assert_eq!(report["bytes"].as_u64().unwrap(), written);
    assert!(
        written > 200 << 20,
        "only {written} bytes of unrelated text"
    );
    assert_eq!(nonzero(&report["errors"]), BTreeMap::new(), "{report}");
    assert_eq!(
        nonzero(&report["uncatalogued"]),
        BTreeMap::new(),
        "{report}"
    );
}
