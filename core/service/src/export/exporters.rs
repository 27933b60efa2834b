//! Exporters over a run directory: history as JSONL or CSV, the summary, the
//! list of runs, and the last rows of a run.
//!
//! A run directory holds `run.rlog` (the run log), `run.json` (metadata) and,
//! once the run is finished, `summary.json`. The exporters stream the run log
//! with [`RunLog`]: memory stays constant whatever the log's size, except for
//! the key names (and, for CSV, the sorted set of history keys).
//!
//! **Damage.** Damaged regions and rejected frames in the log are counted in
//! [`ExportStats`] and skipped; the rest is exported. A torn tail (the end of
//! an interrupted write, or the frame a live run is writing right now) ends
//! the export and is reported as [`ExportStats::torn_tail_bytes`]. Only an
//! unreadable log (I/O error, damaged file header) or a failed write stops an
//! export with an error.
//!
//! **Progress.** With `progress` set, a bar drawn to stderr advances by the
//! bytes of the log read. Callers pass `std::io::stderr().is_terminal()`.
//!
//! # Examples
//! ```
//! use ringlog_ring::{Batch, HeapRun};
//! use ringlog_service::{RunLogHeader, RunLogWriter};
//! let dir = std::env::temp_dir().join(format!("ringlog-doc-export-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! std::fs::create_dir_all(&dir)?;
//! let run = HeapRun::new(1 << 16, 1).unwrap();
//! let mut p = run.claim(0, Default::default())?;
//! let loss = p.key("train/loss")?;
//! for step in 0..3 {
//!     p.log_scalar1(step, loss, 1.0 / (step + 1) as f64)?;
//! }
//! let mut c = run.consumer()?;
//! let mut batch = Batch::new(1 << 16);
//! c.drain(&mut batch);
//! RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
//!
//! let mut csv = Vec::new();
//! let stats = ringlog_service::export_csv(&dir, &mut csv, false)?;
//! assert_eq!(stats.rows, 3);
//! assert!(String::from_utf8(csv)?.starts_with("_step,_timestamp,_lane,train/loss\n0,"));
//! let last = ringlog_service::tail(&dir, 1)?;
//! assert_eq!(last[0].step, Some(2));
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringlog_wandb::{MergedRow, WandbValue};
use serde_json::{Map, Value as Json};

use crate::export::jsonl_pipe::JsonlPipe;
use crate::export::key_table::KeyTable;
use crate::export::log_walk::{Item, walk_items_with};
use crate::export::merged_history::MergedHistory;
use crate::export::record_json::{LANE_FIELD, Row, STEP_FIELD, TIMESTAMP_FIELD, f64_json, is_history, row};
use crate::export::sampling::Sampling;
use crate::export::scalar_jsonl::{ScalarLines, Taken};
use crate::export::wandb_export::downsampling;
use crate::export::wandb_value::wandb_value_json;
use crate::runlog::format::RunLogError;
use crate::runlog::reader::{LogRecord, RunLog};
use crate::runlog::run_meta::{RUN_LOG_FILE, RUN_META_FILE, SUMMARY_FILE};
use crate::service::summary_state::SummaryState;
use ringlog_ring::record::schema::{RecordKind, RecordRef};

/// The progress bar is redrawn at most once per this many bytes of log read.
const PROGRESS_STEP: u64 = 1 << 20;

/// What an export read and wrote.
///
/// # Examples
/// ```
/// let s = ringlog_service::ExportStats::default();
/// assert!(s.is_clean());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// The first damaged regions as `[start, end)` byte ranges of the file
    /// (at most 16 listed; `damaged_regions` counts them all).
    pub damaged_ranges: Vec<(u64, u64)>,
    /// Length of the run log when the export opened it, in bytes.
    pub log_bytes: u64,
    /// Valid records read.
    pub records: u64,
    /// Rows written (history rows for JSONL and CSV).
    pub rows: u64,
    /// Damaged regions skipped (bad checksum or framing); their records are lost.
    pub damaged_regions: u64,
    /// Bytes in those regions.
    pub damaged_bytes: u64,
    /// Intact frames skipped because their record kind or format is unknown
    /// to this build, or their payload fails validation.
    pub rejected_records: u64,
    /// Bytes after the last intact frame: a torn tail, or a frame a live run
    /// is still writing.
    pub torn_tail_bytes: u64,
    /// Bytes of the run log read (less than `log_bytes` when the index let
    /// the reader skip to the part it needed).
    pub bytes_read: u64,
    /// History rows left out of a lane-merged export (`--format wandb`, or any
    /// format with `--every`, `--max-rows` or `--agg`) because their step came
    /// after a later step had been written (see
    /// [`MergedHistory`](crate::MergedHistory)). Always 0 for the plain exports.
    pub late_rows: u64,
}

