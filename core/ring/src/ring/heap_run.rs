//! Lanes on the heap: the same producer and consumer code as over a segment,
//! for in-process tests, miri and loom (which cannot map shared memory).

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;
// Process-local, never in shared memory: the one-consumer flag.
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::ring::consumer::{Consumer, LaneSource};
use crate::ring::error::{ProduceError, SegmentError};
use crate::ring::full_policy::FullPolicy;
use crate::ring::lane_memory::{LaneMemory, MAX_LANE_BYTES, MIN_LANE_BYTES};
use crate::ring::layout::{LaneControl, LaneDescriptor, LaneState};
use crate::ring::producer::Producer;
use crate::ring::sync::AtomicU32;
#[cfg(not(loom))]
use crate::ring::sync::Ordering;

/// A run of heap lanes sharing one wake word: each lane's producer is claimed
/// once, and the run has one consumer, exactly as for a shared-memory segment.
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, HeapRun};
/// let run = HeapRun::new(1 << 16, 2).unwrap();
/// let mut p = run.claim(1, Default::default()).unwrap();
/// assert!(run.claim(1, Default::default()).is_err()); // one producer per lane
/// let k = p.key("acc").unwrap();
/// p.log_scalar1(0, k, 0.9).unwrap();
/// let mut c = run.consumer().unwrap();
/// assert_eq!(c.drain(&mut Batch::new(4096)), 2);
/// ```
pub struct HeapRun {
    shared: Arc<HeapShared>,
    consumer_taken: AtomicBool,
}

struct HeapShared {
    lanes: Vec<HeapLane>,
    parked: Box<AtomicU32>,
}

struct HeapLane {
    /// Loom only: the lane's first view, whose side tables every later view shares.
    #[cfg(loom)]
    first_view: std::sync::OnceLock<crate::ring::lane_memory::LoomTables>,
    desc: Box<LaneDescriptor>,
    control: Box<LaneControl>,
    ring: NonNull<u8>,
    layout: Layout,
}

// SAFETY: HeapShared owns its allocations; shared access goes through atomics
// and the ring protocol, as for a segment.
unsafe impl Send for HeapShared {}
// SAFETY: as above.
unsafe impl Sync for HeapShared {}

impl Drop for HeapLane {
    fn drop(&mut self) {
        // SAFETY: allocated in `HeapRun::new` with this layout, freed once.
        unsafe { dealloc(self.ring.as_ptr(), self.layout) };
    }
}

impl HeapRun {
    /// `lanes` heap lanes of `lane_bytes` each.
    ///
    /// # Errors
    /// `None` if `lane_bytes` is not a power of two in `4096..=1 GiB`
    /// (256 under loom) or `lanes` is 0.
    pub fn new(lane_bytes: usize, lanes: u16) -> Option<Self> {
        if lanes == 0 || !lane_bytes.is_power_of_two() || !(MIN_LANE_BYTES..=MAX_LANE_BYTES).contains(&lane_bytes) {
            return None;
        }
        let layout = Layout::from_size_align(lane_bytes, 64).ok()?;
        let mut out = Vec::with_capacity(usize::from(lanes));
        for _ in 0..lanes {
            // SAFETY: layout has non-zero size.
            let ring = NonNull::new(unsafe { alloc_zeroed(layout) })?;
            #[cfg(not(loom))]
            let (desc, control) = {
                use zerocopy::FromZeros;
                let d = LaneDescriptor::new_box_zeroed().ok()?;
                d.state.store(LaneState::Active as u32, Ordering::Relaxed);
                (d, LaneControl::new_box_zeroed().ok()?)
            };
            #[cfg(loom)]
            let (desc, control) = (Box::new(LaneDescriptor::new()), Box::new(LaneControl::new()));
            out.push(HeapLane {
                #[cfg(loom)]
                first_view: std::sync::OnceLock::new(),
                desc,
                control,
                ring,
                layout,
            });
        }
        Some(Self {
            shared: Arc::new(HeapShared { lanes: out, parked: Box::new(AtomicU32::new(0)) }),
            consumer_taken: AtomicBool::new(false),
        })
    }

