//! The body of a version-2 run log block: one lane's records, scalars
//! encoded compactly, every other kind as its validated rkyv bytes.
//!
//! Byte by byte in `docs/run-log-format.md` ("Block body"). In short, each
//! record starts with a tag byte:
//!
//! ```text
//! bits 0-2  class: 0 raw, 1 Scalar1, 2 Scalars
//! bit  3    SEQ_GAP:   a varint (seq - expected seq) follows
//! bit  4    STEP_NEXT: step = previous step + 1 (else a zig-zag varint step delta follows)
//! bit  5    TS_SAME:   timestamp = previous timestamp (else a zig-zag varint delta follows)
//! bit  6    KEYS_SAME: Scalar1: the key of the previous Scalar1;
//!                      Scalars: the key list of the previous Scalars (else it follows)
//! bit  7    zero
//! ```
//!
//! Values are kept bit-exact: each is XORed with a prediction and only the
//! non-zero bytes of the result are stored, under a 4-bit code (two codes per
//! control byte). The prediction per key is the previous value, or the linear
//! extrapolation `2·v[-1] − v[-2]` of the raw bits when that would have been
//! the better guess for the key's last value (so both sides pick it without a
//! flag). Every block starts from zero state, so a block decodes on its own.
//!
//! **Trust.** The decoder reads a body whose checksum matched, but still
//! bounds every count, length and varint against the bytes that are there.

use std::collections::HashMap;
use std::ops::ControlFlow;

use crate::runlog::varint::{Cursor, put_varint, zigzag};
use ringlog_ring::record::schema::{RECORD_FORMAT_VERSION, RecordRef, Scalar1, ScalarItem};

const CLASS_MASK: u8 = 0x07;
const CLASS_RAW: u8 = 0;
const CLASS_SCALAR1: u8 = 1;
const CLASS_SCALARS: u8 = 2;
const SEQ_GAP: u8 = 0x08;
const STEP_NEXT: u8 = 0x10;
const TS_SAME: u8 = 0x20;
const KEYS_SAME: u8 = 0x40;
const RESERVED_BIT: u8 = 0x80;

/// Key ids below this get their predictor from a vector; larger ones (a
/// producer with more than 64 Ki keys) from a map.
const DENSE_KEYS: u32 = 1 << 16;

/// One value's predictor: the last two values (raw bits) and which guess to use.
#[derive(Debug, Clone, Copy, Default)]
struct Predictor {
    p1: u64,
    p2: u64,
    linear: bool,
}

impl Predictor {
    #[inline]
    fn guess(&self) -> u64 {
        if self.linear { self.p1.wrapping_mul(2).wrapping_sub(self.p2) } else { self.p1 }
    }

    /// Learns `v`; the next guess is the method that would have cost less for it.
    #[inline]
    fn learn(&mut self, v: u64) {
        let by_prev = xor_len(v ^ self.p1);
        let by_line = xor_len(v ^ self.p1.wrapping_mul(2).wrapping_sub(self.p2));
        self.linear = by_line < by_prev;
        self.p2 = self.p1;
        self.p1 = v;
    }
}

/// Bytes a XOR residue takes: its low bytes up to the highest non-zero one, or
/// its high bytes down to the lowest non-zero one, whichever is fewer.
#[inline]
fn xor_len(x: u64) -> u32 {
    if x == 0 {
        return 0;
    }
    let low = 8 - x.leading_zeros() / 8;
    let high = 8 - x.trailing_zeros() / 8;
    low.min(high)
}

/// The 4-bit code of residue `x`; appends the bytes it stores to `payload`.
#[inline]
fn put_residue(x: u64, payload: &mut Vec<u8>) -> u8 {
    if x == 0 {
        return 0;
    }
    let low = 8 - x.leading_zeros() / 8;
    let high = 8 - x.trailing_zeros() / 8;
    // Write all 8 bytes of the (shifted) residue and keep the first `n`:
    // one fixed-size copy instead of a variable one.
    let (bits, n, code) = if high < low { (x >> (8 * (8 - high)), high, 8 + high) } else { (x, low, low) };
    let at = payload.len();
    payload.extend_from_slice(&bits.to_le_bytes());
    payload.truncate(at + n as usize);
    code as u8
}

