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

#[test]
fn metrics_scrape_matches_the_golden_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
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
