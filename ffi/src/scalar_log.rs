//! Keys and the one-call scalar hot paths: `rl_key`, `rl_log_f64`, `rl_log_f64s`.

use std::ffi::c_char;

use ringlog_core::KeyId;

use crate::boundary::{OutPtr, as_mut, guard};
use crate::c_string::str_arg;
use crate::ffi_error::FfiError;
use crate::run_handle::{rl_run, unknown_key};
use crate::status::rl_status;
use crate::step_builder::RL_STEP_FAST_CAPACITY;

/// An interned key, valid only on the handle whose `rl_key` returned it.
#[allow(non_camel_case_types)]
pub type rl_key_id = u32;

/// Interns key `name` (`"train/loss"`: `/` nests) on this handle and stores
/// its id in `*out_key`. The first call for a name writes its definition into
/// the lane; later calls return the same id without writing. Do it once per
/// key, outside the training loop.
///
/// Errors: `RL_ERR_INVALID_ARGUMENT` for an empty name, one over 256 bytes or
/// too many keys; full-lane errors as for `rl_log_f64`.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `name` must be a NUL-terminated UTF-8 string; it is copied.
/// - `out_key` must be non-NULL and valid for writing one `rl_key_id`.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_key(run: *mut rl_run, name: *const c_char, out_key: *mut rl_key_id) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let name = unsafe { str_arg(name, "name") }?;
        let out = OutPtr::new(out_key, "out_key")?;
        let id = h.run.key(name)?;
        h.keys.insert(id, name);
        // SAFETY: the caller guarantees `out_key` is valid for a write.
        unsafe { out.write(id.0) };
        Ok(())
    })
}

/// Logs one float for `key` at `step`: the fastest path (one fixed-layout
/// 48-byte frame written in place, no allocation, no system call).
///
/// Returns `RL_OK` also when `RL_POLICY_DROP` dropped the record (counted in
/// `rl_stats.drops`); `RL_ERR_FULL` or `RL_ERR_TIMEOUT` when the lane is full
/// under the error or block policy (nothing written); `RL_ERR_INVALID_ARGUMENT`
/// for a key id `rl_key` did not return on this handle; `RL_ERR_FORKED` in a
/// forked child. Independent of an open step builder.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_log_f64(run: *mut rl_run, step: i64, key: rl_key_id, value: f64) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        let key = h.check_key(key)?;
        let _ = h.run.log(step, &[(key, value)])?;
        Ok(())
    })
}

/// Logs `count` floats at `step` as one record: `values[i]` for `keys[i]`.
/// The array form of the step builder's fast path, in one call: no
/// allocation for up to `RL_STEP_FAST_CAPACITY` values (more are copied to
/// the heap first). `count == 0` writes nothing; `keys` and `values` may be
/// NULL only then.
///
/// Errors as for `rl_log_f64`; nothing is written if any key id is invalid.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `keys` and `values` must each point to `count` readable, initialized elements.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_log_f64s(
    run: *mut rl_run,
    step: i64,
    keys: *const rl_key_id,
    values: *const f64,
    count: usize,
) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        if count == 0 {
            return Ok(());
        }
        if keys.is_null() {
            return Err(FfiError::null("keys"));
        }
        if values.is_null() {
            return Err(FfiError::null("values"));
        }
        if count > isize::MAX as usize / size_of::<f64>() {
            return Err(FfiError::invalid(format!("count {count} is too large")));
        }
        // SAFETY: non-NULL, `count` elements readable per the caller, and the
        // byte lengths fit isize as `from_raw_parts` requires.
        let (keys, values) =
            unsafe { (std::slice::from_raw_parts(keys, count), std::slice::from_raw_parts(values, count)) };
        log_pairs(h, step, keys, values)
    })
}

/// Logs `values[i]` for `keys[i]` at `step` as one record, after checking
/// every key id: the body of `rl_log_f64s`. `keys` and `values` have the same
/// length; an empty step writes nothing.
#[inline(always)]
fn log_pairs(h: &mut rl_run, step: i64, keys: &[rl_key_id], values: &[f64]) -> Result<(), FfiError> {
    debug_assert_eq!(keys.len(), values.len());
    let count = keys.len().min(values.len());
    if count == 0 {
        return Ok(());
    }
    // Check every key before copying anything: a loop of loads only, which
    // the CPU overlaps (checking inside the copy loop serializes each
    // check behind the previous store).
    if let Some(&bad) = keys.iter().find(|&&k| !h.keys.contains(k)) {
        return Err(unknown_key(bad));
    }
    if count <= RL_STEP_FAST_CAPACITY {
        // The handle's scratch array: no allocation and no per-call zeroing.
        for (item, (&k, &v)) in h.scratch.iter_mut().zip(keys.iter().zip(values)) {
            *item = (KeyId(k), v);
        }
        let _ = h.run.log(step, &h.scratch[..count])?;
    } else {
        let items: Vec<(KeyId, f64)> = keys.iter().zip(values).map(|(&k, &v)| (KeyId(k), v)).collect();
        let _ = h.run.log(step, &items)?;
    }
    Ok(())
}
