#!/usr/bin/env bash
# Runs every test of ringlog: formatting, lints, Rust unit/integration/doc tests
# (real /dev/shm segments and real producer processes), the benchmark smoke test,
# the loom models and, when a nightly toolchain with miri can be had, miri.
# Usage: bash scripts/test.sh        (CI runs exactly this via .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace

step "benches compile and run once in test mode"
cargo test -p ringlog-benches --benches

step "loom models (own target dir, bounded preemptions)"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
    cargo test -p ringlog-ring --features test-hooks --release --test loom_ring --test loom_wakeup --target-dir target/loom

step "miri (ring logic over heap lanes)"
bash scripts/miri.sh

echo
echo "all ringlog tests passed"
