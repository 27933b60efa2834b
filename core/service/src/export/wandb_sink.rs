//! Run-log records into a W&B offline run, one record at a time: shared by
//! `ringlog export --format wandb` (reading a run log) and the service's live W&B mode
//! (reading each drained batch). The mapping is described in
//! [`wandb_export`](crate::export::wandb_export).

use std::path::Path;

use ringlog_ring::record::schema::{ArchivedAlertLevel, ArchivedStream, ArchivedValue, RecordRef};
use ringlog_wandb::{AlertLevel, MergedRow, Outcome, RunDir, RunInfo, Stream, WandbValue, WandbWriter};

use crate::export::exporters::ExportError;
use crate::export::key_table::KeyTable;
use crate::export::log_walk::Item;
use crate::export::merged_history::MergedHistory;
use crate::export::wandb_pipe::WandbPipe;
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

/// Where the sink's writes go: the writer itself (live mode, which hands each batch to the
/// kernel as it drains), or the writer on its own thread (an export of a finished log).
#[derive(Debug)]
enum Target {
    Direct(Box<WandbWriter>),
    Piped(Box<WandbPipe>),
}

impl Target {
    /// Runs `f` on the writer, in order with the rows written before.
    fn call(
        &mut self,
        f: impl FnOnce(&mut WandbWriter) -> Result<(), ringlog_wandb::WandbError> + Send + 'static,
    ) -> Result<(), ExportError> {
        match self {
            Self::Direct(w) => Ok(f(w)?),
            Self::Piped(p) => p.call(f),
        }
    }

    fn row(&mut self, row: MergedRow<WandbValue>) -> Result<(), ExportError> {
        match self {
            Self::Direct(w) => Ok(w.history(row.step, row.timestamp_unix_ns, &row.items)?),
            Self::Piped(p) => p.row(row),
        }
    }

    fn into_writer(self) -> Result<WandbWriter, ExportError> {
        match self {
            Self::Direct(w) => Ok(*w),
            Self::Piped(p) => p.finish(),
        }
    }
}

/// Owned `(name, value)` items whose name is not empty, for a call on the writer.
type OwnedItems<V> = Vec<(String, V)>;

/// `items` as the borrowed pairs the writer takes.
fn borrowed<V: Clone>(items: &OwnedItems<V>) -> Vec<(&str, V)> {
    items.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()
}

