//! Python exceptions of the binding and the mapping from client errors.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::{PyErr, create_exception};

use crate::client_api::{ClientError, ProduceError};

create_exception!(ringlog, Error, PyRuntimeError, "Base class of ringlog's errors (a RuntimeError).");
create_exception!(
    ringlog,
    ServiceUnavailableError,
    Error,
    "No service answered and none could be started (or RINGLOG_AUTOSTART=0)."
);
create_exception!(ringlog, RunFinishedError, Error, "The run was finished; start a new one with ringlog.init().");
create_exception!(
    ringlog,
    LaneFullError,
    Error,
    "The lane stayed full past the run's bound (block policy), or is full now (error policy)."
);

/// A client error as a Python exception, with the client's message (which says what to do).
pub fn client_error(e: ClientError) -> PyErr {
    let msg = e.to_string();
    match e {
        ClientError::NoService { .. } | ClientError::LockHeld { .. } | ClientError::Autostart(_) => {
            ServiceUnavailableError::new_err(msg)
        }
        ClientError::Produce(ProduceError::Timeout(_) | ProduceError::Full) => LaneFullError::new_err(msg),
        ClientError::Produce(ProduceError::InvalidKey(_)) => PyValueError::new_err(msg),
        _ => Error::new_err(msg),
    }
}
