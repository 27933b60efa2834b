//! What each child process reports to the parent, and the line protocol that
//! carries it over the child's stdout.
//!
//! A child writes at most two lines that the parent reads: the consumer first
//! writes `READY <endpoint>` once it accepts producers (the endpoint names the
//! segment, socket or ring to open), then each child ends with
//! `RESULT <json>`. Anything else on stdout is ignored; diagnostics go to stderr.
//!
//! Children of the `ringlog-e2e` case also take commands on stdin, one per
//! line: producers announce `READY` once attached and wait for [`GO`], the
//! owner waits for [`FINISH`] before finishing its run.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use ringlog_ring::clock::monotonic_ns;

use crate::cpu_clock::thread_cpu_ns;
use crate::error::BenchResult;
use crate::latency::LatencySummary;

/// Prefix of the consumer's readiness line.
pub const READY_PREFIX: &str = "READY ";
/// Prefix of a child's result line.
pub const RESULT_PREFIX: &str = "RESULT ";
/// Command that starts the producers of a `ringlog-e2e` run.
pub const GO: &str = "GO";
/// Command that makes the owner of a `ringlog-e2e` run finish it.
pub const FINISH: &str = "FINISH";

/// The producer's side of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerOutcome {
    /// `CLOCK_MONOTONIC` (system-wide) just before the first measured record.
    pub start_ns: u64,
    /// `CLOCK_MONOTONIC` after the last record was handed to the transport.
    pub end_ns: u64,
    /// Measured records sent (warm-up excluded).
    pub records: u64,
    /// CPU time of the producing thread over the measured records (ns).
    #[serde(default)]
    pub cpu_ns: u64,
}

impl ProducerOutcome {
    /// The outcome of a producer that started measuring at `start_ns`
    /// (monotonic) and `start_cpu_ns` ([`thread_cpu_ns`]) and has just sent
    /// its last record.
    ///
    /// # Examples
    /// ```
    /// use ringlog_benches::{ProducerOutcome, cpu_clock::thread_cpu_ns};
    /// let (t, c) = (ringlog_ring::clock::monotonic_ns(), thread_cpu_ns());
    /// let o = ProducerOutcome::finished(t, c, 10);
    /// assert!(o.end_ns >= o.start_ns && o.records == 10);
    /// ```
    pub fn finished(start_ns: u64, start_cpu_ns: u64, records: u64) -> Self {
        Self { start_ns, end_ns: monotonic_ns(), records, cpu_ns: thread_cpu_ns().saturating_sub(start_cpu_ns) }
    }
}

/// The consumer's side of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumerOutcome {
    /// Measured records received and validated (warm-up excluded).
    pub records: u64,
    /// Bytes of those records as the transport carried them.
    pub bytes: u64,
    /// `CLOCK_MONOTONIC` after the last record was validated.
    pub end_ns: u64,
    /// One-way latency percentiles (latency mode only).
    pub latency: Option<LatencySummary>,
    /// CPU time of the consuming thread from its first record to the end (ns).
    #[serde(default)]
    pub cpu_ns: u64,
    /// In-process transports only: when the producer thread started measuring,
    /// and its CPU time (the consumer process reports both sides).
    #[serde(default)]
    pub producer: Option<ProducerOutcome>,
}

/// Writes the readiness line and flushes it.
///
/// # Errors
/// If stdout cannot be written.
pub fn emit_ready(endpoint: &str) -> BenchResult<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY_PREFIX}{endpoint}")?;
    out.flush()?;
    Ok(())
}

/// Writes a result line and flushes it.
///
/// # Errors
/// If the value cannot be encoded or stdout cannot be written.
pub fn emit_result<T: Serialize>(value: &T) -> BenchResult<()> {
    let json = serde_json::to_string(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{RESULT_PREFIX}{json}")?;
    out.flush()?;
    Ok(())
}

/// Whether this process is a producer child of a run with a start barrier
/// (set once from its command line, `--start-barrier`).
static START_BARRIER: AtomicBool = AtomicBool::new(false);

/// Makes [`start_barrier`] wait for the runner (a producer child of `compare`).
pub fn enable_start_barrier() {
    // Relaxed: set by the main thread before any producer code runs.
    START_BARRIER.store(true, Ordering::Relaxed);
}

/// The start barrier of a producer process: announces `READY producer` once
/// it is set up (connected, keys interned, warm-up drained), then waits for
/// the runner's [`GO`], which the runner sends when every producer of the run
/// is ready. So several producers start measuring together, and no
/// producer's clock runs while another is still starting. Returns at once in
/// a process without [`enable_start_barrier`] (tests that run both sides).
///
/// # Errors
/// If stdout cannot be written or stdin does not say [`GO`].
///
/// # Examples
/// ```
/// // Not a producer child of `compare`: nothing to wait for.
/// ringlog_benches::outcome::start_barrier()?;
/// # Ok::<(), ringlog_benches::BenchError>(())
/// ```
pub fn start_barrier() -> BenchResult<()> {
    // Relaxed: see enable_start_barrier.
    if !START_BARRIER.load(Ordering::Relaxed) {
        return Ok(());
    }
    emit_ready("producer")?;
    wait_command(GO)
}

/// Blocks until the parent sends `command` on stdin.
///
/// Bounded by the parent: it sends the command or kills this process, and
/// its exit closes the pipe.
///
/// # Errors
/// End of input or another line.
pub fn wait_command(command: &str) -> BenchResult<()> {
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        return Err(format!("the parent closed stdin before sending {command}").into());
    }
    if line.trim() != command {
        return Err(format!("expected the command {command}, got {:?}", line.trim()).into());
    }
    Ok(())
}
