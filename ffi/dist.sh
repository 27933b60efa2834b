#!/usr/bin/env bash
# Packages ringlog's C API and service. Two forms:
#
#   ffi/dist.sh OUTDIR
#       Builds (release) libringlog and the service and writes the relocatable
#       tarball OUTDIR/ringlog-<version>-<target>.tar.gz, whose one top-level
#       folder ringlog-<version>-<target>/ holds:
#         bin/ringlog                         the service and CLI (stripped)
#         lib/libringlog.so, lib/libringlog.a (stripped: --strip-unneeded, --strip-debug)
#         include/ringlog.h, include/ringlog.hpp (the C++ wrapper)
#         lib/pkgconfig/ringlog.pc, ringlog-static.pc
#         lib/cmake/ringlog/ringlogConfig.cmake, ringlogConfigVersion.cmake
#                                             (imported targets ringlog::ringlog, ringlog::static)
#       Every path inside is relative (pkg-config's ${pcfiledir}, CMake's
#       CMAKE_CURRENT_LIST_DIR), so the folder works wherever it is unpacked,
#       and libringlog starts the bin/ringlog beside it (dladdr) when no service
#       runs. Prints the tarball's path.
#
#   ffi/dist.sh [TARGET_DIR [PROFILE [PREFIX]]]          (none, two or three arguments)
#       The install-tree form (what ffi/tests/run_c_tests.sh uses): copies the
#       libraries TARGET_DIR/PROFILE/libringlog.{so,a} as they are built
#       (unstripped; build them first with cargo build [--release] -p ringlog-ffi)
#       and the headers under PREFIX, with the same pkg-config and CMake files.
#       TARGET_DIR defaults to ./target, PROFILE to release, PREFIX to
#       TARGET_DIR/PROFILE/dist. Prints PREFIX.
#
# Then, for example (PREFIX = the unpacked folder or the install tree):
#
#   export PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
#   cc app.c $(pkg-config --cflags --libs ringlog) -Wl,-rpath,PREFIX/lib
#   cc app.c $(pkg-config --cflags --libs ringlog-static)
#   cmake -DCMAKE_PREFIX_PATH=PREFIX ...   # find_package(ringlog CONFIG REQUIRED)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cargo="${CARGO:-cargo}"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)"
major="${version%%.*}"
minor="${version#*.}"
minor="${minor%%.*}"
# What `rustc --print native-static-libs` reports for libringlog.a on Linux.
native_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
cmake_native_libs="gcc_s;util;rt;pthread;m;dl;c"

die() {
    echo "dist.sh: $*" >&2
    exit 1
}

# Copies the headers and writes the pkg-config and CMake files under $1.
install_headers_and_metadata() {
    local prefix="$1" pc
    mkdir -p "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/ringlog"
    cp -f "$root/include/ringlog.h" "$root/bindings/cpp/ringlog.hpp" "$prefix/include/"
    for pc in ringlog ringlog-static; do
        sed -e "s|@VERSION@|$version|g" -e "s|@NATIVE_LIBS@|$native_libs|g" \
            "$root/ffi/$pc.pc.in" >"$prefix/lib/pkgconfig/$pc.pc"
    done
    sed -e "s|@CMAKE_NATIVE_LIBS@|$cmake_native_libs|g" \
        "$root/ffi/ringlogConfig.cmake.in" >"$prefix/lib/cmake/ringlog/ringlogConfig.cmake"
    sed -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" -e "s|@MINOR@|$minor|g" \
        "$root/ffi/ringlogConfigVersion.cmake.in" >"$prefix/lib/cmake/ringlog/ringlogConfigVersion.cmake"
}

if [[ $# -ne 1 ]]; then
    # The install-tree form.
    [[ $# -le 3 ]] || die "usage: dist.sh OUTDIR | dist.sh [TARGET_DIR [PROFILE [PREFIX]]]"
    target="$(realpath -m "${1:-$root/target}")"
    profile="${2:-release}"
    prefix="$(realpath -m "${3:-$target/$profile/dist}")"
    libs="$target/$profile"
    for f in "$libs/libringlog.so" "$libs/libringlog.a"; do
        [[ -f "$f" ]] ||
            die "$f is missing: build it with cargo build -p ringlog-ffi$([[ $profile == release ]] && echo ' --release')"
    done
    mkdir -p "$prefix/lib"
    cp -f "$libs/libringlog.so" "$libs/libringlog.a" "$prefix/lib/"
    install_headers_and_metadata "$prefix"
    echo "$prefix"
    exit 0
fi

# The tarball form.
outdir="$(realpath -m "$1")"
for tool in strip tar gzip rustc "$cargo"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required (Debian: apt-get install binutils tar gzip; Rust: rustup)"
done
triple="$(rustc -vV | sed -n 's/^host: //p')"
[[ -n "$triple" ]] || die "cannot read the target triple from rustc -vV"
target="$(realpath -m "${CARGO_TARGET_DIR:-$root/target}")"
echo "dist.sh: building libringlog and the service (cargo build --release) into $target" >&2
"$cargo" build --release --quiet -p ringlog-ffi -p ringlog-service --lib --bin ringlog \
    --manifest-path "$root/Cargo.toml" --target-dir "$target" ||
    die "the release build failed (cargo build --release -p ringlog-ffi -p ringlog-service)"
rel="$target/release"

name="ringlog-$version-$triple"
stage="$(mktemp -d "${TMPDIR:-/tmp}/ringlog-dist.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
tree="$stage/$name"
mkdir -p "$tree/bin" "$tree/lib"
strip -o "$tree/bin/ringlog" "$rel/ringlog"
strip --strip-unneeded -o "$tree/lib/libringlog.so" "$rel/libringlog.so"
strip --strip-debug -o "$tree/lib/libringlog.a" "$rel/libringlog.a"
chmod 0755 "$tree/bin/ringlog" "$tree/lib/libringlog.so"
chmod 0644 "$tree/lib/libringlog.a"
install_headers_and_metadata "$tree"

mkdir -p "$outdir"
tarball="$outdir/$name.tar.gz"
tar --owner=0 --group=0 --numeric-owner --sort=name -C "$stage" -czf "$tarball.tmp" "$name"
mv -f "$tarball.tmp" "$tarball"
echo "$tarball"
