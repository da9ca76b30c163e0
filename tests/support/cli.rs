//! Running the binary under test as a command, the way an operator does.

use std::path::Path;
use std::process::{Command, Output};

use super::daemon::BIN;

/// `mail-ingest -c config ARGS...`, without `RUST_LOG` from the caller.
pub fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// What a command printed, its exit code and both streams, for an assertion's message.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The standard output of a command that must succeed.
pub fn succeeded(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}
