#!/usr/bin/env bash
# Runs the full comparison with the heavy peers (issue 13): every transport of
# `compare`, iceoryx2 included, all record shapes and modes.
#
# What the `peers` feature needs: a Rust toolchain and crates.io, nothing from
# the system. iceoryx2 0.10 builds bindgen but runs it only for QNX; on Linux
# it binds libc, so no libclang. The release build of iceoryx2 takes a few
# minutes on 2 cores the first time. Safe to rerun: it only builds and runs.
#
# Usage: bash scripts/bench-peers.sh [--quick] [--json FILE] [other compare options]
#        (the JSON report goes to target/compare-peers.json unless --json is given)
set -euo pipefail
cd "$(dirname "$0")/.."

args=("$@")
case " $* " in
  *" --json "* | *" --json="*) ;;
  *) args+=(--json target/compare-peers.json) ;;
esac

# The ringlog-e2e rows start the `ringlog` service binary found beside `compare`.
cargo build --release -p ringlog-service
cargo run --release -p ringlog-benches --features peers --bin compare -- "${args[@]}"
