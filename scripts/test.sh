#!/usr/bin/env bash
# Runs every test of ringlog: formatting, lints, the layer check, the Python
# binding (in a venv this script creates), Rust unit/integration/doc tests (real
# /dev/shm segments, real producer processes, W&B's own reader), the C/C++
# programs, the benchmark smoke test, the loom models and, when a nightly
# toolchain with miri can be had, miri.
# Usage: bash scripts/test.sh        (CI runs exactly this via .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
export CARGO_TERM_COLOR=never

# Each step prints how long the one before it took, so a slow suite shows where.
step_start=0
step_name=setup
step() {
    printf '\n(%s: %d s; total %d s)\n' "$step_name" $((SECONDS - step_start)) "$SECONDS"
    step_start=$SECONDS
    step_name=$1
    printf '\n==> %s\n' "$*"
}

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "layers: the trainer crate pulls in no CLI- or service-only crate"
bash scripts/check_layers.sh

step "Python binding: venv (target/venv with maturin, wandb==0.31.0, pyarrow), pip install, pytest"
bash scripts/python_test.sh

step "cargo test --workspace (the W&B checks use target/venv's wandb and must not skip)"
RINGLOG_TEST_VENV="$PWD/target/venv" RINGLOG_REQUIRE_WANDB=1 cargo test --workspace

# The soak's binaries as `cargo test --workspace` just built them (a build of its own
# would resolve other features and compile the service again).
step "soak --quick: producer and service SIGKILLs, 64 runs at once, every record accounted for (about a minute)"
bash scripts/soak.sh --no-build --quick

# --workspace: the features `cargo test --workspace` resolved, so only the bench targets compile.
step "benches compile and run once in test mode"
cargo test --workspace --benches

# The dev profile: the models run in seconds unoptimized, and build in less time than the
# release profile takes to optimize them.
step "loom models (own target dir, bounded preemptions)"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
    cargo test -p ringlog-ring --features test-hooks --test loom_ring --test loom_wakeup --target-dir target/loom

step "miri (ring logic over heap lanes)"
bash scripts/miri.sh

printf '\n(%s: %d s; total %d s)\n' "$step_name" $((SECONDS - step_start)) "$SECONDS"
echo
echo "all ringlog tests passed"
