//! A record's private, 16-byte aligned payload copy, kept inline when small
//! (no allocation for the scalars that make up most of a run log), and the
//! archives of compact scalar records rebuilt byte for byte.
//!
//! rkyv's layout of the two scalar kinds is fixed by the pinned format
//! features (little-endian, aligned, 32-bit relative pointers; see the
//! workspace `Cargo.toml`), and the records are frozen once released, so the
//! reader writes their archives directly instead of running the serializer.
//! The unit tests check every length against `rkyv::to_bytes`, and the run log
//! round-trip test checks them against the producer's own bytes.

use rkyv::util::AlignedVec;

use ringlog_ring::record::schema::{Scalar1, ScalarItem};

/// Payloads up to this many bytes are kept inline: a `Scalars` of 8 items (152
/// bytes), the common training step. Records are moved a few times on their way
/// out of the reader, so the inline size is a trade between allocations for
/// wider records and bytes copied for every record.
const INLINE: usize = 160;

/// 16-byte aligned inline storage.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Inline([u8; INLINE]);

const _: () = assert!(std::mem::align_of::<Inline>() == 16);

/// Archived size of a `Scalar1`.
const SCALAR1_LEN: usize = 32;
/// Archived size of a `ScalarItem`.
const ITEM_LEN: usize = 16;
/// Archived size of the `Scalars` root: ts, step, relative pointer, length.
const SCALARS_ROOT_LEN: usize = 24;

/// A private aligned payload: inline up to [`INLINE`] bytes, else on the heap.
#[derive(Clone)]
pub(crate) struct PayloadBuf {
    inline: Inline,
    len: usize,
    heap: Option<AlignedVec<16>>,
}

impl PayloadBuf {
    /// A copy of `bytes`.
    pub(crate) fn copy_of(bytes: &[u8]) -> Self {
        let mut b = Self::zeroed(bytes.len());
        b.as_mut_slice().copy_from_slice(bytes);
        b
    }

    fn zeroed(len: usize) -> Self {
        let heap = (len > INLINE).then(|| {
            let mut v = AlignedVec::<16>::with_capacity(len);
            v.resize(len, 0);
            v
        });
        Self { inline: Inline([0; INLINE]), len, heap }
    }

    fn heap(v: AlignedVec<16>) -> Self {
        Self { inline: Inline([0; INLINE]), len: v.len(), heap: Some(v) }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        match &self.heap {
            Some(v) => v.as_slice(),
            None => &self.inline.0[..self.len],
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.heap {
            Some(v) => v.as_mut_slice(),
            None => &mut self.inline.0[..self.len],
        }
    }

    /// The archive of `s`, as `rkyv::to_bytes` writes it.
    pub(crate) fn scalar1(s: &Scalar1) -> Self {
        let mut b = Self::zeroed(SCALAR1_LEN);
        let o = b.as_mut_slice();
        o[0..8].copy_from_slice(&s.ts_ns.to_le_bytes());
        o[8..16].copy_from_slice(&s.step.to_le_bytes());
        o[16..24].copy_from_slice(&s.value.to_le_bytes());
        o[24..28].copy_from_slice(&s.key.to_le_bytes());
        o[28..32].copy_from_slice(&s.reserved.to_le_bytes());
        b
    }

    /// The archive of a `Scalars { ts_ns, step, items }`, as `rkyv::to_bytes`
    /// writes it: the items, then the root, whose relative pointer (from the
    /// pointer field to the first item) is negative.
    pub(crate) fn scalars(ts_ns: u64, step: i64, items: &[ScalarItem]) -> Self {
        if items.is_empty() {
            // rkyv points an empty vector at the root itself; let it say so.
            let s = ringlog_ring::Scalars { ts_ns, step, items: Vec::new() };
            return Self::heap(rkyv::to_bytes::<rkyv::rancor::Error>(&s).expect("serializing into a Vec cannot fail"));
        }
        let root = items.len() * ITEM_LEN;
        let mut b = Self::zeroed(root + SCALARS_ROOT_LEN);
        let o = b.as_mut_slice();
        for (chunk, item) in o[..root].chunks_exact_mut(ITEM_LEN).zip(items) {
            chunk[0..4].copy_from_slice(&item.key.to_le_bytes());
            chunk[4..8].copy_from_slice(&item.reserved.to_le_bytes());
            chunk[8..16].copy_from_slice(&item.value.to_le_bytes());
        }
        let r = &mut o[root..];
        r[0..8].copy_from_slice(&ts_ns.to_le_bytes());
        r[8..16].copy_from_slice(&step.to_le_bytes());
        // The pointer field sits at root + 16; the items start at 0.
        let rel = -((root + 16) as i64) as i32;
        r[16..20].copy_from_slice(&rel.to_le_bytes());
        r[20..24].copy_from_slice(&(items.len() as u32).to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_archives_match_rkyv() {
        let s = Scalar1 { ts_ns: 1, step: -2, value: 3.5, key: 4, reserved: 0 };
        assert_eq!(PayloadBuf::scalar1(&s).as_slice(), &rkyv::to_bytes::<rkyv::rancor::Error>(&s).unwrap()[..]);
        for n in 0..20u32 {
            let items: Vec<ScalarItem> =
                (0..n).map(|i| ScalarItem { key: i * 7, reserved: 0, value: f64::from(i) - 0.25 }).collect();
            let want = ringlog_ring::Scalars { ts_ns: 99, step: 7, items: items.clone() };
            let got = PayloadBuf::scalars(99, 7, &items);
            assert_eq!(got.as_slice(), &rkyv::to_bytes::<rkyv::rancor::Error>(&want).unwrap()[..], "{n} items");
            assert_eq!(got.as_slice().as_ptr() as usize % 16, 0);
        }
    }
}
