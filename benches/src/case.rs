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
    /// The physical reference: a plain C SPSC ring between two processes. The
    /// producer writes each record in place and publishes its tail every 64
    /// records; both sides cache the other's index.
    RawBatched,
    /// [`Transport::RawBatched`] publishing its tail after every record: the
    /// cost of per-record commits.
    RawPerRecord,
    /// crossbeam-channel between two threads of one process (the in-process
    /// reference): one owned record per message.
    Crossbeam,
    /// iceoryx2 publish-subscribe, the record serialized into a loaned sample;
    /// only with the `peers` feature.
    Iceoryx2,
    /// As [`Transport::RinglogE2e`] with `producers` separate runs of one
    /// producer each (many jobs on one machine), all finished at the end.
    RinglogE2eRuns,
}

impl Transport {
    /// Every transport, in report order.
    pub const ALL: [Transport; 9] = [
        Transport::Ringlog,
        Transport::UdsProtobuf,
        Transport::RawSpsc,
        Transport::RawBatched,
        Transport::RawPerRecord,
        Transport::Crossbeam,
        Transport::Iceoryx2,
        Transport::RinglogE2e,
        Transport::RinglogE2eRuns,
    ];

    /// The transports this build can run: [`Transport::ALL`] without
    /// `iceoryx2` unless the `peers` feature is on.
    pub fn available() -> Vec<Transport> {
        Self::ALL.into_iter().filter(|t| t.built()).collect()
    }

    /// Whether this build carries the transport.
    pub fn built(self) -> bool {
        self != Transport::Iceoryx2 || cfg!(feature = "peers")
    }

    /// Whether the case runs through a private service (`ringlog-e2e*`).
    pub fn end_to_end(self) -> bool {
        matches!(self, Transport::RinglogE2e | Transport::RinglogE2eRuns)
    }

    /// Whether producer and consumer are threads of one process.
    pub fn in_process(self) -> bool {
        self == Transport::Crossbeam
    }

    /// The name used on the command line and in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Ringlog => "ringlog",
            Transport::UdsProtobuf => "uds-protobuf",
            Transport::RawSpsc => "raw-spsc",
            Transport::RinglogE2e => "ringlog-e2e",
            Transport::RawBatched => "raw-batched",
            Transport::RawPerRecord => "raw-per-record",
            Transport::Crossbeam => "crossbeam",
            Transport::Iceoryx2 => "iceoryx2",
            Transport::RinglogE2eRuns => "ringlog-e2e-runs",
        }
    }

    /// The APIs each side uses, for the report.
    pub fn api(self) -> &'static str {
        match self {
            Transport::Ringlog => "Producer::log_scalar1/log_scalars -> Consumer::read_batch (copy+rkyv check)+release",
            Transport::UdsProtobuf => "prost encode + 1 write(2)/record -> BufReader + prost decode",
            Transport::RawSpsc => "memcpy frame + Release tail -> Acquire tail, copy, field check, Release head",
            Transport::RinglogE2e | Transport::RinglogE2eRuns => "rust-client",
            Transport::RawBatched => {
                "C: record written in place, tail published per 64 -> C: cached tail, field check, head per 64"
            }
            Transport::RawPerRecord => {
                "C: record written in place, tail published per record -> C: field check, head per 64"
            }
            Transport::Crossbeam => "crossbeam_channel::bounded send(Box<[u8]>) -> recv, field check (threads)",
            Transport::Iceoryx2 => "loan_uninit + write frame + send -> receive, copy, field check",
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
    /// A step and one 1024-element f32 array (4 KiB of values): a tensor or a
    /// histogram's raw input.
    #[value(name = "f32x1024")]
    F32x1024,
}

impl RecordShape {
    /// Every shape, in report order.
    pub const ALL: [RecordShape; 3] = [RecordShape::Scalar1, RecordShape::Scalar8, RecordShape::F32x1024];

    /// The name used on the command line and in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordShape::Scalar1 => "scalar1",
            RecordShape::Scalar8 => "scalar8",
            RecordShape::F32x1024 => "f32x1024",
        }
    }

    /// Metrics (keys) per record.
    pub fn metrics(self) -> usize {
        match self {
            RecordShape::Scalar1 | RecordShape::F32x1024 => 1,
            RecordShape::Scalar8 => 8,
        }
    }
}

/// What a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// As many records as fast as possible; records per second.
    Throughput,
    /// Paced records stamped with the monotonic clock; one-way latency
    /// percentiles with a spinning consumer.
    Latency,
    /// As [`Mode::Latency`], with a consumer that parks (futex, blocking read)
    /// when it finds nothing, and a longer pace so it does park: the wakeup
    /// latency. Transports without a way to park (the raw rings, iceoryx2
    /// here) have no such rows.
    #[value(name = "latency-parked")]
    Parked,
}

impl Mode {
    /// Every mode, in report order.
    pub const ALL: [Mode; 3] = [Mode::Throughput, Mode::Latency, Mode::Parked];

    /// Whether the run is paced and measures one-way latency.
    pub fn is_latency(self) -> bool {
        self != Mode::Throughput
    }

    /// The name used on the command line and in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Throughput => "throughput",
            Mode::Latency => "latency",
            Mode::Parked => "latency-parked",
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
    /// Producer processes (or threads, for `crossbeam`; runs, for
    /// `ringlog-e2e-runs`); `records` is their total. Only throughput cases of
    /// the transports that take several producers have more than one, and
    /// then no warm-up.
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
            Mode::Latency | Mode::Parked => ringlog_ring::clock::monotonic_ns() as i64,
        }
    }
}
