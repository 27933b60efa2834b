//! Runs a [`Plan`]: every case, several runs each, one row per case.

use crate::cpu_pair;
use crate::e2e_run::run_e2e;
use crate::error::BenchResult;
use crate::pair_run::run_pair;
use crate::pin::{CONSUMER_CPU, PRODUCER_CPU};
use crate::plan::Plan;
use crate::report::Row;

/// Runs every case of `plan` and returns one row per case. Progress goes to stderr.
///
/// # Errors
/// The `ringlog` binary missing when the plan has `ringlog-e2e` cases
/// (checked before anything runs), or the first failed run (its processes
/// are killed and its endpoint or private service removed).
pub fn run(plan: &Plan, pin: bool) -> BenchResult<Vec<Row>> {
    let needs_service = plan.cases.iter().any(|c| c.transport.end_to_end());
    let ringlog_bin = if needs_service { Some(crate::service_env::ringlog_bin()?) } else { None };
    let mut rows = Vec::with_capacity(plan.cases.len());
    for (i, case) in plan.cases.iter().enumerate() {
        let load = load_average();
        let mut runs = Vec::with_capacity(plan.runs as usize);
        let mut rtts = Vec::with_capacity(plan.runs as usize);
        for run in 0..plan.runs {
            let rtt = if pin { cpu_pair::round_trip_ns(PRODUCER_CPU, CONSUMER_CPU, cpu_pair::TRIPS) } else { None };
            rtts.extend(rtt);
            let measured = match (&ringlog_bin, case.transport) {
                (Some(bin), t) if t.end_to_end() => run_e2e(case, pin, bin),
                _ => run_pair(case, pin),
            };
            let m = measured.map_err(|e| {
                format!(
                    "{} {} {} {}p run {}: {e}",
                    case.transport.as_str(),
                    case.record.as_str(),
                    case.mode.as_str(),
                    case.producers,
                    run + 1
                )
            })?;
            eprintln!(
                "[{}/{}] {:<12} {:<7} {:<10} {}p run {}/{}: {:8.3} M records/s{}{}",
                i + 1,
                plan.cases.len(),
                case.transport.as_str(),
                case.record.as_str(),
                case.mode.as_str(),
                case.producers,
                run + 1,
                plan.runs,
                m.records_per_s() / 1e6,
                m.latency.as_ref().map_or_else(String::new, |l| format!(", p50 {} ns, p99 {} ns", l.p50_ns, l.p99_ns)),
                rtt.map_or_else(String::new, |ns| format!(" (cpu pair round trip {ns:.0} ns)")),
            );
            runs.push(m);
        }
        let mut row = Row::from_runs(case, &runs, pin, load);
        row.cpu_pair_rtt_ns = (!rtts.is_empty()).then(|| crate::report::median(&rtts));
        rows.push(row);
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
