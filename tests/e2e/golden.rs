//! The golden `/metrics` scrape, as node_exporter's end-to-end test keeps
//! one: the real daemon reads fixed input (tests/fixtures/metrics), a real
//! HTTP client scrapes it, the values that differ from run to run are
//! masked, and the text must equal tests/fixtures/metrics/metrics.golden
//! byte for byte. A renamed family, a changed help text, a lost series or a
//! label in another order shows up here as a diff.
//!
//! After an intended change, rewrite the file and review its diff:
//! `ERRTALLY_UPDATE_GOLDEN=1 cargo test --test e2e golden`.

use std::path::Path;

use crate::daemon_support::{Daemon, metric};
use crate::support::promtool_check;

/// Where the fixtures and the golden scrape live.
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/metrics");

/// Set to rewrite the golden file from this run's scrape.
const UPDATE: &str = "ERRTALLY_UPDATE_GOLDEN";

/// A pod directory name that needs escaping in a label value: a quote and a
/// backslash, both legal in a file name.
const HOSTILE_POD: &str = r#"we"b\2"#;

/// `text` with what changes between runs taken out: the `process_*`
/// families (host and load dependent) are dropped; timestamps and
/// durations read 0; the build's version reads `VERSION`.
fn mask(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        if name.starts_with("process_") {
            continue;
        }
        let series = line.rsplit_once(' ').map_or(line, |(series, _)| series);
        let family = series.split('{').next().unwrap_or(series);
        let masked = if line.starts_with('#') {
            line.to_owned()
        } else if family.ends_with("_timestamp_seconds") || family.contains("_duration_seconds") {
            format!("{series} 0")
        } else if family == "errtally_build_info" {
            line.replace(
                &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
                "version=\"VERSION\"",
            )
        } else {
            line.to_owned()
        };
        out.push_str(&masked);
        out.push('\n');
    }
    out
}

/// Records (newline-terminated lines) in a fixture: the counts the daemon
/// must reach before the scrape is taken.
fn records(name: &str) -> f64 {
    let bytes = std::fs::read(Path::new(FIXTURES).join(name)).unwrap();
    bytes.iter().filter(|&&byte| byte == b'\n').count() as f64
}

/// The lines only one side has, for a readable failure.
fn line_diff(golden: &str, scraped: &str) -> String {
    let missing = golden
        .lines()
        .filter(|line| !scraped.lines().any(|l| l == *line))
        .map(|line| format!("- {line}"));
    let extra = scraped
        .lines()
        .filter(|line| !golden.lines().any(|l| l == *line))
        .map(|line| format!("+ {line}"));
    missing.chain(extra).collect::<Vec<_>>().join("\n")
}

/// The daemon on the fixtures under `root` (a plain file and two pods,
/// one with a hostile name), once it has counted every record.
fn daemon_on_fixtures(root: &Path) -> Daemon {
    std::fs::create_dir_all(root.join("plain")).unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("app.log"),
        root.join("plain/app.log"),
    )
    .unwrap();
    for pod in ["api-1", HOSTILE_POD] {
        let container = root.join(format!("pods/shop_{pod}/app"));
        std::fs::create_dir_all(&container).unwrap();
        std::fs::copy(Path::new(FIXTURES).join("pod.log"), container.join("0.log")).unwrap();
    }
    std::fs::create_dir_all(root.join("state")).unwrap();
    let config = root.join("errtally.toml");
    std::fs::write(
        &config,
        format!(
            "poll_interval = \"100ms\"\nstate_dir = \"{root}/state\"\n\n\
             [[input]]\nname = \"app\"\npaths = [\"{root}/plain/*.log\"]\nstart_at = \"beginning\"\n\n\
             [[input]]\nname = \"pods\"\npaths = [\"{root}/pods/*/*/*.log\"]\nstart_at = \"beginning\"\n\
             path_labels = '^{pods}/(?P<namespace>[^_/]+)_(?P<pod>[^_/]+)/(?P<container>[^/]+)/'\n",
            root = root.display(),
            pods = regex::escape(&root.join("pods").display().to_string()),
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&["--config", config.to_str().unwrap()]);
    daemon.wait_for(&metric("errtally_lines_total", "app"), records("app.log"));
    for pod in ["api-1", r#"we\"b\\2"#] {
        daemon.wait_for(
            &format!(
                "errtally_lines_total{{container=\"app\",namespace=\"shop\",pod=\"{pod}\",source=\"pods\"}}"
            ),
            records("pod.log"),
        );
    }
    for source in ["app", "pods"] {
        daemon.wait_for(&metric("errtally_input_lag_bytes", source), 0.0);
    }
    daemon
}

