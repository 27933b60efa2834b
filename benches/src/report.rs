//! Report rows: medians over runs, the printed table, the JSON array, and the
//! check of the performance goals from the architecture brief.

use serde::Serialize;

use crate::case::{Case, Mode, RecordShape, Transport};
use crate::latency::CDF_PERCENTILES;
use crate::pair_run::RunMeasure;

/// One row of the report: one case, medians over its runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// `ringlog`, `uds-protobuf`, `raw-spsc` or `ringlog-e2e`.
    pub transport: String,
    /// `scalar1` or `scalar8`.
    pub record: String,
    /// `throughput` or `latency`.
    pub mode: String,
    /// Producer processes (one lane each; more than one only in `ringlog-e2e`).
    pub producers: u32,
    /// Runs the medians are taken over.
    pub runs: u32,
    /// The APIs each side used.
    pub api: String,
    /// Measured records per run (all producers together).
    pub records: u64,
    /// Unmeasured warm-up records sent before them.
    pub warmup_records: u64,
    /// Pacing interval of latency runs (ns); null in throughput rows.
    pub pace_ns: Option<u64>,
    /// Median records per second (in latency rows: the paced rate achieved).
    pub records_per_s: f64,
    /// Median payload bytes per second as the transport carries them (for
    /// `ringlog-e2e`: payload bytes written to the run log).
    pub bytes_per_s: f64,
    /// Bytes per record as carried (frame bytes, or socket bytes with framing).
    pub bytes_per_record: f64,
    /// `ringlog-e2e` only: run-log bytes on disk divided by the records in it (header,
    /// block framing and index entries' share included); null for the other transports.
    pub disk_bytes_per_record: Option<f64>,
    /// Median one-way latency p50 (ns); null in throughput rows.
    pub p50_ns: Option<u64>,
    /// Median p99 (ns); null in throughput rows.
    pub p99_ns: Option<u64>,
    /// Median p99.9 (ns); null in throughput rows.
    pub p999_ns: Option<u64>,
    /// Median of the runs' largest latency sample (ns); null in throughput rows.
    pub max_ns: Option<u64>,
    /// The latency distribution, `[percentile, ns]` at
    /// [`crate::latency::CDF_PERCENTILES`], each point the median over runs;
    /// null in throughput rows.
    pub latency_cdf: Option<Vec<[f64; 2]>>,
    /// Median CPU time of the producing threads per measured record (ns);
    /// null in latency rows, where the producer busy-waits for its pace.
    pub producer_cpu_ns_per_record: Option<f64>,
    /// Median CPU time of the receiving side per million records (ms): the
    /// consumer process (the service's stand-in), or for `ringlog-e2e` the
    /// service itself (all its threads: drain, encode, write, fsync). In
    /// latency rows it includes the receiver's idle polling between paced
    /// records: a spinning consumer spends its whole core by design, and a
    /// parked one what it spins before it sleeps.
    pub service_cpu_ms_per_m_records: f64,
    /// More processes (producers plus the receiver) than CPUs: the figures
    /// include time-sharing of cores.
    pub oversubscribed: bool,
    /// Records per second of every run, in run order.
    pub runs_records_per_s: Vec<f64>,
    /// Whether producer and consumer were pinned to separate CPUs.
    pub pinned: bool,
    /// The machine's 1-minute load average when the case started: above
    /// about 1 on a 2-core machine, other processes shared the benchmark's
    /// cores and the figures (latency most) are noisy.
    pub loadavg_1m: Option<f64>,
    /// Median cache-line round trip between the producer's and the
    /// consumer's CPUs, probed before each run (pinned runs only): on a VM it
    /// shows where the host placed the two vCPUs ([`crate::cpu_pair`]).
    pub cpu_pair_rtt_ns: Option<f64>,
}

/// The median of `values` (mean of the middle two for an even count); 0 for none.
///
/// # Examples
/// ```
/// assert_eq!(ringlog_benches::report::median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(ringlog_benches::report::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn median_u64(values: impl Iterator<Item = u64>) -> Option<u64> {
    let v: Vec<f64> = values.map(|x| x as f64).collect();
    (!v.is_empty()).then(|| median(&v).round() as u64)
}

