//! The `errtally` binary: parses arguments and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use errtally::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => errtally::batch::scan(&args),
        Command::Catalog(args) => errtally::batch::print_catalog(&args),
        Command::Gen(args) => errtally::batch::generate(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("errtally: {error:#}");
            ExitCode::from(2)
        }
    }
}
