//! Reads a run log lane by lane in step order, for the exports that merge lanes
//! into one row per step (W&B, and any sampled export).
//!
//! The log orders records per lane only, and lanes can drift apart without
//! bound: processes that do not step in lockstep (the demo's workers, a rank
//! that attached late, a rank the scheduler starved) put one lane's step 1,000
//! after another lane's step 100,000. Read in log order, such rows fall behind
//! [`MergedHistory`](crate::MergedHistory)'s bounded reorder window and are
//! dropped as late. Here one reader per lane walks the file and the walk
//! always advances the lane whose next history record has the lowest step, so
//! rows reach the merger in step order and none is late unless a lane itself
//! went back to an earlier step. Records without a step (key definitions,
//! config, output, stats) flow with their lane.
//!
//! Cost: a first pass finds the lanes from the block headers (a version-1 log
//! is decoded for it), then each lane's reader decodes the whole file (about
//! 5 M records/s each), so a run of L lanes is decoded L times. Memory: one
//! record per lane. A log of one lane is decoded once, as [`walk_items`] does.

use ringlog_ring::record::schema::RecordRef;

use crate::export::exporters::{ExportError, ExportStats, Progress};
use crate::export::key_table::KeyTable;
use crate::export::log_walk::{Item, walk_items};
use crate::runlog::reader::{LogRecord, RunLog};

/// One lane's reader and its next record.
struct Cursor {
    log: RunLog,
    lane: u16,
    next: Option<LogRecord>,
    /// Step of the lane's last history record (records without a step sort here).
    last_step: i64,
    done: bool,
}

/// The step a record sorts by: its own for history, else its lane's last.
fn sort_step(rec: &LogRecord, last_step: i64) -> i64 {
    match rec.record() {
        RecordRef::Scalar1(s) => s.step.to_native(),
        RecordRef::Scalars(s) => s.step.to_native(),
        RecordRef::History(h) => h.step.to_native(),
        _ => last_step,
    }
}

/// [`walk`] in step order across lanes (see the module docs): `visit` sees every
/// valid record once, after `KeyTable` has seen it; with `limit`, a lane stops
/// at its first item past that file offset. Damaged regions and rejected records
/// are counted once (by the first lane's reader, which reads the same bytes as
/// the others). Returns the stats and the largest file offset visited.
pub(crate) fn walk_in_step_order(
    log: RunLog,
    len: u64,
    bar: &mut Progress,
    limit: Option<u64>,
    mut visit: impl FnMut(Item<'_>, &KeyTable) -> Result<(), ExportError>,
) -> Result<(ExportStats, Option<u64>), ExportError> {
    let path = log.path().to_owned();
    let lanes = RunLog::lanes(&path, limit)?;
    if lanes.len() <= 1 {
        return walk_items(log, len, bar, limit, visit);
    }
    drop(log);
    let mut cursors = Vec::with_capacity(lanes.len());
    for lane in lanes {
        cursors.push(Cursor { log: RunLog::open(&path)?, lane, next: None, last_step: i64::MIN, done: false });
    }
    let mut stats = ExportStats { log_bytes: len, ..ExportStats::default() };
    let mut keys = KeyTable::new();
    let mut last_offset: Option<u64> = None;
    loop {
        for (i, c) in cursors.iter_mut().enumerate() {
            if c.next.is_none() && !c.done {
                c.next = advance(c, i == 0, limit, &mut stats)?;
                c.done = c.next.is_none();
            }
        }
        let pick = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.next.as_ref().map(|r| ((sort_step(r, c.last_step), c.lane), i)))
            .min()
            .map(|(_, i)| i);
        let Some(i) = pick else { break };
        let c = &mut cursors[i];
        let rec = c.next.take().expect("picked a cursor with a record");
        c.last_step = sort_step(&rec, c.last_step);
        stats.records += 1;
        keys.observe(rec.lane(), &rec.record());
        visit(Item::Record(&rec), &keys)?;
        last_offset = Some(last_offset.map_or(rec.offset(), |o| o.max(rec.offset())));
        bar.at(last_offset.unwrap_or(0));
    }
    stats.torn_tail_bytes = cursors[0].log.torn_tail_bytes();
    stats.bytes_read = cursors.iter().map(|c| c.log.bytes_read()).sum();
    Ok((stats, last_offset))
}

/// The cursor's next record of its lane, or `None` at the end (or past `limit`).
/// Only the `counting` cursor counts damage, so each region counts once.
fn advance(
    c: &mut Cursor,
    counting: bool,
    limit: Option<u64>,
    stats: &mut ExportStats,
) -> Result<Option<LogRecord>, ExportError> {
    for item in c.log.by_ref() {
        match item {
            Ok(rec) => {
                if limit.is_some_and(|l| rec.offset() > l) {
                    return Ok(None);
                }
                if rec.lane() == c.lane {
                    return Ok(Some(rec));
                }
            }
            Err(e) => stats.note_read_error(e, counting)?,
        }
    }
    Ok(None)
}
