//! The shipped rules and dashboard on a live Prometheus: the Debian
//! package's `prometheus` on loopback scrapes two real errtally daemons
//! every second and evaluates `dashboards/recording.yml` and
//! `dashboards/alerts.yml` every second. The test writes a known burst of
//! log lines and works through Prometheus' HTTP API only. Daemon `b` reads
//! a kubelet-like `/var/log/pods` tree with the shipped Kubernetes
//! `path_labels`, daemon `a` a plain directory without them, so the
//! workload variables and panels see both kinds of series.
//!
//! The rule files are loaded from a copy in which every `for:` duration is
//! replaced by `for: 1s` (a text substitution of each `for: …` line, counted
//! against the number of alerts); nothing else changes. The rate windows
//! stay as shipped (5m): the burst is sized so that its 5-minute rate passes
//! the no-history floors at once, which is what a fresh install sees.
//! Prometheus starts empty, so there is no baseline: the Stytch alerts can
//! only fire on their floors here.
//!
//! The same steps run twice: against one Prometheus that scrapes the
//! daemons and evaluates the rules, and against the fleet path, where a
//! Prometheus in agent mode scrapes them and remote-writes everything (with
//! exemplars) to a central Prometheus that receives remote writes, stores
//! exemplars and evaluates the rules. Every query, rule and alert is then
//! asked of the central server.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::daemon_support::{Daemon, append, error_line};
use crate::dashboards::{self, Query, dashboard, queries, substitute};
use crate::support::ChildGuard;

/// How long any one wait on Prometheus may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// The burst, per daemon: (error_type, lines). Its 5m rate summed over both
/// daemons is about 3/s session_not_found (over StytchSessionNotFoundSpike's
/// 2/s floor), 2/s phone_number_not_found (over Stytch404Spike's 1/s floor)
/// and 0.1/s member_not_found (under it).
const BURST: &[(&str, usize)] = &[
    ("session_not_found", 450),
    ("phone_number_not_found", 300),
    ("member_not_found", 15),
];

/// Uncatalogued 404s and plain lines per daemon, so that every panel has
/// data.
const UNCATALOGUED_404S: usize = 3;
const PLAIN_LINES: usize = 50;

/// The alerts the burst must fire, with the type each is about.
const EXPECTED_FIRING: &[(&str, &str)] = &[
    ("Stytch404Spike", "phone_number_not_found"),
    ("StytchSessionNotFoundSpike", "session_not_found"),
];

/// Queries that must return nothing, and why.
const EXPECTED_EMPTY: &[(&str, &str, &str)] = &[(
    "Rate against the alerts' baseline, whole fleet",
    "B",
    "a baseline needs an hour of history; this Prometheus is seconds old",
)];

/// The namespace of the pod whose log daemon `b` reads.
const WORKLOAD_NAMESPACE: &str = "shop";
/// That pod.
const WORKLOAD_POD: &str = "api-7d9f";
/// Its container that writes the log.
const WORKLOAD_CONTAINER: &str = "app";

/// The shipped ConfigMap's `path_labels`, anchored at `pods` instead of
/// `/var/log/pods`.
fn kubernetes_path_labels(pods: &Path) -> String {
    let config = crate::kubernetes::config_table();
    let shipped = config["input"][0]["path_labels"].as_str().unwrap();
    let relative = shipped.strip_prefix("^/var/log/pods/").unwrap();
    format!("^{}/{relative}", regex::escape(&pods.display().to_string()))
}

/// A Prometheus server for one test, killed when dropped.
struct Prometheus {
    child: RefCell<ChildGuard>,
    base: String,
    agent: ureq::Agent,
    log: PathBuf,
}

/// Where the rules run and what the steps ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Topology {
    /// One Prometheus scrapes the daemons and evaluates the rules.
    Direct,
    /// An agent scrapes and remote-writes to a central Prometheus, which
    /// evaluates the rules.
    Fleet,
}

/// The global block: scrape and evaluate every second.
const GLOBAL: &str = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n";

