#!/usr/bin/env bash
# Builds and runs the C and C++ tests of ringlog's C API.
#
#   ffi/tests/run_c_tests.sh [TARGET_DIR]     (default: ./target)
#
# `cargo test -p ringlog-ffi` runs this through tests/c_programs.rs.
#
# 1. Builds the service binary and libringlog (release: the README's C build,
#    the library a user links; the Rust side's debug assertions run in cargo
#    test) into TARGET_DIR, lays them out with ffi/dist.sh and compiles against
#    the generated pkg-config files (ringlog.pc, ringlog-static.pc).
# 2. Builds each C program (gcc -std=c11 -Wall -Wextra -Werror) and each C++
#    program (g++ -std=c++17 -Wall -Wextra -Werror) twice: linked dynamically
#    against libringlog.so, and statically against libringlog.a under
#    AddressSanitizer + UndefinedBehaviorSanitizer.
#    Leak detection stays ON (detect_leaks=1): the library frees everything
#    it allocates by rl_finish / rl_run_free, and what Rust's runtime keeps
#    for the life of the process is still reachable, which LSan does not
#    report; so no suppressions are needed.
# 3. Runs every program against a private service of its own (RINGLOG_SOCKET
#    and RINGLOG_DIR under a temp dir, RINGLOG_BIN = TARGET_DIR/release/ringlog)
#    and shuts that service down afterwards.
# 4. Runs the programs under valgrind (--leak-check=full, definite leaks are
#    errors), against a build of libringlog with rustix on its libc backend
#    (feature `valgrind`, in TARGET_DIR/ffi-valgrind: rustix's default
#    backend reads the vDSO, which valgrind does not map). Valgrind is
#    installed with apt-get when missing and running as root; otherwise this
#    part is skipped with a message.
# 5. Builds the C++ example with bindings/cpp/CMakeLists.txt when cmake is
#    available (installed like valgrind when missing; skipped otherwise),
#    finding the dist tree with find_package(ringlog CONFIG).
#
# Ends with "N passed, M failed" and exits non-zero if anything failed.
# RINGLOG_C_TESTS_KEEP=1 keeps the temp dir (logs, runs) for inspection.
set -euo pipefail
# `cargo test` points LD_LIBRARY_PATH at target/debug, which would beat the
# programs' rpath and load the wrong libringlog.so (the valgrind runs need
# the valgrind build).
unset LD_LIBRARY_PATH

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="$(realpath -m "${1:-$root/target}")"
cargo="${CARGO:-cargo}"
work="$(mktemp -d /tmp/rlc.XXXXXX)"
bin="$target/release/ringlog"
passed=0
failed=0
skipped=()
failed_names=()
case_no=0

say() { printf '== %s\n' "$*"; }