/// Reads the residue stored under `code`.
#[inline]
fn get_residue(code: u8, c: &mut Cursor<'_>) -> Option<u64> {
    let mut le = [0u8; 8];
    match code {
        0 => {}
        1..=8 => le[..usize::from(code)].copy_from_slice(c.bytes(usize::from(code))?),
        _ => {
            let n = usize::from(code - 8);
            le[8 - n..].copy_from_slice(c.bytes(n)?);
        }
    }
    Some(u64::from_le_bytes(le))
}

/// Per-key predictors for `Scalar1` values.
#[derive(Debug, Default)]
struct KeyPredictors {
    dense: Vec<Predictor>,
    sparse: HashMap<u32, Predictor>,
}

impl KeyPredictors {
    fn clear(&mut self) {
        self.dense.clear();
        self.sparse.clear();
    }

    #[inline]
    fn get(&mut self, key: u32) -> &mut Predictor {
        if key < DENSE_KEYS {
            let i = key as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, Predictor::default());
            }
            &mut self.dense[i]
        } else {
            self.sparse.entry(key).or_default()
        }
    }
}

/// State both sides keep while walking one block.
#[derive(Debug, Default)]
struct BlockState {
    next_seq: u64,
    step: i64,
    ts: u64,
    scalar1_key: Option<u32>,
    scalar1: KeyPredictors,
    scalars_keys: Vec<u32>,
    scalars: Vec<Predictor>,
    have_scalars_keys: bool,
}

impl BlockState {
    fn reset(&mut self, first_seq: u64) {
        self.next_seq = first_seq;
        self.step = -1;
        self.ts = 0;
        self.scalar1_key = None;
        self.scalar1.clear();
        self.scalars_keys.clear();
        self.scalars.clear();
        self.have_scalars_keys = false;
    }
}

/// Encodes records into a block body. Reused across blocks.
///
/// # Examples
/// See [`decode_block`].
#[derive(Debug, Default)]
pub struct BlockEncoder {
    state: BlockState,
}

/// What the encoder needs of one record.
#[derive(Debug, Clone, Copy)]
pub struct RecordIn<'a> {
    /// Sequence number in the lane.
    pub seq: u64,
    /// Kind byte.
    pub kind: u8,
    /// Record format version.
    pub format: u8,
    /// The validated rkyv archive.
    pub payload: &'a [u8],
    /// The same archive, viewed (validated).
    pub record: RecordRef<'a>,
}

impl BlockEncoder {
    /// Starts a block whose first record has sequence number `first_seq`.
    ///
    /// # Examples
    /// See [`decode_block`].
    pub fn begin(&mut self, first_seq: u64) {
        self.state.reset(first_seq);
    }

    /// Appends one record (with a sequence number above the previous one's) to `out`.
    ///
    /// # Examples
    /// See [`decode_block`].
    pub fn push(&mut self, out: &mut Vec<u8>, r: RecordIn<'_>) {
        let s = &mut self.state;
        let gap = r.seq.wrapping_sub(s.next_seq);
        s.next_seq = r.seq.wrapping_add(1);
        let gap_flag = if gap != 0 { SEQ_GAP } else { 0 };
        if r.format == RECORD_FORMAT_VERSION {
            match r.record {
                RecordRef::Scalar1(a) if a.reserved == 0 => {
                    let (ts, step, key) = (a.ts_ns.to_native(), a.step.to_native(), a.key.to_native());
                    let value = a.value.to_native().to_bits();
                    let key_same = s.scalar1_key == Some(key);
                    let tag =
                        CLASS_SCALAR1 | gap_flag | self.time_flags(ts, step) | if key_same { KEYS_SAME } else { 0 };
                    out.push(tag);
                    self.put_prefix(out, gap, ts, step, tag);
                    let s = &mut self.state;
                    if !key_same {
                        put_varint(out, u64::from(key));
                        s.scalar1_key = Some(key);
                    }
                    let p = s.scalar1.get(key);
                    let code_at = out.len();
                    out.push(0);
                    out[code_at] = put_residue(value ^ p.guess(), out);
                    p.learn(value);
                    return;
                }
                RecordRef::Scalars(a) if a.items.iter().all(|i| i.reserved == 0) => {
                    let (ts, step) = (a.ts_ns.to_native(), a.step.to_native());
                    let same = s.have_scalars_keys
                        && s.scalars_keys.len() == a.items.len()
                        && s.scalars_keys.iter().zip(a.items.iter()).all(|(k, i)| *k == i.key.to_native());
                    let tag = CLASS_SCALARS | gap_flag | self.time_flags(ts, step) | if same { KEYS_SAME } else { 0 };
                    out.push(tag);
                    self.put_prefix(out, gap, ts, step, tag);
                    let s = &mut self.state;
                    if !same {
                        put_varint(out, a.items.len() as u64);
                        s.scalars_keys.clear();
                        for i in a.items.iter() {
                            put_varint(out, u64::from(i.key.to_native()));
                            s.scalars_keys.push(i.key.to_native());
                        }
                        s.scalars.clear();
                        s.scalars.resize(a.items.len(), Predictor::default());
                        s.have_scalars_keys = true;
                    }
                    // The codes go first, the bytes after them: reserve the codes' room.
                    let codes_at = out.len();
                    let n_items = a.items.len();
                    out.resize(codes_at + n_items.div_ceil(2), 0);
                    out.reserve(8 * n_items);
                    for (n, (item, p)) in a.items.iter().zip(s.scalars.iter_mut()).enumerate() {
                        let v = item.value.to_native().to_bits();
                        let code = put_residue(v ^ p.guess(), out);
                        p.learn(v);
                        out[codes_at + n / 2] |= code << (4 * (n % 2));
                    }
                    return;
                }
                _ => {}
            }
        }
        out.push(CLASS_RAW | gap_flag);
        if gap != 0 {
            put_varint(out, gap);
        }
        out.extend_from_slice(&[r.kind, r.format]);
        put_varint(out, r.payload.len() as u64);
        out.extend_from_slice(r.payload);
    }