    /// Claims lane `lane` and returns its only producer.
    ///
    /// # Errors
    /// [`ProduceError::LaneTaken`] if it was claimed before,
    /// [`ProduceError::LaneClosed`] for a lane index out of range.
    pub fn claim(&self, lane: u16, policy: FullPolicy) -> Result<Producer, ProduceError> {
        let mem = Arc::clone(&self.shared)
            .lane(lane)
            .map_err(|_| ProduceError::LaneClosed { lane, state: LaneState::Free })?;
        Producer::claim(mem, lane, policy)
    }

    /// A new producer for a lane that was claimed before, continuing from
    /// the position and sequence its control block holds (a reopened lane).
    ///
    /// # Errors
    /// [`ProduceError::LaneCorrupt`] if the control state is inconsistent.
    ///
    /// # Safety
    /// Every earlier producer of `lane` has been dropped (or belongs to a
    /// process that is gone): two producers on one lane are a data race.
    pub unsafe fn reclaim(&self, lane: u16, policy: FullPolicy) -> Result<Producer, ProduceError> {
        let mem = Arc::clone(&self.shared)
            .lane(lane)
            .map_err(|_| ProduceError::LaneClosed { lane, state: LaneState::Free })?;
        // SAFETY: forwarded from this function's contract.
        unsafe { Producer::reopen(mem, lane, policy) }
    }

    /// The run's only consumer, over all its lanes.
    ///
    /// # Errors
    /// `ConsumerTaken` on a second call.
    pub fn consumer(&self) -> Result<Consumer, SegmentError> {
        // Relaxed: a process-local flag; the swap alone makes it one-shot.
        if self.consumer_taken.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return Err(SegmentError::ConsumerTaken { name: "(heap)".into() });
        }
        // SAFETY: the previous consumer was never handed out.
        Ok(unsafe { self.replace_consumer() })
    }

    /// A consumer that takes over from an earlier one (a restarted service),
    /// resuming from what the lanes' descriptors and rings hold.
    ///
    /// # Safety
    /// Every earlier consumer of this run has been dropped.
    pub unsafe fn replace_consumer(&self) -> Consumer {
        let source: Arc<dyn LaneSource> = self.shared.clone();
        let mut c = Consumer::with_source(source);
        for lane in 0..self.shared.lanes.len() {
            c.add_lane(lane as u16).expect("heap lanes exist");
        }
        c
    }

    /// Figures of lane `lane` (as for a segment), `None` if out of range.
    pub fn lane_stats(&self, lane: u16) -> Option<crate::LaneStats> {
        Arc::clone(&self.shared).lane(lane).ok().map(|m| crate::ring::segment::lane_stats(&m))
    }
}

impl LaneSource for HeapShared {
    fn lane(self: Arc<Self>, lane: u16) -> Result<LaneMemory, SegmentError> {
        let count = self.lanes.len() as u32;
        let l = self.lanes.get(usize::from(lane)).ok_or(SegmentError::NoSuchLane { lane: u32::from(lane), count })?;
        let (desc, control, ring, size) =
            (NonNull::from(&*l.desc), NonNull::from(&*l.control), l.ring, l.layout.size());
        // SAFETY: every pointer is into `self`'s boxes and ring allocation,
        // which the Arc passed as `keep` keeps alive; capacity was validated
        // in `new`, and the ring is 64-aligned.
        let view = unsafe { LaneMemory::from_raw(desc, control, ring, size, self.clone()) };
        #[cfg(loom)]
        let view = match self.lanes[usize::from(lane)].first_view.get() {
            Some(first) => view.share_loom_tables(first),
            None => {
                let _ = self.lanes[usize::from(lane)].first_view.set(view.loom_tables());
                view
            }
        };
        Ok(view)
    }

    fn parked(&self) -> &AtomicU32 {
        &self.parked
    }
}
