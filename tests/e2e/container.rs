//! The container image, built from `config/deploy/Dockerfile` and run: a
//! private `dockerd` (Debian `docker.io`) in a loopback-only network
//! namespace and a private mount namespace, with its data under a temp dir;
//! base images made from Debian packages by `config/deploy/container/
//! bases.sh`, since no image registry is reachable; the runtime stage built
//! around this build's binary. The container runs as the image says (user,
//! entrypoint, config, volume) with the restrictions the DaemonSet applies,
//! and the test scrapes it on 127.0.0.1 inside the namespace with curl,
//! writes log lines into its mounted log directory and reads exact counts,
//! then replaces it and sees the checkpoint in the volume carry over.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::daemon_support::{append, error_line, errors, metric, value_in};
use crate::support::promtool_check;

/// Debian's docker client, the same version as its dockerd, with BuildKit
/// built in (a newer client elsewhere on PATH may lack the buildx plugin).
const DOCKER: &str = "/usr/bin/docker";
const IMAGE: &str = "errtally:e2e";
const VOLUME: &str = "errtally-state";
/// dockerd, a build and container starts can be slow on a busy 2-core CI.
const SLOW: Duration = Duration::from_secs(90);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A dockerd of the test's own; stopped, with its containers, on drop.
struct Engine {
    dir: tempfile::TempDir,
    dockerd: Child,
}