    /// STEP_NEXT and TS_SAME for a scalar record at (`ts`, `step`).
    #[inline]
    fn time_flags(&self, ts: u64, step: i64) -> u8 {
        let s = &self.state;
        (if step == s.step.wrapping_add(1) { STEP_NEXT } else { 0 }) | (if ts == s.ts { TS_SAME } else { 0 })
    }

    /// Writes the gap, step and timestamp fields the tag calls for, and moves the state on.
    #[inline]
    fn put_prefix(&mut self, out: &mut Vec<u8>, gap: u64, ts: u64, step: i64, tag: u8) {
        let s = &mut self.state;
        if tag & SEQ_GAP != 0 {
            put_varint(out, gap);
        }
        if tag & STEP_NEXT == 0 {
            put_varint(out, zigzag(step.wrapping_sub(s.step)));
        }
        if tag & TS_SAME == 0 {
            put_varint(out, zigzag(ts.wrapping_sub(s.ts) as i64));
        }
        s.step = step;
        s.ts = ts;
    }
}

/// One record decoded from a block body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoded<'a> {
    /// A compact `Scalar1`.
    Scalar1 {
        /// Sequence number.
        seq: u64,
        /// The record.
        record: Scalar1,
    },
    /// A compact `Scalars`.
    Scalars {
        /// Sequence number.
        seq: u64,
        /// Unix ns.
        ts_ns: u64,
        /// Step.
        step: i64,
        /// The scalars.
        items: &'a [ScalarItem],
    },
    /// Any other record: its kind, format and rkyv bytes, unvalidated.
    Raw {
        /// Sequence number.
        seq: u64,
        /// Kind byte.
        kind: u8,
        /// Format byte.
        format: u8,
        /// The archive bytes (not aligned, not validated).
        payload: &'a [u8],
    },
}

/// Reusable state for [`decode_block`].
#[derive(Debug, Default)]
pub struct BlockDecoder {
    state: BlockState,
    items: Vec<ScalarItem>,
    /// Scalar values are skipped, not decoded: every value reads as 0.0.
    skip_values: bool,
}

impl BlockDecoder {
    /// A decoder that skips scalar values instead of decoding them: each value
    /// of a `Scalar1` or `Scalars` record reads as 0.0, everything else
    /// (steps, times, keys, other records, every check of the body) is as
    /// usual. For a pass that only needs the keys; decoding a value costs more
    /// than everything else about it.
    ///
    /// # Examples
    /// ```
    /// use ringlog_service::runlog::block_codec::BlockDecoder;
    /// let dec = BlockDecoder::skipping_values();
    /// # let _ = dec;
    /// ```
    pub fn skipping_values() -> Self {
        Self { skip_values: true, ..Self::default() }
    }
}

/// Bytes the residue stored under `code` takes.
#[inline]
fn residue_len(code: u8) -> usize {
    usize::from(if code > 8 { code - 8 } else { code })
}

