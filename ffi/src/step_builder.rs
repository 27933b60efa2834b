//! The step builder: `rl_step_begin`, one `rl_step_*` call per value,
//! `rl_step_commit`.
//!
//! A step whose values are all floats (at most [`RL_STEP_FAST_CAPACITY`] of
//! them) is kept in a fixed array inside the handle and committed through the
//! scalar fast path (`Run::log`: one fixed-layout frame written in place), so
//! logging it allocates nothing. The first value of another type, or a float
//! beyond the capacity, moves the step to the general path (`Run::log_values`:
//! one history record, serialized with rkyv), which allocates per step.
//!
//! Each value costs one out-of-line call whose state lives in the handle, so
//! a builder step of 8 floats costs noticeably more than `Run::log` from Rust
//! (see ffi/README.md); for hot steps of floats, `rl_step_buf` (filled by
//! inline header functions, one call per step) and `rl_log_f64s` are the
//! one-call forms.

use std::ffi::c_char;

use ringlog_core::{KeyId, Value};

use crate::boundary::{as_mut, guard};
use crate::c_string::str_arg;
use crate::ffi_error::FfiError;
use crate::run_handle::rl_run;
use crate::scalar_log::rl_key_id;
use crate::status::rl_status;

/// Most float values a step keeps on the allocation-free fast path.
pub const RL_STEP_FAST_CAPACITY: usize = 64;

/// Where the builder of one handle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    /// No open step.
    Closed,
    /// An open step holding only floats, in `scalars[..len]`.
    Fast,
    /// An open step that left the fast path: every value is in `mixed`.
    Mixed,
}

/// The step under construction in one handle.
pub(crate) struct StepBuilder {
    /// Open or not, and on which path.
    state: StepState,
    /// The open step's number.
    step: i64,
    /// Float values while the step is on the fast path: `scalars[..len]`.
    scalars: [(KeyId, f64); RL_STEP_FAST_CAPACITY],
    /// How many of `scalars` are set.
    len: usize,
    /// Every value in order once the step left the fast path; empty
    /// otherwise. Keeps its capacity between steps.
    mixed: Vec<(KeyId, Value)>,
}

/// What `rl_step_commit` has to write.
enum Committed {
    /// Nothing (an empty step).
    Nothing,
    /// `scalars[..len]` through the fast path.
    Scalars(i64),
    /// `mixed` through the general path.
    Mixed(i64),
}

#[cold]
fn no_open_step(call: &str) -> FfiError {
    FfiError::new(rl_status::RL_ERR_STEP_STATE, format!("{call}: no open step; call rl_step_begin first"))
}

impl StepBuilder {
    /// An idle builder.
    pub(crate) fn new() -> Self {
        Self {
            state: StepState::Closed,
            step: 0,
            scalars: [(KeyId(0), 0.0); RL_STEP_FAST_CAPACITY],
            len: 0,
            mixed: Vec::new(),
        }
    }

    /// Whether a step is open.
    pub(crate) fn is_open(&self) -> bool {
        self.state != StepState::Closed
    }

    /// Opens step `step`.
    fn begin(&mut self, step: i64) -> Result<(), FfiError> {
        if self.is_open() {
            return Err(FfiError::new(
                rl_status::RL_ERR_STEP_STATE,
                format!(
                    "rl_step_begin({step}): step {} is still open; call rl_step_commit or rl_step_cancel first",
                    self.step
                ),
            ));
        }
        self.state = StepState::Fast;
        self.step = step;
        self.len = 0;
        Ok(())
    }

    /// Adds a float.
    #[inline(always)]
    fn push_f64(&mut self, key: KeyId, value: f64) -> Result<(), FfiError> {
        if self.state == StepState::Fast && self.len < RL_STEP_FAST_CAPACITY {
            self.scalars[self.len] = (key, value);
            self.len += 1;
            Ok(())
        } else {
            self.push_value(key, Value::F64(value), "rl_step_f64")
        }
    }

    /// Adds a value of any type, moving the step to the general path.
    #[cold]
    fn push_value(&mut self, key: KeyId, value: Value, call: &str) -> Result<(), FfiError> {
        match self.state {
            StepState::Closed => return Err(no_open_step(call)),
            StepState::Fast => {
                self.mixed.extend(self.scalars[..self.len].iter().map(|&(k, v)| (k, Value::F64(v))));
                self.len = 0;
                self.state = StepState::Mixed;
            }
            StepState::Mixed => {}
        }
        self.mixed.push((key, value));
        Ok(())
    }

    /// Closes the step and says what to write.
    fn close(&mut self, call: &str) -> Result<Committed, FfiError> {
        let what = match self.state {
            StepState::Closed => return Err(no_open_step(call)),
            StepState::Fast if self.len == 0 => Committed::Nothing,
            StepState::Fast => Committed::Scalars(self.step),
            StepState::Mixed => Committed::Mixed(self.step),
        };
        self.state = StepState::Closed;
        Ok(what)
    }

