//! Kubernetes manifests (`config/deploy/kubernetes/`): every file parses,
//! the kustomization lists them all, and the DaemonSet, ConfigMap,
//! ServiceAccount and PodMonitor agree with each other and with errtally
//! itself: the ConfigMap's config passes `errtally check`, its port, state
//! directory and input paths match the pod's port, volumes and mounts, and
//! errtally run with it answers on the probes' and the PodMonitor's paths.
//! No cluster runs here; the image itself is proven in `container.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::container::dockerfile_entrypoint;
use crate::daemon_support::Daemon;
use crate::support::errtally;

fn manifest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/deploy/kubernetes")
}

/// Every YAML document of every file, with its file name.
fn documents() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifest_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let mut documents = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|error| panic!("{name}: not YAML: {error}"));
            documents.push((name.clone(), value));
        }
    }
    documents
}

/// The one object of `kind`.
fn object(kind: &str) -> Value {
    let mut found: Vec<Value> = documents()
        .into_iter()
        .map(|(_, value)| value)
        .filter(|value| value["kind"] == kind)
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind}");
    found.remove(0)
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {value}"))
}

/// The errtally config text the ConfigMap holds, and the key it is under.
fn configmap_config() -> (String, String) {
    let configmap = object("ConfigMap");
    let data = configmap["data"].as_object().unwrap();
    assert_eq!(data.len(), 1, "one config file: {data:?}");
    let (key, text) = data.iter().next().unwrap();
    (key.clone(), str_of(text, key).to_string())
}

/// The ConfigMap's errtally config, parsed.
pub fn config_table() -> toml::Table {
    let (_, text) = configmap_config();
    text.parse().unwrap()
}

/// The DaemonSet's pod spec and its (only) container.
fn pod_and_container() -> (Value, Value) {
    let daemonset = object("DaemonSet");
    let pod = daemonset["spec"]["template"]["spec"].clone();
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = containers[0].clone();
    (pod, container)
}

/// Parses a Kubernetes quantity in the units the manifests use.
fn quantity(text: &str) -> f64 {
    for (suffix, scale) in [("Mi", 1024.0 * 1024.0), ("Gi", 1024.0 * 1024.0 * 1024.0)] {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().unwrap() * scale;
        }
    }
    match text.strip_suffix('m') {
        Some(millis) => millis.parse::<f64>().unwrap() / 1000.0,
        None => text.parse().unwrap(),
    }
}

#[test]
fn every_manifest_parses_and_the_kustomization_lists_them_all() {
    let documents = documents();
    let mut files = BTreeSet::new();
    for (file, value) in &documents {
        assert!(value["apiVersion"].is_string(), "{file}: apiVersion");
        let kind = str_of(&value["kind"], "kind");
        if kind == "Kustomization" {
            continue;
        }
        files.insert(file.clone());
        assert!(value["metadata"]["name"].is_string(), "{file}: name");
        assert_eq!(
            value["metadata"]["labels"]["app.kubernetes.io/name"], "errtally",
            "{file}"
        );
        // Everything but the Namespace itself lives in it, so that a plain
        // `kubectl apply -f` puts it where the kustomization does.
        if kind != "Namespace" {
            assert_eq!(value["metadata"]["namespace"], "errtally", "{file}");
        }
    }
    let kinds: BTreeSet<String> = documents
        .iter()
        .map(|(_, value)| str_of(&value["kind"], "kind").to_string())
        .collect();
    let expected: BTreeSet<String> = [
        "ConfigMap",
        "DaemonSet",
        "Kustomization",
        "Namespace",
        "PodMonitor",
        "ServiceAccount",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds, expected);

    let kustomization = object("Kustomization");
    assert_eq!(kustomization["namespace"], "errtally");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| str_of(file, "resource").to_string())
        .collect();
    assert_eq!(listed, files);
    // Its image override names the DaemonSet's image.
    let (_, container) = pod_and_container();
    let image = str_of(&container["image"], "image");
    let images = kustomization["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(
        image,
        format!(
            "{}:{}",
            str_of(&images[0]["name"], "images.name"),
            str_of(&images[0]["newTag"], "images.newTag")
        )
    );
}

