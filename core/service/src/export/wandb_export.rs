//! `ringlog export RUN --format wandb`: a run log as a W&B offline run, which `wandb sync`
//! uploads and `wandb leet` shows.
//!
//! The run log is streamed once (twice with `--max-rows`, whose window width needs the
//! run's step range first); memory stays bounded by the reorder window of
//! [`MergedHistory`] and the key names, whatever the log's size.
//!
//! # What goes where
//!
//! | run log / `run.json`                 | W&B                                                   |
//! |--------------------------------------|-------------------------------------------------------|
//! | `run_id`, `project`, `name`, `tags`  | the run record (an empty project becomes `uncategorized`, W&B's default; characters W&B refuses in a run id become `-`) |
//! | `config` of `run.json` (from init)   | the run record's config                               |
//! | `Config` records                     | config updates, where they occur (W&B accepts updates mid-run, like `wandb.config.update`; no pre-scan) |
//! | `Scalar1`, `Scalars`, `History`      | history rows, merged across lanes per step ([`MergedHistory`]), optionally downsampled ([`Sampling`]) |
//! | `OutputLine`                         | console output (stdout/stderr)                        |
//! | `Alert`                              | alerts                                                |
//! | `SystemStats`                        | system metrics (numeric items only)                   |
//! | `Exit`                               | [`Outcome::Exited`] with its exit code (0: finished, else failed) |
//! | no `Exit` record (a crashed run)     | [`Outcome::Crashed`]: exit code 1, W&B's *failed*      |
//!
//! Values map exactly ([`wandb_value`](crate::wandb_value)): `F64`, `I64` (exact beyond 2^53),
//! `Bool`, `Str`, `F32Array` (a W&B histogram), `Json`. `Summary` records are not exported:
//! W&B's summary is each key's last history value, which the writer keeps itself.
//!
//! The run starts at the run log's creation time; the runtime is `run.json`'s `runtime_ms`
//! when the run finished, else the time from the start to the last record.

use std::path::Path;

use ringlog_ring::record::schema::{ArchivedAlertLevel, ArchivedStream, ArchivedValue, RecordRef};
use ringlog_wandb::{AlertLevel, MergedRow, Outcome, RunDir, RunInfo, Stream, WandbError, WandbValue, WandbWriter};

use crate::export::exporters::{ExportError, ExportStats, Progress, history_step_range, open_log, walk};
use crate::export::merged_history::MergedHistory;
use crate::export::sampling::Sampling;
use crate::export::wandb_value::wandb_value;
use crate::runlog::run_meta::RunMeta;

/// Project name when `run.json` has none: W&B's own default.
const DEFAULT_PROJECT: &str = "uncategorized";
/// Longest run id W&B accepts.
const MAX_RUN_ID: usize = 128;

/// What [`export_wandb`] wrote.
///
/// # Examples
/// See [`export_wandb`].
#[derive(Debug, Clone)]
pub struct WandbExport {
    /// What was read from the run log (`rows`: history rows written to W&B; `late_rows`:
    /// rows dropped because their step arrived after a later step was written, see
    /// [`MergedHistory`]).
    pub stats: ExportStats,
    /// History items left out because their key is empty or reserved by W&B.
    pub dropped_items: u64,
    /// How the run ended, as written.
    pub outcome: Outcome,
    /// The W&B run's files.
    pub run: RunDir,
}

