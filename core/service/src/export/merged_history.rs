//! History rows of all lanes merged into one row per step, in step order, optionally
//! downsampled: the rows every sampled export (and the W&B export) writes.
//!
//! # Why a reorder window
//!
//! A run log orders records per lane only: the service appends whatever each lane had when
//! it drained, so lane 1's step 500 can come before lane 0's step 400. W&B (and the
//! downsampler) need rows in step order, one per step. [`MergedHistory`] keeps the rows it
//! has read in a window ordered by `(step, arrival)` and releases the lowest step when the
//! window exceeds its memory budget ([`DEFAULT_WINDOW_BYTES`]), and everything at the end.
//! Released rows go through [`RowMerger`] (rows of the same step are folded into one; on a
//! key clash the later timestamp, then the higher lane, wins) and then, when sampling, through
//! [`Downsampler`].
//!
//! # Out-of-order steps
//!
//! Lanes that step in lockstep (DDP ranks) drift apart in the log by at most what a lane and
//! a drain batch hold (about a MiB of records per lane), far less than the window; lanes that
//! do not (processes started apart, a starved rank) can drift without bound, so the exports
//! of a finished log feed this merger lane by lane in step order
//! (`export::step_order_walk`) with no window at all ([`MergedHistory::step_ordered`]), and
//! only the live W&B run relies on the window. A row whose
//! step is below a step already released
//! (a lane that fell further behind than the window, or a trainer that went back to an
//! earlier step, e.g. after restoring a checkpoint) cannot be placed any more: it is
//! **dropped and counted** in [`MergedHistory::late_rows`]; the exporters report the count.
//! A row with the step released last is still merged into it unless a later step was
//! released already. Keys W&B reserves (`_step`, `_runtime`, `_timestamp`, `_wandb`) and empty
//! keys are left out of rows and counted in [`MergedHistory::dropped_items`].
//!
//! Memory is bounded by the window budget plus the key names.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Maps on the per-record path: keys are small and not attacker-chosen in a
/// way that matters here (a log's own key ids), so a fast fixed hasher.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

use ringlog_ring::record::schema::RecordRef;
use ringlog_wandb::{Downsampler, MergedRow, RowMerger, WandbValue};

use crate::export::key_table::KeyTable;
use crate::export::lane_key_map::LaneKeyMap;
use crate::export::log_walk::Item;
use crate::export::sampling::Sampling;
use crate::export::wandb_value::{heap_bytes, wandb_value};

/// Default memory budget of the reorder window: 64 MiB, about 500,000 single-scalar rows or
/// 100,000 rows of eight scalars.
pub const DEFAULT_WINDOW_BYTES: usize = 64 << 20;

/// Estimated fixed cost of one buffered row (tree node, key, row header).
const ROW_OVERHEAD: usize = 96;

/// One history row read from the log, waiting in the window.
#[derive(Debug)]
struct PendingRow {
    lane: u16,
    ts_ns: u64,
    items: Vec<(Arc<str>, WandbValue)>,
    /// Estimated bytes, subtracted when the row leaves the window.
    bytes: usize,
}

