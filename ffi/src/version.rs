//! `rl_version`: the library's version.

use std::ffi::c_char;

/// This library's version as a NUL-terminated string, e.g. `"0.1.0"`.
///
/// # Safety
/// - Always safe to call; the result is static: never free or write it.
/// - Thread safety: callable from any thread at any time.
#[unsafe(no_mangle)]
pub extern "C" fn rl_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