/// Writes the run in `run_dir` as a W&B offline run under `out_dir/wandb/` (the layout
/// `wandb.init(mode="offline")` makes), downsampled as `sampling` says.
///
/// # Errors
/// [`ExportError::NoRunLog`], [`ExportError::RunLog`] if the log cannot be read,
/// [`ExportError::Wandb`] if the W&B run cannot be written (it exists already, the disk is
/// full, ...). Damaged frames are counted in the stats, not errors.
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, HeapRun};
/// use ringlog_service::{RunLogHeader, RunLogWriter, Sampling};
/// let dir = std::env::temp_dir().join(format!("ringlog-doc-wandb-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// std::fs::create_dir_all(&dir)?;
/// let run = HeapRun::new(1 << 16, 1).unwrap();
/// let mut p = run.claim(0, Default::default())?;
/// let loss = p.key("train/loss")?;
/// for step in 0..10 {
///     p.log_scalar1(step, loss, 1.0 / (step + 1) as f64)?;
/// }
/// let mut c = run.consumer()?;
/// let mut batch = Batch::new(1 << 16);
/// c.drain(&mut batch);
/// RunLogWriter::create(dir.join("run.rlog"), &RunLogHeader::new("doc"))?.append_batch(&batch)?;
///
/// let out = dir.join("out");
/// let export = ringlog_service::export_wandb(&dir, &out, &Sampling::default(), false)?;
/// assert_eq!(export.stats.rows, 10);
/// assert!(export.run.wandb_file.exists());
/// // No exit record in this log: the run is written as crashed (W&B shows it failed).
/// assert_eq!(export.outcome.exit_code(), 1);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn export_wandb(
    run_dir: impl AsRef<Path>,
    out_dir: impl AsRef<Path>,
    sampling: &Sampling,
    progress: bool,
) -> Result<WandbExport, ExportError> {
    let run_dir = run_dir.as_ref();
    let (log, len) = open_log(run_dir)?;
    let start_ns = log.header().created_unix_ns;
    let meta = RunMeta::read(run_dir).ok();
    let info = run_info(run_dir, meta.as_ref(), start_ns);
    let downsample = downsampling(run_dir, sampling)?;

    let mut w = WandbWriter::create(out_dir.as_ref(), &info)?;
    let mut merged = MergedHistory::new(downsample);
    let mut rows = 0u64;
    let mut exit: Option<(i32, u64)> = None;
    let mut last_ts = start_ns;
    let mut bar = Progress::new(progress, len, "W&B");
    let (mut stats, _) = walk(log, len, &mut bar, None, |rec, keys| {
        let lane = rec.lane();
        let record = rec.record();
        merged.observe(lane, &record, keys, &mut |row| write_row(&mut w, row, &mut rows))?;
        match &record {
            RecordRef::Scalar1(s) => last_ts = last_ts.max(s.ts_ns.to_native()),
            RecordRef::Scalars(s) => last_ts = last_ts.max(s.ts_ns.to_native()),
            RecordRef::History(h) => last_ts = last_ts.max(h.ts_ns.to_native()),
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
            RecordRef::Exit(e) => exit = Some((e.exit_code.to_native(), e.ts_ns.to_native())),
            RecordRef::KeyDef(_) | RecordRef::Summary(_) => {}
        }
        Ok(())
    })?;
    let (late_rows, dropped_items) = (merged.late_rows(), merged.dropped_items());
    merged.finish(&mut |row| write_row(&mut w, row, &mut rows))?;
    bar.finish();

    let runtime_from = |end_ns: u64| end_ns.saturating_sub(start_ns) as f64 / 1e9;
    let outcome = match exit {
        Some((exit_code, ts)) => {
            let runtime_s = match meta.as_ref().map(|m| m.runtime_ms) {
                Some(ms) if ms > 0 => ms as f64 / 1e3,
                _ => runtime_from(ts.max(last_ts)),
            };
            Outcome::Exited { exit_code, runtime_s }
        }
        None => Outcome::Crashed { runtime_s: runtime_from(last_ts) },
    };
    let run = w.finish(outcome)?;
    stats.rows = rows;
    stats.late_rows = late_rows;
    if late_rows > 0 {
        tracing::warn!(late_rows, "history rows whose step came after a later step were left out of the W&B run");
    }
    Ok(WandbExport { stats, dropped_items, outcome, run })
}

/// `Some((every, agg))` when `sampling` downsamples; reads the step range first for
/// `--max-rows`.
pub(crate) fn downsampling(run_dir: &Path, sampling: &Sampling) -> Result<Option<(u64, bool)>, ExportError> {
    if !sampling.is_active() {
        return Ok(None);
    }
    let (first, last) =
        if sampling.needs_step_range() { history_step_range(run_dir)?.unwrap_or((0, 0)) } else { (0, 0) };
    Ok(Some((sampling.every_for(first, last), sampling.agg)))
}

fn write_row(w: &mut WandbWriter, row: MergedRow<WandbValue>, rows: &mut u64) -> Result<(), ExportError> {
    let (names, values): (Vec<String>, Vec<WandbValue>) = row.items.into_iter().unzip();
    let items: Vec<(&str, WandbValue)> = names.iter().map(String::as_str).zip(values).collect();
    w.history(row.step, row.timestamp_unix_ns, &items)?;
    *rows += 1;
    Ok(())
}

/// W&B's run metadata from `run.json` (or, without one, from the directory's name).
fn run_info(run_dir: &Path, meta: Option<&RunMeta>, start_ns: u64) -> RunInfo {
    let dir_name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let raw_id = meta.map(|m| m.run_id.as_str()).filter(|id| !id.is_empty()).unwrap_or(&dir_name);
    let project = meta.map(|m| m.project.clone()).filter(|p| !p.is_empty()).unwrap_or_else(|| DEFAULT_PROJECT.into());
    let config = match meta.map(|m| &m.config) {
        Some(serde_json::Value::Object(map)) => {
            map.iter().filter(|(k, _)| !k.is_empty()).map(|(k, v)| (k.clone(), config_value(v))).collect()
        }
        _ => Vec::new(),
    };
    RunInfo {
        run_id: wandb_run_id(raw_id),
        project,
        name: meta.map(|m| m.name.clone()).unwrap_or_default(),
        tags: meta.map(|m| m.tags.clone()).unwrap_or_default(),
        start_time_unix_ns: start_ns,
        config,
        ..Default::default()
    }
}

/// A `run.json` config value (already JSON) as a W&B value.
fn config_value(v: &serde_json::Value) -> WandbValue {
    match v {
        serde_json::Value::Bool(b) => WandbValue::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => WandbValue::I64(i),
            None => WandbValue::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => WandbValue::Str(s.clone()),
        other => WandbValue::Json(other.to_string()),
    }
}

/// `id` with the characters W&B refuses in a run id replaced by `-`, cut to 128 bytes;
/// `ringlog-run` when empty.
///
/// # Examples
/// ```
/// assert_eq!(ringlog_service::wandb_run_id("a b/c"), "a-b-c");
/// assert_eq!(ringlog_service::wandb_run_id(""), "ringlog-run");
/// ```
pub fn wandb_run_id(id: &str) -> String {
    let mut out: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .take(MAX_RUN_ID)
        .collect();
    if out.is_empty() {
        out.push_str("ringlog-run");
    }
    out
}

impl From<WandbError> for ExportError {
    fn from(e: WandbError) -> Self {
        ExportError::Wandb(Box::new(e))
    }
}
