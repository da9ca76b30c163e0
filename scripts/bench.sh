#!/usr/bin/env bash
# The benchmarks. `scripts/bench.sh [N [REPS]]`: the ingest benchmark, N messages (default
# 5000), REPS repetitions (default 3), interleaved. `scripts/bench.sh scale [ACCOUNTS [MIXED]]`:
# the daemon with many accounts (default 1000), then MIXED accounts (default 500) with 10 %
# broken. `scripts/bench.sh latency [N [REPS [RTT_MS]]]`: the ingest benchmark with every client
# behind a proxy that delays each direction by half of RTT_MS (default 1000 messages, 3
# repetitions, 50 ms). Installs Dovecot, dante, GNU time and (for comparison) fetchmail,
# getmail6 and mpop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh time fetchmail getmail6 mpop
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --bin mail-ingest
if [ "${1:-}" = latency ]; then
    shift
    BENCH_RTT_MS="${3:-50}" cargo bench --bench ingest -- "${1:-1000}" "${2:-3}"
elif [ "${1:-}" = scale ]; then
    shift
    cargo bench --bench scale -- "${1:-1000}" "${2:-500}"
else
    cargo bench --bench ingest -- "${1:-5000}" "${2:-3}"
fi
