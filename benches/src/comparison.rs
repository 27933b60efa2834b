//! Runs a [`Plan`]: every case, several runs each, one row per case.

use crate::error::BenchResult;
use crate::pair_run::run_pair;
use crate::plan::Plan;
use crate::report::Row;

/// Runs every case of `plan` and returns one row per case. Progress goes to stderr.
///
/// # Errors
/// The first failed run (its processes are killed and its endpoint removed).
pub fn run(plan: &Plan, pin: bool) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::with_capacity(plan.cases.len());
    for (i, case) in plan.cases.iter().enumerate() {
        let load = load_average();
        let mut runs = Vec::with_capacity(plan.runs as usize);
        for run in 0..plan.runs {
            let m = run_pair(case, pin).map_err(|e| {
                format!(
                    "{} {} {} run {}: {e}",
                    case.transport.as_str(),
                    case.record.as_str(),
                    case.mode.as_str(),
                    run + 1
                )
            })?;
            eprintln!(
                "[{}/{}] {:<12} {:<7} {:<10} run {}/{}: {:8.3} M records/s{}",
                i + 1,
                plan.cases.len(),
                case.transport.as_str(),
                case.record.as_str(),
                case.mode.as_str(),
                run + 1,
                plan.runs,
                m.records_per_s() / 1e6,
                m.latency.map_or_else(String::new, |l| format!(", p50 {} ns, p99 {} ns", l.p50_ns, l.p99_ns)),
            );
            runs.push(m);
        }
        rows.push(Row::from_runs(case, &runs, pin, load));
    }
    Ok(rows)
}

/// The 1-minute load average from `/proc/loadavg`, if readable.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// Whether pinning producer and consumer to CPUs 0 and 1 makes sense here.
pub fn can_pin(requested: bool) -> bool {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if requested && cpus < 2 {
        eprintln!("compare: only {cpus} CPU available; running unpinned");
    }
    requested && cpus >= 2
}
