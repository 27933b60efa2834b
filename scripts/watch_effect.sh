#!/usr/bin/env bash
# What `ringlog watch` costs a running job: `ringlog demo` with and without a
# `ringlog watch` of the same run open in a real terminal (tmux), N pairs in
# ABBA order; prints each pair and the medians. A benchmark, not a test.
#
#   bash scripts/watch_effect.sh [PAIRS] [STEPS]     (defaults: 5 pairs, 8,000,000 steps, 1 worker)
#
# Needs tmux and a release build (`cargo build --release -p ringlog-service`).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="${1:-5}"
steps="${2:-8000000}"
bin="$PWD/target/release/ringlog"
[ -x "$bin" ] || { echo "build first: cargo build --release -p ringlog-service" >&2; exit 2; }
command -v tmux >/dev/null || { echo "needs tmux (bash scripts/setup.sh installs it)" >&2; exit 2; }
work="$(mktemp -d /tmp/rl-watch-effect.XXXXXX)"
mkdir -m 700 "$work/rt"
export RINGLOG_SOCKET="$work/rt/sock" RINGLOG_DIR="$work/runs" XDG_STATE_HOME="$work/state" RINGLOG_BIN="$bin"
session="rl-watch-effect-$$"
cleanup() {
    tmux kill-session -t "$session" 2>/dev/null || true
    "$bin" shutdown >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# One demo run; prints its steps/s (M). With $1 = watch, a watch follows it.
demo() {
    local out="$work/demo.out"
    "$bin" demo --workers 1 --steps "$steps" >"$out" 2>&1 &
    local pid=$!
    if [ "$1" = watch ]; then
        # Wait (bounded) for the run to exist, then watch it in a 150x45 terminal.
        for _ in $(seq 100); do [ -e "$RINGLOG_DIR/latest-run" ] && break; sleep 0.02; done
        tmux new-session -d -s "$session" -x 150 -y 45 \
            "env RINGLOG_SOCKET=$RINGLOG_SOCKET RINGLOG_DIR=$RINGLOG_DIR XDG_STATE_HOME=$XDG_STATE_HOME $bin watch"
    fi
    wait "$pid"
    tmux kill-session -t "$session" 2>/dev/null || true
    rm -f "$RINGLOG_DIR/latest-run"
    awk '/^throughput/ {print $2}' "$out"
}

"$bin" demo --workers 1 --steps 100000 >/dev/null 2>&1 # starts the service, warms the page cache
without=() with=()
for i in $(seq "$pairs"); do
    # ABBA order: a run follows the previous run's disk writeback, so alternate
    # which of the two goes first.
    if [ $((i % 2)) = 1 ]; then
        a="$(demo plain)"
        b="$(demo watch)"
    else
        b="$(demo watch)"
        a="$(demo plain)"
    fi
    without+=("$a") with+=("$b")
    echo "pair $i: without watch $a M steps/s, with watch $b M steps/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
m0="$(median "${without[@]}")" m1="$(median "${with[@]}")"
echo "median: without watch $m0, with watch $m1 M steps/s; ratio $(awk -v a="$m1" -v b="$m0" 'BEGIN {printf "%.3f", a / b}')"
