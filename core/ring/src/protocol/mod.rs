//! What the client and the service share besides the ring: the control
//! channel's messages, the runtime directory and the service lock.

pub mod control_message;
pub mod peer;
pub mod runtime_dir;
pub mod service_lock;
