//! Ringlog-shaped frames for the transports that do not use ringlog itself.
//!
//! The raw SPSC ring moves exactly the bytes a ringlog lane holds for the same
//! record, so the comparison is about the transport, not the payload:
//!
//! ```text
//! header (16 B): commit word u32 = payload_len << 4 | 1 (committed), kind u8,
//!                format u8, lane u16, seq u64
//! scalar1 payload (32 B): ts_ns u64, step i64, value f64, key u32, reserved u32
//! scalar8 payload (152 B): 8 items {key u32, reserved u32, value f64}, then the
//!                root {ts_ns u64, step i64, items: rel-ptr i32 + len u32}
//! f32x1024 payload (4120 B): ts_ns u64, step i64, key u32, count u32 (1024),
//!                then 1024 values f32
//! ```
//! All fields are little-endian, as in ringlog's rkyv archives (a unit test
//! compares the scalar frames' bytes with frames written by ringlog's
//! producer). The array frame is not byte-identical to ringlog's: ringlog logs
//! it as a generic `History` record, whose rkyv archive is 4,152 bytes (36 more:
//! an item vector and an enum tag), so the raw transports carry 0.9% fewer bytes.

use crate::case::RecordShape;

/// Bytes of the frame header.
pub const HEADER_LEN: usize = 16;
/// Payload bytes of one scalar1 record.
const SCALAR1_PAYLOAD: usize = 32;
/// Bytes of one item of a scalars record.
const ITEM_LEN: usize = 16;
/// Bytes of the root of a scalars record.
const SCALARS_ROOT_LEN: usize = 24;
/// Metrics in a scalar8 record.
const SCALAR8_ITEMS: usize = 8;
/// Values of an f32x1024 record.
pub const ARRAY_VALUES: usize = 1024;
/// Bytes before the values of an f32x1024 payload: ts, step, key, count.
const ARRAY_HEAD: usize = 24;
/// Record kind byte of array frames (ringlog logs them as `History`).
const KIND_HISTORY: u8 = ringlog_ring::RecordKind::History as u8;
/// Record kind byte of scalar1 frames (ringlog's `RecordKind::Scalar1`).
const KIND_SCALAR1: u8 = ringlog_ring::RecordKind::Scalar1 as u8;
/// Record kind byte of scalars frames (ringlog's `RecordKind::Scalars`).
const KIND_SCALARS: u8 = ringlog_ring::RecordKind::Scalars as u8;
/// Low bits of a commit word that mark a committed frame.
const STATE_COMMITTED: u32 = 1;

/// The largest frame this module writes (an f32x1024 frame).
pub const MAX_FRAME_LEN: usize = HEADER_LEN + ARRAY_HEAD + ARRAY_VALUES * 4;

/// Payload bytes of `shape`.
pub const fn payload_len(shape: RecordShape) -> usize {
    match shape {
        RecordShape::Scalar1 => SCALAR1_PAYLOAD,
        RecordShape::Scalar8 => SCALAR8_ITEMS * ITEM_LEN + SCALARS_ROOT_LEN,
        RecordShape::F32x1024 => ARRAY_HEAD + ARRAY_VALUES * 4,
    }
}

/// Header plus payload bytes of `shape`: what ringlog copies and counts (48,
/// 168 or 4136).
pub const fn frame_len(shape: RecordShape) -> usize {
    HEADER_LEN + payload_len(shape)
}

/// Ring bytes one frame of `shape` occupies, 16-aligned as in ringlog (48, 176 or 4144).
pub const fn slot_len(shape: RecordShape) -> usize {
    frame_len(shape).next_multiple_of(16)
}

fn kind(shape: RecordShape) -> u8 {
    match shape {
        RecordShape::Scalar1 => KIND_SCALAR1,
        RecordShape::Scalar8 => KIND_SCALARS,
        RecordShape::F32x1024 => KIND_HISTORY,
    }
}

