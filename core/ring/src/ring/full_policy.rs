//! What a producer does when its lane has no room: the run's backpressure policy.

use std::time::Duration;

/// Default bound on a blocked producer's wait.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Backpressure policy of a run, stored in the segment header so every
/// producer of the run applies the same one.
///
/// # Examples
/// ```
/// use ringlog_ring::FullPolicy;
/// use std::time::Duration;
/// let p = FullPolicy::Block { timeout: Duration::from_millis(250) };
/// assert_eq!(FullPolicy::from_raw(p.kind_raw(), p.timeout_ms()), Some(p));
/// assert_eq!(FullPolicy::default(), FullPolicy::Block { timeout: Duration::from_secs(10) });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FullPolicy {
    /// Wait for space, spinning briefly and then sleeping on a futex, for at
    /// most `timeout`; then fail with `ProduceError::Timeout` (counted).
    Block {
        /// Upper bound on the wait.
        timeout: Duration,
    },
    /// Drop the record being written and count it in the lane's `drops`.
    DropNewest,
    /// Fail at once with `ProduceError::Full`.
    Error,
}

impl Default for FullPolicy {
    fn default() -> Self {
        Self::Block { timeout: DEFAULT_BLOCK_TIMEOUT }
    }
}

impl FullPolicy {
    /// Stored discriminant (1 block, 2 drop, 3 error).
    pub fn kind_raw(&self) -> u32 {
        match self {
            Self::Block { .. } => 1,
            Self::DropNewest => 2,
            Self::Error => 3,
        }
    }

    /// Stored timeout in milliseconds (0 unless `Block`), saturating.
    pub fn timeout_ms(&self) -> u32 {
        match self {
            Self::Block { timeout } => u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            _ => 0,
        }
    }

    /// Decodes a stored policy; `None` for an unknown discriminant.
    pub fn from_raw(kind: u32, timeout_ms: u32) -> Option<Self> {
        match kind {
            1 => Some(Self::Block { timeout: Duration::from_millis(u64::from(timeout_ms)) }),
            2 => Some(Self::DropNewest),
            3 => Some(Self::Error),
            _ => None,
        }
    }
}

/// The longest `Block` timeout a run may ask for: an hour. The stored
/// timeout is a u32 of milliseconds, and a trainer blocked longer than this
/// is stuck, not waiting.
pub const MAX_BLOCK_TIMEOUT: Duration = Duration::from_secs(3600);

impl std::str::FromStr for FullPolicy {
    type Err = String;

    /// Parses `block`, `block:<ms>` (0 to [`MAX_BLOCK_TIMEOUT`] in ms), `drop`
    /// or `error`.
    ///
    /// # Examples
    /// ```
    /// use ringlog_ring::FullPolicy;
    /// assert!("block:250".parse::<FullPolicy>().is_ok());
    /// let e = "block:18446744073709551615".parse::<FullPolicy>().unwrap_err();
    /// assert!(e.contains("at most"), "{e}");
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(ms) = s.strip_prefix("block:").and_then(|ms| ms.parse::<u64>().ok()) {
            let max = MAX_BLOCK_TIMEOUT.as_millis() as u64;
            if ms > max {
                return Err(format!(
                    "block timeout {ms} ms is out of range: use 1 to {max} ms (at most one hour; \
                     use the error or drop policy to never wait)"
                ));
            }
        }
        match s {
            "block" => Ok(Self::default()),
            "drop" => Ok(Self::DropNewest),
            "error" => Ok(Self::Error),
            _ => s
                .strip_prefix("block:")
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(|ms| Self::Block { timeout: Duration::from_millis(ms) })
                .ok_or_else(|| format!("unknown full-lane policy {s:?}: use block, block:<ms>, drop or error")),
        }
    }
}
