//! The one door to atomics and fences.
//!
//! Every atomic the data path touches goes through this module so that the
//! loom model (`RUSTFLAGS="--cfg loom"`) can swap in loom's checked types.
//! A unit test (`only_sync_touches_std_atomics`) keeps the `std` atomics out of
//! every other file of the crate.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// Loom's tracked cell: the loom model records every ring frame's sequence
/// number in one, so a missing happens-before edge on a SYNC POINT is reported.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// A fence for the compiler only (no instruction): loom has none of its own,
/// and the paths that use it are not modelled (see `wakeup::notify_light`).
pub(crate) use std::sync::atomic::compiler_fence;

/// Spin-loop hint, a no-op yield under loom so the model can make progress.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

#[cfg(all(test, not(loom)))]
mod tests {
    /// Every atomic must come through this module so loom sees it. Files that
    /// hold process-local atomics outside the model say so with a marker.
    #[test]
    fn only_sync_touches_std_atomics() {
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() { dirs.push(path) } else { files.push(path) }
            }
        }
        assert!(files.len() > 10, "found the sources");
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            if name == "sync.rs" || text.contains("// Process-local, never in shared memory") {
                continue;
            }
            assert!(!text.contains("std::sync::atomic"), "{name} uses std atomics directly: use crate::ring::sync");
        }
    }
}
