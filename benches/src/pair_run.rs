//! Runs one case once: a consumer process and one or more producer processes,
//! all re-executions of the current binary; the consumer pinned to one CPU,
//! the producers to another (several producers share it: oversubscribed).
//!
//! Every wait is bounded: the consumer must announce its endpoint within
//! [`SETUP_TIMEOUT`], the run must end within [`run_timeout`], and a child that
//! fails or overruns gets both children killed and the endpoint removed.

use std::process::Command;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::case::{Case, Mode};
use crate::child::cleanup;
use crate::child_process::{ChildProcess, Event, recv};
use crate::cli::{ChildArgs, Role};
use crate::error::BenchResult;
use crate::latency::LatencySummary;
use crate::outcome::{ConsumerOutcome, GO, ProducerOutcome, READY_PREFIX, RESULT_PREFIX};
use crate::pin::{CONSUMER_CPU, PRODUCER_CPU};

/// Bound on the consumer's setup (process start to `READY`).
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on a child's exit after it closed its stdout.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Bound on a whole run: generous for the slowest transport, plus the pacing.
pub fn run_timeout(case: &Case) -> Duration {
    let paced = match case.mode {
        Mode::Throughput => 0,
        Mode::Latency | Mode::Parked => case.records.saturating_mul(case.pace_ns),
    };
    // Even 1 µs per record (a socket) fits in the bound several times over.
    Duration::from_secs(30) + Duration::from_nanos(paced) + Duration::from_micros(case.total_records() * 4)
}

/// The measured result of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMeasure {
    /// Records received and validated.
    pub records: u64,
    /// Bytes of those records as the transport carried them.
    pub bytes: u64,
    /// From the producer's first measured record to the consumer's last validation.
    pub elapsed_ns: u64,
    /// Latency percentiles (latency mode).
    pub latency: Option<LatencySummary>,
    /// CPU time of the producing threads over the measured records (ns).
    pub producer_cpu_ns: u64,
    /// CPU time of the receiving side (ns): the consumer thread, or for
    /// `ringlog-e2e` the service process.
    pub consumer_cpu_ns: u64,
}

impl RunMeasure {
    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 * 1e9 / self.elapsed_ns.max(1) as f64
    }

    /// Bytes per second.
    pub fn bytes_per_s(&self) -> f64 {
        self.bytes as f64 * 1e9 / self.elapsed_ns.max(1) as f64
    }
}

/// Which child an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Consumer,
    Producer(u32),
}

/// Starts a re-execution of this binary as `child ARGS`, tagged with `side`.
fn spawn(name: String, args: Vec<String>, side: Side, tx: &Sender<Event<Side>>) -> BenchResult<ChildProcess> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("child").args(args);
    ChildProcess::spawn(name, command, side, tx)
}

/// Runs `case` once with a consumer and `case.producers` producer processes.
///
/// # Errors
/// A child that fails, overruns, or reports nonsense.
pub fn run_pair(case: &Case, pin: bool) -> BenchResult<RunMeasure> {
    if case.producers > 1 && case.warmup > 0 {
        // Each producer would send a warm-up the consumer counts once.
        return Err("a run with several producers has no warm-up (latency runs have one producer)".into());
    }
    let (tx, rx) = mpsc::channel();
    let cpu = |c: usize| pin.then_some(c);
    if case.transport.in_process() {
        // One process runs both threads and reports both sides.
        let consumer_args = ChildArgs::to_args(case, Role::Consumer, None, cpu(CONSUMER_CPU));
        let mut process = spawn("consumer".into(), consumer_args, Side::Consumer, &tx)?;
        let mut c = collect_one(&rx, Instant::now() + run_timeout(case))?;
        process.wait_success(EXIT_TIMEOUT)?;
        let p = c.producer.take().ok_or("an in-process run reported no producer side")?;
        return measure(case, &[p], &c);
    }
    let consumer_args = ChildArgs::to_args(case, Role::Consumer, None, cpu(CONSUMER_CPU));
    let mut consumer = spawn("consumer".into(), consumer_args, Side::Consumer, &tx)?;
    let endpoint = wait_ready(&rx, SETUP_TIMEOUT)?;
    // A start barrier when several producers run: the window starts at the
    // first producer's first record, so none may still be starting then. One
    // producer's window starts at its own first record: no barrier needed.
    let barrier = case.producers > 1;
    let result = (|| {
        let mut producers = Vec::with_capacity(case.producers as usize);
        for rank in 0..case.producers.max(1) {
            let mut args = ChildArgs::to_args(case, Role::Producer, Some(&endpoint), cpu(PRODUCER_CPU));
            args.extend(["--rank".to_owned(), rank.to_string()]);
            if barrier {
                args.push("--start-barrier".to_owned());
            }
            producers.push(spawn(format!("producer {rank}"), args, Side::Producer(rank), &tx)?);
        }
        if barrier {
            // Every producer set up, then all released at once.
            wait_producers_ready(&rx, case.producers, SETUP_TIMEOUT)?;
            for p in &mut producers {
                p.send_line(GO)?;
            }
        }
        let (p, c) = collect(&rx, case.producers.max(1), Instant::now() + run_timeout(case))?;
        for child in producers.iter_mut().chain([&mut consumer]) {
            child.wait_success(EXIT_TIMEOUT)?;
        }
        measure(case, &p, &c)
    })();
    if result.is_err() {
        drop(consumer); // kill it before removing what it serves
        cleanup(case.transport, &endpoint);
    }
    result
}

