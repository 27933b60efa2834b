//! The consumer's private, aligned copy of a batch of frames.
//!
//! Frames are copied out of shared memory before anything looks at them, and
//! validated here; a producer scribbling on its lane afterwards cannot change
//! what was checked (no time-of-check/time-of-use window). The buffer is also
//! what the service appends to its run log.

use crate::record::schema::{self, RecordKind, RecordRef};
use crate::ring::error::FrameError;
use crate::ring::frame::{FRAME_HEADER_LEN, FrameHeader};

/// One validated frame in a [`Batch`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    offset: usize,
    header: FrameHeader,
    kind: RecordKind,
}

/// A reusable private buffer of validated frames.
///
/// # Examples
/// ```
/// let batch = ringlog_ring::Batch::new(1 << 20);
/// assert!(batch.is_empty());
/// assert_eq!(batch.capacity(), 1 << 20);
/// ```
pub struct Batch {
    /// 16-byte aligned storage (u128 is 16-aligned on the supported targets).
    buf: Vec<u128>,
    len: usize,
    entries: Vec<Entry>,
    errors: Vec<FrameError>,
}

const _: () = assert!(align_of::<u128>() >= crate::ring::frame::FRAME_ALIGN);

impl Batch {
    /// A batch holding up to `capacity` bytes of frames (rounded up to 16).
    pub fn new(capacity: usize) -> Self {
        Self { buf: vec![0; capacity.div_ceil(16)], len: 0, entries: Vec::new(), errors: Vec::new() }
    }

    /// Bytes of frames it can hold.
    pub fn capacity(&self) -> usize {
        self.buf.len() * 16
    }

    /// Bytes of frames it holds (valid and invalid ones).
    pub fn len_bytes(&self) -> usize {
        self.len
    }

    /// No valid frames.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of valid frames.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Frames rejected while reading this batch.
    pub fn errors(&self) -> &[FrameError] {
        &self.errors
    }

    /// The valid frames, lane by lane, each lane in sequence order.
    pub fn frames(&self) -> impl ExactSizeIterator<Item = FrameRef<'_>> + '_ {
        self.entries.iter().map(move |e| FrameRef { batch: self, entry: *e })
    }

    /// Keeps only the frames for which `keep[i]` is true (`keep` has one
    /// entry per frame, in `frames()` order) and returns how many were
    /// dropped: a consumer that rejects frames for reasons of its own (a key
    /// the lane never defined) before storing the batch.
    ///
    /// # Examples
    /// ```
    /// use ringlog_ring::{Batch, HeapRun};
    /// let run = HeapRun::new(1 << 16, 1).unwrap();
    /// let mut p = run.claim(0, Default::default()).unwrap();
    /// let k = p.key("x").unwrap();
    /// let _ = p.log_scalar1(0, k, 1.0).unwrap();
    /// let mut batch = Batch::new(1 << 16);
    /// run.consumer().unwrap().drain(&mut batch);
    /// assert_eq!(batch.retain_frames(&[true, false]), 1);
    /// assert_eq!(batch.len(), 1);
    /// ```
    pub fn retain_frames(&mut self, keep: &[bool]) -> usize {
        let before = self.entries.len();
        let mut i = 0;
        self.entries.retain(|_| {
            let k = keep.get(i).copied().unwrap_or(true);
            i += 1;
            k
        });
        before - self.entries.len()
    }

    /// Empties the batch for reuse (the buffer is kept).
    ///
    /// # Examples
    /// ```
    /// let mut batch = ringlog_ring::Batch::new(1 << 12);
    /// batch.push_record(7, 0, &ringlog_ring::KeyDef { id: 0, name: "cpu".into() })?;
    /// batch.clear();
    /// assert!(batch.is_empty());
    /// # Ok::<(), ringlog_ring::FrameError>(())
    /// ```
    pub fn clear(&mut self) {
        self.len = 0;
        self.entries.clear();
        self.errors.clear();
    }

