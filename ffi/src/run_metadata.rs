//! Everything a run records besides history rows: summary values, config
//! values, console output lines and alerts. These are rare calls; each
//! writes one record by key name and allocates.

use std::ffi::c_char;

use ringlog_core::Value;

use crate::boundary::{as_mut, guard};
use crate::c_enums;
use crate::c_string::str_arg;
use crate::ffi_error::FfiError;
use crate::run_handle::rl_run;
use crate::status::rl_status;

/// Which kind of key/value record to write.
#[derive(Clone, Copy)]
enum Target {
    /// A summary update (last value wins).
    Summary,
    /// A config update.
    Config,
}

/// Writes `key = value` as a summary or config record.
///
/// # Safety
/// `run` is NULL or a live handle used by this thread only; `key` is NULL or
/// a NUL-terminated string.
unsafe fn write_item(
    run: *mut rl_run,
    key: *const c_char,
    target: Target,
    value: impl FnOnce() -> Result<Value, FfiError>,
) -> rl_status {
    guard(|| {
        // SAFETY: forwarded from the caller.
        let h = unsafe { as_mut(run, "run") }?;
        // SAFETY: forwarded from the caller.
        let key = unsafe { str_arg(key, "key") }?;
        let item = [(key, value()?)];
        // A record dropped by the DropNewest policy is counted in the
        // lane's drops (rl_counters), as for every C call that logs.
        let _ = match target {
            Target::Summary => h.run.summary(&item)?,
            Target::Config => h.run.config(&item)?,
        };
        Ok(())
    })
}

/// Sets summary `key` to a float (the run's summary keeps the last value of each key).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` must be a NUL-terminated UTF-8 string.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_summary_f64(run: *mut rl_run, key: *const c_char, value: f64) -> rl_status {
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe { write_item(run, key, Target::Summary, || Ok(Value::F64(value))) }
}

/// Sets summary `key` to an integer.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` must be a NUL-terminated UTF-8 string.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_summary_i64(run: *mut rl_run, key: *const c_char, value: i64) -> rl_status {
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe { write_item(run, key, Target::Summary, || Ok(Value::I64(value))) }
}

/// Sets summary `key` to a boolean.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` must be a NUL-terminated UTF-8 string.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_summary_bool(run: *mut rl_run, key: *const c_char, value: bool) -> rl_status {
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe { write_item(run, key, Target::Summary, || Ok(Value::Bool(value))) }
}

/// Sets summary `key` to a string (copied).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` and `value` must be NUL-terminated UTF-8 strings.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_summary_str(run: *mut rl_run, key: *const c_char, value: *const c_char) -> rl_status {
    // SAFETY: the caller guarantees NULL or a NUL-terminated string for `value`.
    let value = unsafe { str_arg(value, "value") };
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe { write_item(run, key, Target::Summary, || Ok(Value::Str(value?.to_owned()))) }
}

/// Records config `key` = a float during the run (for config known at start
/// prefer `rl_options_config_f64`).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` must be a NUL-terminated UTF-8 string.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_config_f64(run: *mut rl_run, key: *const c_char, value: f64) -> rl_status {
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe { write_item(run, key, Target::Config, || Ok(Value::F64(value))) }
}

/// Records config `key` = an integer.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` must be a NUL-terminated UTF-8 string.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_config_i64(run: *mut rl_run, key: *const c_char, value: i64) -> rl_status {
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe { write_item(run, key, Target::Config, || Ok(Value::I64(value))) }
}

/// Records config `key` = a boolean.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` must be a NUL-terminated UTF-8 string.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_config_bool(run: *mut rl_run, key: *const c_char, value: bool) -> rl_status {
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe { write_item(run, key, Target::Config, || Ok(Value::Bool(value))) }
}

/// Records config `key` = a string (copied).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` and `value` must be NUL-terminated UTF-8 strings.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_config_str(run: *mut rl_run, key: *const c_char, value: *const c_char) -> rl_status {
    // SAFETY: the caller guarantees NULL or a NUL-terminated string for `value`.
    let value = unsafe { str_arg(value, "value") };
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe { write_item(run, key, Target::Config, || Ok(Value::Str(value?.to_owned()))) }
}

/// Records config `key` = a JSON document given as text. Malformed JSON is
/// refused with `RL_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `key` and `json` must be NUL-terminated UTF-8 strings.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_config_json(run: *mut rl_run, key: *const c_char, json: *const c_char) -> rl_status {
    // SAFETY: the caller guarantees NULL or a NUL-terminated string for `json`.
    let text = unsafe { str_arg(json, "json") };
    // SAFETY: the caller's guarantees are those of `write_item`.
    unsafe {
        write_item(run, key, Target::Config, || {
            let text = text?;
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| FfiError::invalid(format!("config value is not valid JSON: {e}")))?;
            Ok(Value::Json(text.to_owned()))
        })
    }
}

/// Records one line of console output; `stream` is an `rl_stream` value.
/// Pass the line without its trailing newline.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `line` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_output(run: *mut rl_run, stream: i32, line: *const c_char) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let line = unsafe { str_arg(line, "line") }?;
        let _ = h.run.output(c_enums::stream(stream)?, line)?;
        Ok(())
    })
}

/// Raises an alert; `level` is an `rl_alert_level` value.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `title` and `text` must be NUL-terminated UTF-8 strings; they are copied.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_alert(
    run: *mut rl_run,
    level: i32,
    title: *const c_char,
    text: *const c_char,
) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        // SAFETY: the caller guarantees NULL or NUL-terminated strings.
        let (title, text) = unsafe { (str_arg(title, "title")?, str_arg(text, "text")?) };
        let _ = h.run.alert(c_enums::alert_level(level)?, title, text)?;
        Ok(())
    })
}
