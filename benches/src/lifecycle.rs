//! Runs the `lifecycle` measurements against one private service instance
//! ([`ServiceEnv`]), in this order:
//!
//! 1. **Cold auto-start.** With no service running, a probe process times the
//!    `ringlog::init` that starts it (exec of `ringlog serve --daemon`,
//!    readiness pipe, connect, init). `ringlog shutdown` then stops it and
//!    waits for its exit before the next sample.
//! 2. **Idle CPU.** A foreground `ringlog serve` sits with no runs and no
//!    clients; its utime+stime from `/proc/<pid>/stat` is read before and
//!    after the window.
//! 3. **Warm init and empty finish.** A probe process against that service
//!    times `init` + `key` + one `log` (the record committed to the lane),
//!    then `finish(0)` right after `init`.
//! 4. **Concurrent runs.** A probe process starts 64 threads that each init a
//!    run, log 10k scalar8 records and finish, released together.
//! 5. **Idle CPU after runs**, the same window again once every run is done.
//!
//! Probe processes report one `RESULT` line; every wait is bounded.

use std::process::Command;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::error::BenchResult;
use crate::lifecycle_cli::LifecycleArgs;
use crate::lifecycle_probe::{ColdOutcome, ConcurrentOutcome, WarmOutcome};
use crate::lifecycle_report::{LifecycleRow, Target};
use crate::outcome::RESULT_PREFIX;
use crate::proc_stat;
use crate::service_env::{ServiceEnv, ringlog_bin, run_bounded};

/// Brief target: init to first record.
pub const INIT_TARGET_MS: f64 = 5.0;
/// Brief target: cold auto-start.
pub const COLD_START_TARGET_MS: f64 = 100.0;
/// Brief target: finishing an empty run.
pub const FINISH_TARGET_MS: f64 = 20.0;
/// Brief target: idle service CPU.
pub const IDLE_CPU_TARGET_PERCENT: f64 = 1.0;
/// Idle timeout of the foreground service: longer than every measurement,
/// short enough that a service left behind by a killed benchmark goes away.
const FOREGROUND_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// A warm sample this slow is reported by value: the service's idle wait is
/// 250 ms, so a missed wakeup shows up as a sample of about that.
const OUTLIER_MS: f64 = 100.0;
/// Bound on a probe process, beyond its own work.
const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs every measurement and returns the rows. Progress goes to stderr.
///
/// # Errors
/// The `ringlog` binary missing, a probe failing, or the service misbehaving.
pub fn run(args: &LifecycleArgs) -> BenchResult<Vec<LifecycleRow>> {
    let mut env = ServiceEnv::create("lifecycle", ringlog_bin()?)?;
    let rows = measure_all(args, &mut env)?;
    env.stop()?;
    Ok(rows)
}

fn measure_all(args: &LifecycleArgs, env: &mut ServiceEnv) -> BenchResult<Vec<LifecycleRow>> {
    let mut rows = Vec::new();
    rows.push(cold_starts(env, args.cold_starts())?);

    let pid = env.start_foreground(FOREGROUND_IDLE_TIMEOUT)?;
    let idle = Duration::from_secs(args.idle_seconds());
    rows.push(idle_cpu(pid, idle, "idle_cpu", "fresh service, no runs ever")?);

    eprintln!("lifecycle: {} warm inits and {} empty finishes", args.inits(), args.inits());
    let warm: WarmOutcome = probe(env, &["--kind", "warm", "--count", &args.inits().to_string()])?;
    let inits = millis(&warm.init_to_first_record_ns);
    rows.push(LifecycleRow::from_samples(
        "init_to_first_record",
        "ms",
        &inits,
        Some(Target::AtMost(INIT_TARGET_MS)),
        &format!(
            "ringlog::init + run.key + 1 run.log against a warm service (record committed to the lane); {}",
            outliers(&inits)
        ),
    ));
    let finishes = millis(&warm.finish_empty_ns);
    rows.push(LifecycleRow::from_samples(
        "finish_empty_run",
        "ms",
        &finishes,
        Some(Target::AtMost(FINISH_TARGET_MS)),
        &format!(
            "run.finish(0) right after init: drain, fsync, summary.json, run.json, answer; {}",
            outliers(&finishes)
        ),
    ));

    eprintln!("lifecycle: {} concurrent runs x {} scalar8 records", args.runs, args.records);
    let c: ConcurrentOutcome = probe(
        env,
        &["--kind", "concurrent", "--count", &args.runs.to_string(), "--records", &args.records.to_string()],
    )?;
    rows.extend(concurrent_rows(&c));

    rows.push(idle_cpu(pid, idle, "idle_cpu_after_runs", "same service once every run had finished")?);
    Ok(rows)
}

