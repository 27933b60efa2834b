//! Opt-in smoke test of the heavy peer transports (`--features peers`): runs
//! the compiled `compare` binary once over iceoryx2 on small input, every
//! record shape and mode it has rows for, and checks the JSON report. Never
//! asserts on timing: only that the rows exist and moved their records.
//!
//! `cargo test -p ringlog-benches --features peers --test peers_smoke`
#![cfg(feature = "peers")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Measured records per run: enough to fill iceoryx2's subscriber buffer of
/// every shape at least once, small enough for a debug build.
const RECORDS: u64 = 20_000;
/// Bound on the whole comparison (seconds are expected).
const TIMEOUT: Duration = Duration::from_secs(180);

fn temp_json() -> PathBuf {
    std::env::temp_dir().join(format!("ringlog-peers-smoke-{}.json", std::process::id()))
}

#[test]
fn iceoryx2_rows_move_their_records() {
    let json_path = temp_json();
    let _ = std::fs::remove_file(&json_path);
    let mut child = Command::new(env!("CARGO_BIN_EXE_compare"))
        .args(["--transport", "iceoryx2", "--records", &RECORDS.to_string(), "--runs", "1", "--quick", "--json"])
        .arg(&json_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start compare");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for compare") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("compare --transport iceoryx2 did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout).expect("read stdout");
    assert!(status.success(), "compare failed: {status}\n{stdout}");

    let text = std::fs::read_to_string(&json_path).expect("JSON report written");
    let _ = std::fs::remove_file(&json_path);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON array");
    // Three record shapes, throughput and spinning latency (no parked rows).
    assert_eq!(rows.len(), 3 * 2, "record shapes x modes:\n{text}");
    for row in &rows {
        assert_eq!(row["transport"], "iceoryx2", "{row}");
        assert_eq!(row["records"].as_u64(), Some(RECORDS), "{row}");
        assert!(row["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
        assert!(row["bytes_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
    }
    for record in ["scalar1", "scalar8", "f32x1024"] {
        for mode in ["throughput", "latency"] {
            assert!(
                rows.iter().any(|r| r["record"] == record && r["mode"] == mode),
                "no row for {record} {mode}:\n{text}"
            );
        }
    }
}
