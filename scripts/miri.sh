#!/usr/bin/env bash
# Runs the lane tests under miri (heap-backed lanes: miri cannot map shared
# memory). Installs the nightly miri component when it can; skips with a
# message when it cannot (no nightly toolchain reachable).
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v rustup >/dev/null 2>&1; then
    echo "miri: SKIPPED: rustup not found, cannot install the nightly miri component"
    exit 0
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
    rustup component add miri rust-src --toolchain nightly >/dev/null 2>&1 || true
fi
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri: SKIPPED: the nightly toolchain with the miri component could not be installed here"
    exit 0
fi
# Isolation off: the tests read the clock. Tree Borrows: rkyv's relative
# pointers (its derived bytecheck code reads past the field a reference was
# made from) are reported under Stacked Borrows, which rkyv does not target.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation -Zmiri-tree-borrows}"
exec cargo +nightly miri test -p ringlog-ring --test lane --target-dir target/miri
