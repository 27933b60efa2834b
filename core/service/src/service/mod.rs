//! The service: control socket, one drain thread per run, daemon start-up,
//! summaries, rate-limited logging.

pub(crate) mod batch_folder;
pub mod cpu_affinity;
pub mod cpu_list;
pub mod daemon;
pub(crate) mod key_check;
pub mod log_limit;
pub(crate) mod nvml;
pub mod run_worker;
pub mod serve;
pub mod stale_segments;
pub mod summary_state;
pub mod system_stats;
