//! Paces a latency run: one record every fixed interval, by spinning.

use ringlog_ring::clock::monotonic_ns;

/// Spins until the next send time on the monotonic clock.
///
/// A sender that falls behind (preempted, or slower than the interval) does
/// not burst to catch up: the schedule restarts from now, so a late record is
/// never followed by a queue of back-to-back ones that would measure queueing
/// instead of transport latency.
///
/// # Examples
/// ```
/// let start = ringlog_ring::clock::monotonic_ns();
/// let mut pacer = ringlog_benches::pacer::Pacer::new(1_000);
/// let sent: Vec<u64> = (0..3).map(|_| pacer.wait()).collect();
/// assert!(sent[2] >= start + 2_000); // never ahead of the schedule
/// ```
#[derive(Debug)]
pub struct Pacer {
    next: u64,
    interval_ns: u64,
}

impl Pacer {
    /// A pacer whose first send time is now.
    pub fn new(interval_ns: u64) -> Self {
        Self { next: monotonic_ns(), interval_ns }
    }

    /// Waits for the next send time; returns the monotonic time it returned at.
    #[inline]
    pub fn wait(&mut self) -> u64 {
        let mut now = monotonic_ns();
        while now < self.next {
            std::hint::spin_loop();
            now = monotonic_ns();
        }
        let base = if now > self.next + self.interval_ns { now } else { self.next };
        self.next = base + self.interval_ns;
        now
    }
}
