//! The README's examples run as shown, so that a README that drifts from
//! the binary fails CI:
//!
//! - every TOML block of `README.md`, and every `*.toml` below `config/`,
//!   passes `errtally check`, with the catalogues and relative input
//!   directories it names made beside it by the test (absolute catalogue
//!   paths are moved under the test's directory; absolute log globs need
//!   not exist, as for `check` itself);
//! - every Prometheus config of `README.md` (a YAML block with
//!   `scrape_configs:`) passes `promtool check config`;
//! - every `errtally …` command line of `README.md` (in shell blocks and in
//!   inline code, `cargo run -- …` included) names a subcommand and flags
//!   that exist. Subcommands come from `errtally --help` (a hidden one is
//!   one whose `errtally SUB --help` succeeds), flags from
//!   `errtally SUB --help` (a hidden one is one clap does not call an
//!   "unexpected argument"): nothing here lists them, so new subcommands
//!   need no change to this test.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use crate::support::{errtally, run};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fenced code block: its info string (`toml`, `sh`, empty), the line
/// of its first body line (1-based) and its body, unindented as its fence.
#[derive(Debug)]
struct Block {
    info: String,
    line: usize,
    body: String,
}

/// The fenced code blocks of `markdown` (fences of three or more
/// backticks, indented or not, as in list items), and the text outside
/// them, line by line with the line numbers.
fn split_markdown(markdown: &str) -> (Vec<Block>, Vec<(usize, &str)>) {
    let mut blocks = Vec::new();
    let mut prose = Vec::new();
    let mut open: Option<(usize, String, Block)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let is_fence = trimmed.starts_with("```");
        match open.take() {
            None if is_fence => {
                let info = trimmed.trim_start_matches('`').trim().to_string();
                let block = Block {
                    info,
                    line: number + 1,
                    body: String::new(),
                };
                open = Some((
                    indent,
                    trimmed.chars().take_while(|&c| c == '`').collect(),
                    block,
                ));
            }
            None => prose.push((number, line)),
            Some((_, fence, block)) if is_fence && trimmed.trim_end() == fence => {
                blocks.push(block);
            }
            Some((fence_indent, fence, mut block)) => {
                let body = line.get(fence_indent.min(indent)..).unwrap_or("");
                block.body.push_str(body);
                block.body.push('\n');
                open = Some((fence_indent, fence, block));
            }
        }
    }
    assert!(open.is_none(), "an unclosed code fence");
    (blocks, prose)
}

/// The subcommands and flags the binary has, learnt from its help.
#[derive(Default)]
struct Cli {
    /// Subcommand -> whether it exists.
    subcommands: HashMap<String, bool>,
    /// (subcommand or "" for the top level) -> flags its help lists.
    listed_flags: HashMap<String, BTreeSet<String>>,
}

/// The option names a `--help` text lists (`-h`, `--help`, `--web.config.file`).
fn flags_in_help(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for line in help.lines() {
        let spec = line.trim_start();
        if line.len() == spec.len() || !spec.starts_with('-') || spec.starts_with("- ") {
            continue;
        }
        // `-h, --help  Print help` or `--format <FORMAT>`: the names
        // before the first value or description.
        for word in spec.split([' ', ',']) {
            if word.starts_with('-') && word.len() > 1 {
                flags.insert(word.to_string());
            } else if !word.is_empty() {
                break;
            }
        }
    }
    flags
}

