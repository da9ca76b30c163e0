//! What the benchmarks share: their two numeric arguments and the release binary they time.

use std::path::{Path, PathBuf};

/// The first two non-flag arguments as numbers, each falling back to its default.
pub fn args(defaults: [usize; 2]) -> [usize; 2] {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    [0, 1].map(|i| {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(defaults[i])
    })
}

/// The mail-ingest binary to time: `MAIL_INGEST_BIN`, or the release build.
pub fn release_binary() -> PathBuf {
    let binary = std::env::var("MAIL_INGEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/mail-ingest")
        });
    assert!(
        binary.exists(),
        "build the release binary first: cargo build --release"
    );
    binary
}
