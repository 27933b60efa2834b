//! A raw view of one lane: its descriptor (service-written), its control block
//! (producer-written) and its ring bytes.
//!
//! Crate-private: the only ways to get a writer for a lane are
//! [`crate::Segment::claim`] and [`crate::HeapRun::claim`], which claim the
//! lane once by compare-and-swap, and the only way to get a reader is a run's
//! single [`crate::Consumer`]. Fields are reached by raw-pointer projection:
//! this type never creates a reference to a whole shared struct, only to the
//! atomic it loads or stores (other processes write the rest).

use std::ptr::NonNull;
use std::sync::Arc;

use crate::ring::layout::{LaneControl, LaneDescriptor, LaneState};
use crate::ring::sync::{AtomicU32, AtomicU64, Ordering};

/// Smallest lane ring: one page (256 bytes under loom, to keep the model small).
pub const MIN_LANE_BYTES: usize = if cfg!(loom) { 256 } else { 4096 };
/// Largest lane ring: 1 GiB.
pub const MAX_LANE_BYTES: usize = 1 << 30;

/// Projects field `$f` of the struct at `$p` (a `NonNull`) to a reference to
/// that field alone, which must be an atomic.
macro_rules! atomic_field {
    ($p:expr, $f:ident) => {
        // SAFETY: `$p` points to a live, aligned struct for the life of the
        // `LaneMemory` (from_raw contract); the projection creates no
        // reference to the struct, only to one atomic field, and atomics may
        // be written concurrently by other processes.
        unsafe { &*(&raw const (*$p.as_ptr()).$f) }
    };
}

/// Loom only: a lane's side tables (commit words and shadow cells).
#[cfg(loom)]
pub(crate) type LoomTables = (Arc<[AtomicU32]>, Arc<[crate::ring::sync::UnsafeCell<u64>]>);

/// Pointers into memory that `_keep` owns (mappings or heap blocks).
#[derive(Clone)]
pub(crate) struct LaneMemory {
    desc: NonNull<LaneDescriptor>,
    control: NonNull<LaneControl>,
    ring: NonNull<u8>,
    capacity: usize,
    /// The service's heartbeat word in the segment header (mapped read-only
    /// by producers); `None` where no service runs (a `HeapRun`).
    heartbeat: Option<NonNull<AtomicU64>>,
    /// Keeps the memory behind the pointers alive.
    _keep: Arc<dyn Send + Sync>,
    /// Under loom the commit words are loom atomics kept beside the ring, one
    /// per 16-byte slot, because loom cannot treat ring bytes as atomics.
    #[cfg(loom)]
    commits: Arc<[AtomicU32]>,
    /// Under loom, a tracked cell per slot that the producer writes before
    /// committing and the consumer reads after acquiring, so loom checks both
    /// SYNC POINTs of the ring protocol (commit, and space release: the
    /// producer's next write must follow the consumer's read).
    #[cfg(loom)]
    shadows: Arc<[crate::ring::sync::UnsafeCell<u64>]>,
}

// SAFETY: the pointers refer to memory owned by `_keep` (Send + Sync). All
// cross-thread access goes through atomics or through the ring protocol, in
// which a byte range is written by exactly one side between the SYNC POINTs.
unsafe impl Send for LaneMemory {}
// SAFETY: see Send; `&LaneMemory` exposes only atomics and raw pointers.
unsafe impl Sync for LaneMemory {}

