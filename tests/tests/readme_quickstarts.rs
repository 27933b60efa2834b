//! The README's CLI and Rust quick starts, run exactly as written (the C and C++
//! ones are run by `ffi/tests`).

use std::path::{Path, PathBuf};
use std::process::Command;

use ringlog_tests::{TestEnv, ringlog_bin};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README.md")
}

/// The first fenced block opening with "```LANG" after the heading `heading`.
fn block_after(readme: &str, heading: &str, lang: &str) -> String {
    let at = readme.find(heading).unwrap_or_else(|| panic!("README has no {heading:?}"));
    let open = format!("```{lang}\n");
    let start = readme[at..].find(&open).map(|i| at + i + open.len()).expect("block start");
    let end = readme[start..].find("```\n").map(|i| start + i).expect("block end");
    readme[start..end].to_owned()
}

/// A command for `env` as a new user runs it: `ringlog` on PATH, no
/// RINGLOG_DIR and no RINGLOG_BIN, a private socket and state directory.
fn as_a_user(env: &TestEnv, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let bin_dir = ringlog_bin().parent().unwrap().to_owned();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut c = env.command(program);
    c.env_remove("RINGLOG_DIR").env_remove("RINGLOG_BIN").env("PATH", path);
    c
}

#[test]
fn cli_quick_start_runs_as_written() {
    let env = TestEnv::new("readme-cli");
    let block = block_after(&readme(), "## The `ringlog` command", "sh");
    assert!(block.contains("ringlog demo") && block.contains("ringlog plot"), "{block}");
    let cwd = env.root.join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    let out = as_a_user(&env, "bash").args(["-euo", "pipefail", "-c", &block]).current_dir(&cwd).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the README's CLI quick start failed:\n{stdout}\n{stderr}");
    // What each line promised.
    assert!(stdout.contains("finished"), "runs lists the demo run: {stdout}");
    let csv = std::fs::read_to_string(cwd.join("demo.csv")).unwrap();
    assert!(csv.lines().count() > 20_000, "{} rows", csv.lines().count());
    let png = std::fs::read(cwd.join("demo.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    assert!(stdout.contains("service pid"), "status found the auto-started service: {stdout}");
    assert!(cwd.join("ringlog/latest-run").exists());
}

/// `target/debug/examples/quickstart`, built by `cargo test --workspace`.
fn quickstart_example() -> PathBuf {
    let exe = ringlog_bin().parent().unwrap().join("examples/quickstart");
    assert!(exe.exists(), "{} missing: run `cargo build -p ringlog --examples`", exe.display());
    exe
}

#[test]
fn rust_quick_start_is_the_example_and_runs() {
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/client/examples/quickstart.rs"))
            .unwrap();
    assert_eq!(block_after(&readme(), "## Using ringlog from Rust", "rust,no_run"), example);
    let env = TestEnv::new("readme-rust");
    let exe = quickstart_example();

    // No service executable anywhere auto-start looks: main's `Err` says what to do.
    let empty = env.root.join("empty-home");
    std::fs::create_dir_all(&empty).unwrap();
    let out = env
        .command(&exe)
        .env_remove("RINGLOG_BIN")
        .env_remove("RINGLOG_DIR")
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &empty)
        .env("CARGO_HOME", &empty)
        .current_dir(&env.root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("Error: cannot find the ringlog executable"), "{stderr}");
    assert!(stderr.contains("RINGLOG_BIN") && stderr.contains("PATH"), "{stderr}");
    assert!(!stderr.contains("Autostart("), "Debug must not be the bare variant: {stderr}");

    // With `ringlog` on PATH (as `cargo install` leaves it): the run is logged.
    let out = as_a_user(&env, &exe).current_dir(&env.root).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("records in") && stdout.contains("/ringlog/run-"), "{stdout}");
}