/// A W&B writer fed with run-log records.
#[derive(Debug)]
pub(crate) struct WandbSink {
    target: Target,
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
        Ok(Self { target: Target::Direct(Box::new(writer)), merged, rows: 0, exit: None, start_ns, last_ts: start_ns })
    }

    /// As [`create`](Self::create), with the writer on its own thread (see
    /// [`wandb_pipe`](crate::export::wandb_pipe)): for exports, where nothing follows the
    /// file while it is written.
    pub(crate) fn create_piped(out_dir: &Path, info: &RunInfo, merged: MergedHistory) -> Result<Self, ExportError> {
        let mut sink = Self::create(out_dir, info, merged)?;
        if let Target::Direct(writer) = sink.target {
            sink.target = Target::Piped(Box::new(WandbPipe::start(*writer)?));
        }
        Ok(sink)
    }

    /// [`observe`](Self::observe) of a record as the exports' walks hand it out.
    pub(crate) fn observe_item(&mut self, item: Item<'_>, keys: &KeyTable) -> Result<(), ExportError> {
        match item {
            Item::Scalars(s) => {
                let (target, rows) = (&mut self.target, &mut self.rows);
                let items = s.items.iter().map(|i| (i.key, i.value));
                self.merged
                    .observe_scalars(s.lane, s.step, s.ts_ns, items, keys, &mut |row| write_row(target, row, rows))?;
                self.last_ts = self.last_ts.max(s.ts_ns);
                Ok(())
            }
            Item::Record(rec) => self.observe(rec.lane(), &rec.record(), keys),
        }
    }

    /// Writes (or, for history, buffers) one record of lane `lane`.
    pub(crate) fn observe(&mut self, lane: u16, record: &RecordRef<'_>, keys: &KeyTable) -> Result<(), ExportError> {
        let (target, rows) = (&mut self.target, &mut self.rows);
        self.merged.observe(lane, record, keys, &mut |row| write_row(target, row, rows))?;
        let name = |id: u32| keys.resolve(lane, id).into_owned();
        match record {
            RecordRef::Scalar1(s) => self.last_ts = self.last_ts.max(s.ts_ns.to_native()),
            RecordRef::Scalars(s) => self.last_ts = self.last_ts.max(s.ts_ns.to_native()),
            RecordRef::History(h) => self.last_ts = self.last_ts.max(h.ts_ns.to_native()),
            RecordRef::Config(c) => {
                let items: OwnedItems<WandbValue> = c
                    .items
                    .iter()
                    .map(|i| (name(i.key.to_native()), wandb_value(&i.value)))
                    .filter(|(name, _)| !name.is_empty())
                    .collect();
                if !items.is_empty() {
                    self.target.call(move |w| w.config(&borrowed(&items)))?;
                }
            }
            RecordRef::Output(o) => {
                let stream = match o.stream {
                    ArchivedStream::Stdout => Stream::Stdout,
                    ArchivedStream::Stderr => Stream::Stderr,
                };
                let (ts, line) = (o.ts_ns.to_native(), o.line.as_str().to_owned());
                self.target.call(move |w| w.output_line(stream, ts, &line))?;
            }
            RecordRef::Alert(a) => {
                let level = match a.level {
                    ArchivedAlertLevel::Info => AlertLevel::Info,
                    ArchivedAlertLevel::Warn => AlertLevel::Warn,
                    ArchivedAlertLevel::Error => AlertLevel::Error,
                };
                let (title, text) = (a.title.as_str().to_owned(), a.text.as_str().to_owned());
                self.target.call(move |w| w.alert(&title, &text, level))?;
            }
            RecordRef::Stats(s) => {
                let items: OwnedItems<f64> = s
                    .items
                    .iter()
                    .filter_map(|i| match &i.value {
                        ArchivedValue::F64(v) => Some((name(i.key.to_native()), v.to_native())),
                        ArchivedValue::I64(v) => Some((name(i.key.to_native()), v.to_native() as f64)),
                        _ => None,
                    })
                    .collect();
                if !items.is_empty() {
                    let ts = s.ts_ns.to_native();
                    self.target.call(move |w| w.stats(ts, &borrowed(&items)))?;
                }
            }
            RecordRef::Summary(r) => {
                // W&B's own keys (`_step`, ...) are not the trainer's to set: left out.
                let items: OwnedItems<WandbValue> = r
                    .items
                    .iter()
                    .map(|i| (name(i.key.to_native()), wandb_value(&i.value)))
                    .filter(|(name, _)| !name.is_empty() && !ringlog_wandb::RESERVED_KEYS.contains(&name.as_str()))
                    .collect();
                self.target.call(move |w| w.summary(&borrowed(&items)))?;
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
        let (target, rows) = (&mut self.target, &mut self.rows);
        self.merged.release_settled(&mut |row| write_row(target, row, rows))?;
        self.target.call(|w| w.flush())
    }

    /// Writes the buffered rows, the exit record and the side files.
    pub(crate) fn finish(self, end: End) -> Result<Ended, ExportError> {
        let Self { mut target, merged, mut rows, exit, start_ns, last_ts } = self;
        let (late_rows, dropped_items) = (merged.late_rows(), merged.dropped_items());
        merged.finish(&mut |row| write_row(&mut target, row, &mut rows))?;
        let writer = target.into_writer()?;
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

fn write_row(target: &mut Target, row: MergedRow<WandbValue>, rows: &mut u64) -> Result<(), ExportError> {
    target.row(row)?;
    *rows += 1;
    Ok(())
}
