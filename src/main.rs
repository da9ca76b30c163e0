//! The `mail-ingest` binary: argument parsing, logging and metrics set-up, and printing.
//! Everything it does is the `mail_ingest` library's work.

mod cli;

use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    bounded_malloc_arenas();
    cli::main()
}

/// glibc gives every thread that frees memory an arena of its own and keeps what it frees
/// there; a large backfill's peak memory then grows with the mailbox. Two arenas keep it
/// flat (the README's performance section has the figures). The setting is read only at
/// process start, so the process starts itself once more with it, unless the operator
/// chose their own `GLIBC_TUNABLES`.
fn bounded_malloc_arenas() {
    const MARK: &str = "MAIL_INGEST_MALLOC_TUNED";
    if std::env::var_os("GLIBC_TUNABLES").is_some() || std::env::var_os(MARK).is_some() {
        return;
    }
    if let Ok(exe) = std::env::current_exe() {
        // Only returns if the exec failed; then carry on with the defaults.
        let _ = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
            .env(MARK, "1")
            .exec();
    }
}
