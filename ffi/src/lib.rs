//! The C ABI of ringlog: `libringlog.so` / `libringlog.a` and `include/ringlog.h`.
//!
//! Every function here is an `extern "C"` edge over the Rust client
//! ([`ringlog_core::init`], [`ringlog_core::attach`], [`ringlog_core::Run`]).
//! The header is generated from these sources by cbindgen (`ffi/cbindgen.toml`)
//! and committed; `tests/header.rs` fails when it is stale.
//!
//! Conventions, the same at every edge:
//! - names start with `rl_`; handles (`rl_run`, `rl_options`) are opaque and
//!   created and destroyed only by this library;
//! - fallible functions return an `rl_status` (`RL_OK` = 0); the failing
//!   call's full cause is in the thread-local `rl_last_error_message()`;
//! - every pointer argument is checked for NULL on entry (`RL_ERR_NULL_POINTER`);
//! - strings are NUL-terminated UTF-8; invalid UTF-8 is refused with
//!   `RL_ERR_INVALID_UTF8`, never undefined behaviour;
//! - integer-coded enums (`rl_full_policy`, `rl_stream`, `rl_alert_level`) are
//!   taken as `int32_t` and range-checked, so a stray value is an error, not UB;
//! - no panic crosses the boundary: each edge runs under `catch_unwind` and
//!   turns a panic into `RL_ERR_PANIC`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

// The C API, in the order the generated header presents it (cbindgen
// follows these declarations): errors, version, types, options, lifecycle,
// the run handle, the hot path, the step builders, the rest.
mod status;

mod last_error;

mod version;

mod c_enums;

mod report;

mod options;

mod lifecycle;

mod run_handle;

mod scalar_log;

mod step_builder;

mod step_buf;

mod run_metadata;

// Internal: the boundary machinery.
mod boundary;
mod c_string;
mod ffi_error;

#[cfg(test)]
mod tests;

pub use c_enums::{rl_alert_level, rl_full_policy, rl_run_state, rl_stream};
pub use last_error::rl_last_error_message;
pub use lifecycle::{rl_attach, rl_finish, rl_flush, rl_init, rl_run_free};
pub use options::{
    rl_options, rl_options_add_tag, rl_options_clone, rl_options_config_bool, rl_options_config_f64,
    rl_options_config_i64, rl_options_config_json, rl_options_config_str, rl_options_free, rl_options_new,
    rl_options_set_finish_wait_ms, rl_options_set_name, rl_options_set_policy, rl_options_set_project,
    rl_options_set_ring_bytes, rl_options_set_run_dir, rl_options_set_run_id,
};
pub use report::{rl_finish_report, rl_stats};
pub use run_handle::{rl_run, rl_run_dir, rl_run_id, rl_run_stats};
pub use run_metadata::{
    rl_alert, rl_config_bool, rl_config_f64, rl_config_i64, rl_config_json, rl_config_str, rl_output, rl_summary_bool,
    rl_summary_f64, rl_summary_i64, rl_summary_str,
};
pub use scalar_log::{rl_key, rl_key_id, rl_log_f64, rl_log_f64s};
pub use status::{rl_error_string, rl_status};
pub use step_buf::{RL_STEP_BUF_CAPACITY, rl_metric, rl_step_buf, rl_step_buf_commit};
pub use step_builder::{
    RL_STEP_FAST_CAPACITY, rl_step_begin, rl_step_bool, rl_step_cancel, rl_step_commit, rl_step_f32_array, rl_step_f64,
    rl_step_i64, rl_step_str,
};
pub use version::rl_version;
