//! Writes the archived form of the fixed-layout scalar records straight into a
//! claimed frame: no serializer, no intermediate buffer, no allocation.
//!
//! The bytes are exactly what `rkyv::to_bytes` produces for the same
//! `Scalar1` or `Scalars` value (a unit test pins this), so readers use the
//! ordinary validated `rkyv::access` path.

use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{Archive, Archived, Place, munge::munge};

use crate::record::schema::{ArchivedScalar1, ArchivedScalarItem, ArchivedScalars, KeyId};

/// Payload length of a [`crate::Scalar1`] archive.
pub(crate) const SCALAR1_LEN: usize = size_of::<ArchivedScalar1>();
const ITEM_LEN: usize = size_of::<ArchivedScalarItem>();
const SCALARS_ROOT_LEN: usize = size_of::<ArchivedScalars>();

const _: () = {
    assert!(SCALAR1_LEN == 32);
    assert!(ITEM_LEN == 16);
    assert!(SCALARS_ROOT_LEN == 24);
    assert!(align_of::<ArchivedScalars>() <= crate::ring::frame::FRAME_ALIGN);
};

/// Payload length of a [`Scalars`] archive with `n` items.
#[inline]
pub(crate) const fn scalars_len(n: usize) -> usize {
    n * ITEM_LEN + SCALARS_ROOT_LEN
}

/// Writes an archived `Scalar1` at `dst`.
///
/// # Safety
/// `dst` is 16-byte aligned and valid for `SCALAR1_LEN` writes, owned by the caller.
#[inline]
pub(crate) unsafe fn write_scalar1(dst: *mut u8, ts_ns: u64, step: i64, key: u32, value: f64) {
    let rec = ArchivedScalar1 {
        ts_ns: Archived::<u64>::from_native(ts_ns),
        step: Archived::<i64>::from_native(step),
        value: Archived::<f64>::from_native(value),
        key: Archived::<u32>::from_native(key),
        reserved: Archived::<u32>::from_native(0),
    };
    // SAFETY: the caller guarantees alignment (16 >= align 8) and room.
    unsafe { dst.cast::<ArchivedScalar1>().write(rec) };
}

/// Writes an archived `Scalars` with `items` at `dst`; returns the payload length.
///
/// Layout (as rkyv lays it out): the item array first, then the root, whose
/// `items` relative pointer points back to offset 0.
///
/// # Safety
/// `dst` is 16-byte aligned, valid for `scalars_len(items.len())` writes, and
/// owned by the caller (a claimed, uncommitted frame). Whatever the bytes
/// held before does not matter: every byte of the items and of the root is
/// written here (`ArchivedScalars` has no padding).
#[inline]
pub(crate) unsafe fn write_scalars(dst: *mut u8, ts_ns: u64, step: i64, items: &[(KeyId, f64)]) -> usize {
    let n = items.len();
    for (i, &(KeyId(key), value)) in items.iter().enumerate() {
        let item = ArchivedScalarItem {
            key: Archived::<u32>::from_native(key),
            reserved: Archived::<u32>::from_native(0),
            value: Archived::<f64>::from_native(value),
        };
        // SAFETY: i * 16 + 16 <= n * 16 < scalars_len(n); 16-aligned.
        unsafe { dst.add(i * ITEM_LEN).cast::<ArchivedScalarItem>().write(item) };
    }
    let root_pos = n * ITEM_LEN;
    // SAFETY: root_pos is 16-aligned and the 24 root bytes are in bounds and
    // writable (caller contract); `resolve` below writes each field of the
    // root, which has no padding. Positions are relative to `dst`, where the
    // archive starts.
    let place = unsafe { Place::new_unchecked(root_pos, dst.add(root_pos).cast::<ArchivedScalars>()) };
    munge!(let ArchivedScalars { ts_ns: out_ts, step: out_step, items: out_items } = place);
    ts_ns.resolve((), out_ts);
    step.resolve((), out_step);
    ArchivedVec::<ArchivedScalarItem>::resolve_from_len(n, VecResolver::from_pos(0), out_items);
    scalars_len(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::schema::{Scalar1, ScalarItem, Scalars};

    #[repr(C, align(16))]
    struct Aligned([u8; 512]);

    #[test]
    fn scalar1_matches_rkyv_serializer() {
        let v = Scalar1 { ts_ns: 11, step: -3, value: 0.25, key: 7, reserved: 0 };
        let expect = rkyv::to_bytes::<rkyv::rancor::Error>(&v).unwrap();
        let mut buf = Aligned([0; 512]);
        // SAFETY: buf is 16-aligned and large enough.
        unsafe { write_scalar1(buf.0.as_mut_ptr(), 11, -3, 7, 0.25) };
        assert_eq!(&buf.0[..SCALAR1_LEN], &expect[..]);
    }

    #[test]
    fn scalars_match_rkyv_serializer() {
        for n in [0usize, 1, 3, 8, 20] {
            let items: Vec<(KeyId, f64)> = (0..n).map(|i| (KeyId(i as u32 * 3), i as f64 * 1.5)).collect();
            let v = Scalars {
                ts_ns: 99,
                step: 5,
                items: items.iter().map(|&(KeyId(key), value)| ScalarItem { key, reserved: 0, value }).collect(),
            };
            let expect = rkyv::to_bytes::<rkyv::rancor::Error>(&v).unwrap();
            let mut buf = Aligned([0; 512]);
            // SAFETY: buf is 16-aligned, zeroed and large enough for 20 items.
            let len = unsafe { write_scalars(buf.0.as_mut_ptr(), 99, 5, &items) };
            assert_eq!(len, expect.len(), "n={n}");
            assert_eq!(&buf.0[..len], &expect[..], "n={n}");
        }
    }
}