impl ExportStats {
    /// Whether the log had no damage, rejected frame or torn tail.
    ///
    /// # Examples
    /// ```
    /// let s = ringlog_service::ExportStats { torn_tail_bytes: 7, ..Default::default() };
    /// assert!(!s.is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        self.damaged_regions == 0 && self.rejected_records == 0 && self.torn_tail_bytes == 0
    }

    /// Adds the counts of a later read of the same log (`part`): records, damage,
    /// rejections and bytes read; its torn tail replaces this one's (the later read
    /// ended further on). The listed damaged ranges are left to the caller.
    /// Counts a per-frame error of a read of the log (a damaged region, a rejected
    /// record) when `count`, and returns any other error: the read cannot go on.
    pub(crate) fn note_read_error(&mut self, e: RunLogError, count: bool) -> Result<(), ExportError> {
        if !e.is_frame_error() {
            return Err(e.into());
        }
        if count {
            match e {
                RunLogError::CorruptFrame { offset, len, path } => {
                    tracing::warn!(path = %path.display(), offset, len, "run log: damaged region skipped");
                    self.damaged_regions += 1;
                    self.damaged_bytes += len;
                    if self.damaged_ranges.len() < MAX_LISTED_RANGES {
                        self.damaged_ranges.push((offset, offset + len));
                    }
                }
                e => {
                    tracing::warn!(error = %e, "run log: record skipped");
                    self.rejected_records += 1;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn add_read(&mut self, part: &ExportStats) {
        self.records += part.records;
        self.damaged_regions += part.damaged_regions;
        self.damaged_bytes += part.damaged_bytes;
        self.rejected_records += part.rejected_records;
        self.bytes_read += part.bytes_read;
        self.torn_tail_bytes = part.torn_tail_bytes;
    }
}

/// Where [`export_summary`] took the summary from.
///
/// # Examples
/// See [`export_summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummarySource {
    /// The run directory's `summary.json`.
    File,
    /// Rebuilt from the run log, because `summary.json` is missing or is not a
    /// JSON object.
    Rebuilt(ExportStats),
    /// The service's last checkpoint in `summary.json` (a live run's, or the one a
    /// crash left), continued with the records the log holds after it: the read
    /// covers the log's end only, whatever the run's length.
    Continued(ExportStats),
}

/// One run, as listed by [`list_runs`].
///
/// # Examples
/// See [`list_runs`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunListing {
    /// The run id: the run directory's name.
    pub run_id: String,
    /// Project, from `run.json`.
    pub project: Option<String>,
    /// Display name, from `run.json`.
    pub name: Option<String>,
    /// `running`, `finished` or `crashed` from `run.json`; `unknown` when the
    /// directory has a run log but no readable `run.json`.
    pub state: String,
    /// Records in the run log, from `run.json` (final once the run is finished).
    pub records: Option<u64>,
    /// Creation time, Unix ms: from `run.json`, else from the run log's header.
    pub created_unix_ms: Option<u64>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The last step logged, from `summary.json` (checkpointed every few seconds while
    /// the run is live); `None` before the first checkpoint or without steps.
    pub last_step: Option<i64>,
    /// Keys in the run's summary (one per logged key), from `summary.json`.
    pub keys: Option<u64>,
    /// Bytes of the run directory's files.
    pub bytes: u64,
}

/// State of a listed run whose `run.json` is missing or unreadable.
pub const UNKNOWN_STATE: &str = "unknown";

/// Damaged regions listed by byte range in [`ExportStats::damaged_ranges`].
const MAX_LISTED_RANGES: usize = 16;

/// An export failed.
///
/// # Examples
/// ```
/// let err = ringlog_service::export_jsonl("/nonexistent/run", &mut std::io::sink(), false).unwrap_err();
/// assert!(matches!(err, ringlog_service::ExportError::NoRunLog { .. }));
/// assert!(err.to_string().contains("is this a ringlog run directory?"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The directory holds no run log.
    #[error(
        "no run log at {}: is this a ringlog run directory? (`ringlog runs` lists the runs; RINGLOG_DIR says where \
         they are stored)",
        .path.display()
    )]
    NoRunLog {
        /// Where the run log was expected.
        path: PathBuf,
    },
    /// The run log cannot be read (I/O error, damaged or foreign file header).
    #[error(transparent)]
    RunLog(#[from] RunLogError),
    /// A file of the run directory other than the run log cannot be read.
    #[error("cannot read {}: {source}: check its permissions", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Writing the output failed.
    #[error(
        "writing the {format} export failed: {source}: check free space, or that the output's reader is still running"
    )]
    Write {
        /// `JSONL`, `CSV` or `summary`.
        format: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The W&B run cannot be written (`--format wandb`).
    #[error("writing the W&B run failed: {0}")]
    Wandb(Box<ringlog_wandb::WandbError>),
    /// The runs directory does not exist.
    #[error(
        "no runs directory at {}: no run was logged there yet; set RINGLOG_DIR to the directory the runs are in",
        .path.display()
    )]
    NoRunsDir {
        /// The runs directory.
        path: PathBuf,
    },
    /// The runs directory cannot be listed.
    #[error("cannot list the runs directory {}: {source}: check its permissions", .path.display())]
    RunsDir {
        /// The runs directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl ExportError {
    /// Whether the output's reader went away (`ringlog export ... | head`):
    /// the usual way for a pipe to end, which a CLI reports as success.
    ///
    /// # Examples
    /// ```
    /// use std::io;
    /// let e = ringlog_service::ExportError::Write { format: "JSONL", source: io::ErrorKind::BrokenPipe.into() };
    /// assert!(e.is_broken_pipe());
    /// ```
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Write { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Writes the history of the run in `run_dir` as JSON Lines: one object per
/// history row (`Scalar1`, `Scalars` and `History` records), in log order:
/// `{"_step": .., "_timestamp": <Unix seconds, a float>, "_lane": .., "<key>": <value>, ...}`.
/// Values map as in [`value_json`](crate::export::record_json::value_json).
///
/// # Errors
/// [`ExportError::NoRunLog`], [`ExportError::RunLog`] if the log cannot be
/// read, [`ExportError::Write`] if `w` fails. Damaged frames are counted, not errors.
///
/// # Examples
/// ```
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-jsonl-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// # let run = HeapRun::new(1 << 16, 1).unwrap();
/// # let mut p = run.claim(0, Default::default())?;
/// # let loss = p.key("loss")?;
/// # p.log_scalar1(1, loss, 0.5)?;
/// # let mut c = run.consumer()?;
/// # let mut batch = Batch::new(1 << 16);
/// # c.drain(&mut batch);
/// # RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
/// // `dir` holds a run that logged loss = 0.5 at step 1.
/// let mut out = Vec::new();
/// let stats = ringlog_service::export_jsonl(&dir, &mut out, false)?;
/// assert_eq!((stats.records, stats.rows), (2, 1));
/// let line: serde_json::Value = serde_json::from_slice(&out)?;
/// assert_eq!((&line["_step"], &line["loss"]), (&1.into(), &0.5.into()));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_jsonl(
    run_dir: impl AsRef<Path>,
    w: &mut (impl Write + ?Sized),
    progress: bool,
) -> Result<ExportStats, ExportError> {
    export_jsonl_with(run_dir, w, &Sampling::default(), progress)
}

/// [`export_jsonl`] with downsampling. With an active [`Sampling`], rows are
/// merged across lanes, one per step, in step order, then downsampled: each
/// line is `{"_step": .., "_timestamp": .., "<key>": .., "<key>/min": .., ...}`
/// (no `_lane`: a row holds every lane's values of its step), the same rows
/// `--format wandb` writes. Without one, this is [`export_jsonl`].
///
/// # Errors
/// As [`export_jsonl`].
///
/// # Examples
/// ```
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter, Sampling};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-jsonl-every-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// # let run = HeapRun::new(1 << 16, 1).unwrap();
/// # let mut p = run.claim(0, Default::default())?;
/// # let loss = p.key("loss")?;
/// # for step in 0..10 { p.log_scalar1(step, loss, step as f64)?; }
/// # let mut c = run.consumer()?;
/// # let mut batch = Batch::new(1 << 16);
/// # c.drain(&mut batch);
/// # RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
/// // `dir` holds a run that logged loss = step for steps 0 to 9.
/// let mut out = Vec::new();
/// let sampling = Sampling { every: Some(5), agg: true, ..Default::default() };
/// let stats = ringlog_service::export_jsonl_with(&dir, &mut out, &sampling, false)?;
/// assert_eq!(stats.rows, 2);
/// let first: serde_json::Value = serde_json::from_slice(out.split(|&b| b == b'\n').next().unwrap())?;
/// assert_eq!((&first["_step"], &first["loss"], &first["loss/mean"]), (&4.into(), &4.0.into(), &2.0.into()));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_jsonl_with(
    run_dir: impl AsRef<Path>,
    w: &mut (impl Write + ?Sized),
    sampling: &Sampling,
    progress: bool,
) -> Result<ExportStats, ExportError> {
    if sampling.is_active() {
        return export_jsonl_merged(run_dir.as_ref(), w, sampling, progress);
    }
    let (log, len) = open_log(run_dir.as_ref())?;
    let mut bar = Progress::new(progress, len, "JSONL");
    let mut rows = 0;
    let write_err = |e: io::Error| ExportError::Write { format: "JSONL", source: e };
    let mut fast = ScalarLines::default();
    let mut pipe = JsonlPipe::start().map_err(write_err)?;
    let mut stats = walk_selected(run_dir.as_ref(), log, len, &mut bar, sampling, |item, keys| {
        let (taken, rec) = match item {
            Item::Scalars(s) => (fast.take_entry(&s, keys, sampling), None),
            Item::Record(rec) => (fast.take(rec.lane(), &rec.record(), keys, sampling), Some(rec)),
        };
        match (taken, rec) {
            (Taken::Line(line), _) => {
                rows += 1;
                pipe.scalar(line, fast.values(), w).map_err(write_err)
            }
            (Taken::Skipped, _) | (Taken::Other, None) => Ok(()),
            (Taken::Other, Some(rec)) => match history_row(rec, keys, sampling) {
                Some(r) => {
                    rows += 1;
                    let line = |text: &mut Vec<u8>| {
                        serde_json::to_writer(&mut *text, &r.into_json_object())?;
                        text.push(b'\n');
                        Ok(())
                    };
                    pipe.text(line, w).map_err(write_err)
                }
                None => Ok(()),
            },
        }
    })?;
    pipe.finish(w).map_err(write_err)?;
    w.flush().map_err(write_err)?;
    bar.finish();
    stats.rows = rows;
    Ok(stats)
}

