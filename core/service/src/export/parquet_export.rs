//! `ringlog export --format parquet`: the history of a run as one Parquet file.
//!
//! The rows are those of the plain JSONL and CSV exports: one per history record, that is per
//! (lane, step), in log order. The columns are `_step` (Int64), `_timestamp` (Float64, Unix
//! seconds), `_lane` (Int32), then one column per key, sorted by name as in the CSV header.
//! With an active [`Sampling`] the rows are the merged, downsampled rows of
//! [`export_csv_with`](crate::export_csv_with) instead, and there is no `_lane` column.
//!
//! # Column types
//!
//! A key's column type follows every value the export writes for it ([`ColumnType`]):
//! - only floats: Float64, NaN and ±infinity as themselves (Parquet has them, JSON does not);
//! - only integers: Int64, exact (JSONL writes them as exact decimals too);
//! - floats and integers: Float64 (an integer beyond 2^53 is rounded, as in any float column);
//! - only strings: Utf8, the strings as they are;
//! - anything else (booleans, float arrays, JSON documents, or a mix of kinds): Utf8 holding
//!   each value's JSONL text (`true`, `[1.0,2.0]`, `"text"`, `"NaN"`), so that
//!   `json.loads(cell)` gives the value the JSONL export has.
//!
//! A row without a key holds null there. Keys named `_step`, `_timestamp` or `_lane` are left
//! out, as in the CSV export. `--keys` and `--steps` ([`Sampling::keeps_key`],
//! [`Sampling::keeps_step`]) select keys and rows as they do for JSONL and CSV: a row left
//! with no key is not written.
//!
//! # How
//!
//! Two passes over the log, like the CSV export: the first finds the keys and their column
//! types, the second fills column builders straight from the archived records (no JSON per
//! numeric value) and writes a record batch every [`BATCH_ROWS`] rows (fewer for runs with
//! very many keys, so a batch stays near [`BATCH_CELLS`] cells). Rows a live run appends
//! between the passes are left out.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::{Scope, ScopedJoinHandle};

use arrow_array::builder::{ArrayBuilder, Float64Builder, Int64Builder};
use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use ringlog_ring::record::schema::{ArchivedValue, RecordRef, ScalarItem};
use ringlog_wandb::{MergedRow, WandbValue};

use crate::export::exporters::{ExportError, ExportStats, Progress, open_log, warn_late_rows};
use crate::export::key_table::KeyTable;
use crate::export::log_walk::{Item, walk_items};
use crate::export::merged_history::MergedHistory;
use crate::export::record_json::{LANE_FIELD, STEP_FIELD, TIMESTAMP_FIELD, f64_json, value_json};
use crate::export::sampling::Sampling;
use crate::export::wandb_export::downsampling;
use crate::export::wandb_value::wandb_value_json;

/// Rows per record batch (and so per write to the Parquet column writers).
const BATCH_ROWS: usize = 64 << 10;
/// Most cells (rows × key columns) one batch holds: with thousands of keys a batch has fewer
/// rows, so its builders stay near 32 MiB however wide the run is.
const BATCH_CELLS: usize = 4 << 20;
/// Fewest rows per batch, however many keys.
const MIN_BATCH_ROWS: usize = 256;
/// Name in [`ExportError::Write`].
const FORMAT: &str = "Parquet";

