//! Runs the `ringlog-e2e` case once: a private service, an owner process and
//! N producer processes, all re-executions of the current binary.
//!
//! 1. A fresh [`ServiceEnv`]; the owner inits the run, which auto-starts the
//!    service from `RINGLOG_BIN`. With pinning, the owner is pinned to the
//!    consumer CPU and sets `RINGLOG_SERVICE_CPUS` to it, so the service it
//!    starts runs there (the service's drain threads get their own core; an
//!    auto-started service does not keep its starter's affinity by itself),
//!    and every producer is pinned to the producer CPU.
//! 2. The producers attach and intern their keys, then wait; once all are
//!    ready they are released together ([`crate::outcome::GO`]).
//! 3. When every producer has logged, detached and exited, the owner finishes
//!    the run ([`crate::outcome::FINISH`]): drain, fsync, counts.
//! 4. The run's time is from the earliest producer's first record to the
//!    owner holding the finish report. The report must count exactly the
//!    records logged plus key definitions and exit records, with no drops,
//!    timeouts, invalid frames or abandoned lanes.
//! 5. `ringlog shutdown`, then the directory is deleted.
//!
//! Every wait is bounded, as in [`crate::pair_run`].

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::case::{Case, Transport};
use crate::child_process::{ChildProcess, Event, recv};
use crate::cli::{ChildArgs, Role};
use crate::error::BenchResult;
use crate::outcome::{FINISH, GO, ProducerOutcome, READY_PREFIX, RESULT_PREFIX};
use crate::pair_run::{RunMeasure, run_timeout};
use crate::pin::{CONSUMER_CPU, PRODUCER_CPU};
use crate::proc_stat;
use crate::ringlog_e2e::{OwnerOutcome, expected_run_log_records};
use crate::service_env::ServiceEnv;

/// Bound on the owner's setup: process start, service auto-start, init.
const OWNER_SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the producers' setup: process start, attach, keys.
const PRODUCER_SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on the owner's finish: the client's own bound is 30 s for other
/// lanes plus 90 s; the producers have detached already.
const FINISH_TIMEOUT: Duration = Duration::from_secs(150);
/// Bound on a child's exit after it closed its stdout.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which child an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Side {
    /// The owner of run `i` (always 0 but in `ringlog-e2e-runs`).
    Owner(u32),
    Producer(u32),
}

/// Runs the `ringlog-e2e` `case` once against a private service of `bin`.
///
/// # Errors
/// A child that fails or overruns, wrong counts in the finish report, or a
/// failed service shutdown.
pub fn run_e2e(case: &Case, pin: bool, bin: &Path) -> BenchResult<RunMeasure> {
    let service = ServiceEnv::create("compare", bin.to_path_buf())?;
    let result = run_in(case, pin, &service);
    let stopped = service.stop();
    let measure = result?;
    stopped?;
    Ok(measure)
}

fn spawn(
    service: &ServiceEnv,
    name: String,
    args: Vec<String>,
    side: Side,
    tx: &Sender<Event<Side>>,
    service_cpu: Option<usize>,
) -> BenchResult<ChildProcess> {
    let mut command = Command::new(std::env::current_exe()?);
    service.apply(&mut command).arg("child").args(args);
    if let Some(cpu) = service_cpu {
        command.env("RINGLOG_SERVICE_CPUS", cpu.to_string());
    }
    ChildProcess::spawn(name, command, side, tx)
}

/// Runs of `case`: one, or one per producer in `ringlog-e2e-runs`.
fn run_count(case: &Case) -> u32 {
    if case.transport == Transport::RinglogE2eRuns { case.producers.max(1) } else { 1 }
}