    /// Drops the closed step's values.
    fn clear(&mut self) {
        self.len = 0;
        self.mixed.clear();
    }
}

/// Opens step `step` on this handle. Add values with `rl_step_f64` and its
/// siblings, then write them all as one record with `rl_step_commit`.
///
/// Each value is one out-of-line call (several ns each); for a hot step of
/// floats only, `rl_step_buf` (inline, one `rl_step_buf_commit` per step) or
/// `rl_log_f64s` writes the same record in one call.
///
/// `RL_ERR_STEP_STATE` if a step is already open.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - Thread safety: one thread at a time per `run` (the open step lives in the handle).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_begin(run: *mut rl_run, step: i64) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        h.step.begin(step)
    })
}

/// Adds a float to the open step. Allocation-free while the step holds only
/// floats, up to `RL_STEP_FAST_CAPACITY` of them.
///
/// `RL_ERR_STEP_STATE` with no open step; `RL_ERR_INVALID_ARGUMENT` for a key
/// id `rl_key` did not return on this handle.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_f64(run: *mut rl_run, key: rl_key_id, value: f64) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        let key = h.check_key(key)?;
        h.step.push_f64(key, value)
    })
}

/// Adds an integer to the open step (the step then takes the general path,
/// which allocates).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_i64(run: *mut rl_run, key: rl_key_id, value: i64) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        let key = h.check_key(key)?;
        h.step.push_value(key, Value::I64(value), "rl_step_i64")
    })
}

/// Adds a boolean to the open step (the step then takes the general path,
/// which allocates).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_bool(run: *mut rl_run, key: rl_key_id, value: bool) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        let key = h.check_key(key)?;
        h.step.push_value(key, Value::Bool(value), "rl_step_bool")
    })
}

/// Adds a string to the open step (copied; the step then takes the general
/// path, which allocates).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `value` must be a NUL-terminated UTF-8 string; it is copied.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_str(run: *mut rl_run, key: rl_key_id, value: *const c_char) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        let key = h.check_key(key)?;
        // SAFETY: the caller guarantees NULL or a NUL-terminated string.
        let v = unsafe { str_arg(value, "value") }?;
        h.step.push_value(key, Value::Str(v.to_owned()), "rl_step_str")
    })
}

/// Adds an array of `len` floats (a tensor or histogram) to the open step
/// (copied; the step then takes the general path, which allocates).
/// `values` may be NULL only when `len` is 0.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `values` must point to `len` readable, initialized `float`s (or be NULL with `len == 0`).
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_f32_array(
    run: *mut rl_run,
    key: rl_key_id,
    values: *const f32,
    len: usize,
) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        let key = h.check_key(key)?;
        let data = if len == 0 {
            Vec::new()
        } else if values.is_null() {
            return Err(FfiError::null("values"));
        } else if len > isize::MAX as usize / size_of::<f32>() {
            return Err(FfiError::invalid(format!("array length {len} is too large")));
        } else {
            // SAFETY: non-NULL, `len` floats readable per the caller, and
            // len * 4 <= isize::MAX as `from_raw_parts` requires.
            unsafe { std::slice::from_raw_parts(values, len) }.to_vec()
        };
        h.step.push_value(key, Value::F32Array(data), "rl_step_f32_array")
    })
}

/// Writes the open step as one record and closes it. A step with no values
/// writes nothing.
///
/// The step is closed whatever the result: on an error (`RL_ERR_FULL`,
/// `RL_ERR_TIMEOUT`, `RL_ERR_TOO_LARGE`, `RL_ERR_FORKED`, ...) nothing was
/// written and the values are discarded. `RL_OK` also when `RL_POLICY_DROP`
/// dropped the record (counted in `rl_stats.drops`).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_commit(run: *mut rl_run) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        let result = match h.step.close("rl_step_commit")? {
            Committed::Nothing => Ok(()),
            Committed::Scalars(step) => {
                h.run.log(step, &h.step.scalars[..h.step.len]).map(drop).map_err(FfiError::from)
            }
            Committed::Mixed(step) => commit_mixed(h, step),
        };
        h.step.clear();
        result
    })
}

/// Writes a step that left the fast path, by key name (`Run::log_values`).
#[cold]
fn commit_mixed(h: &mut rl_run, step: i64) -> Result<(), FfiError> {
    let mut items = Vec::with_capacity(h.step.mixed.len());
    for (key, value) in h.step.mixed.drain(..) {
        // Every id was checked on entry; a miss would be a bug here.
        let name = h.keys.name(key).ok_or_else(|| FfiError::invalid(format!("key id {} has no name", key.0)))?;
        items.push((name, value));
    }
    let _ = h.run.log_values(step, &items)?;
    Ok(())
}

/// Discards the open step without writing it. `RL_ERR_STEP_STATE` with no open step.
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - Thread safety: one thread at a time per `run`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_cancel(run: *mut rl_run) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        h.step.close("rl_step_cancel")?;
        h.step.clear();
        Ok(())
    })
}
