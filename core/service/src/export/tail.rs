//! The last rows of a run (`ringlog tail`), and following a live run
//! (`ringlog tail -f`).
//!
//! On a version-2 run log the sparse index gives every key name and where
//! the last groups of blocks start, so `tail -n` reads the end of the log
//! only (going further back until it has `n` rows), whatever the run's
//! length. A version-1 log is read from the start.
//!
//! Following re-opens the log where the last read ended (the end of its last
//! intact block) every poll interval and prints the rows appended since, and
//! ends once the run is no longer running (its `run.json` says finished,
//! crashed, ...) and the log holds nothing new.

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::export::exporters::{ExportError, ExportStats, Progress, open_log, select_row, walk_with};
use crate::export::key_table::KeyTable;
use crate::export::record_json::{Row, is_history, row};
use crate::export::sampling::Sampling;
use crate::runlog::format::RUN_LOG_VERSION;
use crate::runlog::index::RunIndex;
use crate::runlog::reader::{LogRecord, RunLog};
use crate::runlog::run_meta::{RUN_LOG_FILE, RunMeta};
use ringlog_ring::record::schema::RecordKind;

/// Most rows a tail reserves room for up front (it grows to `n` as needed).
const TAIL_PREALLOC: usize = 1024;

/// What [`tail_with`] read.
#[derive(Debug)]
pub struct Tail {
    /// The last rows, oldest first.
    pub rows: Vec<Row>,
    /// What the read found (damage, bytes read).
    pub stats: ExportStats,
    /// Every key name known at the end (to continue reading after `end`).
    pub keys: KeyTable,
    /// File offset just past the last intact block read.
    pub end: u64,
}

/// The last `n` rows (history rows and output lines) of the run in `run_dir`
/// that `sampling`'s `keys` and `steps` keep, in log order.
///
/// # Errors
/// [`ExportError::NoRunLog`], or [`ExportError::RunLog`] if the log cannot be
/// read. Damaged blocks are skipped and counted.
///
/// # Examples
/// ```
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter, Sampling};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-tail-with-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// # let run = HeapRun::new(1 << 16, 1).unwrap();
/// # let mut p = run.claim(0, Default::default())?;
/// # let (loss, acc) = (p.key("loss")?, p.key("acc")?);
/// # for step in 0..10 { p.log_scalar1(step, loss, 0.5)?; p.log_scalar1(step, acc, 0.9)?; }
/// # let mut c = run.consumer()?;
/// # let mut batch = Batch::new(1 << 16);
/// # c.drain(&mut batch);
/// # RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
/// // `dir` holds a run that logged loss and acc at steps 0 to 9.
/// let only_acc = Sampling { keys: Some(vec!["acc".into()]), ..Default::default() };
/// let t = ringlog_service::tail_with(&dir, 2, &only_acc)?;
/// assert_eq!(t.rows.iter().map(|r| r.step.unwrap()).collect::<Vec<_>>(), [8, 9]);
/// assert!(t.rows.iter().all(|r| r.values.contains_key("acc") && !r.values.contains_key("loss")));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tail_with(run_dir: impl AsRef<Path>, n: usize, sampling: &Sampling) -> Result<Tail, ExportError> {
    let run_dir = run_dir.as_ref();
    let (log, len) = open_log(run_dir)?;
    if log.header().version != RUN_LOG_VERSION {
        return tail_from(log, len, KeyTable::new(), n, sampling, &|| Ok(open_log(run_dir)?.0));
    }
    drop(log);
    let path = run_dir.join(RUN_LOG_FILE);
    let index = RunIndex::load_or_rebuild(&path)?;
    // Start after the last group, then one group back, then twice as many...
    let mut back = 0usize;
    loop {
        let start = index
            .groups
            .len()
            .checked_sub(back)
            .map_or(index.blocks_at, |i| index.groups.get(i).map_or(index.covered_end(), |g| g.offset));
        let reopen = || Ok(RunLog::open_at(&path, start)?);
        // The names defined before `start`, in log order (a lane may redefine an id later).
        let mut t = tail_from(reopen()?, len, index.keys_before(start), n, sampling, &reopen)?;
        if t.rows.len() >= n || start <= index.blocks_at {
            t.stats.log_bytes = len;
            return Ok(t);
        }
        back = (back * 2).max(1);
    }
}

