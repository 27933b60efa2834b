//! The enumerations of the C API.
//!
//! Those the caller passes in (`rl_full_policy`, `rl_stream`,
//! `rl_alert_level`) travel as `int32_t` and are range-checked here: a C
//! caller can pass any integer, and an out-of-range value in a Rust enum
//! would be undefined behaviour. `rl_run_state` only travels out, inside
//! `rl_finish_report`.

use std::time::Duration;

use ringlog_core::{AlertLevel, FullPolicy, Stream};

use crate::ffi_error::FfiError;

/// What a producer does when its lane is full (`rl_options_set_policy`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rl_full_policy {
    /// Wait for space, at most the block timeout, then fail with
    /// `RL_ERR_TIMEOUT` (counted). The default, with a 10 s timeout.
    RL_POLICY_BLOCK = 1,
    /// Drop the record, count it in `rl_stats.drops`, and return `RL_OK`.
    RL_POLICY_DROP = 2,
    /// Fail at once with `RL_ERR_FULL`.
    RL_POLICY_ERROR = 3,
}

/// Which console stream an output line came from (`rl_output`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rl_stream {
    /// Standard output.
    RL_STDOUT = 0,
    /// Standard error.
    RL_STDERR = 1,
}

/// Severity of an alert (`rl_alert`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rl_alert_level {
    /// Informational.
    RL_ALERT_INFO = 0,
    /// Warning.
    RL_ALERT_WARN = 1,
    /// Error.
    RL_ALERT_ERROR = 2,
}

/// How a run (or this process's part of it) ended (`rl_finish_report.state`).
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rl_run_state {
    /// A state this library version does not know.
    RL_RUN_UNKNOWN = 0,
    /// The owner finished the run; everything is on disk.
    RL_RUN_FINISHED = 1,
    /// The run was closed as crashed.
    RL_RUN_CRASHED = 2,
    /// A non-owner detached its lane; the run goes on.
    RL_RUN_DETACHED = 3,
    /// The owner finished, but not every record could be made durable.
    RL_RUN_INCOMPLETE = 4,
}

/// Decodes a policy argument; `block_timeout_ms` applies to `RL_POLICY_BLOCK`.
pub(crate) fn full_policy(policy: i32, block_timeout_ms: u32) -> Result<FullPolicy, FfiError> {
    match policy {
        p if p == rl_full_policy::RL_POLICY_BLOCK as i32 => {
            let timeout = Duration::from_millis(u64::from(block_timeout_ms));
            if timeout > ringlog_core::MAX_BLOCK_TIMEOUT {
                return Err(FfiError::invalid(format!(
                    "block_timeout_ms {block_timeout_ms} is over the limit of one hour (3600000 ms)"
                )));
            }
            Ok(FullPolicy::Block { timeout })
        }
        p if p == rl_full_policy::RL_POLICY_DROP as i32 => Ok(FullPolicy::DropNewest),
        p if p == rl_full_policy::RL_POLICY_ERROR as i32 => Ok(FullPolicy::Error),
        p => Err(FfiError::invalid(format!(
            "policy {p} is not an rl_full_policy: use RL_POLICY_BLOCK (1), RL_POLICY_DROP (2) or RL_POLICY_ERROR (3)"
        ))),
    }
}

/// Decodes a stream argument.
pub(crate) fn stream(stream: i32) -> Result<Stream, FfiError> {
    match stream {
        s if s == rl_stream::RL_STDOUT as i32 => Ok(Stream::Stdout),
        s if s == rl_stream::RL_STDERR as i32 => Ok(Stream::Stderr),
        s => Err(FfiError::invalid(format!("stream {s} is not an rl_stream: use RL_STDOUT (0) or RL_STDERR (1)"))),
    }
}

/// Decodes an alert level argument.
pub(crate) fn alert_level(level: i32) -> Result<AlertLevel, FfiError> {
    match level {
        l if l == rl_alert_level::RL_ALERT_INFO as i32 => Ok(AlertLevel::Info),
        l if l == rl_alert_level::RL_ALERT_WARN as i32 => Ok(AlertLevel::Warn),
        l if l == rl_alert_level::RL_ALERT_ERROR as i32 => Ok(AlertLevel::Error),
        l => Err(FfiError::invalid(format!(
            "alert level {l} is not an rl_alert_level: use RL_ALERT_INFO (0), RL_ALERT_WARN (1) or RL_ALERT_ERROR (2)"
        ))),
    }
}

/// The state named in a finish report.
pub(crate) fn run_state(state: &str) -> rl_run_state {
    match state {
        "finished" => rl_run_state::RL_RUN_FINISHED,
        "crashed" => rl_run_state::RL_RUN_CRASHED,
        "detached" => rl_run_state::RL_RUN_DETACHED,
        "incomplete" => rl_run_state::RL_RUN_INCOMPLETE,
        _ => rl_run_state::RL_RUN_UNKNOWN,
    }
}
