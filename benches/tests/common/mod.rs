//! Runs the compiled benchmark binaries for the smoke tests: bounded, with
//! `compare`'s JSON report parsed.
#![allow(dead_code, reason = "each test crate includes this module and uses part of it")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one `compare` run printed and reported.
pub struct Report {
    /// The rows of its `--json` file.
    pub rows: Vec<serde_json::Value>,
    /// The JSON text, for failure messages.
    pub text: String,
    /// Its stdout (the table, ratios and goals).
    pub stdout: String,
}

/// Runs `compare ARGS --json FILE` (FILE a fresh temp file named after `tag`),
/// fails the test if it fails or overruns `timeout`, and returns its report.
pub fn run_compare(tag: &str, args: &[&str], timeout: Duration) -> Report {
    let json_path = std::env::temp_dir().join(format!("ringlog-compare-{tag}-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&json_path);
    let mut command = Command::new(env!("CARGO_BIN_EXE_compare"));
    command.args(args).arg("--json").arg(&json_path);
    let stdout = run_bounded(command, timeout);
    let text = std::fs::read_to_string(&json_path).expect("JSON report written");
    let _ = std::fs::remove_file(&json_path);
    let rows = serde_json::from_str(&text).expect("JSON array");
    Report { rows, text, stdout }
}

/// Runs `command` (stdin closed, stderr inherited), fails the test if it fails
/// or overruns `timeout`, and returns its stdout.
pub fn run_bounded(mut command: Command, timeout: Duration) -> String {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the command");
    // Read stdout on a thread, so a long table never blocks the child on a full pipe.
    let mut pipe = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut pipe, &mut out);
        out
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().expect("stdout reader");
    assert!(status.success(), "{what} failed: {status}\n{stdout}");
    stdout
}
