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
use std::sync::Arc;

/// Rows with at most this many keys find a key by scanning (interned keys
/// usually match by address); longer rows also keep a hash index.
const SCAN_MAX: usize = 32;

/// One merged row: a step, its latest timestamp and the union of its keys.
///
/// # Examples
///
/// ```
/// let r = ringlog_wandb::MergedRow { step: 1, timestamp_unix_ns: 5, items: vec![("x".into(), 1.0f64)] };
/// assert_eq!(r.items.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MergedRow<V> {
    /// The step.
    pub step: i64,
    /// The latest timestamp among the merged rows, in nanoseconds since the Unix epoch.
    pub timestamp_unix_ns: u64,
    /// Keys and winning values, in first-seen order. Keys are shared
    /// (`Arc<str>`): a caller that interns its key names never copies them.
    pub items: Vec<(Arc<str>, V)>,
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
/// assert_eq!(row.items, vec![("loss".into(), 1.0), ("acc".into(), 0.5)]);
/// assert_eq!(m.finish().unwrap().step, 2);
/// ```
#[derive(Debug, Clone)]
pub struct RowMerger<V> {
    step: Option<i64>,
    timestamp_unix_ns: u64,
    /// The current row's keys and values; handed out whole as the merged row's items.
    items: Vec<(Arc<str>, V)>,
    /// Per item, (timestamp, lane) of the row its value came from.
    ranks: Vec<(u64, u32)>,
    /// (timestamp, lane) of the row [`start`](Self::start) began last.
    rank: (u64, u32),
    /// Key → index in `items`, kept only while a row has more than `SCAN_MAX` keys.
    slots: std::collections::HashMap<Arc<str>, usize, foldhash::fast::FixedState>,
    /// Every key is interned (see [`interned`](Self::interned)): keys compare by address.
    interned: bool,
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
        Self {
            step: None,
            timestamp_unix_ns: 0,
            items: Vec::new(),
            ranks: Vec::new(),
            rank: (0, 0),
            slots: Default::default(),
            interned: false,
        }
    }

    /// The same merger, for a caller whose keys are interned: every key of one name is
    /// the same `Arc` (a clone of it), so keys compare by address, without comparing
    /// their text. With keys that are not interned, two keys of one name would be kept
    /// as two items.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let loss: Arc<str> = Arc::from("loss");
    /// let mut m = ringlog_wandb::RowMerger::new().interned();
    /// m.start(0, 1, 10).unwrap();
    /// m.add(Arc::clone(&loss), 1.0);
    /// m.add(Arc::clone(&loss), 2.0);
    /// let row = m.start(0, 2, 20).unwrap().unwrap();
    /// assert_eq!(row.items, vec![(loss, 2.0)]);
    /// ```
    pub fn interned(mut self) -> Self {
        self.interned = true;
        self
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
    pub fn push<K: AsRef<str> + Clone + Into<Arc<str>>>(
        &mut self,
        lane: u32,
        step: i64,
        timestamp_unix_ns: u64,
        items: &[(K, V)],
    ) -> Result<Option<MergedRow<V>>, StepOrderError> {
        let done = self.start(lane, step, timestamp_unix_ns)?;
        for (key, value) in items {
            match self.find(key.as_ref()) {
                Some(slot) => self.replace(slot, value.clone()),
                None => self.append(key.clone().into(), value.clone()),
            }
        }
        Ok(done)
    }

    /// Begins lane `lane`'s row for `step`, whose items follow with [`add`](Self::add):
    /// [`push`](Self::push) without copying keys and values. Returns the previous step's
    /// merged row when `step` is a new step.
    ///
    /// # Errors
    ///
    /// [`StepOrderError`] when `step` is before the current step.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = ringlog_wandb::RowMerger::new();
    /// m.start(0, 1, 10).unwrap();
    /// m.add("loss".into(), 0.5f64);
    /// let row = m.start(0, 2, 20).unwrap().expect("step 1 is complete");
    /// assert_eq!(row.items, vec![("loss".into(), 0.5)]);
    /// ```
    pub fn start(
        &mut self,
        lane: u32,
        step: i64,
        timestamp_unix_ns: u64,
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
        self.rank = (timestamp_unix_ns, lane);
        Ok(done)
    }

    /// Adds an item to the row begun by the last [`start`](Self::start) (or
    /// [`push`](Self::push)).
    ///
    /// # Examples
    /// See [`RowMerger::start`].
    pub fn add(&mut self, key: Arc<str>, value: V) {
        match self.find(&key) {
            Some(slot) => self.replace(slot, value),
            None => self.append(key, value),
        }
    }

    /// A value for a key the row has: kept when its row ranks at least as high.
    fn replace(&mut self, slot: usize, value: V) {
        if self.rank >= self.ranks[slot] {
            self.items[slot].1 = value;
            self.ranks[slot] = self.rank;
        }
    }

    fn append(&mut self, key: Arc<str>, value: V) {
        if !self.slots.is_empty() {
            self.slots.insert(Arc::clone(&key), self.items.len());
        }
        self.items.push((key, value));
        self.ranks.push(self.rank);
    }

    /// The index of `key` in the current row.
    fn find(&mut self, key: &str) -> Option<usize> {
        let same_address = |k: &Arc<str>| std::ptr::eq(k.as_ptr(), key.as_ptr()) && k.len() == key.len();
        if self.interned {
            return self.items.iter().position(|(k, ..)| same_address(k));
        }
        if self.items.len() <= SCAN_MAX {
            // The same interned name is the same address: compared first.
            return self.items.iter().position(|(k, ..)| same_address(k) || **k == *key);
        }
        if self.slots.len() != self.items.len() {
            // The row just grew past SCAN_MAX: index the keys it has.
            self.slots = self.items.iter().enumerate().map(|(i, (k, ..))| (Arc::clone(k), i)).collect();
        }
        self.slots.get(key).copied()
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
        self.ranks.clear();
        let items = std::mem::replace(&mut self.items, Vec::with_capacity(self.ranks.capacity()));
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

    #[test]
    fn rows_longer_than_the_scan_limit_merge_by_key() {
        let keys: Vec<String> = (0..3 * SCAN_MAX).map(|i| format!("k{i}")).collect();
        let mut m = RowMerger::new();
        let first: Vec<(&str, f64)> = keys[..2 * SCAN_MAX].iter().map(|k| (k.as_str(), 1.0)).collect();
        let second: Vec<(&str, f64)> = keys[SCAN_MAX..].iter().map(|k| (k.as_str(), 2.0)).collect();
        m.push(0, 1, 10, &first).unwrap();
        m.push(1, 1, 20, &second).unwrap();
        let row = m.finish().unwrap();
        assert_eq!(row.items.len(), 3 * SCAN_MAX, "each key once");
        for (i, (k, v)) in row.items.iter().enumerate() {
            assert_eq!(**k, *keys[i]);
            assert_eq!(*v, if i < SCAN_MAX { 1.0 } else { 2.0 }, "{k}: the later row wins where both have it");
        }
    }
}
