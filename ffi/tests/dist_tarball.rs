//! The release tarball, used as a new user would: `bash ffi/dist.sh OUTDIR`,
//! unpacked into a fresh directory outside the repository, then
//! `ffi/examples/train.c` built with pkg-config (shared and static) and
//! `bindings/cpp/examples/train.cpp` built with CMake `find_package(ringlog)`,
//! each run with no `RINGLOG_*` variable but a private socket and runs
//! directory, no `ringlog` on `PATH`: auto-start must find the tarball's own
//! `bin/ringlog` (libringlog locates itself with `dladdr`).
//!
//! `dist.sh` makes a release build of `ringlog-ffi` and `ringlog-service`
//! (shared with `readme_quick_starts.rs`). `RINGLOG_SKIP_C_TESTS=1` skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{UserEnv, repo_root, run_ok, skip_c_tests};

/// `rustc -vV`'s host triple: the tarball's target.
fn host_triple() -> String {
    let out = run_ok(Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())).arg("-vV"), "rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc -vV prints host:")
}

/// Whether `readelf -S` lists a `.debug_info` section in `file`.
fn has_debug_info(file: &Path) -> bool {
    let out = run_ok(Command::new("readelf").arg("-S").arg("--wide").arg(file), "readelf -S");
    String::from_utf8_lossy(&out.stdout).contains(".debug_info")
}

/// Builds and runs `program` (already built) against service `n`, then checks
/// that auto-start ran the tarball's own `bin/ringlog`.
fn run_against_own_service(env: &mut UserEnv, n: usize, prefix: &Path, program: &Path, cwd: &Path) {
    let ringlog = prefix.join("bin/ringlog");
    env.stop_on_drop(n, &ringlog);
    let out = run_ok(env.command(n, program).arg("300").current_dir(cwd), &program.display().to_string());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("finished: "), "{} printed no finish report:\n{stdout}", program.display());
    let exe = env.service_exe(n, &ringlog);
    assert_eq!(
        exe,
        ringlog.canonicalize().unwrap(),
        "{} auto-started {} instead of the tarball's bin/ringlog",
        program.display(),
        exe.display()
    );
}