/// The names under `Commands:` in the top-level help.
fn subcommands_in_help(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|line| line.trim() != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn help_of(args: &[&str]) -> Option<String> {
    let output = run(args, None);
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

impl Cli {
    fn learn() -> Cli {
        let top = help_of(&["--help"]).expect("errtally --help");
        let mut cli = Cli::default();
        for name in subcommands_in_help(&top) {
            cli.subcommands.insert(name, true);
        }
        assert!(
            cli.subcommands.len() >= 4,
            "no subcommands read from: {top}"
        );
        cli.listed_flags.insert(String::new(), flags_in_help(&top));
        cli
    }

    /// Whether `errtally SUB` exists: listed, or hidden but answering
    /// `--help`.
    fn has_subcommand(&mut self, name: &str) -> bool {
        if let Some(&known) = self.subcommands.get(name) {
            return known;
        }
        let exists = !name.starts_with('-') && help_of(&[name, "--help"]).is_some();
        self.subcommands.insert(name.to_string(), exists);
        exists
    }

    /// Whether `errtally SUB FLAG` is accepted (SUB "" for the top level).
    fn has_flag(&mut self, sub: &str, flag: &str) -> bool {
        if !self.listed_flags.contains_key(sub) {
            let help = help_of(&[sub, "--help"]).unwrap_or_default();
            self.listed_flags
                .insert(sub.to_string(), flags_in_help(&help));
        }
        if self.listed_flags[sub].contains(flag) {
            return true;
        }
        // Hidden flags are not listed: ask clap. A flag it does not know is
        // an "unexpected argument"; a known one fails (or not) on its value.
        let probe = format!("{flag}=x");
        let mut args: Vec<&str> = vec![];
        if !sub.is_empty() {
            args.push(sub);
        }
        args.extend([probe.as_str(), "--help"]);
        let output = run(&args, None);
        !String::from_utf8_lossy(&output.stderr).contains(&format!("unexpected argument '{flag}'"))
    }
}

/// One `errtally` invocation found in the README, as written.
#[derive(Debug)]
struct Invocation {
    line: usize,
    args: Vec<String>,
}

/// Words after which a word is in command position.
const COMMAND_STARTS: &[&str] = &[
    "|", "\\|", "&&", "||", ";", "$", "#", "sudo", "exec", "time", "then", "do", "!", "(",
];

/// Words that end a command's arguments.
const COMMAND_ENDS: &[&str] = &["&&", "||", ";", ">", ">>", "2>", "2>&1", "<", "&"];

/// Whether a word in command position runs errtally: `errtally`, or a
/// path to the binary (`./errtally`, `target/release/errtally`,
/// `/usr/bin/errtally`), not a directory such as `/var/lib/errtally`.
fn is_the_binary(word: &str) -> bool {
    let path = Path::new(word);
    let parent = path.parent().map(|dir| dir.to_string_lossy().into_owned());
    path.file_name().is_some_and(|name| name == "errtally")
        && match parent.as_deref() {
            None | Some("") | Some(".") => true,
            Some(dir) => dir.ends_with("bin") || dir.contains("target/"),
        }
}

/// The `errtally` invocations in one command line (shell text, or the
/// content of an inline code span): `errtally` (or a path ending in
/// `/errtally`) in command position, or `cargo run … -- ARGS`.
fn invocations(line: usize, text: &str) -> Vec<Invocation> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while at < words.len() {
        let starts = at == 0 || COMMAND_STARTS.contains(&words[at - 1]);
        let word = words[at];
        let args_from = if starts && is_the_binary(word) {
            Some(at + 1)
        } else if starts && word == "cargo" && words.get(at + 1) == Some(&"run") {
            words[at..]
                .iter()
                .position(|w| *w == "--")
                .map(|dashes| at + dashes + 1)
        } else {
            None
        };
        let Some(first) = args_from else {
            at += 1;
            continue;
        };
        let mut end = first;
        while end < words.len() {
            let word = words[end];
            let next = words.get(end + 1).copied().unwrap_or("");
            // `a | b` ends the command, but `[--x ADDR | --y]` in a
            // synopsis is an alternative.
            let is_pipe = (word == "|" || word == "\\|") && !next.starts_with(['-', '[']);
            if COMMAND_ENDS.contains(&word) || word.starts_with('#') || is_pipe {
                break;
            }
            end += 1;
        }
        found.push(Invocation {
            line,
            args: words[first..end].iter().map(|w| w.to_string()).collect(),
        });
        at = end.max(at + 1);
    }
    found
}

/// Every invocation in shell blocks (continuation lines joined: a trailing
/// `\`, or a synopsis line that starts with `[` or `-`) and in inline code.
fn readme_invocations(markdown: &str) -> Vec<Invocation> {
    let (blocks, prose) = split_markdown(markdown);
    let mut found: Vec<Invocation> = Vec::new();
    for block in blocks
        .iter()
        .filter(|b| ["sh", "bash", "shell", "console"].contains(&b.info.as_str()))
    {
        let mut lines: Vec<(usize, String)> = Vec::new();
        for (offset, line) in block.body.lines().enumerate() {
            let trimmed = line.trim_start();
            let continues = lines.last().is_some_and(|(_, last)| last.ends_with('\\'))
                || (line.starts_with(' ') && trimmed.starts_with(['[', '-']));
            match lines.last_mut() {
                Some((_, last)) if continues => {
                    *last = last.trim_end_matches('\\').to_string() + " " + trimmed;
                }
                _ => lines.push((block.line + offset, line.to_string())),
            }
        }
        for (line, text) in lines {
            let text = text.trim_start_matches("$ ");
            found.extend(invocations(line, text));
        }
    }
    // In prose, a bare `errtally` or `/usr/bin/errtally` names the
    // program (or its user, or a path); only one with arguments runs it.
    for (line, span) in code_spans(&prose) {
        found.extend(
            invocations(line, &span)
                .into_iter()
                .filter(|invocation| !invocation.args.is_empty()),
        );
    }
    found
}

/// The inline code spans of the prose, with the line each opens on: a
/// run of N backticks up to the next run of exactly N in the same
/// paragraph (a span may cross line breaks, which become spaces).
fn code_spans(prose: &[(usize, &str)]) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    // Paragraphs: lines up to a blank one, numbered as the first line.
    let mut paragraphs: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    for &(line, text) in prose {
        if text.trim().is_empty() {
            paragraphs.push(Vec::new());
        } else if let Some(last) = paragraphs.last_mut() {
            last.push((line, text));
        }
    }
    for paragraph in paragraphs {
        // Characters with their lines, line breaks as spaces.
        let chars: Vec<(usize, char)> = paragraph
            .iter()
            .flat_map(|&(line, text)| text.chars().chain([' ']).map(move |c| (line, c)))
            .collect();
        let run_at = |at: usize| chars[at..].iter().take_while(|(_, c)| *c == '`').count();
        let mut at = 0;
        while at < chars.len() {
            if chars[at].1 != '`' {
                at += 1;
                continue;
            }
            let ticks = run_at(at);
            let start = at + ticks;
            let mut close = start;
            let mut found = None;
            while close < chars.len() {
                if chars[close].1 == '`' {
                    let run = run_at(close);
                    if run == ticks {
                        found = Some(close);
                        break;
                    }
                    close += run;
                } else {
                    close += 1;
                }
            }
            match found {
                Some(close) => {
                    let text: String = chars[start..close].iter().map(|(_, c)| *c).collect();
                    spans.push((chars[at].0, text));
                    at = close + ticks;
                }
                None => at = start,
            }
        }
    }
    spans
}

