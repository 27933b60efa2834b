//! ringlog: shared-memory ring-buffer logging for training runs.
//!
//! A trainer writes log records into its own lock-free single-producer lane
//! of its run's shared-memory [`Segment`]; the service drains every lane with
//! a [`Consumer`] into a private [`Batch`], validates each record there, and
//! makes the run durable. Records are rkyv archives ([`record`]), written in
//! place by the [`Producer`] and checked in place by the consumer.
//!
//! **Trusted bytes.** Nothing read from shared memory is trusted: frames are
//! copied out and validated (`rkyv::access` with bytecheck) before use, and a
//! lane whose framing is broken is closed without affecting other lanes.
//!
//! ```
//! use ringlog::{Batch, RecordRef, Segment, SegmentConfig};
//! let seg = Segment::create(&SegmentConfig { lane_bytes: 1 << 16, ..Default::default() })?;
//! let mut p = seg.producer(0)?;
//! let loss = p.key("train/loss")?;
//! p.log_scalar1(0, loss, 2.5)?;
//!
//! let mut consumer = seg.consumer()?;
//! let mut batch = Batch::new(1 << 16);
//! consumer.drain(&mut batch);
//! assert!(batch.frames().any(|f| matches!(f.record(), RecordRef::Scalar1(s) if s.value == 2.5)));
//! seg.unlink()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod autostart;
mod batch;
mod client;
pub mod clock;
mod consumer;
pub mod control_message;
pub mod daemon;
mod error;
mod export;
mod fork_guard;
pub mod frame;
mod full_policy;
mod key_table;
mod lane_memory;
pub mod layout;
mod producer;
pub mod record;
mod record_json;
pub mod run_log;
mod run_log_reader;
mod run_log_writer;
mod run_meta;
mod run_worker;
mod runtime_dir;
mod scalar_writer;
mod segment;
pub mod service;
mod summary_state;
mod sync;
pub mod wakeup;

pub use batch::{Batch, FrameRef};
pub use client::{ClientError, DEFAULT_FINISH_WAIT, InitOptions, Run, attach, attach_with, init};
pub use consumer::Consumer;
pub use error::{FrameError, ProduceError, SegmentError};
pub use export::{
    ExportError, ExportStats, RunListing, SummarySource, UNKNOWN_STATE, export_csv, export_jsonl, export_summary,
    list_runs, tail,
};
pub use frame::{FrameHeader, FrameState};
pub use full_policy::{DEFAULT_BLOCK_TIMEOUT, FullPolicy};
pub use key_table::{KeyTable, unknown_key_name};
pub use lane_memory::{LaneMemory, MAX_LANE_BYTES, MIN_LANE_BYTES};
pub use layout::{LaneState, RunState};
pub use producer::{LaneCounters, MAX_KEY_LEN, MAX_KEYS, Producer};
pub use record::{
    Alert, AlertLevel, Config, Exit, History, Item, KeyDef, KeyId, OutputLine, RECORD_FORMAT_VERSION, Record,
    RecordKind, RecordRef, Scalar1, ScalarItem, Scalars, Stream, Summary, SystemStats, Value,
};
pub use record_json::{LANE_FIELD, Row, STEP_FIELD, TIMESTAMP_FIELD, f64_json, row, value_json};
pub use run_log::{RunLogError, RunLogHeader};
pub use run_log_reader::{LogRecord, RunLog};
pub use run_log_writer::{Appended, Recovery, RunLogCounters, RunLogWriter};
pub use run_meta::{RUN_LOG_FILE, RUN_META_FILE, RunMeta, SUMMARY_FILE, write_json_atomic};
pub use runtime_dir::{RuntimeDir, RuntimeDirError};
pub use segment::{
    DEFAULT_LANE_BYTES, DEFAULT_MAX_LANES, Geometry, LaneStats, NAME_PREFIX, SHM_DIR, Segment, SegmentConfig,
    SegmentInfo, SegmentListing, check_shm_capacity,
};
pub use summary_state::{SUMMARY_META_KEY, SummaryCounts, SummaryState, SummaryWriteError};