/// Merges the history records of a run log into one row per step, in step order.
///
/// Feed it every record with [`observe`](Self::observe) (after [`KeyTable::observe`]) and
/// call [`finish`](Self::finish) at the end; rows come out through the `emit` callbacks.
///
/// # Examples
/// ```
/// use ringlog_ring::record::schema::{self as record, RecordKind, Scalar1};
/// use ringlog_service::{KeyTable, MergedHistory};
/// let keys = KeyTable::new();
/// let mut merged = MergedHistory::new(None);
/// let mut rows = Vec::new();
/// // Lane 1 logged step 1 before lane 0's step 0 reached the log.
/// for (lane, step) in [(1u16, 1i64), (0, 0), (0, 1)] {
///     let s = Scalar1 { ts_ns: 1, step, value: step as f64, key: 0, reserved: 0 };
///     let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&s)?;
///     let rec = record::check(RecordKind::Scalar1, 1, &bytes)?;
///     merged.observe(lane, &rec, &keys, &mut |row| { rows.push(row); Ok::<(), ()>(()) }).unwrap();
/// }
/// merged.finish(&mut |row| { rows.push(row); Ok::<(), ()>(()) }).unwrap();
/// let steps: Vec<i64> = rows.iter().map(|r| r.step).collect();
/// assert_eq!(steps, [0, 1]); // step 1 holds both lanes' values
/// assert_eq!(rows[1].items.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MergedHistory {
    /// Interned key names, so buffered rows share them.
    names: FastMap<Box<str>, Arc<str>>,
    /// `(lane, key id)` → interned name, cleared for a key id its lane redefines.
    by_key: LaneKeyMap<Arc<str>>,
    /// Rows read and not yet released, by `(step, arrival number)`.
    window: BTreeMap<(i64, u64), PendingRow>,
    window_bytes: usize,
    window_limit: usize,
    arrivals: u64,
    /// Step of the last row released from the window.
    released: Option<i64>,
    merger: RowMerger<WandbValue>,
    downsampler: Option<Downsampler<WandbValue>>,
    /// Timestamp of the last merged row given to the downsampler.
    last_merged_ts: u64,
    late_rows: u64,
    dropped_items: u64,
    /// Highest step each lane has logged so far (for [`Self::release_settled`]).
    lane_steps: FastMap<u16, i64>,
    /// Keys and steps to keep (`--keys`, `--steps`); `None` keeps everything.
    select: Option<Sampling>,
    /// The input comes in step order (the exports' step-order walk): rows go straight to
    /// the merger, with no window.
    in_order: bool,
    /// A row's items, reused from row to row when there is no window.
    scratch: Vec<(Arc<str>, WandbValue)>,
}

impl MergedHistory {
    /// A merger; with `downsample = Some((every, agg))`, rows are downsampled as
    /// [`Downsampler::new(every, agg)`](Downsampler::new) does.
    ///
    /// # Examples
    /// ```
    /// let m = ringlog_service::MergedHistory::new(Some((100, true)));
    /// assert_eq!(m.late_rows(), 0);
    /// ```
    pub fn new(downsample: Option<(u64, bool)>) -> Self {
        Self {
            names: FastMap::default(),
            by_key: LaneKeyMap::default(),
            window: BTreeMap::new(),
            window_bytes: 0,
            window_limit: DEFAULT_WINDOW_BYTES,
            arrivals: 0,
            released: None,
            // `kept_name` interns every name (one `Arc` per name, in `names`).
            merger: RowMerger::new().interned(),
            downsampler: downsample.map(|(every, agg)| Downsampler::new(every, agg)),
            last_merged_ts: 0,
            late_rows: 0,
            dropped_items: 0,
            lane_steps: FastMap::default(),
            select: None,
            in_order: false,
            scratch: Vec::new(),
        }
    }

    /// The same merger keeping only the keys and steps `sampling` selects
    /// ([`Sampling::keeps_key`], [`Sampling::keeps_step`]).
    ///
    /// # Examples
    /// ```
    /// let only_loss = ringlog_service::Sampling { keys: Some(vec!["loss".into()]), ..Default::default() };
    /// let m = ringlog_service::MergedHistory::new(None).with_selection(&only_loss);
    /// # let _ = m;
    /// ```
    pub fn with_selection(mut self, sampling: &Sampling) -> Self {
        self.select = sampling.selects().then(|| sampling.clone());
        self
    }

    /// The same merger with a reorder window of `bytes` (tests use a small one).
    ///
    /// # Examples
    /// ```
    /// let m = ringlog_service::MergedHistory::new(None).with_window_bytes(1 << 10);
    /// # let _ = m;
    /// ```
    pub fn with_window_bytes(mut self, bytes: usize) -> Self {
        self.window_limit = bytes;
        self
    }

    /// The same merger for input that arrives in step order already (the exports read the
    /// log lane by lane in step order, `export::step_order_walk`): rows skip the reorder
    /// window and go straight to the merger. A row below the step merged last (a lane
    /// that went back to an earlier step) is dropped and counted in
    /// [`late_rows`](Self::late_rows), as W&B itself ignores a step below its current one.
    ///
    /// # Examples
    /// ```
    /// let m = ringlog_service::MergedHistory::new(None).step_ordered();
    /// # let _ = m;
    /// ```
    pub fn step_ordered(mut self) -> Self {
        self.in_order = true;
        self
    }

    /// History rows dropped because their step came after a later step had been released
    /// (see the module docs).
    ///
    /// # Examples
    /// See [`MergedHistory`].
    pub fn late_rows(&self) -> u64 {
        self.late_rows
    }