#[test]
fn tarball_unpacked_elsewhere_builds_and_runs_c_and_cpp() {
    if skip_c_tests("the dist tarball test") {
        return;
    }
    let repo = repo_root();
    let mut env = UserEnv::new("dist");
    let version = env!("CARGO_PKG_VERSION");
    let name = format!("ringlog-{version}-{}", host_triple());

    // 1. The tarball, named ringlog-<version>-<target>.tar.gz, one top-level folder.
    let outdir = env.root.join("out");
    let out = run_ok(Command::new("bash").arg(repo.join("ffi/dist.sh")).arg(&outdir), "bash ffi/dist.sh OUTDIR");
    let tarball = outdir.join(format!("{name}.tar.gz"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tarball.to_string_lossy(), "dist.sh prints the tarball");
    let listing = run_ok(Command::new("tar").arg("-tzf").arg(&tarball), "tar -t");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    for entry in listing.lines() {
        assert!(entry.starts_with(&format!("{name}/")), "{entry} is outside the one top-level folder {name}/");
    }
    for file in [
        "bin/ringlog",
        "lib/libringlog.so",
        "lib/libringlog.a",
        "include/ringlog.h",
        "include/ringlog.hpp",
        "lib/pkgconfig/ringlog.pc",
        "lib/pkgconfig/ringlog-static.pc",
        "lib/cmake/ringlog/ringlogConfig.cmake",
        "lib/cmake/ringlog/ringlogConfigVersion.cmake",
    ] {
        assert!(listing.lines().any(|e| e == format!("{name}/{file}")), "the tarball lacks {file}:\n{listing}");
    }

    // 2. Unpacked into a fresh directory elsewhere.
    let elsewhere = env.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    run_ok(Command::new("tar").arg("-xzf").arg(&tarball).arg("-C").arg(&elsewhere), "tar -x");
    let prefix = elsewhere.join(&name);

    // Stripped, and nothing points back at the build.
    assert!(!has_debug_info(&prefix.join("bin/ringlog")), "bin/ringlog is not stripped");
    assert!(!has_debug_info(&prefix.join("lib/libringlog.so")), "libringlog.so is not stripped");
    let archive = std::fs::metadata(prefix.join("lib/libringlog.a")).unwrap().len();
    let built = std::fs::metadata(repo.join("target/release/libringlog.a")).map(|m| m.len()).unwrap_or(u64::MAX);
    assert!(archive < built, "libringlog.a ({archive} bytes) is not smaller than the unstripped build ({built})");
    for meta in [
        "lib/pkgconfig/ringlog.pc",
        "lib/pkgconfig/ringlog-static.pc",
        "lib/cmake/ringlog/ringlogConfig.cmake",
        "lib/cmake/ringlog/ringlogConfigVersion.cmake",
    ] {
        let text = std::fs::read_to_string(prefix.join(meta)).unwrap();
        assert!(!text.contains(&*repo.to_string_lossy()), "{meta} names the build tree:\n{text}");
        assert!(!text.contains(&*env.root.to_string_lossy()), "{meta} has an absolute path:\n{text}");
    }
    let pc = std::fs::read_to_string(prefix.join("lib/pkgconfig/ringlog.pc")).unwrap();
    assert!(pc.contains("prefix=${pcfiledir}/../..") && pc.contains("Libs.private: "), "{pc}");

    // 3. train.c with pkg-config: shared (rpath to the unpacked lib/) and static.
    let app = env.root.join("app");
    std::fs::create_dir_all(&app).unwrap();
    let train_c = repo.join("ffi/examples/train.c");
    let pkg_config_path = prefix.join("lib/pkgconfig");
    let cc = |pc: &str, extra: &str, output: &Path| {
        let script = format!(
            "cc -std=c11 -Wall -Wextra -Werror '{}' $(pkg-config --cflags --libs {pc}) -lm {extra} -o '{}'",
            train_c.display(),
            output.display()
        );
        run_ok(
            Command::new("bash").args(["-euo", "pipefail", "-c", &script]).env("PKG_CONFIG_PATH", &pkg_config_path),
            &script,
        );
    };
    let train_shared = app.join("train");
    cc("ringlog", &format!("-Wl,-rpath,'{}'", prefix.join("lib").display()), &train_shared);
    // Static: the executable holds the library, so dladdr names the executable
    // and auto-start looks in <exe dir>/../bin: put it in a folder of the prefix.
    let train_static = prefix.join("examples/train-static");
    std::fs::create_dir_all(train_static.parent().unwrap()).unwrap();
    cc("ringlog-static", "", &train_static);

    // 4. train.cpp with CMake: bindings/cpp/CMakeLists.txt does
    //    find_package(ringlog CONFIG REQUIRED) and links ringlog::ringlog.
    let cmake_build = env.root.join("cmake-build");
    run_ok(
        Command::new("cmake")
            .arg("-S")
            .arg(repo.join("bindings/cpp"))
            .arg("-B")
            .arg(&cmake_build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display())),
        "cmake configure (find_package(ringlog))",
    );
    run_ok(Command::new("cmake").arg("--build").arg(&cmake_build), "cmake --build");

    // 5. Each runs with no RINGLOG_* variable and starts the tarball's service.
    run_against_own_service(&mut env, 1, &prefix, &train_shared, &app);
    run_against_own_service(&mut env, 2, &prefix, &train_static, &app);
    run_against_own_service(&mut env, 3, &prefix, &cmake_build.join("train_cpp"), &app);

    // 6. The CMake version file: this 0.MINOR is accepted, the next minor is not.
    let version_check = |requested: &str| -> bool {
        let dir = env.root.join(format!("version-{requested}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("CMakeLists.txt"),
            format!(
                "cmake_minimum_required(VERSION 3.16)\nproject(v LANGUAGES NONE)\n\
                 find_package(ringlog {requested} CONFIG REQUIRED)\n"
            ),
        )
        .unwrap();
        Command::new("cmake")
            .arg("-S")
            .arg(&dir)
            .arg("-B")
            .arg(dir.join("build"))
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
            .output()
            .expect("run cmake")
            .status
            .success()
    };
    let (major, minor): (u32, u32) =
        (env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap(), env!("CARGO_PKG_VERSION_MINOR").parse().unwrap());
    assert!(version_check(&format!("{major}.{minor}")), "find_package(ringlog {major}.{minor}) must succeed");
    assert!(!version_check(&format!("{major}.{}", minor + 1)), "find_package(ringlog {major}.{}) must fail", minor + 1);
}

/// The old form, `dist.sh TARGET_DIR PROFILE PREFIX` (used by
/// `run_c_tests.sh`), still lays out an install tree and prints PREFIX.
#[test]
fn install_tree_form_still_works() {
    let repo = repo_root();
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    if !target.join("debug/libringlog.so").exists() || !target.join("debug/libringlog.a").exists() {
        eprintln!("no debug libringlog in {}: skipping (run_c_tests.sh covers this form too)", target.display());
        return;
    }
    let env = UserEnv::new("dist-tree");
    let prefix = env.root.join("prefix");
    let out = run_ok(
        Command::new("bash").arg(repo.join("ffi/dist.sh")).arg(&target).arg("debug").arg(&prefix),
        "dist.sh TARGET_DIR debug PREFIX",
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), prefix.to_string_lossy());
    for file in ["lib/libringlog.so", "lib/libringlog.a", "include/ringlog.h", "lib/pkgconfig/ringlog.pc"] {
        assert!(prefix.join(file).exists(), "{file} missing");
    }
    assert!(prefix.join("lib/cmake/ringlog/ringlogConfig.cmake").exists());
}
