//! What the client and the service share besides the ring: the control
//! channel's messages, the runtime directory, the service lock, and where runs
//! live on disk (their directory names and the per-user list of runs).

pub mod control_message;
pub mod peer;
pub mod run_layout;
pub mod runtime_dir;
pub mod service_lock;
pub mod utc_time;
