//! `run.json`: a run's metadata and final counts, and the service's registry
//! entry that lets a restarted service adopt a live run.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Contents of `<run_dir>/run.json`.
///
/// # Examples
/// ```
/// let m = ringlog_service::RunMeta { run_id: "r1".into(), state: "running".into(), ..Default::default() };
/// let text = serde_json::to_string(&m).unwrap();
/// assert!(text.contains("\"run_id\":\"r1\""));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Run id (also the run directory's name by default).
    pub run_id: String,
    /// Project.
    pub project: String,
    /// Display name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Config object.
    pub config: serde_json::Value,
    /// Absolute run directory.
    pub run_dir: String,
    /// Creation, Unix ms.
    pub created_unix_ms: u64,
    /// `running`, `finished` or `crashed`.
    pub state: String,
    /// Exit code (`None` while running; -1 when the owner's handle was dropped unfinished).
    pub exit_code: Option<i32>,
    /// Wall time from init to finish, ms.
    pub runtime_ms: u64,
    /// Records in the run log.
    pub records: u64,
    /// Payload bytes in the run log.
    pub bytes: u64,
    /// Records dropped by policy.
    pub drops: u64,
    /// Block timeouts.
    pub timeouts: u64,
    /// Frames rejected.
    pub invalid_frames: u64,
    /// Lanes whose producer died.
    pub abandoned_lanes: u32,
    /// Lanes whose drop and timeout counters were not believed (see `FinishReport`).
    #[serde(default)]
    pub untrusted_counter_lanes: u32,
    /// Records committed that the finish could not make durable.
    #[serde(default)]
    pub lost_records: u64,
    /// The same, lane by lane.
    #[serde(default)]
    pub lost_by_lane: Vec<ringlog_ring::protocol::control_message::LaneLoss>,
    /// Why, when records were lost.
    #[serde(default)]
    pub loss_reason: Option<String>,
    /// Lanes still open when the finish closed the run.
    #[serde(default)]
    pub stalled_lanes: Vec<ringlog_ring::protocol::control_message::LaneStall>,
    /// Segment name while the run is live.
    pub segment: String,
    /// Pid that owns the run (called init).
    pub owner_pid: u32,
    /// Whether the service writes the run as a W&B offline run into `<run_dir>/wandb/` while
    /// it drains (`InitOptions::wandb`). Absent in older files: `false`.
    #[serde(default)]
    pub wandb: bool,
    /// Seconds between system stats samples (`InitOptions::system_stats`); 0: off. Absent
    /// in older files: the default.
    #[serde(default)]
    pub system_stats_s: Option<f64>,
}

/// File name of the run log inside a run directory.
pub const RUN_LOG_FILE: &str = "run.rlog";
/// File name of the metadata inside a run directory.
pub const RUN_META_FILE: &str = "run.json";
/// File name of the summary inside a run directory.
pub const SUMMARY_FILE: &str = "summary.json";
/// Space the service sets aside in a run directory at init and frees at
/// finish, so that `summary.json` and `run.json` can still be written when
/// the run log has filled the disk.
pub const RESERVE_FILE: &str = ".ringlog-reserve";
/// Bytes set aside in [`RESERVE_FILE`].
pub const RESERVE_BYTES: usize = 64 << 10;

/// Sets [`RESERVE_BYTES`] aside in `run_dir` (written, not sparse, so the
/// file system really holds them).
///
/// # Errors
/// The write's I/O error (the disk is already full: nothing to set aside).
///
/// # Examples
/// ```
/// let dir = std::env::temp_dir().join(format!("ringlog-doc-reserve-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// ringlog_service::runlog::run_meta::reserve_space(&dir)?;
/// assert_eq!(std::fs::metadata(dir.join(".ringlog-reserve"))?.len(), 64 << 10);
/// ringlog_service::runlog::run_meta::release_reserve(&dir);
/// assert!(!dir.join(".ringlog-reserve").exists());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn reserve_space(run_dir: &Path) -> std::io::Result<()> {
    let path = run_dir.join(RESERVE_FILE);
    // 0600, like every file of a run (ADR 9).
    let result = std::os::unix::fs::OpenOptionsExt::mode(
        std::fs::OpenOptions::new().write(true).create(true).truncate(true),
        0o600,
    )
    .open(&path)
    .and_then(|mut f| std::io::Write::write_all(&mut f, &vec![0u8; RESERVE_BYTES]));
    if result.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    result
}

/// Frees the space [`reserve_space`] set aside (nothing if there is none).
///
/// # Examples
/// See [`reserve_space`].
pub fn release_reserve(run_dir: &Path) {
    let _ = std::fs::remove_file(run_dir.join(RESERVE_FILE));
}

impl RunMeta {
    /// Reads `run.json` from `run_dir`.
    ///
    /// # Errors
    /// I/O or JSON errors, as text naming the file.
    pub fn read(run_dir: &Path) -> Result<Self, String> {
        let path = run_dir.join(RUN_META_FILE);
        let text = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes `run.json` into `run_dir` atomically and durably.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, run_dir: &Path) -> std::io::Result<()> {
        write_json_atomic(&run_dir.join(RUN_META_FILE), self, true)
    }

    /// Path of the run log.
    pub fn log_path(&self) -> PathBuf {
        Path::new(&self.run_dir).join(RUN_LOG_FILE)
    }
}

/// Writes `value` as JSON to `path` via a temporary file and a rename, so a
/// reader sees the old file or the new one. With `durable`, the file and the
/// directory are fsynced too (survives a power loss, not only a crash).
///
/// # Errors
/// I/O errors.
///
/// # Examples
/// ```
/// let path = std::env::temp_dir().join(format!("ringlog-doc-meta-{}.json", std::process::id()));
/// ringlog_service::write_json_atomic(&path, &serde_json::json!({"a": 1}), false)?;
/// assert_eq!(std::fs::read_to_string(&path)?.trim(), "{\n  \"a\": 1\n}");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T, durable: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("json");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        // 0600: run data is private to the user (ADR 9).
        let file = std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new().write(true).create(true).truncate(true),
            0o600,
        )
        .open(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut w, value).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if durable {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
