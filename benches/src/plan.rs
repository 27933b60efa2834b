//! Which cases a comparison runs, with how many records and runs.

use crate::case::{Case, Mode, RecordShape, Transport};
use crate::cli::CompareArgs;
use crate::{ringlog_transport, uds_protobuf};

/// The cases to run and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Cases in report order.
    pub cases: Vec<Case>,
    /// Runs per case.
    pub runs: u32,
}

/// `chosen` if the command line named any, else `all`.
fn pick<T: Clone>(chosen: &[T], all: &[T]) -> Vec<T> {
    if chosen.is_empty() { all.to_vec() } else { chosen.to_vec() }
}

/// Default measured records of a throughput run of `transport`. The socket is
/// two orders of magnitude slower, so it gets fewer records for a similar time.
/// A 4 KiB array record moves 25-85 times the bytes of a scalar one, so it
/// gets a twentieth of the records.
fn throughput_records(transport: Transport, record: RecordShape, quick: bool) -> u64 {
    let n = match (transport, quick) {
        (Transport::UdsProtobuf, true) => 200_000,
        (Transport::UdsProtobuf, false) => 1_000_000,
        (_, true) => 4_000_000,
        (_, false) => 20_000_000,
    };
    if record == RecordShape::F32x1024 { n / 20 } else { n }
}

/// Default records of a `ringlog-e2e` run (all producers together). Every
/// record also goes to disk, so runs stay shorter than the ring-only ones,
/// and a 4 KiB array run writes at most about 400 MB.
fn e2e_records(record: RecordShape, quick: bool) -> u64 {
    match (record, quick) {
        (RecordShape::F32x1024, true) => 20_000,
        (RecordShape::F32x1024, false) => 100_000,
        (_, true) => 2_000_000,
        (_, false) => 10_000_000,
    }
}

/// Producer counts of the `ringlog-e2e` rows (the cost curve; more than one
/// producer oversubscribes a 2-core machine).
pub const E2E_PRODUCERS: [u32; 3] = [1, 2, 4];

/// Producer counts of the throughput rows of the transports that take
/// several producers into one consumer (the cost curve): ringlog (a lane per
/// producer), the socket (a connection and a consumer thread per producer),
/// crossbeam (a sender thread per producer), iceoryx2 (a publisher per
/// producer, one subscriber) and the C rings `raw-batched` and
/// `raw-per-record` (single-producer by design, so a ring per producer,
/// drained round-robin). `raw-spsc` stays single-producer.
pub const MULTI_PRODUCERS: [u32; 3] = [1, 2, 4];

/// The producer counts `transport` runs in `mode`.
fn producer_counts(transport: Transport, mode: Mode) -> &'static [u32] {
    match (transport, mode) {
        (Transport::RinglogE2e, _) => &E2E_PRODUCERS,
        (Transport::RinglogE2eRuns, _) => &[E2E_RUNS],
        (
            Transport::Ringlog
            | Transport::UdsProtobuf
            | Transport::Crossbeam
            | Transport::Iceoryx2
            | Transport::RawBatched
            | Transport::RawPerRecord,
            Mode::Throughput,
        ) => &MULTI_PRODUCERS,
        _ => &[1],
    }
}

/// Runs of the `ringlog-e2e-runs` row, one producer each.
pub const E2E_RUNS: u32 = 16;

/// Default measured records of a latency run (spinning consumer); a
/// twentieth for the 4 KiB array record, whose JSON encoding alone takes the
/// socket peer about 200 µs.
fn latency_records(record: RecordShape, quick: bool) -> u64 {
    let n = if quick { 100_000 } else { 500_000 };
    if record == RecordShape::F32x1024 { n / 20 } else { n }
}

/// Default measured records of a parked-consumer latency run: each record
/// waits a whole pace, so a run lasts records x pace (2 s or 10 s at 1 ms).
fn parked_records(quick: bool) -> u64 {
    if quick { 2_000 } else { 10_000 }
}