impl Engine {
    fn start() -> Engine {
        for tool in [
            "dockerd", DOCKER, "unshare", "nsenter", "ip", "curl", "busybox",
        ] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success();
            assert!(
                found,
                "{tool} is needed (Debian docker.io, util-linux, iproute2, curl, busybox-static: \
                 bash .ci/run installs them)"
            );
        }
        // Short: the path of docker's socket must fit a sockaddr_un.
        let dir = tempfile::Builder::new()
            .prefix("et-docker")
            .tempdir_in("/tmp")
            .unwrap();
        let root = dir.path();
        // The identity key dockerd would otherwise write to /etc/docker.
        let daemon_json = serde_json::json!({
            "deprecated-key-path": root.join("key.json"),
        });
        std::fs::write(root.join("daemon.json"), daemon_json.to_string()).unwrap();
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let cgroup_parent = cgroup_parent(root);
        // A loopback-only network namespace (containers use its host
        // network: no bridge, no iptables) and a mount namespace whose /run
        // is its own, so overlay mounts, runc and shim state vanish with it.
        let dockerd = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "--"])
            .args([
                "sh",
                "-c",
                "ip link set lo up && mount -t tmpfs -o mode=0755 errtally-e2e /run && exec dockerd \"$@\"",
                "dockerd",
            ])
            .arg(format!("--data-root={}", root.join("data").display()))
            .arg(format!("--exec-root={}", root.join("exec").display()))
            .arg(format!("--pidfile={}", root.join("dockerd.pid").display()))
            .arg(format!("--host=unix://{}", root.join("docker.sock").display()))
            .arg(format!("--config-file={}", root.join("daemon.json").display()))
            .arg(format!("--cgroup-parent={cgroup_parent}"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--userland-proxy=false",
                "--exec-opt=native.cgroupdriver=cgroupfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut engine = Engine { dir, dockerd };
        let deadline = Instant::now() + SLOW;
        while !engine.docker(&["version"]).status.success() {
            let exited = engine.dockerd.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "dockerd did not start ({exited:?}); its log:\n{}",
                engine.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        engine
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new(DOCKER)
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.root().join("docker.sock").display()),
            )
            .env("DOCKER_CONFIG", self.root().join("client"))
            .env("DOCKER_BUILDKIT", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs a docker command that must succeed; its trimmed stdout.
    fn docker_ok(&self, args: &[&str]) -> String {
        let output = self.docker(args);
        assert!(
            output.status.success(),
            "docker {args:?}: {}{}\ndockerd log:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log_tail()
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// A GET on 127.0.0.1:`port` inside the namespace: status and body.
    fn get(&self, port: u16, path: &str) -> (u16, String) {
        let output = Command::new("nsenter")
            .args(["--target", &self.dockerd.id().to_string(), "--net", "--"])
            .args([
                "curl",
                "--silent",
                "--max-time",
                "5",
                "--write-out",
                "\n%{http_code}",
            ])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.parse().unwrap_or(0), body.to_string())
    }

    fn wait_until(&self, what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + SLOW;
        while !condition() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}; dockerd log:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.root().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Containers first, so that no shim outlives dockerd.
        let ids = self.docker(&["ps", "--all", "--quiet"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "--force", "--volumes", id]);
        }
        let _ = Command::new("kill")
            .args(["-s", "TERM", &self.dockerd.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.dockerd.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.dockerd.kill();
        let _ = self.dockerd.wait();
        // The empty cgroups dockerd made for containers and BuildKit.
        let parent = cgroup_parent(self.root());
        if let Ok(controllers) = std::fs::read_dir("/sys/fs/cgroup") {
            for controller in controllers.flatten() {
                let dir = controller.path().join(&parent);
                let _ = std::fs::remove_dir(dir.join("buildkit"));
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }
}

/// The cgroup that dockerd puts containers and BuildKit's steps under:
/// named after the temp dir, so that cleaning it up touches nothing else.
fn cgroup_parent(root: &Path) -> String {
    format!("{}", root.file_name().unwrap().to_string_lossy())
}

/// The Dockerfile's exec-form ENTRYPOINT.
pub fn dockerfile_entrypoint() -> Vec<String> {
    let dockerfile = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/deploy/Dockerfile"),
    )
    .unwrap();
    let line = dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ENTRYPOINT "))
        .unwrap();
    serde_json::from_str(line).unwrap()
}

/// The container config the image ships: its port, state directory and
/// log directory.
struct ImageConfig {
    port: u16,
    state_dir: String,
    source: String,
}

fn image_config() -> ImageConfig {
    let text =
        std::fs::read_to_string(repo().join("config/deploy/container/errtally.toml")).unwrap();
    let config: toml::Table = text.parse().unwrap();
    let listen = config["listen_address"].as_str().unwrap();
    assert!(listen.starts_with("0.0.0.0:"), "{listen}");
    let input = &config["input"].as_array().unwrap()[0];
    assert_eq!(
        input["paths"].as_array().unwrap(),
        &[toml::Value::from("/logs/*.log")]
    );
    ImageConfig {
        port: listen.rsplit_once(':').unwrap().1.parse().unwrap(),
        state_dir: config["state_dir"].as_str().unwrap().to_string(),
        source: input["name"].as_str().unwrap().to_string(),
    }
}

/// The build context: this build's binary and the container config, as
/// the Dockerfile's `ERRTALLY_BINARY` mode reads them.
fn build_context(root: &Path) -> PathBuf {
    let context = root.join("context");
    let config_dir = context.join("config/deploy/container");
    std::fs::create_dir_all(&config_dir).unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_errtally"));
    if std::fs::hard_link(binary, context.join("errtally")).is_err() {
        std::fs::copy(binary, context.join("errtally")).unwrap();
    }
    std::fs::copy(
        repo().join("config/deploy/container/errtally.toml"),
        config_dir.join("errtally.toml"),
    )
    .unwrap();
    context
}

/// A `/proc/PID/status` field.
fn status_field(pid: &str, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_image_builds_runs_as_non_root_counts_and_keeps_its_checkpoint() {
    let engine = Engine::start();
    let image = image_config();
    build_the_image_from_debian_bases(&engine);
    the_image_declares_its_user_entrypoint_port_and_volume(&engine, &image);
    the_runtime_stage_adds_only_the_binary_and_the_config(&engine);
    let deployment = Deployment::new(&engine, &image);
    deployment.run("errtally-1");
    the_process_runs_as_the_images_user_without_capabilities(&engine, "errtally-1");
    the_lines_written_after_the_start_are_counted_exactly(&deployment);
    sigterm_exits_0_leaving_a_checkpoint_of_the_images_user(&engine, "errtally-1");
    the_next_container_resumes_from_the_volumes_checkpoint(&deployment, "errtally-2");
}

/// Base images from Debian packages, then the Dockerfile as it is.
fn build_the_image_from_debian_bases(engine: &Engine) {
    let bases = Command::new("bash")
        .arg(repo().join("config/deploy/container/bases.sh"))
        .arg(env!("CARGO_BIN_EXE_errtally"))
        .env("DOCKER", DOCKER)
        .env(
            "DOCKER_HOST",
            format!("unix://{}", engine.root().join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", engine.root().join("client"))
        .output()
        .unwrap();
    assert!(bases.status.success(), "bases.sh: {bases:?}");
    let context = build_context(engine.root());
    let dockerfile = repo().join("config/deploy/Dockerfile");
    engine.docker_ok(&[
        "build",
        "--progress=plain",
        "--network=none",
        "--file",
        dockerfile.to_str().unwrap(),
        "--build-arg",
        "ERRTALLY_BINARY=errtally",
        "--tag",
        IMAGE,
        context.to_str().unwrap(),
    ]);
}

/// Non-root user, the entrypoint the DaemonSet spells out, the config's
/// port, the state volume.
fn the_image_declares_its_user_entrypoint_port_and_volume(engine: &Engine, image: &ImageConfig) {
    let config: serde_json::Value = serde_json::from_str(&engine.docker_ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        IMAGE,
    ]))
    .unwrap();
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(dockerfile_entrypoint())
    );
    assert_eq!(config["Entrypoint"][3], "/etc/errtally/errtally.toml");
    let keys = |value: &serde_json::Value| -> Vec<String> {
        value.as_object().unwrap().keys().cloned().collect()
    };
    assert_eq!(
        keys(&config["ExposedPorts"]),
        [format!("{}/tcp", image.port)]
    );
    assert_eq!(
        keys(&config["Volumes"]),
        std::slice::from_ref(&image.state_dir)
    );
}

/// Nothing in the image beyond the runtime base, the binary and the
/// config.
fn the_runtime_stage_adds_only_the_binary_and_the_config(engine: &Engine) {
    let size = |name: &str| -> u64 {
        engine
            .docker_ok(&["image", "inspect", "--format", "{{.Size}}", name])
            .parse()
            .unwrap()
    };
    let binary_size = std::fs::metadata(env!("CARGO_BIN_EXE_errtally"))
        .unwrap()
        .len();
    let added = size(IMAGE) - size("gcr.io/distroless/cc-debian12:nonroot");
    assert!(
        (binary_size..binary_size + 16 * 1024).contains(&added),
        "the runtime stage added {added} bytes to a {binary_size}-byte binary"
    );
}

/// The image run as the DaemonSet runs it, over a log directory the
/// container's user may read, with the series the test reads.
struct Deployment<'a> {
    engine: &'a Engine,
    image: &'a ImageConfig,
    logs: PathBuf,
    log: PathBuf,
    lines: String,
    email: String,
    session: String,
    otp: String,
}

impl<'a> Deployment<'a> {
    /// The log directory with one line written before any container starts.
    fn new(engine: &'a Engine, image: &'a ImageConfig) -> Self {
        let logs = engine.root().join("logs");
        std::fs::create_dir(&logs).unwrap();
        std::fs::set_permissions(&logs, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let log = logs.join("app.log");
        append(&log, "{\"msg\":\"started\"}\n");
        Deployment {
            engine,
            image,
            logs,
            log,
            lines: metric("errtally_lines_total", &image.source),
            email: errors(&image.source, "email_not_found"),
            session: errors(&image.source, "session_not_found"),
            otp: errors(&image.source, "otp_code_not_found"),
        }
    }

    /// Starts container `name` read-only, without capabilities, and waits
    /// until it is ready.
    fn run(&self, name: &str) {
        self.engine.docker_ok(&[
            "run",
            "--detach",
            "--name",
            name,
            "--network=host",
            "--read-only",
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",
            "--volume",
            &format!("{}:/logs:ro", self.logs.display()),
            "--volume",
            &format!("{VOLUME}:{}", self.image.state_dir),
            IMAGE,
        ]);
        self.engine.wait_until(&format!("{name} is ready"), || {
            self.engine.get(self.image.port, "/-/ready").0 == 200
        });
    }

    fn scrape(&self) -> String {
        let (status, body) = self.engine.get(self.image.port, "/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    fn wait_for(&self, series: &str, expected: f64) {
        self.engine
            .wait_until(&format!("{series} is {expected}"), || {
                value_in(&self.scrape(), series) == Some(expected)
            });
    }
}

fn the_process_runs_as_the_images_user_without_capabilities(engine: &Engine, container: &str) {
    let pid = engine.docker_ok(&["inspect", "--format", "{{.State.Pid}}", container]);
    assert_eq!(status_field(&pid, "Uid"), "65532 65532 65532 65532");
    assert_eq!(status_field(&pid, "Gid"), "65532 65532 65532 65532");
    assert_eq!(status_field(&pid, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&pid, "NoNewPrivs"), "1");
}

/// start_at = "end": the line before the start is not read; the six
/// after it are, exactly, in a scrape promtool accepts.
fn the_lines_written_after_the_start_are_counted_exactly(deployment: &Deployment) {
    let mut text = error_line("email_not_found").repeat(3);
    text += &error_line("session_not_found").repeat(2);
    text += "{\"msg\":\"ok\"}\n";
    append(&deployment.log, &text);
    deployment.wait_for(&deployment.lines, 6.0);
    let metrics = deployment.scrape();
    assert_eq!(value_in(&metrics, &deployment.email), Some(3.0));
    assert_eq!(value_in(&metrics, &deployment.session), Some(2.0));
    assert_eq!(value_in(&metrics, &deployment.otp), Some(0.0));
    promtool_check(&metrics);
    assert_eq!(
        deployment.engine.get(deployment.image.port, "/-/healthy").0,
        200
    );
}

/// SIGTERM to PID 1: a checkpoint in the volume, written by the image's
/// user, and exit 0.
fn sigterm_exits_0_leaving_a_checkpoint_of_the_images_user(engine: &Engine, container: &str) {
    engine.docker_ok(&["stop", "--time", "10", container]);
    let exit = engine.docker_ok(&["inspect", "--format", "{{.State.ExitCode}}", container]);
    assert_eq!(exit, "0");
    let volume_dir = PathBuf::from(engine.docker_ok(&[
        "volume",
        "inspect",
        "--format",
        "{{.Mountpoint}}",
        VOLUME,
    ]));
    let state: Vec<_> = std::fs::read_dir(&volume_dir)
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap())
        .collect();
    assert!(!state.is_empty(), "no checkpoint in the volume");
    for file in &state {
        assert_eq!(file.uid(), 65532, "state written by another user");
    }
}

/// A line written while nothing runs is counted by the next container,
/// which resumes from the volume's checkpoint: with start_at = "end"
/// alone it would be skipped, and without the offset the six old lines
/// would be counted again.
fn the_next_container_resumes_from_the_volumes_checkpoint(
    deployment: &Deployment,
    container: &str,
) {
    append(&deployment.log, &error_line("otp_code_not_found"));
    deployment.run(container);
    deployment.wait_for(&deployment.otp, 1.0);
    let metrics = deployment.scrape();
    assert_eq!(value_in(&metrics, &deployment.lines), Some(1.0));
    assert_eq!(value_in(&metrics, &deployment.email), Some(0.0));
    assert_eq!(value_in(&metrics, &deployment.session), Some(0.0));
}
