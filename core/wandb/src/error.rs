//! The errors of this crate: each message says what went wrong and what to do about it.

use std::path::PathBuf;

/// Everything that can go wrong while writing a W&B run.
///
/// # Examples
///
/// ```
/// use ringlog_wandb::WandbError;
/// let e = WandbError::EmptyKey;
/// assert!(e.to_string().contains("non-empty"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WandbError {
    /// A directory of the run could not be created.
    #[error(
        "cannot create the W&B run directory {path}: {source}; check that the output directory exists and is writable"
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The run's `.wandb` file already exists.
    #[error("{path} already exists: pick a new run id (or remove the old run) instead of overwriting its log")]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// Writing or syncing a file failed.
    #[error("cannot write {path}: {source}; check free disk space and permissions")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A run id that W&B cannot use in a directory name and URL.
    #[error("run id {0:?} is not usable: use 1 to 128 ASCII letters, digits, '-' or '_'")]
    InvalidRunId(String),
    /// History steps must increase.
    #[error(
        "step {step} is not after the previous step {previous}: W&B keeps one row per step in increasing order; \
         merge rows of the same step with RowMerger (and sort by step) before writing"
    )]
    StepNotIncreasing {
        /// The rejected step.
        step: i64,
        /// The previous step.
        previous: i64,
    },
    /// An empty key.
    #[error("a logged key is empty: every key must be a non-empty string")]
    EmptyKey,
    /// A key W&B sets itself.
    #[error("key {0:?} is reserved by W&B (it writes _step, _runtime, _timestamp and _wandb itself): rename the key")]
    ReservedKey(String),
    /// A `WandbValue::Json` value that does not parse.
    #[error("the value of {key:?} is not valid JSON ({reason}): pass well-formed JSON text in WandbValue::Json")]
    InvalidJson {
        /// The key.
        key: String,
        /// What the JSON parser reported.
        reason: String,
    },
    /// A previous write failed, so the file may end in a partial record.
    #[error("an earlier write to {path} failed; the run's file ends at its last successful flush: start a new run")]
    Poisoned {
        /// The file.
        path: PathBuf,
    },
}
