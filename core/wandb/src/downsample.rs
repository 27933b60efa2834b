//! Downsampling of metric rows into one row per window of steps, shared by every export format.
//!
//! Nothing here knows about W&B: rows are `(step, [(key, value)])` with any value type that
//! says whether it is a number ([`Numeric`]).
//!
//! # What a downsampled row holds
//!
//! Windows are `every` steps wide and aligned to the first step pushed: window `w` holds the
//! steps `first + w * every ..= first + (w + 1) * every - 1`. Each window that saw at least one
//! row becomes one output row whose step is the last step seen in the window and which holds,
//! for each key seen in the window (in first-seen order):
//!
//! - `key`: the key's last value in the window, unchanged (so integers, strings and histograms
//!   pass through);
//! - with aggregates on, and only for keys whose values in the window were numbers:
//!   `key/min`, `key/mean` and `key/max` over the window's values of that key, as floats. A NaN
//!   in the window makes all three NaN, so a diverging run is not hidden by downsampling.
//!
//! With [`every_for_max_rows`] choosing `every`, a run of steps `first..=last` yields at most
//! `max_rows` rows.

use std::collections::HashMap;

/// A value that may be a number, so that windows can aggregate it.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::Numeric;
/// assert_eq!(2.5f64.as_f64(), Some(2.5));
/// assert_eq!(<f64 as Numeric>::from_f64(1.0), 1.0);
/// ```
pub trait Numeric: Clone {
    /// The value as a float, or `None` when it is not a number (strings, arrays, ...).
    fn as_f64(&self) -> Option<f64>;
    /// A value holding the float `v` (used for `min`, `mean` and `max`).
    fn from_f64(v: f64) -> Self;
}

impl Numeric for f64 {
    fn as_f64(&self) -> Option<f64> {
        Some(*self)
    }

    fn from_f64(v: f64) -> Self {
        v
    }
}

/// Rows reached the downsampler or merger out of step order.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::Downsampler;
/// let mut d = Downsampler::<f64>::new(10, false);
/// d.push(5, &[("x", 1.0)]).unwrap();
/// let err = d.push(4, &[("x", 1.0)]).unwrap_err();
/// assert_eq!((err.step, err.previous), (4, 5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "row for step {step} arrived after step {previous}: rows must come in step order; \
     sort each lane's rows by step and merge lanes step by step before downsampling"
)]
pub struct StepOrderError {
    /// The step of the rejected row.
    pub step: i64,
    /// The step of the row before it.
    pub previous: i64,
}

/// One output row: a step and its values.
///
/// # Examples
///
/// ```
/// let row = ringlog_wandb::Row { step: 3, items: vec![("loss".to_string(), 0.5f64)] };
/// assert_eq!(row.items[0].0, "loss");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row<V> {
    /// The row's step.
    pub step: i64,
    /// Keys and values, in first-seen order.
    pub items: Vec<(String, V)>,
}

/// The `every` that turns the steps `first_step..=last_step` into at most `max_rows` windows:
/// `ceil(step_count / max_rows)`, at least 1. A `max_rows` of 0 is treated as 1.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::every_for_max_rows;
/// assert_eq!(every_for_max_rows(0, 999_999, 1000), 1000);
/// assert_eq!(every_for_max_rows(0, 1000, 1000), 2);
/// assert_eq!(every_for_max_rows(5, 5, 1000), 1);
/// assert_eq!(every_for_max_rows(10, 0, 1000), 1); // empty range
/// ```
pub fn every_for_max_rows(first_step: i64, last_step: i64, max_rows: u64) -> u64 {
    if last_step < first_step {
        return 1;
    }
    // i128: the span of two i64 steps can exceed i64.
    let steps = (i128::from(last_step) - i128::from(first_step) + 1) as u128;
    let max_rows = u128::from(max_rows.max(1));
    (steps.div_ceil(max_rows).min(u128::from(u64::MAX)) as u64).max(1)
}

/// Per-key state within the current window.
#[derive(Debug, Clone)]
struct KeyWindow<V> {
    key: String,
    /// Last value seen in the window; `None` when the key was not seen in this window.
    last: Option<V>,
    min: f64,
    max: f64,
    sum: f64,
    count: u64,
    /// Whether every value of the key in this window was a number.
    numeric: bool,
    /// Whether a NaN was seen in this window.
    saw_nan: bool,
}