    /// Appends `record` as a committed frame of lane `lane` with sequence
    /// number `seq`, serialized in this process (the service's own records,
    /// such as system stats), and validates it as a frame read from a ring.
    ///
    /// # Errors
    /// [`FrameError::Invalid`] if the record cannot be serialized or fails
    /// validation.
    ///
    /// # Examples
    /// ```
    /// use ringlog_ring::{Batch, KeyDef};
    /// let mut batch = Batch::new(1 << 12);
    /// batch.push_record(1024, 5, &KeyDef { id: 0, name: "cpu".into() })?;
    /// let f = batch.frames().next().unwrap();
    /// assert_eq!((f.lane(), f.seq()), (1024, 5));
    /// # Ok::<(), ringlog_ring::FrameError>(())
    /// ```
    pub fn push_record<R>(&mut self, lane: u16, seq: u64, record: &R) -> Result<(), FrameError>
    where
        R: schema::Record
            + for<'a> rkyv::Serialize<
                rkyv::api::high::HighSerializer<
                    rkyv::util::AlignedVec,
                    rkyv::ser::allocator::ArenaHandle<'a>,
                    rkyv::rancor::Error,
                >,
            >,
    {
        let invalid = |len| FrameError::Invalid { lane, seq, kind: R::KIND, len };
        let payload = rkyv::to_bytes::<rkyv::rancor::Error>(record).map_err(|_| invalid(0))?;
        let payload_len = u32::try_from(payload.len()).map_err(|_| invalid(payload.len()))?;
        let len = crate::ring::frame::frame_len(payload.len());
        self.reserve(len);
        let at = self.len;
        let header = FrameHeader::new(
            crate::ring::frame::FrameState::Committed,
            payload_len,
            R::KIND as u8,
            schema::RECORD_FORMAT_VERSION,
            lane,
            seq,
        );
        let buf = self.buf.as_mut_ptr().cast::<u8>();
        // SAFETY: `reserve` made room for `len` bytes at `at` (header, payload and
        // zero padding up to the 16-byte frame size), inside this private buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(header.to_bytes().as_ptr(), buf.add(at), FRAME_HEADER_LEN);
            std::ptr::copy_nonoverlapping(payload.as_ptr(), buf.add(at + FRAME_HEADER_LEN), payload.len());
            std::ptr::write_bytes(
                buf.add(at + FRAME_HEADER_LEN + payload.len()),
                0,
                len - FRAME_HEADER_LEN - payload.len(),
            );
        }
        self.len += len;
        self.admit(at, header)
    }

    pub(crate) fn room(&self) -> usize {
        self.capacity() - self.len
    }

    /// Grows to hold at least `bytes` more (only when a single frame is larger
    /// than the whole batch).
    pub(crate) fn reserve(&mut self, bytes: usize) {
        if self.room() < bytes {
            let words = (self.len + bytes).div_ceil(16);
            self.buf.resize(words, 0);
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: a u128 slice viewed as bytes: same memory, u8 has no alignment
        // or validity requirements.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.buf.len() * 16) }
    }

    /// Appends `len` bytes (a multiple of 16) copied out of ring memory at
    /// `src` with atomic loads; returns where they landed.
    ///
    /// # Safety
    /// `src` is 16-aligned and valid for `len` reads; `len <= self.room()`.
    pub(crate) unsafe fn push_from_ring(&mut self, src: *const u8, len: usize) -> usize {
        assert!(len <= self.room() && len.is_multiple_of(16), "caller checks room");
        let at = self.len;
        // SAFETY: the destination range [at, at+len) is inside `buf` (len <= room)
        // and cannot overlap shared memory; the caller vouches for `src`.
        unsafe { crate::ring::consumer::copy_from_ring(src, self.buf.as_mut_ptr().cast::<u8>().add(at), len) };
        self.len += len;
        at
    }

    /// Overwrites the commit word of the copied frame at `at` with `word` (the
    /// value the consumer actually loaded) and returns the decoded header.
    pub(crate) fn header_at(&mut self, at: usize, word: u32) -> FrameHeader {
        let mut raw = [0u8; FRAME_HEADER_LEN];
        raw.copy_from_slice(&self.bytes()[at..at + FRAME_HEADER_LEN]);
        raw[..4].copy_from_slice(&word.to_le_bytes());
        let h = FrameHeader::from_bytes(&raw);
        let buf = self.buf.as_mut_ptr().cast::<u8>();
        // SAFETY: `at..at + 4` is inside the buffer (a frame was copied there).
        unsafe { std::ptr::copy_nonoverlapping(raw.as_ptr(), buf.add(at), 4) };
        h
    }

    /// Validates the payload of the copied frame at `at`; keeps it if valid.
    pub(crate) fn admit(&mut self, at: usize, header: FrameHeader) -> Result<(), FrameError> {
        let (lane, seq) = (header.lane, header.seq);
        let Some(kind) = RecordKind::from_u8(header.kind) else {
            return Err(FrameError::UnknownKind { lane, seq, kind: header.kind });
        };
        if header.format != schema::RECORD_FORMAT_VERSION {
            return Err(FrameError::UnsupportedFormat {
                lane,
                seq,
                format: header.format,
                supported: schema::RECORD_FORMAT_VERSION,
            });
        }
        let start = at + FRAME_HEADER_LEN;
        let payload = &self.bytes()[start..start + header.payload_len()];
        if !schema::validate(kind, payload) {
            return Err(FrameError::Invalid { lane, seq, kind, len: payload.len() });
        }
        self.entries.push(Entry { offset: at, header, kind });
        Ok(())
    }

    pub(crate) fn reject(&mut self, err: FrameError) {
        self.errors.push(err);
    }
}

/// A validated frame borrowed from a [`Batch`].
#[derive(Clone, Copy)]
pub struct FrameRef<'a> {
    batch: &'a Batch,
    entry: Entry,
}

impl<'a> FrameRef<'a> {
    /// The frame header (private copy).
    pub fn header(&self) -> FrameHeader {
        self.entry.header
    }

    /// Lane the frame came from.
    pub fn lane(&self) -> u16 {
        self.entry.header.lane
    }

    /// Per-lane sequence number.
    pub fn seq(&self) -> u64 {
        self.entry.header.seq
    }

    /// Record kind.
    pub fn kind(&self) -> RecordKind {
        self.entry.kind
    }

    /// The archived payload bytes (exact length).
    pub fn payload(&self) -> &'a [u8] {
        let start = self.entry.offset + FRAME_HEADER_LEN;
        &self.batch.bytes()[start..start + self.entry.header.payload_len()]
    }

    /// Header and payload, unpadded: what a run log stores.
    pub fn frame_bytes(&self) -> &'a [u8] {
        let start = self.entry.offset;
        &self.batch.bytes()[start..start + FRAME_HEADER_LEN + self.entry.header.payload_len()]
    }

    /// The record, validated when the batch was read.
    pub fn record(&self) -> RecordRef<'a> {
        // SAFETY: `admit` validated exactly these bytes for this kind, and the
        // batch is borrowed immutably for 'a, so they have not changed.
        unsafe { schema::view_validated(self.entry.kind, self.payload()) }
    }
}

impl std::fmt::Debug for FrameRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameRef").field("header", &self.entry.header).field("record", &self.record()).finish()
    }
}
