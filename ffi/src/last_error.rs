//! The thread-local message of the last failed call: `rl_last_error_message`.
//!
//! Only failures write it (a successful call leaves it alone, so the hot path
//! never touches thread-local storage); it is like `errno`, valid right after
//! a call returned something other than `RL_OK`.

use std::cell::RefCell;
use std::ffi::{CString, c_char};

thread_local! {
    /// The message of this thread's last failed call; `None` before the first.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Stores `message` as this thread's last error (interior NULs become `?`).
pub(crate) fn set(message: &str) {
    let text = CString::new(message.replace('\0', "?")).unwrap_or_default();
    // `try_with`: a call made while this thread's locals are being destroyed
    // keeps its status and loses only the message.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some(text));
}

/// The full message of the last failed `rl_` call on this thread: what went
/// wrong, its cause chain, and what to do about it. An empty string if no
/// call has failed on this thread yet.
///
/// # Safety
/// - Always safe to call. The returned NUL-terminated UTF-8 string belongs to
///   the library: do not free or write it. It stays valid until the next
///   failing `rl_` call on the same thread or the thread's exit; copy it to
///   keep it longer.
/// - Thread safety: each thread has its own message.
#[unsafe(no_mangle)]
pub extern "C" fn rl_last_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_deref().map_or(c"".as_ptr(), std::ffi::CStr::as_ptr))
        .unwrap_or(c"".as_ptr())
}
