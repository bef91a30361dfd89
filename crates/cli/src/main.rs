//! `veritrail`: the command line. Thin: parses flags (`args.rs`) and calls the
//! library layers (`cmd/`). Errors become exit codes here and nowhere else.

mod args;
mod cmd;
mod exit;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = args::Cli::parse();
    match cmd::run(args) {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    }
}
