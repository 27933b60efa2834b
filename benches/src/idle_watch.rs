//! A bound on how long a role may see no progress before giving up.

use std::time::{Duration, Instant};

use crate::error::BenchResult;

/// How long a producer or consumer waits without progress before failing.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Fails a wait loop that has seen no progress for a while.
///
/// Reading the clock costs tens of nanoseconds, so a spinning caller reads it
/// only every `check_every` idle polls; a caller whose polls block for a while
/// (a futex wait, a socket read with a timeout) checks every poll.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use ringlog_benches::idle_watch::IdleWatch;
/// let mut watch = IdleWatch::new(Duration::from_secs(5), "test", 1);
/// assert!(watch.idle().is_ok());
/// watch.progress();
/// assert!(watch.idle().is_ok());
/// ```
#[derive(Debug)]
pub struct IdleWatch {
    /// When the current run of idle polls began (valid while `idle_polls > 0`).
    idle_since: Instant,
    limit: Duration,
    what: &'static str,
    /// Idle polls since the last progress; 0 means "making progress".
    idle_polls: u32,
    check_every: u32,
}

impl IdleWatch {
    /// Idle polls between two clock reads for spinning callers.
    pub const SPIN_CHECK_EVERY: u32 = 1024;

    /// Starts watching; `what` names the wait in the error message.
    pub fn new(limit: Duration, what: &'static str, check_every: u32) -> Self {
        Self { idle_since: Instant::now(), limit, what, idle_polls: 0, check_every: check_every.max(1) }
    }

    /// A watch for a loop that spins between polls, with [`IDLE_TIMEOUT`].
    pub fn spinning(what: &'static str) -> Self {
        Self::new(IDLE_TIMEOUT, what, Self::SPIN_CHECK_EVERY)
    }

    /// A watch for a loop whose polls block for a while, with [`IDLE_TIMEOUT`].
    pub fn blocking(what: &'static str) -> Self {
        Self::new(IDLE_TIMEOUT, what, 1)
    }

    /// Records progress: the next idle poll starts a new idle period.
    #[inline]
    pub fn progress(&mut self) {
        self.idle_polls = 0;
    }

    /// Records one idle poll.
    ///
    /// # Errors
    /// When nothing progressed for longer than the limit.
    #[inline]
    pub fn idle(&mut self) -> BenchResult<()> {
        if self.idle_polls == 0 {
            self.idle_since = Instant::now();
        }
        self.idle_polls = self.idle_polls.wrapping_add(1);
        if self.idle_polls.is_multiple_of(self.check_every) && self.idle_since.elapsed() > self.limit {
            return Err(format!("{}: no progress for {:?}, giving up", self.what, self.limit).into());
        }
        Ok(())
    }
}