impl Row {
    /// Builds the row of `case` from its runs.
    pub fn from_runs(case: &Case, runs: &[RunMeasure], pinned: bool, loadavg_1m: Option<f64>) -> Self {
        let rates: Vec<f64> = runs.iter().map(RunMeasure::records_per_s).collect();
        let byte_rates: Vec<f64> = runs.iter().map(RunMeasure::bytes_per_s).collect();
        let lat = |f: fn(&crate::latency::LatencySummary) -> u64| {
            median_u64(runs.iter().filter_map(|r| r.latency.as_ref().map(f)))
        };
        let (records, bytes) = runs.iter().fold((0u64, 0u64), |(r, b), m| (r + m.records, b + m.bytes));
        let per_record = |f: fn(&RunMeasure) -> u64, scale: f64| {
            let v: Vec<f64> = runs.iter().map(|m| f(m) as f64 * scale / m.records.max(1) as f64).collect();
            median(&v)
        };
        let cdf = (case.mode.is_latency() && !runs.is_empty()).then(|| {
            CDF_PERCENTILES
                .iter()
                .enumerate()
                .map(|(i, &p)| {
                    let at: Vec<f64> = runs
                        .iter()
                        .filter_map(|m| m.latency.as_ref().and_then(|l| l.cdf.get(i)).map(|&ns| ns as f64))
                        .collect();
                    [p, median(&at)]
                })
                .collect()
        });
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Row {
            transport: case.transport.as_str().to_owned(),
            record: case.record.as_str().to_owned(),
            mode: case.mode.as_str().to_owned(),
            producers: case.producers,
            runs: runs.len() as u32,
            api: case.transport.api().to_owned(),
            records: case.records,
            warmup_records: case.warmup,
            pace_ns: case.mode.is_latency().then_some(case.pace_ns),
            records_per_s: median(&rates),
            bytes_per_s: median(&byte_rates),
            bytes_per_record: if records == 0 { 0.0 } else { bytes as f64 / records as f64 },
            disk_bytes_per_record: case
                .transport
                .end_to_end()
                .then(|| if records == 0 { 0.0 } else { bytes as f64 / records as f64 }),
            p50_ns: lat(|l| l.p50_ns),
            p99_ns: lat(|l| l.p99_ns),
            p999_ns: lat(|l| l.p999_ns),
            max_ns: lat(|l| l.max_ns),
            latency_cdf: cdf,
            producer_cpu_ns_per_record: (!case.mode.is_latency()).then(|| per_record(|m| m.producer_cpu_ns, 1.0)),
            // ns per record x 1e6 records / 1e6 ns per ms: the same number.
            service_cpu_ms_per_m_records: per_record(|m| m.consumer_cpu_ns, 1.0),
            oversubscribed: case.producers as usize + 1 > cpus,
            runs_records_per_s: rates,
            pinned,
            loadavg_1m,
            cpu_pair_rtt_ns: None,
        }
    }
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |x| x.to_string())
}

/// The rows as a fixed-width table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<16} {:<8} {:<14} {:>5} {:>9} {:>4} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>7}\n",
        "transport",
        "record",
        "mode",
        "prod",
        "records",
        "runs",
        "Mrec/s",
        "MB/s",
        "B/rec",
        "p50 ns",
        "p99 ns",
        "p999 ns",
        "max ns",
        "prodCPU",
        "svcCPU",
        "rtt ns"
    );
    for r in rows {
        out += &format!(
            "{:<16} {:<8} {:<14} {:>5} {:>9} {:>4} {:>9.3} {:>9.1} {:>7.1} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8.1} {:>7}\n",
            r.transport,
            r.record,
            r.mode,
            format!("{}{}", r.producers, if r.oversubscribed { "*" } else { "" }),
            r.records,
            r.runs,
            r.records_per_s / 1e6,
            r.bytes_per_s / 1e6,
            r.bytes_per_record,
            opt(r.p50_ns),
            opt(r.p99_ns),
            opt(r.p999_ns),
            opt(r.max_ns),
            r.producer_cpu_ns_per_record.map_or_else(|| "-".to_owned(), |ns| format!("{ns:.1}")),
            r.service_cpu_ms_per_m_records,
            r.cpu_pair_rtt_ns.map_or_else(|| "-".to_owned(), |ns| format!("{ns:.0}")),
        );
    }
    out += "prodCPU: producer CPU ns per record; svcCPU: receiver (consumer, or the service) CPU ms per million \
            records; rtt ns: cache-line round trip between the two pinned CPUs (the host's \
            placement of them); * more processes than CPUs (oversubscribed)\n";
    out
}

/// The rows as a Markdown table (for `docs/benchmarks.md`): one line per row,
/// rates in millions per second, latencies in microseconds.
///
/// # Examples
/// ```
/// let md = ringlog_benches::report::markdown(&[]);
/// assert!(md.starts_with("| transport |"));
/// ```
pub fn markdown(rows: &[Row]) -> String {
    let us = |v: Option<u64>| v.map_or_else(|| "".to_owned(), |ns| format!("{:.2}", ns as f64 / 1e3));
    let mut out = String::from(
        "| transport | record | mode | producers | M records/s | GB/s | p50 µs | p99 µs | p99.9 µs | max µs \
         | producer CPU ns/record | receiver CPU ms/M records |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {}{} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {:.1} |\n",
            r.transport,
            r.record,
            r.mode,
            r.producers,
            if r.oversubscribed { " (oversubscribed)" } else { "" },
            r.records_per_s / 1e6,
            r.bytes_per_s / 1e9,
            us(r.p50_ns),
            us(r.p99_ns),
            us(r.p999_ns),
            us(r.max_ns),
            r.producer_cpu_ns_per_record.map_or_else(String::new, |ns| format!("{ns:.1}")),
            r.service_cpu_ms_per_m_records,
        );
    }
    out
}

