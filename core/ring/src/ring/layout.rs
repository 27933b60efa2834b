//! The `#[repr(C)]` structures at the start of a run segment.
//!
//! ```text
//! 0                  SegmentHeader (192 bytes)                 } written by the service only;
//! 192                LaneDescriptor[max_lanes] (128 bytes each) } producers map it read-only
//! data_offset        lane 0: LaneControl (one page), then its ring (lane_bytes)
//! + lane stride      lane 1: LaneControl, ring ...    (each lane mapped on its own)
//! ```
//! The split is by writer (ADR 9): everything the service writes (geometry,
//! run state, lane states, the consumer's `head`) lives in the header region,
//! which a producer maps read-only; everything a producer writes (its claim
//! word, its counters, its ring) lives in its own lane, the only part of the
//! segment it maps writable. A stray write by a producer can therefore damage
//! only its own lane.
//!
//! Only offsets and indices live here, never pointers. Every field that any
//! process writes after the segment is published is an atomic; the geometry is
//! written once, before the Release store of `magic`, and a reader copies it
//! into private memory when it opens the segment (never trusting it again).
//! Nobody holds a `&SegmentHeader` (or a reference to any of these structs)
//! over shared memory: fields are reached by raw-pointer projection
//! (`&raw const (*p).field`), atomics are loaded through `&AtomicU*`, and
//! plain fields are copied out with a volatile read.
//! Layouts are pinned by `zerocopy::IntoBytes` (which rejects padding) and by
//! the const asserts at the bottom of this file.

use crate::ring::sync::{AtomicU32, AtomicU64};

/// `b"RINGLOG\x01"` read as a little-endian u64.
pub const SEGMENT_MAGIC: u64 = u64::from_le_bytes(*b"RINGLOG\x01");
/// Version of this file's layout; bumped on any change to it.
pub const LAYOUT_VERSION: u32 = 3;
/// Hard upper bound on lanes per run (the size of the lane table).
pub const MAX_LANES: u32 = 1024;
/// Size of a cache line on the machines ringlog targets.
pub const CACHE_LINE: usize = 64;

/// Run state stored in [`SegmentHeader::run_state`].
///
/// # Examples
/// ```
/// use ringlog_ring::RunState;
/// assert_eq!(RunState::from_u32(RunState::Finished as u32), Some(RunState::Finished));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum RunState {
    /// Producers may write.
    Running = 1,
    /// The owner asked to finish; the service is draining.
    Finishing = 2,
    /// Drained and durable; the segment can be unlinked.
    Finished = 3,
    /// Every producer died without a finish.
    Crashed = 4,
}

impl RunState {
    /// Decodes a stored state.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Running),
            2 => Some(Self::Finishing),
            3 => Some(Self::Finished),
            4 => Some(Self::Crashed),
            _ => None,
        }
    }
}

/// State of one lane, stored in [`LaneControl::state`].
///
/// # Examples
/// ```
/// use ringlog_ring::LaneState;
/// assert_eq!(LaneState::from_u32(3), Some(LaneState::Abandoned));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum LaneState {
    /// Slot in the table not handed out.
    Free = 0,
    /// A producer owns the lane.
    Active = 1,
    /// The producer detached cleanly; committed frames remain to drain.
    Detached = 2,
    /// The producer died; committed frames remain to drain, the rest is lost.
    Abandoned = 3,
    /// The consumer found bytes it cannot frame; reading stopped there.
    Corrupt = 4,
}

impl LaneState {
    /// Decodes a stored state.
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Free),
            1 => Some(Self::Active),
            2 => Some(Self::Detached),
            3 => Some(Self::Abandoned),
            4 => Some(Self::Corrupt),
            _ => None,
        }
    }
}

