//! Command line of the `lifecycle` binary, including the hidden probe role.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Control-path costs of ringlog against a private service: init to first
/// record, cold auto-start, finishing an empty run, idle service CPU, and
/// 64 concurrent runs.
#[derive(Debug, Parser)]
#[command(name = "lifecycle", args_conflicts_with_subcommands = true)]
pub struct LifecycleCli {
    /// Internal: a measurement run inside a child process.
    #[command(subcommand)]
    pub probe: Option<ProbeCommand>,
    /// The measurements to run.
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
}

/// Options of a lifecycle run.
#[derive(Debug, Clone, Args)]
pub struct LifecycleArgs {
    /// Fewer samples and 3 s idle windows: finishes in well under a minute.
    #[arg(long)]
    pub quick: bool,
    /// Write the rows as a JSON array to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Warm inits (and empty-run finishes) to take the median of.
    #[arg(long, value_name = "N")]
    pub inits: Option<u32>,
    /// Cold auto-starts to take the median of.
    #[arg(long, value_name = "N")]
    pub cold_starts: Option<u32>,
    /// Seconds the service sits idle while its CPU time is read.
    #[arg(long, value_name = "S")]
    pub idle_seconds: Option<u64>,
    /// Concurrent runs.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub runs: u32,
    /// Scalar8 records each concurrent run logs.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub records: u64,
}

impl LifecycleArgs {
    /// Warm inits to time.
    pub fn inits(&self) -> u32 {
        self.inits.unwrap_or(if self.quick { 20 } else { 100 }).max(1)
    }

    /// Cold starts to time.
    pub fn cold_starts(&self) -> u32 {
        self.cold_starts.unwrap_or(if self.quick { 5 } else { 11 }).max(1)
    }

    /// Length of an idle window.
    pub fn idle_seconds(&self) -> u64 {
        self.idle_seconds.unwrap_or(if self.quick { 3 } else { 10 }).max(1)
    }
}

/// Subcommands; only the hidden probe role exists.
#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// Run one measurement in this process (started by `lifecycle` itself,
    /// with the private service's environment).
    #[command(hide = true)]
    Probe(ProbeArgs),
}

/// What a probe process measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeKind {
    /// `count` warm inits to a first committed record, then `count` empty-run finishes.
    Warm,
    /// One init that has to auto-start the service.
    Cold,
    /// `count` runs at once, each logging `records` scalar8 records.
    Concurrent,
}

/// Arguments of a probe process.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// The measurement.
    #[arg(long, value_enum)]
    pub kind: ProbeKind,
    /// Samples (warm) or runs (concurrent).
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// Records per run (concurrent).
    #[arg(long, default_value_t = 0)]
    pub records: u64,
}
