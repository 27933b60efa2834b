#!/usr/bin/env bash
# Lays out ringlog's C API as an install tree, with pkg-config files that
# point at it:
#
#   ffi/dist.sh [TARGET_DIR [PROFILE [PREFIX]]]
#
#   PREFIX/lib/libringlog.so, PREFIX/lib/libringlog.a
#   PREFIX/include/ringlog.h, PREFIX/include/ringlog.hpp (the C++ wrapper)
#   PREFIX/lib/pkgconfig/ringlog.pc         (-lringlog: the shared library)
#   PREFIX/lib/pkgconfig/ringlog-static.pc  (libringlog.a plus its system libraries)
#
# TARGET_DIR defaults to ./target, PROFILE to release (the libraries must be
# built: cargo build [--release] -p ringlog-ffi), PREFIX to
# TARGET_DIR/PROFILE/dist. Then, for example:
#
#   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#   cc app.c $(pkg-config --cflags --libs ringlog) -Wl,-rpath,PREFIX/lib
#   cc app.c $(pkg-config --cflags --libs ringlog-static)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$(realpath -m "${1:-$root/target}")"
profile="${2:-release}"
prefix="$(realpath -m "${3:-$target/$profile/dist}")"
libs="$target/$profile"

for f in "$libs/libringlog.so" "$libs/libringlog.a"; do
    if [[ ! -f "$f" ]]; then
        echo "dist.sh: $f is missing: build it with cargo build -p ringlog-ffi$([[ $profile == release ]] && echo ' --release')" >&2
        exit 1
    fi
done

version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)"
# What `rustc --print native-static-libs` reports for libringlog.a on Linux.
native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
cp -f "$libs/libringlog.so" "$libs/libringlog.a" "$prefix/lib/"
cp -f "$root/include/ringlog.h" "$root/bindings/cpp/ringlog.hpp" "$prefix/include/"
for pc in ringlog ringlog-static; do
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@NATIVE_LIBS@|$native_libs|g" \
        "$root/ffi/$pc.pc.in" >"$prefix/lib/pkgconfig/$pc.pc"
done
echo "$prefix"
