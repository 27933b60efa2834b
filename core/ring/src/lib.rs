//! ringlog-ring: the shared-memory data path of ringlog and the vocabulary
//! both of its sides speak.
//!
//! This crate is for the authors of the service and of language bindings.
//! A trainer uses the `ringlog` crate (core/client), which wraps this one.
//!
//! - [`ring`]: the run segment in `/dev/shm`, its lanes, frames, the
//!   [`Producer`] (a trainer's end of one lane), the [`Consumer`] (the
//!   service's end of every lane of a run) and the futex wakeup.
//! - [`record`]: the rkyv record schema written into frames.
//! - [`protocol`]: the control channel's messages, the runtime directory and
//!   the service lock.
//!
//! **Trusted bytes.** Nothing read from shared memory is trusted: frames are
//! copied out and validated (`rkyv::access` with bytecheck) before use, every
//! offset, count and length read from shared memory is bounded before use,
//! and a lane whose framing is broken is closed without affecting other lanes.
//!
//! ```
//! use ringlog_ring::{Batch, HeapRun, RecordRef};
//! let run = HeapRun::new(1 << 16, 1).unwrap();
//! let mut p = run.claim(0, Default::default())?;
//! let loss = p.key("train/loss")?;
//! p.log_scalar1(0, loss, 2.5)?;
//!
//! let mut consumer = run.consumer()?;
//! let mut batch = Batch::new(1 << 16);
//! consumer.drain(&mut batch);
//! assert!(batch.frames().any(|f| matches!(f.record(), RecordRef::Scalar1(s) if s.value == 2.5)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod protocol;
pub mod record;
pub mod ring;

pub use protocol::runtime_dir::{RuntimeDir, RuntimeDirError};
pub use record::schema::{
    Alert, AlertLevel, Config, Exit, History, Item, KeyDef, KeyId, OutputLine, RECORD_FORMAT_VERSION, Record,
    RecordKind, RecordRef, Scalar1, ScalarItem, Scalars, Stream, Summary, SystemStats, Value,
};
pub use ring::batch::{Batch, FrameRef};
pub use ring::clock;
pub use ring::consumer::Consumer;
pub use ring::error::{FrameError, ProduceError, SegmentError};
pub use ring::frame::{FrameHeader, FrameState};
pub use ring::full_policy::{DEFAULT_BLOCK_TIMEOUT, FullPolicy, MAX_BLOCK_TIMEOUT};
pub use ring::heap_run::HeapRun;
pub use ring::lane_memory::{MAX_LANE_BYTES, MIN_LANE_BYTES};
pub use ring::layout::{LaneState, RunState};
pub use ring::producer::{LaneCounters, Logged, MAX_KEY_LEN, MAX_KEYS, Producer};
pub use ring::segment::{
    DEFAULT_LANE_BYTES, DEFAULT_MAX_LANES, Geometry, LaneStats, NAME_PREFIX, SHM_DIR, Segment, SegmentConfig,
    SegmentInfo, SegmentListing, SegmentOwner, check_shm_capacity,
};
pub use ring::truncation_guard;