/// Writes the history of the run in `run_dir` to `w` as a Parquet file (snappy-compressed).
///
/// Without an active `sampling`, one row per history record (lane, step), in log order, with
/// the columns `_step` (Int64), `_timestamp` (Float64, Unix seconds), `_lane` (Int32) and
/// one column per key, sorted by name: the rows and values of
/// [`export_jsonl`](crate::export_jsonl). With an active one, the merged and downsampled rows
/// of [`export_jsonl_with`](crate::export_jsonl_with), without `_lane`. A key's column is
/// Float64, Int64 or Utf8 depending on the values it held; see the
/// [module docs](crate::export::parquet_export) for the mapping. Missing values are nulls.
///
/// `w` is written from the start (Parquet puts its index at the end, so no seeking is
/// needed): a file, a pipe, or a `Vec<u8>`.
///
/// # Errors
/// [`ExportError::NoRunLog`], [`ExportError::RunLog`] if the log cannot be read,
/// [`ExportError::Write`] if `w` fails. Damaged frames are counted in the stats, not errors.
///
/// # Examples
/// ```
/// use arrow_array::Array;
/// use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-parquet-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// # let run = HeapRun::new(1 << 16, 1).unwrap();
/// # let mut p = run.claim(0, Default::default())?;
/// # let (loss, acc) = (p.key("loss")?, p.key("acc")?);
/// # p.log_scalar1(1, loss, 0.5)?;
/// # p.log_scalar1(2, acc, 0.75)?;
/// # let mut c = run.consumer()?;
/// # let mut batch = Batch::new(1 << 16);
/// # c.drain(&mut batch);
/// # RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
/// // `dir` holds a run that logged loss = 0.5 at step 1 and acc = 0.75 at step 2.
/// let path = dir.join("history.parquet");
/// let sampling = ringlog_service::Sampling::default();
/// let stats = ringlog_service::export_parquet(&dir, std::fs::File::create(&path)?, &sampling, false)?;
/// assert_eq!(stats.rows, 2);
///
/// let mut batches = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path)?)?.build()?;
/// let batch = batches.next().unwrap()?;
/// let names: Vec<_> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
/// assert_eq!(names, ["_step", "_timestamp", "_lane", "acc", "loss"]);
/// let loss = batch.column_by_name("loss").unwrap();
/// let loss = loss.as_any().downcast_ref::<arrow_array::Float64Array>().unwrap();
/// assert_eq!((loss.value(0), loss.is_null(1)), (0.5, true));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_parquet(
    run_dir: impl AsRef<Path>,
    w: impl Write + Send,
    sampling: &Sampling,
    progress: bool,
) -> Result<ExportStats, ExportError> {
    let run_dir = run_dir.as_ref();
    if sampling.is_active() {
        return export_parquet_merged(run_dir, w, sampling, progress);
    }
    let (mut log, len) = open_log(run_dir)?;
    let mut bar = Progress::new(progress, len.saturating_mul(2), FORMAT);

    // Pass 1: the keys and what their values were (a scalar's value is a float, whatever
    // it is, so scalar values are not decoded).
    log.skip_scalar_values();
    let mut found = FoundKeys::default();
    let mut slots = KeySlots::default();
    let mut seen = ScalarLayouts::default();
    let (mut stats, last_offset) = walk_items(log, len, &mut bar, None, |item, keys| {
        let rec = match item {
            Item::Scalars(s) => {
                // A key list this lane logged last needs no second look: its keys are Float already.
                if sampling.keeps_step(s.step) && !seen.is_last(s.lane, s.items) {
                    let found = &mut found;
                    seen.remember(s.lane, s.items, |id| {
                        let k = slots.slot(s.lane, id, keys, |name| found.index(name, sampling));
                        if let Some(k) = k {
                            found.widen(k, ColumnType::Float);
                        }
                        k
                    });
                }
                return Ok(());
            }
            Item::Record(rec) => rec,
        };
        let lane = rec.lane();
        let record = rec.record();
        if let RecordRef::KeyDef(def) = record {
            slots.forget(lane, def.id.to_native());
            seen.forget(lane);
            return Ok(());
        }
        if history_step(&record).is_none_or(|step| !sampling.keeps_step(step)) {
            return Ok(());
        }
        let mut see = |id: u32, ty: ColumnType| {
            if let Some(k) = slots.slot(lane, id, keys, |name| found.index(name, sampling)) {
                found.widen(k, ty);
            }
        };
        match record {
            RecordRef::Scalar1(s) => see(s.key.to_native(), ColumnType::Float),
            RecordRef::Scalars(s) => s.items.iter().for_each(|i| see(i.key.to_native(), ColumnType::Float)),
            RecordRef::History(h) => h.items.iter().for_each(|i| see(i.key.to_native(), archived_type(&i.value))),
            _ => {}
        }
        Ok(())
    })?;
    let columns = found.into_sorted();

    // Pass 2: the rows, up to where pass 1 ended.
    std::thread::scope(|scope| {
        let mut out = ParquetOut::new(scope, w, &columns, true)?;
        if let Some(limit) = last_offset {
            let (log, _) = open_log(run_dir)?;
            bar.base = len;
            let by_name: HashMap<&str, usize> = columns.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
            let mut slots = KeySlots::default();
            let selects = sampling.selects();
            let mut layouts = ScalarLayouts::default();
            walk_items(log, len, &mut bar, Some(limit), |item, keys| {
                let lookup = |name: &str| by_name.get(name).copied();
                let rec = match item {
                    Item::Scalars(s) if sampling.keeps_step(s.step) => {
                        let mut row = RowStart { step: s.step, lane: s.lane, ts_ns: s.ts_ns, row: None };
                        out.start_row_unless(&mut row, selects);
                        let columns = if layouts.is_last(s.lane, s.items) {
                            layouts.last(s.lane)
                        } else {
                            layouts.remember(s.lane, s.items, |id| slots.slot(s.lane, id, keys, lookup))
                        };
                        for (i, c) in s.items.iter().zip(columns) {
                            if let Some(c) = *c {
                                out.put_f64(&mut row, c, i.value);
                            }
                        }
                        return if row.row.is_some() { out.end_row() } else { Ok(()) };
                    }
                    Item::Scalars(_) => return Ok(()),
                    Item::Record(rec) => rec,
                };
                let lane = rec.lane();
                let record = rec.record();
                if let RecordRef::KeyDef(def) = record {
                    slots.forget(lane, def.id.to_native());
                    layouts.forget(lane);
                    return Ok(());
                }
                let Some(step) = history_step(&record).filter(|&step| sampling.keeps_step(step)) else { return Ok(()) };
                // With a key filter a row starts at its first kept value, so a row left with no
                // key is not written (as in JSONL); without one every history record is a row.
                let mut row = RowStart { step, lane, ts_ns: 0, row: None };
                match record {
                    RecordRef::Scalar1(s) => {
                        row.ts_ns = s.ts_ns.to_native();
                        out.start_row_unless(&mut row, selects);
                        if let Some(c) = slots.slot(lane, s.key.to_native(), keys, lookup) {
                            out.put(&mut row, c, Cell::F64(s.value.to_native()));
                        }
                    }
                    RecordRef::Scalars(s) => {
                        row.ts_ns = s.ts_ns.to_native();
                        out.start_row_unless(&mut row, selects);
                        for item in s.items.iter() {
                            if let Some(c) = slots.slot(lane, item.key.to_native(), keys, lookup) {
                                out.put(&mut row, c, Cell::F64(item.value.to_native()));
                            }
                        }
                    }
                    RecordRef::History(h) => {
                        row.ts_ns = h.ts_ns.to_native();
                        out.start_row_unless(&mut row, selects);
                        for item in h.items.iter() {
                            if let Some(c) = slots.slot(lane, item.key.to_native(), keys, lookup) {
                                out.put(&mut row, c, Cell::Archived(&item.value));
                            }
                        }
                    }
                    _ => {}
                }
                if row.row.is_some() { out.end_row() } else { Ok(()) }
            })?;
        }
        stats.rows = out.finish()?;
        bar.finish();
        Ok(stats)
    })
}

