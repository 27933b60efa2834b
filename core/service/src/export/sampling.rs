//! `--every`, `--max-rows` and `--agg`: how history is downsampled, and `--keys` and
//! `--steps`: which of it is read; defined once for every export format (JSONL, CSV,
//! Parquet and W&B) and for `tail`.
//!
//! Downsampling itself is [`ringlog_wandb::Downsampler`]: windows of `every` steps aligned to
//! the first exported step, one row per window holding each key's last value and, with
//! `agg`, `key/min`, `key/mean` and `key/max` for numeric keys. It runs on rows already
//! merged across lanes step by step ([`MergedHistory`](crate::export::merged_history::MergedHistory)),
//! so every format gets the same rows.

/// How to downsample history rows, and which keys and steps to keep. The default keeps
/// every row and key.
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sampling {
    /// One row per this many steps (`--every`); 0 is treated as 1.
    pub every: Option<u64>,
    /// At most this many rows (`--max-rows`): `every` is chosen from the run's step range.
    /// With both set, the wider window wins, so both limits hold.
    pub max_rows: Option<u64>,
    /// Add `key/min`, `key/mean` and `key/max` for numeric keys (`--agg`).
    pub agg: bool,
    /// Only these keys (`--keys k1,k2`): exact names, or prefixes written `train/*`.
    /// History rows left with no key are dropped, and so are output lines.
    pub keys: Option<Vec<String>>,
    /// Only history rows with `start <= step < end` (`--steps START..END`); output
    /// lines (which have no step) are dropped. On a version-2 run log the sparse index
    /// lets the reader skip the parts of the log outside the range.
    pub steps: Option<(i64, i64)>,
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

    /// Whether the key `name` is kept.
    ///
    /// # Examples
    /// ```
    /// let s = ringlog_service::Sampling { keys: Some(vec!["loss".into(), "train/*".into()]), ..Default::default() };
    /// assert!(s.keeps_key("loss") && s.keeps_key("train/acc"));
    /// assert!(!s.keeps_key("lossy") && !s.keeps_key("val/acc"));
    /// assert!(ringlog_service::Sampling::default().keeps_key("anything"));
    /// ```
    pub fn keeps_key(&self, name: &str) -> bool {
        self.keys.as_ref().is_none_or(|keys| {
            keys.iter().any(|k| match k.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => k == name,
            })
        })
    }

    /// Whether a history row at `step` is kept.
    ///
    /// # Examples
    /// ```
    /// let s = ringlog_service::Sampling { steps: Some((10, 20)), ..Default::default() };
    /// assert!(s.keeps_step(10) && s.keeps_step(19) && !s.keeps_step(20) && !s.keeps_step(9));
    /// ```
    pub fn keeps_step(&self, step: i64) -> bool {
        self.steps.is_none_or(|(start, end)| step >= start && step < end)
    }

    /// Whether a key or step filter is set (output lines are then left out).
    ///
    /// # Examples
    /// ```
    /// assert!(!ringlog_service::Sampling::default().selects());
    /// ```
    pub fn selects(&self) -> bool {
        self.keys.is_some() || self.steps.is_some()
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
    /// let s = ringlog_service::Sampling { every: Some(50), max_rows: Some(10), ..Default::default() };
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
