#!/usr/bin/env bash
# Fuzzes ringlog with cargo-fuzz (libFuzzer + AddressSanitizer, nightly): each target in
# fuzz/ runs for SECONDS (default 300) from its committed seed corpus, and the script prints
# the exec count and coverage of each. Opt-in (not in scripts/test.sh; the seeds themselves
# run there as ordinary tests: core/*/tests/fuzz_seeds.rs).
#
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   targets: ring_frame control_message run_log_reader wandb_writer (default: all)
# Env: FUZZ_JOBS (libFuzzer -fork workers per target, default 1).
#
# Installs what it needs: a nightly toolchain (rustup) and cargo-fuzz (cargo install).
# Builds in target/fuzz (not the shared target/). New inputs go to target/fuzz/corpus/<target>
# (the committed seeds in fuzz/corpus/<target> are read, never written); a crash is saved
# under fuzz/artifacts/<target>/ and ends the script with status 1 and the input's path.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SECONDS_PER_TARGET=${1:-300}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(ring_frame control_message run_log_reader wandb_writer)

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz: installing the nightly toolchain (rustup)"
    rustup toolchain install nightly --profile minimal
fi
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/target/fuzz}"
# Scratch files of the entries (run logs, W&B run directories) on a tmpfs when there is one:
# the W&B writer's finish fsyncs.
SCRATCH=$(mktemp -d "${FUZZ_SCRATCH_PARENT:-/dev/shm}/rlfuzz.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

echo "==> building the fuzz targets (nightly, ASan, $TARGET_DIR)"
# 16 codegen units: the targets link the whole service crate (arrow, parquet); one unit per
# crate makes the build several times longer for a few percent of speed.
cargo +nightly fuzz build --fuzz-dir fuzz --target-dir "$TARGET_DIR" --codegen-units 16

status=0
summary=()
for t in "${TARGETS[@]}"; do
    work="$TARGET_DIR/corpus/$t"
    artifacts="$ROOT/fuzz/artifacts/$t"
    mkdir -p "$work" "$artifacts"
    log="$TARGET_DIR/$t.log"
    echo "==> fuzzing $t for ${SECONDS_PER_TARGET}s (log: $log)"
    set +e
    TMPDIR="$SCRATCH" cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$TARGET_DIR" --codegen-units 16 "$t" \
        "$work" "$ROOT/fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -artifact_prefix="$artifacts/" \
        -timeout=10 -rss_limit_mb=2048 ${FUZZ_JOBS:+-fork=$FUZZ_JOBS} >"$log" 2>&1
    rc=$?
    set -e
    # libFuzzer's last status line: "#N DONE cov: C ft: F corp: K/S ..." and the final stats.
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+) .*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9a-zA-Z]+) .*/\1/p' <<<"$last")
    line="$t: execs=${execs:-?} cov=${cov:-?} (edges) ft=${ft:-?} (features) corpus=${corp:-?} exit=$rc"
    if [ "$rc" -ne 0 ]; then
        status=1
        line="$line CRASH: $(grep -E 'Test unit written to' "$log" | tail -1)"
        echo "---- $t failed; the end of its log:"
        tail -60 "$log"
    fi
    echo "$line"
    summary+=("$line")
done

echo
echo "fuzz summary (${SECONDS_PER_TARGET}s per target):"
printf '  %s\n' "${summary[@]}"
exit $status