/// Parquet of the rows merged across lanes and downsampled (see [`export_parquet`]).
fn export_parquet_merged(
    run_dir: &Path,
    w: impl Write + Send,
    sampling: &Sampling,
    progress: bool,
) -> Result<ExportStats, ExportError> {
    let downsample = downsampling(run_dir, sampling)?;
    let (log, len) = open_log(run_dir)?;
    let mut bar = Progress::new(progress, len.saturating_mul(2), FORMAT);

    // Pass 1: the keys of the output rows (aggregates included) and what their values were.
    let mut found: BTreeMap<String, ColumnType> = BTreeMap::new();
    let mut collect = |row: MergedRow<WandbValue>| -> Result<(), ExportError> {
        for (key, value) in row.items {
            let ty = wandb_type(&value);
            found.entry(String::from(&*key)).and_modify(|t| *t = t.join(ty)).or_insert(ty);
        }
        Ok(())
    };
    let mut merged = MergedHistory::new(downsample).step_ordered().with_selection(sampling);
    let (mut stats, last_offset) =
        crate::export::step_order_walk::walk_in_step_order(log, len, &mut bar, None, |item, keys| {
            merged.observe_item(item, keys, &mut collect)
        })?;
    stats.late_rows = merged.late_rows();
    merged.finish(&mut collect)?;
    let columns: Vec<(String, ColumnType)> = found.into_iter().collect();

    // Pass 2: the same rows, up to where pass 1 ended.
    std::thread::scope(|scope| {
        let mut out = ParquetOut::new(scope, w, &columns, false)?;
        if let Some(limit) = last_offset {
            let (log, _) = open_log(run_dir)?;
            bar.base = len;
            let by_name: HashMap<&str, usize> = columns.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
            let mut write = |row: MergedRow<WandbValue>| -> Result<(), ExportError> {
                let r = out.batch.start_row(row.step, row.timestamp_unix_ns, 0);
                for (key, value) in &row.items {
                    // Every key was seen in pass 1, which read the same records.
                    if let Some(&c) = by_name.get(&**key) {
                        out.batch.put(c, r, Cell::Wandb(value));
                    }
                }
                out.end_row()
            };
            let mut merged = MergedHistory::new(downsample).step_ordered().with_selection(sampling);
            crate::export::step_order_walk::walk_in_step_order(log, len, &mut bar, Some(limit), |item, keys| {
                merged.observe_item(item, keys, &mut write)
            })?;
            merged.finish(&mut write)?;
        }
        stats.rows = out.finish()?;
        bar.finish();
        warn_late_rows(&stats);
        Ok(stats)
    })
}

