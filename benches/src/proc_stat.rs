//! CPU time and thread count of another process, from `/proc/<pid>/`.

use std::time::Duration;

use crate::error::BenchResult;

/// User plus system CPU time of every thread of process `pid` so far
/// (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks).
///
/// # Errors
/// If the process is gone or the file cannot be parsed.
///
/// # Examples
/// ```
/// let own = ringlog_benches::proc_stat::cpu_time(std::process::id())?;
/// assert!(own < std::time::Duration::from_secs(3600));
/// # Ok::<(), ringlog_benches::BenchError>(())
/// ```
pub fn cpu_time(pid: u32) -> BenchResult<Duration> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) is in parentheses and may contain spaces:
    // count fields from the last ')'. After it come field 3 (state) onwards.
    let rest = text.rsplit_once(')').map(|(_, r)| r).ok_or_else(|| format!("{path}: no ')'"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> BenchResult<u64> {
        let s = fields.get(n - 3).ok_or_else(|| format!("{path}: no field {n}"))?;
        Ok(s.parse::<u64>().map_err(|e| format!("{path}: field {n} {s:?}: {e}"))?)
    };
    let ticks = field(14)? + field(15)?;
    let per_s = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_s))
}

/// The resolution of [`cpu_time`]: one clock tick.
pub fn cpu_time_resolution() -> Duration {
    Duration::from_nanos(1_000_000_000 / rustix::param::clock_ticks_per_second().max(1))
}

/// Threads of process `pid` (`Threads:` in `/proc/<pid>/status`).
///
/// # Errors
/// If the process is gone or the line is missing.
pub fn threads(pid: u32) -> BenchResult<u32> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("{path}: no Threads line").into())
}
