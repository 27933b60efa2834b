//! The 16-byte frame header every record in a lane starts with.
//!
//! ```text
//! offset  size  field
//!      0     4  commit word: bits 0..4 state (0 empty, 1 committed, 2 padding), bits 4..32 payload length in bytes
//!      4     1  record kind (see `RecordKind`)
//!      5     1  record format version of that kind
//!      6     2  lane id
//!      8     8  per-lane sequence number (0, 1, 2, ... in commit order)
//!     16     n  payload: the rkyv archive of the record, exactly `length` bytes
//! ```
//! A frame occupies `align_up(16 + length, 16)` bytes and never crosses the end
//! of the ring: a *padding* frame covers the tail of the ring instead. All
//! fields are little-endian. The commit word is the only field written
//! atomically; every other byte is published by the Release store of the
//! commit word (see `Producer::publish` and `Consumer::read_lane`).

/// Every frame starts on a 16-byte boundary and is a multiple of 16 long.
pub const FRAME_ALIGN: usize = 16;
/// Size of [`FrameHeader`] in bytes.
pub const FRAME_HEADER_LEN: usize = 16;
/// Largest payload a commit word can describe (28 bits).
pub const MAX_PAYLOAD_LEN: usize = (1 << 28) - 1;

const STATE_BITS: u32 = 4;
const STATE_MASK: u32 = (1 << STATE_BITS) - 1;

/// The state stored in the low four bits of a commit word.
///
/// # Examples
/// ```
/// use ringlog_ring::FrameState;
/// assert_eq!(FrameState::from_bits(1), Some(FrameState::Committed));
/// assert_eq!(FrameState::from_bits(9), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameState {
    /// Nothing committed here yet (the producer clears the word after each frame).
    Empty = 0,
    /// A record frame whose header and payload are complete.
    Committed = 1,
    /// Filler up to the end of the ring; the next frame starts at offset 0.
    Padding = 2,
    // 3..=15 are reserved. (An earlier draft had `Abandoned = 3`, "marked by
    // the consumer", but the consumer never writes the ring: a producer that
    // died mid-frame leaves an empty commit word, and the lane is closed as
    // abandoned in the lane table instead.)
}

impl FrameState {
    /// Decodes a state value, `None` for bits no writer produces.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            0 => Some(Self::Empty),
            1 => Some(Self::Committed),
            2 => Some(Self::Padding),
            _ => None,
        }
    }
}

/// A frame header as plain data (a private copy, never a view of shared memory).
///
/// # Examples
/// ```
/// use ringlog_ring::{FrameHeader, FrameState};
/// let h = FrameHeader::new(FrameState::Committed, 32, 2, 1, 7, 41);
/// let back = FrameHeader::from_bytes(&h.to_bytes());
/// assert_eq!(back, h);
/// assert_eq!(back.frame_len(), 48);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Raw commit word: state and payload length.
    pub commit: u32,
    /// Record kind byte.
    pub kind: u8,
    /// Record format version.
    pub format: u8,
    /// Lane the frame was written to.
    pub lane: u16,
    /// Per-lane sequence number.
    pub seq: u64,
}

impl FrameHeader {
    /// Builds a header from its parts.
    pub const fn new(state: FrameState, payload_len: u32, kind: u8, format: u8, lane: u16, seq: u64) -> Self {
        Self { commit: commit_word(state, payload_len), kind, format, lane, seq }
    }

    /// Decodes the 16 header bytes.
    pub fn from_bytes(b: &[u8; FRAME_HEADER_LEN]) -> Self {
        Self {
            commit: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            kind: b[4],
            format: b[5],
            lane: u16::from_le_bytes([b[6], b[7]]),
            seq: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        }
    }

    /// Encodes the 16 header bytes.
    pub fn to_bytes(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut b = [0u8; FRAME_HEADER_LEN];
        b[0..4].copy_from_slice(&self.commit.to_le_bytes());
        b[4] = self.kind;
        b[5] = self.format;
        b[6..8].copy_from_slice(&self.lane.to_le_bytes());
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// The state bits, `None` if they are not a known state.
    pub const fn state(&self) -> Option<FrameState> {
        FrameState::from_bits(self.commit & STATE_MASK)
    }

    /// Payload length in bytes.
    pub const fn payload_len(&self) -> usize {
        payload_len(self.commit)
    }

    /// Bytes the whole frame occupies in the ring.
    pub const fn frame_len(&self) -> usize {
        frame_len(self.payload_len())
    }
}

/// Packs a state and a payload length into a commit word.
pub(crate) const fn commit_word(state: FrameState, payload_len: u32) -> u32 {
    debug_assert!(payload_len as usize <= MAX_PAYLOAD_LEN);
    (payload_len << STATE_BITS) | state as u32
}

/// Payload length stored in a commit word.
pub(crate) const fn payload_len(commit: u32) -> usize {
    (commit >> STATE_BITS) as usize
}

/// State bits of a commit word.
pub(crate) const fn state_bits(commit: u32) -> u32 {
    commit & STATE_MASK
}

/// Bytes a frame with `payload_len` payload bytes occupies in the ring.
pub const fn frame_len(payload_len: usize) -> usize {
    (FRAME_HEADER_LEN + payload_len + FRAME_ALIGN - 1) & !(FRAME_ALIGN - 1)
}

/// Writes the non-atomic header fields (everything but the commit word).
///
/// # Safety
/// `frame` must point to 16 writable bytes at a 16-byte aligned position of a
/// ring region this producer has claimed and not yet committed.
#[inline]
pub(crate) unsafe fn write_header_fields(frame: *mut u8, kind: u8, format: u8, lane: u16, seq: u64) {
    // SAFETY: the caller guarantees 16 writable bytes at `frame`, 16-aligned, so
    // offsets 4, 6 and 8 are in bounds and aligned for u8, u16 and u64.
    unsafe {
        frame.add(4).write(kind);
        frame.add(5).write(format);
        frame.add(6).cast::<u16>().write(lane.to_le());
        frame.add(8).cast::<u64>().write(seq.to_le());
    }
}