/// The step of a history record; `None` for other records.
fn history_step(record: &RecordRef<'_>) -> Option<i64> {
    match record {
        RecordRef::Scalar1(s) => Some(s.step.to_native()),
        RecordRef::Scalars(s) => Some(s.step.to_native()),
        RecordRef::History(h) => Some(h.step.to_native()),
        _ => None,
    }
}

/// A history record's row fields, and its row in the batch once started.
struct RowStart {
    step: i64,
    lane: u16,
    ts_ns: u64,
    row: Option<usize>,
}

/// The Parquet type of a key's column, from every value the export writes for the key.
///
/// Types only widen as values come: [`join`](Self::join) is the least type that holds both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    /// Only integers: Int64.
    Int,
    /// Only floats, or floats and integers: Float64.
    Float,
    /// Only strings: Utf8, each string as it is.
    Text,
    /// Anything else: Utf8, each value's JSONL text.
    Json,
}

impl ColumnType {
    /// The least type that holds values of both `self` and `other`.
    fn join(self, other: Self) -> Self {
        use ColumnType::{Float, Int, Json};
        match (self, other) {
            (a, b) if a == b => a,
            (Int | Float, Int | Float) => Float,
            _ => Json,
        }
    }

    /// The Arrow type of the column.
    fn data_type(self) -> DataType {
        match self {
            Self::Int => DataType::Int64,
            Self::Float => DataType::Float64,
            Self::Text | Self::Json => DataType::Utf8,
        }
    }
}

/// The column type a logged value needs on its own.
fn archived_type(v: &ArchivedValue) -> ColumnType {
    match v {
        ArchivedValue::F64(_) => ColumnType::Float,
        ArchivedValue::I64(_) => ColumnType::Int,
        ArchivedValue::Str(_) => ColumnType::Text,
        ArchivedValue::Bool(_) | ArchivedValue::F32Array(_) | ArchivedValue::Json(_) => ColumnType::Json,
    }
}

/// The column type a merged (downsampled) value needs on its own.
fn wandb_type(v: &WandbValue) -> ColumnType {
    match v {
        WandbValue::F64(_) => ColumnType::Float,
        WandbValue::I64(_) => ColumnType::Int,
        WandbValue::Str(_) => ColumnType::Text,
        WandbValue::Bool(_) | WandbValue::F32Array(_) | WandbValue::Json(_) => ColumnType::Json,
    }
}

/// The keys pass 1 found, in the order first seen, with their column types.
#[derive(Default)]
struct FoundKeys {
    by_name: HashMap<Box<str>, usize>,
    names: Vec<Box<str>>,
    /// `types[i]` is the join of the types of every value of `names[i]` so far (`None`
    /// until the first value).
    types: Vec<Option<ColumnType>>,
}

impl FoundKeys {
    /// The index of key `name`, added if new; `None` for a key `sampling` leaves out or a
    /// reserved name (a key named `_step`, `_timestamp` or `_lane` is shadowed by the row's
    /// own field).
    fn index(&mut self, name: &str, sampling: &Sampling) -> Option<usize> {
        if [STEP_FIELD, TIMESTAMP_FIELD, LANE_FIELD].contains(&name) || !sampling.keeps_key(name) {
            return None;
        }
        if let Some(&i) = self.by_name.get(name) {
            return Some(i);
        }
        let i = self.names.len();
        self.by_name.insert(name.into(), i);
        self.names.push(name.into());
        self.types.push(None);
        Some(i)
    }

