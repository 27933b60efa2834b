//! Pins the calling thread to one CPU, so producer and consumer never share a core.

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// CPU the producer runs on.
pub const PRODUCER_CPU: usize = 0;
/// CPU the consumer runs on.
pub const CONSUMER_CPU: usize = 1;

/// Pins the calling thread (and threads it starts later) to `cpu`.
///
/// Returns whether pinning took effect. It fails on a machine with fewer CPUs
/// or in a cgroup that excludes `cpu`; the benchmark then runs unpinned and
/// says so on stderr instead of failing.
///
/// # Examples
/// ```
/// // Either outcome is fine; the call never panics.
/// let _pinned = ringlog_benches::pin::pin_to_cpu(0);
/// ```
pub fn pin_to_cpu(cpu: usize) -> bool {
    if cpu >= CpuSet::MAX_CPU {
        eprintln!("compare: cannot pin to cpu {cpu}: beyond CPU_SETSIZE; running unpinned");
        return false;
    }
    let mut set = CpuSet::new();
    set.set(cpu);
    match sched_setaffinity(None, &set) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("compare: cannot pin to cpu {cpu} ({e}); running unpinned");
            false
        }
    }
}

/// Whether this process may run on `cpu` (its affinity and cgroup allow it).
///
/// # Examples
/// ```
/// let _ = ringlog_benches::pin::may_run_on(0);
/// ```
pub fn may_run_on(cpu: usize) -> bool {
    cpu < CpuSet::MAX_CPU && sched_getaffinity(None).is_ok_and(|set| set.is_set(cpu))
}
