//! Reading run logs back: JSONL, CSV, Parquet, summary and W&B exports, listings, `tail`.

pub mod exporters;
pub(crate) mod jsonl_pipe;
pub mod key_table;
pub(crate) mod lane_key_map;
pub(crate) mod log_walk;
pub mod merged_history;
pub mod parquet_export;
pub mod record_json;
pub mod sampling;
pub(crate) mod scalar_jsonl;
pub(crate) mod step_order_walk;
pub mod tail;
pub mod wandb_export;
pub(crate) mod wandb_pipe;
pub(crate) mod wandb_sink;
pub mod wandb_value;
