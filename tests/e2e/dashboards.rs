//! `dashboards/`: the recording and alerting rules pass `promtool check
//! rules` and their unit tests, the example prometheus.yml passes `promtool
//! check config`, and the Grafana dashboard follows dashboard-linter's
//! conventions (the linter is a Go tool no registry here ships, so these
//! tests check them on the JSON) with queries that are valid PromQL naming
//! only metrics errtally serves. `prometheus_live.rs` runs them all on a
//! real Prometheus.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::daemon_support::{Daemon, append, error_line};

/// The families that carry an input's `path_labels`.
const LABELLED: &[&str] = &[
    "errtally_errors_total",
    "errtally_uncatalogued_errors_total",
    "errtally_lines_total",
];

/// The workload labels the dashboard filters on: those the shipped
/// Kubernetes `path_labels` capture.
pub(crate) const WORKLOAD_LABELS: &[&str] = &["namespace", "pod", "container"];

/// Every `errtally_` metric family the daemon serves.
const METRICS: &[&str] = &[
    "errtally_errors_total",
    "errtally_uncatalogued_errors_total",
    "errtally_error_hint_info",
    "errtally_error_last_seen_timestamp_seconds",
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

/// Self-metrics that only alerts read, not panels: the checkpoint's (always
/// served) and the label-set overflow (served once an input has
/// `path_labels`).
const ALERTED_ONLY: &[&str] = &[
    "errtally_checkpoint_errors_total",
    "errtally_checkpoint_last_success_timestamp_seconds",
    "errtally_label_sets_dropped_total",
];

pub(crate) fn dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

pub(crate) fn read(name: &str) -> String {
    std::fs::read_to_string(dashboards().join(name))
        .unwrap_or_else(|e| panic!("dashboards/{name}: {e}"))
}

/// Runs promtool in `dashboards/` and asserts it succeeds; returns stdout.
/// A missing promtool fails the test.
pub(crate) fn promtool(args: &[&str]) -> String {
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
        .filter(|name| !METRICS.contains(&name.as_str()) && !ALERTED_ONLY.contains(&name.as_str()))
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
pub(crate) fn defined_recordings() -> BTreeSet<String> {
    read("recording.yml")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- record:"))
        .map(|name| name.trim().to_string())
        .collect()
}

/// Every panel, rows' nested panels included.
pub(crate) fn panels(dashboard: &Value) -> Vec<&Value> {
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

/// One query of a dashboard panel.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// The panel's title.
    pub panel: String,
    /// The target's refId.
    pub ref_id: String,
    /// The PromQL, with Grafana's variables still in it.
    pub expr: String,
    /// Whether Grafana runs it as an instant query (else as a range query).
    pub instant: bool,
}

/// Every query target of every panel.
pub(crate) fn queries(dashboard: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("a target of {} has no expr", panel["title"]));
            out.push(Query {
                panel: panel["title"].as_str().unwrap_or_default().to_string(),
                ref_id: target["refId"].as_str().unwrap_or_default().to_string(),
                expr: expr.to_string(),
                instant: target["instant"] == true,
            });
        }
    }
    out
}

/// `expr` with Grafana's variables replaced by `values` (`("job",
/// "errtally")` replaces `$job`), longest names first so that `$__range`
/// does not eat into `$__range_s`.
pub(crate) fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    let mut values = values.to_vec();
    values.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let mut expr = expr.to_string();
    for (name, value) in values {
        expr = expr.replace(&format!("${name}"), value);
    }
    assert!(!expr.contains('$'), "a variable is left in {expr}");
    expr
}

/// A metric selector of a PromQL expression, found by [`selectors`].
#[derive(Debug, PartialEq)]
pub(crate) struct Selector {
    /// The metric name (empty for `{__name__=...}`).
    pub name: String,
    /// What stands between the braces, white space removed.
    pub matchers: String,
    /// The range of a range vector selector (`5m`, `$__rate_interval`).
    pub range: Option<String>,
    /// The innermost function or aggregation around it ("" when none).
    pub function: String,
}

/// Aggregation operators: their `by`/`without` clause may stand between
/// the name and the parenthesis.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];

/// Keywords followed by a parenthesised label list.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Keywords that are neither selectors nor calls.
const KEYWORDS: &[&str] = &["and", "or", "unless", "offset", "bool", "atan2"];