/// Decodes a block body of `count` records starting at `first_seq`, calling
/// `each` for every record in order. Returns the last record's sequence
/// number, or why the body is malformed (the records before that point were
/// handed out already).
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, HeapRun};
/// use ringlog_service::runlog::block_codec::{decode_block, BlockDecoder, BlockEncoder, Decoded, RecordIn};
/// let run = HeapRun::new(1 << 16, 1).unwrap();
/// let mut p = run.claim(0, Default::default())?;
/// let k = p.key("loss")?;
/// for step in 0..100 { p.log_scalar1(step, k, step as f64 * 0.5)?; }
/// let mut c = run.consumer()?;
/// let mut batch = Batch::new(1 << 16);
/// c.read_batch(&mut batch);
///
/// let mut enc = BlockEncoder::default();
/// let mut body = Vec::new();
/// enc.begin(0);
/// for f in batch.frames() {
///     let h = f.header();
///     enc.push(&mut body, RecordIn { seq: f.seq(), kind: h.kind, format: h.format, payload: f.payload(), record: f.record() });
/// }
/// assert!(body.len() < 100 * 4); // 101 records (a KeyDef and 100 steps)
/// let mut steps = Vec::new();
/// let last = decode_block(&mut BlockDecoder::default(), &body, 0, 101, |d| {
///     if let Decoded::Scalar1 { record, .. } = d { steps.push(record.step) }
/// });
/// assert_eq!(last, Ok(100));
/// assert_eq!(steps, (0..100).collect::<Vec<_>>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_block(
    dec: &mut BlockDecoder,
    body: &[u8],
    first_seq: u64,
    count: u32,
    mut each: impl FnMut(Decoded<'_>),
) -> Result<u64, String> {
    let done = decode_block_until(dec, body, first_seq, count, |d| {
        each(d);
        ControlFlow::Continue(())
    })?;
    Ok(match done {
        ControlFlow::Continue(last) | ControlFlow::Break(last) => last,
    })
}