/// The last `n` selected rows of `log`, read from where it was opened, with `keys` known before;
/// `reopen` opens the log at the same place again.
///
/// Without a selection, the read keeps the last `n` records that make rows and builds rows
/// for those alone, with the key names as of the end: `watch` reads a live run's tail four
/// times a second, and building a row for every record of the region cost it a tenth of a
/// core at 3 M steps/s. If a key was defined again after the first kept record (a lane's new
/// producer reusing an id), the names could differ along the way, so the read is done again
/// the exact way, building rows as it goes.
fn tail_from(
    mut log: RunLog,
    len: u64,
    mut keys: KeyTable,
    n: usize,
    sampling: &Sampling,
    reopen: &dyn Fn() -> Result<RunLog, ExportError>,
) -> Result<Tail, ExportError> {
    let makes_row = |kind: RecordKind| is_history(kind) || kind == RecordKind::Output;
    if n > 0 && !sampling.selects() {
        let mut end_keys = keys.clone();
        let mut kept: VecDeque<LogRecord> = VecDeque::with_capacity(n.min(TAIL_PREALLOC));
        let mut last_key_def = None;
        let (stats, _) = walk_with(&mut log, len, &mut end_keys, &mut Progress::new(false, 0, ""), None, |rec, _| {
            if rec.kind() == RecordKind::KeyDef {
                last_key_def = Some(rec.offset());
            } else if makes_row(rec.kind()) {
                if kept.len() == n {
                    kept.pop_front();
                }
                kept.push_back(rec.clone());
            }
            Ok(())
        })?;
        let names_settled = match (last_key_def, kept.front()) {
            (Some(def), Some(first)) => def < first.offset(),
            _ => true,
        };
        if names_settled {
            let rows = kept.iter().filter_map(|r| row(r.lane(), &r.record(), &end_keys)).collect();
            return Ok(Tail { rows, stats, keys: end_keys, end: log.good_end() });
        }
        log = reopen()?;
    }
    let mut last: VecDeque<Row> = VecDeque::with_capacity(n.min(TAIL_PREALLOC));
    let (stats, _) = walk_with(&mut log, len, &mut keys, &mut Progress::new(false, 0, ""), None, |rec, keys| {
        if n > 0
            && makes_row(rec.kind())
            && let Some(r) = row(rec.lane(), &rec.record(), keys).and_then(|r| select_row(r, sampling))
        {
            if last.len() == n {
                last.pop_front();
            }
            last.push_back(r);
        }
        Ok(())
    })?;
    Ok(Tail { rows: last.into(), stats, keys, end: log.good_end() })
}

/// Prints the last `n` rows of the run in `run_dir` with `emit`, then every
/// row appended after them, polling every `poll`, until the run is no longer
/// running and nothing new came, or `stop` returns true. Returns what the
/// reads found.
///
/// # Errors
/// As [`tail_with`], and whatever `emit` returns (a closed pipe ends it).
///
/// # Examples
/// ```
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter, Sampling};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-follow-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// # let run = HeapRun::new(1 << 16, 1).unwrap();
/// # let mut p = run.claim(0, Default::default())?;
/// # let loss = p.key("loss")?;
/// # for step in 0..3 { p.log_scalar1(step, loss, 0.5)?; }
/// # let mut c = run.consumer()?;
/// # let mut batch = Batch::new(1 << 16);
/// # c.drain(&mut batch);
/// # RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
/// // `dir` holds a run with no run.json (so not running): follow prints and returns.
/// let mut steps = Vec::new();
/// let poll = std::time::Duration::from_millis(10);
/// ringlog_service::follow(&dir, 10, &Sampling::default(), poll, || false, |r| {
///     steps.push(r.step.unwrap());
///     Ok(())
/// })?;
/// assert_eq!(steps, [0, 1, 2]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn follow(
    run_dir: impl AsRef<Path>,
    n: usize,
    sampling: &Sampling,
    poll: Duration,
    stop: impl Fn() -> bool,
    mut emit: impl FnMut(Row) -> Result<(), ExportError>,
) -> Result<ExportStats, ExportError> {
    let run_dir = run_dir.as_ref();
    let path = run_dir.join(RUN_LOG_FILE);
    let first = tail_with(run_dir, n, sampling)?;
    let mut stats = first.stats;
    let (mut keys, mut end) = (first.keys, first.end);
    for r in first.rows {
        emit(r)?;
    }
    loop {
        // Decided before reading, so the last rows of a run that ends now are still read.
        let running = is_running(run_dir);
        let mut log = RunLog::open_at(&path, end)?;
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        let (more, _) = walk_with(&mut log, len, &mut keys, &mut Progress::new(false, 0, ""), None, |rec, keys| {
            if (is_history(rec.kind()) || rec.kind() == RecordKind::Output)
                && let Some(r) = row(rec.lane(), &rec.record(), keys).and_then(|r| select_row(r, sampling))
            {
                emit(r)?;
            }
            Ok(())
        })?;
        let grew = log.good_end() > end;
        end = log.good_end().max(end);
        stats.add_read(&more);
        if (!running && !grew) || stop() {
            return Ok(stats);
        }
        if !grew {
            let until = Instant::now() + poll;
            while Instant::now() < until && !stop() {
                std::thread::sleep(poll.min(Duration::from_millis(50)));
            }
        }
    }
}

/// Whether the run's `run.json` says it is running (a run without one is not).
fn is_running(run_dir: &Path) -> bool {
    RunMeta::read(run_dir).is_ok_and(|m| m.state == "running")
}
