//! `rl_step_buf`: a step of floats built in the caller's memory by inline
//! header functions (`rl_step_buf_begin`, `rl_step_buf_f64`, generated into
//! `include/ringlog.h` from `ffi/header/step_buf_inline.h`) and written by one
//! call, `rl_step_buf_commit`.
//!
//! This is the step builder for hot loops. The `rl_step_*` builder costs N + 2
//! out-of-line calls for a step of N floats (`rl_step_begin`, one `rl_step_f64`
//! per value, `rl_step_commit`), each behind `catch_unwind` and a handle
//! check, each waiting on the previous call's store into the handle. Here the
//! values are plain stores the C compiler sees, and the library is entered
//! once per step: one boundary, one handle check, one key check loop, one
//! frame, written straight from the caller's items (see [`rl_metric`]).
//!
//! The buffer is the caller's private memory (a local variable, usually), not
//! memory another process writes. It is read field by field (its items are
//! initialized only up to `len`), and `len` is bounded before use, since a
//! caller may have corrupted it.

use ringlog_core::KeyId;

use crate::boundary::{as_mut, guard};
use crate::ffi_error::FfiError;
use crate::run_handle::{rl_run, unknown_key};
use crate::scalar_log::rl_key_id;
use crate::status::rl_status;
use crate::step_builder::RL_STEP_FAST_CAPACITY;

/// Most values an `rl_step_buf` holds (the allocation-free capacity,
/// `RL_STEP_FAST_CAPACITY`).
pub const RL_STEP_BUF_CAPACITY: usize = RL_STEP_FAST_CAPACITY;

/// One value of an `rl_step_buf`: a float and its key.
///
/// The field order (key, 4 spare bytes, then the value) is the layout
/// the Rust client's `(KeyId, f64)` pairs have with today's compiler, so
/// `rl_step_buf_commit` hands the caller's items to `Run::log` as they are,
/// without copying them. The C layout is fixed by `#[repr(C)]`; whether the
/// Rust pair still matches it is checked at compile time ([`ITEMS_ARE_PAIRS`]),
/// and the commit copies the pairs instead if it ever stops matching.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rl_metric {
    /// The key id, from `rl_key` on the handle the step is committed to.
    pub key: rl_key_id,
    /// Unused (padding); `rl_step_buf_f64` leaves it unwritten and nothing reads it.
    pub reserved: u32,
    /// The value.
    pub value: f64,
}

/// A step of up to `RL_STEP_BUF_CAPACITY` floats, filled in the caller's
/// memory by the inline `rl_step_buf_begin` and `rl_step_buf_f64` and written
/// as one record by `rl_step_buf_commit`. Declare one (on the stack, 1040
/// bytes) and reuse it for every step; it holds no library resource, so it
/// needs no free.
///
/// ```c
/// rl_step_buf b;
/// rl_step_buf_begin(&b, step);
/// rl_step_buf_f64(&b, loss, l);
/// rl_step_buf_f64(&b, acc, a);
/// if (rl_step_buf_commit(run, &b) != RL_OK) { ... }
/// ```
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct rl_step_buf {
    /// The step number, set by `rl_step_buf_begin`.
    pub step: i64,
    /// How many values are set: `items[0..len]`.
    pub len: u32,
    /// Nonzero once `rl_step_buf_f64` found the buffer full; the commit then
    /// refuses the step (`RL_ERR_INVALID_ARGUMENT`) instead of writing part of it.
    pub overflow: u32,
    /// The values, in the order they were added.
    pub items: [rl_metric; RL_STEP_BUF_CAPACITY],
}

// The layout C sees: a 16-byte header, then 16 bytes per value.
const _: () = assert!(size_of::<rl_metric>() == 16 && std::mem::offset_of!(rl_metric, value) == 8);
const _: () = assert!(size_of::<rl_step_buf>() == 16 + RL_STEP_BUF_CAPACITY * 16);
const _: () = assert!(std::mem::offset_of!(rl_step_buf, items) == 16);

/// Whether an `rl_metric` has exactly the layout of the client's
/// `(KeyId, f64)` (size, alignment, and where each field lies). Rust does not
/// promise a tuple's layout, so this is computed by the compiler that builds
/// the library; `rl_step_buf_commit` only reinterprets the items when it holds.
pub(crate) const ITEMS_ARE_PAIRS: bool = size_of::<rl_metric>() == size_of::<(KeyId, f64)>()
    && align_of::<rl_metric>() == align_of::<(KeyId, f64)>()
    && size_of::<KeyId>() == size_of::<rl_key_id>()
    && std::mem::offset_of!(rl_metric, key) == std::mem::offset_of!((KeyId, f64), 0)
    && std::mem::offset_of!(rl_metric, value) == std::mem::offset_of!((KeyId, f64), 1);