fn run_in(case: &Case, pin: bool, service: &ServiceEnv) -> BenchResult<RunMeasure> {
    let (tx, rx) = mpsc::channel();
    let cpu = |c: usize| pin.then_some(c);
    let owner_sides: Vec<Side> = (0..run_count(case)).map(Side::Owner).collect();
    let mut owners = Vec::with_capacity(owner_sides.len());
    let mut run_ids = HashMap::new();
    for (i, &side) in owner_sides.iter().enumerate() {
        let owner_args = ChildArgs::to_args(case, Role::Owner, None, cpu(CONSUMER_CPU));
        // The service runs on the consumer CPU too, where this process may use it.
        let service_cpu = cpu(CONSUMER_CPU).filter(|&c| crate::pin::may_run_on(c));
        owners.push(spawn(service, format!("owner {i}"), owner_args, side, &tx, service_cpu)?);
        // The first owner auto-starts the service; the others find it running.
        if i == 0 {
            run_ids.extend(wait_ready(&rx, &[side], OWNER_SETUP_TIMEOUT)?);
        }
    }
    run_ids.extend(wait_ready(&rx, &owner_sides[1..], OWNER_SETUP_TIMEOUT)?);

    let sides: Vec<Side> = (0..case.producers).map(Side::Producer).collect();
    let mut producers = Vec::with_capacity(sides.len());
    for rank in 0..case.producers {
        let run_id =
            run_ids.get(&owner_sides[rank as usize % owner_sides.len()]).ok_or("an owner's run id is missing")?;
        let mut args = ChildArgs::to_args(case, Role::Producer, Some(run_id), cpu(PRODUCER_CPU));
        args.extend(["--rank".to_owned(), rank.to_string()]);
        producers.push(spawn(service, format!("producer {rank}"), args, Side::Producer(rank), &tx, None)?);
    }
    wait_ready(&rx, &sides, PRODUCER_SETUP_TIMEOUT)?;
    // The service's CPU from GO to the finish report: what it costs to drain,
    // encode, write and fsync these records.
    let service_pid = service.service_pid()?;
    let service_cpu_before = proc_stat::cpu_time(service_pid)?;
    for p in &mut producers {
        p.send_line(GO)?;
    }
    let results = collect(&rx, &sides, Instant::now() + run_timeout(case))?;
    for p in &mut producers {
        p.wait_success(EXIT_TIMEOUT)?;
    }
    let mut outcomes = Vec::with_capacity(results.len());
    for side in &sides {
        let json = results.get(side).ok_or("a producer result is missing")?;
        outcomes.push(serde_json::from_str::<ProducerOutcome>(json)?);
    }

    for owner in &mut owners {
        owner.send_line(FINISH)?;
    }
    let mut owner_json = collect(&rx, &owner_sides, Instant::now() + FINISH_TIMEOUT)?;
    for owner in &mut owners {
        owner.wait_success(EXIT_TIMEOUT)?;
    }
    let mut owner_outcomes = Vec::with_capacity(owner_sides.len());
    for side in &owner_sides {
        let json = owner_json.remove(side).ok_or("an owner's result is missing")?;
        owner_outcomes.push(serde_json::from_str::<OwnerOutcome>(&json)?);
    }
    let service_cpu = proc_stat::cpu_time(service_pid)?.saturating_sub(service_cpu_before);
    let mut measured = measure(case, &outcomes, &owner_outcomes)?;
    measured.consumer_cpu_ns = u64::try_from(service_cpu.as_nanos()).unwrap_or(u64::MAX);
    Ok(measured)
}

/// Waits for the `READY <what>` line of every child in `sides`; returns what each announced.
fn wait_ready(rx: &Receiver<Event<Side>>, sides: &[Side], timeout: Duration) -> BenchResult<HashMap<Side, String>> {
    let deadline = Instant::now() + timeout;
    let mut ready = HashMap::new();
    while ready.len() < sides.len() {
        match recv(rx, deadline, "the READY lines")? {
            Event::Line(side, line) => {
                if let Some(what) = line.strip_prefix(READY_PREFIX) {
                    ready.insert(side, what.to_owned());
                }
            }
            Event::Closed(side) => {
                return Err(format!("{side:?} exited before it was ready (see its message above)").into());
            }
        }
    }
    Ok(ready)
}

