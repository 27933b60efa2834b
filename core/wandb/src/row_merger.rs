//! Merging several lanes' rows of the same step into one row.
//!
//! A training run logs from several lanes (processes or threads); W&B, like most trackers,
//! keeps one row per step. Rows arrive in step order across all lanes (the caller merges the
//! lanes' streams by step); every row with the same step is folded into one.
//!
//! # Which value wins
//!
//! When two rows of the same step carry the same key, the value from the row with the **later
//! timestamp** wins; between equal timestamps the **higher lane id** wins. The rule depends only
//! on the rows, not on the order they were pushed in, so re-running an export gives the same
//! file. The merged row's timestamp is the latest of its rows'.

use crate::downsample::StepOrderError;
use std::collections::HashMap;

/// One merged row: a step, its latest timestamp and the union of its keys.
///
/// # Examples
///
/// ```
/// let r = ringlog_wandb::MergedRow { step: 1, timestamp_unix_ns: 5, items: vec![("x".to_string(), 1.0f64)] };
/// assert_eq!(r.items.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MergedRow<V> {
    /// The step.
    pub step: i64,
    /// The latest timestamp among the merged rows, in nanoseconds since the Unix epoch.
    pub timestamp_unix_ns: u64,
    /// Keys and winning values, in first-seen order.
    pub items: Vec<(String, V)>,
}

/// Folds rows of the same step from several lanes into one row per step.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::RowMerger;
/// let mut m = RowMerger::new();
/// assert!(m.push(0, 1, 100, &[("loss", 1.0f64)]).unwrap().is_none());
/// assert!(m.push(1, 1, 90, &[("loss", 2.0), ("acc", 0.5)]).unwrap().is_none());
/// let row = m.push(0, 2, 200, &[("loss", 3.0)]).unwrap().expect("step 1 is complete");
/// assert_eq!(row.step, 1);
/// assert_eq!(row.timestamp_unix_ns, 100);
/// // lane 0's value has the later timestamp (100 > 90), so it wins.
/// assert_eq!(row.items, vec![("loss".to_string(), 1.0), ("acc".to_string(), 0.5)]);
/// assert_eq!(m.finish().unwrap().step, 2);
/// ```
#[derive(Debug, Clone)]
pub struct RowMerger<V> {
    step: Option<i64>,
    timestamp_unix_ns: u64,
    /// (key, value, (timestamp, lane) of the row the value came from).
    items: Vec<(String, V, (u64, u32))>,
    slots: HashMap<String, usize>,
}

impl<V: Clone> Default for RowMerger<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone> RowMerger<V> {
    /// An empty merger.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = ringlog_wandb::RowMerger::<f64>::new();
    /// assert!(m.finish().is_none());
    /// ```
    pub fn new() -> Self {
        Self { step: None, timestamp_unix_ns: 0, items: Vec::new(), slots: HashMap::new() }
    }

    /// Adds lane `lane`'s row for `step`. Returns the previous step's merged row when `step`
    /// is a new step.
    ///
    /// # Errors
    ///
    /// [`StepOrderError`] when `step` is before the current step.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = ringlog_wandb::RowMerger::new();
    /// m.push(3, 5, 1, &[("x", 1.0f64)]).unwrap();
    /// assert!(m.push(3, 4, 1, &[("x", 1.0)]).is_err());
    /// ```
    pub fn push<K: AsRef<str>>(
        &mut self,
        lane: u32,
        step: i64,
        timestamp_unix_ns: u64,
        items: &[(K, V)],
    ) -> Result<Option<MergedRow<V>>, StepOrderError> {
        let done = match self.step {
            Some(previous) if step < previous => return Err(StepOrderError { step, previous }),
            Some(previous) if step > previous => self.take_row(),
            _ => None,
        };
        if self.step != Some(step) {
            self.step = Some(step);
            self.timestamp_unix_ns = timestamp_unix_ns;
        }
        self.timestamp_unix_ns = self.timestamp_unix_ns.max(timestamp_unix_ns);
        let rank = (timestamp_unix_ns, lane);
        for (key, value) in items {
            let key = key.as_ref();
            match self.slots.get(key) {
                Some(&slot) => {
                    let entry = &mut self.items[slot];
                    if rank >= entry.2 {
                        entry.1 = value.clone();
                        entry.2 = rank;
                    }
                }
                None => {
                    self.slots.insert(key.to_owned(), self.items.len());
                    self.items.push((key.to_owned(), value.clone(), rank));
                }
            }
        }
        Ok(done)
    }

    /// Emits the last step's merged row (`None` if nothing was pushed since the last row).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = ringlog_wandb::RowMerger::new();
    /// m.push(0, 7, 1, &[("x", 1.0f64)]).unwrap();
    /// assert_eq!(m.finish().unwrap().step, 7);
    /// ```
    pub fn finish(mut self) -> Option<MergedRow<V>> {
        self.take_row()
    }

    fn take_row(&mut self) -> Option<MergedRow<V>> {
        let step = self.step.take()?;
        self.slots.clear();
        let items = self.items.drain(..).map(|(k, v, _)| (k, v)).collect();
        Some(MergedRow { step, timestamp_unix_ns: self.timestamp_unix_ns, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winner_does_not_depend_on_push_order() {
        let rows = [(0u32, 10u64, 1.0f64), (1, 10, 2.0), (2, 5, 3.0)];
        let mut winners = Vec::new();
        for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let mut m = RowMerger::new();
            for i in order {
                let (lane, ts, v) = rows[i];
                m.push(lane, 4, ts, &[("k", v)]).expect("same step");
            }
            let row = m.finish().expect("row");
            assert_eq!(row.timestamp_unix_ns, 10);
            winners.push(row.items[0].1);
        }
        // Lanes 0 and 1 tie on timestamp 10; the higher lane id (1) wins.
        assert_eq!(winners, [2.0, 2.0, 2.0]);
    }
}
