//! `scan --since/--until/--by/--timezone` against `gen --times` corpora:
//! totals and periods equal the generator's clock on every read path.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::{corpus, json_stdout, run, scan_json, sh};

/// The zone the corpus writes zone-less times in and the scan reads them
/// in: +05:45 all year, so local hours start at a quarter past the UTC hour.
const ZONE: &str = "Asia/Kathmandu";
const OFFSET: i64 = 5 * 3600 + 45 * 60;

/// The generator's truth: minute start -> (catalogued, uncatalogued).
type Minutes = BTreeMap<i64, (BTreeMap<String, u64>, BTreeMap<String, u64>)>;

fn minutes(expected: &Value) -> Minutes {
    expected["times"]["minutes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(minute, counts)| {
            let map = |key: &str| -> BTreeMap<String, u64> {
                counts[key]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, count)| (name.clone(), count.as_u64().unwrap()))
                    .collect()
            };
            (
                minute.parse().unwrap(),
                (map("errors"), map("uncatalogued")),
            )
        })
        .collect()
}

fn add(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (name, count) in from {
        *into.entry(name.clone()).or_insert(0) += count;
    }
}

/// The truth summed over `[since, until)`.
fn window(minutes: &Minutes, since: i64, until: i64) -> (Value, Value) {
    let (mut errors, mut uncatalogued) = (BTreeMap::new(), BTreeMap::new());
    for (_, (catalogued, other)) in minutes.range(since..until) {
        add(&mut errors, catalogued);
        add(&mut uncatalogued, other);
    }
    (json!(errors), json!(uncatalogued))
}

/// `seconds` (UTC) as RFC 3339 at +05:45, by hand.
fn kathmandu(seconds: i64) -> String {
    let local = seconds + OFFSET;
    let (days, second) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+05:45",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

/// The truth by local hour, as `"periods"` shows it.
fn hourly(minutes: &Minutes) -> Value {
    let mut hours = Minutes::new();
    for (minute, (catalogued, other)) in minutes {
        let local = minute + OFFSET;
        let start = local - local.rem_euclid(3600) - OFFSET;
        let hour = hours.entry(start).or_default();
        add(&mut hour.0, catalogued);
        add(&mut hour.1, other);
    }
    hours
        .iter()
        .map(|(start, (errors, uncatalogued))| {
            json!({"start": kathmandu(*start), "errors": errors, "uncatalogued": uncatalogued})
        })
        .collect()
}

/// `scan_json` with the corpus' zone.
fn scan(args: &[&str], paths: &[&Path]) -> Value {
    scan_json(&[&["--timezone", ZONE], args].concat(), paths)
}

#[test]
fn windows_and_hourly_periods_equal_the_generators_clock_on_every_read_path() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = corpus(
        dir.path(),
        "app.log",
        31,
        12 << 20,
        &["--times", "--timezone", ZONE, "--span", "5h"],
    );
    sh(
        dir.path(),
        "gzip -c app.log > app.log.1.gz; zstd -q -c app.log > app.log.2.zst",
    );
    let truth = minutes(&expected);
    let untimed = expected["times"]["untimed"].as_u64().unwrap();
    let (first, last) = (
        *truth.keys().next().unwrap(),
        *truth.keys().next_back().unwrap(),
    );
    assert!(last - first > 4 * 3600, "the corpus spans hours");
    assert!(untimed > 0, "some records untimed");
    // A window from 00:37 into the corpus, 2 h 13 min long.
    let since = first + 37 * 60;
    let until = since + 2 * 3600 + 13 * 60;
    let (since_text, until_text) = (kathmandu(since), kathmandu(until));
    let (errors, uncatalogued) = window(&truth, since, until);
    assert!(errors.as_object().unwrap().len() > 20);

    let gz = dir.path().join("app.log.1.gz");
    let zst = dir.path().join("app.log.2.zst");
    for (read, path, extra) in [
        (
            "ranges",
            &path,
            &["--threads", "2", "--range-bytes", "100000"][..],
        ),
        ("one thread", &path, &["--threads", "1"][..]),
        ("gzip", &gz, &[][..]),
        ("zstd", &zst, &[][..]),
    ] {
        let mut args = vec!["--since", &since_text, "--until", &until_text];
        args.extend_from_slice(extra);
        let report = scan(&args, &[path]);
        assert_eq!(report["errors"], errors, "{read}");
        assert_eq!(report["uncatalogued"], uncatalogued, "{read}");
        assert_eq!(report["untimed"], json!(untimed), "{read}");
        assert_eq!(
            report["lines"], expected["lines"],
            "{read}: lines stay totals"
        );
        assert_eq!(report["bytes"], expected["bytes"], "{read}");
        assert_eq!(report.get("periods"), None, "{read}");

        let mut args = vec!["--by", "1h"];
        args.extend_from_slice(extra);
        let report = scan(&args, &[path]);
        assert_eq!(report["periods"], hourly(&truth), "{read}");
        assert_eq!(report["errors"], expected["errors"], "{read}: no window");
        assert_eq!(report["untimed"], json!(untimed), "{read}");
    }
}

