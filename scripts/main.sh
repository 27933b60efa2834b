#!/usr/bin/env bash
# The main job for now: build in release and run the transport comparison.
# (`ringlog demo` with the auto-started service replaces this with the service issue.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec cargo run --release -p ringlog-benches --bin compare -- --quick "$@"