/// Turns rows in step order into one row per window of `every` steps.
///
/// Memory is proportional to the number of distinct keys, not to the number of rows.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::{Downsampler, Row};
/// let mut d = Downsampler::new(2, true);
/// assert_eq!(d.push(0, &[("loss", 4.0f64)]).unwrap(), None);
/// assert_eq!(d.push(1, &[("loss", 2.0)]).unwrap(), None);
/// let row = d.push(2, &[("loss", 1.0)]).unwrap().expect("window 0..=1 is done");
/// assert_eq!(row.step, 1);
/// assert_eq!(row.items, vec![
///     ("loss".to_string(), 2.0), ("loss/min".to_string(), 2.0),
///     ("loss/mean".to_string(), 3.0), ("loss/max".to_string(), 4.0),
/// ]);
/// assert_eq!(d.finish().unwrap().step, 2);
/// ```
#[derive(Debug, Clone)]
pub struct Downsampler<V> {
    every: u64,
    agg: bool,
    /// First step pushed: windows are aligned to it.
    origin: Option<i64>,
    /// Window index of the rows being accumulated.
    window: i128,
    /// Last step pushed.
    last_step: Option<i64>,
    keys: Vec<KeyWindow<V>>,
    slots: HashMap<String, usize>,
    /// Slots of the keys seen in the current window, in first-seen order.
    seen: Vec<usize>,
}

impl<V: Numeric> Downsampler<V> {
    /// A downsampler emitting one row per `every` steps (0 is treated as 1), with
    /// `key/min`, `key/mean` and `key/max` for numeric keys when `agg` is set.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = ringlog_wandb::Downsampler::<f64>::new(100, true);
    /// assert_eq!(d.every(), 100);
    /// ```
    pub fn new(every: u64, agg: bool) -> Self {
        Self {
            every: every.max(1),
            agg,
            origin: None,
            window: 0,
            last_step: None,
            keys: Vec::new(),
            slots: HashMap::new(),
            seen: Vec::new(),
        }
    }

    /// The window width in steps.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(ringlog_wandb::Downsampler::<f64>::new(0, false).every(), 1);
    /// ```
    pub fn every(&self) -> u64 {
        self.every
    }

    /// Adds one row. Returns the previous window's row when `step` starts a new window.
    ///
    /// # Errors
    ///
    /// [`StepOrderError`] when `step` is before the previous row's step (equal steps are
    /// accepted and fall in the same window).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = ringlog_wandb::Downsampler::new(10, false);
    /// assert!(d.push(0, &[("x", 1.0f64)]).unwrap().is_none());
    /// assert!(d.push(10, &[("x", 2.0)]).unwrap().is_some());
    /// ```
    pub fn push<K: AsRef<str>>(&mut self, step: i64, items: &[(K, V)]) -> Result<Option<Row<V>>, StepOrderError> {
        if let Some(previous) = self.last_step
            && step < previous
        {
            return Err(StepOrderError { step, previous });
        }
        let origin = *self.origin.get_or_insert(step);
        let window = (i128::from(step) - i128::from(origin)) / i128::from(self.every);
        let done = if self.last_step.is_some() && window != self.window { self.take_row() } else { None };
        self.window = window;
        self.last_step = Some(step);
        for (key, value) in items {
            self.add(key.as_ref(), value);
        }
        Ok(done)
    }

    /// Emits the last, possibly partial, window's row (`None` if no row was pushed since).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut d = ringlog_wandb::Downsampler::new(10, false);
    /// d.push(3, &[("x", 1.0f64)]).unwrap();
    /// assert_eq!(d.finish().unwrap().step, 3);
    /// ```
    pub fn finish(mut self) -> Option<Row<V>> {
        self.take_row()
    }

    fn add(&mut self, key: &str, value: &V) {
        let slot = match self.slots.get(key) {
            Some(&slot) => slot,
            None => {
                self.keys.push(KeyWindow {
                    key: key.to_owned(),
                    last: None,
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    sum: 0.0,
                    count: 0,
                    numeric: true,
                    saw_nan: false,
                });
                self.slots.insert(key.to_owned(), self.keys.len() - 1);
                self.keys.len() - 1
            }
        };
        let k = &mut self.keys[slot];
        if k.last.is_none() {
            self.seen.push(slot);
        }
        k.last = Some(value.clone());
        match value.as_f64() {
            Some(v) => {
                if v.is_nan() {
                    k.saw_nan = true;
                } else {
                    k.min = k.min.min(v);
                    k.max = k.max.max(v);
                }
                k.sum += v;
                k.count += 1;
            }
            None => k.numeric = false,
        }
    }

