#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 20) with cargo-fuzz on the nightly toolchain.
# Installs cargo-fuzz when missing. Exits 0 with a note when no nightly toolchain exists.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain here; skipping the fuzz smoke run" >&2
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked >/dev/null 2>&1 || cargo +nightly install cargo-fuzz >/dev/null
fi
for target in pop3_reader config_loader message_summary; do
  echo "fuzz: $target for ${seconds}s" >&2
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -n 3
done