#[test]
fn the_configmap_config_passes_errtally_check() {
    let (key, text) = configmap_config();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(&key);
    std::fs::write(&path, &text).unwrap();
    let output = errtally()
        .args(["check", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("ok (1 inputs, 46 error types, listen_address 0.0.0.0:10404)"),
        "{stdout}"
    );
}

#[test]
fn the_daemonset_agrees_with_its_config_and_the_image() {
    let (pod, container) = pod_and_container();
    let daemonset = object("DaemonSet");
    let config = config_table();
    the_selector_picks_the_templates_pods(&daemonset);
    let port_name =
        config_container_annotation_and_probes_name_one_port(&daemonset, &container, &config);
    the_pod_monitor_scrapes_that_port_keeping_errtallys_labels(&daemonset, &port_name);
    the_service_account_is_the_pods_and_mounts_no_token(&pod);
    every_volume_is_mounted(&pod, &container);
    the_command_is_the_images_entrypoint_reading_the_configmap(&pod, &container);
    the_other_flags_are_ones_errtally_run_knows(&container);
    the_state_directory_is_a_writable_host_path_where_the_config_keeps_it(
        &pod, &container, &config,
    );
    the_log_directories_are_mounted_read_only_and_hold_every_input(&pod, &container, &config);
    the_container_runs_with_least_privilege(&pod, &container);
    the_resources_cover_the_measured_memory_within_limits(&container);
}

/// The template's pod labels.
fn pod_labels(daemonset: &Value) -> &Value {
    &daemonset["spec"]["template"]["metadata"]["labels"]
}

/// The pod's volume `name`.
fn volume(pod: &Value, name: &str) -> Value {
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|volume| volume["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
        .clone()
}

/// The container's mount at `path`.
fn mount_at(container: &Value, path: &str) -> Value {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| mount["mountPath"] == path)
        .unwrap_or_else(|| panic!("nothing mounted at {path}"))
        .clone()
}

/// The selector picks the template's pods (as does the PodMonitor's, in
/// [`the_pod_monitor_scrapes_that_port_keeping_errtallys_labels`]).
fn the_selector_picks_the_templates_pods(daemonset: &Value) {
    for (key, value) in daemonset["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&pod_labels(daemonset)[key], value, "selector {key}");
    }
}

/// The config's listen_address, the container port, the scrape
/// annotation and the probes all name the same port; returns its name.
fn config_container_annotation_and_probes_name_one_port(
    daemonset: &Value,
    container: &Value,
    config: &toml::Table,
) -> String {
    let listen = config["listen_address"].as_str().unwrap();
    let (host, port) = listen.rsplit_once(':').unwrap();
    assert_eq!(host, "0.0.0.0", "must be reachable on the pod IP");
    let port: u64 = port.parse().unwrap();
    let ports = container["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["containerPort"], port);
    assert_eq!(ports[0]["protocol"], "TCP");
    let port_name = str_of(&ports[0]["name"], "port name");
    let annotations = &daemonset["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    for (probe, path) in [
        ("readinessProbe", "/-/ready"),
        ("livenessProbe", "/-/healthy"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], port_name, "{probe}");
    }
    port_name.to_string()
}

fn the_pod_monitor_scrapes_that_port_keeping_errtallys_labels(daemonset: &Value, port_name: &str) {
    let monitor = object("PodMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &pod_labels(daemonset)[key],
            value,
            "PodMonitor selector {key}"
        );
    }
    let endpoints = monitor["spec"]["podMetricsEndpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["port"], port_name);
    assert_eq!(endpoints[0]["path"], "/metrics");
    assert_eq!(endpoints[0]["honorLabels"], true);
}

/// The ServiceAccount is the pod's, and neither mounts an API token.
fn the_service_account_is_the_pods_and_mounts_no_token(pod: &Value) {
    let account = object("ServiceAccount");
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    assert_eq!(account["automountServiceAccountToken"], false);
    assert_eq!(pod["automountServiceAccountToken"], false);
}

fn every_volume_is_mounted(pod: &Value, container: &Value) {
    let volumes = pod["volumes"].as_array().unwrap();
    let mounts = container["volumeMounts"].as_array().unwrap();
    assert_eq!(mounts.len(), volumes.len(), "every volume is mounted");
}

/// The command is the image's ENTRYPOINT, and its --config is the
/// ConfigMap's file in the ConfigMap's volume.
fn the_command_is_the_images_entrypoint_reading_the_configmap(pod: &Value, container: &Value) {
    let command: Vec<String> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|word| str_of(word, "command").to_string())
        .collect();
    assert_eq!(command, dockerfile_entrypoint());
    let config_flag = command.iter().position(|word| *word == "--config").unwrap();
    let config_path = Path::new(&command[config_flag + 1]);
    let (key, _) = configmap_config();
    assert_eq!(
        config_path.file_name().unwrap().to_str(),
        Some(key.as_str())
    );
    let config_mount = mount_at(container, config_path.parent().unwrap().to_str().unwrap());
    assert_eq!(config_mount["readOnly"], true);
    assert!(
        config_mount.get("subPath").is_none(),
        "a subPath mount never sees ConfigMap updates"
    );
    let config_volume = volume(pod, str_of(&config_mount["name"], "mount name"));
    assert_eq!(
        config_volume["configMap"]["name"],
        object("ConfigMap")["metadata"]["name"]
    );
}