    /// Items left out because their key is empty or reserved by W&B.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ringlog_service::MergedHistory::new(None).dropped_items(), 0);
    /// ```
    pub fn dropped_items(&self) -> u64 {
        self.dropped_items
    }

    /// Reads one record of lane `lane`: history records enter the window, key definitions
    /// refresh the names, other records are ignored. Rows the window releases are merged
    /// (and downsampled) and handed to `emit`.
    ///
    /// # Errors
    /// Whatever `emit` returns.
    ///
    /// # Examples
    /// See [`MergedHistory`].
    pub fn observe<E>(
        &mut self,
        lane: u16,
        rec: &RecordRef<'_>,
        keys: &KeyTable,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<(), E> {
        let (step, ts_ns, items) = match rec {
            RecordRef::KeyDef(def) => {
                self.by_key.remove(lane, def.id.to_native());
                return Ok(());
            }
            RecordRef::Scalar1(s) => {
                let item = (s.key.to_native(), s.value.to_native());
                return self.observe_scalars(lane, s.step.to_native(), s.ts_ns.to_native(), [item], keys, emit);
            }
            RecordRef::Scalars(s) => {
                let items = s.items.iter().map(|i| (i.key.to_native(), i.value.to_native()));
                return self.observe_scalars(lane, s.step.to_native(), s.ts_ns.to_native(), items, keys, emit);
            }
            RecordRef::History(h) => {
                let mut items = self.take_scratch();
                for item in h.items.iter() {
                    self.add_item(&mut items, lane, item.key.to_native(), keys, wandb_value(&item.value));
                }
                (h.step.to_native(), h.ts_ns.to_native(), items)
            }
            _ => return Ok(()),
        };
        self.place(lane, step, ts_ns, items, emit)
    }

    /// [`observe`](Self::observe) of a record as the exports' walks hand it out.
    pub(crate) fn observe_item<E>(
        &mut self,
        item: Item<'_>,
        keys: &KeyTable,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<(), E> {
        match item {
            Item::Scalars(s) => {
                let items = s.items.iter().map(|i| (i.key, i.value));
                self.observe_scalars(s.lane, s.step, s.ts_ns, items, keys, emit)
            }
            Item::Record(rec) => self.observe(rec.lane(), &rec.record(), keys, emit),
        }
    }

    /// [`observe`](Self::observe) of a scalar record (`Scalar1` or `Scalars`) of lane
    /// `lane`, given as its step, time and `(key id, value)` items.
    ///
    /// # Errors
    /// Whatever `emit` returns.
    ///
    /// # Examples
    /// ```
    /// use ringlog_service::{KeyTable, MergedHistory};
    /// let mut keys = KeyTable::new();
    /// keys.define(0, 3, "loss");
    /// let mut merged = MergedHistory::new(None).step_ordered();
    /// let mut rows = Vec::new();
    /// let mut emit = |row: ringlog_wandb::MergedRow<_>| Ok::<(), ()>(rows.push((row.step, row.items.len())));
    /// merged.observe_scalars(0, 1, 10, [(3, 0.5)], &keys, &mut emit).unwrap();
    /// merged.finish(&mut emit).unwrap();
    /// assert_eq!(rows, [(1, 1)]);
    /// ```
    pub fn observe_scalars<E>(
        &mut self,
        lane: u16,
        step: i64,
        ts_ns: u64,
        items: impl IntoIterator<Item = (u32, f64)>,
        keys: &KeyTable,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.in_order && self.select.is_none() {
            // Step-ordered input, every key kept: the items go straight into the merger.
            if self.start_row(lane, step, ts_ns, emit)? {
                for (key, value) in items {
                    self.add_to_row(lane, key, keys, WandbValue::F64(value));
                }
            }
            return Ok(());
        }
        let mut row = self.take_scratch();
        for (key, value) in items {
            self.add_item(&mut row, lane, key, keys, WandbValue::F64(value));
        }
        self.place(lane, step, ts_ns, row, emit)
    }

    /// Takes a history row of lane `lane` built by `observe`: drops it if the selection
    /// leaves nothing of it, then merges it (step-ordered input) or puts it in the window.
    fn place<E>(
        &mut self,
        lane: u16,
        step: i64,
        ts_ns: u64,
        items: Vec<(Arc<str>, WandbValue)>,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<(), E> {
        if let Some(select) = &self.select
            && (!select.keeps_step(step) || items.is_empty())
        {
            return Ok(());
        }
        if !self.admit(lane, step) {
            return Ok(());
        }
        if self.in_order {
            let merged = self.merge(step, lane, ts_ns, &items, emit);
            self.scratch = items;
            return merged;
        }
        let bytes = ROW_OVERHEAD
            + items.iter().map(|(_, v)| size_of::<(Arc<str>, WandbValue)>() + heap_bytes(v)).sum::<usize>();
        self.window.insert((step, self.arrivals), PendingRow { lane, ts_ns, items, bytes });
        self.arrivals += 1;
        self.window_bytes += bytes;
        while self.window_bytes > self.window_limit {
            let Some(((step, _), row)) = self.window.pop_first() else { break };
            self.release(step, row, emit)?;
        }
        Ok(())
    }

    /// Releases the rows below the lowest step every lane has reached: rows no lane is
    /// expected to add to any more, because each lane logs its steps in order. The service's
    /// live W&B mode calls this after each drained batch, so rows reach W&B while the run
    /// is going. A lane that stopped logging holds the others' rows back until the window's
    /// budget or [`finish`](Self::finish) releases them.
    ///
    /// # Errors
    /// Whatever `emit` returns.
    ///
    /// # Examples
    /// ```
    /// use ringlog_ring::record::schema::{self as record, RecordKind, Scalar1};
    /// use ringlog_service::{KeyTable, MergedHistory};
    /// let keys = KeyTable::new();
    /// let mut merged = MergedHistory::new(None);
    /// let mut steps = Vec::new();
    /// for step in 0..3 {
    ///     let s = Scalar1 { ts_ns: 1, step, value: 0.5, key: 0, reserved: 0 };
    ///     let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&s)?;
    ///     let rec = record::check(RecordKind::Scalar1, 1, &bytes)?;
    ///     merged.observe(0, &rec, &keys, &mut |row| { steps.push(row.step); Ok::<(), ()>(()) }).unwrap();
    /// }
    /// merged.release_settled(&mut |row| { steps.push(row.step); Ok::<(), ()>(()) }).unwrap();
    /// // Steps 0 and 1 are below lane 0's step 2, so they leave the window; the merger
    /// // hands a step on when the next one starts, so step 0 comes out now and step 1 later.
    /// assert_eq!(steps, [0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_settled<E>(
        &mut self,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(&watermark) = self.lane_steps.values().min() else { return Ok(()) };
        while let Some(entry) = self.window.first_entry() {
            if entry.key().0 >= watermark {
                break;
            }
            let ((step, _), row) = entry.remove_entry();
            self.release(step, row, emit)?;
        }
        Ok(())
    }

    /// Releases every buffered row and emits the last rows.
    ///
    /// # Errors
    /// Whatever `emit` returns.
    ///
    /// # Examples
    /// See [`MergedHistory`].
    pub fn finish<E>(mut self, emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>) -> Result<(), E> {
        while let Some(((step, _), row)) = self.window.pop_first() {
            self.release(step, row, emit)?;
        }
        if let Some(merged) = std::mem::take(&mut self.merger).finish() {
            self.downsample(merged, emit)?;
        }
        if let Some(row) = self.downsampler.take().and_then(Downsampler::finish) {
            emit(MergedRow { step: row.step, timestamp_unix_ns: self.last_merged_ts, items: shared(row.items) })?;
        }
        Ok(())
    }

    /// The step-ordered fast path's start of a row: [`Self::admit`], then
    /// [`Self::begin_row`]. `Ok(false)` when the row is dropped.
    fn start_row<E>(
        &mut self,
        lane: u16,
        step: i64,
        ts_ns: u64,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<bool, E> {
        if !self.admit(lane, step) {
            return Ok(false);
        }
        self.begin_row(lane, step, ts_ns, emit)
    }

    /// Notes lane `lane`'s step; `false` (counted as late) for a step below one already
    /// released.
    fn admit(&mut self, lane: u16, step: i64) -> bool {
        let lane_step = self.lane_steps.entry(lane).or_insert(step);
        *lane_step = (*lane_step).max(step);
        if self.released.is_some_and(|released| step < released) {
            self.note_late(lane, step);
            return false;
        }
        true
    }

    /// Begins lane `lane`'s row of `step` in the merger, handing the previous step's merged
    /// row on. `Ok(false)` when the merger refuses the step.
    fn begin_row<E>(
        &mut self,
        lane: u16,
        step: i64,
        ts_ns: u64,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<bool, E> {
        self.released = Some(step);
        match self.merger.start(u32::from(lane), step, ts_ns) {
            Ok(Some(merged)) => self.downsample(merged, emit)?,
            Ok(None) => {}
            // Unreachable: the window releases steps in order, and `admit` refuses rows below
            // the last released step. Counted rather than trusted.
            Err(_) => {
                self.late_rows += 1;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The step-ordered fast path's item: into the row [`Self::start_row`] began.
    fn add_to_row(&mut self, lane: u16, id: u32, keys: &KeyTable, value: WandbValue) {
        if let Some(name) = self.kept_name(lane, id, keys) {
            self.merger.add(name, value);
        }
    }

    fn note_late(&mut self, lane: u16, step: i64) {
        self.late_rows += 1;
        if self.late_rows == 1 {
            tracing::warn!(
                lane,
                step,
                released = self.released,
                "history row after a later step was exported: dropped (counted as late rows)"
            );
        }
    }

    fn add_item(
        &mut self,
        items: &mut Vec<(Arc<str>, WandbValue)>,
        lane: u16,
        id: u32,
        keys: &KeyTable,
        value: WandbValue,
    ) {
        if let Some(name) = self.kept_name(lane, id, keys) {
            items.push((name, value));
        }
    }

    /// The interned name of lane `lane`'s key `id`, or `None` for a key rows leave out
    /// (empty, reserved by W&B, or not selected; counted in `dropped_items` unless it is
    /// only unselected).
    fn kept_name(&mut self, lane: u16, id: u32, keys: &KeyTable) -> Option<Arc<str>> {
        let name = match self.by_key.get(lane, id) {
            Some(name) => Arc::clone(name),
            None => {
                let resolved = keys.resolve(lane, id);
                let name = match self.names.get(resolved.as_ref()) {
                    Some(name) => Arc::clone(name),
                    None => {
                        let name: Arc<str> = Arc::from(resolved.as_ref());
                        self.names.insert(resolved.as_ref().into(), Arc::clone(&name));
                        name
                    }
                };
                // Only a defined key is cached: an id used before its definition resolves
                // to a placeholder until the definition arrives.
                if keys.name(lane, id).is_some() {
                    self.by_key.insert(lane, id, Arc::clone(&name));
                }
                name
            }
        };
        if name.is_empty() || matches!(&*name, "_step" | "_runtime" | "_timestamp" | "_wandb") {
            self.dropped_items += 1;
            return None;
        }
        if self.select.as_ref().is_some_and(|s| !s.keeps_key(&name)) {
            return None;
        }
        Some(name)
    }

    fn release<E>(
        &mut self,
        step: i64,
        row: PendingRow,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.window_bytes -= row.bytes;
        self.merge(step, row.lane, row.ts_ns, &row.items, emit)
    }

    /// An empty item list, reusing the last row's allocation when there is no window.
    fn take_scratch(&mut self) -> Vec<(Arc<str>, WandbValue)> {
        let mut items = std::mem::take(&mut self.scratch);
        items.clear();
        items
    }

    fn merge<E>(
        &mut self,
        step: i64,
        lane: u16,
        ts_ns: u64,
        items: &[(Arc<str>, WandbValue)],
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.begin_row(lane, step, ts_ns, emit)? {
            for (key, value) in items {
                self.merger.add(Arc::clone(key), value.clone());
            }
        }
        Ok(())
    }

    fn downsample<E>(
        &mut self,
        merged: MergedRow<WandbValue>,
        emit: &mut impl FnMut(MergedRow<WandbValue>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(downsampler) = &mut self.downsampler else { return emit(merged) };
        let done = match downsampler.push(merged.step, &merged.items) {
            Ok(done) => done,
            Err(_) => {
                self.late_rows += 1;
                return Ok(());
            }
        };
        // The finished window ended with the merged row before this one.
        let window_ts = self.last_merged_ts;
        self.last_merged_ts = merged.timestamp_unix_ns;
        match done {
            Some(row) => emit(MergedRow { step: row.step, timestamp_unix_ns: window_ts, items: shared(row.items) }),
            None => Ok(()),
        }
    }
}

/// A downsampled row's items with shared keys (one per window, not per step).
fn shared(items: Vec<(String, WandbValue)>) -> Vec<(Arc<str>, WandbValue)> {
    items.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()
}
