//! `rl_options`: what `rl_init` starts a run with, built by setter calls so
//! that new options never change a struct layout the caller compiled against.

use std::ffi::c_char;
use std::path::PathBuf;
use std::time::Duration;

use ringlog_core::InitOptions;
use serde_json::Value as Json;

use crate::boundary::{OutPtr, as_mut, as_ref, guard};
use crate::c_enums;
use crate::c_string::str_arg;
use crate::ffi_error::FfiError;
use crate::status::rl_status;

/// Options of `rl_init` (opaque). Create with `rl_options_new`, set what
/// differs from the defaults, pass to `rl_init` (which copies them), free with
/// `rl_options_free`.
///
/// Defaults: project `"default"`, no name, no tags, empty config, run
/// directory `$RINGLOG_DIR/run-YYYYMMDD_HHMMSS-<run id>` (under `./ringlog` without it), a
/// fresh run id, `RINGLOG_LANE_BYTES` or 1 MiB per lane, `RL_POLICY_BLOCK`
/// with a 10 s timeout, finish waiting up to 30 s for attached processes.
#[allow(non_camel_case_types)]
pub struct rl_options {
    /// The Rust client's options, updated by each setter.
    pub(crate) inner: InitOptions,
}

/// Creates options with the defaults and stores the handle in `*out_options`.
///
/// # Safety
/// - `out_options` must be non-NULL and valid for writing one pointer.
/// - Free the result with `rl_options_free`.
/// - Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_new(out_options: *mut *mut rl_options) -> rl_status {
    guard(|| {
        let out = OutPtr::new(out_options, "out_options")?;
        let opts = Box::into_raw(Box::new(rl_options { inner: InitOptions::default() }));
        // SAFETY: the caller guarantees `out_options` is valid for a write.
        unsafe { out.write(opts) };
        Ok(())
    })
}

/// Frees options made by `rl_options_new`. NULL is ignored.
///
/// # Safety
/// - `options` must be NULL or a handle from `rl_options_new` not yet freed;
///   it is invalid afterwards.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_free(options: *mut rl_options) {
    if options.is_null() {
        return;
    }
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller guarantees a live handle from `rl_options_new`
        // (made by `Box::into_raw`), freed exactly once.
        drop(unsafe { Box::from_raw(options) });
    }));
}

/// Copies `options` into a new handle and stores it in `*out_options`: to
/// start several runs from one set of options, or for a wrapper's copy
/// constructor (`ringlog::Options` in `ringlog.hpp`). Free the copy with
/// `rl_options_free`; the two are independent afterwards.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new` or `rl_options_clone`.
/// - `out_options` must be non-NULL and valid for writing one pointer.
/// - Thread safety: no other thread may write `options` during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_clone(options: *const rl_options, out_options: *mut *mut rl_options) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle nobody writes during the call.
        let from = unsafe { as_ref(options, "options") }?;
        let out = OutPtr::new(out_options, "out_options")?;
        let copy = Box::into_raw(Box::new(rl_options { inner: from.inner.clone() }));
        // SAFETY: the caller guarantees `out_options` is valid for a write.
        unsafe { out.write(copy) };
        Ok(())
    })
}

/// The options behind `options`, or `RL_ERR_NULL_POINTER`.
///
/// # Safety
/// `options` is NULL or a live handle from `rl_options_new` that no other
/// thread uses for the returned lifetime.
#[inline]
unsafe fn options_mut<'a>(options: *mut rl_options) -> Result<&'a mut InitOptions, FfiError> {
    // SAFETY: forwarded from the caller.
    Ok(&mut unsafe { as_mut(options, "options") }?.inner)
}

/// Sets the project name (default `"default"`).
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `project` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_project(options: *mut rl_options, project: *const c_char) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let v = unsafe { str_arg(project, "project") }?;
        o.project = v.to_owned();
        Ok(())
    })
}

/// Sets the run's display name.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `name` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_name(options: *mut rl_options, name: *const c_char) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let v = unsafe { str_arg(name, "name") }?;
        o.name = v.to_owned();
        Ok(())
    })
}

/// Adds a tag.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `tag` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_add_tag(options: *mut rl_options, tag: *const c_char) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let v = unsafe { str_arg(tag, "tag") }?;
        o.tags.push(v.to_owned());
        Ok(())
    })
}

/// Sets the run id (default: a fresh random one). An id already in use is
/// refused by `rl_init`.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `run_id` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_run_id(options: *mut rl_options, run_id: *const c_char) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let v = unsafe { str_arg(run_id, "run_id") }?;
        if v.is_empty() {
            return Err(FfiError::invalid("run id is empty: pass a non-empty id, or do not set one"));
        }
        o.run_id = Some(v.to_owned());
        Ok(())
    })
}

/// Sets the run directory (default `$RINGLOG_DIR/run-YYYYMMDD_HHMMSS-<run id>`). A relative path
/// is made absolute against the current directory at `rl_init`.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `run_dir` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_run_dir(options: *mut rl_options, run_dir: *const c_char) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let v = unsafe { str_arg(run_dir, "run_dir") }?;
        if v.is_empty() {
            return Err(FfiError::invalid("run directory is empty"));
        }
        o.run_dir = Some(PathBuf::from(v));
        Ok(())
    })
}

/// Sets the ring size of each lane in bytes: a power of two from 4096 to
/// 1 GiB; 0 restores the default (`RINGLOG_LANE_BYTES` or 1 MiB). The largest
/// record a lane takes is a quarter of it. Checked by `rl_init`.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_ring_bytes(options: *mut rl_options, bytes: usize) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        o.lane_bytes = (bytes != 0).then_some(bytes);
        Ok(())
    })
}

