//! `scan --examples N`: the latest records of each catalogued type, with
//! their request IDs, times, files and offsets. The test writes the logs
//! itself, so it knows every record's offset, time and request ID; the
//! expected examples are sorted from that, never from errtally's output.
//! Plain files, the real gzip's, ranges on two threads, and records that
//! Docker (json-file) and CRI split into parts.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{run, scan_json as scan};

/// A counted record as the test wrote it.
#[derive(Debug, Clone)]
struct Written {
    error_type: &'static str,
    /// Seconds after 10:00:00 UTC on 2026-12-05.
    time: Option<u32>,
    request_id: Option<String>,
    offset: usize,
}

/// Three busy types and one whose few timed records leave room for
/// untimed ones in its top N.
const TYPES: [&str; 4] = [
    "session_not_found",
    "email_not_found",
    "member_not_found",
    "organization_not_found",
];

/// A small deterministic generator (no dependency, same bytes every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn rfc3339(seconds: u32) -> String {
    format!(
        "2026-12-05T{:02}:{:02}:{:02}Z",
        10 + seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// The next record's fields: its type, time and request ID (times from
/// 600 seconds, so that many tie).
fn draw(rng: &mut Lcg, i: usize) -> (&'static str, Option<u32>, Option<String>) {
    let error_type = TYPES[rng.next(4) as usize];
    let untimed = if error_type == "organization_not_found" {
        rng.next(100) != 0
    } else {
        rng.next(5) == 0
    };
    let time = (!untimed).then(|| rng.next(600) as u32);
    let request_id = (rng.next(4) != 0).then(|| format!("req-{i}.x:{}", rng.next(1000)));
    (error_type, time, request_id)
}

/// A plain JSON log of `records` lines (a tenth of them without an
/// error), with pads of any length so that ranges cut anywhere.
fn plain_log(seed: u64, records: usize) -> (Vec<u8>, Vec<Written>) {
    let mut rng = Lcg(seed);
    let (mut bytes, mut written) = (Vec::new(), Vec::new());
    for i in 0..records {
        let pad = "p".repeat(rng.next(300) as usize);
        if rng.next(10) == 0 {
            bytes.extend_from_slice(
                format!("{{\"level\":\"info\",\"pad\":\"{pad}\"}}\n").as_bytes(),
            );
            continue;
        }
        let (error_type, time, request_id) = draw(&mut rng, i);
        let mut line = String::from("{");
        if let Some(time) = time {
            line += &format!("\"time\":\"{}\",", rfc3339(time));
        }
        if let Some(id) = &request_id {
            line += &format!("\"request_id\":\"{id}\",");
        }
        line +=
            &format!("\"status_code\":404,\"error_type\":\"{error_type}\",\"pad\":\"{pad}\"}}\n");
        written.push(Written {
            error_type,
            time,
            request_id,
            offset: bytes.len(),
        });
        bytes.extend_from_slice(line.as_bytes());
    }
    (bytes, written)
}

/// A container log whose records are split into up to three parts, cut
/// inside the `error_type` key so that only the joined parts count. The
/// record's time is its first part's; later parts carry a later one.
fn container_log(seed: u64, records: usize, docker: bool) -> (Vec<u8>, Vec<Written>) {
    let mut rng = Lcg(seed);
    let (mut bytes, mut written) = (Vec::new(), Vec::new());
    for i in 0..records {
        let (error_type, time, request_id) = draw(&mut rng, i);
        // The runtime stamps every part.
        let time = time.unwrap_or(599);
        let raw = match &request_id {
            Some(id) => format!(
                "{{\"request_id\":\"{id}\",\"status_code\":404,\"error_type\":\"{error_type}\"}}"
            ),
            None => format!("{{\"status_code\":404,\"error_type\":\"{error_type}\"}}"),
        };
        let key = raw.find("error_type").unwrap();
        let cuts: Vec<usize> = match rng.next(3) {
            0 => vec![],
            1 => vec![key + 5],
            _ => vec![key - 3, key + 5],
        };
        written.push(Written {
            error_type,
            time: Some(time),
            request_id,
            offset: bytes.len(),
        });
        let mut from = 0;
        for (part, &to) in cuts.iter().chain([&raw.len()]).enumerate() {
            let last = part == cuts.len();
            let stamp = rfc3339(time + 3600 * part as u32);
            let content = &raw[from..to];
            let line = if docker {
                let escaped =
                    serde_json::to_string(&format!("{content}{}", if last { "\n" } else { "" }))
                        .unwrap();
                format!("{{\"log\":{escaped},\"stream\":\"stdout\",\"time\":\"{stamp}\"}}\n")
            } else {
                let tag = if last { 'F' } else { 'P' };
                format!("{stamp} stdout {tag} {content}\n")
            };
            bytes.extend_from_slice(line.as_bytes());
            from = to;
        }
        if rng.next(5) == 0 {
            let filler = if docker {
                format!(
                    "{{\"log\":\"ok\\n\",\"stream\":\"stderr\",\"time\":\"{}\"}}\n",
                    rfc3339(1)
                )
            } else {
                format!("{} stderr F ok\n", rfc3339(1))
            };
            bytes.extend_from_slice(filler.as_bytes());
        }
    }
    (bytes, written)
}

/// The expected `"examples"`: per type seen, its `keep` best records of
/// `files` (path, records), latest first, untimed last, then by path and
/// offset.
fn expected(files: &[(&Path, &[Written])], keep: usize) -> Value {
    let mut by_type = serde_json::Map::new();
    for error_type in TYPES {
        let mut all: Vec<(&Path, &Written)> = files
            .iter()
            .flat_map(|(path, records)| records.iter().map(move |record| (*path, record)))
            .filter(|(_, record)| record.error_type == error_type)
            .collect();
        if all.is_empty() {
            continue;
        }
        all.sort_by(|(path_a, a), (path_b, b)| {
            let time = |w: &Written| w.time.map_or(i64::MAX, |t| -i64::from(t));
            time(a)
                .cmp(&time(b))
                .then(path_a.cmp(path_b))
                .then(a.offset.cmp(&b.offset))
        });
        let listed: Vec<Value> = all
            .iter()
            .take(keep)
            .map(|(path, record)| {
                json!({
                    "request_id": record.request_id,
                    "time": record.time.map(rfc3339),
                    "path": path.to_str().unwrap(),
                    "offset": record.offset,
                })
            })
            .collect();
        by_type.insert(error_type.to_string(), Value::Array(listed));
    }
    Value::Object(by_type)
}

#[test]
fn examples_of_plain_and_gzip_files_point_at_each_records_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("app.log");
    let (bytes, written) = plain_log(7, 4000);
    std::fs::write(&plain, &bytes).unwrap();
    let status = std::process::Command::new("gzip")
        .arg("-k")
        .arg(&plain)
        .status()
        .unwrap();
    assert!(status.success());
    let gz = dir.path().join("app.log.gz");
    // The truth's own check: each offset is a record's first byte.
    for record in &written {
        assert!(record.offset == 0 || bytes[record.offset - 1] == b'\n');
        assert!(bytes[record.offset..].starts_with(b"{"));
    }
    for keep in [1, 5, 40] {
        let keep_arg = keep.to_string();
        for (paths, truth) in [
            (vec![plain.as_path()], vec![(plain.as_path(), &written[..])]),
            (vec![gz.as_path()], vec![(gz.as_path(), &written[..])]),
            // The same records in two files: equal times by path.
            (
                vec![gz.as_path(), plain.as_path()],
                vec![
                    (plain.as_path(), &written[..]),
                    (gz.as_path(), &written[..]),
                ],
            ),
        ] {
            let want = expected(&truth, keep);
            for threads in [
                &["--threads", "1"][..],
                &["--threads", "2", "--range-bytes", "2000"],
            ] {
                let mut args = vec!["--examples", keep_arg.as_str()];
                args.extend_from_slice(threads);
                let report = scan(&args, &paths);
                assert_eq!(report["examples"], want, "{args:?} {paths:?}");
                // Nothing else changes.
                let mut without = scan(threads, &paths);
                assert!(without.get("examples").is_none());
                without["examples"] = report["examples"].clone();
                assert_eq!(report, without);
            }
        }
    }
    // Untimed records rank after timed ones: the type with few timed
    // records shows both in its top 40.
    let listed = &scan(&["--examples", "40"], &[&plain])["examples"]["organization_not_found"];
    let times: Vec<bool> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time"].is_null())
        .collect();
    assert!(times.contains(&true) && times.contains(&false), "{listed}");
}