/// Samples (in ms) at or above [`OUTLIER_MS`], which the median hides.
fn outliers(ms: &[f64]) -> String {
    let slow: Vec<String> = ms.iter().filter(|&&m| m >= OUTLIER_MS).map(|m| format!("{m:.0}")).collect();
    format!("{} of {} samples >= {OUTLIER_MS:.0} ms [{}]", slow.len(), ms.len(), slow.join(", "))
}

fn millis(ns: &[u64]) -> Vec<f64> {
    ns.iter().map(|&n| n as f64 / 1e6).collect()
}

/// Runs `lifecycle probe ARGS` with the service environment and parses its result.
fn probe<T: DeserializeOwned>(env: &ServiceEnv, args: &[&str]) -> BenchResult<T> {
    let mut command = Command::new(std::env::current_exe()?);
    env.apply(&mut command).arg("probe").args(args);
    let out = run_bounded(&mut command, PROBE_TIMEOUT)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout.lines().find_map(|l| l.strip_prefix(RESULT_PREFIX));
    match (out.status.success(), result) {
        (true, Some(json)) => Ok(serde_json::from_str(json)?),
        _ => Err(format!(
            "probe {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into()),
    }
}

/// `count` cold auto-starts, each followed by a shutdown that waits for the exit.
fn cold_starts(env: &mut ServiceEnv, count: u32) -> BenchResult<LifecycleRow> {
    eprintln!("lifecycle: {count} cold auto-starts");
    env.shutdown()?;
    let mut samples = Vec::with_capacity(count as usize);
    let mut shutdowns = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let c: ColdOutcome = probe(env, &["--kind", "cold"])?;
        samples.push(c.init_ns as f64 / 1e6);
        let t0 = Instant::now();
        env.shutdown()?;
        shutdowns.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok(LifecycleRow::from_samples(
        "cold_autostart",
        "ms",
        &samples,
        Some(Target::AtMost(COLD_START_TARGET_MS)),
        &format!(
            "first ringlog::init with no service (auto-start from RINGLOG_BIN); `ringlog shutdown` until exit took \
             median {:.0} ms",
            crate::report::median(&shutdowns)
        ),
    ))
}

/// CPU use of process `pid` over `window`, in percent of one CPU.
fn idle_cpu(pid: u32, window: Duration, measure: &str, what: &str) -> BenchResult<LifecycleRow> {
    eprintln!("lifecycle: {measure}: {} s", window.as_secs());
    let threads_before = proc_stat::threads(pid)?;
    let before = proc_stat::cpu_time(pid)?;
    let t0 = Instant::now();
    std::thread::sleep(window);
    let after = proc_stat::cpu_time(pid)?;
    let wall = t0.elapsed();
    let threads_after = proc_stat::threads(pid)?;
    let used = after.saturating_sub(before);
    let percent = 100.0 * used.as_secs_f64() / wall.as_secs_f64();
    Ok(LifecycleRow::from_samples(
        measure,
        "%",
        &[percent],
        Some(Target::Below(IDLE_CPU_TARGET_PERCENT)),
        &format!(
            "{what}: {:.0} ms CPU in {:.1} s (utime+stime, {} ms ticks); service threads {threads_before} -> \
             {threads_after}",
            used.as_secs_f64() * 1e3,
            wall.as_secs_f64(),
            proc_stat::cpu_time_resolution().as_millis()
        ),
    ))
}

fn concurrent_rows(c: &ConcurrentOutcome) -> [LifecycleRow; 2] {
    let total_s = c.total_ns as f64 / 1e9;
    let records = c.records_per_run * u64::from(c.exact_runs);
    let all_exact = c.exact_runs == c.runs;
    let errors = if c.errors.is_empty() { String::new() } else { format!("; errors: {}", c.errors.join(" | ")) };
    let mut total = LifecycleRow::from_samples(
        &format!("concurrent_{}_runs_total", c.runs),
        "s",
        &[total_s],
        Some(Target::AllExact),
        &format!(
            "{} of {} runs finished with exact counts; slowest init {:.1} ms, slowest finish {:.1} ms{errors}",
            c.exact_runs,
            c.runs,
            c.max_init_ns as f64 / 1e6,
            c.max_finish_ns as f64 / 1e6
        ),
    );
    total.met = Some(all_exact);
    let rate = LifecycleRow::from_samples(
        &format!("concurrent_{}_runs_rate", c.runs),
        "records/s",
        &[records as f64 / total_s.max(1e-9)],
        None,
        &format!("{} scalar8 records each, init to last finish report, threads in one process", c.records_per_run),
    );
    [total, rate]
}
