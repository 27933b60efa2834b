//! The data path: a run's segment, its lanes and frames, the producer and
//! consumer ends of a lane, and the futex wakeup.
//!
//! | file | concept |
//! |---|---|
//! | `layout.rs` | the `#[repr(C)]` header, lane table and lane control block |
//! | `segment.rs` | creating, adopting and opening a run's shared-memory segment |
//! | `lane_memory.rs` | the raw view of one lane (crate-private) |
//! | `heap_run.rs` | lanes on the heap, for tests, miri and loom |
//! | `frame.rs` | the 16-byte frame header and commit word |
//! | `producer.rs`, `scalar_writer.rs` | the producer: claim, write in place, commit |
//! | `consumer.rs`, `batch.rs` | the consumer: copy out, validate, release |
//! | `wakeup.rs` | futex parking (the Dekker pattern) |
//! | `full_policy.rs`, `fork_guard.rs`, `clock.rs`, `error.rs`, `sync.rs` | policy, fork detection, record clock, errors, the loom shim |

pub mod batch;
pub mod clock;
pub mod consumer;
pub mod error;
mod fork_guard;
pub mod frame;
pub mod full_policy;
pub mod heap_run;
pub(crate) mod lane_memory;
pub mod layout;
pub mod producer;
mod scalar_writer;
pub mod segment;
pub mod slot_writer;
pub(crate) mod sync;
pub mod truncation_guard;
pub mod wakeup;