/// Writes the history of the run in `run_dir` as CSV: a header
/// `_step,_timestamp,_lane,<key>...` with the sorted union of every history
/// key, then one line per history row in log order; a key the row does not
/// have is an empty cell. Numbers and booleans are written as in JSON, strings
/// as they are, arrays and objects as JSON text.
///
/// The log is read twice (keys first, then rows); rows that a live run
/// appends between the two passes are left out, so every row fits the header.
///
/// # Errors
/// As [`export_jsonl`].
///
/// # Examples
/// ```
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-csv-{}", std::process::id()));
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
/// let mut out = Vec::new();
/// ringlog_service::export_csv(&dir, &mut out, false)?;
/// let text = String::from_utf8(out)?;
/// let lines: Vec<_> = text.lines().collect();
/// assert_eq!(lines[0], "_step,_timestamp,_lane,acc,loss");
/// assert!(lines[1].starts_with("1,") && lines[1].ends_with(",0,,0.5"));
/// assert!(lines[2].starts_with("2,") && lines[2].ends_with(",0,0.75,"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_csv(
    run_dir: impl AsRef<Path>,
    w: &mut (impl Write + ?Sized),
    progress: bool,
) -> Result<ExportStats, ExportError> {
    export_csv_with(run_dir, w, &Sampling::default(), progress)
}

