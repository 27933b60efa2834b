//! Runs the compiled `lifecycle` binary once with tiny settings and checks the
//! JSON report's shape: every measurement present, and every concurrent run
//! finished with exact counts. Never asserts on timing (met or missed targets
//! are the benchmark's business, not the test's).
//!
//! `lifecycle` needs the `ringlog` service binary beside it (`cargo build -p
//! ringlog`; cargo cannot build another package's binary for this test).
//! Without it the test says so and passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Bound on the whole run (it normally takes a few seconds).
const TIMEOUT: Duration = Duration::from_secs(180);
/// Concurrent runs in the smoke run.
const RUNS: u64 = 4;

fn temp_json() -> PathBuf {
    std::env::temp_dir().join(format!("ringlog-lifecycle-smoke-{}.json", std::process::id()))
}

#[test]
fn lifecycle_writes_every_measurement() {
    let exe = Path::new(env!("CARGO_BIN_EXE_lifecycle"));
    if !exe.parent().is_some_and(|d| d.join("ringlog").is_file()) {
        eprintln!(
            "lifecycle_smoke: skipped: no ringlog binary beside {} (run `cargo build -p ringlog-service`)",
            exe.display()
        );
        return;
    }
    let json_path = temp_json();
    let _ = std::fs::remove_file(&json_path);
    let mut command = Command::new(exe);
    command
        .args(["--inits", "3", "--cold-starts", "1", "--idle-seconds", "1", "--records", "200", "--runs"])
        .arg(RUNS.to_string())
        .arg("--json")
        .arg(&json_path);
    let stdout = common::run_bounded(command, TIMEOUT);
    assert!(stdout.contains("measure"), "no table printed:\n{stdout}");

    let text = std::fs::read_to_string(&json_path).expect("JSON report written");
    let _ = std::fs::remove_file(&json_path);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON array");
    let row = |measure: &str| {
        rows.iter().find(|r| r["measure"] == measure).unwrap_or_else(|| panic!("no {measure} row:\n{text}"))
    };
    for (measure, samples) in [
        ("cold_autostart", 1),
        ("idle_cpu", 1),
        ("init_to_first_record", 3),
        ("finish_empty_run", 3),
        ("idle_cpu_after_runs", 1),
    ] {
        let r = row(measure);
        assert_eq!(r["samples"].as_u64(), Some(samples), "{r}");
        assert!(r["median"].as_f64().is_some_and(|v| v >= 0.0), "{r}");
        assert!(r["met"].is_boolean(), "{r}");
        assert!(r["target"].is_object(), "{r}");
    }
    let total = row(&format!("concurrent_{RUNS}_runs_total"));
    assert_eq!(total["met"], true, "every concurrent run must finish with exact counts: {total}");
    let rate = row(&format!("concurrent_{RUNS}_runs_rate"));
    assert!(rate["median"].as_f64().is_some_and(|v| v > 0.0), "{rate}");
}