/// Collects the `RESULT` line of every child in `sides` until all of them
/// closed their output; any other child closing is an error.
fn collect(rx: &Receiver<Event<Side>>, sides: &[Side], deadline: Instant) -> BenchResult<HashMap<Side, String>> {
    let mut results = HashMap::new();
    let mut open = sides.len();
    while open > 0 {
        match recv(rx, deadline, "the run's results")? {
            Event::Line(side, line) => {
                if let Some(json) = line.strip_prefix(RESULT_PREFIX) {
                    results.insert(side, json.to_owned());
                }
            }
            Event::Closed(side) if sides.contains(&side) => {
                open -= 1;
                if !results.contains_key(&side) {
                    return Err(format!("{side:?} failed (see its message above)").into());
                }
            }
            Event::Closed(side) => return Err(format!("{side:?} exited early (see its message above)").into()),
        }
    }
    Ok(results)
}

/// Checks one run's finish report against what its producers logged.
fn check_report(case: &Case, run: usize, owner: &OwnerOutcome, producers: &[ProducerOutcome]) -> BenchResult<()> {
    let runs = run_count(case) as usize;
    let attached: Vec<&ProducerOutcome> = producers.iter().skip(run).step_by(runs).collect();
    let logged: u64 = attached.iter().map(|p| p.records).sum();
    // In one run: ringlog_e2e's count; per run of several: the same formula for its producers.
    let expected = if runs == 1 {
        expected_run_log_records(case)
    } else {
        logged + attached.len() as u64 * (case.record.metrics() as u64 + 1) + 1
    };
    let r = &owner.report;
    if r.state != ringlog::RunEnd::Finished || r.records != expected {
        return Err(format!(
            "ringlog-e2e run {run}: finish report says state {:?} with {} records in the run log, expected \
             \"finished\" with {expected} ({logged} {} + key definitions + {} exit records)",
            r.state,
            r.records,
            case.record.as_str(),
            attached.len() + 1
        )
        .into());
    }
    if r.drops != 0 || r.timeouts != 0 || r.invalid_frames != 0 || r.abandoned_lanes != 0 {
        return Err(format!(
            "ringlog-e2e run {run}: finish report has {} drops, {} timeouts, {} invalid frames, {} abandoned lanes",
            r.drops, r.timeouts, r.invalid_frames, r.abandoned_lanes
        )
        .into());
    }
    Ok(())
}

fn measure(case: &Case, producers: &[ProducerOutcome], owners: &[OwnerOutcome]) -> BenchResult<RunMeasure> {
    let logged: u64 = producers.iter().map(|p| p.records).sum();
    if logged != case.records {
        return Err(format!("ringlog-e2e: expected {} records, producers logged {logged}", case.records).into());
    }
    for (run, owner) in owners.iter().enumerate() {
        check_report(case, run, owner, producers)?;
    }
    let start_ns = producers.iter().map(|p| p.start_ns).min().ok_or("no producers")?;
    let last_log_ns = producers.iter().map(|p| p.end_ns).max().unwrap_or(start_ns);
    let end_ns = owners.iter().map(|o| o.end_ns).max().ok_or("no owners")?;
    let finish_start_ns = owners.iter().map(|o| o.finish_start_ns).min().unwrap_or(end_ns);
    if end_ns < start_ns {
        return Err("the finish report arrived before the producers started: clocks disagree".into());
    }
    let bytes: u64 = owners.iter().map(|o| o.report.bytes).sum();
    eprintln!(
        "    {} {}p: logging {:.1} ms, finish {:.1} ms, window {:.1} ms, run log {:.1} MB",
        case.transport.as_str(),
        case.producers,
        last_log_ns.saturating_sub(start_ns) as f64 / 1e6,
        end_ns.saturating_sub(finish_start_ns) as f64 / 1e6,
        (end_ns - start_ns) as f64 / 1e6,
        bytes as f64 / 1e6,
    );
    Ok(RunMeasure {
        records: case.records,
        bytes,
        elapsed_ns: end_ns - start_ns,
        latency: None,
        producer_cpu_ns: producers.iter().map(|p| p.cpu_ns).sum(),
        consumer_cpu_ns: 0,
    })
}