/// [`export_csv`] with downsampling. With an active [`Sampling`], the rows
/// are those of [`export_jsonl_with`] (merged across lanes, downsampled) and
/// the header is `_step,_timestamp,<key>...` (no `_lane`), the keys being the
/// sorted union of the keys of those rows. Without one, this is [`export_csv`].
///
/// # Errors
/// As [`export_jsonl`].
///
/// # Examples
/// ```
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter, Sampling};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-csv-every-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// # let run = HeapRun::new(1 << 16, 1).unwrap();
/// # let mut p = run.claim(0, Default::default())?;
/// # let loss = p.key("loss")?;
/// # for step in 0..10 { p.log_scalar1(step, loss, step as f64)?; }
/// # let mut c = run.consumer()?;
/// # let mut batch = Batch::new(1 << 16);
/// # c.drain(&mut batch);
/// # RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
/// // `dir` holds a run that logged loss = step for steps 0 to 9.
/// let mut out = Vec::new();
/// let sampling = Sampling { max_rows: Some(2), agg: true, ..Default::default() };
/// ringlog_service::export_csv_with(&dir, &mut out, &sampling, false)?;
/// let text = String::from_utf8(out)?;
/// let lines: Vec<_> = text.lines().collect();
/// assert_eq!(lines[0], "_step,_timestamp,loss,loss/max,loss/mean,loss/min");
/// assert_eq!(lines.len(), 3);
/// assert!(lines[2].starts_with("9,") && lines[2].ends_with(",9.0,9.0,7.0,5.0"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_csv_with(
    run_dir: impl AsRef<Path>,
    w: &mut (impl Write + ?Sized),
    sampling: &Sampling,
    progress: bool,
) -> Result<ExportStats, ExportError> {
    let run_dir = run_dir.as_ref();
    if sampling.is_active() {
        return export_csv_merged(run_dir, w, sampling, progress);
    }
    let (log, len) = open_log(run_dir)?;
    let mut bar = Progress::new(progress, len.saturating_mul(2), "CSV");

    // Pass 1: the key set.
    let mut names = BTreeSet::new();
    let (mut stats, last_offset) = walk(log, len, &mut bar, None, |rec, keys| {
        collect_history_keys(rec, keys, &mut names, sampling);
        Ok(())
    })?;
    for reserved in [STEP_FIELD, TIMESTAMP_FIELD, LANE_FIELD] {
        names.remove(reserved);
    }
    let names: Vec<String> = names.into_iter().collect();

    // Pass 2: the rows, up to where pass 1 ended.
    let write_err = |e: csv::Error| ExportError::Write { format: "CSV", source: csv_io(e) };
    let mut out = csv::WriterBuilder::new().flexible(false).from_writer(w);
    let mut record = csv::StringRecord::with_capacity(64, names.len() + 3);
    record.extend([STEP_FIELD, TIMESTAMP_FIELD, LANE_FIELD]);
    record.extend(names.iter());
    out.write_record(&record).map_err(write_err)?;
    let mut rows = 0;
    if let Some(limit) = last_offset {
        let (log, _) = open_log(run_dir)?;
        bar.base = len;
        walk(log, len, &mut bar, Some(limit), |rec, keys| {
            let Some(r) = history_row(rec, keys, sampling) else { return Ok(()) };
            record.clear();
            record.push_field(&r.step.map_or_else(String::new, |s| s.to_string()));
            record.push_field(&csv_cell(&f64_json(r.timestamp_secs())));
            record.push_field(&r.lane.to_string());
            for name in &names {
                record.push_field(&r.values.get(name).map_or(Cow::Borrowed(""), csv_cell));
            }
            out.write_record(&record).map_err(write_err)?;
            rows += 1;
            Ok(())
        })?;
    }
    out.flush().map_err(|e| ExportError::Write { format: "CSV", source: e })?;
    bar.finish();
    stats.rows = rows;
    Ok(stats)
}

/// Writes the summary of the run in `run_dir` as pretty JSON: its
/// `summary.json`, or, when that is missing (the run is still running, or
/// crashed) or not a JSON object, a summary rebuilt from the run log with
/// [`SummaryState`]. Nothing is written into the run directory.
///
/// # Errors
/// [`ExportError::Read`] if `summary.json` exists but cannot be read;
/// when rebuilding, the errors of [`export_jsonl`]; [`ExportError::Write`].
///
/// # Examples
/// ```
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter, SummarySource};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-summary-export-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// # let run = HeapRun::new(1 << 16, 1).unwrap();
/// # let mut p = run.claim(0, Default::default())?;
/// # let loss = p.key("loss")?;
/// # p.log_scalar1(1, loss, 0.5)?;
/// # let mut c = run.consumer()?;
/// # let mut batch = Batch::new(1 << 16);
/// # c.drain(&mut batch);
/// # RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
/// // `dir` holds a run that logged loss = 0.5 and has no summary.json yet.
/// let mut out = Vec::new();
/// assert!(matches!(ringlog_service::export_summary(&dir, &mut out)?, SummarySource::Rebuilt(_)));
/// let summary: serde_json::Value = serde_json::from_slice(&out)?;
/// assert_eq!(summary["loss"], 0.5);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_summary(run_dir: impl AsRef<Path>, w: &mut (impl Write + ?Sized)) -> Result<SummarySource, ExportError> {
    let (state, _, source) = summary_state(run_dir.as_ref())?;
    let summary = match (&source, state) {
        (SummarySource::File, _) => {
            // Written as it was, keys in its order.
            let path = run_dir.as_ref().join(SUMMARY_FILE);
            let bytes = std::fs::read(&path).map_err(|source| ExportError::Read { path, source })?;
            serde_json::from_slice::<Json>(&bytes).unwrap_or(Json::Null)
        }
        (_, state) => state.to_json(),
    };
    let write_err = |e: io::Error| ExportError::Write { format: "summary", source: e };
    let mut out = BufWriter::new(w);
    serde_json::to_writer_pretty(&mut out, &summary).map_err(|e| write_err(e.into()))?;
    out.write_all(b"\n").and_then(|()| out.flush()).map_err(write_err)?;
    Ok(source)
}