    /// Notes a value of type `ty` for key `i`.
    fn widen(&mut self, i: usize, ty: ColumnType) {
        let t = &mut self.types[i];
        *t = Some(t.map_or(ty, |t| t.join(ty)));
    }

    /// The key columns, sorted by name.
    fn into_sorted(self) -> Vec<(String, ColumnType)> {
        let mut columns: Vec<(String, ColumnType)> =
            // Every key is found through a value, so its type is known.
            self.names.into_iter().map(String::from).zip(self.types.into_iter().map(|t| t.unwrap_or(ColumnType::Json))).collect();
        columns.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        columns
    }
}

/// Key ids below this are cached in [`KeySlots`]'s dense table (as in [`KeyTable`]).
const DENSE_IDS: u32 = 1 << 16;
/// [`KeySlots`] code: not looked up since the key was (re)defined.
const SLOT_UNKNOWN: u32 = 0;
/// [`KeySlots`] code: the key is left out.
const SLOT_NONE: u32 = 1;

/// `(lane, key id)` → column, cached: resolving a key name and looking it up for each of tens
/// of millions of values would cost more than the rest of the export.
#[derive(Default)]
struct KeySlots {
    /// `[lane][id]`: [`SLOT_UNKNOWN`], [`SLOT_NONE`], or `column + 2`.
    dense: Vec<Vec<u32>>,
}

impl KeySlots {
    /// The column of key `id` of `lane`, found by `lookup` of its name (resolved by `keys`)
    /// the first time and cached until [`forget`](Self::forget).
    fn slot(
        &mut self,
        lane: u16,
        id: u32,
        keys: &KeyTable,
        mut lookup: impl FnMut(&str) -> Option<usize>,
    ) -> Option<usize> {
        if id >= DENSE_IDS {
            return lookup(&keys.resolve(lane, id));
        }
        let (l, k) = (usize::from(lane), id as usize);
        if let Some(&code) = self.dense.get(l).and_then(|ids| ids.get(k))
            && code != SLOT_UNKNOWN
        {
            return code.checked_sub(2).map(|c| c as usize);
        }
        let found = lookup(&keys.resolve(lane, id));
        if self.dense.len() <= l {
            self.dense.resize_with(l + 1, Vec::new);
        }
        let ids = &mut self.dense[l];
        if ids.len() <= k {
            ids.resize(k + 1, SLOT_UNKNOWN);
        }
        // A column index fits: there are fewer columns than (lane, id) pairs, each below 2^16 × 2^16.
        ids[k] = found.map_or(SLOT_NONE, |c| u32::try_from(c).map_or(SLOT_NONE, |c| c.saturating_add(2)));
        found
    }

    /// Forgets the column of key `id` of `lane`: the lane (re)defined that id.
    fn forget(&mut self, lane: u16, id: u32) {
        if let Some(code) = self.dense.get_mut(usize::from(lane)).and_then(|ids| ids.get_mut(id as usize)) {
            *code = SLOT_UNKNOWN;
        }
    }
}

/// Per lane, the key ids of the scalar record it logged last and their columns: a run
/// logs the same keys step after step, so a record is matched to its columns by comparing
/// its ids with the last list instead of looking up every key.
#[derive(Default)]
struct ScalarLayouts {
    /// `[lane]`: the ids and, for each, its column (`None`: left out).
    lanes: Vec<(Vec<u32>, Vec<Option<usize>>)>,
}

impl ScalarLayouts {
    /// Whether `items` have the ids of the list `lane` logged last.
    fn is_last(&self, lane: u16, items: &[ScalarItem]) -> bool {
        self.lanes
            .get(usize::from(lane))
            .is_some_and(|(ids, _)| ids.len() == items.len() && ids.iter().zip(items).all(|(&id, i)| id == i.key))
    }

    /// The columns of the list `lane` logged last.
    fn last(&self, lane: u16) -> &[Option<usize>] {
        self.lanes.get(usize::from(lane)).map_or(&[], |(_, columns)| columns)
    }

    /// Makes `items`' ids the list `lane` logged last, with `column` of each id; returns
    /// the columns.
    fn remember(
        &mut self,
        lane: u16,
        items: &[ScalarItem],
        mut column: impl FnMut(u32) -> Option<usize>,
    ) -> &[Option<usize>] {
        let l = usize::from(lane);
        if self.lanes.len() <= l {
            self.lanes.resize_with(l + 1, Default::default);
        }
        let (ids, columns) = &mut self.lanes[l];
        ids.clear();
        columns.clear();
        for item in items {
            ids.push(item.key);
            columns.push(column(item.key));
        }
        columns
    }

