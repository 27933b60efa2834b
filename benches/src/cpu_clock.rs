//! CPU time of the calling thread, for the per-record CPU figures.

use rustix::time::{ClockId, clock_gettime};

/// CPU time the calling thread has used so far, in nanoseconds
/// (`CLOCK_THREAD_CPUTIME_ID`: user plus system, this thread only).
///
/// Every side of a benchmark run is one thread doing only that side's work,
/// so the difference of two readings is that side's CPU cost.
///
/// # Examples
/// ```
/// let a = ringlog_benches::cpu_clock::thread_cpu_ns();
/// let mut x = 0u64;
/// for i in 0..100_000u64 { x = x.wrapping_add(std::hint::black_box(i)); }
/// assert!(ringlog_benches::cpu_clock::thread_cpu_ns() >= a);
/// # let _ = x;
/// ```
pub fn thread_cpu_ns() -> u64 {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64)
}