/// The summary of the run in `run_dir`, the key names known at the log's end, and
/// where they came from: `summary.json` as it is when it covers the whole log; its
/// checkpoint (`_ringlog.log_end`) continued with the rest of a version-2 log,
/// reading only that rest with key names from the index; otherwise rebuilt from
/// the whole log.
///
/// # Errors
/// [`ExportError::Read`] if `summary.json` exists but cannot be read; the log's errors.
pub(crate) fn summary_state(run_dir: &Path) -> Result<(SummaryState, KeyTable, SummarySource), ExportError> {
    let path = run_dir.join(SUMMARY_FILE);
    let from_file = match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice::<Json>(&bytes) {
            Ok(v) if v.is_object() => Some(v),
            Ok(_) | Err(_) => {
                tracing::warn!(path = %path.display(), "summary.json is not a JSON object; rebuilding it from the run log");
                None
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(ExportError::Read { path, source }),
    };
    let (log, len) = open_log(run_dir)?;
    let v2 = log.header().version == crate::runlog::format::RUN_LOG_VERSION;
    let checkpoint = from_file.as_ref().and_then(SummaryState::from_json).filter(|s| s.log_end().is_some());
    match (from_file, checkpoint) {
        // Without a log offset (an older build's file), or covering the whole log: as it is.
        (Some(_), Some(state)) if state.log_end() >= Some(len) => Ok((state, KeyTable::new(), SummarySource::File)),
        (Some(json), None) => {
            Ok((SummaryState::from_json(&json).unwrap_or_default(), KeyTable::new(), SummarySource::File))
        }
        (_, Some(mut state)) if v2 => {
            drop(log);
            let log_path = run_dir.join(RUN_LOG_FILE);
            let index = crate::runlog::index::RunIndex::load_or_rebuild(&log_path)?;
            let start = state.log_end().unwrap_or(0);
            let mut keys = index.keys_before(start);
            let mut log = RunLog::open_at(&log_path, start)?;
            let (stats, _) =
                walk_with(&mut log, len, &mut keys, &mut Progress::new(false, 0, ""), None, |rec, keys| {
                    state.observe(rec.lane(), &rec.record(), keys);
                    Ok(())
                })?;
            state.set_log_end(log.good_end());
            Ok((state, keys, SummarySource::Continued(stats)))
        }
        _ => {
            let mut state = SummaryState::new();
            let mut keys = KeyTable::new();
            let mut log = log;
            let (stats, _) =
                walk_with(&mut log, len, &mut keys, &mut Progress::new(false, 0, ""), None, |rec, keys| {
                    state.observe(rec.lane(), &rec.record(), keys);
                    Ok(())
                })?;
            state.set_log_end(log.good_end());
            Ok((state, keys, SummarySource::Rebuilt(stats)))
        }
    }
}

/// Lists the runs in `runs_dir`, oldest first (runs whose creation time is
/// unknown first, ties by run id).
///
/// Each subdirectory with a readable `run.json` is a run; one without a
/// readable `run.json` but with a `run.rlog` is listed with state
/// [`UNKNOWN_STATE`]; other entries are skipped.
///
/// # Errors
/// [`ExportError::NoRunsDir`] if `runs_dir` does not exist,
/// [`ExportError::RunsDir`] if it cannot be listed.
///
/// # Examples
/// ```
/// let runs = std::env::temp_dir().join(format!("ringlog-doc-runs-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&runs);
/// for (id, created) in [("b", 2), ("a", 1)] {
///     std::fs::create_dir_all(runs.join(id))?;
///     let meta = serde_json::json!({"run_id": id, "state": "finished", "created_unix_ms": created});
///     std::fs::write(runs.join(id).join("run.json"), meta.to_string())?;
/// }
/// let listed = ringlog_service::list_runs(&runs)?;
/// assert_eq!(listed.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(listed[0].state, "finished");
/// # std::fs::remove_dir_all(&runs)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn list_runs(runs_dir: impl AsRef<Path>) -> Result<Vec<RunListing>, ExportError> {
    let runs_dir = runs_dir.as_ref();
    let entries = std::fs::read_dir(runs_dir).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            ExportError::NoRunsDir { path: runs_dir.to_owned() }
        } else {
            ExportError::RunsDir { path: runs_dir.to_owned(), source }
        }
    })?;
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ExportError::RunsDir { path: runs_dir.to_owned(), source })?;
        let run_dir = entry.path();
        // `latest-run` links to a run listed under its own name.
        if entry.file_name() == ringlog_ring::protocol::run_layout::LATEST_RUN_LINK {
            continue;
        }
        // `metadata` follows symlinks: a linked run directory is listed too.
        if !std::fs::metadata(&run_dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        if let Some(listing) = listing_of(&run_dir) {
            runs.push(listing);
        }
    }
    runs.sort_by(|a, b| (a.created_unix_ms, &a.run_id).cmp(&(b.created_unix_ms, &b.run_id)));
    Ok(runs)
}

