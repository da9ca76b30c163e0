#!/usr/bin/env bash
# The README's first command: installs what is missing, starts a private demo Dovecot on
# loopback with sample mail, ingests it with mail-ingest and prints the reports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --bin mail-ingest --example demo
exec target/release/examples/demo target/release/mail-ingest
