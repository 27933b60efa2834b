//! The durable run log: one append-only file per run (docs/run-log-format.md).

pub mod block;
pub mod block_codec;
pub(crate) mod file_window;
pub mod format;
pub mod frame_v1;
pub mod index;
pub(crate) mod payload_buf;
pub mod reader;
pub mod run_meta;
pub mod varint;
pub(crate) mod writeback;
pub mod writer;