/// The flag names an argument word holds: `--format`, `[--catalog`,
/// `--x=1`, `-h`; none for values, `-` and `--`.
fn flags_of(word: &str) -> Vec<String> {
    word.split('|')
        .map(|part| part.trim_start_matches(['[', '(']))
        .filter(|part| part.starts_with('-') && *part != "-" && *part != "--")
        .map(|part| {
            part.split(['=', ']', ')', ','])
                .next()
                .unwrap_or(part)
                .trim_end_matches("...")
                .to_string()
        })
        .filter(|flag| {
            let name = flag.trim_start_matches('-');
            !name.is_empty() && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        })
        .collect()
}

/// What is wrong with each invocation, one line each.
fn command_problems(invocations: &[Invocation], cli: &mut Cli) -> Vec<String> {
    let mut problems = Vec::new();
    for invocation in invocations {
        let shown = format!(
            "README.md:{}: `errtally {}`",
            invocation.line,
            invocation.args.join(" ")
        );
        let (sub, rest) = match invocation.args.split_first() {
            Some((first, rest)) if !first.starts_with(['-', '[']) => (first.as_str(), rest),
            _ => ("", &invocation.args[..]),
        };
        if sub.is_empty() && invocation.args.is_empty() {
            problems.push(format!("{shown}: no subcommand"));
            continue;
        }
        if !sub.is_empty() && !cli.has_subcommand(sub) {
            problems.push(format!("{shown}: no subcommand `{sub}`"));
            continue;
        }
        for flag in rest.iter().flat_map(|word| flags_of(word)) {
            if !cli.has_flag(sub, &flag) {
                problems.push(format!("{shown}: no flag `{flag}`"));
            }
        }
    }
    problems
}