/// The last `n` rows of the run in `run_dir`: history rows and output lines,
/// in log order. Memory holds at most `n` rows.
///
/// # Errors
/// [`ExportError::NoRunLog`], or [`ExportError::RunLog`] if the log cannot be
/// read. Damaged frames are skipped.
///
/// # Examples
/// ```
/// # use ringlog_ring::{Batch, HeapRun};
/// # use ringlog_service::{RunLogHeader, RunLogWriter};
/// # let dir = std::env::temp_dir().join(format!("ringlog-doc-tail-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir_all(&dir)?;
/// # let run = HeapRun::new(1 << 16, 1).unwrap();
/// # let mut p = run.claim(0, Default::default())?;
/// # let loss = p.key("loss")?;
/// # for step in 0..10 { p.log_scalar1(step, loss, 0.5)?; }
/// # let mut c = run.consumer()?;
/// # let mut batch = Batch::new(1 << 16);
/// # c.drain(&mut batch);
/// # RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
/// // `dir` holds a run that logged steps 0 to 9.
/// let rows = ringlog_service::tail(&dir, 3)?;
/// assert_eq!(rows.iter().map(|r| r.step.unwrap()).collect::<Vec<_>>(), [7, 8, 9]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tail(run_dir: impl AsRef<Path>, n: usize) -> Result<Vec<Row>, ExportError> {
    tail_with_stats(run_dir, n).map(|(rows, _)| rows)
}

/// [`tail`], with what the walk over the log found (damaged regions,
/// rejected records) for the caller to report.
///
/// # Errors
/// As [`tail`].
pub fn tail_with_stats(run_dir: impl AsRef<Path>, n: usize) -> Result<(Vec<Row>, ExportStats), ExportError> {
    crate::export::tail::tail_with(run_dir, n, &Sampling::default()).map(|t| (t.rows, t.stats))
}

/// JSONL of the rows merged across lanes and downsampled (see [`export_jsonl_with`]).
fn export_jsonl_merged(
    run_dir: &Path,
    w: &mut (impl Write + ?Sized),
    sampling: &Sampling,
    progress: bool,
) -> Result<ExportStats, ExportError> {
    let downsample = downsampling(run_dir, sampling)?;
    let (log, len) = open_log(run_dir)?;
    let mut bar = Progress::new(progress, len, "JSONL");
    let mut out = BufWriter::new(w);
    let mut rows = 0;
    let write_err = |e: io::Error| ExportError::Write { format: "JSONL", source: e };
    let mut write = |row: MergedRow<WandbValue>| -> Result<(), ExportError> {
        serde_json::to_writer(&mut out, &merged_row_json(row)).map_err(|e| write_err(e.into()))?;
        out.write_all(b"\n").map_err(write_err)?;
        rows += 1;
        Ok(())
    };
    let mut merged = MergedHistory::new(downsample).step_ordered().with_selection(sampling);
    let (mut stats, _) = crate::export::step_order_walk::walk_in_step_order(log, len, &mut bar, None, |item, keys| {
        merged.observe_item(item, keys, &mut write)
    })?;
    stats.late_rows = merged.late_rows();
    merged.finish(&mut write)?;
    out.flush().map_err(write_err)?;
    bar.finish();
    stats.rows = rows;
    warn_late_rows(&stats);
    Ok(stats)
}

