//! Runs the compiled `compare` binary once on tiny input, every transport,
//! record shape and mode, and checks the JSON report's shape. Never asserts
//! on timing: only that every row exists, has the required fields and moved
//! the records it was asked to.
//!
//! The `ringlog-e2e` rows need the `ringlog` service binary beside `compare`
//! (`cargo build -p ringlog-service`; cargo cannot build another package's binary for
//! this test). Without it they are left out, and the test says so.

mod common;

use std::path::Path;
use std::time::Duration;

/// Measured records per run: enough to cross a few batches, small enough for
/// a debug build in a couple of seconds.
const RECORDS: u64 = 3_000;
/// Bound on the whole comparison (about a minute in a debug build on 2 cores).
const TIMEOUT: Duration = Duration::from_secs(400);
/// The transports of a default build without the service binary.
const RING_TRANSPORTS: [&str; 6] =
    ["ringlog", "uds-protobuf", "raw-spsc", "raw-batched", "raw-per-record", "crossbeam"];
/// Transports that can park their consumer (`latency-parked` rows).
const PARKING: [&str; 3] = ["ringlog", "uds-protobuf", "crossbeam"];
/// Transports whose throughput rows also run 2 and 4 producers (of a default build).
const MULTI_PRODUCER: [&str; 5] = ["ringlog", "uds-protobuf", "crossbeam", "raw-batched", "raw-per-record"];
const RECORDS_SHAPES: [&str; 3] = ["scalar1", "scalar8", "f32x1024"];

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
    let e2e = ringlog_built();
    let records = RECORDS.to_string();
    let mut args = vec!["--records", &records, "--runs", "1", "--pace-ns", "1000", "--parked-pace-ns", "20000"];
    let ring_only = RING_TRANSPORTS.join(",");
    if !e2e {
        args.extend(["--transport", &ring_only]);
    }
    let report = common::run_compare("smoke", &args, TIMEOUT);
    let (rows, text) = (&report.rows, &report.text);
    assert!(report.stdout.contains("transport"), "no table printed:\n{}", report.stdout);
    // ringlog-e2e: throughput of each shape with 1, 2 and 4 producers; ringlog-e2e-runs: 16 runs.
    let e2e_rows = if e2e { 3 * (3 + 1) } else { 0 };
    // Per shape: throughput and latency of every transport, parked latency of
    // those that park, and throughput with 2 and 4 producers of those that take several.
    let ring_rows = RECORDS_SHAPES.len() * (2 * RING_TRANSPORTS.len() + PARKING.len() + 2 * MULTI_PRODUCER.len());
    assert_eq!(rows.len(), ring_rows + e2e_rows, "transports x records x modes, plus ringlog-e2e:\n{text}");

    for row in rows {
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
            "max_ns",
            "latency_cdf",
            "producer_cpu_ns_per_record",
            "service_cpu_ms_per_m_records",
            "oversubscribed",
        ] {
            assert!(row.get(field).is_some(), "missing {field} in {row}");
        }
        assert_eq!(row["records"].as_u64(), Some(RECORDS), "{row}");
        assert_eq!(row["runs"].as_u64(), Some(1), "{row}");
        let producers = match row["transport"].as_str() {
            Some("ringlog-e2e") => [1, 2, 4].as_slice(),
            Some("ringlog-e2e-runs") => &[16],
            Some(t) if MULTI_PRODUCER.contains(&t) && row["mode"] == "throughput" => &[1, 2, 4],
            _ => &[1],
        };
        assert!(row["producers"].as_u64().is_some_and(|p| producers.contains(&p)), "{row}");
        assert!(row["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
        assert!(row["bytes_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
        // Both sides' CPU is measured (a tick of /proc CPU time is 10 ms, so the service's may read 0).
        if row["mode"] == "throughput" {
            assert!(row["producer_cpu_ns_per_record"].as_f64().is_some_and(|ns| ns > 0.0), "{row}");
        } else {
            assert!(row["producer_cpu_ns_per_record"].is_null(), "{row}");
        }
        // The receiver's CPU: a thread's own clock (ns resolution) for the ring transports, so above 0; the
        // service's /proc ticks (10 ms) for the end-to-end rows, which a short debug run may not reach.
        let receiver_ms = row["service_cpu_ms_per_m_records"].as_f64();
        if row["transport"].as_str().is_some_and(|t| t.starts_with("ringlog-e2e")) {
            assert!(receiver_ms.is_some_and(|ms| ms >= 0.0), "{row}");
        } else {
            assert!(receiver_ms.is_some_and(|ms| ms > 0.0), "{row}");
        }
        // The run log's bytes per record: only the end-to-end rows have a run log.
        if row["transport"].as_str().is_some_and(|t| t.starts_with("ringlog-e2e")) {
            assert!(row["disk_bytes_per_record"].as_f64().is_some_and(|b| b > 0.0), "{row}");
        } else {
            assert!(row["disk_bytes_per_record"].is_null(), "{row}");
        }
        let latency_fields = ["p50_ns", "p99_ns", "p999_ns"].map(|f| row[f].as_u64());
        match row["mode"].as_str() {
            Some("throughput") => {
                assert!(["p50_ns", "p99_ns", "p999_ns", "latency_cdf"].iter().all(|f| row[f].is_null()), "{row}");
            }
            Some("latency" | "latency-parked") => {
                assert!(latency_fields.iter().all(|v| v.is_some_and(|ns| ns > 0)), "{row}");
                // 20 points, percentiles rising, latencies never falling.
                let cdf = row["latency_cdf"].as_array().unwrap_or_else(|| panic!("no latency_cdf in {row}"));
                assert_eq!(cdf.len(), 20, "{row}");
                let points: Vec<(f64, f64)> =
                    cdf.iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())).collect();
                assert!(points.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{row}");
            }
            other => panic!("unexpected mode {other:?}"),
        }
    }
    for transport in RING_TRANSPORTS {
        for record in RECORDS_SHAPES {
            let modes: &[&str] = if PARKING.contains(&transport) {
                &["throughput", "latency", "latency-parked"]
            } else {
                &["throughput", "latency"]
            };
            for &mode in modes {
                assert!(
                    rows.iter().any(|r| r["transport"] == transport && r["record"] == record && r["mode"] == mode),
                    "no row for {transport} {record} {mode}"
                );
            }
        }
    }

    for transport in MULTI_PRODUCER {
        for record in RECORDS_SHAPES {
            for producers in [1, 2, 4] {
                assert!(
                    rows.iter().any(|r| r["transport"] == transport
                        && r["record"] == record
                        && r["mode"] == "throughput"
                        && r["producers"] == producers),
                    "no {transport} {record} throughput row with {producers} producers:\n{text}"
                );
            }
        }
    }

    if e2e {
        for record in RECORDS_SHAPES {
            for (transport, producers) in
                [("ringlog-e2e", 1), ("ringlog-e2e", 2), ("ringlog-e2e", 4), ("ringlog-e2e-runs", 16)]
            {
                let row = rows
                    .iter()
                    .find(|r| r["transport"] == transport && r["producers"] == producers && r["record"] == record)
                    .unwrap_or_else(|| panic!("no {transport} {record} row with {producers} producers:\n{text}"));
                assert_eq!(row["mode"], "throughput", "{row}");
                assert_eq!(row["api"], "rust-client", "{row}");
            }
        }
    }
}

/// The C reference rings: `raw-batched` and `raw-per-record`, every record
/// shape, throughput (1, 2 and 4 producers, a ring each) and latency, enough
/// records to wrap even the 4 KiB ring.
#[test]
fn raw_batched_rows() {
    const RAW_RECORDS: u64 = 20_000;
    let records = RAW_RECORDS.to_string();
    let report = common::run_compare(
        "raw-batched",
        &["--transport", "raw-batched,raw-per-record", "--records", &records, "--runs", "1", "--quick"]
            .into_iter()
            .chain(["--pace-ns", "1000", "--mode", "throughput,latency"])
            .collect::<Vec<_>>(),
        TIMEOUT,
    );
    let (rows, text) = (&report.rows, &report.text);
    for transport in ["raw-batched", "raw-per-record"] {
        for record in ["scalar1", "scalar8", "f32x1024"] {
            for (mode, producers) in [("throughput", 1), ("throughput", 2), ("throughput", 4), ("latency", 1)] {
                let row = rows
                    .iter()
                    .find(|r| {
                        r["transport"] == transport
                            && r["record"] == record
                            && r["mode"] == mode
                            && r["producers"] == producers
                    })
                    .unwrap_or_else(|| panic!("no row for {transport} {record} {mode} x{producers}:\n{text}"));
                assert_eq!(row["records"].as_u64(), Some(RAW_RECORDS), "{row}");
                assert!(row["records_per_s"].as_f64().is_some_and(|r| r > 0.0), "{row}");
            }
        }
    }
    // Transports x records x (throughput with 1, 2 and 4 producers + latency).
    assert_eq!(rows.len(), 2 * 3 * 4, "transports x records x modes and producers:\n{text}");
}
