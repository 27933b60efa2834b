//! The exports' walk over a run log that leaves compact scalar records decoded.
//!
//! [`walk_with`](crate::export::exporters::walk_with) hands every record to its
//! visitor as a [`LogRecord`], which for a compact scalar means rebuilding the
//! archive the producer wrote. The exports that write most of a run's rows
//! (plain JSONL and Parquet, the W&B export) read the scalars straight from the
//! block decoder instead ([`Item::Scalars`]): on the compare bench's data that
//! halves the cost of reading the log.

use std::ops::ControlFlow;

use crate::export::exporters::{ExportError, ExportStats, Progress};
use crate::export::key_table::KeyTable;
use crate::runlog::format::RunLogError;
use crate::runlog::reader::{Entry, LogRecord, RunLog, ScalarsEntry};

/// A valid record, as [`walk_items_with`] hands it to its visitor.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'a> {
    /// A compact `Scalar1` or `Scalars` record.
    Scalars(ScalarsEntry<'a>),
    /// Any other record.
    Record(&'a LogRecord),
}

/// [`walk_items_with`] over the whole of `log`, with no key names known at the start.
pub(crate) fn walk_items(
    mut log: RunLog,
    len: u64,
    bar: &mut Progress,
    limit: Option<u64>,
    visit: impl FnMut(Item<'_>, &KeyTable) -> Result<(), ExportError>,
) -> Result<(ExportStats, Option<u64>), ExportError> {
    walk_items_with(&mut log, len, &mut KeyTable::new(), bar, limit, visit)
}

/// Reads `log` once, handing each valid record to `visit` after `keys` has seen
/// it (key definitions are always [`Item::Record`]s). With `limit`, stops at the
/// first item past that file offset. Damaged regions and rejected records are
/// counted in the stats; an I/O error ends the walk with an error.
///
/// Returns the stats (without `rows`) and the file offset of the last item read,
/// which a second pass gives as `limit` to see exactly the same items.
pub(crate) fn walk_items_with(
    log: &mut RunLog,
    len: u64,
    keys: &mut KeyTable,
    bar: &mut Progress,
    limit: Option<u64>,
    mut visit: impl FnMut(Item<'_>, &KeyTable) -> Result<(), ExportError>,
) -> Result<(ExportStats, Option<u64>), ExportError> {
    let mut stats = ExportStats { log_bytes: len, ..ExportStats::default() };
    let mut last_offset = None;
    let mut stopped = false;
    let flow = log.try_for_each_entry(|entry| {
        let offset = match &entry {
            Entry::Scalars(s) => Some(s.offset),
            Entry::Record(r) => Some(r.offset()),
            Entry::Error(e) => frame_error_offset(e),
        };
        if let (Some(limit), Some(offset)) = (limit, offset)
            && offset > limit
        {
            stopped = true;
            return ControlFlow::Break(Ok(()));
        }
        last_offset = offset.or(last_offset);
        let done = match entry {
            Entry::Scalars(s) => {
                stats.records += 1;
                visit(Item::Scalars(s), keys)
            }
            Entry::Record(rec) => {
                stats.records += 1;
                keys.observe(rec.lane(), &rec.record());
                visit(Item::Record(rec), keys)
            }
            Entry::Error(e) => stats.note_read_error(*e, true),
        };
        if let Some(offset) = offset {
            bar.at(offset);
        }
        match done {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(Err(e)),
        }
    });
    if let ControlFlow::Break(Err(e)) = flow {
        return Err(e);
    }
    if !stopped {
        stats.torn_tail_bytes = log.torn_tail_bytes();
    }
    stats.bytes_read = log.bytes_read();
    Ok((stats, last_offset))
}

/// File offset of a per-frame reader error; `None` for other errors.
pub(crate) fn frame_error_offset(e: &RunLogError) -> Option<u64> {
    match e {
        RunLogError::CorruptFrame { offset, .. }
        | RunLogError::UnknownKind { offset, .. }
        | RunLogError::InvalidRecord { offset, .. } => Some(*offset),
        _ => None,
    }
}
