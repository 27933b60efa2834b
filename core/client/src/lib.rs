//! ringlog: log from a training run into shared-memory rings, drained to disk
//! by a local service.
//!
//! ```no_run
//! let mut run = ringlog::init(ringlog::InitOptions { project: "mnist".into(), ..Default::default() })?;
//! let loss = run.key("train/loss")?;                   // interned once, in-band
//! for step in 0..1000 {
//!     run.log(step, &[(loss, 1.0 / (step + 1) as f64)])?; // one frame in shared memory, no syscall
//! }
//! let report = run.finish(0)?;                         // drained, fsynced, counted
//! assert_eq!(report.state, ringlog::RunEnd::Finished);
//! # Ok::<(), ringlog::ClientError>(())
//! ```
//!
//! Another process of the run (a DDP rank, a worker) calls [`attach`] with
//! the run id. The service starts on its own when none is running (see
//! [`InitOptions`] and the README's auto-start order).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod client;

pub use client::autostart::AutostartError;
pub use client::run::{
    ClientError, DEFAULT_FINISH_WAIT, DEFAULT_SYSTEM_STATS, InitOptions, Run, attach, attach_with, init,
};
pub use ringlog_ring::protocol::control_message::{ErrorCode, FinishReport, FrameIoError, RunEnd};
pub use ringlog_ring::{
    AlertLevel, FullPolicy, KeyId, LaneCounters, Logged, MAX_BLOCK_TIMEOUT, ProduceError, RuntimeDir, Stream, Value,
};

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
