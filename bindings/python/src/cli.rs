//! `python -m ringlog ...` and the `ringlog` console script: the same
//! command line as the native binary, compiled into the extension.
//!
//! The CLI's source is `core/src/main.rs`, included here as a module, so the
//! two cannot drift; its `run` takes the arguments explicitly because in this
//! process `std::env::args` holds the Python interpreter's own.

use std::ffi::OsString;

use pyo3::prelude::*;

#[allow(dead_code, missing_docs, unreachable_pub)]
#[path = "../../../core/src/main.rs"]
mod ringlog_cli;

/// Runs the `ringlog` command line `argv` (program name first) and returns
/// its exit status. The GIL is released throughout: `serve` runs the service
/// in this process until it exits.
#[pyfunction]
pub fn cli_main(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(move || ringlog_cli::run(argv.into_iter().map(OsString::from)))
}