impl LaneMemory {
    /// Builds a view from raw parts.
    ///
    /// # Safety
    /// - `desc` and `control` point to a `LaneDescriptor` and a
    ///   `LaneControl`, aligned and valid for as long as
    ///   `keep` lives (the descriptor may be mapped read-only: then only its
    ///   loads may be used, which is what a producer does);
    /// - `ring` points to `capacity` bytes, 64-byte aligned, valid as long as
    ///   `keep` lives;
    /// - `capacity` is a power of two in `MIN_LANE_BYTES..=MAX_LANE_BYTES`.
    pub(crate) unsafe fn from_raw(
        desc: NonNull<LaneDescriptor>,
        control: NonNull<LaneControl>,
        ring: NonNull<u8>,
        capacity: usize,
        keep: Arc<dyn Send + Sync>,
    ) -> Self {
        debug_assert!(capacity.is_power_of_two());
        debug_assert!((ring.as_ptr() as usize).is_multiple_of(64));
        Self {
            desc,
            control,
            ring,
            capacity,
            heartbeat: None,
            _keep: keep,
            #[cfg(loom)]
            commits: (0..capacity / crate::ring::frame::FRAME_ALIGN).map(|_| AtomicU32::new(0)).collect(),
            #[cfg(loom)]
            shadows: (0..capacity / crate::ring::frame::FRAME_ALIGN)
                .map(|_| crate::ring::sync::UnsafeCell::new(0))
                .collect(),
        }
    }

    /// Loom only: shares the side tables of the lane's first view, so every
    /// view of one lane (producer, consumer) sees the same commit words.
    #[cfg(loom)]
    pub(crate) fn share_loom_tables(mut self, first: &LoomTables) -> Self {
        self.commits = first.0.clone();
        self.shadows = first.1.clone();
        self
    }

    /// Loom only: this view's side tables.
    #[cfg(loom)]
    pub(crate) fn loom_tables(&self) -> LoomTables {
        (self.commits.clone(), self.shadows.clone())
    }

    // ---- the descriptor: written by the service, read-only for producers ----

    /// Adds the service's heartbeat word.
    ///
    /// # Safety
    /// `word` points to an aligned `AtomicU64` valid as long as the `keep`
    /// given to `from_raw` lives (it may be mapped read-only: only loads).
    pub(crate) unsafe fn with_heartbeat(mut self, word: NonNull<AtomicU64>) -> Self {
        self.heartbeat = Some(word);
        self
    }

    /// The service's heartbeat word, if this lane has a service.
    pub(crate) fn heartbeat(&self) -> Option<&AtomicU64> {
        // SAFETY: valid and aligned while `_keep` lives (`with_heartbeat`'s
        // contract); only an atomic is referenced, and only loaded from.
        self.heartbeat.map(|w| unsafe { &*w.as_ptr() })
    }

    /// The lane state word.
    #[inline]
    pub(crate) fn state_word(&self) -> &AtomicU32 {
        atomic_field!(self.desc, state)
    }

    /// Pid of the lane's owner.
    pub(crate) fn owner_pid(&self) -> u32 {
        // Relaxed: written once before the lane was published.
        atomic_field!(self.desc, owner_pid).load(Ordering::Relaxed)
    }

    /// Start time of the lane's owner (clock ticks since boot).
    pub(crate) fn owner_start_ticks(&self) -> u64 {
        // Relaxed: written once before the lane was published.
        atomic_field!(self.desc, owner_start_ticks).load(Ordering::Relaxed)
    }

    /// The consumer's released position.
    #[inline]
    pub(crate) fn head(&self) -> &AtomicU64 {
        atomic_field!(self.desc, head)
    }

    /// Frames the consumer rejected.
    #[inline]
    pub(crate) fn invalid_frames(&self) -> &AtomicU64 {
        atomic_field!(self.desc, invalid_frames)
    }

    /// Frames the consumer accepted.
    #[inline]
    pub(crate) fn consumed(&self) -> &AtomicU64 {
        atomic_field!(self.desc, consumed)
    }

    // ---- the control block: written by the producer ----

    /// The claim word (compare-and-swap from 0 to `LANE_CLAIMED`).
    #[inline]
    pub(crate) fn claim_word(&self) -> &AtomicU32 {
        atomic_field!(self.control, claim)
    }

    /// The producer's futex word while it waits for space.
    #[inline]
    pub(crate) fn space_waiter(&self) -> &AtomicU32 {
        atomic_field!(self.control, space_waiter)
    }