/// Writes the step in `buf` as one record (the values `rl_step_buf_f64`
/// added, in order) on `run`. The buffer is only read; begin it again for
/// the next step. A buffer with no values writes nothing.
///
/// No allocation, no system call, and no copy of the values on the library's
/// side: one boundary crossing, one handle check, one key check per value,
/// then the frame is written.
/// Errors as for `rl_log_f64`, and `RL_ERR_INVALID_ARGUMENT` (nothing written)
/// when a key id was not returned by `rl_key` on this handle, or the buffer
/// overflowed (more than `RL_STEP_BUF_CAPACITY` values: use the `rl_step_*`
/// builder or `rl_log_f64s` for wider steps).
///
/// # Safety
/// - `run` must be a live handle from `rl_init` / `rl_attach`.
/// - `buf` must be non-NULL and point to an `rl_step_buf` that
///   `rl_step_buf_begin` initialized, with values added only by
///   `rl_step_buf_f64` (the first `len` items' keys and values are set; the
///   rest may be uninitialized); it is only read, during the call.
/// - Thread safety: one thread at a time per `run`; `buf` must not be written
///   by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rl_step_buf_commit(run: *mut rl_run, buf: *const rl_step_buf) -> rl_status {
    guard(|| {
        // SAFETY: the caller guarantees NULL or a live handle used by this thread only.
        let h = unsafe { as_mut(run, "run") }?;
        if buf.is_null() {
            return Err(FfiError::null("buf"));
        }
        // The buffer is read field by field through raw pointers, never as a
        // `&rl_step_buf`: past `len` its items are uninitialized (the C caller
        // only writes what it adds), and so is each item's `reserved`, which a
        // reference to the whole struct would claim to be valid values.
        // SAFETY: non-NULL, and the caller guarantees a buffer `rl_step_buf_begin`
        // initialized (step, len, overflow), aligned, not written during the call.
        let (step, len, overflow) = unsafe {
            ((&raw const (*buf).step).read(), (&raw const (*buf).len).read(), (&raw const (*buf).overflow).read())
        };
        let len = len as usize;
        if overflow != 0 || len > RL_STEP_BUF_CAPACITY {
            return Err(overflowed(step, len));
        }
        if len == 0 {
            return Ok(());
        }
        // SAFETY: `buf` is non-NULL and valid (above); this only computes a field address.
        let items = unsafe { &raw const (*buf).items }.cast::<rl_metric>();
        // Check every key before writing anything.
        for i in 0..len {
            // SAFETY: i < len <= capacity, inside the array; the caller
            // guarantees the first `len` items' keys are initialized.
            let key = unsafe { (&raw const (*items.add(i)).key).read() };
            if !h.keys.contains(key) {
                return Err(unknown_key(key));
            }
        }
        if ITEMS_ARE_PAIRS {
            // SAFETY: the first `len` items are initialized in their `key` and
            // `value` fields, which (ITEMS_ARE_PAIRS, checked at compile time)
            // lie exactly where `(KeyId, f64)` keeps its fields; `reserved` lies
            // in the pair's padding, which is never read as a value. Same size
            // and alignment, so `len` items are `len` pairs.
            let pairs = unsafe { std::slice::from_raw_parts(items.cast::<(KeyId, f64)>(), len) };
            let _ = h.run.log(step, pairs)?;
        } else {
            for i in 0..len {
                // SAFETY: as in the key loop; `value` is initialized too.
                let (key, value) =
                    unsafe { ((&raw const (*items.add(i)).key).read(), (&raw const (*items.add(i)).value).read()) };
                h.scratch[i] = (KeyId(key), value);
            }
            let _ = h.run.log(step, &h.scratch[..len])?;
        }
        Ok(())
    })
}

#[cold]
fn overflowed(step: i64, len: usize) -> FfiError {
    FfiError::invalid(format!(
        "rl_step_buf_commit: step {step} has more than RL_STEP_BUF_CAPACITY ({RL_STEP_BUF_CAPACITY}) values \
         (len {len}); nothing was written: log wider steps with rl_step_begin/rl_step_f64 or rl_log_f64s"
    ))
}
