//! Shared helpers: running the binary, making corpora.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The binary under test.
pub fn errtally() -> Command {
    Command::new(env!("CARGO_BIN_EXE_errtally"))
}

/// Runs the binary with `args`, feeding `stdin`.
pub fn run(args: &[&str], stdin: Option<&Path>) -> Output {
    let mut command = errtally();
    command.args(args);
    command.stdin(match stdin {
        Some(path) => Stdio::from(std::fs::File::open(path).unwrap()),
        None => Stdio::null(),
    });
    command.output().unwrap()
}

/// Writes a corpus with `errtally gen` and returns its path and the
/// generator's expected tally.
pub fn corpus(dir: &Path, name: &str, seed: u64, bytes: u64, extra: &[&str]) -> (PathBuf, Value) {
    let out = dir.join(name);
    let expected = dir.join(format!("{name}.expected.json"));
    let seed = seed.to_string();
    let bytes = bytes.to_string();
    let mut args = vec![
        "gen",
        "--seed",
        &seed,
        "--bytes",
        &bytes,
        "--out",
        out.to_str().unwrap(),
        "--expected",
        expected.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = run(&args, None);
    assert!(
        output.status.success(),
        "gen failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected: Value = serde_json::from_slice(&std::fs::read(&expected).unwrap()).unwrap();
    (out, expected)
}

/// The JSON report on stdout of a successful run.
pub fn json_stdout(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Adds two tallies in the `scan --format json` shape.
pub fn add_tallies(a: &Value, b: &Value) -> Value {
    let mut sum = a.clone();
    for key in ["lines", "bytes", "truncated_lines"] {
        sum[key] = (a[key].as_u64().unwrap() + b[key].as_u64().unwrap()).into();
    }
    for key in ["errors", "uncatalogued", "uncatalogued_types"] {
        let map = sum[key].as_object_mut().unwrap();
        for (name, count) in b[key].as_object().unwrap() {
            let total =
                map.get(name).and_then(Value::as_u64).unwrap_or(0) + count.as_u64().unwrap();
            map.insert(name.clone(), total.into());
        }
    }
    sum
}

/// Lints an exposition text with `promtool check metrics`.
pub fn promtool_check(text: &str) {
    use std::io::Write;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is needed");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let lint = promtool.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}

/// Kills the child when the test ends, passed or not.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The JSON report of `scan --format json ARGS... PATHS...`, which must
/// succeed.
pub fn scan_json(args: &[&str], paths: &[&Path]) -> Value {
    let mut argv = vec!["scan", "--format", "json"];
    argv.extend_from_slice(args);
    argv.extend(paths.iter().map(|path| path.to_str().unwrap()));
    let output = run(&argv, None);
    assert!(
        output.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_stdout(&output)
}

/// Runs a shell pipeline (the real gzip, zstd and cat) in `dir`.
pub fn sh(dir: &Path, script: &str) {
    let status = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "{script}");
}