    /// The lane's consumer-parked word (the producer's way to wake the consumer).
    #[inline]
    pub(crate) fn lane_wake(&self) -> &AtomicU32 {
        atomic_field!(self.control, consumer_parked)
    }

    /// The producer's "I notify without a fence" flag (ADR 5).
    #[inline]
    pub(crate) fn light_notify_flag(&self) -> &AtomicU32 {
        atomic_field!(self.control, light_notify)
    }

    /// The service's "lane closed" flag, on the producer's own line.
    #[inline]
    pub(crate) fn closed_flag(&self) -> &AtomicU32 {
        atomic_field!(self.control, closed)
    }

    /// Published tail.
    #[inline]
    pub(crate) fn tail(&self) -> &AtomicU64 {
        atomic_field!(self.control, tail)
    }

    /// Published record count (the next sequence number).
    #[inline]
    pub(crate) fn records(&self) -> &AtomicU64 {
        atomic_field!(self.control, records)
    }

    /// Published payload bytes.
    #[inline]
    pub(crate) fn bytes(&self) -> &AtomicU64 {
        atomic_field!(self.control, bytes)
    }

    /// Published drop count.
    #[inline]
    pub(crate) fn drops(&self) -> &AtomicU64 {
        atomic_field!(self.control, drops)
    }

    /// Published timeout count.
    #[inline]
    pub(crate) fn timeouts(&self) -> &AtomicU64 {
        atomic_field!(self.control, timeouts)
    }

    /// Ring size in bytes.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Current lane state.
    pub(crate) fn state(&self) -> Option<LaneState> {
        // Relaxed: an advisory read; decisions that depend on it re-check.
        LaneState::from_u32(self.state_word().load(Ordering::Relaxed))
    }

    /// Pointer to ring offset `off & (capacity - 1)`: always inside the ring.
    #[inline]
    pub(crate) fn at(&self, off: usize) -> *mut u8 {
        // SAFETY: the mask keeps the offset below capacity, so the result
        // stays inside the ring allocation.
        unsafe { self.ring.as_ptr().add(off & (self.capacity - 1)) }
    }

    /// The commit word of the frame at ring offset `off` (masked into the
    /// ring and aligned down to 16 bytes, so any input is in bounds).
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn commit(&self, off: usize) -> &AtomicU32 {
        let off = off & (self.capacity - 1) & !(crate::ring::frame::FRAME_ALIGN - 1);
        // SAFETY: `at(off)` is 16-byte aligned (ring is 64-aligned, off a
        // multiple of 16) and inside the ring, which lives as long as `self`.
        // AtomicU32 has u32's size and alignment; every party accesses commit
        // words atomically.
        unsafe { &*self.at(off).cast::<AtomicU32>() }
    }

    /// The commit word of the frame at ring offset `off` (loom side table).
    #[cfg(loom)]
    #[inline]
    pub(crate) fn commit(&self, off: usize) -> &AtomicU32 {
        &self.commits[(off & (self.capacity - 1)) / crate::ring::frame::FRAME_ALIGN]
    }

    /// Loom only: records that the frame at `off` with sequence `seq` was
    /// written (producer, before the commit store).
    #[cfg(loom)]
    pub(crate) fn shadow_write(&self, off: usize, seq: u64) {
        // SAFETY: loom checks this access; the producer owns the slot until commit.
        self.shadows[off / crate::ring::frame::FRAME_ALIGN].with_mut(|p| unsafe { *p = seq });
    }

    /// Loom only: the sequence the producer recorded for the frame at `off`
    /// (consumer, after the Acquire load of the commit word).
    #[cfg(loom)]
    pub(crate) fn shadow_read(&self, off: usize) -> u64 {
        // SAFETY: loom checks this access against the producer's write.
        self.shadows[off / crate::ring::frame::FRAME_ALIGN].with(|p| unsafe { *p })
    }
}
