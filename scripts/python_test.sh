#!/usr/bin/env bash
# The Python binding's checks: fmt and clippy of its crate, then pytest against the
# real service, with one venv (target/venv) reused by every Python-side check.
# Usage: bash scripts/python_test.sh [pytest args]
# Needs python3 (>= 3.9, with venv) and a Rust toolchain; pip reaches PyPI (or PIP_FIND_LINKS).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="$ROOT/target/venv"

step() { printf '\n==> %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    python3 -m venv "$VENV"
fi
step "test dependencies (maturin, wandb==0.31.0, pyarrow, numpy, pytest)"
"$VENV/bin/python" -m pip install -q maturin wandb==0.31.0 pyarrow numpy pytest

step "cargo fmt / clippy (bindings/python, not a workspace member: it needs a Python)"
export PYO3_PYTHON="$VENV/bin/python"
cargo fmt --manifest-path bindings/python/Cargo.toml --check
cargo clippy --manifest-path bindings/python/Cargo.toml --all-targets --features abi3 -- -D warnings

# The maturin build backend runs the `maturin` of the venv.
export PATH="$VENV/bin:$PATH"
step "pip install ./bindings/python"
"$VENV/bin/python" -m pip install -q --no-build-isolation --force-reinstall --no-deps ./bindings/python

step "pytest bindings/python/tests"
cd bindings/python/tests
# Run from the tests dir with the installed package (not the source tree) on sys.path.
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