/// Writes the frame for record `seq` of `shape` into `out[..frame_len(shape)]`.
///
/// Metric `i` gets key `i` and the value `values(i)`; an f32x1024 record has
/// key 0 and the values `values(0)`..`values(1023)` as f32.
///
/// # Panics
/// If `out` is shorter than `frame_len(shape)`.
///
/// # Examples
/// ```
/// use ringlog_benches::{RecordShape, scalar_frame};
/// let mut buf = [0u8; scalar_frame::MAX_FRAME_LEN];
/// scalar_frame::encode(&mut buf, RecordShape::Scalar1, 7, 1, 42, |_| 0.5);
/// assert_eq!(scalar_frame::check(&buf[..48], RecordShape::Scalar1, 7), Ok(42));
/// ```
#[inline]
pub fn encode(out: &mut [u8], shape: RecordShape, seq: u64, ts_ns: u64, step: i64, values: impl Fn(usize) -> f64) {
    let payload = payload_len(shape);
    let out = &mut out[..HEADER_LEN + payload];
    out[0..4].copy_from_slice(&(((payload as u32) << 4) | STATE_COMMITTED).to_le_bytes());
    out[4] = kind(shape);
    out[5] = ringlog_ring::RECORD_FORMAT_VERSION;
    out[6..8].copy_from_slice(&0u16.to_le_bytes());
    out[8..16].copy_from_slice(&seq.to_le_bytes());
    let p = &mut out[HEADER_LEN..];
    match shape {
        RecordShape::Scalar1 => {
            p[0..8].copy_from_slice(&ts_ns.to_le_bytes());
            p[8..16].copy_from_slice(&step.to_le_bytes());
            p[16..24].copy_from_slice(&values(0).to_le_bytes());
            p[24..28].copy_from_slice(&0u32.to_le_bytes());
            p[28..32].copy_from_slice(&0u32.to_le_bytes());
        }
        RecordShape::Scalar8 => {
            for i in 0..SCALAR8_ITEMS {
                let item = &mut p[i * ITEM_LEN..(i + 1) * ITEM_LEN];
                item[0..4].copy_from_slice(&(i as u32).to_le_bytes());
                item[4..8].copy_from_slice(&0u32.to_le_bytes());
                item[8..16].copy_from_slice(&values(i).to_le_bytes());
            }
            let root = SCALAR8_ITEMS * ITEM_LEN;
            p[root..root + 8].copy_from_slice(&ts_ns.to_le_bytes());
            p[root + 8..root + 16].copy_from_slice(&step.to_le_bytes());
            // rkyv relative pointer: from the field's own position back to offset 0.
            let rel = -((root + 16) as i32);
            p[root + 16..root + 20].copy_from_slice(&rel.to_le_bytes());
            p[root + 20..root + 24].copy_from_slice(&(SCALAR8_ITEMS as u32).to_le_bytes());
        }
        RecordShape::F32x1024 => {
            p[0..8].copy_from_slice(&ts_ns.to_le_bytes());
            p[8..16].copy_from_slice(&step.to_le_bytes());
            p[16..20].copy_from_slice(&0u32.to_le_bytes());
            p[20..24].copy_from_slice(&(ARRAY_VALUES as u32).to_le_bytes());
            for (i, v) in p[ARRAY_HEAD..].chunks_exact_mut(4).enumerate() {
                v.copy_from_slice(&(values(i) as f32).to_le_bytes());
            }
        }
    }
}

/// Writes `lane` into the header of an encoded frame (which [`encode`]
/// leaves at lane 0), so a consumer fed by several producers can tell whose
/// frame it holds, as ringlog's frames name their lane.
///
/// # Panics
/// If `frame` is shorter than the header.
///
/// # Examples
/// ```
/// use ringlog_benches::{RecordShape, scalar_frame};
/// let mut buf = [0u8; scalar_frame::MAX_FRAME_LEN];
/// scalar_frame::encode(&mut buf, RecordShape::Scalar1, 7, 1, 42, |_| 0.5);
/// scalar_frame::set_lane(&mut buf, 3);
/// assert_eq!(scalar_frame::lane(&buf), Some(3));
/// assert_eq!(scalar_frame::check(&buf[..48], RecordShape::Scalar1, 7), Ok(42));
/// ```
#[inline]
pub fn set_lane(frame: &mut [u8], lane: u16) {
    frame[6..8].copy_from_slice(&lane.to_le_bytes());
}

