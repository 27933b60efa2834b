//! `python -m ringlog ...` and the `ringlog` console script: the same
//! command line as the native binary, compiled into the extension.
//!
//! The CLI is `ringlog_service::cli`, the same code as the native binary, so
//! the two cannot drift; its `run` takes the arguments explicitly because in
//! this process `std::env::args` holds the Python interpreter's own.

use std::ffi::OsString;

use pyo3::prelude::*;

/// Runs the `ringlog` command line `argv` (program name first) and returns
/// its exit status. The GIL is released throughout: `serve` runs the service
/// in this process until it exits.
#[pyfunction]
pub fn cli_main(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(move || ringlog_service::cli::run(argv.into_iter().map(OsString::from)))
}
