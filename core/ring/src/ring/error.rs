//! Error types of the data path, one enum per layer, each message saying what
//! to do about it.

use std::time::Duration;

use crate::ring::layout::LaneState;

/// Creating, opening or growing a run segment failed.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The request is larger than the whole shared-memory filesystem.
    #[error(
        "/dev/shm holds {total} bytes in all, but the run needs {needed} bytes: \
         raise the container's shared memory (Docker: --shm-size, Kubernetes: an emptyDir \
         with medium Memory) or lower RINGLOG_LANE_BYTES"
    )]
    ShmTooSmall {
        /// Bytes requested.
        needed: u64,
        /// Size of the filesystem.
        total: u64,
    },
    /// The filesystem has not enough free space left.
    #[error(
        "/dev/shm is full: {free} bytes free, the run needs {needed} more: finish or \
         remove stale runs (`ringlog runs`), raise Docker's --shm-size, or lower RINGLOG_LANE_BYTES"
    )]
    ShmFull {
        /// Bytes requested.
        needed: u64,
        /// Bytes free.
        free: u64,
    },
    /// Lane size outside the supported range.
    #[error("lane size {0} bytes is invalid: use a power of two from 4096 (4 KiB) to 1073741824 (1 GiB)")]
    InvalidLaneBytes(u64),
    /// Lane table capacity outside the supported range.
    #[error("max lanes {0} is invalid: use 1 to {max}", max = crate::ring::layout::MAX_LANES)]
    InvalidMaxLanes(u32),
    /// No segment by that name.
    #[error("no ringlog segment named {name}: the run was finished or its segment removed")]
    NotFound {
        /// Segment name.
        name: String,
    },
    /// Not a ringlog segment (or not finished being created).
    #[error(
        "{name} is not a ringlog segment (magic {found:#018x}): it is another program's, or its creator died while building it"
    )]
    BadMagic {
        /// Segment name.
        name: String,
        /// Magic found.
        found: u64,
    },
    /// Layout version this build cannot read.
    #[error(
        "segment {name} has layout version {found}; this build reads version {expected}: use matching ringlog versions for the service and the trainers"
    )]
    LayoutVersion {
        /// Segment name.
        name: String,
        /// Version found.
        found: u32,
        /// Version supported.
        expected: u32,
    },
    /// Record format version this build cannot read.
    #[error(
        "segment {name} has record format version {found}; this build reads version {expected}: use matching ringlog versions"
    )]
    RecordFormatVersion {
        /// Segment name.
        name: String,
        /// Version found.
        found: u32,
        /// Version supported.
        expected: u32,
    },
    /// File shorter than its header says.
    #[error(
        "segment {name} is {actual} bytes but needs {expected}: it was truncated by another process (or its creator died while sizing it); the run cannot continue"
    )]
    Truncated {
        /// Segment name.
        name: String,
        /// Bytes the header implies.
        expected: u64,
        /// Bytes the file has.
        actual: u64,
    },
    /// Header geometry is inconsistent.
    #[error("segment {name} has an invalid header: {reason}")]
    Corrupt {
        /// Segment name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Every lane slot is taken.
    #[error("run already has {max} lanes, the most a run can have: detach idle producers or start a new run")]
    LanesExhausted {
        /// The limit.
        max: u32,
    },
    /// Lane index not allocated.
    #[error("lane {lane} does not exist (the run has {count} lanes)")]
    NoSuchLane {
        /// Requested lane.
        lane: u32,
        /// Lanes allocated.
        count: u32,
    },
    /// Segment owned by another user.
    #[error(
        "segment {name} belongs to uid {owner}, not to this user ({me}): ringlog only opens the caller's own segments"
    )]
    WrongOwner {
        /// Segment name.
        name: String,
        /// Owning uid.
        owner: u32,
        /// Our uid.
        me: u32,
    },
    /// Claiming a lane failed (taken before, or its control state is broken).
    #[error("cannot claim lane {lane}: {source}")]
    Claim {
        /// Lane.
        lane: u16,
        /// Why.
        #[source]
        source: ProduceError,
    },
    /// The run's consumer was already handed out.
    #[error("segment {name} already has its consumer: a run is drained by exactly one consumer")]
    ConsumerTaken {
        /// Segment name.
        name: String,
    },
    /// A system call failed.
    #[error("segment {name}: {op} failed: {source}")]
    Io {
        /// Segment name.
        name: String,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Writing a record into a lane failed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// `Block` policy: no space within the timeout (counted in `timeouts`).
    #[error(
        "lane full for {0:?} (block policy): the service is not draining this run; check `ringlog status` and the service log"
    )]
    Timeout(Duration),
    /// `Error` policy: no space now.
    #[error("lane full (error policy): the consumer is behind; retry, or use the block or drop policy")]
    Full,
    /// The record can never fit in this lane.
    #[error(
        "record of {len} bytes exceeds the largest frame this lane accepts ({max} bytes): raise RINGLOG_LANE_BYTES"
    )]
    TooLarge {
        /// Bytes needed.
        len: usize,
        /// Largest frame.
        max: usize,
    },
    /// The handle was created before a `fork()`; writing would corrupt the parent's lane.
    #[error(
        "this ringlog handle was created in the parent before fork(); a child process must attach to the run itself (ringlog::attach)"
    )]
    Forked,
    /// The lane no longer accepts records.
    #[error("lane {lane} is {state:?} and accepts no records: attach again to get a new lane")]
    LaneClosed {
        /// Lane id.
        lane: u16,
        /// Its state.
        state: LaneState,
    },
    /// The lane was claimed by another producer before.
    #[error(
        "lane {lane} already has its producer: a lane is claimed once; attach again (ringlog::attach) to get a lane of your own"
    )]
    LaneTaken {
        /// Lane id.
        lane: u16,
    },
    /// The lane's positions in shared memory are inconsistent (something wrote
    /// over them); the lane cannot be used.
    #[error("lane {lane} is corrupt ({reason}); it accepts no records: attach again to get a new lane")]
    LaneCorrupt {
        /// Lane id.
        lane: u16,
        /// What is inconsistent.
        reason: String,
    },
    /// Invalid key name.
    #[error("key {0:?} is invalid: use 1 to 256 bytes of UTF-8 without NUL")]
    InvalidKey(String),
    /// Too many distinct keys in one lane.
    #[error("lane has {0} keys, the most one lane can intern")]
    TooManyKeys(u32),
    /// A key id this producer never defined.
    #[error("key id {0} was not defined on this lane: get ids from key() on the same handle")]
    UnknownKey(u32),
}