/// The shortened rule copies, and the config lines that load them.
fn rule_files(dir: &Path) -> &'static str {
    let rules = dashboards::dashboards();
    std::fs::copy(rules.join("recording.yml"), dir.join("recording.yml")).unwrap();
    let alerts = dashboards::read("alerts.yml");
    let (alerts, shortened) = shorten_for(&alerts);
    assert_eq!(shortened, dashboards::alert_names(&alerts).len());
    std::fs::write(dir.join("alerts.yml"), alerts).unwrap();
    "rule_files:\n  - recording.yml\n  - alerts.yml\n"
}

/// A scrape job `errtally` over `targets`.
fn scrape_errtally(targets: &[SocketAddr]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "scrape_configs:\n  - job_name: errtally\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    )
}

impl Prometheus {
    /// Starts Prometheus in `dir` on a free loopback port, scraping
    /// `targets` as job `errtally` and loading the shortened rule copies.
    fn start(dir: &Path, targets: &[SocketAddr]) -> Prometheus {
        let config = format!("{GLOBAL}{}{}", rule_files(dir), scrape_errtally(targets));
        let storage = format!("--storage.tsdb.path={}", dir.join("tsdb").display());
        Prometheus::launch(dir, &config, &[&storage])
    }

    /// A central Prometheus: it receives remote writes, stores exemplars
    /// and evaluates the shortened rule copies; it scrapes nothing.
    fn start_central(dir: &Path) -> Prometheus {
        let config = format!("{GLOBAL}{}", rule_files(dir));
        let storage = format!("--storage.tsdb.path={}", dir.join("tsdb").display());
        Prometheus::launch(
            dir,
            &config,
            &[
                &storage,
                "--web.enable-remote-write-receiver",
                "--enable-feature=exemplar-storage",
            ],
        )
    }

    /// A Prometheus in agent mode: scrapes `targets` and remote-writes
    /// everything, exemplars included, to `central` within a second.
    fn start_agent(dir: &Path, targets: &[SocketAddr], central: &Prometheus) -> Prometheus {
        let config = format!(
            "{GLOBAL}{}remote_write:\n  - url: {}/api/v1/write\n    send_exemplars: true\n\
             \x20   queue_config:\n      batch_send_deadline: 1s\n",
            scrape_errtally(targets),
            central.base
        );
        let storage = format!("--storage.agent.path={}", dir.join("wal").display());
        // Exemplars are parsed from a scrape only with exemplar storage on.
        Prometheus::launch(
            dir,
            &config,
            &[
                &storage,
                "--enable-feature=agent",
                "--enable-feature=exemplar-storage",
            ],
        )
    }

    /// Runs `prometheus` in `dir` with `config` and `args` on a free
    /// loopback port; returns once it is ready.
    fn launch(dir: &Path, config: &str, args: &[&str]) -> Prometheus {
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .args(args)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus (Debian package prometheus) is needed");
        let prometheus = Prometheus {
            child: RefCell::new(ChildGuard(child)),
            base: format!("http://127.0.0.1:{port}"),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into(),
            log,
        };
        prometheus.wait_until("Prometheus ready", |p| {
            p.agent
                .get(&format!("{}/-/ready", p.base))
                .call()
                .is_ok_and(|r| r.status() == 200)
        });
        prometheus
    }

