//! `--every`, `--max-rows` and `--agg`: how history is downsampled, defined once for every
//! export format (JSONL, CSV and W&B).
//!
//! Downsampling itself is [`ringlog_wandb::Downsampler`]: windows of `every` steps aligned to
//! the first exported step, one row per window holding each key's last value and, with
//! `agg`, `key/min`, `key/mean` and `key/max` for numeric keys. It runs on rows already
//! merged across lanes step by step ([`MergedHistory`](crate::export::merged_history::MergedHistory)),
//! so every format gets the same rows.

/// How to downsample history rows. The default keeps every row.
///
/// # Examples
/// ```
/// use ringlog_service::Sampling;
/// assert!(!Sampling::default().is_active());
/// let s = Sampling { max_rows: Some(1000), ..Default::default() };
/// assert!(s.is_active() && s.needs_step_range());
/// assert_eq!(s.every_for(0, 999_999), 1000);
/// assert_eq!(Sampling { every: Some(10), ..Default::default() }.every_for(0, 99), 10);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sampling {
    /// One row per this many steps (`--every`); 0 is treated as 1.
    pub every: Option<u64>,
    /// At most this many rows (`--max-rows`): `every` is chosen from the run's step range.
    /// With both set, the wider window wins, so both limits hold.
    pub max_rows: Option<u64>,
    /// Add `key/min`, `key/mean` and `key/max` for numeric keys (`--agg`).
    pub agg: bool,
}

impl Sampling {
    /// Whether rows are merged across lanes and downsampled at all. Without any of the three
    /// options, JSONL and CSV keep their one-line-per-record output with `_lane`.
    ///
    /// # Examples
    /// ```
    /// assert!(ringlog_service::Sampling { agg: true, ..Default::default() }.is_active());
    /// ```
    pub fn is_active(&self) -> bool {
        self.every.is_some() || self.max_rows.is_some() || self.agg
    }

    /// Whether the window width depends on the run's first and last step (a pre-pass over the
    /// log finds them).
    ///
    /// # Examples
    /// ```
    /// assert!(!ringlog_service::Sampling { every: Some(5), ..Default::default() }.needs_step_range());
    /// ```
    pub fn needs_step_range(&self) -> bool {
        self.max_rows.is_some()
    }

    /// The window width in steps for a run whose history spans `first_step..=last_step`.
    ///
    /// # Examples
    /// ```
    /// let s = ringlog_service::Sampling { every: Some(50), max_rows: Some(10), agg: false };
    /// assert_eq!(s.every_for(0, 99), 50); // max_rows alone would give 10
    /// assert_eq!(s.every_for(0, 9999), 1000);
    /// ```
    pub fn every_for(&self, first_step: i64, last_step: i64) -> u64 {
        let every = self.every.unwrap_or(1).max(1);
        match self.max_rows {
            Some(max) => every.max(ringlog_wandb::every_for_max_rows(first_step, last_step, max)),
            None => every,
        }
    }
}
