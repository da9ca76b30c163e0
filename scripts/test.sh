#!/usr/bin/env bash
# The README's test command: installs the Debian packages the tests need when missing
# (Dovecot, dante-server, microsocks, mpop), then runs every test against real servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Every target but the benchmark (scripts/bench.sh runs that; clippy still checks it).
cargo test --lib --bins --tests --examples "$@"
cargo test --doc
