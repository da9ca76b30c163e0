//! The `mail-ingest` binary: argument parsing, logging and metrics set-up, and printing.
//! Everything it does is the `mail_ingest` library's work.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