/// Waits for the consumer's `READY <endpoint>` line.
fn wait_ready(rx: &Receiver<Event<Side>>, timeout: Duration) -> BenchResult<String> {
    let deadline = Instant::now() + timeout;
    loop {
        match recv(rx, deadline, "the consumer's READY line")? {
            Event::Line(_, line) => {
                if let Some(endpoint) = line.strip_prefix(READY_PREFIX) {
                    return Ok(endpoint.to_owned());
                }
            }
            Event::Closed(_) => return Err("the consumer exited before it was ready".into()),
        }
    }
}

/// Waits for the `READY` line of each of `producers` producers.
fn wait_producers_ready(rx: &Receiver<Event<Side>>, producers: u32, timeout: Duration) -> BenchResult<()> {
    let deadline = Instant::now() + timeout;
    let mut ready = vec![false; producers as usize];
    while ready.iter().any(|r| !r) {
        match recv(rx, deadline, "the producers' READY lines")? {
            Event::Line(Side::Producer(rank), line) if line.starts_with(READY_PREFIX) => {
                if let Some(r) = ready.get_mut(rank as usize) {
                    *r = true;
                }
            }
            Event::Line(..) => {}
            Event::Closed(side) => {
                return Err(format!("{side:?} exited before the start (see its message above)").into());
            }
        }
    }
    Ok(())
}

/// Collects the result line of the one child of an in-process run.
fn collect_one(rx: &Receiver<Event<Side>>, deadline: Instant) -> BenchResult<ConsumerOutcome> {
    let mut outcome = None;
    loop {
        match recv(rx, deadline, "the run's result")? {
            Event::Line(_, line) => {
                if let Some(json) = line.strip_prefix(RESULT_PREFIX) {
                    outcome = Some(serde_json::from_str::<ConsumerOutcome>(json)?);
                }
            }
            Event::Closed(_) => return outcome.ok_or_else(|| "the run failed (see its message above)".into()),
        }
    }
}

/// Collects the result lines of the consumer and of `producers` producers
/// until all of them closed their stdout.
fn collect(
    rx: &Receiver<Event<Side>>,
    producers: u32,
    deadline: Instant,
) -> BenchResult<(Vec<ProducerOutcome>, ConsumerOutcome)> {
    let mut produced: Vec<Option<ProducerOutcome>> = vec![None; producers as usize];
    let mut consumer = None;
    let mut open = producers as usize + 1;
    while open > 0 {
        match recv(rx, deadline, "the run's results")? {
            Event::Line(side, line) => {
                let Some(json) = line.strip_prefix(RESULT_PREFIX) else { continue };
                match side {
                    Side::Producer(rank) => {
                        let slot = produced.get_mut(rank as usize).ok_or("a result from an unknown producer")?;
                        *slot = Some(serde_json::from_str::<ProducerOutcome>(json)?);
                    }
                    Side::Consumer => consumer = Some(serde_json::from_str::<ConsumerOutcome>(json)?),
                }
            }
            Event::Closed(side) => {
                open -= 1;
                let reported = match side {
                    Side::Producer(rank) => produced.get(rank as usize).is_some_and(Option::is_some),
                    Side::Consumer => consumer.is_some(),
                };
                if !reported {
                    return Err(format!("{side:?} failed (see its message above)").into());
                }
            }
        }
    }
    let produced: Option<Vec<ProducerOutcome>> = produced.into_iter().collect();
    match (produced, consumer) {
        (Some(p), Some(c)) => Ok((p, c)),
        _ => Err("a child closed its output without a result".into()),
    }
}

fn measure(case: &Case, producers: &[ProducerOutcome], c: &ConsumerOutcome) -> BenchResult<RunMeasure> {
    let sent: u64 = producers.iter().map(|p| p.records).sum();
    let start_ns = producers.iter().map(|p| p.start_ns).min().ok_or("no producer results")?;
    if c.records != case.records || sent != case.records {
        return Err(format!(
            "{}: expected {} records, producer sent {}, consumer validated {}",
            case.transport.as_str(),
            case.records,
            sent,
            c.records
        )
        .into());
    }
    if c.end_ns < start_ns {
        return Err("the consumer finished before the producer started: clocks disagree".into());
    }
    Ok(RunMeasure {
        records: c.records,
        bytes: c.bytes,
        elapsed_ns: c.end_ns - start_ns,
        latency: c.latency.clone(),
        producer_cpu_ns: producers.iter().map(|p| p.cpu_ns).sum(),
        consumer_cpu_ns: c.cpu_ns,
    })
}