/// The index just past the bracket that closes the one at `open`, skipping
/// quoted strings.
fn past_closing(bytes: &[u8], open: usize) -> usize {
    let (opening, closing) = (
        bytes[open],
        match bytes[open] {
            b'(' => b')',
            b'{' => b'}',
            _ => b']',
        },
    );
    let mut depth = 0;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' | b'`' => {
                i = past_string(bytes, i);
                continue;
            }
            b if b == opening => depth += 1,
            b if b == closing => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!(
        "unbalanced {} in {}",
        opening as char,
        String::from_utf8_lossy(bytes)
    );
}

/// The index just past the string literal starting at `open`.
fn past_string(bytes: &[u8], open: usize) -> usize {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && quote != b'`' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            return i + 1;
        }
        i += 1;
    }
    panic!("unterminated string in {}", String::from_utf8_lossy(bytes));
}

/// Every metric selector of `expr`: a small PromQL lexer, enough for the
/// linter's selector rules (which matchers, which range, inside which
/// function). Grafana's variables may stand in strings and ranges.
pub(crate) fn selectors(expr: &str) -> Vec<Selector> {
    let bytes = expr.as_bytes();
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    let mut calls: Vec<String> = Vec::new();
    let mut callee: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte.is_ascii_whitespace() {
            i += 1;
        } else if matches!(byte, b'"' | b'\'' | b'`') {
            i = past_string(bytes, i);
        } else if byte.is_ascii_digit() || byte == b'.' {
            // A number or a duration (`offset 1h`).
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
        } else if byte == b'(' {
            calls.push(callee.take().unwrap_or_default());
            i += 1;
        } else if byte == b')' {
            calls.pop();
            i += 1;
        } else if byte == b'{' || byte.is_ascii_alphabetic() || byte == b'_' || byte == b':' {
            let start = i;
            while i < bytes.len() && is_name_char(bytes[i]) {
                i += 1;
            }
            let name = &expr[start..i];
            let next = skip_space(i);
            let opens = next < bytes.len() && bytes[next] == b'(';
            if LABEL_LISTS.contains(&name) {
                if opens {
                    i = past_closing(bytes, next);
                }
            } else if KEYWORDS.contains(&name) {
            } else if AGGREGATIONS.contains(&name) || (opens && !name.is_empty()) {
                callee = Some(name.to_string());
            } else {
                let mut at = next;
                let mut matchers = String::new();
                if at < bytes.len() && bytes[at] == b'{' {
                    let end = past_closing(bytes, at);
                    matchers = expr[at + 1..end - 1]
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect();
                    at = skip_space(end);
                }
                let mut range = None;
                if at < bytes.len() && bytes[at] == b'[' {
                    let end = past_closing(bytes, at);
                    range = Some(expr[at + 1..end - 1].trim().to_string());
                    at = end;
                }
                out.push(Selector {
                    name: name.to_string(),
                    matchers,
                    range,
                    function: calls.last().cloned().unwrap_or_default(),
                });
                i = at.max(i);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The panels dashboards/.lint exempts from `rule` (the dashboard-linter's
/// exclusion file; JSON is valid YAML, so serde_json reads it).
pub(crate) fn lint_exclusions(rule: &str) -> BTreeSet<String> {
    let lint: Value = serde_json::from_str(&read(".lint")).expect(".lint is JSON");
    let exclusion = &lint["exclusions"][rule];
    if exclusion.is_null() {
        return BTreeSet::new();
    }
    assert!(
        exclusion["reason"].as_str().is_some_and(|r| !r.is_empty()),
        ".lint: {rule} needs a reason"
    );
    let title = dashboard()["title"].as_str().unwrap().to_string();
    exclusion["entries"]
        .as_array()
        .expect(".lint: excluding a whole rule hides too much; name the panels")
        .iter()
        .map(|entry| {
            // The linter matches an entry only when its dashboard matches.
            assert_eq!(entry["dashboard"], title.as_str(), ".lint entry {entry}");
            entry["panel"].as_str().unwrap().to_string()
        })
        .collect()
}

pub(crate) fn dashboard() -> Value {
    serde_json::from_str(&read("errtally.json")).expect("errtally.json is not JSON")
}

/// The alert names defined in alerts.yml.
pub(crate) fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_string())
        .collect()
}

/// The Stytch alerts that join the catalogue's hints.
pub(crate) const STYTCH_ALERTS: &[&str] = &[
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
    the_alerts_are_the_stytch_ones_then_self_health(&rules);
    for name in STYTCH_ALERTS {
        the_stytch_alert_carries_the_knowledge_and_a_floor(&rules, name);
    }
    assert_eq!(unknown_names(&rules), Vec::<String>::new(), "alerts.yml");
    let recording = read("recording.yml");
    assert_eq!(
        unknown_names(&recording),
        Vec::<String>::new(),
        "recording.yml"
    );
    the_recorded_series_are_defined_and_named_by_level(&rules);
}

fn the_alerts_are_the_stytch_ones_then_self_health(rules: &str) {
    let mut expected: Vec<&str> = STYTCH_ALERTS.to_vec();
    expected.extend([
        "Stytch404Uncatalogued",
        "ErrtallyDown",
        "ErrtallyInputDown",
        "ErrtallyLabelSetsOverflow",
        "ErrtallyCheckpointFailing",
        "ErrtallyReadErrors",
        "ErrtallyInputLagGrowing",
        "ErrtallyConfigReloadFailed",
        "ErrtallyNoLinesRead",
        "ErrtallyRecordingRulesMissing",
    ]);
    assert_eq!(alert_names(rules), expected);
}

/// The alert carries the catalogue's whole knowledge, and has a fixed
/// threshold that needs no history beside its baseline.
fn the_stytch_alert_carries_the_knowledge_and_a_floor(rules: &str, name: &str) {
    let rule = rule_text(rules, name);
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

/// The alerts read only series the recording rules define, each named
/// level:metric:operations, the level being the labels kept.
fn the_recorded_series_are_defined_and_named_by_level(rules: &str) {
    let defined = defined_recordings();
    for name in recorded_names(rules) {
        assert!(defined.contains(&name), "alerts.yml reads undefined {name}");
    }
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
    // Nor errtally_error_last_seen_timestamp_seconds before a catalogued
    // one.
    append(
        &dir.path().join("app.log"),
        &(error_line("not_in_any_catalogue_not_found") + &error_line("email_not_found")),
    );
    daemon.wait_until("an uncatalogued and a catalogued error", || {
        let metrics = daemon.metrics();
        metrics.contains("errtally_uncatalogued_errors_total{")
            && metrics.contains("errtally_error_last_seen_timestamp_seconds{")
    });
    let exposition = daemon.metrics();
    for name in METRICS.iter().chain(&ALERTED_ONLY[..2]) {
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

/// Units the panels may use: a subset of those dashboard-linter accepts.
const UNITS: &[&str] = &[
    "none",
    "short",
    "percent",
    "percentunit",
    "bytes",
    "Bps",
    "reqps",
    "cps",
    "s",
    "dateTimeFromNow",
];

#[test]
fn dashboards_grafana_dashboard_follows_the_linter_conventions() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 36);
    the_variables_follow_the_template_rules(&dashboard);
    let excluded = lint_exclusions("target-instance-rule");
    every_panel_has_an_id_title_description_unit_and_datasource(&dashboard, &excluded);
    let queries = queries(&dashboard);
    let recorded = defined_recordings();
    for query in &queries {
        every_selector_follows_the_target_rules(query, &excluded, &recorded);
    }
    every_filter_narrows_some_query(&queries);
    every_recording_rule_is_shown_and_none_undefined(&queries, &recorded);
}

/// template-datasource-rule, template-job-rule, template-instance-rule,
/// the same shape for the other filters, and
/// template-on-time-change-reload.
fn the_variables_follow_the_template_rules(dashboard: &Value) {
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
    assert_eq!(datasource["label"], "Data source");
    // The workload filters' All is `.*`, not `.+`, so that the series of
    // inputs without path_labels, which lack those labels, still match it.
    for (name, label, definition, all) in [
        ("job", "Job", "label_values(errtally_build_info, job)", ".+"),
        (
            "instance",
            "Instance",
            "label_values(errtally_build_info{job=~\"$job\"}, instance)",
            ".+",
        ),
        (
            "source",
            "Source",
            "label_values(errtally_lines_total{job=~\"$job\",instance=~\"$instance\"}, source)",
            ".+",
        ),
        (
            "namespace",
            "Namespace",
            "label_values(errtally_lines_total{job=~\"$job\",instance=~\"$instance\",source=~\"$source\"}, namespace)",
            ".*",
        ),
        (
            "pod",
            "Pod",
            "label_values(errtally_lines_total{job=~\"$job\",instance=~\"$instance\",source=~\"$source\",namespace=~\"$namespace\"}, pod)",
            ".*",
        ),
        (
            "container",
            "Container",
            "label_values(errtally_lines_total{job=~\"$job\",instance=~\"$instance\",source=~\"$source\",namespace=~\"$namespace\",pod=~\"$pod\"}, container)",
            ".*",
        ),
        (
            "error_type",
            "Error type",
            "label_values(errtally_errors_total{job=~\"$job\",instance=~\"$instance\",source=~\"$source\"}, error_type)",
            ".+",
        ),
    ] {
        let v = variable(name);
        assert_eq!(v["type"], "query", "{name}");
        assert_eq!(v["label"], label, "{name}");
        assert_eq!(v["definition"], definition, "{name}");
        assert_eq!(v["query"]["query"], definition, "{name}");
        assert_eq!(v["datasource"]["uid"], "${datasource}", "{name}");
        assert_eq!(v["multi"], true, "{name}");
        assert_eq!(v["includeAll"], true, "{name}");
        assert_eq!(v["allValue"], all, "{name}");
    }
    assert_eq!(variables.len(), 8, "a new variable needs its checks here");
    for v in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(v["refresh"], 2, "{}", v["name"]);
    }
}

/// Unique ids and titles; panel-title-description-rule,
/// panel-datasource-rule, panel-units-rule; and every panel `.lint`
/// excludes exists.
fn every_panel_has_an_id_title_description_unit_and_datasource(
    dashboard: &Value,
    excluded: &BTreeSet<String>,
) {
    let mut ids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for panel in panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate panel id {}",
            panel["id"]
        );
        assert!(!title.is_empty(), "panel {} has no title", panel["id"]);
        assert!(titles.insert(title.to_string()), "duplicate title {title}");
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            panel["description"].as_str().is_some_and(|d| d.len() > 20),
            "{title} has no description"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let unit = panel["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .unwrap_or_else(|| panic!("{title} has no unit"));
        assert!(UNITS.contains(&unit), "{title}: unit {unit}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
        }
    }
    for panel in excluded {
        assert!(titles.contains(panel), ".lint names no panel {panel:?}");
    }
}

/// target-job-rule, target-instance-rule (but for `.lint`'s exclusions,
/// which read recorded series only), the workload filters exactly where
/// the series can carry path labels, target-rate-interval-rule and
/// target-counter-agg-rule.
fn every_selector_follows_the_target_rules(
    query: &Query,
    excluded: &BTreeSet<String>,
    recorded: &BTreeSet<String>,
) {
    let Query {
        panel,
        expr,
        instant,
        ..
    } = query;
    let found = selectors(expr);
    assert!(!found.is_empty(), "{panel}: no selector in {expr}");
    for selector in found {
        let name = &selector.name;
        assert!(
            selector.matchers.contains("job=~\"$job\""),
            "{panel}: {name} has no job matcher in {expr}"
        );
        if excluded.contains(panel) {
            // Exempt only because it reads series without instance.
            assert!(
                recorded.contains(name),
                "{panel}: {name} is not a recorded series, so it needs $instance"
            );
        } else {
            assert!(
                selector.matchers.contains("instance=~\"$instance\""),
                "{panel}: {name} has no instance matcher in {expr}"
            );
        }
        // The workload filters wherever the series can carry path labels:
        // the labelled families, and a recorded series whose level keeps
        // the label; nowhere else, where they would match nothing once a
        // workload is picked.
        for label in WORKLOAD_LABELS {
            let carries = if name.contains(':') {
                name.split(':')
                    .next()
                    .is_some_and(|level| level.split('_').any(|part| part == *label))
            } else {
                LABELLED.contains(&name.as_str())
            };
            assert_eq!(
                selector
                    .matchers
                    .contains(&format!("{label}=~\"${label}\"")),
                carries,
                "{panel}: {name} and ${label} in {expr}"
            );
        }
        // increase may also sum the whole time range in an instant query.
        if let Some(range) = &selector.range {
            match selector.function.as_str() {
                "rate" | "irate" => assert_eq!(range, "$__rate_interval", "{panel}: {expr}"),
                "increase" => assert!(
                    range == "$__rate_interval" || (range == "$__range" && *instant),
                    "{panel}: {expr}"
                ),
                other => panic!("{panel}: a range inside {other:?}: {expr}"),
            }
        }
        if name.ends_with("_total") {
            assert!(
                selector.range.is_some()
                    && matches!(selector.function.as_str(), "rate" | "irate" | "increase"),
                "{panel}: counter {name} is not in rate or increase: {expr}"
            );
        }
    }
}

/// template-unused: every filter narrows some query.
fn every_filter_narrows_some_query(queries: &[Query]) {
    for name in [
        "job",
        "instance",
        "source",
        "namespace",
        "pod",
        "container",
        "error_type",
    ] {
        assert!(
            queries
                .iter()
                .any(|q| q.expr.contains(&format!("=~\"${name}\""))),
            "no query uses ${name}"
        );
    }
}

/// The recording rules are used where they fit: the fleet row, and only
/// recorded names the rules define.
fn every_recording_rule_is_shown_and_none_undefined(
    queries: &[Query],
    recorded: &BTreeSet<String>,
) {
    let mut used_recorded = BTreeSet::new();
    for query in queries {
        for name in recorded_names(&query.expr) {
            assert!(
                recorded.contains(&name),
                "{}: undefined {name}",
                query.panel
            );
            used_recorded.insert(name);
        }
    }
    assert_eq!(&used_recorded, recorded, "a recording rule no panel shows");
}

#[test]
fn dashboards_grafana_dashboard_queries_only_served_metrics() {
    let dashboard = dashboard();
    let queries = queries(&dashboard);
    assert!(queries.len() >= 25, "only {} queries", queries.len());
    let mut used = BTreeSet::new();
    for Query {
        panel,
        ref_id,
        expr,
        ..
    } in &queries
    {
        let unknown = unknown_names(expr);
        assert!(
            unknown.is_empty(),
            "panel {panel:?} {ref_id} uses unknown metrics {unknown:?}: {expr}"
        );
        used.extend(metric_names(expr));
    }
    // The panels the on-call needs are there.
    for name in METRICS {
        assert!(used.contains(*name), "no panel shows {name}");
    }
    let filters = "job=~\"$job\",instance=~\"$instance\",source=~\"$source\",namespace=~\"$namespace\",pod=~\"$pod\",container=~\"$container\",error_type=~\"$error_type\"";
    assert!(queries.iter().any(|q| q.expr.contains(&format!(
        "sum by (error_type) (rate(errtally_errors_total{{{filters}}}[$__rate_interval]))"
    ))));
    assert!(queries.iter().any(|q| {
        q.expr
            .contains("group_left (hint, causes, troubleshooting, doc_url)")
            && q.expr.contains("errtally_error_hint_info")
    }));
    // The workloads row: the busiest workloads' rates, and the top
    // workload and type pairs over the range.
    assert!(queries.iter().any(|q| q.expr == format!(
        "topk(10, sum by (source, namespace, pod, container) (rate(errtally_errors_total{{{filters}}}[$__rate_interval])) > 0)"
    ) && !q.instant));
    assert!(queries.iter().any(|q| q.expr == format!(
        "topk(20, sum by (source, namespace, pod, container, error_type) (increase(errtally_errors_total{{{filters}}}[$__range])) > 0)"
    ) && q.instant));
}

/// What the tests put in place of Grafana's variables: everything selected
/// (the `allValue`), a rate interval of 1m and a time range of 1h.
pub(crate) const ALL_SELECTED: &[(&str, &str)] = &[
    ("job", ".+"),
    ("instance", ".+"),
    ("source", ".+"),
    ("namespace", ".*"),
    ("pod", ".*"),
    ("container", ".*"),
    ("error_type", ".+"),
    ("__rate_interval", "1m"),
    ("__range", "1h"),
];

#[test]
fn dashboards_grafana_queries_are_valid_promql() {
    // promtool parses each query as a recording rule, with Grafana's
    // variables replaced by what Grafana would put there.
    let dashboard = dashboard();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut variables: Vec<String> = Vec::new();
    for v in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(definition) = v["definition"].as_str() {
            // label_values(SELECTOR, label): the selector is PromQL too.
            let selector = definition
                .strip_prefix("label_values(")
                .and_then(|rest| rest.rsplit_once(','))
                .map(|(selector, _)| selector)
                .unwrap_or_else(|| panic!("not label_values(...): {definition}"));
            variables.push(selector.to_string());
        }
    }
    let exprs = queries(&dashboard)
        .into_iter()
        .map(|q| q.expr)
        .chain(variables);
    for (i, expr) in exprs.enumerate() {
        let expr = substitute(&expr, ALL_SELECTED);
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
fn dashboards_example_prometheus_config_passes_promtool_and_loads_the_rules() {
    let out = promtool(&["check", "config", "prometheus.yml"]);
    assert!(out.contains("SUCCESS: 2 rule files found"), "{out}");
    let config = read("prometheus.yml");
    assert!(config.contains("rule_files:\n  - recording.yml\n  - alerts.yml\n"));
    assert!(config.contains("  - job_name: errtally\n"));
}

#[test]
fn dashboards_selector_lexer_finds_matchers_ranges_and_functions() {
    let found = selectors(
        "sum by (a) (rate(errtally_errors_total{job=~\"$job\", x=\"}{[\"}[$__rate_interval])) \
         * on (error_type) group_left (hint) topk by (error_type) (1, errtally_error_hint_info) \
         / job:errtally_lines:rate5m offset 1h > 0.5 or vector(0)",
    );
    assert_eq!(
        found,
        [
            Selector {
                name: "errtally_errors_total".into(),
                matchers: "job=~\"$job\",x=\"}{[\"".into(),
                range: Some("$__rate_interval".into()),
                function: "rate".into(),
            },
            Selector {
                name: "errtally_error_hint_info".into(),
                matchers: String::new(),
                range: None,
                function: "topk".into(),
            },
            Selector {
                name: "job:errtally_lines:rate5m".into(),
                matchers: String::new(),
                range: None,
                function: String::new(),
            },
        ]
    );
    assert_eq!(
        substitute("x{a=~\"$job\"}[$__range] $__rate_interval", ALL_SELECTED),
        "x{a=~\".+\"}[1h] 1m"
    );
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

#[test]
fn dashboards_rate_panels_of_the_counted_errors_show_exemplars_and_grafana_links_them() {
    // The raw 404 counters carry exemplars (request IDs); recorded series
    // and ratios do not, so only the rate panels of the raw counters ask.
    for panel in panels(&dashboard()) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let counted = [
                "errtally_errors_total{",
                "errtally_uncatalogued_errors_total{",
            ]
            .iter()
            .any(|family| expr.contains(&format!("rate({family}")));
            let title = panel["title"].as_str().unwrap();
            let wanted = panel["type"] == "timeseries" && counted && !title.starts_with("Share");
            assert_eq!(
                target["exemplar"] == true,
                wanted,
                "{title}: exemplars {}",
                if wanted { "wanted" } else { "not wanted" }
            );
        }
    }
    let provisioning = read("grafana-datasource.yml");
    let root = marked_yaml::parse_yaml(0, &provisioning).unwrap();
    let source = root
        .as_mapping()
        .and_then(|root| root.get_sequence("datasources"))
        .and_then(|sources| sources.first())
        .and_then(|source| source.as_mapping())
        .unwrap();
    assert_eq!(source.get_scalar("type").unwrap().as_str(), "prometheus");
    let destination = source
        .get_mapping("jsonData")
        .and_then(|data| data.get_sequence("exemplarTraceIdDestinations"))
        .and_then(|destinations| destinations.first())
        .and_then(|destination| destination.as_mapping())
        .unwrap();
    assert_eq!(
        destination.get_scalar("name").unwrap().as_str(),
        "request_id"
    );
    assert!(
        destination
            .get_scalar("url")
            .unwrap()
            .as_str()
            .contains("${__value.raw}")
    );
}
