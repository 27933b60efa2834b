//! The C boundary itself: every `extern "C" fn` body runs inside [`guard`]
//! (or [`guard_ptr`]), which catches panics and records failures, and reaches
//! its pointer arguments through the NULL-checking helpers here.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use crate::ffi_error::FfiError;
use crate::status::rl_status;

/// Runs one call's body: `RL_OK` on success; on failure its status (the
/// message for `rl_last_error_message` was recorded when the error was
/// made); a panic becomes `RL_ERR_PANIC` instead of unwinding into C.
///
/// `AssertUnwindSafe`: after a caught panic the handle may be half-updated;
/// the status says so and documents that only `rl_run_free` is meaningful then.
#[inline(always)]
pub(crate) fn guard(body: impl FnOnce() -> Result<(), FfiError>) -> rl_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => rl_status::RL_OK,
        Ok(Err(e)) => e.status(),
        Err(payload) => panicked(payload),
    }
}

/// [`guard`] for calls that return a pointer: NULL on failure or panic.
#[inline]
pub(crate) fn guard_ptr<T>(body: impl FnOnce() -> Result<*const T, FfiError>) -> *const T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(p)) => p,
        // The message was recorded when the error was made.
        Ok(Err(_)) => std::ptr::null(),
        Err(payload) => {
            panicked(payload);
            std::ptr::null()
        }
    }
}

/// Records a caught panic as `RL_ERR_PANIC`.
#[cold]
fn panicked(payload: Box<dyn Any + Send>) -> rl_status {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    // Dropping a payload can itself panic (a payload whose Drop panics); keep
    // that inside the boundary too.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    FfiError::new(
        rl_status::RL_ERR_PANIC,
        format!(
            "internal error: ringlog panicked ({what}); this is a bug, please report it. \
             Only rl_run_free is meaningful on the handle now"
        ),
    )
    .status()
}

/// `ptr` as a shared reference, or `RL_ERR_NULL_POINTER` naming `what`.
///
/// # Safety
/// `ptr` is NULL or points to a live, initialized `T` that nothing writes
/// for the returned lifetime.
#[inline(always)]
pub(crate) unsafe fn as_ref<'a, T>(ptr: *const T, what: &str) -> Result<&'a T, FfiError> {
    // SAFETY: the caller guarantees a non-NULL `ptr` is valid for reads of `T`
    // and unaliased by writers for 'a; `as_ref` handles NULL.
    match unsafe { ptr.as_ref() } {
        Some(r) => Ok(r),
        None => Err(FfiError::null(what)),
    }
}

/// `ptr` as an exclusive reference, or `RL_ERR_NULL_POINTER` naming `what`.
///
/// # Safety
/// `ptr` is NULL or points to a live, initialized `T` that nothing else reads
/// or writes for the returned lifetime.
#[inline(always)]
pub(crate) unsafe fn as_mut<'a, T>(ptr: *mut T, what: &str) -> Result<&'a mut T, FfiError> {
    // SAFETY: the caller guarantees a non-NULL `ptr` is valid and not aliased
    // for 'a; `as_mut` handles NULL.
    match unsafe { ptr.as_mut() } {
        Some(r) => Ok(r),
        None => Err(FfiError::null(what)),
    }
}

/// An out-parameter, checked for NULL before the call does anything.
///
/// The memory behind it may be uninitialized: it is only ever written,
/// never read or referenced.
pub(crate) struct OutPtr<T>(NonNull<T>);

impl<T> OutPtr<T> {
    /// Checks `ptr` for NULL.
    #[inline(always)]
    pub(crate) fn new(ptr: *mut T, what: &str) -> Result<Self, FfiError> {
        NonNull::new(ptr).map(Self).ok_or_else(|| FfiError::null(what))
    }

    /// Stores `value`, without reading or dropping what was there.
    ///
    /// # Safety
    /// The pointer is valid for a write of `T` and suitably aligned.
    #[inline(always)]
    pub(crate) unsafe fn write(self, value: T) {
        // SAFETY: non-NULL by construction; valid and aligned per the caller.
        unsafe { self.0.as_ptr().write(value) };
    }
}
