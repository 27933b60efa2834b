#!/usr/bin/env bash
# Regenerates the figures of docs/benchmarks.md (issue 13): the full comparison
# against every peer (iceoryx2 included, `peers` feature), its Markdown table,
# the plots, the Python row (the binding against wandb 0.31 offline) and the
# clock costs of ADR 7.
#
# Everything lands in docs/benchmarks/:
#   compare.json, compare.md    rows of `compare` (JSON schema: benches/src/report.rs)
#   *.svg                       plots drawn by `plots` from compare.json
#   python.json                 benches/python/bench_log.py (needs target/venv: bash scripts/setup.sh)
#   clock.txt                   the `clock` group of the criterion bench `producer`
#
# Usage: bash scripts/bench-results.sh [--quick]
#   --quick: fewer records (about 15 minutes on 2 cores instead of about 45).
# Run it on a quiet machine: the figures are medians of repeated runs, but a
# busy machine shifts all of them.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=()
python_n=(--n 200000 --repeat 5)
if [[ "${1:-}" == "--quick" ]]; then
  quick=(--quick)
  python_n=(--n 50000 --repeat 3)
fi
out=docs/benchmarks
mkdir -p "$out"

cargo build --release -p ringlog-service
cargo build --release -p ringlog-benches --features peers --bin compare --bin plots
target/release/compare "${quick[@]}" --runs 5 --json "$out/compare.json" --markdown "$out/compare.md"
target/release/plots --json "$out/compare.json" --out "$out"

if [[ -x target/venv/bin/python ]]; then
  target/venv/bin/python benches/python/bench_log.py "${python_n[@]}" --json "$out/python.json"
else
  echo "bench-results: no target/venv (run bash scripts/setup.sh): the Python row is not measured" >&2
fi

cargo bench -p ringlog-benches --bench producer -- clock 2>&1 | grep -E "^clock/.*time:" | tee "$out/clock.txt"