/// Whether `transport` has rows in `mode`: `ringlog-e2e` measures throughput
/// only, and parking needs a consumer that can park.
fn has_rows(transport: Transport, mode: Mode) -> bool {
    match mode {
        Mode::Throughput => true,
        Mode::Latency => !transport.end_to_end(),
        Mode::Parked => matches!(transport, Transport::Ringlog | Transport::UdsProtobuf | Transport::Crossbeam),
    }
}

/// Warm-up records of a latency run: a full lap of a ring, or a socket's
/// first few thousand messages. Throughput runs have none: first-touch costs
/// are part of their figure and are amortized over millions of records.
fn warmup(transport: Transport, record: RecordShape, mode: Mode) -> u64 {
    match (mode, transport) {
        (Mode::Throughput, _) => 0,
        (_, Transport::UdsProtobuf) => uds_protobuf::WARMUP_RECORDS,
        (_, _) => ringlog_transport::warmup_records(record),
    }
}

impl Plan {
    /// The plan the command line asks for.
    ///
    /// # Examples
    /// ```
    /// use clap::Parser;
    /// let cli = ringlog_benches::cli::Cli::parse_from(["compare", "--quick", "--transport", "ringlog"]);
    /// let plan = ringlog_benches::plan::Plan::from_args(&cli.compare);
    /// assert_eq!(plan.runs, 3);
    /// // 3 records x (throughput with 1, 2 and 4 producers + spinning + parked latency)
    /// assert_eq!(plan.cases.len(), 15);
    ///
    /// // No parked-consumer rows for a ring that cannot park:
    /// // 3 records x (throughput with 1, 2 and 4 producers + spinning latency).
    /// let cli = ringlog_benches::cli::Cli::parse_from(["compare", "--transport", "raw-batched"]);
    /// assert_eq!(ringlog_benches::plan::Plan::from_args(&cli.compare).cases.len(), 12);
    ///
    /// // raw-spsc stays single-producer: 3 records x (throughput + spinning latency).
    /// let cli = ringlog_benches::cli::Cli::parse_from(["compare", "--transport", "raw-spsc"]);
    /// assert_eq!(ringlog_benches::plan::Plan::from_args(&cli.compare).cases.len(), 6);
    ///
    /// // ringlog-e2e: throughput only, each record shape with 1, 2 and 4 producers.
    /// let cli = ringlog_benches::cli::Cli::parse_from(["compare", "--transport", "ringlog-e2e", "--record", "scalar8"]);
    /// let plan = ringlog_benches::plan::Plan::from_args(&cli.compare);
    /// let producers: Vec<u32> = plan.cases.iter().map(|c| c.producers).collect();
    /// assert_eq!(producers, [1, 2, 4]);
    /// ```
    pub fn from_args(args: &CompareArgs) -> Self {
        let transports: Vec<Transport> = pick(&args.transport, &Transport::available());
        let records: Vec<RecordShape> = pick(&args.record, &RecordShape::ALL);
        let modes: Vec<Mode> = pick(&args.mode, &Mode::ALL);
        let mut cases = Vec::new();
        for &mode in &modes {
            for &record in &records {
                for &transport in transports.iter().filter(|&&t| has_rows(t, mode)) {
                    if transport.end_to_end() {
                        for &producers in producer_counts(transport, mode) {
                            cases.push(Case {
                                transport,
                                record,
                                mode,
                                records: args.records.unwrap_or(e2e_records(record, args.quick)),
                                warmup: 0,
                                pace_ns: args.pace_ns,
                                producers,
                            });
                        }
                        continue;
                    }
                    let (default, pace_ns) = match mode {
                        Mode::Throughput => (throughput_records(transport, record, args.quick), args.pace_ns),
                        Mode::Latency => (latency_records(record, args.quick), args.pace_ns),
                        Mode::Parked => (parked_records(args.quick), args.parked_pace_ns),
                    };
                    for &producers in producer_counts(transport, mode) {
                        cases.push(Case {
                            transport,
                            record,
                            mode,
                            records: args.records.unwrap_or(default),
                            warmup: warmup(transport, record, mode),
                            pace_ns,
                            producers,
                        });
                    }
                }
            }
        }
        let runs = args.runs.unwrap_or(if args.quick { 3 } else { 7 }).max(1);
        Self { cases, runs }
    }
}
