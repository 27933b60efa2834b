//! The durable run log: one append-only file per run (docs/run-log-format.md).

pub mod format;
pub mod reader;
pub mod run_meta;
pub mod writer;
