//! `errtally completions` and `errtally man`: the shell completion scripts
//! and the manual page, both generated from the clap definitions in
//! [`crate::cli`], so that neither can drift from the parser.
//!
//! The manual is one page, `errtally(1)`, with a section per visible
//! subcommand (its description, synopsis and options, as clap_mangen renders
//! them), because the package installs one page and the commands are small.
//! Hidden subcommands and options (`gen`, `--range-bytes`) stay out of both.

use std::io::{self, Write};

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::{Cli, CompletionShell};

/// The name the scripts complete and the page documents: the installed
/// binary's, whatever the test harness calls its copy.
const BIN_NAME: &str = "errtally";

/// The completion script for `shell`. In memory, because clap_complete
/// panics on a failed write (a closed pipe).
pub fn completion_script(shell: CompletionShell) -> Vec<u8> {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
    script
}

/// The manual page, `errtally(1)`, in roff; in memory like the scripts.
pub fn man_page() -> io::Result<Vec<u8>> {
    let mut page = Vec::new();
    write_man_page(&mut page)?;
    Ok(without_repeated_preamble(&page))
}

fn write_man_page(out: &mut Vec<u8>) -> io::Result<()> {
    // The `help` subcommand is clap's, documented by `--help` itself.
    let mut command = Cli::command()
        .bin_name(BIN_NAME)
        .disable_help_subcommand(true);
    command.build();
    let page = Man::new(command.clone()).title("ERRTALLY");
    page.render_title(out)?;
    page.render_name_section(out)?;
    page.render_synopsis_section(out)?;
    page.render_description_section(out)?;
    page.render_options_section(out)?;

    let subcommands: Vec<&clap::Command> = command
        .get_subcommands()
        .filter(|subcommand| !subcommand.is_hide_set())
        .collect();
    let mut list = Roff::new();
    list.control("SH", ["COMMANDS"]);
    for subcommand in &subcommands {
        list.control("TP", []);
        list.text([bold(qualified_name(subcommand))]);
        list.text([roman(
            subcommand
                .get_about()
                .map(|about| about.to_string())
                .unwrap_or_default(),
        )]);
    }
    list.to_writer(out)?;

    for subcommand in subcommands {
        let mut heading = Roff::new();
        heading.control("SH", [qualified_name(subcommand).to_uppercase().as_str()]);
        heading.to_writer(out)?;
        // Each part is a top-level section of a page of its own; under the
        // command's heading they become subsections, and the description
        // needs no heading at all.
        let sub_page = Man::new(subcommand.clone());
        let mut parts = Vec::new();
        sub_page.render_description_section(&mut parts)?;
        out.write_all(&without_section_headings(&parts))?;
        parts.clear();
        sub_page.render_synopsis_section(&mut parts)?;
        sub_page.render_options_section(&mut parts)?;
        out.write_all(&as_subsections(&parts))?;
    }

    let mut tail = Roff::new();
    tail.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in [
        ("0", "Success."),
        (
            "1",
            "A runtime failure: an unreadable scan input, a failed bind.",
        ),
        ("2", "A configuration mistake (or a bad command line)."),
    ] {
        tail.control("TP", []);
        tail.text([bold(code)]);
        tail.text([roman(meaning)]);
    }
    tail.control("SH", ["FILES"]);
    for (path, meaning) in [
        (
            "/etc/errtally/errtally.toml",
            "The config the packaged errtally.service runs with; errtally check --config validates it.",
        ),
        (
            "/etc/default/errtally",
            "Extra flags for errtally.service, in ERRTALLY_ARGS.",
        ),
        (
            "/var/lib/errtally",
            "The checkpoint of read offsets (the service's StateDirectory).",
        ),
    ] {
        tail.control("TP", []);
        tail.text([bold(path)]);
        tail.text([roman(meaning)]);
    }
    tail.control("SH", ["SEE ALSO"]);
    tail.text([
        bold("systemctl"),
        roman("(1), "),
        bold("systemd.exec"),
        roman("(5), /usr/share/doc/errtally/README.md.gz"),
    ]);
    tail.to_writer(out)?;
    page.render_version_section(out)
}

/// `errtally run`, as a user types it.
fn qualified_name(subcommand: &clap::Command) -> String {
    format!("{BIN_NAME} {}", subcommand.get_name())
}

/// The page with roff's string definitions only once: each section rendered
/// on its own repeats them.
fn without_repeated_preamble(roff: &[u8]) -> Vec<u8> {
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut kept = Vec::with_capacity(roff.len());
    for line in roff.split_inclusive(|&byte| byte == b'\n') {
        let is_definition = line.starts_with(b".ie ") || line.starts_with(b".el ");
        if is_definition && seen.contains(&line) {
            continue;
        }
        if is_definition {
            seen.push(line);
        }
        kept.extend_from_slice(line);
    }
    kept
}

/// The roff without its `.SH` lines.
fn without_section_headings(roff: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(roff.len());
    for line in roff.split_inclusive(|&byte| byte == b'\n') {
        if !line.starts_with(b".SH ") {
            kept.extend_from_slice(line);
        }
    }
    kept
}

/// The roff with each `.SH HEADING` made `.SS Heading`.
fn as_subsections(roff: &[u8]) -> Vec<u8> {
    let mut demoted = Vec::with_capacity(roff.len());
    for line in roff.split_inclusive(|&byte| byte == b'\n') {
        match line.strip_prefix(b".SH ") {
            Some(heading) => {
                demoted.extend_from_slice(b".SS ");
                let mut first = true;
                for &byte in heading {
                    demoted.push(if first {
                        byte
                    } else {
                        byte.to_ascii_lowercase()
                    });
                    first = !byte.is_ascii_alphabetic() && first;
                }
            }
            None => demoted.extend_from_slice(line),
        }
    }
    demoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsection_headings_keep_only_their_first_letter_upper_case() {
        let roff = b".SH SYNOPSIS\n\\fBerrtally run\\fR\n.SH OPTIONS\n.TP\n";
        assert_eq!(
            as_subsections(roff),
            b".SS Synopsis\n\\fBerrtally run\\fR\n.SS Options\n.TP\n".to_vec()
        );
    }

    #[test]
    fn string_definitions_are_kept_once() {
        let preamble = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
        let roff = format!("{preamble}.TH ERRTALLY 1\n{preamble}.SH NAME\n");
        assert_eq!(
            String::from_utf8_lossy(&without_repeated_preamble(roff.as_bytes())),
            format!("{preamble}.TH ERRTALLY 1\n.SH NAME\n")
        );
    }

    #[test]
    fn section_headings_are_dropped_and_text_kept() {
        let roff = b".SH DESCRIPTION\nFollow log files.\n.PP\nMore.\n";
        assert_eq!(
            without_section_headings(roff),
            b"Follow log files.\n.PP\nMore.\n".to_vec()
        );
    }
}
