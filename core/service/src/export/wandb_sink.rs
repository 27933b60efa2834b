//! Run-log records into a W&B offline run, one record at a time: shared by
//! `ringlog export --format wandb` (reading a run log) and the service's live W&B mode
//! (reading each drained batch). The mapping is described in
//! [`wandb_export`](crate::export::wandb_export).

use std::path::Path;

use ringlog_ring::record::schema::{ArchivedAlertLevel, ArchivedStream, ArchivedValue, RecordRef};
use ringlog_wandb::{AlertLevel, MergedRow, Outcome, RunDir, RunInfo, Stream, WandbValue, WandbWriter};

use crate::export::exporters::ExportError;
use crate::export::key_table::KeyTable;
use crate::export::merged_history::MergedHistory;
use crate::export::wandb_value::wandb_value;

/// How [`WandbSink::finish`] decides the run's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum End {
    /// From the records: the `Exit` record's code, or crashed without one. `runtime_s`
    /// overrides the runtime measured from the records.
    FromLog { runtime_s: Option<f64> },
    /// Given by the caller (the service knows how the run ended).
    Known(Outcome),
}

/// What [`WandbSink::finish`] wrote.
#[derive(Debug, Clone)]
pub(crate) struct Ended {
    pub rows: u64,
    pub late_rows: u64,
    pub dropped_items: u64,
    pub outcome: Outcome,
    pub run: RunDir,
}

/// A W&B writer fed with run-log records.
#[derive(Debug)]
pub(crate) struct WandbSink {
    writer: WandbWriter,
    merged: MergedHistory,
    rows: u64,
    /// Exit code and timestamp of the `Exit` record, once seen.
    exit: Option<(i32, u64)>,
    start_ns: u64,
    /// Latest record timestamp seen (the runtime of a crashed run).
    last_ts: u64,
}

impl WandbSink {
    /// Creates the W&B run under `out_dir` (see [`WandbWriter::create`]).
    pub(crate) fn create(out_dir: &Path, info: &RunInfo, merged: MergedHistory) -> Result<Self, ExportError> {
        let writer = WandbWriter::create(out_dir, info)?;
        let start_ns = info.start_time_unix_ns;
        Ok(Self { writer, merged, rows: 0, exit: None, start_ns, last_ts: start_ns })
    }

    /// Writes (or, for history, buffers) one record of lane `lane`.
    pub(crate) fn observe(&mut self, lane: u16, record: &RecordRef<'_>, keys: &KeyTable) -> Result<(), ExportError> {
        let (writer, rows) = (&mut self.writer, &mut self.rows);
        self.merged.observe(lane, record, keys, &mut |row| write_row(writer, row, rows))?;
        let w = &mut self.writer;
        match record {
            RecordRef::Scalar1(s) => self.last_ts = self.last_ts.max(s.ts_ns.to_native()),
            RecordRef::Scalars(s) => self.last_ts = self.last_ts.max(s.ts_ns.to_native()),
            RecordRef::History(h) => self.last_ts = self.last_ts.max(h.ts_ns.to_native()),
            RecordRef::Config(c) => {
                let names: Vec<_> = c.items.iter().map(|i| keys.resolve(lane, i.key.to_native())).collect();
                let items: Vec<(&str, WandbValue)> = names
                    .iter()
                    .zip(c.items.iter())
                    .filter(|(name, _)| !name.is_empty())
                    .map(|(name, i)| (name.as_ref(), wandb_value(&i.value)))
                    .collect();
                if !items.is_empty() {
                    w.config(&items)?;
                }
            }
            RecordRef::Output(o) => {
                let stream = match o.stream {
                    ArchivedStream::Stdout => Stream::Stdout,
                    ArchivedStream::Stderr => Stream::Stderr,
                };
                w.output_line(stream, o.ts_ns.to_native(), o.line.as_str())?;
            }
            RecordRef::Alert(a) => {
                let level = match a.level {
                    ArchivedAlertLevel::Info => AlertLevel::Info,
                    ArchivedAlertLevel::Warn => AlertLevel::Warn,
                    ArchivedAlertLevel::Error => AlertLevel::Error,
                };
                w.alert(a.title.as_str(), a.text.as_str(), level)?;
            }
            RecordRef::Stats(s) => {
                let names: Vec<_> = s.items.iter().map(|i| keys.resolve(lane, i.key.to_native())).collect();
                let items: Vec<(&str, f64)> = names
                    .iter()
                    .zip(s.items.iter())
                    .filter_map(|(name, i)| match &i.value {
                        ArchivedValue::F64(v) => Some((name.as_ref(), v.to_native())),
                        ArchivedValue::I64(v) => Some((name.as_ref(), v.to_native() as f64)),
                        _ => None,
                    })
                    .collect();
                if !items.is_empty() {
                    w.stats(s.ts_ns.to_native(), &items)?;
                }
            }
            RecordRef::Summary(r) => {
                // W&B's own keys (`_step`, ...) are not the trainer's to set: left out.
                let names: Vec<_> = r.items.iter().map(|i| keys.resolve(lane, i.key.to_native())).collect();
                let items: Vec<(&str, WandbValue)> = names
                    .iter()
                    .zip(r.items.iter())
                    .filter(|(name, _)| !name.is_empty() && !ringlog_wandb::RESERVED_KEYS.contains(&name.as_ref()))
                    .map(|(name, i)| (name.as_ref(), wandb_value(&i.value)))
                    .collect();
                w.summary(&items)?;
            }
            RecordRef::Exit(e) => self.exit = Some((e.exit_code.to_native(), e.ts_ns.to_native())),
            RecordRef::KeyDef(_) => {}
        }
        Ok(())
    }

    /// Live mode: writes the rows no lane can add to any more (see
    /// [`MergedHistory::release_settled`]) and hands everything to the kernel, so a
    /// follower (`wandb leet inspect --follow`) sees them.
    pub(crate) fn flush_settled(&mut self) -> Result<(), ExportError> {
        let (writer, rows) = (&mut self.writer, &mut self.rows);
        self.merged.release_settled(&mut |row| write_row(writer, row, rows))?;
        self.writer.flush()?;
        Ok(())
    }

    /// Writes the buffered rows, the exit record and the side files.
    pub(crate) fn finish(self, end: End) -> Result<Ended, ExportError> {
        let Self { mut writer, merged, mut rows, exit, start_ns, last_ts } = self;
        let (late_rows, dropped_items) = (merged.late_rows(), merged.dropped_items());
        merged.finish(&mut |row| write_row(&mut writer, row, &mut rows))?;
        let runtime_from = |end_ns: u64| end_ns.saturating_sub(start_ns) as f64 / 1e9;
        let outcome = match end {
            End::Known(outcome) => outcome,
            End::FromLog { runtime_s } => match exit {
                Some((exit_code, ts)) => {
                    Outcome::Exited { exit_code, runtime_s: runtime_s.unwrap_or_else(|| runtime_from(ts.max(last_ts))) }
                }
                None => Outcome::Crashed { runtime_s: runtime_from(last_ts) },
            },
        };
        let run = writer.finish(outcome)?;
        Ok(Ended { rows, late_rows, dropped_items, outcome, run })
    }
}

fn write_row(w: &mut WandbWriter, row: MergedRow<WandbValue>, rows: &mut u64) -> Result<(), ExportError> {
    w.history(row.step, row.timestamp_unix_ns, &row.items)?;
    *rows += 1;
    Ok(())
}
