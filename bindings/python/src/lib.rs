//! Python binding of ringlog: the extension module `ringlog._native`.
//!
//! The Python package `ringlog` (under `python/`) gives it wandb's shape;
//! this crate does the per-record work. Modules: `client_api` (the only
//! caller of the Rust client API), `native_run` (the run handle and wandb's
//! step semantics), `key_table` (keys cached by `str` object), `row` (the
//! pending row), `value_conv` and `buffer_view` (Python values to ringlog
//! values), `lane_gauge` (when to release the GIL), `cli` (the command line).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod buffer_view;
mod cli;
mod client_api;
mod errors;
mod key_table;
mod lane_gauge;
mod native_run;
mod row;
mod value_conv;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<native_run::NativeRun>()?;
    m.add_function(wrap_pyfunction!(cli::cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(value_conv::_set_coerce, m)?)?;
    m.add_function(wrap_pyfunction!(native_run::_set_reattach_hook, m)?)?;
    m.add_function(wrap_pyfunction!(native_run::_after_fork_in_child, m)?)?;
    m.add("Error", py.get_type::<errors::Error>())?;
    m.add("ServiceUnavailableError", py.get_type::<errors::ServiceUnavailableError>())?;
    m.add("RunFinishedError", py.get_type::<errors::RunFinishedError>())?;
    m.add("LaneFullError", py.get_type::<errors::LaneFullError>())?;
    m.add("ABI3", cfg!(feature = "abi3"))?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
