//! ringlog-service: the service that drains run segments into durable run
//! logs, the exporters, and the `ringlog` command.
//!
//! - [`runlog`]: the on-disk run log (format, writer, reader, run metadata);
//! - [`service`]: the control socket, run workers, daemon start-up, summaries;
//! - [`export`]: JSONL, CSV, summary and W&B exporters, listings and `tail`;
//! - [`cli`]: the `ringlog` command line (the binary is `src/bin/ringlog.rs`).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod cli;
pub mod export;
pub mod runlog;
pub mod service;

pub use export::exporters::{
    ExportError, ExportStats, RunListing, SummarySource, UNKNOWN_STATE, export_csv, export_csv_with, export_jsonl,
    export_jsonl_with, export_summary, list_runs, tail, tail_with_stats,
};
pub use export::key_table::{KeyTable, unknown_key_name};
pub use export::merged_history::{DEFAULT_WINDOW_BYTES, MergedHistory};
pub use export::parquet_export::export_parquet;
pub use export::record_json::{LANE_FIELD, Row, STEP_FIELD, TIMESTAMP_FIELD, f64_json, row, value_json};
pub use export::sampling::Sampling;
pub use export::tail::{Tail, follow, tail_with};
pub use export::wandb_export::{WandbExport, export_wandb, wandb_run_id};
pub use export::wandb_value::{wandb_value, wandb_value_json};
pub use runlog::format::{RunLogError, RunLogHeader};
pub use runlog::reader::{Entry, LogRecord, RunLog, ScalarsEntry};
pub use runlog::run_meta::{RUN_LOG_FILE, RUN_META_FILE, RunMeta, SUMMARY_FILE, write_json_atomic};
pub use runlog::writer::{Appended, Recovery, RunLogCounters, RunLogWriter};
pub use service::summary_state::{SUMMARY_META_KEY, SummaryCounts, SummaryState, SummaryWriteError};