/// A frame the consumer rejected. The first four corrupt the lane (reading
/// stops there, committed frames before it are kept); the rest skip one frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Commit word with unknown state bits.
    #[error("lane {lane}: unknown frame state {bits} at ring offset {offset}; lane marked corrupt")]
    BadState {
        /// Lane id.
        lane: u16,
        /// Ring offset.
        offset: usize,
        /// State bits.
        bits: u32,
    },
    /// Frame length that runs past the ring or the frame limit.
    #[error("lane {lane}: frame of {len} bytes at ring offset {offset} does not fit the ring; lane marked corrupt")]
    BadLength {
        /// Lane id.
        lane: u16,
        /// Ring offset.
        offset: usize,
        /// Claimed payload length.
        len: usize,
    },
    /// Sequence number out of order (a lapped or scribbled lane).
    #[error("lane {lane}: expected sequence {expected}, found {found}; lane marked corrupt")]
    SeqGap {
        /// Lane id.
        lane: u16,
        /// Expected.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// Frame claims another lane.
    #[error("lane {lane}: frame claims lane {found}; lane marked corrupt")]
    WrongLane {
        /// Lane id.
        lane: u16,
        /// Lane in the frame.
        found: u16,
    },
    /// Kind byte not known to this build.
    #[error("lane {lane} seq {seq}: unknown record kind {kind}; frame skipped")]
    UnknownKind {
        /// Lane id.
        lane: u16,
        /// Sequence.
        seq: u64,
        /// Kind byte.
        kind: u8,
    },
    /// Format version not known to this build.
    #[error(
        "lane {lane} seq {seq}: record format {format} not supported (this build reads {supported}); frame skipped, upgrade the service"
    )]
    UnsupportedFormat {
        /// Lane id.
        lane: u16,
        /// Sequence.
        seq: u64,
        /// Format byte.
        format: u8,
        /// Supported version.
        supported: u8,
    },
    /// Payload failed rkyv validation.
    #[error("lane {lane} seq {seq}: {kind:?} payload of {len} bytes failed validation; frame skipped")]
    Invalid {
        /// Lane id.
        lane: u16,
        /// Sequence.
        seq: u64,
        /// Kind.
        kind: crate::RecordKind,
        /// Payload length.
        len: usize,
    },
}

impl FrameError {
    /// Whether reading the lane must stop at this frame.
    pub fn corrupts_lane(&self) -> bool {
        matches!(self, Self::BadState { .. } | Self::BadLength { .. } | Self::SeqGap { .. } | Self::WrongLane { .. })
    }
}