fn the_other_flags_are_ones_errtally_run_knows(container: &Value) {
    let help = errtally().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for arg in container["args"].as_array().unwrap() {
        let arg = str_of(arg, "args");
        if arg.starts_with("--") {
            assert!(help.contains(arg), "errtally run has no {arg}");
        }
    }
}

/// A writable hostPath on the node, created when missing, mounted where
/// the config keeps its checkpoint.
fn the_state_directory_is_a_writable_host_path_where_the_config_keeps_it(
    pod: &Value,
    container: &Value,
    config: &toml::Table,
) {
    let state_dir = config["state_dir"].as_str().unwrap();
    let state_mount = mount_at(container, state_dir);
    assert_ne!(state_mount["readOnly"], true);
    let state_volume = volume(pod, str_of(&state_mount["name"], "mount name"));
    assert_eq!(state_volume["hostPath"]["type"], "DirectoryOrCreate");
    assert_eq!(state_volume["hostPath"]["path"], state_dir);
}

/// /var/log/pods and /var/log/containers, read-only, at the same paths as
/// on the node (the links in /var/log/containers point into
/// /var/log/pods), and every input path lies under one of them.
fn the_log_directories_are_mounted_read_only_and_hold_every_input(
    pod: &Value,
    container: &Value,
    config: &toml::Table,
) {
    let mut log_dirs = Vec::new();
    for dir in ["/var/log/pods", "/var/log/containers"] {
        let mount = mount_at(container, dir);
        assert_eq!(mount["readOnly"], true, "{dir}");
        let volume = volume(pod, str_of(&mount["name"], "mount name"));
        assert_eq!(volume["hostPath"]["path"], dir);
        assert_eq!(volume["hostPath"]["type"], "Directory");
        log_dirs.push(dir);
    }
    let inputs = config["input"].as_array().unwrap();
    assert!(!inputs.is_empty());
    for input in inputs {
        for path in input["paths"].as_array().unwrap() {
            let path = path.as_str().unwrap();
            assert!(
                log_dirs
                    .iter()
                    .any(|dir| Path::new(path).starts_with(dir) && path.len() > dir.len()),
                "input path {path} is outside the mounted log directories"
            );
        }
    }
}

/// No capabilities, no escalation, read-only root.
fn the_container_runs_with_least_privilege(pod: &Value, container: &Value) {
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["privileged"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(security["capabilities"].get("add").is_none());
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
}

/// Requests within limits, the memory request near twice the RSS measured
/// with 2,000 files (8.9 MiB) at least.
fn the_resources_cover_the_measured_memory_within_limits(container: &Value) {
    let resources = &container["resources"];
    for what in ["cpu", "memory"] {
        let request = quantity(str_of(&resources["requests"][what], what));
        let limit = quantity(str_of(&resources["limits"][what], what));
        assert!(request > 0.0 && request <= limit, "{what}");
    }
    assert!(quantity(str_of(&resources["requests"]["memory"], "memory")) >= 16.0 * 1048576.0);
}

#[test]
fn errtally_with_the_configmap_config_answers_the_probes_and_the_podmonitor() {
    let (key, text) = configmap_config();
    let config = config_table();
    let dir = tempfile::tempdir().unwrap();
    // The node's state directory is not this machine's to write.
    let state = dir.path().join("state");
    let state_line = format!("state_dir = \"{}\"", config["state_dir"].as_str().unwrap());
    assert!(text.contains(&state_line));
    let text = text.replace(
        &state_line,
        &format!("state_dir = {:?}", state.display().to_string()),
    );
    let path = dir.path().join(&key);
    std::fs::write(&path, text).unwrap();

    let (_, container) = pod_and_container();
    let daemon = Daemon::start(&["--config", path.to_str().unwrap()]);
    for probe in ["readinessProbe", "livenessProbe"] {
        let probe_path = str_of(&container[probe]["httpGet"]["path"], probe);
        let (status, body) = daemon.get(probe_path);
        assert_eq!(status, 200, "{probe} {probe_path}: {body}");
    }
    let monitor = object("PodMonitor");
    let metrics_path = str_of(&monitor["spec"]["podMetricsEndpoints"][0]["path"], "path");
    let (status, body) = daemon.get(metrics_path);
    assert_eq!(status, 200);
    let source = config["input"][0]["name"].as_str().unwrap();
    // With path_labels a label set (and its series at 0) appears when its
    // first file opens, and no pod logs are here; the input runs, with its
    // dropped-sets counter at 0.
    assert!(config["input"][0]["path_labels"].is_str());
    for series in [
        format!("errtally_input_up{{source=\"{source}\"}} 1\n"),
        format!("errtally_label_sets_dropped_total{{source=\"{source}\"}} 0\n"),
    ] {
        assert!(body.contains(&series), "no {series} in {body}");
    }
}
