//! LEB128 varints and zig-zag, as the run log's blocks use them.
//!
//! A varint is 7 bits per byte, least significant group first, with the high
//! bit set on every byte but the last; a `u64` takes 1 to 10 bytes. Zig-zag
//! maps signed deltas near zero to small unsigned numbers (0, -1, 1, -2 → 0,
//! 1, 2, 3). Reading never trusts the input: a varint longer than 10 bytes, or
//! one that runs off the end, is an error.

/// Appends `v` as a varint.
///
/// # Examples
/// ```
/// use ringlog_service::runlog::varint::{put_varint, Cursor};
/// let mut b = Vec::new();
/// put_varint(&mut b, 300);
/// assert_eq!(b, [0xAC, 0x02]);
/// assert_eq!(Cursor::new(&b).varint(), Some(300));
/// ```
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zig-zag: a signed number as an unsigned one, small magnitudes small.
///
/// # Examples
/// ```
/// use ringlog_service::runlog::varint::{unzigzag, zigzag};
/// assert_eq!([zigzag(0), zigzag(-1), zigzag(1), zigzag(-2)], [0, 1, 2, 3]);
/// assert_eq!(unzigzag(zigzag(i64::MIN)), i64::MIN);
/// ```
#[inline]
pub const fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
///
/// # Examples
/// See [`zigzag`].
#[inline]
pub const fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// A bounds-checked reader over untrusted bytes: every read returns `None`
/// instead of running past the end.
///
/// # Examples
/// ```
/// use ringlog_service::runlog::varint::Cursor;
/// let mut c = Cursor::new(&[7, 1, 2]);
/// assert_eq!(c.u8(), Some(7));
/// assert_eq!(c.bytes(2), Some(&[1u8, 2][..]));
/// assert_eq!(c.u8(), None);
/// assert!(c.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    ///
    /// # Examples
    /// See [`Cursor`].
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes read so far.
    ///
    /// # Examples
    /// ```
    /// let mut c = ringlog_service::runlog::varint::Cursor::new(&[1, 2]);
    /// c.u8();
    /// assert_eq!(c.position(), 1);
    /// ```
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    ///
    /// # Examples
    /// See [`Cursor`].
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes not read yet.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(ringlog_service::runlog::varint::Cursor::new(&[1, 2]).remaining(), 2);
    /// ```
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// One byte.
    ///
    /// # Examples
    /// See [`Cursor`].
    #[inline]
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// The next `n` bytes.
    ///
    /// # Examples
    /// See [`Cursor`].
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let b = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(b)
    }

    /// A varint of at most 10 bytes whose value fits a `u64`.
    ///
    /// # Examples
    /// ```
    /// use ringlog_service::runlog::varint::Cursor;
    /// assert_eq!(Cursor::new(&[0x80]).varint(), None); // runs off the end
    /// assert_eq!(Cursor::new(&[0xFF; 11]).varint(), None); // too long
    /// ```
    #[inline]
    pub fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            let part = u64::from(b & 0x7F);
            // The tenth byte may hold only the top bit of a u64.
            if i == 9 && part > 1 {
                return None;
            }
            v |= part << (7 * i);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A zig-zag varint.
    ///
    /// # Examples
    /// ```
    /// use ringlog_service::runlog::varint::{put_varint, zigzag, Cursor};
    /// let mut b = Vec::new();
    /// put_varint(&mut b, zigzag(-5));
    /// assert_eq!(Cursor::new(&b).signed(), Some(-5));
    /// ```
    #[inline]
    pub fn signed(&mut self) -> Option<i64> {
        self.varint().map(unzigzag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_edges() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert!(b.len() <= 10);
            let mut c = Cursor::new(&b);
            assert_eq!(c.varint(), Some(v));
            assert!(c.is_empty());
        }
        for v in [0, 1, -1, i64::MAX, i64::MIN, 4_000_000, -4_000_000] {
            let mut b = Vec::new();
            put_varint(&mut b, zigzag(v));
            assert_eq!(Cursor::new(&b).signed(), Some(v));
        }
        // 10 bytes whose last carries more than the top bit overflow a u64.
        let mut too_big = vec![0xFF; 9];
        too_big.push(0x02);
        assert_eq!(Cursor::new(&too_big).varint(), None);
    }
}