/// Runs `errtally check` on a config `text` written to a directory of its
/// own, after making what it names: its catalogues (the built-in one,
/// exported) and the directories of its relative globs. `Err` holds what
/// went wrong.
fn check_config(text: &str, catalogue: &[u8]) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut text = text.to_string();
    let parsed: toml::Table = text.parse().map_err(|error| format!("not TOML: {error}"))?;
    let strings = |value: Option<&toml::Value>| -> Vec<String> {
        value
            .and_then(toml::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (index, named) in strings(parsed.get("catalog")).into_iter().enumerate() {
        let path = if Path::new(&named).is_absolute() {
            // Not the machine's /etc: a copy of the config names a file
            // under the test's directory instead.
            let moved = dir.path().join(named.trim_start_matches('/'));
            text = text.replace(&format!("\"{named}\""), &format!("\"{}\"", moved.display()));
            moved
        } else {
            dir.path().join(&named)
        };
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, example_catalogue(catalogue, index)).unwrap();
    }
    let inputs = parsed
        .get("input")
        .and_then(toml::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for input in &inputs {
        for glob in strings(input.get("paths")) {
            let glob = Path::new(&glob);
            if glob.is_absolute() || glob == Path::new("-") {
                continue;
            }
            let literal: PathBuf = glob
                .parent()
                .unwrap_or(Path::new(""))
                .components()
                .take_while(|part| {
                    !matches!(part, Component::Normal(name) if name.to_string_lossy().contains(['*', '?', '[']))
                })
                .collect();
            std::fs::create_dir_all(dir.path().join(literal)).unwrap();
        }
    }
    let config = dir.path().join("errtally.toml");
    std::fs::write(&config, &text).unwrap();
    let output = run(&["check", "--config", config.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() && stderr.is_empty() && stdout.contains(": ok (") {
        Ok(stdout)
    } else {
        Err(format!("{}: {stdout}{stderr}", output.status))
    }
}

/// The `index`th catalogue a config names: the built-in one first, then
/// one type of its own each, since catalogues that define a type twice
/// are refused.
fn example_catalogue(builtin: &[u8], index: usize) -> Vec<u8> {
    if index == 0 {
        return builtin.to_vec();
    }
    let mut file: serde_json::Value = serde_json::from_slice(builtin).unwrap();
    let mut entry = file["errors"][0].clone();
    entry["error_type"] = format!("example_{index}_not_found").into();
    file["name"] = format!("example-{index}").into();
    file["errors"] = serde_json::json!([entry]);
    serde_json::to_vec(&file).unwrap()
}

/// The built-in catalogue in the file format, for the catalogues a config
/// names.
fn builtin_catalogue() -> Vec<u8> {
    let output = run(&["catalog", "--format", "json"], None);
    assert!(output.status.success());
    output.stdout
}

/// Every `*.toml` below `dir`, sorted.
fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(toml_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            found.push(path);
        }
    }
    found.sort();
    found
}

#[test]
fn every_toml_block_of_the_readme_and_every_shipped_config_passes_check() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let catalogue = builtin_catalogue();
    let (blocks, _) = split_markdown(&readme);
    let mut configs: Vec<(String, String)> = blocks
        .iter()
        .filter(|block| block.info == "toml")
        .map(|block| (format!("README.md:{}", block.line), block.body.clone()))
        .collect();
    let readme_blocks = configs.len();
    for path in toml_files(&repo().join("config")) {
        let name = path.strip_prefix(repo()).unwrap().display().to_string();
        configs.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    assert!(
        readme_blocks >= 3,
        "{readme_blocks} TOML blocks in README.md"
    );
    assert!(configs.len() >= readme_blocks + 2, "{configs:?}");
    let failures: Vec<String> = configs
        .iter()
        .filter_map(|(name, text)| {
            check_config(text, &catalogue)
                .err()
                .map(|why| format!("{name}: {why}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_prometheus_config_of_the_readme_passes_promtool() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (blocks, _) = split_markdown(&readme);
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for block in blocks.iter().filter(|block| {
        block.info == "yaml" && block.body.lines().any(|line| line == "scrape_configs:")
    }) {
        let path = dir.path().join(format!("prometheus-{}.yml", block.line));
        std::fs::write(&path, &block.body).unwrap();
        let output = std::process::Command::new("promtool")
            .args(["check", "config"])
            .arg(&path)
            .output()
            .expect("promtool (Debian package prometheus) is needed");
        assert!(
            output.status.success(),
            "README.md:{}: {}{}",
            block.line,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        checked += 1;
    }
    // The plain scrape of "Getting started" and the TLS one.
    assert!(checked >= 2, "{checked} Prometheus configs");
}

#[test]
fn every_errtally_command_line_of_the_readme_has_its_subcommand_and_flags() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let found = readme_invocations(&readme);
    let subcommands: BTreeSet<&str> = found
        .iter()
        .filter_map(|invocation| invocation.args.first().map(String::as_str))
        .collect();
    // The parser found the README's commands, not nothing.
    for sub in ["run", "check", "scan", "catalog", "demo"] {
        assert!(
            subcommands.contains(sub),
            "no `errtally {sub}` found: {found:?}"
        );
    }
    assert!(found.len() >= 20, "{found:?}");
    let mut cli = Cli::learn();
    let problems = command_problems(&found, &mut cli);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_drifted_readme_is_caught() {
    let drifted = "Run `errtally scan --nope FILE`, `errtally sacn` or\n\
                   `cat x \\| errtally scan --by-file`.\n\
                   ```sh\n\
                   errtally run [--config FILE] [--web.listen-address ADDR | --web.systemd-socket]\n\
                   \x20            [--start-at end|beginning] [--stdin] [--gone]\n\
                   cargo run --release -- demo --rate 5 --web.listen-adress X\n\
                   install target/release/errtally /usr/bin/errtally && errtally check --config=F\n\
                   errtally gen --seed 1 --out - | errtally scan --range-bytes 9 -\n\
                   ```\n";
    let found = readme_invocations(drifted);
    let mut cli = Cli::learn();
    assert_eq!(
        command_problems(&found, &mut cli),
        [
            "README.md:4: `errtally run [--config FILE] [--web.listen-address ADDR | --web.systemd-socket] [--start-at end|beginning] [--stdin] [--gone]`: no flag `--gone`",
            "README.md:6: `errtally demo --rate 5 --web.listen-adress X`: no flag `--web.listen-adress`",
            "README.md:1: `errtally scan --nope FILE`: no flag `--nope`",
            "README.md:1: `errtally sacn`: no subcommand `sacn`",
        ]
    );
    // Hidden subcommands and flags (`gen`, `--range-bytes`) exist.
    assert_eq!(found.len(), 8, "{found:?}");
    let bad = "[[input]]\nname = \"a\"\npaths = [\"logs/*.log\"]\nstrat_at = \"end\"\n";
    let why = check_config(bad, &builtin_catalogue()).unwrap_err();
    assert!(why.contains("strat_at"), "{why}");
    let named = "catalog = [\"cat/mine.json\", \"/etc/x/abs.json\"]\n[[input]]\nname = \"a\"\npaths = [\"logs/*/*.log\"]\n";
    let ok = check_config(named, &builtin_catalogue()).unwrap();
    assert!(ok.contains("(1 inputs, 47 error types"), "{ok}");
}

#[test]
fn flags_and_subcommands_are_read_from_help_texts() {
    let help = "Usage: x\n\nCommands:\n  run    Run it\n  check  Check\n\nOptions:\n  -h, --help     Print help\n      --web.config.file <FILE>\n          Web config\n          - table: not a flag\n";
    assert_eq!(
        subcommands_in_help(help),
        ["check", "run"].map(String::from).into()
    );
    assert_eq!(
        flags_in_help(help),
        ["--help", "--web.config.file", "-h"]
            .map(String::from)
            .into()
    );
    assert_eq!(flags_of("[--format"), ["--format"]);
    assert_eq!(flags_of("--x=1"), ["--x"]);
    assert_eq!(flags_of("[PATH|DIR|-]..."), Vec::<String>::new());
    assert_eq!(flags_of("[--catalog"), ["--catalog"]);
    assert_eq!(flags_of("end|beginning]"), Vec::<String>::new());
    assert_eq!(flags_of("-"), Vec::<String>::new());
    assert!(is_the_binary("errtally") && is_the_binary("./errtally"));
    assert!(is_the_binary("target/release/errtally") && is_the_binary("/usr/bin/errtally"));
    assert!(!is_the_binary("/var/lib/errtally") && !is_the_binary("errtally:0.1.0"));
    assert!(
        errtally()
            .arg("--version")
            .output()
            .unwrap()
            .status
            .success()
    );
}