    /// Forgets `lane`'s list: the lane (re)defined a key, which may move it to another column.
    fn forget(&mut self, lane: u16) {
        if let Some((ids, columns)) = self.lanes.get_mut(usize::from(lane)) {
            ids.clear();
            columns.clear();
        }
    }
}

/// One value to put into a row.
enum Cell<'a> {
    /// A float of a `Scalar1` or `Scalars` record.
    F64(f64),
    /// A value of a `History` record.
    Archived(&'a ArchivedValue),
    /// A value of a merged row.
    Wandb(&'a WandbValue),
}

impl Cell<'_> {
    /// The value as a float, if it is a number.
    fn as_f64(&self) -> Option<f64> {
        match self {
            Self::F64(x) => Some(*x),
            Self::Archived(ArchivedValue::F64(x)) => Some(x.to_native()),
            Self::Archived(ArchivedValue::I64(x)) => Some(x.to_native() as f64),
            Self::Wandb(WandbValue::F64(x)) => Some(*x),
            Self::Wandb(WandbValue::I64(x)) => Some(*x as f64),
            _ => None,
        }
    }

    /// The value as an integer, if it is one.
    fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Archived(ArchivedValue::I64(x)) => Some(x.to_native()),
            Self::Wandb(WandbValue::I64(x)) => Some(*x),
            _ => None,
        }
    }

    /// The value as a [`ColumnType::Text`] cell, if it is a string.
    fn as_str(&self) -> Option<&str> {
        match self {
            Self::Archived(ArchivedValue::Str(s)) => Some(s.as_str()),
            Self::Wandb(WandbValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The value's JSONL text (a [`ColumnType::Json`] cell).
    fn json_text(&self) -> String {
        match self {
            Self::F64(x) => f64_json(*x).to_string(),
            Self::Archived(v) => value_json(v).to_string(),
            Self::Wandb(v) => wandb_value_json(v).to_string(),
        }
    }
}

/// The values of one key column in the batch being built.
enum ColumnBuilder {
    Int(Int64Builder),
    Float(Float64Builder),
    /// Text or JSON text; a vector (not a `StringBuilder`) so a key given twice in one record
    /// can keep its last value.
    Utf8(Vec<Option<String>>),
}

impl ColumnBuilder {
    fn new(ty: ColumnType, rows: usize) -> Self {
        match ty {
            ColumnType::Int => Self::Int(Int64Builder::with_capacity(rows)),
            ColumnType::Float => Self::Float(Float64Builder::with_capacity(rows)),
            ColumnType::Text | ColumnType::Json => Self::Utf8(Vec::with_capacity(rows)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Int(b) => b.len(),
            Self::Float(b) => b.len(),
            Self::Utf8(v) => v.len(),
        }
    }

    /// Pads the column with nulls up to `rows` values.
    fn pad(&mut self, rows: usize) {
        let missing = rows.saturating_sub(self.len());
        match self {
            Self::Int(b) => b.append_nulls(missing),
            Self::Float(b) => b.append_nulls(missing),
            Self::Utf8(v) => v.resize(rows.max(v.len()), None),
        }
    }

    /// The column as an array; the builder is left empty.
    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Int(b) => Arc::new(b.finish()),
            Self::Float(b) => Arc::new(b.finish()),
            Self::Utf8(v) => Arc::new(v.drain(..).collect::<StringArray>()),
        }
    }
}

/// The record batch being built: the row fields and one builder per key column.
struct BatchBuilder {
    steps: Vec<i64>,
    timestamps: Vec<f64>,
    /// Empty without a `_lane` column (merged rows).
    lanes: Vec<i32>,
    with_lane: bool,
    columns: Vec<ColumnBuilder>,
    /// Whether column `i` holds JSON text (else strings as they are, when Utf8).
    json: Vec<bool>,
    /// Rows per batch.
    capacity: usize,
}

impl BatchBuilder {
    /// Starts a row; returns its index in the batch.
    fn start_row(&mut self, step: i64, ts_ns: u64, lane: u16) -> usize {
        let row = self.steps.len();
        self.steps.push(step);
        self.timestamps.push(ts_ns as f64 / 1e9);
        if self.with_lane {
            self.lanes.push(i32::from(lane));
        }
        row
    }

    /// Sets column `c` of row `row` (the row started last) to `value`; a second value for the
    /// same cell replaces the first, as the JSONL export keeps a key's last value in a record.
    fn put(&mut self, c: usize, row: usize, value: Cell<'_>) {
        let json = self.json[c];
        let col = &mut self.columns[c];
        col.pad(row);
        let again = col.len() > row;
        match col {
            ColumnBuilder::Float(b) => {
                // Pass 1 saw this value, so the column is Float64 only if it is a number.
                let Some(x) = value.as_f64() else { return };
                if again {
                    b.values_slice_mut()[row] = x;
                } else {
                    b.append_value(x);
                }
            }
            ColumnBuilder::Int(b) => {
                let Some(x) = value.as_i64() else { return };
                if again {
                    b.values_slice_mut()[row] = x;
                } else {
                    b.append_value(x);
                }
            }
            ColumnBuilder::Utf8(v) => {
                let text = match value.as_str() {
                    Some(s) if !json => s.to_owned(),
                    _ => value.json_text(),
                };
                if again {
                    v[row] = Some(text);
                } else {
                    v.push(Some(text));
                }
            }
        }
    }

    /// [`put`](Self::put) of a float; without a detour when it is the column's next value.
    fn put_f64(&mut self, c: usize, row: usize, x: f64) {
        if let ColumnBuilder::Float(b) = &mut self.columns[c]
            && b.len() == row
        {
            b.append_value(x);
            return;
        }
        self.put(c, row, Cell::F64(x));
    }

    fn rows(&self) -> usize {
        self.steps.len()
    }

    /// The rows so far as a record batch of `schema`; the builder is left empty.
    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch, ExportError> {
        let rows = self.rows();
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len() + 3);
        arrays.push(Arc::new(Int64Array::from(std::mem::replace(&mut self.steps, Vec::with_capacity(self.capacity)))));
        arrays.push(Arc::new(Float64Array::from(std::mem::replace(
            &mut self.timestamps,
            Vec::with_capacity(self.capacity),
        ))));
        if self.with_lane {
            arrays.push(Arc::new(Int32Array::from(std::mem::replace(
                &mut self.lanes,
                Vec::with_capacity(self.capacity),
            ))));
        }
        for col in &mut self.columns {
            col.pad(rows);
            arrays.push(col.finish());
        }
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| write_error(io::Error::other(e)))
    }
}

