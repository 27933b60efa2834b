#!/usr/bin/env bash
# Installs what ringlog's build and tests need on a fresh machine. Idempotent.
# Called by scripts/test.sh and scripts/main.sh; safe to run by hand.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if ! have cargo; then
    echo "setup: cargo not found: install Rust with rustup (https://rustup.rs) and re-run" >&2
    exit 1
fi

# Debian packages: compilers for the C tests and cc-using crates, valgrind,
# CMake and pkg-config for the C/C++ consumer tests, tmux for the terminal UI
# test (`ringlog watch` on a real terminal), groff to render the man page, a
# TrueType font for `ringlog plot`'s labels, Python with venv for the
# binding and the W&B checks.
missing=()
have cc || missing+=(build-essential)
have c++ || missing+=(g++)
have valgrind || missing+=(valgrind)
have cmake || missing+=(cmake)
have pkg-config || missing+=(pkg-config)
have tmux || missing+=(tmux)
have groff || missing+=(groff-base)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
have python3 || missing+=(python3)
if have python3 && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if have apt-get && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "${missing[@]}"
    else
        echo "setup: missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

# rustfmt and clippy on the stable toolchain.
if have rustup; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || echo "setup: could not add rustfmt/clippy via rustup" >&2
fi