    fn take_row(&mut self) -> Option<Row<V>> {
        let step = self.last_step?;
        if self.seen.is_empty() {
            return None;
        }
        let mut items = Vec::with_capacity(self.seen.len() * if self.agg { 4 } else { 1 });
        for &slot in &self.seen {
            let k = &mut self.keys[slot];
            let Some(last) = k.last.take() else { continue };
            items.push((k.key.clone(), last));
            if self.agg && k.numeric && k.count > 0 {
                let (min, mean, max) =
                    if k.saw_nan { (f64::NAN, f64::NAN, f64::NAN) } else { (k.min, k.sum / k.count as f64, k.max) };
                items.push((format!("{}/min", k.key), V::from_f64(min)));
                items.push((format!("{}/mean", k.key), V::from_f64(mean)));
                items.push((format!("{}/max", k.key), V::from_f64(max)));
            }
            *k = KeyWindow {
                key: std::mem::take(&mut k.key),
                last: None,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                sum: 0.0,
                count: 0,
                numeric: true,
                saw_nan: false,
            };
        }
        self.seen.clear();
        Some(Row { step, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn million_steps_into_at_most_thousand_rows_with_exact_aggregates() {
        const STEPS: i64 = 1_000_000;
        let every = every_for_max_rows(0, STEPS - 1, 1000);
        let mut d = Downsampler::new(every, true);
        let mut rows = Vec::new();
        let value = |s: i64| ((s * 7919) % 1009) as f64 * 0.5 - 100.0;
        for s in 0..STEPS {
            // "sparse" is logged only on every third step; "name" is not numeric.
            let mut items: Vec<(&str, f64)> = vec![("loss", value(s))];
            if s % 3 == 0 {
                items.push(("sparse", s as f64));
            }
            if let Some(row) = d.push(s, &items).expect("in order") {
                rows.push(row);
            }
        }
        rows.extend(d.finish());
        assert!(rows.len() <= 1000, "{} rows", rows.len());
        assert_eq!(rows.len(), 1000);
        for (w, row) in rows.iter().enumerate() {
            let lo = w as i64 * every as i64;
            let hi = (lo + every as i64 - 1).min(STEPS - 1);
            assert_eq!(row.step, hi);
            let vals: Vec<f64> = (lo..=hi).map(value).collect();
            let min = vals.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let get = |k: &str| row.items.iter().find(|(key, _)| key == k).map(|(_, v)| *v);
            assert_eq!(get("loss"), Some(value(hi)));
            assert_eq!(get("loss/min"), Some(min));
            assert_eq!(get("loss/max"), Some(max));
            let got_mean = get("loss/mean").expect("mean");
            assert!((got_mean - mean).abs() <= 1e-9 * mean.abs().max(1.0), "{got_mean} vs {mean}");
            let sparse: Vec<f64> = (lo..=hi).filter(|s| s % 3 == 0).map(|s| s as f64).collect();
            assert_eq!(get("sparse"), sparse.last().copied());
            assert_eq!(get("sparse/min"), sparse.first().copied());
        }
    }

    #[derive(Debug, Clone, PartialEq)]
    enum V {
        N(f64),
        S(&'static str),
    }

    impl Numeric for V {
        fn as_f64(&self) -> Option<f64> {
            match self {
                V::N(v) => Some(*v),
                V::S(_) => None,
            }
        }
        fn from_f64(v: f64) -> Self {
            V::N(v)
        }
    }

    #[test]
    fn non_numeric_keys_get_no_aggregates_and_nan_propagates() {
        let mut d = Downsampler::new(10, true);
        d.push(0, &[("s", V::S("a")), ("x", V::N(1.0))]).expect("ok");
        d.push(1, &[("s", V::S("b")), ("x", V::N(f64::NAN))]).expect("ok");
        d.push(2, &[("x", V::N(3.0))]).expect("ok");
        let row = d.finish().expect("row");
        let keys: Vec<&str> = row.items.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["s", "x", "x/min", "x/mean", "x/max"]);
        assert_eq!(row.items[0].1, V::S("b"));
        assert!(matches!(row.items[3].1, V::N(v) if v.is_nan()));
    }

    #[test]
    fn windows_align_to_the_first_step_and_skip_empty_windows() {
        let mut d = Downsampler::new(10, false);
        let mut rows = Vec::new();
        for s in [5i64, 14, 15, 100] {
            rows.extend(d.push(s, &[("x", s as f64)]).expect("ok"));
        }
        rows.extend(d.finish());
        let steps: Vec<i64> = rows.iter().map(|r| r.step).collect();
        assert_eq!(steps, [14, 15, 100]);
    }

    #[test]
    fn extreme_steps_do_not_overflow() {
        assert_eq!(every_for_max_rows(i64::MIN, i64::MAX, 1), u64::MAX);
        let mut d = Downsampler::new(u64::MAX, false);
        d.push(i64::MIN, &[("x", 1.0f64)]).expect("ok");
        // 2^64 steps in windows of 2^64 - 1: the last step starts window 1.
        assert!(d.push(i64::MAX, &[("x", 2.0)]).expect("ok").is_some());
    }
}