/// ringlog's throughput over each peer's, per record shape (throughput rows
/// with one producer): above 1, ringlog moves more records per second.
pub fn ratios(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    for record in RecordShape::ALL {
        let Some(ours) = find(rows, Transport::Ringlog, record, Mode::Throughput) else { continue };
        for peer in Transport::ALL.into_iter().filter(|&t| t != Transport::Ringlog) {
            if let Some(theirs) = find(rows, peer, record, Mode::Throughput) {
                out.push(format!(
                    "ringlog / {:<14} {:<8}: {:8.2}x",
                    peer.as_str(),
                    record.as_str(),
                    ours.records_per_s / theirs.records_per_s.max(1e-9)
                ));
            }
        }
    }
    out
}

/// The one-producer row of a case.
fn find(rows: &[Row], transport: Transport, record: RecordShape, mode: Mode) -> Option<&Row> {
    rows.iter().find(|r| {
        r.transport == transport.as_str() && r.record == record.as_str() && r.mode == mode.as_str() && r.producers == 1
    })
}

/// The end-to-end goal for a record shape (issue 10): 8 M scalar8 steps/s, 15 M scalar1 records/s.
fn e2e_goal(record: &str) -> f64 {
    if record == RecordShape::Scalar1.as_str() { 15e6 } else { 8e6 }
}

/// One line per performance goal that these rows can judge: `ok` or `MISSED`.
pub fn goals(rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: String, met: bool, detail: String| {
        out.push(format!("{:<7} {name}: {detail}", if met { "ok" } else { "MISSED" }));
    };
    for (record, floor) in [(RecordShape::Scalar1, 20e6), (RecordShape::Scalar8, 8e6)] {
        let Some(ring) = find(rows, Transport::Ringlog, record, Mode::Throughput) else { continue };
        let rate = ring.records_per_s;
        check(
            format!("ringlog {} >= {:.0} M records/s", record.as_str(), floor / 1e6),
            rate >= floor,
            format!("{:.2} M/s", rate / 1e6),
        );
        if let Some(uds) = find(rows, Transport::UdsProtobuf, record, Mode::Throughput) {
            let ratio = rate / uds.records_per_s.max(1e-9);
            check(format!("ringlog {} >= 50x uds-protobuf", record.as_str()), ratio >= 50.0, format!("{ratio:.1}x"));
        }
        if let Some(ice) = find(rows, Transport::Iceoryx2, record, Mode::Throughput) {
            let ratio = rate / ice.records_per_s.max(1e-9);
            check(format!("ringlog {} >= 2x iceoryx2", record.as_str()), ratio >= 2.0, format!("{ratio:.2}x"));
        }
        let share_goal = if record == RecordShape::Scalar1 { 0.40 } else { 0.50 };
        if let Some(raw) = find(rows, Transport::RawBatched, record, Mode::Throughput) {
            let share = rate / raw.records_per_s.max(1e-9);
            check(
                format!("ringlog {} >= {:.0}% of raw-batched", record.as_str(), share_goal * 100.0),
                share >= share_goal,
                format!("{:.1}%", share * 100.0),
            );
        }
    }
    if let Some(r) = find(rows, Transport::Ringlog, RecordShape::Scalar1, Mode::Latency) {
        if let Some(p50) = r.p50_ns {
            check("ringlog scalar1 spinning one-way p50 <= 300 ns".to_owned(), p50 <= 300, format!("{p50} ns"));
        }
        if let Some(p999) = r.p999_ns {
            check("ringlog scalar1 spinning one-way p99.9 <= 5 us".to_owned(), p999 <= 5_000, format!("{p999} ns"));
        }
    }
    if let Some(p50) = find(rows, Transport::Ringlog, RecordShape::Scalar1, Mode::Parked).and_then(|r| r.p50_ns) {
        check("ringlog scalar1 parked wakeup p50 <= 20 us".to_owned(), p50 <= 20_000, format!("{p50} ns"));
    }
    // Separate runs and the array record are reported, not judged: the goals are about one run of scalars.
    let scalar = |r: &&Row| r.record != RecordShape::F32x1024.as_str();
    for e2e in rows.iter().filter(|r| r.transport == Transport::RinglogE2e.as_str()).filter(scalar) {
        check(
            format!(
                "ringlog-e2e {} ({} producers, finish fsync included) >= {} M records/s",
                e2e.record,
                e2e.producers,
                e2e_goal(&e2e.record) / 1e6
            ),
            e2e.records_per_s >= e2e_goal(&e2e.record),
            format!("{:.2} M/s", e2e.records_per_s / 1e6),
        );
    }
    out
}
