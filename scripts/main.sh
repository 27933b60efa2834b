#!/usr/bin/env bash
# The main job: build ringlog in release and run `ringlog demo`, which
# auto-starts the service on the default socket (RINGLOG_SOCKET or the per-user
# runtime dir), logs a realistic run from several processes, finishes it and
# prints the run directory, counts and throughput. Extra args go to `demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p ringlog-service --bin ringlog
exec target/release/ringlog demo "$@"