/// Sets the full-lane policy: an `rl_full_policy` value. `block_timeout_ms`
/// bounds the wait of `RL_POLICY_BLOCK` and is ignored by the others.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_policy(
    options: *mut rl_options,
    policy: i32,
    block_timeout_ms: u32,
) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        o.policy = c_enums::full_policy(policy, block_timeout_ms)?;
        Ok(())
    })
}

/// Sets how long the owner's `rl_finish` waits for attached processes to
/// detach or die (default 30000 ms).
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_finish_wait_ms(options: *mut rl_options, wait_ms: u32) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        o.finish_wait = Duration::from_millis(u64::from(wait_ms));
        Ok(())
    })
}

/// Makes the run also a live W&B offline run (`wandb` non-zero) or not (zero): the
/// service writes a W&B run directory under `<run dir>/wandb/` as batches drain, which `wandb leet`
/// follows and `wandb sync` uploads. Default: whether `RINGLOG_WANDB` is `1`.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_wandb(options: *mut rl_options, wandb: i32) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        o.wandb = wandb != 0;
        Ok(())
    })
}

/// Sets how often the service samples the run's processes and the host into system
/// stats records, in milliseconds; 0 turns sampling off. Default: `RINGLOG_SYSTEM_STATS`
/// seconds, else 10000 ms.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_set_system_stats_ms(options: *mut rl_options, every_ms: u32) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees a live handle used by this thread only.
        let o = unsafe { options_mut(options) }?;
        o.system_stats = Duration::from_millis(u64::from(every_ms));
        Ok(())
    })
}

/// Sets config `key` to `value` in the options' config object.
fn insert_config(o: &mut InitOptions, key: &str, value: Json) -> Result<(), FfiError> {
    if key.is_empty() {
        return Err(FfiError::invalid("config key is empty"));
    }
    // Kept as JSON text, as the Rust client records config it got as JSON.
    let value = ringlog_core::Value::Json(value.to_string());
    match o.config.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => o.config.push((key.to_owned(), value)),
    }
    Ok(())
}

/// A float as JSON: finite values as numbers, the others as W&B writes them.
fn f64_json(v: f64) -> Json {
    match serde_json::Number::from_f64(v) {
        Some(n) => Json::Number(n),
        None if v.is_nan() => Json::String("NaN".into()),
        None if v > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// Sets config `key` to the value `make` builds.
///
/// # Safety
/// `options` is NULL or a live handle used by this thread only; `key` is NULL
/// or a NUL-terminated string.
unsafe fn set_config(
    options: *mut rl_options,
    key: *const c_char,
    make: impl FnOnce() -> Result<Json, FfiError>,
) -> rl_status {
    guard(|| {
        // SAFETY: forwarded from the caller.
        let o = unsafe { options_mut(options) }?;
        // SAFETY: forwarded from the caller.
        let key = unsafe { str_arg(key, "key") }?;
        insert_config(o, key, make()?)
    })
}

/// Sets config `key` to a float (recorded with the run at `rl_init`).
/// NaN and infinities are stored as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `key` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_config_f64(options: *mut rl_options, key: *const c_char, value: f64) -> rl_status {
    // SAFETY: the caller's guarantees are those of `set_config`.
    unsafe { set_config(options, key, || Ok(f64_json(value))) }
}

/// Sets config `key` to an integer (recorded with the run at `rl_init`).
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `key` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_config_i64(options: *mut rl_options, key: *const c_char, value: i64) -> rl_status {
    // SAFETY: the caller's guarantees are those of `set_config`.
    unsafe { set_config(options, key, || Ok(Json::from(value))) }
}

/// Sets config `key` to a boolean (recorded with the run at `rl_init`).
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `key` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_config_bool(
    options: *mut rl_options,
    key: *const c_char,
    value: bool,
) -> rl_status {
    // SAFETY: the caller's guarantees are those of `set_config`.
    unsafe { set_config(options, key, || Ok(Json::Bool(value))) }
}

/// Sets config `key` to a string (recorded with the run at `rl_init`).
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `key` and `value` must be NUL-terminated UTF-8 strings; both are copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_config_str(
    options: *mut rl_options,
    key: *const c_char,
    value: *const c_char,
) -> rl_status {
    // SAFETY: the caller guarantees NULL or a NUL-terminated string for `value`.
    let value = unsafe { str_arg(value, "value") };
    // SAFETY: the caller's guarantees are those of `set_config`.
    unsafe { set_config(options, key, || Ok(Json::String(value?.to_owned()))) }
}

/// Sets config `key` to a JSON document given as text (an object, array,
/// number, ...). Malformed JSON is refused with `RL_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// - `options` must be a live handle from `rl_options_new`.
/// - `key` and `json` must be NUL-terminated UTF-8 strings; both are copied.
/// - Thread safety: no other thread may use `options` concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_options_config_json(
    options: *mut rl_options,
    key: *const c_char,
    json: *const c_char,
) -> rl_status {
    // SAFETY: the caller guarantees NULL or a NUL-terminated string for `json`.
    let text = unsafe { str_arg(json, "json") };
    // SAFETY: the caller's guarantees are those of `set_config`.
    unsafe {
        set_config(options, key, || {
            serde_json::from_str(text?).map_err(|e| FfiError::invalid(format!("config value is not valid JSON: {e}")))
        })
    }
}