/// The segment header: identity, geometry, run state and the consumer's futex.
///
/// Written by the service only; producers map it read-only.
#[repr(C, align(64))]
#[cfg_attr(not(loom), derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout))]
pub struct SegmentHeader {
    // ---- line 0: identity and geometry (written once, before `magic`) ----
    /// [`SEGMENT_MAGIC`], stored last with Release by the creator.
    pub magic: AtomicU64,
    /// [`LAYOUT_VERSION`] of the creator.
    pub layout_version: u32,
    /// `crate::RECORD_FORMAT_VERSION` of the creator.
    pub record_format_version: u32,
    /// Capacity of the lane table.
    pub max_lanes: u32,
    /// Lanes handed out so far; Release-stored after the lane's descriptor and
    /// ring exist (SYNC POINT: lane allocated). Advisory for producers and
    /// listings: the service keeps its own count and never maps a lane
    /// because this word says so.
    pub lane_count: AtomicU32,
    /// Ring bytes per lane (a power of two).
    pub lane_bytes: u64,
    /// Offset of lane 0's control page from the start of the segment.
    pub data_offset: u64,
    /// Creation time, Unix nanoseconds.
    pub created_unix_ns: u64,
    /// Full-lane policy (`FullPolicy::to_raw`).
    pub full_policy: u32,
    /// Timeout in milliseconds for the `Block` policy.
    pub block_timeout_ms: u32,
    /// A [`RunState`] value.
    pub run_state: AtomicU32,
    /// Reserved, zero.
    pub _reserved0: u32,
    // ---- line 1: run identity ----
    /// Run id as ASCII, NUL-padded.
    pub run_id: [u8; 32],
    /// Pid of the service that created the segment, or of the service that
    /// last adopted it after a restart.
    pub service_pid: AtomicU32,
    /// Reserved, zero.
    pub _pad1: u32,
    /// The service's heartbeat: coarse Unix nanoseconds, stored (Relaxed) by
    /// the run's drain thread a few times a second while it runs; 0 from a
    /// service that predates it. A producer that finds it stale asks whether
    /// the service is alive, and starts a new one if not (ADR 28).
    pub service_heartbeat_ns: AtomicU64,
    /// Reserved, zero.
    pub _reserved1: [u8; 16],
    // ---- line 2: the consumer's wakeup word, alone on its line ----
    /// 1 while the consumer is parked (or about to park): the service's
    /// control events wake the consumer through it. Producers never touch it
    /// (they map the header read-only); they wake the consumer through the
    /// `consumer_parked` word of their own lane.
    pub consumer_parked: AtomicU32,
    /// Reserved, zero.
    pub _reserved2: [u8; 60],
}

/// One entry of the lane table: what the service knows and writes about a
/// lane. Producers map it read-only.
#[repr(C, align(64))]
#[cfg_attr(not(loom), derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout))]
pub struct LaneDescriptor {
    // ---- line 0: written by the service when it hands out or closes the lane ----
    /// A [`LaneState`] value.
    pub state: AtomicU32,
    /// Pid of the owning process as the service saw it (SO_PEERCRED).
    pub owner_pid: AtomicU32,
    /// Start time of the owning process (`/proc/PID/stat` field 22, clock
    /// ticks since boot): with the pid, it names the process even after the
    /// pid is reused.
    pub owner_start_ticks: AtomicU64,
    /// Reserved, zero.
    pub _reserved0: [u8; 48],
    // ---- line 1: written by the consumer only ----
    /// Bytes ever released by the consumer (monotonic, a multiple of 16).
    /// Release-stored once the batch is written (SYNC POINT: space released).
    pub head: AtomicU64,
    /// Frames the consumer rejected.
    pub invalid_frames: AtomicU64,
    /// Frames the consumer accepted.
    pub consumed: AtomicU64,
    /// Reserved, zero.
    pub _reserved1: [u8; 40],
}