    /// The `data` of a successful API answer; any other answer fails the
    /// test with Prometheus' error.
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let mut request = self.agent.get(&format!("{}{path}", self.base));
        for (key, value) in params {
            request = request.query(*key, *value);
        }
        let mut response = request
            .call()
            .unwrap_or_else(|e| panic!("{path}: {e}\n{}", self.log()));
        let body = response.body_mut().read_to_string().unwrap();
        let answer: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        assert_eq!(answer["status"], "success", "{path} {params:?}: {body}");
        answer["data"].clone()
    }

    /// The result of an instant query.
    fn query(&self, expr: &str) -> Vec<Value> {
        self.api("/api/v1/query", &[("query", expr)])["result"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Active alerts (pending or firing).
    fn alerts(&self) -> Vec<Value> {
        self.api("/api/v1/alerts", &[])["alerts"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Polls `condition` until it holds, failing after [`DEADLINE`] or if
    /// Prometheus exits.
    fn wait_until(&self, what: &str, mut condition: impl FnMut(&Prometheus) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !condition(self) {
            assert!(
                self.child.borrow_mut().0.try_wait().unwrap().is_none(),
                "{}",
                self.log()
            );
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Prometheus' log so far; says if it has exited.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let exited = self.child.borrow_mut().0.try_wait().ok().flatten();
        format!(
            "prometheus log{}:\n{log}",
            exited
                .map(|s| format!(" (it exited: {s})"))
                .unwrap_or_default()
        )
    }
}

/// `alerts` with every `for: …` line set to `for: 1s`, and how many there
/// were.
fn shorten_for(alerts: &str) -> (String, usize) {
    let mut count = 0;
    let mut out = String::with_capacity(alerts.len());
    for line in alerts.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("for: ") {
            out.push_str(&line[..line.len() - trimmed.len()]);
            out.push_str("for: 1s");
            count += 1;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    (out, count)
}

/// A catalogue entry's labels as errtally_error_hint_info carries them,
/// built from the shipped JSON (not from errtally's code): the list labels
/// as `1. … 2. …`. Empty values are absent, as in Prometheus.
fn catalogue_labels(error_type: &str) -> Vec<(&'static str, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/catalog/stytch-b2b-404.json"
    ))
    .unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let entry = file["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["error_type"] == error_type)
        .unwrap();
    let joined = |key: &str| {
        entry[key]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, item)| format!("{}. {}", i + 1, item.as_str().unwrap()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let first = |key: &str| entry[key].get(0).and_then(Value::as_str).map(String::from);
    let hint = first("troubleshooting")
        .or_else(|| first("common_causes"))
        .unwrap_or_else(|| entry["description"].as_str().unwrap().to_string());
    [
        ("hint", hint),
        (
            "summary",
            entry["description"].as_str().unwrap().to_string(),
        ),
        ("doc_url", entry["doc_url"].as_str().unwrap().to_string()),
        ("causes", joined("common_causes")),
        ("troubleshooting", joined("troubleshooting")),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .collect()
}

/// Grafana's rendering of a multi-value selection in a regex matcher:
/// regex-escaped values in a group, inside a PromQL string.
fn grafana_regex(values: &[String]) -> String {
    let escaped: Vec<String> = values.iter().map(|v| v.replace('.', "\\\\.")).collect();
    format!("({})", escaped.join("|"))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn label<'a>(series: &'a Value, name: &str) -> &'a str {
    series["metric"][name].as_str().unwrap_or_default()
}

#[test]
fn prometheus_live_fires_the_burst_alerts_and_answers_every_dashboard_query() {
    live_steps(Topology::Direct);
}

#[test]
fn the_fleet_path_agent_to_central_fires_the_same_alerts_and_answers_every_query() {
    live_steps(Topology::Fleet);
}

/// The steps, against the Prometheus that evaluates the rules.
fn live_steps(topology: Topology) {
    let live = Live::start(topology);
    let prometheus = &live.prometheus;
    the_shipped_rule_groups_are_loaded(prometheus);
    let burst_start = live.write_the_burst_after_a_first_scrape();
    the_burst_counts_arrive_exactly(prometheus);
    the_burst_fires_its_alerts_and_nothing_else(prometheus);
    the_alerts_carry_the_catalogues_knowledge(prometheus);
    every_rule_evaluates_without_error(prometheus);
    let instance_regex = grafana_regex(&live.instances);
    let selected = dashboard_selection(&instance_regex);
    let instances = live.sorted_instances();
    the_dashboard_variables_list_what_the_daemons_serve(prometheus, &selected, &instances);
    every_dashboard_query_has_data_where_the_traffic_implies_it(
        prometheus,
        &selected,
        &instances,
        burst_start,
    );
    the_error_type_panels_count_the_burst_with_its_knowledge(prometheus, &selected);
    the_workloads_table_shows_each_input_and_filters_by_namespace(prometheus, &selected);
    the_fleet_rates_cover_every_burst_type_and_both_namespaces(prometheus, &selected);
    if topology == Topology::Fleet {
        the_request_ids_arrive_as_exemplars(prometheus, &live.instances);
    }
    // Still nothing without cause at the end.
    let alerts = prometheus.alerts();
    assert_eq!(alerts.len(), EXPECTED_FIRING.len(), "{alerts:#?}");
}

/// Daemon `a` over a plain directory, daemon `b` over a kubelet-like tree
/// with the shipped `path_labels`, and Prometheus scraping both (directly,
/// or through an agent).
struct Live {
    /// Each daemon's log file, in the order of `daemons`.
    logs: Vec<PathBuf>,
    /// Each daemon's address as Prometheus' `instance` label shows it.
    instances: Vec<String>,
    /// The Prometheus that evaluates the rules and answers the steps.
    prometheus: Prometheus,
    /// The agent that scrapes for it, on the fleet path.
    _agent: Option<Prometheus>,
    // Dropped after Prometheus, which scrapes them.
    _daemons: Vec<Daemon>,
    _dir: tempfile::TempDir,
}

impl Live {
    fn start(topology: Topology) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let mut daemons = Vec::new();
        let mut logs = Vec::new();
        let plain = dir.path().join("a");
        std::fs::create_dir(&plain).unwrap();
        let log = plain.join("app.log");
        std::fs::write(&log, "").unwrap();
        daemons.push(Daemon::start(&[&format!("{}/*.log", plain.display())]));
        logs.push(log);
        let pods = dir.path().join("b/var/log/pods");
        let container = pods.join(format!(
            "{WORKLOAD_NAMESPACE}_{WORKLOAD_POD}_0a1b2c3d-1111/{WORKLOAD_CONTAINER}"
        ));
        std::fs::create_dir_all(&container).unwrap();
        let log = container.join("0.log");
        std::fs::write(&log, "").unwrap();
        let config = dir.path().join("b/errtally.toml");
        std::fs::write(
            &config,
            format!(
                "[[input]]\nname = \"default\"\npaths = [\"{}/*/*/*.log\"]\npath_labels = '{}'\n",
                pods.display(),
                kubernetes_path_labels(&pods)
            ),
        )
        .unwrap();
        daemons.push(Daemon::start(&["--config", config.to_str().unwrap()]));
        logs.push(log);
        let instances: Vec<String> = daemons.iter().map(|d| d.address.to_string()).collect();
        let targets: Vec<SocketAddr> = daemons.iter().map(|d| d.address).collect();
        let prometheus_dir = dir.path().join("prometheus");
        std::fs::create_dir(&prometheus_dir).unwrap();
        let (prometheus, agent) = match topology {
            Topology::Direct => (Prometheus::start(&prometheus_dir, &targets), None),
            Topology::Fleet => {
                let central = Prometheus::start_central(&prometheus_dir);
                let agent_dir = dir.path().join("agent");
                std::fs::create_dir(&agent_dir).unwrap();
                let agent = Prometheus::start_agent(&agent_dir, &targets, &central);
                (central, Some(agent))
            }
        };
        Live {
            logs,
            instances,
            prometheus,
            _agent: agent,
            _daemons: daemons,
            _dir: dir,
        }
    }

    fn sorted_instances(&self) -> Vec<String> {
        let mut sorted = self.instances.clone();
        sorted.sort();
        sorted
    }

    /// Waits until both daemons were scraped once with every counter at 0,
    /// so that the burst shows as an increase, then writes the burst to
    /// each daemon's log and waits until Prometheus has scraped all of it.
    /// Returns when the burst was written, in Unix seconds.
    fn write_the_burst_after_a_first_scrape(&self) -> f64 {
        self.prometheus.wait_until("both daemons scraped", |p| {
            p.query("errtally_errors_total{job=\"errtally\",error_type=\"session_not_found\"} == 0")
                .len()
                == 2
        });
        let burst_start = now();
        for (daemon, log) in self.logs.iter().enumerate() {
            let mut text = String::new();
            for (error_type, lines) in BURST {
                text.push_str(&error_line(error_type).repeat(*lines - 1));
                // The last one of each type carries a request ID, the
                // exemplar of its series.
                text.push_str(&format!(
                    "{{\"ts\":\"2026-11-29T01:02:04Z\",\"request_id\":\"{}\",\"status_code\":404,\"error_type\":\"{error_type}\"}}\n",
                    request_id(daemon, error_type)
                ));
            }
            text.push_str(
                &"{\"status_code\":404,\"error_type\":\"brand_new_not_found\"}\n"
                    .repeat(UNCATALOGUED_404S),
            );
            text.push_str(&"{\"level\":\"info\",\"msg\":\"ok\"}\n".repeat(PLAIN_LINES));
            append(log, &text);
        }
        let lines_per_daemon =
            BURST.iter().map(|(_, n)| n).sum::<usize>() + UNCATALOGUED_404S + PLAIN_LINES;
        self.prometheus
            .wait_until("the burst scraped from both daemons", |p| {
                p.query(&format!(
                    "errtally_lines_total{{job=\"errtally\",source=\"default\"}} == {lines_per_daemon}"
                ))
                .len()
                    == 2
            });
        burst_start
    }
}

/// The request ID of daemon `daemon`'s last burst line of `error_type`.
fn request_id(daemon: usize, error_type: &str) -> String {
    format!("request-id-burst-{daemon}-{error_type}")
}

/// On the central server of the fleet path, the request IDs of the burst
/// arrived as exemplars of their series, one per daemon and type, with
/// their records' time.
fn the_request_ids_arrive_as_exemplars(prometheus: &Prometheus, instances: &[String]) {
    let mut expected: Vec<(String, String, String)> = Vec::new();
    for (daemon, instance) in instances.iter().enumerate() {
        for (error_type, _) in BURST {
            expected.push((
                instance.clone(),
                (*error_type).to_owned(),
                request_id(daemon, error_type),
            ));
        }
    }
    expected.sort();
    let mut got = Vec::new();
    prometheus.wait_until("the burst's exemplars", |p| {
        let data = p.api(
            "/api/v1/query_exemplars",
            &[
                ("query", "errtally_errors_total{job=\"errtally\"}"),
                // The records' own time, a week before the test runs.
                ("start", "1795914000"),
                ("end", &format!("{}", now() + 60.0)),
            ],
        );
        got = data
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|series| {
                let labels = &series["seriesLabels"];
                let (instance, error_type) = (
                    labels["instance"].as_str().unwrap_or_default().to_owned(),
                    labels["error_type"].as_str().unwrap_or_default().to_owned(),
                );
                series["exemplars"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(move |exemplar| {
                        assert_eq!(exemplar["timestamp"].as_f64(), Some(1_795_914_124.0));
                        (
                            instance.clone(),
                            error_type.clone(),
                            exemplar["labels"]["request_id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        got.sort();
        got.dedup();
        got == expected
    });
    assert_eq!(got, expected);
}

/// The shipped rule groups are loaded (their health is checked by
/// [`every_rule_evaluates_without_error`]).
fn the_shipped_rule_groups_are_loaded(prometheus: &Prometheus) {
    let groups = prometheus.api("/api/v1/rules", &[])["groups"].clone();
    let mut names: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "errtally-recording",
            "errtally-self-health",
            "errtally-stytch-404"
        ]
    );
}

fn the_burst_counts_arrive_exactly(prometheus: &Prometheus) {
    let totals =
        prometheus.query("sum by (error_type) (errtally_errors_total{job=\"errtally\"}) > 0");
    let mut seen: Vec<(String, String)> = totals
        .iter()
        .map(|s| {
            (
                label(s, "error_type").to_string(),
                s["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(String, String)> = BURST
        .iter()
        .map(|(t, n)| (t.to_string(), (2 * n).to_string()))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

/// The burst fires its alerts; nothing else is pending or firing at any
/// point, self-health least of all.
fn the_burst_fires_its_alerts_and_nothing_else(prometheus: &Prometheus) {
    let mut unexpected = BTreeSet::new();
    prometheus.wait_until("the burst's alerts firing", |p| {
        let alerts = p.alerts();
        for alert in &alerts {
            let key = (
                alert["labels"]["alertname"].as_str().unwrap_or_default(),
                alert["labels"]["error_type"].as_str().unwrap_or_default(),
            );
            if !EXPECTED_FIRING.contains(&key) {
                unexpected.insert(format!("{} {}", alert["state"], alert["labels"]));
            }
        }
        EXPECTED_FIRING.iter().all(|(name, error_type)| {
            alerts.iter().any(|a| {
                a["state"] == "firing"
                    && a["labels"]["alertname"] == *name
                    && a["labels"]["error_type"] == *error_type
            })
        })
    });
    assert_eq!(unexpected, BTreeSet::new(), "alerts without cause");
}

/// Each firing alert's labels and annotations are the catalogue's
/// knowledge of its type, read from the shipped JSON.
fn the_alerts_carry_the_catalogues_knowledge(prometheus: &Prometheus) {
    let alerts = prometheus.alerts();
    assert_eq!(alerts.len(), EXPECTED_FIRING.len(), "{alerts:#?}");
    for (name, error_type) in EXPECTED_FIRING {
        let alert = alerts
            .iter()
            .find(|a| a["labels"]["alertname"] == *name)
            .unwrap();
        let labels = alert["labels"].as_object().unwrap();
        let annotations = &alert["annotations"];
        let knowledge = catalogue_labels(error_type);
        let mut expected_labels: Vec<(&str, String)> = vec![
            ("alertname", name.to_string()),
            ("error_type", error_type.to_string()),
            ("job", "errtally".to_string()),
            ("severity", "warning".to_string()),
        ];
        expected_labels.extend(knowledge.iter().cloned());
        expected_labels.sort();
        let mut got: Vec<(&str, String)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap().to_string()))
            .collect();
        got.sort();
        assert_eq!(got, expected_labels, "{name}");
        let description = annotations["description"].as_str().unwrap();
        for (key, value) in &knowledge {
            match *key {
                "causes" => {
                    assert!(description.contains(&format!("\nCommon causes: {value}\n")));
                }
                "troubleshooting" => {
                    assert!(description.contains(&format!("\nWhat to do: {value}\n")));
                }
                "summary" => {
                    assert!(description.contains(&format!("\nWhat it means: {value}")));
                    continue;
                }
                "doc_url" => {
                    assert_eq!(annotations["runbook_url"], value.as_str());
                    continue;
                }
                _ => {}
            }
            assert_eq!(annotations[*key], value.as_str(), "{name} annotation {key}");
        }
    }
    // session_not_found's second step is the one on-call needs.
    assert!(
        catalogue_labels("session_not_found")
            .iter()
            .any(|(k, v)| *k == "troubleshooting" && v.contains("2. In most cases, a session_not_found error should prompt your app to re-authenticate the user"))
    );
}

fn every_rule_evaluates_without_error(prometheus: &Prometheus) {
    let groups = prometheus.api("/api/v1/rules", &[])["groups"].clone();
    let mut rules = 0;
    for group in groups.as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
            assert_eq!(rule["lastError"].as_str().unwrap_or_default(), "", "{rule}");
            rules += 1;
        }
    }
    assert_eq!(
        rules,
        dashboards::defined_recordings().len()
            + dashboards::alert_names(&dashboards::read("alerts.yml")).len()
    );
}

/// The dashboard's variables as Grafana fills them in with every value
/// selected: both instances through `instance_regex`.
fn dashboard_selection(instance_regex: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("job", "errtally"),
        ("instance", instance_regex),
        ("source", ".+"),
        ("namespace", ".*"),
        ("pod", ".*"),
        ("container", ".*"),
        ("error_type", ".+"),
        ("__rate_interval", "1m"),
        ("__range", "1h"),
    ]
}

/// The dashboard's variables list what the daemons serve.
fn the_dashboard_variables_list_what_the_daemons_serve(
    prometheus: &Prometheus,
    selected: &[(&str, &str)],
    sorted_instances: &[String],
) {
    let values = |name: &str, selector: &str| -> Vec<String> {
        let mut values: Vec<String> = prometheus
            .api(
                &format!("/api/v1/label/{name}/values"),
                &[("match[]", selector)],
            )
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        values.sort();
        values
    };
    for v in dashboard()["templating"]["list"].as_array().unwrap() {
        let Some(definition) = v["definition"].as_str() else {
            continue;
        };
        let (selector, label_name) = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|rest| rest.rsplit_once(", "))
            .unwrap();
        let got = values(label_name, &substitute(selector, selected));
        match label_name {
            "job" => assert_eq!(got, ["errtally"]),
            "instance" => assert_eq!(got, sorted_instances),
            "source" => assert_eq!(got, ["default"]),
            "namespace" => assert_eq!(got, [WORKLOAD_NAMESPACE]),
            "pod" => assert_eq!(got, [WORKLOAD_POD]),
            "container" => assert_eq!(got, [WORKLOAD_CONTAINER]),
            "error_type" => assert_eq!(got.len(), 46, "{got:?}"),
            other => panic!("unchecked variable {other}"),
        }
    }
}

/// Every query of every panel evaluates, and has data where the traffic
/// implies it: everything but the baseline. A series that appeared with
/// the burst (uncatalogued errors) needs a second scrape and a rule
/// evaluation before it has a rate, so each query may take a few polls.
fn every_dashboard_query_has_data_where_the_traffic_implies_it(
    prometheus: &Prometheus,
    selected: &[(&str, &str)],
    sorted_instances: &[String],
    burst_start: f64,
) {
    let start = format!("{}", burst_start - 5.0);
    let evaluate = |p: &Prometheus, promql: &str, instant: bool| -> Vec<Value> {
        if instant {
            return p.query(promql);
        }
        let end = format!("{}", now());
        p.api(
            "/api/v1/query_range",
            &[
                ("query", promql),
                ("start", &start),
                ("end", &end),
                ("step", "1"),
            ],
        )["result"]
            .as_array()
            .unwrap()
            .clone()
    };
    let mut checked = 0;
    for Query {
        panel,
        ref_id,
        expr,
        instant,
    } in queries(&dashboard())
    {
        let promql = substitute(&expr, selected);
        let empty_expected = EXPECTED_EMPTY
            .iter()
            .any(|(p, r, _)| *p == panel && *r == ref_id);
        let mut result = Vec::new();
        if empty_expected {
            result = evaluate(prometheus, &promql, instant);
            assert_eq!(result, Vec::<Value>::new(), "{panel} {ref_id}: {promql}");
        } else {
            prometheus.wait_until(&format!("data for {panel} {ref_id}: {promql}"), |p| {
                result = evaluate(p, &promql, instant);
                !result.is_empty()
            });
        }
        // Per-instance panels see both instances through the regex.
        if promql.contains("errtally_config_last_reload_successful") {
            let mut got: Vec<&str> = result.iter().map(|s| label(s, "instance")).collect();
            got.sort();
            assert_eq!(got, sorted_instances, "{panel}");
        }
        checked += 1;
    }
    assert_eq!(checked, queries(&dashboard()).len());
}

/// The instant result of the panel titled `title` under `selected`.
fn panel_now(prometheus: &Prometheus, selected: &[(&str, &str)], title: &str) -> Vec<Value> {
    let query = queries(&dashboard())
        .into_iter()
        .find(|q| q.panel == title)
        .unwrap();
    prometheus.query(&substitute(&query.expr, selected))
}

/// Exact answers where the dashboard counts: the burst's types, each with
/// the catalogue's labels but its summary.
fn the_error_type_panels_count_the_burst_with_its_knowledge(
    prometheus: &Prometheus,
    selected: &[(&str, &str)],
) {
    let types_seen = panel_now(prometheus, selected, "Error types seen in range");
    assert_eq!(types_seen[0]["value"][1], BURST.len().to_string());
    let mut table: Vec<(String, Vec<(String, String)>)> = panel_now(
        prometheus,
        selected,
        "Top error types in range, with causes and what to do",
    )
    .iter()
    .map(|s| {
        let mut labels: Vec<(String, String)> = s["metric"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "error_type")
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        labels.sort();
        (label(s, "error_type").to_string(), labels)
    })
    .collect();
    table.sort();
    let mut expected_table: Vec<(String, Vec<(String, String)>)> = BURST
        .iter()
        .map(|(error_type, _)| {
            let mut labels: Vec<(String, String)> = catalogue_labels(error_type)
                .into_iter()
                .filter(|(k, _)| *k != "summary")
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            labels.sort();
            (error_type.to_string(), labels)
        })
        .collect();
    expected_table.sort();
    assert_eq!(table, expected_table);
}

/// The workloads table: each burst type once for daemon a's unlabelled
/// input and once for daemon b's pod; picking the namespace leaves b's.
fn the_workloads_table_shows_each_input_and_filters_by_namespace(
    prometheus: &Prometheus,
    selected: &[(&str, &str)],
) {
    let workload_rows = |selected: &[(&str, &str)]| -> BTreeSet<[String; 5]> {
        panel_now(
            prometheus,
            selected,
            "Top workloads in range, by error type",
        )
        .iter()
        .map(|s| {
            ["source", "namespace", "pod", "container", "error_type"]
                .map(|l| label(s, l).to_string())
        })
        .collect()
    };
    let workload = |namespace: &str, pod: &str, container: &str| -> BTreeSet<[String; 5]> {
        BURST
            .iter()
            .map(|(t, _)| ["default", namespace, pod, container, t].map(String::from))
            .collect()
    };
    let pod_rows = workload(WORKLOAD_NAMESPACE, WORKLOAD_POD, WORKLOAD_CONTAINER);
    assert_eq!(workload_rows(selected), &workload("", "", "") | &pod_rows);
    let mut one_namespace = selected.to_vec();
    one_namespace.retain(|(name, _)| *name != "namespace");
    one_namespace.push(("namespace", WORKLOAD_NAMESPACE));
    assert_eq!(workload_rows(&one_namespace), pod_rows);
}

/// The recorded fleet rates: one per burst type, and one per namespace
/// (b's, and a's without one), each after the recording rule's next
/// evaluation following the last scrape.
fn the_fleet_rates_cover_every_burst_type_and_both_namespaces(
    prometheus: &Prometheus,
    selected: &[(&str, &str)],
) {
    let mut burst_types: Vec<&str> = BURST.iter().map(|(t, _)| *t).collect();
    burst_types.sort_unstable();
    let mut fleet_types = Vec::new();
    prometheus.wait_until("the fleet rate of every burst type", |p| {
        fleet_types = panel_now(p, selected, "404 rate per error_type, whole fleet")
            .iter()
            .map(|s| label(s, "error_type").to_string())
            .collect();
        fleet_types.sort();
        fleet_types == burst_types
    });
    prometheus.wait_until("the fleet rate of both namespaces", |p| {
        let namespaces: BTreeSet<String> =
            panel_now(p, selected, "404 rate per namespace, whole fleet")
                .iter()
                .map(|s| label(s, "namespace").to_string())
                .collect();
        namespaces == BTreeSet::from([String::new(), WORKLOAD_NAMESPACE.to_string()])
    });
}
