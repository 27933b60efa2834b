//! The cheap clock that stamps every record.
//!
//! `CLOCK_REALTIME_COARSE` read through the vDSO costs about 10 ns on the
//! development VM (measured; the precise `CLOCK_REALTIME` costs ~24 ns, `rdtsc`
//! ~9 ns before any conversion) and has the kernel tick's resolution, 1-4 ms: enough to place a training step in wall-clock time, and
//! it is wall-clock time that W&B's `_timestamp` wants. Latency benchmarks use
//! `CLOCK_MONOTONIC` separately.

/// Unix time in nanoseconds from the coarse real-time clock.
///
/// # Examples
/// ```
/// let t = ringlog_ring::clock::now_unix_ns();
/// assert!(t > 1_600_000_000_000_000_000);
/// ```
#[inline]
pub fn now_unix_ns() -> u64 {
    #[cfg(not(miri))]
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    #[cfg(miri)]
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// Monotonic nanoseconds (precise clock), for latency measurements.
///
/// # Examples
/// ```
/// let a = ringlog_ring::clock::monotonic_ns();
/// assert!(ringlog_ring::clock::monotonic_ns() >= a);
/// ```
#[inline]
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}