/// What the batch-building thread sends the Parquet writer's thread.
enum ToWriter {
    Batch(RecordBatch),
    /// Every batch is sent: write the footer and flush. Without it (the export failed)
    /// the writer stops without a footer, so a partial file does not read as whole.
    Finish,
}

/// Record batches in flight to the writer's thread besides the one it is encoding.
const BATCHES_IN_FLIGHT: usize = 1;

/// The batch being built, and the Parquet writer on a thread of its own: encoding and
/// compressing the columns costs about as much as reading the log and filling them, so
/// the two run side by side. Memory: at most [`BATCHES_IN_FLIGHT`] + 2 batches.
struct ParquetOut<'scope> {
    to_writer: SyncSender<ToWriter>,
    /// `None` once joined.
    writer: Option<ScopedJoinHandle<'scope, Result<(), ExportError>>>,
    schema: SchemaRef,
    batch: BatchBuilder,
    rows: u64,
}

impl<'scope> ParquetOut<'scope> {
    /// A writer of `columns` (after `_step`, `_timestamp` and, `with_lane`, `_lane`) to `w`,
    /// writing on a thread of `scope`.
    fn new<'env, W: Write + Send + 'scope>(
        scope: &'scope Scope<'scope, 'env>,
        w: W,
        columns: &[(String, ColumnType)],
        with_lane: bool,
    ) -> Result<Self, ExportError> {
        let mut fields =
            vec![Field::new(STEP_FIELD, DataType::Int64, false), Field::new(TIMESTAMP_FIELD, DataType::Float64, false)];
        if with_lane {
            fields.push(Field::new(LANE_FIELD, DataType::Int32, false));
        }
        fields.extend(columns.iter().map(|(name, ty)| Field::new(name, ty.data_type(), true)));
        let schema = Arc::new(Schema::new(fields));
        // Dictionary encoding only for text: a float or integer dictionary costs a hash per
        // value and rarely pays off for metrics, whose values seldom repeat.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_enabled(false)
            .set_created_by(format!("ringlog {}", env!("CARGO_PKG_VERSION")));
        for (name, ty) in columns {
            if ty.data_type() == DataType::Utf8 {
                props = props.set_column_dictionary_enabled(ColumnPath::from(name.as_str()), true);
            }
        }
        let props = props.build();
        let mut writer = ArrowWriter::try_new(w, schema.clone(), Some(props)).map_err(parquet_error)?;
        let (to_writer, batches) = sync_channel(BATCHES_IN_FLIGHT);
        let writer = std::thread::Builder::new()
            .name("parquet-writer".into())
            .spawn_scoped(scope, move || {
                for msg in batches {
                    match msg {
                        ToWriter::Batch(batch) => writer.write(&batch).map_err(parquet_error)?,
                        ToWriter::Finish => {
                            let mut w = writer.into_inner().map_err(parquet_error)?;
                            return w.flush().map_err(write_error);
                        }
                    }
                }
                Ok(())
            })
            .map_err(write_error)?;
        let capacity = (BATCH_CELLS / columns.len().max(1)).clamp(MIN_BATCH_ROWS, BATCH_ROWS);
        let batch = BatchBuilder {
            steps: Vec::with_capacity(capacity),
            timestamps: Vec::with_capacity(capacity),
            lanes: Vec::with_capacity(if with_lane { capacity } else { 0 }),
            with_lane,
            columns: columns.iter().map(|(_, ty)| ColumnBuilder::new(*ty, capacity)).collect(),
            json: columns.iter().map(|(_, ty)| *ty == ColumnType::Json).collect(),
            capacity,
        };
        Ok(Self { to_writer, writer: Some(writer), schema, batch, rows: 0 })
    }

