//! The cache-line round trip between the producer's and the consumer's CPUs:
//! two threads, pinned to the two CPUs, pass one counter back and forth.
//!
//! On a VM the host places the two vCPUs, and the placement changes while the
//! machine runs: the development VM measured 65-75, 130-160 and 540-600 ns
//! within one session, and every transport's throughput followed (ADR 34).
//! `compare` probes before each run and reports the median per row, so two
//! rows are compared at the same placement, or the difference is seen.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::pin::pin_to_cpu;

/// Round trips per probe: ~15-60 ms at the placements above.
pub const TRIPS: u64 = 100_000;
/// A side that waits this long for the other gives up (the probe reports nothing).
const GIVE_UP: Duration = Duration::from_secs(2);

/// One counter on a cache line of its own (and not on the adjacent line,
/// which the spatial prefetcher pairs with it).
#[repr(align(128))]
struct Line(AtomicU64);

/// Marks a side that gave up (never a trip number).
const GAVE_UP: u64 = u64::MAX;

/// Waits until `line` holds `value`; `false` if the other side gave up, or after [`GIVE_UP`].
fn wait_for(line: &Line, value: u64) -> bool {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        // Acquire: pairs with the other side's Release store of `value`.
        match line.0.load(Ordering::Acquire) {
            v if v == value => return true,
            GAVE_UP => return false,
            _ => {}
        }
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1 << 16) && start.elapsed() > GIVE_UP {
            return false;
        }
    }
}

/// Mean round trip in nanoseconds of `trips` exchanges between a thread on
/// CPU `a` and one on CPU `b`; `None` if either cannot be pinned there or a
/// side waited more than 2 s (the other was descheduled: the machine is busy).
///
/// # Examples
/// ```
/// let cpus = std::thread::available_parallelism().map_or(1, usize::from);
/// if cpus >= 2 {
///     if let Some(ns) = ringlog_benches::cpu_pair::round_trip_ns(0, 1, 1000) {
///         assert!(ns > 0.0);
///     }
/// }
/// ```
pub fn round_trip_ns(a: usize, b: usize, trips: u64) -> Option<f64> {
    let (ping, pong) = (Line(AtomicU64::new(0)), Line(AtomicU64::new(0)));
    // Both sides on threads of their own: pinning the caller would confine
    // everything it starts later.
    std::thread::scope(|s| {
        let echo = s.spawn(|| {
            if !pin_to_cpu(b) {
                // Release (as below): tells the timing side to stop.
                pong.0.store(GAVE_UP, Ordering::Release);
                return false;
            }
            (1..=trips).all(|i| {
                let ok = wait_for(&ping, i);
                // Release: pairs with the Acquire in the timing side's wait.
                pong.0.store(if ok { i } else { GAVE_UP }, Ordering::Release);
                ok
            })
        });
        let timed = s.spawn(|| {
            if !pin_to_cpu(a) {
                ping.0.store(GAVE_UP, Ordering::Release);
                return None;
            }
            let start = Instant::now();
            for i in 1..=trips {
                // Release: pairs with the Acquire in the echo side's wait.
                ping.0.store(i, Ordering::Release);
                if !wait_for(&pong, i) {
                    ping.0.store(GAVE_UP, Ordering::Release);
                    return None;
                }
            }
            Some(start.elapsed().as_nanos() as f64 / trips as f64)
        });
        let timed = timed.join().ok().flatten();
        let echoed = echo.join().unwrap_or(false);
        timed.filter(|_| echoed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CPU that cannot be pinned gives no figure, at once rather than
    /// after the 2 s bound (fails if a side that gives up does not say so).
    #[test]
    fn an_unpinnable_cpu_gives_no_figure_at_once() {
        let start = Instant::now();
        assert_eq!(round_trip_ns(0, usize::MAX, 10), None);
        assert_eq!(round_trip_ns(usize::MAX, 0, 10), None);
        assert!(start.elapsed() < GIVE_UP, "{:?}", start.elapsed());
    }

    /// Two CPUs the process may use give a positive round trip.
    #[test]
    fn two_allowed_cpus_give_a_round_trip() {
        let allowed: Vec<usize> = (0..64).filter(|&c| crate::pin::may_run_on(c)).take(2).collect();
        if let [a, b] = allowed[..] {
            let ns = round_trip_ns(a, b, 1000).expect("both sides pinned and answered");
            assert!(ns > 0.0 && ns.is_finite(), "{ns}");
        }
    }
}