/// CSV of the rows merged across lanes and downsampled (see [`export_csv_with`]).
fn export_csv_merged(
    run_dir: &Path,
    w: &mut (impl Write + ?Sized),
    sampling: &Sampling,
    progress: bool,
) -> Result<ExportStats, ExportError> {
    let downsample = downsampling(run_dir, sampling)?;
    let (log, len) = open_log(run_dir)?;
    let mut bar = Progress::new(progress, len.saturating_mul(2), "CSV");

    // Pass 1: the keys of the output rows (aggregates included).
    let mut names = BTreeSet::new();
    let mut collect = |row: MergedRow<WandbValue>| -> Result<(), ExportError> {
        for (key, _) in row.items {
            names.insert(String::from(&*key));
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
    let names: Vec<String> = names.into_iter().collect();

    // Pass 2: the same rows, up to where pass 1 ended.
    let write_err = |e: csv::Error| ExportError::Write { format: "CSV", source: csv_io(e) };
    let mut out = csv::WriterBuilder::new().flexible(false).from_writer(w);
    let mut record = csv::StringRecord::with_capacity(64, names.len() + 2);
    record.extend([STEP_FIELD, TIMESTAMP_FIELD]);
    record.extend(names.iter());
    out.write_record(&record).map_err(write_err)?;
    let mut rows = 0;
    if let Some(limit) = last_offset {
        let (log, _) = open_log(run_dir)?;
        bar.base = len;
        let slots: std::collections::HashMap<String, usize> =
            names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect();
        let mut cells = vec![String::new(); names.len()];
        let mut write = |row: MergedRow<WandbValue>| -> Result<(), ExportError> {
            cells.iter_mut().for_each(String::clear);
            for (key, value) in &row.items {
                // Every key was seen in pass 1, which read the same records.
                if let Some(&slot) = slots.get(&**key) {
                    cells[slot] = csv_cell(&wandb_value_json(value)).into_owned();
                }
            }
            record.clear();
            record.push_field(&row.step.to_string());
            record.push_field(&csv_cell(&f64_json(row.timestamp_unix_ns as f64 / 1e9)));
            for cell in &cells {
                record.push_field(cell);
            }
            out.write_record(&record).map_err(write_err)?;
            rows += 1;
            Ok(())
        };
        let mut merged = MergedHistory::new(downsample).step_ordered().with_selection(sampling);
        crate::export::step_order_walk::walk_in_step_order(log, len, &mut bar, Some(limit), |item, keys| {
            merged.observe_item(item, keys, &mut write)
        })?;
        merged.finish(&mut write)?;
    }
    out.flush().map_err(|e| ExportError::Write { format: "CSV", source: e })?;
    bar.finish();
    stats.rows = rows;
    warn_late_rows(&stats);
    Ok(stats)
}

/// A merged row as one JSON object: `_step`, `_timestamp` (Unix seconds), then its items.
fn merged_row_json(row: MergedRow<WandbValue>) -> Map<String, Json> {
    let mut obj = Map::new();
    obj.insert(STEP_FIELD.into(), Json::from(row.step));
    obj.insert(TIMESTAMP_FIELD.into(), f64_json(row.timestamp_unix_ns as f64 / 1e9));
    for (key, value) in &row.items {
        obj.insert(String::from(&**key), wandb_value_json(value));
    }
    obj
}

pub(crate) fn warn_late_rows(stats: &ExportStats) {
    if stats.late_rows > 0 {
        tracing::warn!(
            late_rows = stats.late_rows,
            "history rows whose step came after a later step had been exported were left out"
        );
    }
}

/// The first and last step of the history in `run_dir` (`None` without history): the
/// pre-pass `--max-rows` needs to size its windows.
pub(crate) fn history_step_range(run_dir: &Path) -> Result<Option<(i64, i64)>, ExportError> {
    let (log, len) = open_log(run_dir)?;
    let mut range: Option<(i64, i64)> = None;
    walk(log, len, &mut Progress::new(false, 0, ""), None, |rec, _| {
        let step = match rec.record() {
            RecordRef::Scalar1(s) => s.step.to_native(),
            RecordRef::Scalars(s) => s.step.to_native(),
            RecordRef::History(h) => h.step.to_native(),
            _ => return Ok(()),
        };
        range = Some(range.map_or((step, step), |(lo, hi)| (lo.min(step), hi.max(step))));
        Ok(())
    })?;
    Ok(range)
}

/// Opens the run log of `run_dir`; returns it and the file's length.
pub(crate) fn open_log(run_dir: &Path) -> Result<(RunLog, u64), ExportError> {
    let path = run_dir.join(RUN_LOG_FILE);
    let log = RunLog::open(&path).map_err(|e| match e {
        RunLogError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            ExportError::NoRunLog { path: path.clone() }
        }
        e => e.into(),
    })?;
    // Only sizes the progress bar: the reader itself stops at the length it saw.
    let len = std::fs::metadata(&path).map_or(0, |m| m.len());
    Ok((log, len))
}

/// Reads what of the log can hold the steps `sampling` selects: with a step range and a
/// version-2 log, only the index groups whose step range overlaps it (and the part of
/// the log after the last group), with every key name known from the index; otherwise
/// the whole log, as [`walk`]. `visit` still sees records outside the range (the caller
/// filters rows).
pub(crate) fn walk_selected(
    run_dir: &Path,
    log: RunLog,
    len: u64,
    bar: &mut Progress,
    sampling: &Sampling,
    mut visit: impl FnMut(Item<'_>, &KeyTable) -> Result<(), ExportError>,
) -> Result<ExportStats, ExportError> {
    let whole = |mut log: RunLog, bar: &mut Progress, visit| {
        walk_items_with(&mut log, len, &mut KeyTable::new(), bar, None, visit).map(|(s, _)| s)
    };
    let Some((lo, hi)) = sampling.steps else { return whole(log, bar, visit) };
    if log.header().version != crate::runlog::format::RUN_LOG_VERSION {
        return whole(log, bar, visit);
    }
    drop(log);
    let path = run_dir.join(RUN_LOG_FILE);
    let index = crate::runlog::index::RunIndex::load_or_rebuild(&path)?;
    // Overlapping groups, adjacent ones joined, then the unindexed end of the log.
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for g in index.groups.iter().filter(|g| g.overlaps_steps(lo, hi.saturating_sub(1))) {
        match ranges.last_mut() {
            Some(last) if last.1 == g.offset => last.1 = g.end,
            _ => ranges.push((g.offset, g.end)),
        }
    }
    ranges.push((index.covered_end(), u64::MAX));
    let mut stats = ExportStats { log_bytes: len, ..ExportStats::default() };
    for (start, end) in ranges {
        // The names defined before this range, in log order.
        let mut keys = index.keys_before(start);
        let mut log = RunLog::open_at(&path, start)?;
        let (part, _) = walk_items_with(&mut log, len, &mut keys, bar, Some(end.saturating_sub(1)), &mut visit)?;
        stats.damaged_ranges.extend(part.damaged_ranges.iter().copied());
        stats.add_read(&part);
    }
    stats.damaged_ranges.truncate(MAX_LISTED_RANGES);
    Ok(stats)
}

/// Reads `log` once, handing each valid record to `visit` after `KeyTable`
/// has seen it. With `limit`, stops at the first item past that file offset.
///
/// Returns the stats (without `rows`) and the file offset of the last item
/// read, which a second pass gives as `limit` to see exactly the same items.
pub(crate) fn walk(
    mut log: RunLog,
    len: u64,
    bar: &mut Progress,
    limit: Option<u64>,
    visit: impl FnMut(&LogRecord, &KeyTable) -> Result<(), ExportError>,
) -> Result<(ExportStats, Option<u64>), ExportError> {
    walk_with(&mut log, len, &mut KeyTable::new(), bar, limit, visit)
}

/// [`walk`] with the key names in `keys` known from the start.
pub(crate) fn walk_with(
    log: &mut RunLog,
    len: u64,
    keys: &mut KeyTable,
    bar: &mut Progress,
    limit: Option<u64>,
    mut visit: impl FnMut(&LogRecord, &KeyTable) -> Result<(), ExportError>,
) -> Result<(ExportStats, Option<u64>), ExportError> {
    walk_items_with(log, len, keys, bar, limit, |item, keys| match item {
        Item::Scalars(s) => visit(&s.to_record(), keys),
        Item::Record(rec) => visit(rec, keys),
    })
}

/// The history row of `rec`, if it is one, with only the keys and steps `sampling` keeps
/// (`None` when none of its keys are kept).
pub(crate) fn history_row(rec: &LogRecord, keys: &KeyTable, sampling: &Sampling) -> Option<Row> {
    if !is_history(rec.kind()) {
        return None;
    }
    select_row(row(rec.lane(), &rec.record(), keys)?, sampling)
}

/// `r` with only the keys and steps `sampling` keeps; `None` if nothing is left
/// (an output line, which has no step or key, is left out by any filter).
pub(crate) fn select_row(mut r: Row, sampling: &Sampling) -> Option<Row> {
    if !sampling.selects() {
        return Some(r);
    }
    if !r.step.is_some_and(|s| sampling.keeps_step(s)) || r.kind == RecordKind::Output {
        return None;
    }
    r.values.retain(|k, _| sampling.keeps_key(k));
    (!r.values.is_empty()).then_some(r)
}

/// Adds the key names of a history record to `names` (without converting values).
pub(crate) fn collect_history_keys(
    rec: &LogRecord,
    keys: &KeyTable,
    names: &mut BTreeSet<String>,
    sampling: &Sampling,
) {
    let lane = rec.lane();
    let mut add = |id: u32| {
        let name = keys.resolve(lane, id);
        if !names.contains(name.as_ref()) && sampling.keeps_key(&name) {
            names.insert(name.into_owned());
        }
    };
    let step = match rec.record() {
        RecordRef::Scalar1(s) => s.step.to_native(),
        RecordRef::Scalars(s) => s.step.to_native(),
        RecordRef::History(h) => h.step.to_native(),
        _ => return,
    };
    if !sampling.keeps_step(step) {
        return;
    }
    match rec.record() {
        RecordRef::Scalar1(s) => add(s.key.to_native()),
        RecordRef::Scalars(s) => s.items.iter().for_each(|i| add(i.key.to_native())),
        RecordRef::History(h) => h.items.iter().for_each(|i| add(i.key.to_native())),
        _ => {}
    }
}

/// A JSON value as a CSV cell: strings unquoted, null empty, the rest as JSON text.
fn csv_cell(v: &Json) -> Cow<'_, str> {
    match v {
        Json::Null => Cow::Borrowed(""),
        Json::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// The listing of one run directory, `None` if it is not a run.
/// The listing of the run in `run_dir`, or `None` if it holds neither a
/// `run.json` nor a run log. The run id comes from `run.json`, else from the
/// directory's name (`run-YYYYMMDD_HHMMSS-<id>` or `<id>`).
pub(crate) fn listing_of(run_dir: &Path) -> Option<RunListing> {
    /// The fields of `run.json` a listing shows; every one optional, so an
    /// older or newer `run.json` still lists.
    #[derive(serde::Deserialize)]
    struct Meta {
        run_id: Option<String>,
        project: Option<String>,
        name: Option<String>,
        state: Option<String>,
        records: Option<u64>,
        created_unix_ms: Option<u64>,
    }
    let dir_name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let id_from_name =
        || ringlog_ring::protocol::run_layout::run_id_of_dir_name(&dir_name).unwrap_or(&dir_name).to_owned();
    let meta = std::fs::read(run_dir.join(RUN_META_FILE)).ok().and_then(|b| serde_json::from_slice::<Meta>(&b).ok());
    let (last_step, keys) = summary_counts(run_dir);
    let bytes = std::fs::read_dir(run_dir)
        .map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0);
    let mut listing = RunListing {
        run_id: String::new(),
        project: None,
        name: None,
        state: UNKNOWN_STATE.into(),
        records: None,
        created_unix_ms: None,
        run_dir: run_dir.to_owned(),
        last_step,
        keys,
        bytes,
    };
    match meta {
        Some(m) => {
            listing.run_id = m.run_id.unwrap_or_else(id_from_name);
            listing.project = m.project;
            listing.name = m.name;
            listing.state = m.state.unwrap_or_else(|| UNKNOWN_STATE.into());
            listing.records = m.records;
            listing.created_unix_ms = m.created_unix_ms;
        }
        None => {
            let log_path = run_dir.join(RUN_LOG_FILE);
            if !log_path.is_file() {
                return None;
            }
            listing.run_id = id_from_name();
            listing.created_unix_ms = RunLog::open(&log_path).ok().map(|log| log.header().created_unix_ns / 1_000_000);
        }
    }
    Some(listing)
}

/// The last step and the key count of `summary.json` (both `None` without one).
fn summary_counts(run_dir: &Path) -> (Option<i64>, Option<u64>) {
    let Some(serde_json::Value::Object(summary)) =
        std::fs::read(run_dir.join(SUMMARY_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok())
    else {
        return (None, None);
    };
    let last_step = summary.get("_ringlog").and_then(|r| r.get("last_step")).and_then(serde_json::Value::as_i64);
    let keys = summary.keys().filter(|k| !k.starts_with('_')).count() as u64;
    (last_step, Some(keys))
}

/// An optional progress bar over the bytes of one or more passes over a log.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    /// Bytes of the passes before this one.
    pub(crate) base: u64,
    /// Position last drawn.
    shown: u64,
}

impl Progress {
    pub(crate) fn new(enabled: bool, total: u64, what: &'static str) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(format!("exporting {what}"));
            bar
        });
        Self { bar, base: 0, shown: 0 }
    }

    /// Notes that the pass has read up to file offset `offset`.
    pub(crate) fn at(&mut self, offset: u64) {
        if let Some(bar) = &self.bar {
            let pos = self.base + offset;
            if pos >= self.shown + PROGRESS_STEP {
                bar.set_position(pos);
                self.shown = pos;
            }
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The I/O error inside a CSV error as itself (so a closed pipe stays
/// recognizable as one), other CSV errors wrapped.
fn csv_io(e: csv::Error) -> io::Error {
    if !matches!(e.kind(), csv::ErrorKind::Io(_)) {
        return io::Error::other(e);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => io::Error::other(format!("{other:?}")),
    }
}
