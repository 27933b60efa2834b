//! Runs the compiled `compare` binary once on tiny input, every transport,
//! record shape and mode, and checks the JSON report's shape. Never asserts
//! on timing: only that every row exists, has the required fields and moved
//! the records it was asked to.
//!
//! The `ringlog-e2e` rows need the `ringlog` service binary beside `compare`
//! (`cargo build -p ringlog-service`; cargo cannot build another package's binary for
//! this test). Without it they are left out, and the test says so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Measured records per run: enough to cross a few batches, small enough for
/// a debug build in a couple of seconds.
const RECORDS: u64 = 3_000;
/// Bound on the whole comparison (it normally takes a second or two).
const TIMEOUT: Duration = Duration::from_secs(120);

fn temp_json() -> PathBuf {
    std::env::temp_dir().join(format!("ringlog-compare-smoke-{}.json", std::process::id()))
}

/// Whether the `ringlog` binary sits beside `compare`, where `compare` looks for it.
fn ringlog_built() -> bool {
    let compare = Path::new(env!("CARGO_BIN_EXE_compare"));
    let present = compare.parent().is_some_and(|d| d.join("ringlog").is_file());
    if !present {
        eprintln!(
            "compare_smoke: skipping the ringlog-e2e rows: no ringlog binary beside {} (run `cargo build -p ringlog`)",
            compare.display()
        );
    }
    present
}

#[test]
fn compare_writes_a_row_per_case() {
    let json_path = temp_json();
    let _ = std::fs::remove_file(&json_path);
    let e2e = ringlog_built();
    let mut command = Command::new(env!("CARGO_BIN_EXE_compare"));
    command.args(["--records", &RECORDS.to_string(), "--runs", "1", "--pace-ns", "1000", "--json"]).arg(&json_path);
    if !e2e {
        command.args(["--transport", "ringlog,uds-protobuf,raw-spsc"]);
    }
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start compare");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for compare") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("compare did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout).expect("read stdout");
    assert!(status.success(), "compare failed: {status}\n{stdout}");
    assert!(stdout.contains("transport"), "no table printed:\n{stdout}");

    let text = std::fs::read_to_string(&json_path).expect("JSON report written");
    let _ = std::fs::remove_file(&json_path);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON array");
    // ringlog-e2e: scalar1 and scalar8 throughput, with 1 and 4 producers.
    let e2e_rows = if e2e { 4 } else { 0 };
    assert_eq!(rows.len(), 3 * 2 * 2 + e2e_rows, "transports x records x modes, plus ringlog-e2e:\n{text}");

    for row in &rows {
        for field in [
            "transport",
            "record",
            "mode",
            "producers",
            "runs",
            "api",
            "records",
            "records_per_s",
            "bytes_per_s",
            "p50_ns",
            "p99_ns",
            "p999_ns",
        ] {
            assert!(row.get(field).is_some(), "missing {field} in {row}");
        }
        assert_eq!(row["records"].as_u64(), Some(RECORDS), "{row}");
        assert_eq!(row["runs"].as_u64(), Some(1), "{row}");
        let producers = if row["transport"] == "ringlog-e2e" { [1, 4].as_slice() } else { &[1] };
        assert!(row["producers"].as_u64().is_some_and(|p| producers.contains(&p)), "{row}");
        assert!(row["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
        assert!(row["bytes_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
        // The run log's bytes per record: only the end-to-end rows have a run log.
        if row["transport"] == "ringlog-e2e" {
            assert!(row["disk_bytes_per_record"].as_f64().is_some_and(|b| b > 0.0), "{row}");
        } else {
            assert!(row["disk_bytes_per_record"].is_null(), "{row}");
        }
        let latency_fields = ["p50_ns", "p99_ns", "p999_ns"].map(|f| row[f].as_u64());
        match row["mode"].as_str() {
            Some("throughput") => assert!(["p50_ns", "p99_ns", "p999_ns"].iter().all(|f| row[f].is_null()), "{row}"),
            Some("latency") => assert!(latency_fields.iter().all(|v| v.is_some_and(|ns| ns > 0)), "{row}"),
            other => panic!("unexpected mode {other:?}"),
        }
    }
    for transport in ["ringlog", "uds-protobuf", "raw-spsc"] {
        for record in ["scalar1", "scalar8"] {
            for mode in ["throughput", "latency"] {
                assert!(
                    rows.iter().any(|r| r["transport"] == transport && r["record"] == record && r["mode"] == mode),
                    "no row for {transport} {record} {mode}"
                );
            }
        }
    }

    if e2e {
        for record in ["scalar1", "scalar8"] {
            for producers in [1, 4] {
                let row = rows
                    .iter()
                    .find(|r| r["transport"] == "ringlog-e2e" && r["producers"] == producers && r["record"] == record)
                    .unwrap_or_else(|| panic!("no ringlog-e2e {record} row with {producers} producers:\n{text}"));
                assert_eq!(row["mode"], "throughput", "{row}");
                assert_eq!(row["api"], "rust-client", "{row}");
            }
        }
    }
}
