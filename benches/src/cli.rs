//! Command line of the `compare` binary, including the hidden child role.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::case::{Case, Mode, RecordShape, Transport};

/// Cross-process comparison of ringlog with its peers: a Unix socket carrying
/// protobuf, crossbeam-channel, iceoryx2 (`peers` feature), and raw SPSC rings.
#[derive(Debug, Parser)]
#[command(name = "compare", args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Internal: the role of a re-executed child process.
    #[command(subcommand)]
    pub child: Option<ChildCommand>,
    /// The comparison to run.
    #[command(flatten)]
    pub compare: CompareArgs,
}

/// Options of a comparison run.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Fewer records and runs: finishes in well under a minute on 2 cores.
    #[arg(long)]
    pub quick: bool,
    /// Write the rows as a JSON array to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the rows as a Markdown table to FILE (with the ratios and goals).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Measured records per run for every case (overrides the per-transport defaults).
    #[arg(long, value_name = "N")]
    pub records: Option<u64>,
    /// Runs per case; the report shows medians.
    #[arg(long, value_name = "N")]
    pub runs: Option<u32>,
    /// Only these transports (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub transport: Vec<Transport>,
    /// Only these record shapes (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub record: Vec<RecordShape>,
    /// Only these modes (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub mode: Vec<Mode>,
    /// Interval between records in latency runs, in nanoseconds.
    #[arg(long, value_name = "NS", default_value_t = 5_000)]
    pub pace_ns: u64,
    /// Interval between records in parked-consumer latency runs
    /// (`latency-parked`), in nanoseconds: long enough that the consumer parks
    /// (ringlog's consumer spins for about 130 µs before it sleeps).
    #[arg(long, value_name = "NS", default_value_t = 1_000_000)]
    pub parked_pace_ns: u64,
    /// Do not pin producer and consumer to CPUs 0 and 1.
    #[arg(long)]
    pub no_pin: bool,
}

/// Subcommands; only the hidden child role exists.
#[derive(Debug, Subcommand)]
pub enum ChildCommand {
    /// Run one side of one benchmark run (started by `compare` itself).
    #[command(hide = true)]
    Child(ChildArgs),
}

/// Which side of a run a child process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Sends records.
    Producer,
    /// Creates the endpoint, receives and validates records.
    Consumer,
    /// `ringlog-e2e` only: inits the run (auto-starting the private service),
    /// announces its id, and finishes it when told to.
    Owner,
}

/// Arguments of a child process: one side of one run of one case.
#[derive(Debug, Clone, Args)]
pub struct ChildArgs {
    /// Producer or consumer.
    #[arg(long, value_enum)]
    pub role: Role,
    /// Transport under test.
    #[arg(long, value_enum)]
    pub transport: Transport,
    /// Record shape.
    #[arg(long, value_enum)]
    pub record: RecordShape,
    /// Throughput or latency.
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// Measured records (all producers together).
    #[arg(long)]
    pub records: u64,
    /// Producer processes sharing `records`.
    #[arg(long, default_value_t = 1)]
    pub producers: u32,
    /// This producer's rank among `producers`: its lane, connection or ring.
    #[arg(long, default_value_t = 0)]
    pub rank: u32,
    /// Unmeasured records sent first.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Pacing interval of latency runs, in nanoseconds.
    #[arg(long, default_value_t = 5_000)]
    pub pace_ns: u64,
    /// What the consumer or owner announced (segment, socket path, ring name
    /// or run id); producer only.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// CPU to pin this process to.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Producer only: announce readiness and wait for `GO` before measuring.
    #[arg(long)]
    pub start_barrier: bool,
}

impl ChildArgs {
    /// The case this child runs.
    pub fn case(&self) -> Case {
        Case {
            transport: self.transport,
            record: self.record,
            mode: self.mode,
            records: self.records,
            warmup: self.warmup,
            pace_ns: self.pace_ns,
            producers: self.producers,
        }
    }

    /// The arguments that reproduce `case` for `role` (after the `child` subcommand).
    pub fn to_args(case: &Case, role: Role, endpoint: Option<&str>, cpu: Option<usize>) -> Vec<String> {
        let role = match role {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
            Role::Owner => "owner",
        };
        let mut args = vec![
            "--role".to_owned(),
            role.to_owned(),
            "--transport".to_owned(),
            case.transport.as_str().to_owned(),
            "--record".to_owned(),
            case.record.as_str().to_owned(),
            "--mode".to_owned(),
            case.mode.as_str().to_owned(),
            "--records".to_owned(),
            case.records.to_string(),
            "--warmup".to_owned(),
            case.warmup.to_string(),
            "--pace-ns".to_owned(),
            case.pace_ns.to_string(),
            "--producers".to_owned(),
            case.producers.to_string(),
        ];
        if let Some(e) = endpoint {
            args.extend(["--endpoint".to_owned(), e.to_owned()]);
        }
        if let Some(c) = cpu {
            args.extend(["--cpu".to_owned(), c.to_string()]);
        }
        args
    }
}
