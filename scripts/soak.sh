#!/usr/bin/env bash
# The soak test (issue 12): real trainer processes against a private ringlog service, with
# exact accounting of every record (tests/src/bin/soak.rs):
#   1. producers SIGKILLed at random points, some between claim and commit (4 per run);
#   2. the service SIGKILLed under load (the auto-started service adopts the runs);
#   3. 64 runs x 2 producers at once.
# Each part prints records committed (acknowledged to the producers), records on disk, lost,
# duplicated, wedged runs, and the service's RSS / threads / CPU before, at peak and after.
# Exits 1 on any lost or duplicated record or wedged run.
#
# Usage: bash scripts/soak.sh [--no-build] [--quick] [--seed N] [--producer-kill-runs N] [--service-kills N] [--runs N]
#   --quick: about a minute (scripts/test.sh runs it); the default is the long version
#   (100 producer-kill runs, 30 service kills, 64 runs of 50,000 records per producer).
#   --no-build (first): the binaries as they are (scripts/test.sh: `cargo test --workspace` built them).
# Uses the debug binaries (target/debug/ringlog, target/debug/ringlog-soak), building them
# if needed. Everything it writes is under $TMPDIR/rl-soak-<pid> (kept on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = --no-build ]; then
    shift
    for bin in target/debug/ringlog target/debug/ringlog-soak; do
        [ -x "$bin" ] || { echo "soak: $bin is missing: run without --no-build" >&2; exit 1; }
    done
else
    cargo build --quiet -p ringlog-service --bin ringlog -p ringlog-tests --bin ringlog-soak
fi
exec target/debug/ringlog-soak "$@"