/// [`decode_block`], stopping early when `each` breaks: then returns
/// `Ok(Break(seq))` with the sequence number of the record that broke (the
/// rest of the body is neither decoded nor checked).
///
/// # Errors
/// As [`decode_block`].
///
/// # Examples
/// ```
/// use std::ops::ControlFlow;
/// use ringlog_ring::{Batch, HeapRun};
/// use ringlog_service::runlog::block_codec::{decode_block_until, BlockDecoder, BlockEncoder, RecordIn};
/// let run = HeapRun::new(1 << 16, 1).unwrap();
/// let mut p = run.claim(0, Default::default())?;
/// let k = p.key("loss")?;
/// for step in 0..10 { p.log_scalar1(step, k, 0.5)?; }
/// let mut c = run.consumer()?;
/// let mut batch = Batch::new(1 << 16);
/// c.read_batch(&mut batch);
/// let (mut enc, mut body) = (BlockEncoder::default(), Vec::new());
/// enc.begin(0);
/// for f in batch.frames() {
///     let h = f.header();
///     enc.push(&mut body, RecordIn { seq: f.seq(), kind: h.kind, format: h.format, payload: f.payload(), record: f.record() });
/// }
/// let mut seen = 0;
/// let stop = decode_block_until(&mut BlockDecoder::default(), &body, 0, 11, |_| {
///     seen += 1;
///     if seen == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
/// });
/// assert_eq!(stop, Ok(ControlFlow::Break(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decode_block_until(
    dec: &mut BlockDecoder,
    body: &[u8],
    first_seq: u64,
    count: u32,
    mut each: impl FnMut(Decoded<'_>) -> ControlFlow<()>,
) -> Result<ControlFlow<u64, u64>, String> {
    let s = &mut dec.state;
    s.reset(first_seq);
    let mut c = Cursor::new(body);
    let mut last = None;
    for n in 0..count {
        let at = c.position();
        let bad = |what: &str| format!("record {n} at body offset {at}: {what}");
        let tag = c.u8().ok_or_else(|| bad("body ends before the record"))?;
        if tag & RESERVED_BIT != 0 {
            return Err(bad("tag has its reserved bit set"));
        }
        let gap = if tag & SEQ_GAP != 0 { c.varint().ok_or_else(|| bad("truncated sequence gap"))? } else { 0 };
        let seq = s.next_seq.wrapping_add(gap);
        if let Some(prev) = last
            && seq <= prev
        {
            return Err(bad("sequence numbers do not grow"));
        }
        s.next_seq = seq.wrapping_add(1);
        last = Some(seq);
        let class = tag & CLASS_MASK;
        if class == CLASS_RAW {
            if tag & (STEP_NEXT | TS_SAME | KEYS_SAME) != 0 {
                return Err(bad("raw record with scalar flags"));
            }
            let kind = c.u8().ok_or_else(|| bad("truncated kind"))?;
            let format = c.u8().ok_or_else(|| bad("truncated format"))?;
            let len = c.varint().ok_or_else(|| bad("truncated length"))?;
            let len =
                usize::try_from(len).ok().filter(|&l| l <= c.remaining()).ok_or_else(|| bad("length past the body"))?;
            let payload = c.bytes(len).ok_or_else(|| bad("length past the body"))?;
            if each(Decoded::Raw { seq, kind, format, payload }).is_break() {
                return Ok(ControlFlow::Break(seq));
            }
            continue;
        }
        if class != CLASS_SCALAR1 && class != CLASS_SCALARS {
            return Err(bad("unknown record class"));
        }
        let step = if tag & STEP_NEXT != 0 {
            s.step.wrapping_add(1)
        } else {
            s.step.wrapping_add(c.signed().ok_or_else(|| bad("truncated step"))?)
        };
        let ts = if tag & TS_SAME != 0 {
            s.ts
        } else {
            s.ts.wrapping_add(c.signed().ok_or_else(|| bad("truncated timestamp"))? as u64)
        };
        s.step = step;
        s.ts = ts;
        if class == CLASS_SCALAR1 {
            let key = if tag & KEYS_SAME != 0 {
                s.scalar1_key.ok_or_else(|| bad("KEYS_SAME before any key"))?
            } else {
                let k = c.varint().and_then(|k| u32::try_from(k).ok()).ok_or_else(|| bad("bad key id"))?;
                s.scalar1_key = Some(k);
                k
            };
            let code = c.u8().ok_or_else(|| bad("truncated value code"))?;
            if code > 15 {
                return Err(bad("value code out of range"));
            }
            let v = if dec.skip_values {
                c.bytes(residue_len(code)).ok_or_else(|| bad("truncated value"))?;
                0.0f64.to_bits()
            } else {
                let p = s.scalar1.get(key);
                let v = get_residue(code, &mut c).ok_or_else(|| bad("truncated value"))? ^ p.guess();
                p.learn(v);
                v
            };
            let record = Scalar1 { ts_ns: ts, step, value: f64::from_bits(v), key, reserved: 0 };
            if each(Decoded::Scalar1 { seq, record }).is_break() {
                return Ok(ControlFlow::Break(seq));
            }
            continue;
        }
        if tag & KEYS_SAME == 0 {
            let n = c.varint().ok_or_else(|| bad("truncated item count"))?;
            // Every key takes at least one byte.
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n <= c.remaining())
                .ok_or_else(|| bad("item count past the body"))?;
            s.scalars_keys.clear();
            for _ in 0..n {
                let k = c.varint().and_then(|k| u32::try_from(k).ok()).ok_or_else(|| bad("bad key id"))?;
                s.scalars_keys.push(k);
            }
            s.scalars.clear();
            s.scalars.resize(n, Predictor::default());
            s.have_scalars_keys = true;
        } else if !s.have_scalars_keys {
            return Err(bad("KEYS_SAME before any key list"));
        }
        let n = s.scalars_keys.len();
        let controls = c.bytes(n.div_ceil(2)).ok_or_else(|| bad("truncated value codes"))?;
        dec.items.clear();
        if dec.skip_values {
            for (i, key) in s.scalars_keys.iter().enumerate() {
                let code = (controls[i / 2] >> (4 * (i % 2))) & 0x0F;
                c.bytes(residue_len(code)).ok_or_else(|| bad("truncated value"))?;
                dec.items.push(ScalarItem { key: *key, reserved: 0, value: 0.0 });
            }
        } else {
            for (i, (key, p)) in s.scalars_keys.iter().zip(s.scalars.iter_mut()).enumerate() {
                let code = (controls[i / 2] >> (4 * (i % 2))) & 0x0F;
                let v = get_residue(code, &mut c).ok_or_else(|| bad("truncated value"))? ^ p.guess();
                p.learn(v);
                dec.items.push(ScalarItem { key: *key, reserved: 0, value: f64::from_bits(v) });
            }
        }
        if each(Decoded::Scalars { seq, ts_ns: ts, step, items: &dec.items }).is_break() {
            return Ok(ControlFlow::Break(seq));
        }
    }
    if !c.is_empty() {
        return Err(format!("{} bytes after the block's {count} records", c.remaining()));
    }
    last.map(ControlFlow::Continue).ok_or_else(|| "block holds no records".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residues_round_trip() {
        for x in [0u64, 1, 0xFF, 0x100, 0x8000_0000_0000_0000, 0x00F0_0000_0000_0000, u64::MAX, 0x0001_0000_0000_0100] {
            let mut b = Vec::new();
            let code = put_residue(x, &mut b);
            assert_eq!(b.len() as u32, xor_len(x), "{x:#x}");
            let mut c = Cursor::new(&b);
            assert_eq!(get_residue(code, &mut c), Some(x), "{x:#x}");
            assert!(c.is_empty());
        }
    }

    /// Fails if skipping a value consumes a different number of bytes than decoding it
    /// (e.g. `residue_len` returning `code` for the high-byte codes 9 to 15): the records
    /// after it would be misread, or the body reported malformed.
    #[test]
    fn skipping_values_reads_everything_else_the_same() {
        use ringlog_ring::{Batch, HeapRun, KeyId};
        let run = HeapRun::new(1 << 20, 1).unwrap();
        let mut p = run.claim(0, Default::default()).unwrap();
        let keys: Vec<KeyId> = (0..5).map(|i| p.key(&format!("k{i}")).unwrap()).collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for step in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Random bits, small integers (low-byte residues) and powers of two (high-byte ones).
            let v = match x % 3 {
                0 => f64::from_bits(x),
                1 => (x % 100) as f64,
                _ => 2f64.powi((x % 40) as i32),
            };
            let _ = if x.is_multiple_of(4) {
                p.log_scalar1(step, keys[(x % 5) as usize], v)
            } else {
                let items: Vec<(KeyId, f64)> = keys.iter().take(1 + (x % 5) as usize).map(|&k| (k, v * 1.5)).collect();
                p.log_scalars(step - (x % 3) as i64, &items)
            }
            .unwrap();
        }
        let mut c = run.consumer().unwrap();
        let mut batch = Batch::new(1 << 20);
        c.read_batch(&mut batch);
        let (mut enc, mut body) = (BlockEncoder::default(), Vec::new());
        enc.begin(0);
        let mut count = 0;
        for f in batch.frames() {
            let h = f.header();
            enc.push(
                &mut body,
                RecordIn { seq: f.seq(), kind: h.kind, format: h.format, payload: f.payload(), record: f.record() },
            );
            count += 1;
        }
        type Seen = (u64, i64, u64, Vec<u32>, usize);
        let read = |dec: &mut BlockDecoder, body: &[u8]| {
            let mut seen: Vec<Seen> = Vec::new();
            let mut zero = true;
            let last = decode_block(dec, body, 0, count, |d| match d {
                Decoded::Scalar1 { seq, record } => {
                    zero &= record.value == 0.0;
                    seen.push((seq, record.step, record.ts_ns, vec![record.key], 1));
                }
                Decoded::Scalars { seq, ts_ns, step, items } => {
                    zero &= items.iter().all(|i| i.value == 0.0);
                    seen.push((seq, step, ts_ns, items.iter().map(|i| i.key).collect(), items.len()));
                }
                Decoded::Raw { seq, payload, .. } => seen.push((seq, 0, 0, Vec::new(), payload.len())),
            });
            (last, seen, zero)
        };
        let (last, decoded, zero) = read(&mut BlockDecoder::default(), &body);
        assert_eq!((last.clone(), decoded.len(), zero), (Ok(u64::from(count) - 1), count as usize, false));
        let (skipped_last, skipped, zero) = read(&mut BlockDecoder::skipping_values(), &body);
        assert_eq!((skipped_last, zero), (last, true));
        assert_eq!(skipped, decoded);
        // A value cut short is still reported.
        let (cut, _, _) = read(&mut BlockDecoder::skipping_values(), &body[..body.len() - 1]);
        assert!(cut.is_err(), "{cut:?}");
    }

    #[test]
    fn linear_values_cost_nothing() {
        let mut p = Predictor::default();
        let mut total = 0;
        for i in 0..100 {
            let v = (f64::from(i) * 0.5 + 1000.0).to_bits();
            total += xor_len(v ^ p.guess());
            p.learn(v);
        }
        assert!(total < 30, "{total}");
    }
}