stop_services() {
    local sock
    for sock in "$work"/s*/rt/ringlog.sock; do
        [[ -e "$sock" ]] || continue
        RINGLOG_SOCKET="$sock" RINGLOG_AUTOSTART=0 timeout 30 "$bin" shutdown >/dev/null 2>&1 || true
    done
}
cleanup() {
    stop_services
    if [[ "${RINGLOG_C_TESTS_KEEP:-0}" == 1 ]]; then
        echo "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# Installs Debian packages when missing and possible; returns non-zero otherwise.
apt_updated=0
ensure_tool() {
    local tool="$1" package="$2"
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        return 1
    fi
    say "installing $package (apt-get)"
    if [[ $apt_updated == 0 ]]; then
        apt-get update -qq >/dev/null 2>&1 || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null 2>&1 || return 1
    command -v "$tool" >/dev/null 2>&1
}

for tool in gcc g++ pkg-config; do
    if ! ensure_tool "$tool" "$([[ $tool == g++ ]] && echo g++ || echo "$tool")"; then
        echo "run_c_tests.sh: $tool is required" >&2
        exit 1
    fi
done

say "building the service binary and libringlog (release, as the README's C section says) into $target"
"$cargo" build --release --quiet -p ringlog-service -p ringlog-ffi --lib --bin ringlog --target-dir "$target"
dist="$("$root/ffi/dist.sh" "$target" release "$work/dist")"
export PKG_CONFIG_PATH="$dist/lib/pkgconfig"

have_valgrind=0
vg_lib="$target/ffi-valgrind/debug"
if ensure_tool valgrind valgrind; then
    say "building libringlog for valgrind (feature valgrind) into $target/ffi-valgrind"
    "$cargo" build --quiet -p ringlog-ffi --features valgrind --target-dir "$target/ffi-valgrind"
    have_valgrind=1
else
    skipped+=("valgrind runs: valgrind is not installed and could not be installed (needs root and apt-get)")
fi

cflags=(-std=c11 -Wall -Wextra -Werror -g -I"$root/ffi/tests/c")
cxxflags=(-std=c++17 -Wall -Wextra -Werror -g -I"$root/bindings/cpp")
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
read -r -a dyn_cflags <<<"$(pkg-config --cflags ringlog)"
read -r -a dyn_libs <<<"$(pkg-config --libs ringlog)"
read -r -a static_libs <<<"$(pkg-config --cflags --libs ringlog-static)"
mkdir -p "$work/bin"

# name, compiler, source, extra flags...: builds NAME-dynamic, NAME-asan (and NAME-vg).
build_program() {
    local name="$1" cc="$2" src="$3"
    shift 3
    local flags
    if [[ "$cc" == gcc ]]; then flags=("${cflags[@]}"); else flags=("${cxxflags[@]}"); fi
    "$cc" "${flags[@]}" -O1 "${dyn_cflags[@]}" "$src" "${dyn_libs[@]}" -Wl,-rpath,"$dist/lib" "$@" \
        -o "$work/bin/$name-dynamic"
    "$cc" "${flags[@]}" "${sanitize[@]}" "$src" "${static_libs[@]}" "$@" -o "$work/bin/$name-asan"
    if [[ $have_valgrind == 1 ]]; then
        "$cc" "${flags[@]}" "${dyn_cflags[@]}" "$src" -L"$vg_lib" -lringlog -Wl,-rpath,"$vg_lib" "$@" \
            -o "$work/bin/$name-vg"
    fi
}

say "compiling the C and C++ programs (dynamic, static + ASan/UBSan$([[ $have_valgrind == 1 ]] && echo ', valgrind build'))"
build_program test_api gcc "$root/ffi/tests/c/test_api.c"
build_program test_errors gcc "$root/ffi/tests/c/test_errors.c"
build_program test_multiprocess gcc "$root/ffi/tests/c/test_multiprocess.c"
build_program train gcc "$root/ffi/examples/train.c" -lm
build_program test_wrapper g++ "$root/bindings/cpp/tests/test_wrapper.cpp"
build_program train_cpp g++ "$root/bindings/cpp/examples/train.cpp"
# The wrapper's C++20 overloads (std::span), dynamic only.
g++ -std=c++20 -Wall -Wextra -Werror -g -I"$root/bindings/cpp" -O1 "${dyn_cflags[@]}" \
    "$root/bindings/cpp/tests/test_wrapper.cpp" "${dyn_libs[@]}" -Wl,-rpath,"$dist/lib" -o "$work/bin/test_wrapper-cxx20"

# name, command...: runs the command against a private service, then stops it.
run_case() {
    local name="$1"
    shift
    case_no=$((case_no + 1))
    local dir="$work/s$case_no"
    mkdir -p "$dir/runs"
    local start=$SECONDS rc=0
    RINGLOG_SOCKET="$dir/rt/ringlog.sock" RINGLOG_DIR="$dir/runs" RINGLOG_BIN="$bin" RINGLOG_LOG=warn XDG_STATE_HOME="$dir/state" \
        ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 \
        UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        timeout 300 "$@" >"$dir/out.log" 2>&1 || rc=$?
    RINGLOG_SOCKET="$dir/rt/ringlog.sock" RINGLOG_AUTOSTART=0 timeout 30 "$bin" shutdown >/dev/null 2>&1 || true
    if [[ $rc == 0 ]]; then
        passed=$((passed + 1))
        printf 'PASS %-32s %3ss\n' "$name" "$((SECONDS - start))"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        printf 'FAIL %-32s exit %s; output:\n' "$name" "$rc"
        if [[ $(wc -l <"$dir/out.log") -le 160 ]]; then
            sed 's/^/    /' "$dir/out.log"
        else
            head -n 80 "$dir/out.log" | sed 's/^/    /'
            echo "    [...]"
            tail -n 80 "$dir/out.log" | sed 's/^/    /'
        fi
        if [[ -f "$dir/rt/service.log" ]]; then
            echo "    service log (last 20 lines):"
            tail -n 20 "$dir/rt/service.log" | sed 's/^/    /'
        fi
    fi
}

valgrind_cmd=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite)
for prog in test_api test_errors test_multiprocess train test_wrapper train_cpp; do
    args=()
    [[ $prog == train || $prog == train_cpp ]] && args=(500)
    run_case "$prog (dynamic)" "$work/bin/$prog-dynamic" "${args[@]}"
    run_case "$prog (static, asan+ubsan)" "$work/bin/$prog-asan" "${args[@]}"
    if [[ $have_valgrind == 1 ]]; then
        run_case "$prog (valgrind)" "${valgrind_cmd[@]}" "$work/bin/$prog-vg" "${args[@]}"
    fi
done

run_case "test_wrapper (C++20, dynamic)" "$work/bin/test_wrapper-cxx20"

if ensure_tool cmake cmake; then
    case_no=$((case_no + 1))
    if cmake -S "$root/bindings/cpp" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$dist" >"$work/cmake.log" 2>&1 &&
        cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1; then
        run_case "train_cpp (CMake build)" "$work/cmake/train_cpp" 200
    else
        failed=$((failed + 1))
        failed_names+=("CMake build")
        echo "FAIL CMake build of bindings/cpp; log:"
        tail -n 30 "$work/cmake.log" | sed 's/^/    /'
    fi
else
    skipped+=("CMake build: cmake is not installed and could not be installed")
fi

for s in "${skipped[@]}"; do
    echo "SKIP $s"
done
[[ $failed -gt 0 ]] && echo "failed: ${failed_names[*]}"
echo "c tests: $passed passed, $failed failed"
[[ $failed == 0 ]]
