//! `dashboards/`: the alerting rules pass `promtool check rules` and their
//! unit tests, and the Grafana dashboard's queries are valid PromQL that
//! names only metrics errtally serves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::daemon_support::{Daemon, append, error_line};

/// Every `errtally_` metric family the daemon serves.
const METRICS: &[&str] = &[
    "errtally_errors_total",
    "errtally_uncatalogued_errors_total",
    "errtally_error_hint_info",
    "errtally_lines_total",
    "errtally_bytes_total",
    "errtally_lines_truncated_total",
    "errtally_rotations_total",
    "errtally_read_errors_total",
    "errtally_files_watched",
    "errtally_input_lag_bytes",
    "errtally_input_up",
    "errtally_watch_errors_total",
    "errtally_build_info",
    "errtally_config_last_reload_successful",
    "errtally_config_last_reload_success_timestamp_seconds",
];

fn dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dashboards().join(name))
        .unwrap_or_else(|e| panic!("dashboards/{name}: {e}"))
}

/// Runs promtool in `dashboards/` and asserts it succeeds; returns stdout.
/// A missing promtool fails the test.
fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dashboards())
        .output()
        .expect("promtool (Debian package prometheus) is needed");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "promtool {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A character of a metric name, recorded names' colons included.
fn is_name_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b':'
}

/// The `errtally_[a-z_]+` names in `text` (not the `errtally_` inside a
/// recorded name such as `job:errtally_errors:rate5m`).
fn metric_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("errtally_") {
        let start = from + found;
        let mut end = start + "errtally_".len();
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let word_start = start == 0 || !is_name_char(bytes[start - 1]);
        if word_start && end > start + "errtally_".len() {
            names.insert(text[start..end].to_string());
        }
        from = end;
    }
    names
}

fn unknown_names(text: &str) -> Vec<String> {
    metric_names(text)
        .into_iter()
        .filter(|name| !METRICS.contains(&name.as_str()))
        .collect()
}

/// The recorded names (`level:metric:operations`) in `text`.
fn recorded_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut start = 0;
    while start < bytes.len() {
        if !is_name_char(bytes[start]) {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && is_name_char(bytes[end]) {
            end += 1;
        }
        let word = &text[start..end];
        if word.split(':').count() == 3 && word.split(':').all(|part| !part.is_empty()) {
            names.insert(word.to_string());
        }
        start = end;
    }
    names
}

