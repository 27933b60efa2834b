//! Benchmarks of ringlog against peer transports.
//!
//! The `compare` binary runs a producer and a consumer in two separate
//! processes (it re-executes itself with a hidden `child` subcommand), pinned
//! to two different cores, over three transports:
//!
//! - `ringlog`: one lane of a real [`ringlog::Segment`], written with
//!   `Producer::log_scalar1` / `log_scalars` and drained with
//!   `Consumer::read_batch` (private copy, then validation);
//! - `uds-protobuf`: a Unix socket carrying W&B-shaped protobuf history
//!   records, one `write(2)` per record, decoded with prost;
//! - `raw-spsc`: a minimal memcpy single-producer ring in shared memory moving
//!   the same frame bytes, the physical reference;
//! - `ringlog-e2e`: the whole product, producers -> service -> run log on
//!   disk, with the owner's finish (drain, fsync, counts) inside the timed
//!   window; scalar8 with 1 and with 4 producer processes using the Rust
//!   client, against a private service instance ([`service_env`]) started
//!   from the `ringlog` binary beside `compare`. Build it first:
//!   `cargo build --release -p ringlog-service`.
//!
//! Each run reports throughput or paced one-way latency; the parent takes the
//! median over several runs and prints a table plus a JSON array.
//!
//! The `lifecycle` binary measures the control path against a private
//! service: init to first record, cold auto-start, finishing an empty run,
//! idle service CPU, and 64 concurrent runs ([`lifecycle`]).

pub mod case;
pub mod child;
pub mod child_process;
pub mod cli;
pub mod comparison;
pub mod cpu_clock;
pub mod cpu_pair;
pub mod crossbeam_transport;
pub mod e2e_run;
pub mod error;
pub mod history_proto;
#[cfg(feature = "peers")]
pub mod iceoryx2_transport;
pub mod idle_watch;
pub mod latency;
pub mod lifecycle;
pub mod lifecycle_cli;
pub mod lifecycle_probe;
pub mod lifecycle_report;
pub mod outcome;
pub mod pacer;
pub mod pair_run;
pub mod pin;
pub mod plan;
pub mod plots;
pub mod proc_stat;
pub mod raw_batched;
pub mod raw_ring;
pub mod raw_spsc;
pub mod report;
pub mod ringlog_e2e;
pub mod ringlog_transport;
pub mod scalar_frame;
pub mod service_env;
pub mod uds_protobuf;

pub use case::{Case, Mode, RecordShape, Transport};
pub use error::{BenchError, BenchResult};
pub use outcome::{ConsumerOutcome, ProducerOutcome};
pub use report::Row;
