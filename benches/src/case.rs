//! What one benchmark case measures: transport, record shape and mode.

use clap::ValueEnum;

/// The transport under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// One lane of a real ringlog segment.
    Ringlog,
    /// A Unix socket carrying length-prefixed protobuf, one write per record.
    UdsProtobuf,
    /// A minimal memcpy SPSC ring in shared memory (the physical reference).
    RawSpsc,
    /// The whole product: producer processes using the Rust client, a private
    /// service draining into the run log on disk, the owner's finish (drain,
    /// fsync, counts) inside the timed window. Throughput only (scalar1 and scalar8).
    RinglogE2e,
}

impl Transport {
    /// Every transport, in report order.
    pub const ALL: [Transport; 4] =
        [Transport::Ringlog, Transport::UdsProtobuf, Transport::RawSpsc, Transport::RinglogE2e];

    /// The name used on the command line and in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Ringlog => "ringlog",
            Transport::UdsProtobuf => "uds-protobuf",
            Transport::RawSpsc => "raw-spsc",
            Transport::RinglogE2e => "ringlog-e2e",
        }
    }

    /// The APIs each side uses, for the report.
    pub fn api(self) -> &'static str {
        match self {
            Transport::Ringlog => "Producer::log_scalar1/log_scalars -> Consumer::read_batch (copy+rkyv check)+release",
            Transport::UdsProtobuf => "prost encode + 1 write(2)/record -> BufReader + prost decode",
            Transport::RawSpsc => "memcpy frame + Release tail -> Acquire tail, copy, field check, Release head",
            Transport::RinglogE2e => "rust-client",
        }
    }
}

/// The record logged per step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecordShape {
    /// A step and one metric.
    Scalar1,
    /// A step and eight metrics.
    Scalar8,
}

impl RecordShape {
    /// Every shape, in report order.
    pub const ALL: [RecordShape; 2] = [RecordShape::Scalar1, RecordShape::Scalar8];

    /// The name used on the command line and in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordShape::Scalar1 => "scalar1",
            RecordShape::Scalar8 => "scalar8",
        }
    }

    /// Metrics per record.
    pub fn metrics(self) -> usize {
        match self {
            RecordShape::Scalar1 => 1,
            RecordShape::Scalar8 => 8,
        }
    }
}

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// As many records as fast as possible; records per second.
    Throughput,
    /// Paced records stamped with the monotonic clock; one-way latency percentiles.
    Latency,
}

impl Mode {
    /// Both modes, in report order.
    pub const ALL: [Mode; 2] = [Mode::Throughput, Mode::Latency];

    /// The name used on the command line and in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Throughput => "throughput",
            Mode::Latency => "latency",
        }
    }
}

/// One fully specified benchmark case (one row of the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Transport under test.
    pub transport: Transport,
    /// Record shape.
    pub record: RecordShape,
    /// Throughput or latency.
    pub mode: Mode,
    /// Records measured per run.
    pub records: u64,
    /// Records sent (unpaced, unmeasured) before the measured ones, so page
    /// faults of a fresh ring and cold caches stay out of latency figures.
    pub warmup: u64,
    /// Interval between paced records in latency mode, in nanoseconds.
    pub pace_ns: u64,
    /// Producer processes; `records` is their total. Only `ringlog-e2e`
    /// runs more than one.
    pub producers: u32,
}

impl Case {
    /// The share of `records` that producer `rank` logs: an even split, the
    /// remainder going to the first ranks.
    ///
    /// # Examples
    /// ```
    /// use ringlog_benches::{Case, Mode, RecordShape, Transport};
    /// let case = Case {
    ///     transport: Transport::RinglogE2e,
    ///     record: RecordShape::Scalar8,
    ///     mode: Mode::Throughput,
    ///     records: 10,
    ///     warmup: 0,
    ///     pace_ns: 0,
    ///     producers: 4,
    /// };
    /// let shares: Vec<u64> = (0..4).map(|r| case.producer_share(r)).collect();
    /// assert_eq!(shares, [3, 3, 2, 2]);
    /// ```
    pub fn producer_share(&self, rank: u32) -> u64 {
        let n = u64::from(self.producers.max(1));
        self.records / n + u64::from(u64::from(rank) < self.records % n)
    }

    /// Records the producer sends in total (warm-up included).
    pub fn total_records(&self) -> u64 {
        self.warmup + self.records
    }

    /// The step of warm-up record `i`: its index in throughput runs, a
    /// monotonic stamp in latency runs, so the consumer's step check holds
    /// for warm-up records too.
    pub fn warmup_step(&self, i: u64) -> i64 {
        match self.mode {
            Mode::Throughput => i as i64,
            Mode::Latency => ringlog_ring::clock::monotonic_ns() as i64,
        }
    }
}
