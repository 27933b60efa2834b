//! The `#[repr(C)]` structures at the start of a run segment.
//!
//! ```text
//! 0                  SegmentHeader (192 bytes)
//! 192                LaneControl[max_lanes] (192 bytes each)
//! data_offset        lane 0 ring (lane_bytes), lane 1 ring, ... (page aligned)
//! ```
//! Only offsets and indices live here, never pointers. Every field that any
//! process writes after the segment is published is an atomic; the geometry is
//! written once, before the Release store of `magic`, and a reader copies it
//! into private memory when it opens the segment (never trusting it again).
//! Layouts are pinned by `zerocopy::IntoBytes` (which rejects padding) and by
//! the const asserts at the bottom of this file.

use crate::sync::{AtomicU32, AtomicU64};

/// `b"RINGLOG\x01"` read as a little-endian u64.
pub const SEGMENT_MAGIC: u64 = u64::from_le_bytes(*b"RINGLOG\x01");
/// Version of this file's layout; bumped on any change to it.
pub const LAYOUT_VERSION: u32 = 1;
/// Hard upper bound on lanes per run (the size of the lane table).
pub const MAX_LANES: u32 = 1024;
/// Size of a cache line on the machines ringlog targets.
pub const CACHE_LINE: usize = 64;

/// Run state stored in [`SegmentHeader::run_state`].
///
/// # Examples
/// ```
/// use ringlog::RunState;
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
/// use ringlog::LaneState;
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
    /// Lanes handed out so far; Release-stored after the lane's control block
    /// and ring exist (SYNC POINT: lane allocated).
    pub lane_count: AtomicU32,
    /// Ring bytes per lane (a power of two, a multiple of the page size).
    pub lane_bytes: u64,
    /// Offset of lane 0's ring from the start of the segment.
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
    /// Pid of the service that created or adopted the segment.
    pub service_pid: AtomicU32,
    /// Reserved, zero.
    pub _reserved1: [u8; 28],
    // ---- line 2: the consumer's wakeup word, alone on its line ----
    /// 1 while the consumer is parked (or about to park) in `futex_wait`.
    pub consumer_parked: AtomicU32,
    /// Reserved, zero.
    pub _reserved2: [u8; 60],
}

/// One entry of the lane table, three cache lines split by writer so the
/// producer and the consumer never write the same line on the hot path.
#[repr(C, align(64))]
#[cfg_attr(not(loom), derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::KnownLayout))]
pub struct LaneControl {
    // ---- line 0: descriptor, written by the service ----
    /// A [`LaneState`] value.
    pub state: AtomicU32,
    /// Pid of the owning process as the service saw it (SO_PEERCRED).
    pub owner_pid: AtomicU32,
    /// Reserved, zero.
    pub _reserved0: [u8; 56],
    // ---- line 1: written by the producer only ----
    /// Bytes ever written (monotonic position; ring offset = tail % capacity).
    /// Published for status and reattach, not used for synchronization.
    pub tail: AtomicU64,
    /// Frames committed, including key definitions: the next sequence number.
    pub records: AtomicU64,
    /// Payload bytes committed.
    pub bytes: AtomicU64,
    /// Records dropped by the `DropNewest` policy.
    pub drops: AtomicU64,
    /// Records refused after a `Block` timeout.
    pub timeouts: AtomicU64,
    /// 1 while the producer waits for space in `futex_wait`.
    pub space_waiter: AtomicU32,
    /// Reserved, zero.
    pub _reserved1: [u8; 20],
    // ---- line 2: written by the consumer only ----
    /// Bytes ever released by the consumer (monotonic). Release-stored after
    /// the space is zeroed (SYNC POINT: space released).
    pub head: AtomicU64,
    /// Frames the consumer rejected.
    pub invalid_frames: AtomicU64,
    /// Frames the consumer accepted.
    pub consumed: AtomicU64,
    /// Reserved, zero.
    pub _reserved2: [u8; 40],
}

#[cfg(loom)]
impl LaneControl {
    /// A zeroed control block for loom models (loom atomics cannot be zeroed bytes).
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU32::new(LaneState::Active as u32),
            owner_pid: AtomicU32::new(0),
            _reserved0: [0; 56],
            tail: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            space_waiter: AtomicU32::new(0),
            _reserved1: [0; 20],
            head: AtomicU64::new(0),
            invalid_frames: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            _reserved2: [0; 40],
        }
    }
}

/// Size of [`SegmentHeader`].
pub const SEGMENT_HEADER_LEN: usize = 192;
/// Size of one [`LaneControl`].
pub const LANE_CONTROL_LEN: usize = 192;

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SegmentHeader>() == SEGMENT_HEADER_LEN);
    assert!(align_of::<SegmentHeader>() == CACHE_LINE);
    assert!(offset_of!(SegmentHeader, run_id) == CACHE_LINE);
    assert!(offset_of!(SegmentHeader, consumer_parked) == 2 * CACHE_LINE);
    assert!(size_of::<LaneControl>() == LANE_CONTROL_LEN);
    assert!(offset_of!(LaneControl, tail) == CACHE_LINE);
    assert!(offset_of!(LaneControl, head) == 2 * CACHE_LINE);
    assert!(size_of::<AtomicU64>() == 8 && size_of::<AtomicU32>() == 4);
};
