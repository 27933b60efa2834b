//! `rl_status`: what every fallible C call returns, and `rl_error_string`.

use std::ffi::c_char;

/// The result of a fallible call: `RL_OK` (0) or the kind of failure.
///
/// The failing call's full message, with its cause chain and what to do about
/// it, is in `rl_last_error_message()` on the same thread. Codes are stable:
/// new ones are only ever appended.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum rl_status {
    /// Success.
    RL_OK = 0,
    /// A required pointer argument was NULL.
    RL_ERR_NULL_POINTER = 1,
    /// A string argument was not valid UTF-8.
    RL_ERR_INVALID_UTF8 = 2,
    /// An argument or option was out of range: an empty or over-long key
    /// name, a key id this handle never returned, an unknown enum value, a
    /// ring size that is not a power of two, malformed JSON, ...
    RL_ERR_INVALID_ARGUMENT = 3,
    /// No service answers and none could be started (or `RINGLOG_AUTOSTART=0`),
    /// or the control channel to it broke.
    RL_ERR_NO_SERVICE = 4,
    /// The service knows no run with that id.
    RL_ERR_UNKNOWN_RUN = 5,
    /// The service refused the request or answered nonsense.
    RL_ERR_SERVICE = 6,
    /// The system refused: the runtime directory, `/dev/shm` or the run's
    /// shared-memory segment.
    RL_ERR_SYSTEM = 7,
    /// The lane is full and the run's policy is `RL_POLICY_ERROR`; nothing was written.
    RL_ERR_FULL = 8,
    /// The lane stayed full for the `RL_POLICY_BLOCK` timeout; nothing was
    /// written (counted in `rl_stats.timeouts`).
    RL_ERR_TIMEOUT = 9,
    /// The record can never fit in this run's lane (a quarter of the ring).
    RL_ERR_TOO_LARGE = 10,
    /// The service closed this lane; attach again for a new one.
    RL_ERR_LANE_CLOSED = 11,
    /// The handle was created in the parent before `fork()`: a child must
    /// `rl_attach` for a handle of its own.
    RL_ERR_FORKED = 12,
    /// Step builder misuse: a value or commit with no open step, or a second
    /// `rl_step_begin` before `rl_step_commit`.
    RL_ERR_STEP_STATE = 13,
    /// A bug in ringlog: a Rust panic was caught at the C boundary. Only
    /// `rl_run_free` is meaningful on the handle afterwards.
    RL_ERR_PANIC = 14,
    /// The finish could not make every committed record durable (a full or
    /// failing disk): the run is marked incomplete; the last error message
    /// and the run's run.json give the lost count per lane.
    RL_ERR_INCOMPLETE = 15,
}

impl rl_status {
    /// Every status, in code order.
    pub(crate) const ALL: [Self; 16] = [
        Self::RL_OK,
        Self::RL_ERR_NULL_POINTER,
        Self::RL_ERR_INVALID_UTF8,
        Self::RL_ERR_INVALID_ARGUMENT,
        Self::RL_ERR_NO_SERVICE,
        Self::RL_ERR_UNKNOWN_RUN,
        Self::RL_ERR_SERVICE,
        Self::RL_ERR_SYSTEM,
        Self::RL_ERR_FULL,
        Self::RL_ERR_TIMEOUT,
        Self::RL_ERR_TOO_LARGE,
        Self::RL_ERR_LANE_CLOSED,
        Self::RL_ERR_FORKED,
        Self::RL_ERR_STEP_STATE,
        Self::RL_ERR_PANIC,
        Self::RL_ERR_INCOMPLETE,
    ];

    /// A static, NUL-terminated description.
    pub(crate) const fn description(self) -> &'static str {
        match self {
            Self::RL_OK => "ok\0",
            Self::RL_ERR_NULL_POINTER => "a required pointer argument was NULL\0",
            Self::RL_ERR_INVALID_UTF8 => "a string argument was not valid UTF-8\0",
            Self::RL_ERR_INVALID_ARGUMENT => "invalid argument\0",
            Self::RL_ERR_NO_SERVICE => "no ringlog service reachable\0",
            Self::RL_ERR_UNKNOWN_RUN => "unknown run id\0",
            Self::RL_ERR_SERVICE => "the ringlog service refused the request\0",
            Self::RL_ERR_SYSTEM => "system error (runtime directory or shared memory)\0",
            Self::RL_ERR_FULL => "lane full (error policy)\0",
            Self::RL_ERR_TIMEOUT => "lane full until the block timeout\0",
            Self::RL_ERR_TOO_LARGE => "record too large for the lane\0",
            Self::RL_ERR_LANE_CLOSED => "lane closed by the service\0",
            Self::RL_ERR_FORKED => "handle used in a forked child: call rl_attach in the child\0",
            Self::RL_ERR_STEP_STATE => "step builder misuse (no open step, or one already open)\0",
            Self::RL_ERR_PANIC => "internal error (a panic was caught at the C boundary)\0",
            Self::RL_ERR_INCOMPLETE => "finish could not make every record durable (see the last error)\0",
        }
    }
}

/// A static description of `status` (any `rl_status` value; other values
/// give "unknown status").
///
/// For the specific cause of the last failure on this thread use
/// `rl_last_error_message()` instead.
///
/// # Safety
/// - Always safe to call; the result is a static NUL-terminated string that
///   must not be freed or written.
/// - Thread safety: callable from any thread at any time.
#[unsafe(no_mangle)]
pub extern "C" fn rl_error_string(status: i32) -> *const c_char {
    let text = rl_status::ALL.iter().find(|s| **s as i32 == status).map_or("unknown status\0", |s| s.description());
    text.as_ptr().cast()
}