/// The names recording.yml defines.
fn defined_recordings() -> BTreeSet<String> {
    read("recording.yml")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- record:"))
        .map(|name| name.trim().to_string())
        .collect()
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(panel title, refId, expr)` of every query target.
fn targets(dashboard: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("a target of {} has no expr", panel["title"]));
            out.push((
                panel["title"].as_str().unwrap_or_default().to_string(),
                target["refId"].as_str().unwrap_or_default().to_string(),
                expr.to_string(),
            ));
        }
    }
    out
}

fn dashboard() -> Value {
    serde_json::from_str(&read("errtally.json")).expect("errtally.json is not JSON")
}

/// The alert names defined in alerts.yml.
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_string())
        .collect()
}

/// The Stytch alerts that join the catalogue's hints.
const STYTCH_ALERTS: &[&str] = &[
    "Stytch404Spike",
    "StytchOAuthTokenReused",
    "StytchSessionNotFoundSpike",
    "StytchOTPCodeNotFoundSpike",
    "StytchEmailNotFoundSpike",
];

/// The text of one rule of alerts.yml, from its `- alert:` line to the next.
fn rule_text<'a>(rules: &'a str, name: &str) -> &'a str {
    let start = rules
        .find(&format!("- alert: {name}\n"))
        .unwrap_or_else(|| panic!("no alert {name}"));
    let rest = &rules[start + 1..];
    let end = rest
        .find("- alert: ")
        .map_or(rules.len(), |end| start + 1 + end);
    &rules[start..end]
}

#[test]
fn dashboards_alert_rules_pass_promtool_check() {
    let out = promtool(&["check", "rules", "recording.yml", "alerts.yml"]);
    assert_eq!(out.matches("SUCCESS").count(), 2, "{out}");
    let rules = read("alerts.yml");
    let names = alert_names(&rules);
    let mut expected: Vec<&str> = STYTCH_ALERTS.to_vec();
    expected.extend([
        "Stytch404Uncatalogued",
        "ErrtallyDown",
        "ErrtallyInputDown",
        "ErrtallyReadErrors",
        "ErrtallyInputLagGrowing",
        "ErrtallyConfigReloadFailed",
        "ErrtallyNoLinesRead",
        "ErrtallyRecordingRulesMissing",
    ]);
    assert_eq!(names, expected);
    // Every Stytch alert carries the catalogue's whole knowledge, and has a
    // fixed threshold that needs no history beside its baseline.
    for name in STYTCH_ALERTS {
        let rule = rule_text(&rules, name);
        assert!(
            rule.contains(
                "* on (error_type) group_left (hint, summary, doc_url, causes, troubleshooting)\n            topk by (error_type) (1, errtally_error_hint_info)"
            ),
            "{name} does not join the hints"
        );
        for annotation in [
            "hint: '{{ $labels.hint }}'",
            "causes: '{{ $labels.causes }}'",
            "troubleshooting: '{{ $labels.troubleshooting }}'",
            "runbook_url: '{{ $labels.doc_url }}'",
            "Common causes: {{ $labels.causes }}",
            "What to do: {{ $labels.troubleshooting }}",
        ] {
            assert!(rule.contains(annotation), "{name} lacks {annotation}");
        }
        if rule.contains("baseline_rate5m") {
            assert!(
                rule.contains(
                    "unless\n                  job_error_type:errtally_errors:baseline_rate5m"
                ),
                "{name} has no floor for when there is no baseline"
            );
        }
    }
    assert_eq!(unknown_names(&rules), Vec::<String>::new(), "alerts.yml");
    let recording = read("recording.yml");
    assert_eq!(
        unknown_names(&recording),
        Vec::<String>::new(),
        "recording.yml"
    );
    // The alerts read only series the recording rules define.
    let defined = defined_recordings();
    for name in recorded_names(&rules) {
        assert!(defined.contains(&name), "alerts.yml reads undefined {name}");
    }
    // level:metric:operations, the level being the labels kept.
    for name in &defined {
        let parts: Vec<&str> = name.split(':').collect();
        assert!(
            parts[0].split('_').next() == Some("job") && parts[1].starts_with("errtally_"),
            "{name}"
        );
        assert!(!parts[1].ends_with("_total"), "{name}");
    }
}

#[test]
fn dashboards_alert_rules_pass_their_unit_tests() {
    let out = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
    // Every alert is exercised, and the spike test checks the joined hint.
    let tests = read("alerts_test.yml");
    for name in alert_names(&read("alerts.yml")) {
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "alerts_test.yml does not test {name}"
        );
    }
    assert!(
        tests.contains(
            "hint: \"Calling a /send instead of a login_or_create endpoint for a new user;"
        )
    );
    // The steps an on-call person needs for session_not_found are the
    // whole list, not only the first.
    assert!(tests.contains(
        "troubleshooting: \"1. You can pull all of a user’s active sessions using the get sessions endpoint. 2. In most cases, a session_not_found error should prompt your app to re-authenticate the user;"
    ));
    // Each Stytch rule fires in the test without history (the first
    // alert-testing group starts from nothing).
    let fresh = &tests[..tests
        .find("  # With history.")
        .expect("alerts_test.yml has a group with history")];
    for name in STYTCH_ALERTS {
        assert!(
            fresh.contains(&format!(
                "alertname: {name}\n        exp_alerts:\n          - exp_labels:"
            )),
            "{name} is not shown firing without history"
        );
    }
}

#[test]
fn dashboards_rule_tests_use_the_daemons_metrics_and_hints() {
    // The synthetic series must look like what the daemon really serves:
    // known metric names, and hint series exactly as exported (minus the
    // job and instance labels Prometheus adds).
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&[&format!("{}/*.log", dir.path().display())]);
    // errtally_uncatalogued_errors_total has no series before the first
    // uncatalogued error.
    append(
        &dir.path().join("app.log"),
        &error_line("not_in_any_catalogue_not_found"),
    );
    daemon.wait_until("an uncatalogued error", || {
        daemon
            .metrics()
            .contains("errtally_uncatalogued_errors_total{")
    });
    let exposition = daemon.metrics();
    for name in METRICS {
        assert!(
            exposition.contains(&format!("\n# TYPE {name} ")),
            "the daemon does not serve {name}"
        );
    }
    let tests = read("alerts_test.yml");
    let mut hints = 0;
    for line in tests.lines() {
        let Some(series) = line.trim().strip_prefix("- series: '") else {
            continue;
        };
        let series = series.trim_end_matches('\'');
        if let Some(labels) = series.strip_prefix("errtally_error_hint_info{") {
            let labels = labels
                .strip_prefix("instance=\"")
                .and_then(|rest| rest.split_once("\","))
                .map_or(labels, |(_, rest)| rest);
            let labels = labels
                .strip_prefix("job=\"")
                .and_then(|rest| rest.split_once("\","))
                .map_or(labels, |(_, rest)| rest);
            let served = format!("errtally_error_hint_info{{{labels} 1");
            assert!(
                exposition.lines().any(|l| l == served),
                "the daemon does not export {served}"
            );
            hints += 1;
        }
    }
    assert!(hints >= 8, "only {hints} hint series in alerts_test.yml");
    assert_eq!(
        unknown_names(&tests),
        Vec::<String>::new(),
        "alerts_test.yml"
    );
}

#[test]
fn dashboards_grafana_dashboard_queries_only_served_metrics() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    let datasource = variable("datasource");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let source = variable("source");
    assert_eq!(
        source["definition"],
        "label_values(errtally_lines_total, source)"
    );
    assert_eq!(source["multi"], true);
    assert_eq!(source["includeAll"], true);

    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate panel id {}",
            panel["id"]
        );
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{}",
                panel["title"]
            );
        }
    }

    let targets = targets(&dashboard);
    assert!(targets.len() >= 15, "only {} queries", targets.len());
    let mut used = BTreeSet::new();
    for (title, ref_id, expr) in &targets {
        let unknown = unknown_names(expr);
        assert!(
            unknown.is_empty(),
            "panel {title:?} {ref_id} uses unknown metrics {unknown:?}: {expr}"
        );
        used.extend(metric_names(expr));
    }
    // The panels the on-call needs are there.
    for name in METRICS {
        assert!(used.contains(*name), "no panel shows {name}");
    }
    assert!(targets.iter().any(|(_, _, e)| e.contains(
        "sum by (error_type) (rate(errtally_errors_total{source=~\"$source\"}[$__rate_interval]))"
    )));
    assert!(targets.iter().any(|(_, _, e)| {
        e.contains("group_left (hint, doc_url)") && e.contains("errtally_error_hint_info")
    }));
}

#[test]
fn dashboards_grafana_queries_are_valid_promql() {
    // promtool parses each query as a recording rule, with Grafana's
    // variables replaced by what Grafana would put there.
    let dashboard = dashboard();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, _, expr)) in targets(&dashboard).iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$__range", "6h")
            .replace("$source", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("queries.yml");
    std::fs::write(&file, rules).unwrap();
    promtool(&["check", "rules", file.to_str().unwrap()]);
}

#[test]
fn dashboards_metric_name_scan_finds_names() {
    assert_eq!(
        metric_names("sum(rate(errtally_errors_total{a=\"b\"}[5m])) / x_errtally_nope errtally_"),
        BTreeSet::from(["errtally_errors_total".to_string()])
    );
    assert_eq!(
        unknown_names("errtally_bogus_total"),
        ["errtally_bogus_total"]
    );
}
