//! String arguments: NUL-terminated UTF-8, checked.

use std::ffi::{CStr, c_char};

use crate::ffi_error::FfiError;
use crate::status::rl_status;

/// The string at `ptr`, or `RL_ERR_NULL_POINTER` / `RL_ERR_INVALID_UTF8`
/// naming `what`. Reads up to and including the first NUL byte.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated byte string that stays alive
/// and unchanged for the returned lifetime.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, what: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(what));
    }
    // SAFETY: non-NULL, and the caller guarantees NUL termination and
    // lifetime; `CStr::from_ptr` reads up to the NUL only.
    let c = unsafe { CStr::from_ptr(ptr) };
    c.to_str().map_err(|e| {
        FfiError::new(
            rl_status::RL_ERR_INVALID_UTF8,
            format!("argument `{what}` is not valid UTF-8 ({e}): ringlog takes NUL-terminated UTF-8 strings"),
        )
    })
}
