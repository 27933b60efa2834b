#!/usr/bin/env bash
# The C API's hot path next to the Rust client's, against one running
# service, in ns per record (lower is better):
#
#   ffi/benches/run_bench.sh [TARGET_DIR [RECORDS [ROUNDS [REPEATS [RING_MIB]]]]]
#
# Builds (release) the service, libringlog.a and the Rust bench
# (ffi/examples/rust_hot_path.rs), compiles ffi/benches/c_hot_path.c with
# gcc -O2 against libringlog.a (static) and libringlog.so (dynamic), starts a
# private service, pins it to CPU 0 and the producers to CPU 1 (when taskset
# and 2+ CPUs are there), then runs rust, c-static and c-dynamic in turn
# REPEATS times (ROUNDS rounds of RECORDS records each) and prints the
# median and minimum per case with the C/Rust ratios; the order of the three rotates from
# repeat to repeat. Defaults: 500000 records, 5 rounds, 5 repeats, 64 MiB
# lanes (each program pre-faults its lane and pauses before each timed loop,
# so the producer never waits for the service: this times the hot path, not
# the drain, which ringlog-benches measures).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="$(realpath -m "${1:-$root/target}")"
records="${2:-500000}"
rounds="${3:-5}"
repeats="${4:-5}"
ring_mib="${5:-64}"
cargo="${CARGO:-cargo}"
work="$(mktemp -d /tmp/rlb.XXXXXX)"
rel="$target/release"
export RINGLOG_SOCKET="$work/rt/ringlog.sock" RINGLOG_DIR="$work/runs" RINGLOG_BIN="$rel/ringlog" RINGLOG_LOG=warn \
    XDG_STATE_HOME="$work/state"
cleanup() {
    RINGLOG_AUTOSTART=0 timeout 30 "$rel/ringlog" shutdown >/dev/null 2>&1 || true
    if [[ -n "${RINGLOG_BENCH_RAW:-}" ]]; then cp "$work/results" "$RINGLOG_BENCH_RAW"; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$cargo" build --quiet --release -p ringlog -p ringlog-ffi -p ringlog-service --lib --bin ringlog --example rust_hot_path --target-dir "$target"
gcc -std=c11 -O2 -I"$root/include" "$root/ffi/benches/c_hot_path.c" "$rel/libringlog.a" \
    -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$work/c-static"
gcc -std=c11 -O2 -I"$root/include" "$root/ffi/benches/c_hot_path.c" -L"$rel" -lringlog -Wl,-rpath,"$rel" \
    -o "$work/c-dynamic"

# Start the service and pin it (and its drain threads) away from the producer.
"$rel/ringlog" serve --daemon >/dev/null 2>&1 || true
for _ in $(seq 100); do [[ -S "$RINGLOG_SOCKET" ]] && break; sleep 0.05; done
pin=()
if command -v taskset >/dev/null && [[ "$(nproc)" -ge 2 ]]; then
    pid="$("$rel/ringlog" status --json | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' | head -n 1)"
    if [[ -n "$pid" ]] && taskset -a -p -c 0 "$pid" >/dev/null; then
        pin=(taskset -c 1)
        echo "service pid $pid pinned to CPU 0, producers to CPU 1"
    fi
fi

: >"$work/results"
bench() {
    case "$1" in
    rust) "${pin[@]}" "$rel/examples/rust_hot_path" "$records" "$rounds" "$ring_mib" ;;
    c-static | c-dynamic) "${pin[@]}" "$work/$1" "$records" "$rounds" "$ring_mib" | sed "s/^c /$1 /" ;;
    esac >>"$work/results"
}
order=(rust c-static c-dynamic)
for rep in $(seq "$repeats"); do
    for i in 0 1 2; do
        bench "${order[(i + rep) % 3]}"
    done
done

python3 - "$work/results" "$records" "$rounds" "$repeats" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def samples(who, case):
    return [float(v) for w, c, v in rows if w == who and c == case]
print(f"records per round {sys.argv[2]}, rounds {sys.argv[3]}, repeats {sys.argv[4]}; ns per record")
print("median (min): the minimum is the least disturbed sample, the steadier figure on a shared machine")
print(f"{'case (C call)':40} {'rust':>15} {'c-static':>15} {'c-dynamic':>15} {'static/rust':>13} {'dynamic/rust':>13}")
# The Rust side of every scalar8 row is Run::log with 8 items.
for label, c_case, rust_case in (
    ("scalar1 (rl_log_f64)", "scalar1", "scalar1"),
    ("scalar8 (step_begin + 8 f64 + commit)", "scalar8", "scalar8"),
    ("scalar8 (rl_log_f64s)", "scalar8-array", "scalar8"),
    ("scalar8 (rl_step_buf, inline + commit)", "scalar8-buf", "scalar8"),
):
    r, s, d = samples("rust", rust_case), samples("c-static", c_case), samples("c-dynamic", c_case)
    fmt = lambda x: f"{statistics.median(x):6.1f} ({min(x):5.1f})"
    ratio = lambda x: f"{statistics.median(x) / statistics.median(r):4.2f} ({min(x) / min(r):4.2f})"
    print(f"{label:40} {fmt(r):>15} {fmt(s):>15} {fmt(d):>15} {ratio(s):>13} {ratio(d):>13}")
PY
