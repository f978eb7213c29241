//! `scan --format openmetrics` through the real `promtool tsdb
//! create-blocks-from openmetrics` into a real Prometheus (the Debian
//! package's, on loopback, started on the blocks with a long retention):
//! at every hour boundary, every type's value equals the generator's
//! clock, and rate queries return data over the backfilled range.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{ChildGuard, corpus, run};

/// How long any one wait on Prometheus may take.
const DEADLINE: Duration = Duration::from_secs(60);

const ZONE: &str = "America/New_York";

/// A Prometheus serving the blocks in `data`, on a free loopback port.
struct Prometheus {
    child: ChildGuard,
    base: String,
    agent: ureq::Agent,
    log: std::path::PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, data: &Path) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            // The backfilled week must outlive the default 15 days.
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus (Debian package prometheus) is needed");
        let mut prometheus = Prometheus {
            child: ChildGuard(child),
            base: format!("http://127.0.0.1:{port}"),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into(),
            log,
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            let ready = prometheus
                .agent
                .get(&format!("{}/-/ready", prometheus.base))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ready {
                break;
            }
            assert!(
                prometheus.child.0.try_wait().unwrap().is_none(),
                "prometheus exited: {}",
                prometheus.log()
            );
            assert!(Instant::now() < deadline, "not ready: {}", prometheus.log());
            std::thread::sleep(Duration::from_millis(250));
        }
        prometheus
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An instant query's result at `time` (seconds).
    fn query(&self, expr: &str, time: i64) -> Vec<Value> {
        let mut response = self
            .agent
            .get(&format!("{}/api/v1/query", self.base))
            .query("query", expr)
            .query("time", time.to_string())
            .call()
            .unwrap_or_else(|e| panic!("{expr}: {e}\n{}", self.log()));
        let body = response.body_mut().read_to_string().unwrap();
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["status"], "success", "{expr}: {body}");
        answer["data"]["result"].as_array().unwrap().clone()
    }

    /// `expr`'s series at `time`, by the value of `label`, zeros left out.
    fn values_by(&self, expr: &str, label: &str, time: i64) -> BTreeMap<String, u64> {
        self.query(expr, time)
            .iter()
            .map(|series| {
                let value: f64 = series["value"][1].as_str().unwrap().parse().unwrap();
                (
                    series["metric"][label].as_str().unwrap().to_string(),
                    value as u64,
                )
            })
            .filter(|(_, value)| *value > 0)
            .collect()
    }
}

/// The generator's counts of records before `at`, by type and by status.
fn truth_before(expected: &Value, at: i64) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let (mut errors, mut uncatalogued) = (BTreeMap::new(), BTreeMap::new());
    for (minute, counts) in expected["times"]["minutes"].as_object().unwrap() {
        if minute.parse::<i64>().unwrap() >= at {
            continue;
        }
        for (into, key) in [(&mut errors, "errors"), (&mut uncatalogued, "uncatalogued")] {
            for (name, count) in counts[key].as_object().unwrap() {
                *into.entry(name.clone()).or_insert(0) += count.as_u64().unwrap();
            }
        }
    }
    (errors, uncatalogued)
}

#[test]
fn a_backfill_through_promtool_answers_every_hour_with_the_generators_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (log, expected) = corpus(
        dir.path(),
        "app.log",
        41,
        10 << 20,
        &["--times", "--timezone", ZONE, "--span", "5h"],
    );
    let status = Command::new("gzip").arg(&log).status().unwrap();
    assert!(status.success());
    let archive = dir.path().join("app.log.gz");

    let output = run(
        &[
            "scan",
            "--format",
            "openmetrics",
            "--timezone",
            ZONE,
            "--label",
            "job=errtally",
            "--label",
            "instance=web-1:9184",
            archive.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let untimed = expected["times"]["untimed"].as_u64().unwrap();
    assert!(untimed > 0);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("errtally: {untimed} counted records had no time and are left out\n")
    );
    let openmetrics = dir.path().join("backfill.om");
    std::fs::write(&openmetrics, &output.stdout).unwrap();
    assert!(output.stdout.ends_with(b"# EOF\n"));

    let data = dir.path().join("data");
    let created = Command::new("promtool")
        .args([
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
        ])
        .arg(&openmetrics)
        .arg(&data)
        .output()
        .expect("promtool (Debian package prometheus) is needed");
    assert!(
        created.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );

    let prometheus = Prometheus::start(dir.path(), &data);
    let minutes: Vec<i64> = expected["times"]["minutes"]
        .as_object()
        .unwrap()
        .keys()
        .map(|minute| minute.parse().unwrap())
        .collect();
    let (first, last) = (minutes[0], minutes[minutes.len() - 1]);
    let first_hour = first - first.rem_euclid(3600) + 3600;
    let mut hours = 0;
    for hour in (first_hour..=last).step_by(3600) {
        let (errors, uncatalogued) = truth_before(&expected, hour);
        let selector = r#"{job="errtally",instance="web-1:9184",source="scan"}"#;
        assert_eq!(
            prometheus.values_by(
                &format!("errtally_errors_total{selector}"),
                "error_type",
                hour
            ),
            errors,
            "catalogued at {hour}"
        );
        assert_eq!(
            prometheus.values_by(
                &format!("errtally_uncatalogued_errors_total{selector}"),
                "status_code",
                hour
            ),
            uncatalogued,
            "uncatalogued at {hour}"
        );
        assert!(errors.len() > 20, "types seen by {hour}");
        // What the dashboard asks: rates over the backfilled range.
        let rates = prometheus.query(
            "sum by (error_type) (rate(errtally_errors_total[5m]))",
            hour,
        );
        assert!(rates.len() > 10, "rate at {hour}: {rates:?}");
        hours += 1;
    }
    assert!(hours >= 4, "the corpus spans {hours} hour boundaries");
}