    /// Starts `row` now, unless `lazy` (then [`put`](Self::put) starts it).
    fn start_row_unless(&mut self, row: &mut RowStart, lazy: bool) {
        if !lazy {
            row.row = Some(self.batch.start_row(row.step, row.ts_ns, row.lane));
        }
    }

    /// Puts `value` into column `c` of `row`, starting the row if it is not yet.
    fn put(&mut self, row: &mut RowStart, c: usize, value: Cell<'_>) {
        let r = *row.row.get_or_insert_with(|| self.batch.start_row(row.step, row.ts_ns, row.lane));
        self.batch.put(c, r, value);
    }

    /// [`put`](Self::put) of a float.
    fn put_f64(&mut self, row: &mut RowStart, c: usize, x: f64) {
        let r = *row.row.get_or_insert_with(|| self.batch.start_row(row.step, row.ts_ns, row.lane));
        self.batch.put_f64(c, r, x);
    }

    /// Ends the row started last; sends the batch to the writer when it is full.
    fn end_row(&mut self) -> Result<(), ExportError> {
        self.rows += 1;
        if self.batch.rows() >= self.batch.capacity { self.write_batch() } else { Ok(()) }
    }

    fn write_batch(&mut self) -> Result<(), ExportError> {
        if self.batch.rows() == 0 {
            return Ok(());
        }
        let batch = self.batch.finish(&self.schema)?;
        self.send(ToWriter::Batch(batch))
    }

    /// Sends `msg` to the writer; if it has stopped, its error.
    fn send(&mut self, msg: ToWriter) -> Result<(), ExportError> {
        if self.to_writer.send(msg).is_ok() {
            return Ok(());
        }
        // The writer only stops early on an error.
        Err(self.join_writer().err().unwrap_or_else(|| write_error(io::Error::other("the Parquet writer stopped"))))
    }

    /// Waits for the writer's thread to end; its error, if it had one.
    fn join_writer(&mut self) -> Result<(), ExportError> {
        match self.writer.take() {
            Some(writer) => writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Ok(()),
        }
    }

    /// Writes the last rows and the file footer, flushes; returns the rows written.
    fn finish(mut self) -> Result<u64, ExportError> {
        self.write_batch()?;
        self.send(ToWriter::Finish)?;
        self.join_writer()?;
        Ok(self.rows)
    }
}

fn write_error(source: io::Error) -> ExportError {
    ExportError::Write { format: FORMAT, source }
}

/// A Parquet writer error as [`ExportError::Write`], keeping the I/O error inside it as
/// itself (so a closed pipe stays recognizable as one).
fn parquet_error(e: ParquetError) -> ExportError {
    let source = match e {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        other => io::Error::other(other),
    };
    write_error(source)
}