#[test]
fn by_file_counts_each_input_inside_the_window_and_keys_come_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, a_expected) = corpus(
        dir.path(),
        "a.log",
        32,
        3 << 20,
        &["--times", "--timezone", ZONE, "--span", "3h"],
    );
    let (b, b_expected) = corpus(
        dir.path(),
        "b.log",
        33,
        2 << 20,
        &["--times", "--timezone", ZONE, "--span", "3h", "--clean"],
    );
    // An hour from the first local half hour an hour into the corpus.
    let since = *minutes(&a_expected).keys().next().unwrap() + 3600;
    let since = since + (1800 - (since + OFFSET).rem_euclid(1800)) % 1800;
    let until = since + 3600;
    let since_text = kathmandu(since);
    let until_text = kathmandu(until);
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            "--timezone",
            ZONE,
            "--since",
            &since_text,
            "--until",
            &until_text,
            "--by",
            "30m",
            "--by-file",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
        None,
    );
    let report = json_stdout(&output);
    // The new keys follow today's, in this order.
    let text = String::from_utf8(output.stdout).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    let order = ["uncatalogued_types", "untimed", "periods", "files"].map(at);
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    for (file, expected) in [(0, &a_expected), (1, &b_expected)] {
        let (errors, uncatalogued) = window(&minutes(expected), since, until);
        assert_eq!(report["files"][file]["errors"], errors, "file {file}");
        assert_eq!(report["files"][file]["uncatalogued"], uncatalogued);
    }
    // Two half hours, each starting at :15 or :45 past the UTC hour.
    let starts: Vec<&str> = report["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|period| period["start"].as_str().unwrap())
        .collect();
    assert_eq!(starts, [kathmandu(since), kathmandu(since + 1800)]);
}

#[test]
fn without_time_flags_the_report_has_no_time_keys_and_the_table_no_time_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (path, expected) = corpus(
        dir.path(),
        "app.log",
        34,
        1 << 20,
        &["--times", "--timezone", ZONE],
    );
    let output = run(&["scan", "--format", "json", path.to_str().unwrap()], None);
    let report = json_stdout(&output);
    let mut expected = expected;
    expected.as_object_mut().unwrap().remove("times");
    assert_eq!(report, expected);
    let table = run(&["scan", path.to_str().unwrap()], None);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        !table.contains("untimed") && !table.contains("by period"),
        "{table}"
    );
    let timed = run(
        &[
            "scan",
            "--timezone",
            ZONE,
            "--by",
            "1d",
            path.to_str().unwrap(),
        ],
        None,
    );
    let timed = String::from_utf8(timed.stdout).unwrap();
    assert!(timed.starts_with(&table), "the timed table adds to today's");
    assert!(timed.contains("\nby period (Asia/Kathmandu):\n"), "{timed}");
}

#[test]
fn bad_time_flags_are_usage_errors() {
    for args in [
        &["scan", "--by", "7h", "-"][..],
        &["scan", "--by", "1h", "--format", "prometheus", "-"],
        &["scan", "--since", "last tuesday", "-"],
        &[
            "scan",
            "--since",
            "2026-11-29T02:00:00Z",
            "--until",
            "2026-11-29T01:00:00Z",
            "-",
        ],
        &["scan", "--by", "1h", "--timezone", "Mars/Olympus_Mons", "-"],
    ] {
        let output = run(args, None);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
}
