//! `errtally completions` and `errtally man`: the scripts parse in their
//! shells and complete the real command line, and the page renders with
//! man-db without warnings and documents every subcommand and flag that
//! `--help` shows. The shells and man are the real ones (.ci/run installs
//! zsh, fish and man-db).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{errtally, run};

/// The visible subcommands, by hand: the truth the generated documents are
/// held to (`gen` is hidden).
const SUBCOMMANDS: [&str; 7] = [
    "run",
    "check",
    "demo",
    "scan",
    "catalog",
    "completions",
    "man",
];

fn generated(args: &[&str], dir: &Path, name: &str) -> std::path::PathBuf {
    let output = run(args, None);
    assert!(output.status.success(), "{args:?}: {output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "{args:?}");
    let path = dir.join(name);
    std::fs::write(&path, &output.stdout).unwrap();
    path
}

/// Runs `shell args...` and returns its stdout; fails on a non-zero exit or
/// anything on stderr.
fn shell(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("{program}: {error} (.ci/run installs it)"));
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "{program} {args:?}"
    );
    String::from_utf8(output.stdout).unwrap()
}

/// What bash's completion function offers for the words typed so far.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let program = format!(
        r#"source "$1"; COMP_WORDS=({words}); COMP_CWORD={cword}; _errtally errtally "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"; printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = words
            .iter()
            .map(|word| format!("'{word}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
    );
    shell("bash", &["-c", &program, "bash", script.to_str().unwrap()])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_bash_completion_parses_and_completes_subcommands_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let script = generated(&["completions", "bash"], dir.path(), "errtally.bash");
    shell("bash", &["-n", script.to_str().unwrap()]);

    let mut expected: Vec<&str> = vec!["-h", "-V", "--help", "--version"];
    // clap_complete offers hidden subcommands too: the parser accepts them.
    expected.extend(["run", "check", "demo", "scan", "catalog", "gen"]);
    expected.extend(["completions", "man", "help"]);
    assert_eq!(bash_completes(&script, &["errtally", ""]), expected);
    assert_eq!(
        bash_completes(&script, &["errtally", "completions", ""]),
        ["-h", "-V", "--help", "--version", "bash", "zsh", "fish"]
    );
    assert_eq!(
        bash_completes(&script, &["errtally", "scan", "--format", ""]),
        ["table", "json", "prometheus", "openmetrics"]
    );
}

#[test]
fn the_zsh_and_fish_completions_parse_and_fish_completes_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let zsh = generated(&["completions", "zsh"], dir.path(), "_errtally");
    shell("zsh", &["-n", zsh.to_str().unwrap()]);
    // compdef's header: zsh loads the file from $fpath by this tag.
    let text = std::fs::read_to_string(&zsh).unwrap();
    assert_eq!(text.lines().next(), Some("#compdef errtally"));

    let fish = generated(&["completions", "fish"], dir.path(), "errtally.fish");
    shell("fish", &["-n", fish.to_str().unwrap()]);
    let offered = shell(
        "fish",
        &[
            "--no-config",
            "-c",
            "source $argv[1]; complete -C 'errtally '",
            fish.to_str().unwrap(),
        ],
    );
    let mut names: Vec<&str> = offered
        .lines()
        .map(|line| line.split('\t').next().unwrap())
        .collect();
    names.sort_unstable();
    let mut expected: Vec<&str> = SUBCOMMANDS.to_vec();
    expected.extend(["gen", "help"]);
    expected.sort_unstable();
    assert_eq!(names, expected);
}

/// The page as `man -l` renders it, 80 columns, failing on any warning
/// (groff's and man-db's, as lintian checks them).
fn rendered_page(path: &Path) -> String {
    let output = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(path)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "")
        .env_remove("MANPAGER")
        .env_remove("PAGER")
        .stdin(Stdio::null())
        .output()
        .expect("man (.ci/run installs man-db)");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "man warned");
    String::from_utf8(output.stdout).unwrap()
}

/// The `--long` flags `errtally ARGS --help` lists.
fn flags_in_help(args: &[&str]) -> Vec<String> {
    let output = errtally().args(args).arg("--help").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).unwrap();
    let mut flags: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(str::to_string)
        .collect();
    flags.dedup();
    flags
}

#[test]
fn the_man_page_renders_and_documents_every_subcommand_and_flag() {
    let dir = tempfile::tempdir().unwrap();
    let page = generated(&["man"], dir.path(), "errtally.1");
    let text = rendered_page(&page);

    assert!(text.starts_with("ERRTALLY(1)"), "{text}");
    let headings: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("ERRTALLY ") && !line.contains('('))
        .collect();
    let expected: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|name| format!("ERRTALLY {}", name.to_uppercase()))
        .collect();
    assert_eq!(headings, expected);

    // Every subcommand `--help` lists (a new one too), and each of its
    // flags, is on the page. man renders hyphens in flags as plain '-'
    // (the roff writes them as \-).
    let help = run(&["--help"], None);
    let help = String::from_utf8(help.stdout).unwrap();
    let listed: Vec<&str> = help
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert_eq!(listed, SUBCOMMANDS);
    for subcommand in listed {
        let section = text
            .split(&format!("ERRTALLY {}\n", subcommand.to_uppercase()))
            .nth(1)
            .unwrap_or_else(|| panic!("no section for {subcommand}"));
        let section = section.split("\nERRTALLY ").next().unwrap();
        let flags = flags_in_help(&[subcommand]);
        assert!(
            flags.contains(&"--help".to_string()),
            "{subcommand}: {flags:?}"
        );
        for flag in flags {
            assert!(
                section.contains(&flag),
                "{flag} of {subcommand} missing from its section:\n{section}"
            );
        }
    }
    for (subcommand, flag) in [
        ("RUN", "--web.systemd-socket"),
        ("RUN", "--start-at <START_AT>"),
        ("SCAN", "--by-file"),
        ("CHECK", "--web.config.file <FILE>"),
        ("COMPLETIONS", "<SHELL>"),
    ] {
        let section = text
            .split(&format!("ERRTALLY {subcommand}\n"))
            .nth(1)
            .unwrap();
        assert!(section.contains(flag), "{flag} not under {subcommand}");
    }
    // Hidden: the corpus generator and the scan's range size for tests.
    assert!(!text.contains("ERRTALLY GEN"));
    assert!(!text.contains("--range-bytes"));
    for file in ["/etc/errtally/errtally.toml", "/etc/default/errtally"] {
        assert!(text.contains(file), "FILES lacks {file}");
    }
}

#[test]
fn a_document_that_cannot_be_written_is_exit_1_not_a_panic() {
    for args in [&["man"][..], &["completions", "bash"][..]] {
        let output = errtally()
            .args(args)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "errtally: cannot write to stdout: No space left on device (os error 28)\n"
        );
    }
}