/// The first page of a lane: the words its producer writes. Mapped writable
/// by that producer (and by the service), so nothing here is trusted by the
/// service beyond statistics, which it bounds.
#[repr(C, align(64))]
#[cfg_attr(not(loom), derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout))]
pub struct LaneControl {
    /// [`LANE_CLAIMED`] once a producer claimed the lane by compare-and-swap
    /// from 0; a lane is claimed at most once.
    pub claim: AtomicU32,
    /// 1 when this lane's producer notifies without a fence instruction (its
    /// process registered for `membarrier`): the consumer then runs the heavy
    /// barrier when it parks (ADR 5). Stored once, before the first record.
    pub light_notify: AtomicU32,
    /// Bytes ever written (monotonic position; ring offset = tail % capacity).
    /// Published for status; the consumer follows commit words instead.
    pub tail: AtomicU64,
    /// Frames committed, including key definitions: the next sequence number.
    pub records: AtomicU64,
    /// Payload bytes committed.
    pub bytes: AtomicU64,
    /// Records dropped by the `DropNewest` policy.
    pub drops: AtomicU64,
    /// Records refused after a `Block` timeout.
    pub timeouts: AtomicU64,
    /// 1 while the run's consumer is parked (or about to park) waiting for
    /// data: the consumer waits on every lane's word at once (`futex_waitv`),
    /// so each producer wakes it through a word in its own lane.
    pub consumer_parked: AtomicU32,
    /// Set (to 1) by the service when it closes the lane (detached, abandoned,
    /// corrupt, or the run finished). It sits on the line the producer writes
    /// on every record, so checking it costs the producer an L1 hit: a record
    /// after the close gets `LaneClosed` at once, not when the ring fills.
    pub closed: AtomicU32,
    /// Reserved, zero.
    pub _reserved: [u8; 8],
    /// 1 while the producer waits for space in `futex_wait`. On a line of its
    /// own: the consumer loads it after every batch it releases (`notify`),
    /// and on the line above, which the producer stores to on every record,
    /// each of those loads pulled the line away from the producer and made
    /// its next store wait for the line to come back (ADR 34).
    pub space_waiter: AtomicU32,
    /// Reserved, zero.
    pub _reserved1: [u8; 60],
}

/// Value of [`LaneControl::claim`] once a producer owns the lane.
pub const LANE_CLAIMED: u32 = 1;

#[cfg(loom)]
impl LaneDescriptor {
    /// A fresh descriptor for loom models (loom atomics cannot be zeroed bytes).
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU32::new(LaneState::Active as u32),
            owner_pid: AtomicU32::new(0),
            owner_start_ticks: AtomicU64::new(0),
            _reserved0: [0; 48],
            head: AtomicU64::new(0),
            invalid_frames: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            _reserved1: [0; 40],
        }
    }
}

#[cfg(loom)]
impl LaneControl {
    /// A fresh control block for loom models.
    pub(crate) fn new() -> Self {
        Self {
            claim: AtomicU32::new(0),
            light_notify: AtomicU32::new(0),
            tail: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            consumer_parked: AtomicU32::new(0),
            closed: AtomicU32::new(0),
            _reserved: [0; 8],
            space_waiter: AtomicU32::new(0),
            _reserved1: [0; 60],
        }
    }
}

/// Size of [`SegmentHeader`].
pub const SEGMENT_HEADER_LEN: usize = 192;
/// Size of one [`LaneDescriptor`].
pub const LANE_DESCRIPTOR_LEN: usize = 128;
/// Size of [`LaneControl`].
pub const LANE_CONTROL_LEN: usize = 128;
/// Bytes reserved for a lane's control block in a segment (one page, so the
/// ring after it is page aligned and mapped together with it).
pub const LANE_CONTROL_PAGE: usize = 4096;

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SegmentHeader>() == SEGMENT_HEADER_LEN);
    assert!(align_of::<SegmentHeader>() == CACHE_LINE);
    assert!(offset_of!(SegmentHeader, run_id) == CACHE_LINE);
    assert!(offset_of!(SegmentHeader, service_heartbeat_ns) == CACHE_LINE + 40);
    assert!(offset_of!(SegmentHeader, consumer_parked) == 2 * CACHE_LINE);
    assert!(size_of::<LaneDescriptor>() == LANE_DESCRIPTOR_LEN);
    assert!(offset_of!(LaneDescriptor, head) == CACHE_LINE);
    assert!(size_of::<LaneControl>() == LANE_CONTROL_LEN);
    assert!(LANE_CONTROL_LEN <= LANE_CONTROL_PAGE);
    // The producer's per-record words share line 0; the word the consumer
    // reads after every batch is alone on line 1 (ADR 34).
    assert!(offset_of!(LaneControl, closed) < CACHE_LINE);
    assert!(offset_of!(LaneControl, consumer_parked) < CACHE_LINE);
    assert!(offset_of!(LaneControl, light_notify) < CACHE_LINE);
    assert!(offset_of!(LaneControl, space_waiter) == CACHE_LINE);
    assert!(size_of::<AtomicU64>() == 8 && size_of::<AtomicU32>() == 4);
};
