//! Rate-limited log lines: a producer that writes garbage, or a flood of
//! failing clients, must not fill `service.log`.

use std::time::{Duration, Instant};

/// Allows `burst` lines per `window`, counting the rest.
///
/// # Examples
/// ```
/// use ringlog_service::service::log_limit::LogLimit;
/// let mut limit = LogLimit::new(2, std::time::Duration::from_secs(60));
/// assert_eq!(limit.allow(), Some(0));
/// assert_eq!(limit.allow(), Some(0));
/// assert_eq!(limit.allow(), None); // suppressed, and counted
/// assert_eq!(limit.suppressed_total(), 1);
/// ```
#[derive(Debug)]
pub struct LogLimit {
    burst: u32,
    window: Duration,
    window_start: Option<Instant>,
    in_window: u32,
    /// Suppressed since the last allowed line.
    pending: u64,
    total_suppressed: u64,
}

impl Default for LogLimit {
    fn default() -> Self {
        Self::new(10, Duration::from_secs(60))
    }
}

impl LogLimit {
    /// `burst` lines per `window`.
    pub fn new(burst: u32, window: Duration) -> Self {
        Self { burst, window, window_start: None, in_window: 0, pending: 0, total_suppressed: 0 }
    }

    /// `Some(n)` if a line may be written now, where `n` lines were
    /// suppressed since the last one (say so in the line); `None` if this
    /// one is suppressed (and counted).
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.window_start {
            Some(start) if now.duration_since(start) < self.window => {}
            _ => {
                self.window_start = Some(now);
                self.in_window = 0;
            }
        }
        if self.in_window < self.burst {
            self.in_window += 1;
            Some(std::mem::take(&mut self.pending))
        } else {
            self.pending += 1;
            self.total_suppressed += 1;
            None
        }
    }

    /// Lines suppressed so far.
    pub fn suppressed_total(&self) -> u64 {
        self.total_suppressed
    }
}
