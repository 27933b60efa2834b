//! The history row being built at the current step (wandb's pending row).
//!
//! `log(..., commit=False)` adds to it; a commit writes it as one record. A
//! key set twice in one row keeps its last value: each key entry remembers
//! its slot in the row, valid while its `row_epoch` equals the row's epoch
//! (the epoch changes whenever the row is cleared, so nothing is reset per
//! key).

use crate::client_api::Value;
use crate::key_table::KeyTable;

/// One value of the row.
pub enum Cell {
    /// A float (the fast path's kind).
    F64(f64),
    /// Any other value.
    Other(Value),
}

impl Cell {
    /// As a ringlog value.
    pub fn into_value(self) -> Value {
        match self {
            Self::F64(v) => Value::F64(v),
            Self::Other(v) => v,
        }
    }
}

/// The pending row.
pub struct Row {
    /// (local key index, value), in first-set order.
    pub items: Vec<(u32, Cell)>,
    epoch: u32,
    /// Whether every cell is a float (the row can take the fast path).
    pub all_f64: bool,
}

impl Default for Row {
    fn default() -> Self {
        Self { items: Vec::with_capacity(64), epoch: 1, all_f64: true }
    }
}

impl Row {
    /// Sets key `idx` to `cell`, replacing an earlier value in this row.
    #[inline(always)]
    pub fn put(&mut self, keys: &mut KeyTable, idx: u32, cell: Cell) {
        if !matches!(cell, Cell::F64(_)) {
            self.all_f64 = false;
        }
        let entry = &mut keys.entries[idx as usize];
        let slot = entry.row_slot as usize;
        if entry.row_epoch == self.epoch && slot < self.items.len() && self.items[slot].0 == idx {
            self.items[slot].1 = cell;
            return;
        }
        entry.row_epoch = self.epoch;
        entry.row_slot = self.items.len() as u32;
        self.items.push((idx, cell));
    }

    /// Drops the items from position `len` on (a call that failed halfway).
    pub fn truncate(&mut self, len: usize) {
        self.items.truncate(len);
        self.all_f64 = self.items.iter().all(|(_, c)| matches!(c, Cell::F64(_)));
    }

    /// Empties the row for the next step.
    #[inline]
    pub fn clear(&mut self) {
        self.items.clear();
        self.epoch = self.epoch.wrapping_add(1).max(1);
        self.all_f64 = true;
    }

    /// Whether nothing is pending.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
