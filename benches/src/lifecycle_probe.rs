//! The measurements of `lifecycle` that run inside a probe process: a child
//! started with the private service's environment (`RINGLOG_SOCKET`,
//! `RINGLOG_DIR`, `RINGLOG_BIN`), so `ringlog::init` reaches that service or
//! auto-starts it. Each probe checks every finish report's counts before it
//! reports any time.

use std::os::unix::net::UnixStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ringlog::{InitOptions, KeyId, RuntimeDir};
use ringlog_ring::protocol::control_message::FinishReport;
use serde::{Deserialize, Serialize};

use crate::error::BenchResult;
use crate::lifecycle_cli::{ProbeArgs, ProbeKind};
use crate::outcome::emit_result;

/// Metrics per record of the concurrent runs (scalar8).
const METRICS: usize = 8;

/// What the warm probe measured, in nanoseconds per sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarmOutcome {
    /// `ringlog::init` + `run.key` + one `run.log` returning (record committed).
    pub init_to_first_record_ns: Vec<u64>,
    /// `run.finish(0)` of a run with nothing logged, right after init.
    pub finish_empty_ns: Vec<u64>,
}

/// What the cold probe measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColdOutcome {
    /// The `ringlog::init` that started the service, in nanoseconds.
    pub init_ns: u64,
}

/// What the concurrent probe measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcurrentOutcome {
    /// Runs started together.
    pub runs: u32,
    /// Runs whose finish report had exactly the expected counts.
    pub exact_runs: u32,
    /// Scalar8 records each run logged.
    pub records_per_run: u64,
    /// From the common start to the last finish report, in nanoseconds.
    pub total_ns: u64,
    /// Slowest init of any run, in nanoseconds.
    pub max_init_ns: u64,
    /// Slowest finish of any run, in nanoseconds.
    pub max_finish_ns: u64,
    /// What went wrong in the other runs (at most a few messages).
    pub errors: Vec<String>,
}

/// Runs the probe `args` asks for and writes its `RESULT` line.
///
/// # Errors
/// Client errors, or a finish report with unexpected counts.
pub fn run(args: &ProbeArgs) -> BenchResult<()> {
    match args.kind {
        ProbeKind::Warm => emit_result(&warm(args.count)?),
        ProbeKind::Cold => emit_result(&cold()?),
        ProbeKind::Concurrent => emit_result(&concurrent(args.count, args.records)?),
    }
}

fn options(name: &str) -> InitOptions {
    InitOptions { project: "ringlog-benches".into(), name: name.into(), ..Default::default() }
}

/// Checks a finish report: finished, `records` in the run log, nothing lost.
fn check(report: &FinishReport, records: u64) -> BenchResult<()> {
    if report.state != ringlog::RunEnd::Finished || report.records != records {
        return Err(format!(
            "run {}: finish report says {:?} with {} records, expected \"finished\" with {records}",
            report.run_id, report.state, report.records
        )
        .into());
    }
    if report.drops != 0 || report.timeouts != 0 || report.invalid_frames != 0 || report.abandoned_lanes != 0 {
        return Err(format!(
            "run {}: {} drops, {} timeouts, {} invalid frames, {} abandoned lanes",
            report.run_id, report.drops, report.timeouts, report.invalid_frames, report.abandoned_lanes
        )
        .into());
    }
    Ok(())
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Warm inits and empty-run finishes against a running service.
fn warm(count: u32) -> BenchResult<WarmOutcome> {
    // One untimed round first: page faults of this process's client code.
    let mut run = ringlog::init(options("lifecycle-warmup"))?;
    let k = run.key("train/loss")?;
    let _ = run.log(0, &[(k, 1.0)])?;
    check(&run.finish(0)?, 3)?;

    let mut init_to_first_record_ns = Vec::with_capacity(count as usize);
    for i in 0..count {
        let t0 = Instant::now();
        let mut run = ringlog::init(options("lifecycle-init"))?;
        let loss = run.key("train/loss")?;
        let _ = run.log(0, &[(loss, f64::from(i))])?;
        init_to_first_record_ns.push(nanos(t0.elapsed()));
        // Key definition, the record, and the finish's exit record.
        check(&run.finish(0)?, 3)?;
    }
    let mut finish_empty_ns = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let run = ringlog::init(options("lifecycle-empty"))?;
        let t0 = Instant::now();
        let report = run.finish(0)?;
        finish_empty_ns.push(nanos(t0.elapsed()));
        check(&report, 1)?; // the exit record only
    }
    Ok(WarmOutcome { init_to_first_record_ns, finish_empty_ns })
}

/// One init that must auto-start the service.
fn cold() -> BenchResult<ColdOutcome> {
    let socket = RuntimeDir::from_env().socket_path().to_path_buf();
    if UnixStream::connect(&socket).is_ok() {
        return Err(format!("a service already answers at {}: not a cold start", socket.display()).into());
    }
    let t0 = Instant::now();
    let run = ringlog::init(options("lifecycle-cold"))?;
    let init_ns = nanos(t0.elapsed());
    check(&run.finish(0)?, 1)?;
    Ok(ColdOutcome { init_ns })
}

/// One of the concurrent runs: init, 8 keys, `records` scalar8 records, finish.
/// Returns (init time, finish time).
fn one_run(index: u32, records: u64) -> BenchResult<(Duration, Duration)> {
    let t0 = Instant::now();
    let mut run = ringlog::init(options(&format!("lifecycle-concurrent-{index}")))?;
    let init = t0.elapsed();
    let mut keys = [KeyId(0); METRICS];
    for (i, k) in keys.iter_mut().enumerate() {
        *k = run.key(&format!("train/metric{i}"))?;
    }
    for step in 0..records {
        let value = step as f64 * 0.5;
        let items: [(KeyId, f64); METRICS] = std::array::from_fn(|i| (keys[i], value + i as f64));
        let _ = run.log(step as i64, &items)?;
    }
    let t1 = Instant::now();
    let report = run.finish(0)?;
    let finish = t1.elapsed();
    check(&report, records + METRICS as u64 + 1)?;
    Ok((init, finish))
}

/// `runs` threads, each with its own run, released together.
fn concurrent(runs: u32, records: u64) -> BenchResult<ConcurrentOutcome> {
    let barrier = Arc::new(Barrier::new(runs as usize + 1));
    let mut threads = Vec::with_capacity(runs as usize);
    for index in 0..runs {
        let barrier = Arc::clone(&barrier);
        let thread = std::thread::Builder::new().name(format!("run-{index}")).spawn(move || {
            barrier.wait();
            one_run(index, records).map_err(|e| e.to_string())
        })?;
        threads.push(thread);
    }
    barrier.wait();
    let start = Instant::now();
    let results: Vec<Result<(Duration, Duration), String>> =
        threads.into_iter().map(|t| t.join().unwrap_or_else(|_| Err("the run's thread panicked".into()))).collect();
    let total_ns = nanos(start.elapsed());
    let ok: Vec<(Duration, Duration)> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let errors: Vec<String> = results.iter().filter_map(|r| r.as_ref().err().cloned()).take(5).collect();
    Ok(ConcurrentOutcome {
        runs,
        exact_runs: ok.len() as u32,
        records_per_run: records,
        total_ns,
        max_init_ns: ok.iter().map(|(i, _)| nanos(*i)).max().unwrap_or(0),
        max_finish_ns: ok.iter().map(|(_, f)| nanos(*f)).max().unwrap_or(0),
        errors,
    })
}
