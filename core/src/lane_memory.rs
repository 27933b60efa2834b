//! A raw view of one lane: its control block, its ring bytes, and the run's
//! consumer wakeup word.
//!
//! The same producer and consumer code runs over a lane in a shared-memory
//! segment (the product) and over a lane on the heap (`LaneMemory::heap`, used
//! by miri, loom and in-process tests), so the ring logic is checked by tools
//! that cannot map shared memory.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;
use std::sync::Arc;

use crate::layout::{LaneControl, LaneState};
use crate::sync::{AtomicU32, Ordering};

/// Smallest lane ring: one page (256 bytes under loom, to keep the model small).
pub const MIN_LANE_BYTES: usize = if cfg!(loom) { 256 } else { 4096 };
/// Largest lane ring: 1 GiB.
pub const MAX_LANE_BYTES: usize = 1 << 30;

/// Pointers into memory that `keep` owns (a mapping or a heap block).
///
/// # Examples
/// ```
/// let lane = ringlog::LaneMemory::heap(4096).unwrap();
/// assert_eq!(lane.capacity(), 4096);
/// ```
#[derive(Clone)]
pub struct LaneMemory {
    control: NonNull<LaneControl>,
    ring: NonNull<u8>,
    capacity: usize,
    parked: NonNull<AtomicU32>,
    /// Keeps the memory behind the three pointers alive.
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
    shadows: Arc<[crate::sync::UnsafeCell<u64>]>,
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
    /// - `control` points to a `LaneControl` and `parked` to an `AtomicU32`,
    ///   both aligned and valid for as long as `keep` lives;
    /// - `ring` points to `capacity` bytes, 64-byte aligned, valid as long as
    ///   `keep` lives, and accessed by other parties only through the ring
    ///   protocol;
    /// - `capacity` is a power of two in `MIN_LANE_BYTES..=MAX_LANE_BYTES`.
    pub(crate) unsafe fn from_raw(
        control: NonNull<LaneControl>,
        ring: NonNull<u8>,
        capacity: usize,
        parked: NonNull<AtomicU32>,
        keep: Arc<dyn Send + Sync>,
    ) -> Self {
        debug_assert!(capacity.is_power_of_two());
        debug_assert!((ring.as_ptr() as usize).is_multiple_of(64));
        Self {
            control,
            ring,
            capacity,
            parked,
            _keep: keep,
            #[cfg(loom)]
            commits: (0..capacity / crate::frame::FRAME_ALIGN).map(|_| AtomicU32::new(0)).collect(),
            #[cfg(loom)]
            shadows: (0..capacity / crate::frame::FRAME_ALIGN).map(|_| crate::sync::UnsafeCell::new(0)).collect(),
        }
    }

    /// A lane on the heap, for tests, miri and loom.
    ///
    /// # Errors
    /// `None` if `capacity` is not a power of two in `4096..=1 GiB`.
    pub fn heap(capacity: usize) -> Option<Self> {
        HeapLane::new(capacity).map(|h| h.memory())
    }

    /// The lane's control block.
    #[inline]
    pub fn control(&self) -> &LaneControl {
        // SAFETY: valid and aligned for the life of `_keep` (from_raw contract).
        unsafe { self.control.as_ref() }
    }

    /// The run's consumer-parked futex word.
    #[inline]
    pub(crate) fn parked(&self) -> &AtomicU32 {
        // SAFETY: valid and aligned for the life of `_keep` (from_raw contract).
        unsafe { self.parked.as_ref() }
    }

    /// Ring size in bytes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Current lane state.
    pub fn state(&self) -> Option<LaneState> {
        // Relaxed: an advisory read; decisions that depend on it re-check.
        LaneState::from_u32(self.control().state.load(Ordering::Relaxed))
    }

    /// Pointer to ring offset `off`.
    #[inline]
    pub(crate) fn at(&self, off: usize) -> *mut u8 {
        debug_assert!(off < self.capacity);
        // SAFETY: off < capacity, so the result stays inside the ring allocation.
        unsafe { self.ring.as_ptr().add(off) }
    }

    /// The commit word of the frame at ring offset `off` (16-byte aligned).
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn commit(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off.is_multiple_of(crate::frame::FRAME_ALIGN) && off < self.capacity);
        // SAFETY: `at(off)` is 16-byte aligned (ring is 64-aligned, off multiple
        // of 16) and inside the ring, which lives as long as `self`. AtomicU32 has
        // u32's size and alignment; every party accesses commit words atomically.
        unsafe { &*self.at(off).cast::<AtomicU32>() }
    }

    /// The commit word of the frame at ring offset `off` (loom side table).
    #[cfg(loom)]
    #[inline]
    pub(crate) fn commit(&self, off: usize) -> &AtomicU32 {
        &self.commits[off / crate::frame::FRAME_ALIGN]
    }

    /// Loom only: records that the frame at `off` with sequence `seq` was
    /// written (producer, before the commit store).
    #[cfg(loom)]
    pub(crate) fn shadow_write(&self, off: usize, seq: u64) {
        // SAFETY: loom checks this access; the producer owns the slot until commit.
        self.shadows[off / crate::frame::FRAME_ALIGN].with_mut(|p| unsafe { *p = seq });
    }

    /// Loom only: the sequence the producer recorded for the frame at `off`
    /// (consumer, after the Acquire load of the commit word).
    #[cfg(loom)]
    pub(crate) fn shadow_read(&self, off: usize) -> u64 {
        // SAFETY: loom checks this access against the producer's write.
        self.shadows[off / crate::frame::FRAME_ALIGN].with(|p| unsafe { *p })
    }
}

/// Heap storage behind [`LaneMemory::heap`].
struct HeapLane {
    ring: NonNull<u8>,
    layout: Layout,
    control: Box<LaneControl>,
    parked: Box<AtomicU32>,
}

// SAFETY: HeapLane owns its allocation; shared access is governed as for LaneMemory.
unsafe impl Send for HeapLane {}
// SAFETY: as above.
unsafe impl Sync for HeapLane {}

impl HeapLane {
    fn new(capacity: usize) -> Option<Arc<Self>> {
        if !capacity.is_power_of_two() || !(MIN_LANE_BYTES..=MAX_LANE_BYTES).contains(&capacity) {
            return None;
        }
        let layout = Layout::from_size_align(capacity, 64).ok()?;
        // SAFETY: layout has non-zero size.
        let ring = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        #[cfg(not(loom))]
        let control = {
            use zerocopy::FromZeros;
            let c = LaneControl::new_box_zeroed().ok()?;
            c.state.store(LaneState::Active as u32, Ordering::Relaxed);
            c
        };
        #[cfg(loom)]
        let control = Box::new(LaneControl::new());
        Some(Arc::new(Self { ring, layout, control, parked: Box::new(AtomicU32::new(0)) }))
    }

    fn memory(self: Arc<Self>) -> LaneMemory {
        let control = NonNull::from(&*self.control);
        let parked = NonNull::from(&*self.parked);
        let (ring, capacity) = (self.ring, self.layout.size());
        // SAFETY: all three live in `self`, kept alive by the Arc passed as keep;
        // capacity was validated in `new`, and the ring is 64-aligned.
        unsafe { LaneMemory::from_raw(control, ring, capacity, parked, self) }
    }
}

impl Drop for HeapLane {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ring.as_ptr(), self.layout) };
    }
}
