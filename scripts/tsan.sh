#!/usr/bin/env bash
# ThreadSanitizer over the lane and cross-process tests (issue 12). Opt-in: not part of
# scripts/test.sh (it needs nightly, rebuilds std with -Zbuild-std, and takes minutes).
#
#   core/ring/tests/lane.rs          heap lanes: producers and the consumer on threads
#   core/ring/tests/segment.rs       /dev/shm segments, adoption, release, wakeups
#   tests/tests/cross_process.rs     real producer processes (also built with TSan)
#
# Usage: bash scripts/tsan.sh [extra cargo test args, e.g. -- --test-threads=1]
# Builds in target/tsan (not the shared target/). Prints the number of ThreadSanitizer
# reports and exits 1 if there is any, or if a test fails. The full output is kept in
# target/tsan/tsan.log.
#
# TSan sees each process on its own: memory shared between processes is synchronized by
# the same atomics it checks within a process, and the futex waits are plain syscalls to it
# (the wakeups are always paired with an atomic, which is what TSan checks).
set -uo pipefail
cd "$(dirname "$0")/.."

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "tsan: installing the nightly toolchain (rustup)"
    rustup toolchain install nightly --profile minimal || exit 1
fi
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true

TARGET=x86_64-unknown-linux-gnu
TARGET_DIR="${TSAN_TARGET_DIR:-$PWD/target/tsan}"
mkdir -p "$TARGET_DIR"
LOG="$TARGET_DIR/tsan.log"
export RUSTFLAGS="-Zsanitizer=thread"
export RUSTDOCFLAGS="-Zsanitizer=thread"
# The tests' own child processes (the producer binary) run under TSan too and report into
# the same output; halt_on_error=0 lists every report instead of stopping at the first.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0 second_deadlock_stack=1}"

echo "==> cargo +nightly test -Zbuild-std (ThreadSanitizer): lane, segment, cross_process ($LOG)"
cargo +nightly test -Zbuild-std --target "$TARGET" --target-dir "$TARGET_DIR" \
    -p ringlog-ring --features ringlog-ring/test-hooks --test lane --test segment \
    -p ringlog-tests --test cross_process "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
reports=$(grep -c '^WARNING: ThreadSanitizer' "$LOG" || true)
echo
echo "tsan: $reports ThreadSanitizer report(s), cargo test exit status $rc"
if [ "$reports" -gt 0 ]; then
    grep -A3 '^WARNING: ThreadSanitizer' "$LOG" | head -40
    exit 1
fi
exit "$rc"