/// The last sample of each series of an OpenMetrics text: its line up to
/// the value, and the value.
fn last_samples(text: &str, family: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|line| line.starts_with(family))
        .map(|line| {
            let (series, rest) = line.rsplit_once("} ").unwrap();
            let value = rest.split(' ').next().unwrap().parse().unwrap();
            (format!("{series}}}"), value)
        })
        .collect()
}

#[test]
fn backfilled_series_end_where_the_daemons_exposition_stands() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = corpus(
        dir.path(),
        "app.log",
        42,
        2 << 20,
        &["--times", "--timezone", ZONE],
    );
    let log = log.to_str().unwrap();
    // The same records: the timed ones (a window that holds them all
    // leaves the untimed out, as the backfill does).
    let exposition = run(
        &[
            "scan",
            "--format",
            "prometheus",
            "--timezone",
            ZONE,
            "--since",
            "2000-01-01T00:00:00Z",
            log,
        ],
        None,
    );
    let backfill = run(
        &[
            "scan",
            "--format",
            "openmetrics",
            "--timezone",
            ZONE,
            "--step",
            "30s",
            log,
        ],
        None,
    );
    assert!(exposition.status.success() && backfill.status.success());
    let exposition = String::from_utf8(exposition.stdout).unwrap();
    let backfill = String::from_utf8(backfill.stdout).unwrap();
    for family in [
        "errtally_errors_total{",
        "errtally_uncatalogued_errors_total{",
    ] {
        let daemon: BTreeMap<String, u64> = last_samples(&exposition, family)
            .into_iter()
            .filter(|(_, value)| *value > 0)
            .collect();
        let ended = last_samples(&backfill, family);
        assert!(daemon.len() > 3, "{family}: {daemon:?}");
        assert_eq!(ended, daemon, "{family}");
    }
    assert!(backfill.contains("# TYPE errtally_errors counter\n"));
}

#[test]
fn path_labels_and_labels_follow_the_daemons_rules() {
    let dir = tempfile::tempdir().unwrap();
    for service in ["auth", "billing"] {
        std::fs::create_dir(dir.path().join(service)).unwrap();
    }
    let (auth, _) = corpus(dir.path(), "auth/app.log", 43, 1 << 20, &["--times"]);
    let (billing, _) = corpus(dir.path(), "billing/app.log", 44, 1 << 20, &["--times"]);
    let output = run(
        &[
            "scan",
            "--format",
            "openmetrics",
            "--timezone",
            "UTC",
            "--source",
            "pods",
            "--path-labels",
            "/(?P<service>[^/]+)/app\\.log$",
            "--label",
            "job=errtally",
            auth.to_str().unwrap(),
            billing.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    for service in ["auth", "billing"] {
        let labels = format!(
            "errtally_errors_total{{error_type=\"session_not_found\",job=\"errtally\",service=\"{service}\",source=\"pods\",status_code=\"404\"}}"
        );
        assert!(text.contains(&labels), "{service}");
    }
    for (args, why) in [
        (&["--label", "source=x"][..], "a label errtally sets"),
        (
            &[
                "--label",
                "service=x",
                "--path-labels",
                "/(?P<service>[^/]+)/",
            ],
            "a path label",
        ),
        (&["--step", "5m"], "a step past 2m"),
        (&["--by", "1h"], "--by"),
        (&["--by-file"], "--by-file"),
        (&["--path-labels", "/([^/]+)/"], "an unnamed capture"),
    ] {
        let mut argv = vec!["scan", "--format", "openmetrics"];
        argv.extend_from_slice(args);
        argv.push(auth.to_str().unwrap());
        let output = run(&argv, None);
        assert_eq!(output.status.code(), Some(2), "{why}");
    }
}
