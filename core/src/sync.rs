//! The one door to atomics and fences.
//!
//! Every atomic the data path touches goes through this module so that the
//! loom model (`RUSTFLAGS="--cfg loom"`) can swap in loom's checked types.
//! `clippy.toml` forbids the `std` atomics elsewhere in the crate.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Loom's tracked cell: the loom model records every ring frame's sequence
/// number in one, so a missing happens-before edge on a SYNC POINT is reported.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(not(loom))]
#[allow(clippy::disallowed_types)]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Spin-loop hint, a no-op yield under loom so the model can make progress.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