/// The lane in a frame's header, or `None` if `frame` is shorter than a header.
///
/// The value is as untrusted as the frame: a caller bounds it by the lanes it
/// knows of before using it as an index.
#[inline]
pub fn lane(frame: &[u8]) -> Option<u16> {
    frame.get(6..8).map(|b| u16::from_le_bytes([b[0], b[1]]))
}

/// Why [`check`] rejected a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCheckError {
    /// The buffer is shorter than a frame of this shape.
    Short,
    /// The commit word does not say "committed, this payload length".
    CommitWord(u32),
    /// Wrong kind or format byte.
    Kind(u8, u8),
    /// The sequence number is not the expected one.
    Seq {
        /// Expected sequence number.
        expected: u64,
        /// Sequence number found.
        found: u64,
    },
    /// The scalars root does not point at its eight items, or an array
    /// record does not say 1024 values.
    Items,
}

impl std::fmt::Display for FrameCheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad raw frame: {self:?}")
    }
}

impl std::error::Error for FrameCheckError {}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(raw)
}

/// Checks a frame of `shape` (a private copy) and returns its step.
///
/// Checks what a reader of this fixed layout must check before trusting it:
/// commit word and length, kind and format, the sequence number, and for
/// scalar8 that the item pointer and count describe the eight items (for
/// f32x1024, that the count says 1024).
///
/// # Errors
/// The first problem found.
#[inline]
pub fn check(frame: &[u8], shape: RecordShape, expected_seq: u64) -> Result<i64, FrameCheckError> {
    let payload = payload_len(shape);
    if frame.len() < HEADER_LEN + payload {
        return Err(FrameCheckError::Short);
    }
    let word = u32_at(frame, 0);
    if word != ((payload as u32) << 4) | STATE_COMMITTED {
        return Err(FrameCheckError::CommitWord(word));
    }
    if frame[4] != kind(shape) || frame[5] != ringlog_ring::RECORD_FORMAT_VERSION {
        return Err(FrameCheckError::Kind(frame[4], frame[5]));
    }
    let seq = u64_at(frame, 8);
    if seq != expected_seq {
        return Err(FrameCheckError::Seq { expected: expected_seq, found: seq });
    }
    let p = &frame[HEADER_LEN..HEADER_LEN + payload];
    let step_at = match shape {
        RecordShape::Scalar1 => 8,
        RecordShape::Scalar8 => {
            let root = SCALAR8_ITEMS * ITEM_LEN;
            let rel = u32_at(p, root + 16) as i32;
            let len = u32_at(p, root + 20);
            if i64::from(rel) != -((root + 16) as i64) || len as usize != SCALAR8_ITEMS {
                return Err(FrameCheckError::Items);
            }
            root + 8
        }
        RecordShape::F32x1024 => {
            if u32_at(p, 20) as usize != ARRAY_VALUES {
                return Err(FrameCheckError::Items);
            }
            8
        }
    };
    Ok(u64_at(p, step_at) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringlog_ring::{Batch, HeapRun, KeyId, RecordRef};

    /// Logs one record of `shape` through ringlog and returns its frame bytes
    /// and the timestamp ringlog stamped.
    fn ringlog_frame(shape: RecordShape, keys_first: u64) -> (Vec<u8>, u64) {
        let run = HeapRun::new(1 << 16, 1).unwrap();
        let mut p = run.claim(0, Default::default()).unwrap();
        let keys: Vec<KeyId> = (0..8).map(|i| p.key(&format!("k{i}")).unwrap()).collect();
        assert_eq!(keys[0], KeyId(0));
        let _ = match shape {
            RecordShape::Scalar1 => p.log_scalar1(42, keys[0], 0.5).unwrap(),
            RecordShape::Scalar8 => {
                let items: Vec<(KeyId, f64)> = keys.iter().map(|&k| (k, f64::from(k.0) + 0.25)).collect();
                p.log_scalars(42, &items).unwrap()
            }
            RecordShape::F32x1024 => unreachable!("array frames are not byte-identical"),
        };
        let mut c = run.consumer().unwrap();
        let mut batch = Batch::new(1 << 16);
        assert_eq!(c.drain(&mut batch), 9);
        let f = batch.frames().last().unwrap();
        assert_eq!(f.seq(), keys_first);
        let ts = match f.record() {
            RecordRef::Scalar1(s) => s.ts_ns.to_native(),
            RecordRef::Scalars(s) => s.ts_ns.to_native(),
            other => panic!("unexpected record {other:?}"),
        };
        (f.frame_bytes().to_vec(), ts)
    }

    #[test]
    fn array_frames_round_trip() {
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        encode(&mut buf, RecordShape::F32x1024, 9, 1, 77, |i| i as f64);
        assert_eq!(frame_len(RecordShape::F32x1024), 4136);
        assert_eq!(check(&buf, RecordShape::F32x1024, 9), Ok(77));
        assert_eq!(&buf[MAX_FRAME_LEN - 4..], &1023f32.to_le_bytes());
        buf[HEADER_LEN + 20] = 3;
        assert_eq!(check(&buf, RecordShape::F32x1024, 9), Err(FrameCheckError::Items));
    }

    #[test]
    fn same_bytes_as_ringlog() {
        for shape in [RecordShape::Scalar1, RecordShape::Scalar8] {
            let (expect, ts) = ringlog_frame(shape, 8);
            let mut buf = [0u8; MAX_FRAME_LEN];
            let values = |i: usize| if shape == RecordShape::Scalar1 { 0.5 } else { i as f64 + 0.25 };
            encode(&mut buf, shape, 8, ts, 42, values);
            assert_eq!(expect.len(), frame_len(shape), "{shape:?}");
            assert_eq!(&buf[..frame_len(shape)], &expect[..], "{shape:?}");
            assert_eq!(check(&expect, shape, 8), Ok(42));
        }
    }

    #[test]
    fn lane_round_trips_and_leaves_the_rest() {
        let mut buf = [0u8; MAX_FRAME_LEN];
        encode(&mut buf, RecordShape::Scalar8, 11, 1, 5, |i| i as f64);
        assert_eq!(lane(&buf), Some(0));
        let before = buf;
        set_lane(&mut buf, 0xbeef);
        assert_eq!(lane(&buf), Some(0xbeef));
        assert_eq!(&buf[6..8], &[0xef, 0xbe], "little-endian, at header bytes 6..8");
        assert_eq!(&buf[..6], &before[..6]);
        assert_eq!(&buf[8..], &before[8..]);
        assert_eq!(check(&buf, RecordShape::Scalar8, 11), Ok(5));
        assert_eq!(lane(&buf[..7]), None);
    }

    #[test]
    fn check_rejects_bad_frames() {
        let mut buf = [0u8; MAX_FRAME_LEN];
        encode(&mut buf, RecordShape::Scalar8, 3, 1, 5, |i| i as f64);
        assert_eq!(check(&buf, RecordShape::Scalar8, 3), Ok(5));
        assert_eq!(check(&buf, RecordShape::Scalar8, 4), Err(FrameCheckError::Seq { expected: 4, found: 3 }));
        assert!(check(&buf[..40], RecordShape::Scalar8, 3).is_err());
        let mut bad = buf;
        bad[4] = 9;
        assert!(matches!(check(&bad, RecordShape::Scalar8, 3), Err(FrameCheckError::Kind(9, _))));
        let mut bad = buf;
        bad[HEADER_LEN + 128 + 20] = 7;
        assert_eq!(check(&bad, RecordShape::Scalar8, 3), Err(FrameCheckError::Items));
        let mut bad = buf;
        bad[0] = 0;
        assert!(matches!(check(&bad, RecordShape::Scalar8, 3), Err(FrameCheckError::CommitWord(_))));
    }
}
