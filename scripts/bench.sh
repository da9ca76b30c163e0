#!/usr/bin/env bash
# The ingest benchmark: N messages (default 5000), REPS repetitions (default 3), interleaved.
# Installs Dovecot, dante, GNU time and (for comparison) fetchmail, getmail6 and mpop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh time fetchmail getmail6 mpop
ulimit -n 65536 2>/dev/null || true
cargo build --release --bin mail-ingest
cargo bench --bench ingest -- "${1:-5000}" "${2:-3}"
