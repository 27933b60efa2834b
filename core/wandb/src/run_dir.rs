//! Where a W&B offline run's files go.
//!
//! The layout is the one `wandb.init(mode="offline")` makes (checked with `wandb==0.31.0`):
//!
//! ```text
//! DIR/wandb/
//!   latest-run -> offline-run-YYYYMMDD_HHMMSS-<id>     (relative symlink)
//!   offline-run-YYYYMMDD_HHMMSS-<id>/
//!     run-<id>.wandb      the record log
//!     files/              output.log, wandb-summary.json, config.yaml, wandb-metadata.json
//!     logs/               W&B's own debug logs (left empty here)
//! ```
//!
//! The timestamp is the run's start time in UTC (W&B uses the local time zone; on the UTC
//! machines training runs on the two agree, and nothing reads the time back from the name).
//! `wandb sync` finds runs by the `offline-run-*` pattern and the `.wandb` file inside.

use crate::error::WandbError;
use ringlog_ring::protocol::utc_time::UtcTime;
use std::path::{Path, PathBuf};

/// The paths of one offline run.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::RunDir;
/// let d = RunDir::layout("/tmp/out".as_ref(), "abc123", 1_796_137_118_000_000_000);
/// assert!(d.run_dir.ends_with("wandb/offline-run-20261201_145838-abc123"));
/// assert!(d.wandb_file.ends_with("run-abc123.wandb"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    /// `DIR/wandb`, the directory `wandb sync` scans.
    pub wandb_dir: PathBuf,
    /// `DIR/wandb/offline-run-YYYYMMDD_HHMMSS-<id>`.
    pub run_dir: PathBuf,
    /// `<run_dir>/run-<id>.wandb`.
    pub wandb_file: PathBuf,
    /// `<run_dir>/files`.
    pub files_dir: PathBuf,
    /// `<run_dir>/logs`.
    pub logs_dir: PathBuf,
}

impl RunDir {
    /// The paths of run `run_id` started at `start_time_unix_ns`, under `out_dir`. Creates
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let d = ringlog_wandb::RunDir::layout("out".as_ref(), "r1", 0);
    /// assert_eq!(d.files_dir, std::path::Path::new("out/wandb/offline-run-19700101_000000-r1/files"));
    /// ```
    pub fn layout(out_dir: &Path, run_id: &str, start_time_unix_ns: u64) -> Self {
        let wandb_dir = out_dir.join("wandb");
        let stamp = UtcTime::from_unix_ns(start_time_unix_ns).dir_stamp();
        let run_dir = wandb_dir.join(format!("offline-run-{stamp}-{run_id}"));
        Self {
            wandb_file: run_dir.join(format!("run-{run_id}.wandb")),
            files_dir: run_dir.join("files"),
            logs_dir: run_dir.join("logs"),
            run_dir,
            wandb_dir,
        }
    }

    /// Checks that `run_id` is usable in a directory name and a W&B URL.
    ///
    /// # Errors
    ///
    /// [`WandbError::InvalidRunId`] unless the id is 1 to 128 ASCII letters, digits, `-` or `_`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringlog_wandb::RunDir;
    /// assert!(RunDir::check_run_id("a1-b_2").is_ok());
    /// assert!(RunDir::check_run_id("../x").is_err());
    /// ```
    pub fn check_run_id(run_id: &str) -> Result<(), WandbError> {
        let ok = !run_id.is_empty()
            && run_id.len() <= 128
            && run_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok { Ok(()) } else { Err(WandbError::InvalidRunId(run_id.to_owned())) }
    }

    /// Creates the run, `files` and `logs` directories.
    pub(crate) fn create_dirs(&self) -> Result<(), WandbError> {
        for dir in [&self.files_dir, &self.logs_dir] {
            std::fs::create_dir_all(dir).map_err(|source| WandbError::CreateDir { path: dir.clone(), source })?;
        }
        Ok(())
    }

    /// Points `wandb/latest-run` at this run (replacing an older link atomically). A failure
    /// is ignored: the link is a convenience W&B's tools do not need.
    pub(crate) fn link_latest(&self) {
        #[cfg(unix)]
        {
            let Some(name) = self.run_dir.file_name() else { return };
            let link = self.wandb_dir.join("latest-run");
            let tmp = self.wandb_dir.join(format!(".latest-run.{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            if std::os::unix::fs::symlink(name, &tmp).is_ok() && std::fs::rename(&tmp, &link).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
}
