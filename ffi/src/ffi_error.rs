//! `FfiError`: a failure on its way out through the C boundary, with its
//! `rl_status` and full message; and the mapping from the client's errors.

use std::error::Error;

use ringlog_core::ErrorCode;
use ringlog_core::{ClientError, ProduceError};

use crate::last_error;
use crate::status::rl_status;

/// A failed call on its way out: the status the C caller will see. Its
/// message is stored for `rl_last_error_message` when the error is made, so
/// the value itself is one integer and `Result<(), FfiError>` travels in a
/// register on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FfiError {
    status: rl_status,
}

impl FfiError {
    /// A failure with `status`; records `message` as this thread's last error.
    #[cold]
    pub(crate) fn new(status: rl_status, message: impl AsRef<str>) -> Self {
        last_error::set(message.as_ref());
        Self { status }
    }

    /// A NULL pointer passed as `what`.
    #[cold]
    pub(crate) fn null(what: &str) -> Self {
        Self::new(rl_status::RL_ERR_NULL_POINTER, format!("argument `{what}` is NULL"))
    }

    /// An out-of-range argument.
    #[cold]
    pub(crate) fn invalid(message: impl AsRef<str>) -> Self {
        Self::new(rl_status::RL_ERR_INVALID_ARGUMENT, message)
    }

    /// The status to return (the message is already recorded).
    pub(crate) fn status(self) -> rl_status {
        self.status
    }
}

/// `error` and its causes, `outer: inner: innermost`, skipping a cause whose
/// text the message already contains (thiserror messages often embed `{source}`).
pub(crate) fn full_message(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// The status a produce failure maps to.
fn produce_status(e: &ProduceError) -> rl_status {
    match e {
        ProduceError::Timeout(_) => rl_status::RL_ERR_TIMEOUT,
        ProduceError::Full => rl_status::RL_ERR_FULL,
        ProduceError::TooLarge { .. } => rl_status::RL_ERR_TOO_LARGE,
        ProduceError::Forked => rl_status::RL_ERR_FORKED,
        ProduceError::LaneClosed { .. } | ProduceError::LaneCorrupt { .. } => rl_status::RL_ERR_LANE_CLOSED,
        ProduceError::LaneTaken { .. } => rl_status::RL_ERR_INVALID_ARGUMENT,
        ProduceError::InvalidKey(_) | ProduceError::TooManyKeys(_) | ProduceError::UnknownKey(_) => {
            rl_status::RL_ERR_INVALID_ARGUMENT
        }
    }
}

impl From<ClientError> for FfiError {
    #[cold]
    fn from(e: ClientError) -> Self {
        let status = match &e {
            ClientError::NoService { .. }
            | ClientError::LockHeld { .. }
            | ClientError::Autostart(_)
            | ClientError::Channel { .. }
            | ClientError::NotAnswering(_) => rl_status::RL_ERR_NO_SERVICE,
            ClientError::RuntimeDir(_) | ClientError::Segment(_) => rl_status::RL_ERR_SYSTEM,
            ClientError::Service { code: ErrorCode::UnknownRun, .. } => rl_status::RL_ERR_UNKNOWN_RUN,
            ClientError::Service { code: ErrorCode::InvalidArgument, .. } | ClientError::InvalidOption(_) => {
                rl_status::RL_ERR_INVALID_ARGUMENT
            }
            ClientError::Service { .. } | ClientError::Unexpected(_) => rl_status::RL_ERR_SERVICE,
            ClientError::Produce(p) => produce_status(p),
            ClientError::Forked => rl_status::RL_ERR_FORKED,
            ClientError::Incomplete(_) => rl_status::RL_ERR_INCOMPLETE,
        };
        if status == rl_status::RL_ERR_FORKED {
            return Self::new(status, FORKED_MESSAGE);
        }
        Self::new(status, full_message(&e))
    }
}

/// The fork error in C terms (the Rust client's message names `ringlog::attach`).
const FORKED_MESSAGE: &str =
    "this run handle was created before fork(); in the child call rl_attach(run_id) for a handle of its own";

impl From<ProduceError> for FfiError {
    #[cold]
    fn from(e: ProduceError) -> Self {
        let status = produce_status(&e);
        if status == rl_status::RL_ERR_FORKED {
            return Self::new(status, FORKED_MESSAGE);
        }
        Self::new(status, full_message(&e))
    }
}
