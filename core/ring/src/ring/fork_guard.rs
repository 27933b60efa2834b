//! Detects that a handle crossed a `fork()`.
//!
//! A forked child inherits the parent's mappings, so a producer handle used in
//! the child would write into the parent's lane and corrupt it. A
//! `pthread_atfork` child handler bumps a process-wide generation; a handle
//! remembers the generation it was made in and compares it on every write (one
//! relaxed load, where `getpid()` would cost ~140 ns).

use std::sync::Once;
// Process-local, never in shared memory and not part of the loom model.
use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

#[cfg_attr(miri, allow(dead_code))]
extern "C" fn in_child() {
    // Relaxed: the child is single-threaded right after fork.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation, registering the handler on first use.
pub(crate) fn generation() -> u64 {
    REGISTER.call_once(|| {
        #[cfg(not(miri))]
        // SAFETY: registers a handler that only touches an atomic, which is
        // async-signal-safe and valid in the post-fork child.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
    current()
}

/// The current generation without registering (hot path).
#[inline]
pub(crate) fn current() -> u64 {
    // Relaxed: a value written by this process's own atfork handler before
    // fork() returned in the child; no other data depends on it.
    GENERATION.load(Ordering::Relaxed)
}