#[test]
fn examples_of_split_records_start_at_their_first_part() {
    let dir = tempfile::tempdir().unwrap();
    for (docker, name) in [(true, "docker.log"), (false, "cri.log")] {
        let path = dir.path().join(name);
        let (bytes, written) = container_log(11, 3000, docker);
        std::fs::write(&path, &bytes).unwrap();
        let want = expected(&[(path.as_path(), &written[..])], 5);
        for threads in [
            &["--threads", "1"][..],
            &["--threads", "2", "--range-bytes", "3000"],
        ] {
            let mut args = vec!["--examples", "5"];
            args.extend_from_slice(threads);
            let report = scan(&args, &[&path]);
            let counted: u64 = TYPES
                .iter()
                .map(|t| report["errors"][t].as_u64().unwrap_or(0))
                .sum();
            assert_eq!(
                counted,
                written.len() as u64,
                "{name}: every record counted once"
            );
            assert_eq!(report["examples"], want, "{name} {args:?}");
        }
    }
}

#[test]
fn examples_come_after_periods_and_before_files_and_need_table_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let (bytes, written) = plain_log(3, 200);
    std::fs::write(&path, &bytes).unwrap();
    let path_arg = path.to_str().unwrap();
    let output = run(
        &[
            "scan",
            "--format",
            "json",
            "--examples",
            "2",
            "--by",
            "1h",
            "--timezone",
            "UTC",
            "--by-file",
            path_arg,
        ],
        None,
    );
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    assert!(at("untimed") < at("periods"), "{text}");
    assert!(at("periods") < at("examples"), "{text}");
    assert!(at("examples") < at("files"), "{text}");
    // The table lists the same examples, one line each, with file:offset.
    let table = run(&["scan", "--examples", "2", path_arg], None);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    let want = expected(&[(path.as_path(), &written[..])], 2);
    for (error_type, listed) in want.as_object().unwrap() {
        assert!(table.contains(&format!("\n{error_type}:\n")), "{table}");
        for example in listed.as_array().unwrap() {
            let located = format!("{path_arg}:{}\n", example["offset"]);
            assert!(table.contains(&located), "{located} in {table}");
        }
    }
    for format in ["prometheus", "openmetrics"] {
        let output = run(
            &["scan", "--examples", "5", "--format", format, path_arg],
            None,
        );
        assert_eq!(output.status.code(), Some(2), "{format}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("--examples"));
    }
}

#[test]
fn the_table_spells_out_control_characters_and_bytes_not_utf8_in_a_file_name() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    // A terminal escape that would turn the operator's terminal red, a
    // newline that would start a line of its own, a byte of Latin-1.
    let name = std::ffi::OsStr::from_bytes(b"x\x1b[31m\nred\xe9.log");
    let record = "{\"time\":\"2026-12-05T10:00:00Z\",\"request_id\":\"req-1\",\
                  \"error_type\":\"session_not_found\"}\n";
    std::fs::write(dir.path().join(name), format!("{{}}\n{record}")).unwrap();
    let output = run(
        &["scan", "--examples", "1", dir.path().to_str().unwrap()],
        None,
    );
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    let listed = format!(
        "req-1{}{}/x\\u{{1b}}[31m\\u{{a}}red\\xe9.log:3\n",
        " ".repeat(36 - "req-1".len() + 2),
        dir.path().display()
    );
    assert!(table.contains(&listed), "{listed:?} in {table:?}");
    assert!(!table.contains('\u{1b}'), "{table:?}");
}
