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

use ringlog_wandb::{Outcome, RunDir, RunInfo, WandbError, WandbValue};

use crate::export::exporters::{ExportError, ExportStats, Progress, history_step_range, open_log};
use crate::export::merged_history::MergedHistory;
use crate::export::sampling::Sampling;
use crate::export::wandb_sink::{End, WandbSink};
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

    let mut sink = WandbSink::create_piped(out_dir.as_ref(), &info, MergedHistory::new(downsample).step_ordered())?;
    let mut bar = Progress::new(progress, len, "W&B");
    let (mut stats, _) = crate::export::step_order_walk::walk_in_step_order(log, len, &mut bar, None, |item, keys| {
        sink.observe_item(item, keys)
    })?;
    bar.finish();
    let runtime_ms = meta.as_ref().map(|m| m.runtime_ms).filter(|&ms| ms > 0);
    let end = sink.finish(End::FromLog { runtime_s: runtime_ms.map(|ms| ms as f64 / 1e3) })?;
    stats.rows = end.rows;
    stats.late_rows = end.late_rows;
    if end.late_rows > 0 {
        tracing::warn!(
            late_rows = end.late_rows,
            "history rows whose step came after a later step were left out of the W&B run"
        );
    }
    let (dropped_items, outcome, run) = (end.dropped_items, end.outcome, end.run);
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

/// W&B's run metadata from `run.json` (or, without one, from the directory's name).
pub(crate) fn run_info(run_dir: &Path, meta: Option<&RunMeta>, start_ns: u64) -> RunInfo {
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
