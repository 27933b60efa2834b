//! Runs the C and C++ programs of the C API (`ffi/tests/run_c_tests.sh`):
//! C tests and examples linked dynamically and statically, under
//! AddressSanitizer + UBSan and valgrind, the C++ wrapper's test and example,
//! and the CMake example build; each against a private service.
//!
//! Set `RINGLOG_SKIP_C_TESTS=1` to skip (the script needs gcc, g++ and
//! pkg-config; it installs valgrind and cmake when it can and says when it
//! skips them).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace target directory: this test runs from `<target>/<profile>/deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.ancestors().nth(3).expect("target dir above <profile>/deps").to_path_buf()
}

#[test]
fn c_and_cpp_programs_pass() {
    if std::env::var_os("RINGLOG_SKIP_C_TESTS").is_some_and(|v| v == "1") {
        eprintln!("RINGLOG_SKIP_C_TESTS=1: skipping ffi/tests/run_c_tests.sh");
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/run_c_tests.sh");
    let target = target_dir();
    // Output goes to a file, not a pipe: a pipe nobody drains would stall the script.
    let log_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run_c_tests.log");
    let log = std::fs::File::create(&log_path).expect("create log");
    let started = Instant::now();
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(&target)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log"))
        .stderr(log)
        .spawn()
        .expect("run bash");
    // Bounded: the script bounds each program (timeout 300) and the builds
    // are cargo's; a generous overall limit still keeps a hang visible.
    let limit = Duration::from_secs(1200);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} still running after {limit:?}; killed", script.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    println!("{output}");
    assert!(
        status.success(),
        "{} failed ({status}); rerun it alone with:\n    bash ffi/tests/run_c_tests.sh {}\n{output}",
        script.display(),
        target.display()
    );
}