#[test]
fn metrics_scrape_matches_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon_on_fixtures(dir.path());
    let scraped = mask(&daemon.metrics());
    promtool_check(&scraped);

    let golden_path = Path::new(FIXTURES).join("metrics.golden");
    if std::env::var_os(UPDATE).is_some() {
        std::fs::write(&golden_path, &scraped).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; write it with {UPDATE}=1",
            golden_path.display()
        )
    });
    assert!(
        golden == scraped,
        "/metrics differs from {} (- golden, + scraped); if intended, rerun with {UPDATE}=1 \
         and review the file's diff:\n{}",
        golden_path.display(),
        line_diff(&golden, &scraped)
    );
}

/// What Prometheus 2.42 and later send.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
     application/openmetrics-text;version=0.0.1;q=0.75,\
     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Every sample of an OpenMetrics text as the Python client's parser (an
/// independent implementation, Debian's python3-prometheus-client) reads
/// it: `name{labels sorted} value` lines, and `# TYPE family type` lines.
/// The parser fails on anything OpenMetrics 1.0 forbids (a counter family
/// named with `_total`, a missing `# EOF`, interleaved families).
fn parsed_by_python(text: &str) -> Vec<String> {
    use std::io::Write;
    let script = r##"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print("# TYPE", family.name, family.type)
    for s in family.samples:
        labels = ",".join('%s="%s"' % (k, v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")) for k, v in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, labels, float(s.value)))
        if s.exemplar:
            print("# EXEMPLAR %s{%s} %s %s" % (s.name, labels, s.exemplar.labels["request_id"], s.exemplar.timestamp))
"##;
    // Debian's interpreter, where apt installs the client (a pyenv shim
    // may come first on PATH).
    let mut python = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 with python3-prometheus-client is needed");
    python
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let parsed = python.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "the OpenMetrics parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    String::from_utf8(parsed.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The samples of a text-format scrape as [`parsed_by_python`] writes
/// them: labels sorted, values as Python's `repr` of the float.
fn text_samples(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
            let labels = labels.strip_suffix('}').unwrap();
            // Label values here hold no `",` (the hostile pod's quote is
            // followed by `b`), so splitting at it is exact.
            let mut pairs: Vec<&str> = if labels.is_empty() {
                Vec::new()
            } else {
                labels.split("\",").collect()
            };
            let last = pairs.len().saturating_sub(1);
            let mut pairs: Vec<String> = pairs
                .drain(..)
                .enumerate()
                .map(|(i, pair)| {
                    if i == last {
                        pair.to_owned()
                    } else {
                        format!("{pair}\"")
                    }
                })
                .collect();
            pairs.sort();
            let value: f64 = value.parse().unwrap();
            format!("{name}{{{}}} {value:?}", pairs.join(","))
        })
        .collect()
}

#[test]
fn an_openmetrics_scrape_parses_and_holds_the_text_scrapes_series() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon_on_fixtures(dir.path());
    let (status, content_type, open_metrics) = daemon.get_with("/metrics", PROMETHEUS_ACCEPT);
    assert_eq!(status, 200, "{open_metrics}");
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(open_metrics.ends_with("# EOF\n"), "{open_metrics}");
    let text = daemon.metrics();
    let parsed = parsed_by_python(&open_metrics);

    // Counter families are named without `_total`, their samples with it.
    for family in [
        "errtally_errors",
        "errtally_lines",
        "errtally_uncatalogued_errors",
    ] {
        let declared = format!("# TYPE {family} counter");
        assert!(parsed.contains(&declared), "no {declared}");
    }
    // The same series, and for what no scrape changes (everything but the
    // process, the HTTP server and the clocks), the same values.
    let varies = |sample: &str| {
        sample.starts_with("process_")
            || sample.starts_with("errtally_http_")
            || sample.split('{').next().is_some_and(|name| {
                name.ends_with("_timestamp_seconds") || name.contains("_duration_seconds")
            })
    };
    let series = |sample: &str| sample.rsplit_once(' ').unwrap().0.to_owned();
    let mut from_python: Vec<&String> = parsed.iter().filter(|l| !l.starts_with('#')).collect();
    let mut from_text = text_samples(&text);
    from_python.sort();
    from_text.sort();
    let names = |samples: &[String]| samples.iter().map(|s| series(s)).collect::<Vec<_>>();
    let python_owned: Vec<String> = from_python.iter().map(|s| (*s).clone()).collect();
    assert_eq!(names(&python_owned), names(&from_text));
    let steady = |samples: &[String]| {
        samples
            .iter()
            .filter(|s| !varies(s))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(steady(&python_owned), steady(&from_text));
    assert!(
        steady(&from_text)
            .iter()
            .any(|s| s.starts_with("errtally_errors_total{") && !s.ends_with(" 0.0")),
        "no counted error to compare:\n{text}"
    );
    // The latest request ID of each counted series is its exemplar, with
    // the record's time: the fixture's last email_template_not_found.
    let exemplars: Vec<&String> = parsed
        .iter()
        .filter(|line| line.starts_with("# EXEMPLAR "))
        .collect();
    let email_template = r#"# EXEMPLAR errtally_errors_total{error_type="email_template_not_found",source="app",status_code="404"} request-id-live-3daa4f03-513b-33a1-331e-560e4f180914 1795914123.233000000"#;
    assert!(
        exemplars.iter().any(|line| line.as_str() == email_template),
        "{exemplars:#?}"
    );
    let fixtures = std::fs::read_to_string(Path::new(FIXTURES).join("app.log")).unwrap()
        + &std::fs::read_to_string(Path::new(FIXTURES).join("pod.log")).unwrap();
    for line in &exemplars {
        let id = line.split(' ').nth(3).unwrap();
        assert!(fixtures.contains(id), "{id} is in no fixture");
    }
    // Without an Accept header, or with text only, the text format.
    for accept in ["", "text/plain;version=0.0.4", "*/*"] {
        let (_, content_type, _) = daemon.get_with("/metrics", accept);
        assert_eq!(content_type, "text/plain; version=0.0.4", "{accept:?}");
    }
}

#[test]
fn masking_leaves_counters_and_hides_only_what_varies() {
    let scrape = "# HELP process_open_fds Number of open file descriptors.\n\
                  # TYPE process_open_fds gauge\n\
                  process_open_fds 22\n\
                  errtally_build_info{version=\"0.1.0\"} 1\n\
                  errtally_checkpoint_last_success_timestamp_seconds 1795981323.2252607\n\
                  errtally_lines_total{source=\"app\"} 23\n";
    let expected = "errtally_build_info{version=\"VERSION\"} 1\n\
                    errtally_checkpoint_last_success_timestamp_seconds 0\n\
                    errtally_lines_total{source=\"app\"} 23\n";
    // The literal version above is this crate's today; the mask must follow it.
    assert_eq!(
        mask(&scrape.replace("0.1.0", env!("CARGO_PKG_VERSION"))),
        expected
    );
}
