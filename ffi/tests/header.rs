//! `include/ringlog.h` is generated from `ffi/src/` by cbindgen and committed;
//! this test regenerates it into a temporary file and fails if the committed
//! copy differs. `RINGLOG_BLESS=1` rewrites the committed header instead.

use std::path::{Path, PathBuf};

const REGENERATE: &str = "RINGLOG_BLESS=1 cargo test -p ringlog-ffi --test header";

fn ffi_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate(out: &Path) {
    let dir = ffi_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("read ffi/cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not parse ffi/src");
    bindings.write_to_file(out);
}

#[test]
fn committed_header_is_current() {
    let committed = ffi_dir().join("../include/ringlog.h");
    let tmp = std::env::temp_dir().join(format!("ringlog-header-{}.h", std::process::id()));
    generate(&tmp);
    let fresh = std::fs::read_to_string(&tmp).expect("read generated header");
    let _ = std::fs::remove_file(&tmp);
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
    let tmp = std::env::temp_dir().join(format!("ringlog-header-banner-{}.h", std::process::id()));
    generate(&tmp);
    let text = std::fs::read_to_string(&tmp).expect("read generated header");
    let _ = std::fs::remove_file(&tmp);
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
    let flat: String = header.replace("\n//", " ").split_whitespace().collect::<Vec<_>>().join(" ");
    let order = "`RINGLOG_BIN`, then `ringlog` on `PATH`, then `$CARGO_HOME/bin/ringlog`, then a `ringlog` beside the running executable";
    assert!(flat.contains(order), "ringlog.h must state: {order}");
    let code = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../core/client/src/client/autostart.rs"))
        .unwrap();
    let pos = |needle: &str| code.find(needle).unwrap_or_else(|| panic!("{needle} not in autostart.rs"));
    assert!(
        pos("\"RINGLOG_BIN\"") < pos("\"PATH\"")
            && pos("\"PATH\"") < pos("\"CARGO_HOME\"")
            && pos("\"CARGO_HOME\"") < pos("current_exe")
    );
}
