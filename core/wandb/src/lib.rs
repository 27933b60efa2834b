//! Writes Weights & Biases offline runs (`run-<id>.wandb` files) from plain Rust values, and
//! downsamples metric rows for every export format.
//!
//! The files are the ones `wandb.init(mode="offline")` writes, checked against W&B's own
//! reader (`wandb leet inspect`, `wandb sync --dry-run`) from `wandb==0.31.0`: `wandb sync`
//! uploads them and `wandb leet` shows them, live while they are written.
//!
//! # Format, as verified against W&B 0.31
//!
//! - Framing: a 7-byte file header, then LevelDB-log chunks in 32 KiB blocks with a plain
//!   IEEE CRC-32 ([`RecordFramer`]).
//! - Records: `wandb_internal.Record` protobufs ([`proto`]), numbered 1, 2, 3 ...: header,
//!   run (with config), then per step a summary update and the history row, output, stats,
//!   alerts, and at the end a `_wandb.runtime` summary update and the exit record.
//! - Keys: written as W&B writes them, a one-element `nested_key`. **A `/` does not split a
//!   key**: `run.log({"train/loss": 1})` in W&B 0.31 writes `nested_key: ["train/loss"]`, and
//!   W&B's UI makes the `train` panel section from the `/` itself. Only the fields of a logged
//!   object get a multi-element path (a histogram's `["h", "bins"]`).
//! - Values ([`WandbValue`]): JSON text in `value_json`; NaN, +inf and -inf are the unquoted
//!   JSON extensions `NaN`, `Infinity`, `-Infinity` (what W&B's client writes); integers are
//!   exact decimal text, also beyond 2^53; floats use the shortest text that reads back to the
//!   same `f64`, formatted like W&B's Go writer (`1e-05`, `1.234567e+06`).
//! - Float arrays: [`WandbValue::F32Array`] is logged as a W&B histogram, the exact counts and
//!   edges `wandb.Histogram(np.array(values, dtype=np.float32))` produces (64 bins), written as
//!   W&B writes a histogram: the items `key._type = "histogram"`, `key.values` (64 counts),
//!   `key.bins` (65 edges). A histogram is what W&B's UI plots over steps for a logged array;
//!   W&B has no plain "array" value type.
//! - Run state: an exit record with exit code 0 shows as *finished*, any other code as
//!   *failed* ([`Outcome::Crashed`] writes 1, as W&B's client does for an uncaught
//!   exception), and no exit record as *running*.
//!
//! # Examples
//!
//! ```
//! use ringlog_wandb::{Outcome, RunInfo, WandbValue, WandbWriter};
//! let dir = std::env::temp_dir().join(format!("ringlog-wandb-lib-{}", std::process::id()));
//! let start = 1_796_137_118_000_000_000;
//! let info = RunInfo { run_id: "librun1".into(), project: "demo".into(), start_time_unix_ns: start, ..Default::default() };
//! let mut w = WandbWriter::create(&dir, &info)?;
//! for step in 0..3 {
//!     w.history(step, start + step as u64 * 1_000_000, &[("train/loss", WandbValue::F64(1.0 / (step + 1) as f64))])?;
//! }
//! w.flush()?;
//! w.finish(Outcome::Exited { exit_code: 0, runtime_s: 0.5 })?;
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), ringlog_wandb::WandbError>(())
//! ```
//!
//! Downsampling ([`Downsampler`], [`every_for_max_rows`], [`RowMerger`]) has no W&B
//! dependency: W&B's server takes about 1,000 rows per minute, so a high-rate run is cut to a
//! few thousand rows before upload while the local log keeps everything.

mod downsample;
mod error;
mod histogram;
mod history_encoding;
mod leveldb_log;
pub mod proto;
mod row_merger;
mod run_dir;
mod run_files;
mod summary_state;
mod value;
mod writer;

pub use downsample::{Downsampler, Numeric, Row, StepOrderError, every_for_max_rows};
pub use error::WandbError;
pub use leveldb_log::{BLOCK_SIZE, CHUNK_HEADER_LEN, ChunkType, FILE_HEADER, RecordFramer};
pub use row_merger::{MergedRow, RowMerger};
pub use run_dir::RunDir;
pub use value::{WandbValue, write_f64};
pub use writer::{AlertLevel, Outcome, RESERVED_KEYS, RunInfo, SPILL_BYTES, Stream, WandbWriter};
