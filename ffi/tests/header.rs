//! `include/ringlog.h` is generated from `ffi/src/` by cbindgen and committed;
//! this test regenerates it into a temporary file and fails if the committed
//! copy differs. `RINGLOG_BLESS=1` rewrites the committed header instead.

use std::path::PathBuf;
use std::process::Command;

const REGENERATE: &str = "RINGLOG_BLESS=1 cargo test -p ringlog-ffi --test header";

fn ffi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The header's text: cbindgen over `ffi/src/` with `ffi/cbindgen.toml`, plus
/// the version macros (from this crate's version, the workspace version) after
/// the includes and `ffi/header/step_buf_inline.h` before the trailer; then
/// each enum's last enumerator loses its trailing comma (cbindgen writes one,
/// which C89 forbids).
fn generate() -> String {
    let dir = ffi_dir();
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read ffi/cbindgen.toml");
    let version = format!(
        "\n/**\n * The version of ringlog this header belongs to ({}), for compile-time checks;\n \
         * rl_version() gives the version of the library actually loaded.\n */\n\
         #define RINGLOG_VERSION_MAJOR {}\n#define RINGLOG_VERSION_MINOR {}\n#define RINGLOG_VERSION_PATCH {}\n\n",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
    );
    config.after_includes = Some(version + config.after_includes.as_deref().unwrap_or_default());
    let inline =
        std::fs::read_to_string(dir.join("header/step_buf_inline.h")).expect("read ffi/header/step_buf_inline.h");
    config.trailer = Some(format!("{}\n\n{}", inline.trim_end(), config.trailer.as_deref().unwrap_or_default()));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not parse ffi/src");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8").replace(",\n} ", "\n} ")
}

#[test]
fn committed_header_is_current() {
    let committed = ffi_dir().join("../include/ringlog.h");
    let fresh = generate();
    if std::env::var_os("RINGLOG_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&committed, &fresh).expect("write include/ringlog.h");
        return;
    }
    let current = std::fs::read_to_string(&committed).unwrap_or_default();
    if current != fresh {
        let first = current.lines().zip(fresh.lines()).position(|(a, b)| a != b);
        let line = first.unwrap_or_else(|| current.lines().count().min(fresh.lines().count()));
        panic!(
            "include/ringlog.h is stale (first difference at line {}): regenerate it with\n    {REGENERATE}\nand commit it",
            line + 1
        );
    }
}

#[test]
fn header_has_banner_and_guard() {
    let text = generate();
    assert!(text.contains("DO NOT EDIT"), "banner missing");
    assert!(text.contains("#ifndef RINGLOG_H") && text.contains("#define RINGLOG_H"), "include guard missing");
    for name in ["rl_init", "rl_attach", "rl_key", "rl_log_f64", "rl_step_commit", "rl_finish", "rl_error_string"] {
        assert!(text.contains(&format!("{name}(")), "{name} missing from the header");
    }
    assert!(text.contains("RL_OK = 0"), "rl_status must start at RL_OK = 0");
    assert!(text.contains("# Safety"), "Safety docs missing from the header");
}

/// The header states the auto-start search order the client really uses (the
/// order of `find_service_binary` in core/client/src/client/autostart.rs).
#[test]
fn header_states_the_real_auto_start_order() {
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../include/ringlog.h")).unwrap();
    let flat: String = header.replace("\n * ", " ").split_whitespace().collect::<Vec<_>>().join(" ");
    let order = "`RINGLOG_BIN`, then `bin/ringlog` in this library's install prefix \
                 (`<dir of libringlog.so>/../bin/ringlog`, found with `dladdr`; the executable's directory for \
                 `libringlog.a`), then a `ringlog` beside the library, then `ringlog` on `PATH`, then \
                 `$CARGO_HOME/bin/ringlog`, then a `ringlog` beside the running executable";
    assert!(flat.contains(order), "ringlog.h must state: {order}");
    let code = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../core/client/src/client/autostart.rs"))
        .unwrap();
    let pos = |needle: &str| code.find(needle).unwrap_or_else(|| panic!("{needle} not in autostart.rs"));
    assert!(
        pos("\"RINGLOG_BIN\"") < pos("module_dir()")
            && pos("module_dir()") < pos("\"PATH\"")
            && pos("\"PATH\"") < pos("\"CARGO_HOME\"")
            && pos("\"CARGO_HOME\"") < pos("current_exe")
    );
}

/// The header is plain C89 as well as C99/C11 and C++: block comments only
/// (no `//`), no trailing enum commas, inline functions declared so C89 takes
/// them. And its version macros are this crate's version, checked by the
/// preprocessor. Each standard compiles a file that includes the committed
/// header and calls the inline step builder, with `-pedantic -Werror`.
#[test]
fn header_compiles_as_c89_and_has_the_crate_version() {
    let header = std::fs::read_to_string(ffi_dir().join("../include/ringlog.h")).unwrap();
    assert!(!header.contains("//"), "include/ringlog.h has a // (not C89); use /* */ comments");
    if std::env::var_os("RINGLOG_SKIP_C_TESTS").is_some_and(|v| v == "1") {
        eprintln!("RINGLOG_SKIP_C_TESTS=1: not compiling the header");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("header-c89-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = "#include \"ringlog.h\"\n\
        #if RINGLOG_VERSION_MAJOR != EXPECT_MAJOR || RINGLOG_VERSION_MINOR != EXPECT_MINOR \\\n\
            || RINGLOG_VERSION_PATCH != EXPECT_PATCH\n\
        #error \"RINGLOG_VERSION_* differ from the crate version\"\n\
        #endif\n\
        int log_one(rl_run *run, rl_key_id key);\n\
        int log_one(rl_run *run, rl_key_id key) {\n\
            rl_step_buf b;\n\
            rl_step_buf_begin(&b, 1);\n\
            rl_step_buf_f64(&b, key, 0.5);\n\
            return (int)rl_step_buf_commit(run, &b);\n\
        }\n";
    std::fs::write(dir.join("use.c"), source).unwrap();
    std::fs::write(dir.join("use.cpp"), source).unwrap();
    let include = ffi_dir().join("../include");
    let cases = [
        ("gcc", "-std=c89", "use.c"),
        ("gcc", "-std=c99", "use.c"),
        ("gcc", "-std=c11", "use.c"),
        ("g++", "-std=c++98", "use.cpp"),
        ("g++", "-std=c++17", "use.cpp"),
    ];
    for (compiler, std, file) in cases {
        let out = Command::new(compiler)
            .current_dir(&dir)
            .args([std, "-pedantic", "-Wall", "-Wextra", "-Werror", "-c", file, "-o", "use.o"])
            .arg(format!("-I{}", include.display()))
            .arg(format!("-DEXPECT_MAJOR={}", env!("CARGO_PKG_VERSION_MAJOR")))
            .arg(format!("-DEXPECT_MINOR={}", env!("CARGO_PKG_VERSION_MINOR")))
            .arg(format!("-DEXPECT_PATCH={}", env!("CARGO_PKG_VERSION_PATCH")))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {compiler} (bash scripts/setup.sh installs it): {e}"));
        assert!(
            out.status.success(),
            "{compiler} {std} -pedantic -Werror rejects include/ringlog.h:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
