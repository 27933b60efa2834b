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
fn throughput_records(transport: Transport, quick: bool) -> u64 {
    match (transport, quick) {
        (Transport::UdsProtobuf, true) => 200_000,
        (Transport::UdsProtobuf, false) => 1_000_000,
        (_, true) => 4_000_000,
        (_, false) => 20_000_000,
    }
}

/// Default records of a `ringlog-e2e` run (all producers together). Every
/// record also goes to disk (168 bytes of frame each), so runs stay shorter
/// than the ring-only ones.
fn e2e_records(quick: bool) -> u64 {
    if quick { 2_000_000 } else { 10_000_000 }
}

/// Producer counts of the `ringlog-e2e` rows.
pub const E2E_PRODUCERS: [u32; 2] = [1, 4];

/// Default measured records of a latency run.
fn latency_records(quick: bool) -> u64 {
    if quick { 100_000 } else { 500_000 }
}

/// Warm-up records of a latency run: a full lap of a ring, or a socket's
/// first few thousand messages. Throughput runs have none: first-touch costs
/// are part of their figure and are amortized over millions of records.
fn warmup(transport: Transport, record: RecordShape, mode: Mode) -> u64 {
    match (mode, transport) {
        (Mode::Throughput, _) => 0,
        (Mode::Latency, Transport::UdsProtobuf) => uds_protobuf::WARMUP_RECORDS,
        (Mode::Latency, _) => ringlog_transport::warmup_records(record),
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
    /// assert_eq!(plan.cases.len(), 4); // 2 records x 2 modes
    ///
    /// // ringlog-e2e: throughput only, scalar1 and scalar8, with 1 and with 4 producers.
    /// let cli = ringlog_benches::cli::Cli::parse_from(["compare", "--transport", "ringlog-e2e"]);
    /// let plan = ringlog_benches::plan::Plan::from_args(&cli.compare);
    /// let producers: Vec<u32> = plan.cases.iter().map(|c| c.producers).collect();
    /// assert_eq!(producers, [1, 4, 1, 4]);
    /// ```
    pub fn from_args(args: &CompareArgs) -> Self {
        let transports: Vec<Transport> = pick(&args.transport, &Transport::ALL);
        let records: Vec<RecordShape> = pick(&args.record, &RecordShape::ALL);
        let modes: Vec<Mode> = pick(&args.mode, &Mode::ALL);
        let mut cases = Vec::new();
        for &mode in &modes {
            for &record in &records {
                for &transport in &transports {
                    if transport == Transport::RinglogE2e {
                        if mode == Mode::Throughput {
                            for producers in E2E_PRODUCERS {
                                cases.push(Case {
                                    transport,
                                    record,
                                    mode,
                                    records: args.records.unwrap_or(e2e_records(args.quick)),
                                    warmup: 0,
                                    pace_ns: args.pace_ns,
                                    producers,
                                });
                            }
                        }
                        continue;
                    }
                    let default = match mode {
                        Mode::Throughput => throughput_records(transport, args.quick),
                        Mode::Latency => latency_records(args.quick),
                    };
                    cases.push(Case {
                        transport,
                        record,
                        mode,
                        records: args.records.unwrap_or(default),
                        warmup: warmup(transport, record, mode),
                        pace_ns: args.pace_ns,
                        producers: 1,
                    });
                }
            }
        }
        let runs = args.runs.unwrap_or(if args.quick { 3 } else { 7 }).max(1);
        Self { cases, runs }
    }
}
