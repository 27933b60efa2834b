//! Opt-in smoke test of the heavy peer transports (`--features peers`): runs
//! the compiled `compare` binary once over iceoryx2 on small input, every
//! record shape and mode it has rows for (throughput with 1, 2 and 4
//! producers), and checks the JSON report. Never
//! asserts on timing: only that the rows exist and moved their records.
//!
//! `cargo test -p ringlog-benches --features peers --test peers_smoke`
#![cfg(feature = "peers")]

mod common;

use std::time::Duration;

/// Measured records per run (all producers together): enough to wrap
/// iceoryx2's per-publisher buffer of every shape with one producer (5,957
/// scalar8 samples is the largest), small enough for a debug build.
const RECORDS: u64 = 20_000;
/// Bound on the whole comparison (seconds are expected).
const TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn iceoryx2_rows_move_their_records() {
    let records = RECORDS.to_string();
    let report = common::run_compare(
        "peers",
        &["--transport", "iceoryx2", "--records", &records, "--runs", "1", "--quick"],
        TIMEOUT,
    );
    let (rows, text) = (&report.rows, &report.text);
    assert!(report.stdout.contains("iceoryx2"), "no table printed:\n{}", report.stdout);
    // Three record shapes, throughput with 1, 2 and 4 producers and spinning
    // latency with one (no parked rows).
    assert_eq!(rows.len(), 3 * (3 + 1), "record shapes x modes and producers:\n{text}");
    for row in rows {
        assert_eq!(row["transport"], "iceoryx2", "{row}");
        let producers: &[u64] = if row["mode"] == "throughput" { &[1, 2, 4] } else { &[1] };
        assert!(row["producers"].as_u64().is_some_and(|p| producers.contains(&p)), "{row}");
        assert_eq!(row["records"].as_u64(), Some(RECORDS), "{row}");
        assert!(row["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
        assert!(row["bytes_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
    }
    for record in ["scalar1", "scalar8", "f32x1024"] {
        for (mode, producers) in [("throughput", 1), ("throughput", 2), ("throughput", 4), ("latency", 1)] {
            assert!(
                rows.iter().any(|r| r["record"] == record && r["mode"] == mode && r["producers"] == producers),
                "no row for {record} {mode} with {producers} producers:\n{text}"
            );
        }
    }
}
