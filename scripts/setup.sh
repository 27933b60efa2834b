#!/usr/bin/env bash
# Installs what ringlog's build and tests need on a fresh machine. Idempotent.
# Called by scripts/test.sh and scripts/main.sh; safe to run by hand.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if ! have cargo; then
    echo "setup: cargo not found: install Rust with rustup (https://rustup.rs) and re-run" >&2
    exit 1
fi

# Compilers for C tests and cc-using crates.
if ! have cc || ! have c++; then
    if have apt-get && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq build-essential
    else
        echo "setup: no C compiler; install gcc and g++" >&2
        exit 1
    fi
fi

# rustfmt and clippy on the stable toolchain.
if have rustup; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || echo "setup: could not add rustfmt/clippy via rustup" >&2
fi
