//! The C and C++ quick starts, run exactly as written: the `sh` block of the
//! top-level README's "## C and C++" section and the one of
//! `bindings/cpp/README.md`'s "## Quick start", each with the repository root
//! as the working directory (where a reader runs them), as a new user: no
//! `RINGLOG_*` variable but a private socket and runs directory, no `ringlog`
//! on `PATH`, so auto-start has to find the service by itself. And
//! `ffi/examples/train.c` compiles cleanly under `-std=c11 -Wall -Wextra -Werror`.
//!
//! Both quick starts build in release (shared with `dist_tarball.rs`).
//! `RINGLOG_SKIP_C_TESTS=1` skips.

mod common;

use std::path::Path;
use std::process::Command;

use common::{UserEnv, fenced_block, repo_root, run_ok, skip_c_tests};

/// Deletes a file the quick start writes into the repository, also when the
/// test fails.
struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

#[test]
fn c_quick_start_runs_as_written() {
    if skip_c_tests("the README's C quick start") {
        return;
    }
    let repo = repo_root();
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README.md");
    let block = fenced_block(&readme, "## C and C++", "sh");
    assert!(block.contains("gcc ") && block.contains("ffi/examples/train.c"), "{block}");
    assert!(block.contains(" -lm"), "train.c calls cos and sqrt: the gcc line needs -lm\n{block}");
    // The block writes ./train at the repository root; it goes when the test ends.
    let _train = RemoveOnDrop(&repo.join("train"));
    let mut env = UserEnv::new("readme-c");
    env.stop_on_drop(0, &repo.join("target/release/ringlog"));
    let out = run_ok(
        env.command(0, "bash").args(["-euo", "pipefail", "-c", &block]).current_dir(&repo),
        "the README's C quick start",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("finished: "), "train printed no finish report:\n{stdout}");
    let exe = env.service_exe(0, &repo.join("target/release/ringlog"));
    assert_eq!(exe, repo.join("target/release/ringlog").canonicalize().unwrap(), "auto-start picked another ringlog");
}

#[test]
fn cpp_quick_start_runs_as_written() {
    if skip_c_tests("bindings/cpp/README.md's quick start") {
        return;
    }
    let repo = repo_root();
    let readme = std::fs::read_to_string(repo.join("bindings/cpp/README.md")).expect("bindings/cpp/README.md");
    let block = fenced_block(&readme, "## Quick start", "sh");
    assert!(block.contains("ffi/dist.sh") && block.contains("cmake"), "{block}");
    let mut env = UserEnv::new("readme-cpp");
    let ringlog = repo.join("target/ringlog/bin/ringlog");
    env.stop_on_drop(0, &ringlog);
    let out = run_ok(
        env.command(0, "bash").args(["-euo", "pipefail", "-c", &block]).current_dir(&repo),
        "bindings/cpp/README.md's quick start",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("finished: "), "train_cpp printed no finish report:\n{stdout}");
    let exe = env.service_exe(0, &ringlog);
    assert_eq!(exe, ringlog.canonicalize().unwrap(), "auto-start did not pick the unpacked tarball's bin/ringlog");
}

/// `train.c` is warning-free C11 (compiled only: the quick starts link it).
#[test]
fn train_c_compiles_with_all_warnings_as_errors() {
    if skip_c_tests("the train.c warnings check") {
        return;
    }
    let repo = repo_root();
    let env = UserEnv::new("train-c-warnings");
    run_ok(
        Command::new("gcc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"])
            .arg(repo.join("ffi/examples/train.c"))
            .arg(format!("-I{}", repo.join("include").display()))
            .arg("-o")
            .arg(env.root.join("train.o")),
        "gcc -std=c11 -Wall -Wextra -Werror -pedantic ffi/examples/train.c",
    );
}
