//! The consumer side of a run: drains every lane into a private [`Batch`].
//!
//! `read_batch` copies committed frames out of shared memory and validates
//! them in the batch; `release` hands the space read so far back to the
//! producers, once per batch, with one store. The service calls `release` only after the
//! batch is written to its run log, so a crash in between re-reads frames
//! instead of losing them (the run log deduplicates by lane and sequence).
//!
//! A consumer belongs to one run: it is made by [`crate::SegmentOwner::consumer`]
//! or [`crate::HeapRun::consumer`] (once per run) and maps its lanes from that
//! run only, so every lane it waits on shares the run's wake protocol.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ring::batch::Batch;
use crate::ring::error::{FrameError, SegmentError};
use crate::ring::frame::{self, FRAME_HEADER_LEN, FrameState, frame_len};
use crate::ring::lane_memory::LaneMemory;
use crate::ring::layout::LaneState;
use crate::ring::sync::{AtomicU32, Ordering, spin_hint};
use crate::ring::wakeup;

/// Where a consumer's lanes come from: one run's segment or heap lanes.
pub(crate) trait LaneSource: Send + Sync {
    /// Maps lane `lane` of this run, checked against the run's own lane count.
    fn lane(self: Arc<Self>, lane: u16) -> Result<LaneMemory, SegmentError>;
    /// The run-level wake word (control events).
    fn parked(&self) -> &AtomicU32;
}

/// Spins on an empty run before parking on the futex (one under loom, so the
/// models reach the park path).
const SPINS_BEFORE_PARK: u32 = if cfg!(loom) { 1 } else { 4096 };
/// After a read that caught up with every producer, how long the consumer
/// leaves the lanes alone before it looks again (ADR 34). A producer
/// streaming records meanwhile fills whole lines that the next batch takes
/// at once, instead of the consumer pulling each line while the producer
/// still writes it, which slowed both sides to a shared crawl. Zero under
/// loom, whose models have no clock.
const GATHER: Duration = if cfg!(loom) { Duration::ZERO } else { Duration::from_micros(2) };
/// Smallest lane that gets the gather pause: a producer streaming ~100 M
/// small records/s writes ~10 KiB in 2 µs, which a smaller lane may not hold.
const MIN_GATHER_LANE: usize = 64 << 10;
/// Spin hints between two looks at the lanes while spinning.
const SPINS_PER_CHECK: u32 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Read frames as they are committed.
    Open,
    /// Abandoned or detached: read what is committed, then stop.
    Draining,
    /// Nothing more will be read (drained after close, or corrupt).
    Closed,
}

struct ConsumerLane {
    mem: LaneMemory,
    lane: u16,
    /// Position up to which space has been released to the producer.
    head: u64,
    /// Position of the next frame to read (`>= head`).
    read_pos: u64,
    next_seq: u64,
    invalid: u64,
    consumed: u64,
    reading: Reading,
    /// `(next_seq, invalid, consumed, reading)` as of `head`, for `unread`.
    at_head: (u64, u64, u64, Reading),
}

/// Reads the lanes of one run.
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, HeapRun};
/// let run = HeapRun::new(1 << 16, 4).unwrap();
/// let mut p = run.claim(3, Default::default()).unwrap();
/// let k = p.key("acc").unwrap();
/// for step in 0..10 { p.log_scalar1(step, k, 0.9).unwrap(); }
/// let mut c = run.consumer().unwrap();
/// let mut batch = Batch::new(4096);
/// assert_eq!(c.read_batch(&mut batch), 11);
/// c.release();
/// assert_eq!(c.lane_seq(3), Some(11));
/// ```
pub struct Consumer {
    source: Arc<dyn LaneSource>,
    lanes: Vec<ConsumerLane>,
    /// Lane index the next batch starts at, so no lane starves the others.
    start: usize,
    /// When the last [`Consumer::read_batch`] caught up with every producer
    /// (ended on an uncommitted frame in every lane it read).
    caught_up_at: Option<Instant>,
    /// A lane below [`MIN_GATHER_LANE`]: no gather pause for this consumer.
    small_lane: bool,
    /// Test hook: `release` stores the counters but not `head`, as a
    /// consumer killed between those stores would.
    #[cfg(feature = "test-hooks")]
    stop_in_release: bool,
}

impl Consumer {
    pub(crate) fn with_source(source: Arc<dyn LaneSource>) -> Self {
        Self {
            source,
            lanes: Vec::new(),
            start: 0,
            caught_up_at: None,
            small_lane: false,
            #[cfg(feature = "test-hooks")]
            stop_in_release: false,
        }
    }

    /// Test hook: from now on `release` stores the counters of the first lane
    /// with something to release but not its `head`, then stops, as a
    /// consumer killed inside `release` would leave the lane.
    #[cfg(feature = "test-hooks")]
    pub fn stop_inside_release(&mut self) {
        self.stop_in_release = true;
    }

    /// Adds lane `lane` of this consumer's run, resuming from what the lane
    /// really holds: the released position from its descriptor, and the next
    /// sequence number from the frame at that position (a consumer killed
    /// inside `release` may have stored its counters but not `head`; the
    /// frames at `head` are still there, unreleased, and name their own
    /// sequence). A lane already added is left as it is.
    ///
    /// # Errors
    /// `NoSuchLane` if the run has no such lane, or a mapping error.
    pub fn add_lane(&mut self, lane: u16) -> Result<(), SegmentError> {
        if self.lanes.iter().any(|l| l.lane == lane) {
            return Ok(());
        }
        let mem = Arc::clone(&self.source).lane(lane)?;
        // SYNC POINT: space released. Acquire makes a previous consumer's
        // (same or earlier process) release visible; we are the only writer now.
        let head = mem.head().load(Ordering::Acquire);
        // Relaxed: written only by consumers, ordered with head above.
        let consumed = mem.consumed().load(Ordering::Relaxed);
        let invalid = mem.invalid_frames().load(Ordering::Relaxed);
        let mut reading = match mem.state() {
            Some(LaneState::Active) | Some(LaneState::Free) => Reading::Open,
            Some(LaneState::Detached) | Some(LaneState::Abandoned) => Reading::Draining,
            _ => Reading::Closed,
        };
        let mut next_seq = consumed.saturating_add(invalid);
        if !head.is_multiple_of(FRAME_HEADER_LEN as u64) {
            // Only a process outside the trust model writes the descriptor;
            // refuse to read from a position that cannot be a frame start.
            reading = Reading::Closed;
        } else if let Some(seq) = Self::seq_at(&mem, head, lane) {
            next_seq = seq;
        }
        let consumed = next_seq.saturating_sub(invalid);
        self.small_lane |= mem.capacity() < MIN_GATHER_LANE;
        self.lanes.push(ConsumerLane {
            mem,
            lane,
            head,
            read_pos: head,
            next_seq,
            invalid,
            consumed,
            reading,
            at_head: (next_seq, invalid, consumed, reading),
        });
        Ok(())
    }

    /// The committed frame at or after position `pos` (following at most one
    /// padding frame) as (its position, its ring offset, its length), if the
    /// commit words there frame correctly. Reads commit words only.
    fn committed_at(mem: &LaneMemory, mut pos: u64) -> Option<(u64, usize, usize)> {
        let cap = mem.capacity();
        for _ in 0..2 {
            let off = pos as usize & (cap - 1);
            // SYNC POINT: frame committed (Acquire; see read_lane).
            let word = mem.commit(off).load(Ordering::Acquire);
            let flen = frame_len(frame::payload_len(word));
            match FrameState::from_bits(frame::state_bits(word)) {
                Some(FrameState::Padding) if off + flen == cap => pos += (cap - off) as u64,
                Some(FrameState::Committed) if off + flen <= cap && flen <= cap / 4 => return Some((pos, off, flen)),
                _ => return None,
            }
        }
        None
    }

    /// The sequence number of the first committed frame at or after `pos`,
    /// if it is a well-formed frame of this lane.
    fn seq_at(mem: &LaneMemory, pos: u64, lane: u16) -> Option<u64> {
        let (_, off, _) = Self::committed_at(mem, pos)?;
        let mut h = [0u8; FRAME_HEADER_LEN];
        // SAFETY: the 16 header bytes at `off` are inside the ring (off +
        // frame length <= capacity) and committed (Acquire in committed_at).
        unsafe { copy_from_ring(mem.at(off), h.as_mut_ptr(), FRAME_HEADER_LEN) };
        let header = crate::ring::frame::FrameHeader::from_bytes(&h);
        (header.lane == lane).then_some(header.seq)
    }

    /// Number of lanes.
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// Sequence number the consumer expects next on `lane`.
    pub fn lane_seq(&self, lane: u16) -> Option<u64> {
        self.lanes.iter().find(|l| l.lane == lane).map(|l| l.next_seq)
    }

    /// Committed frames of `lane` that were not released (not stored by the
    /// consumer's owner): counted by walking the commit words from the
    /// released position, as far as they frame correctly, never trusting a
    /// counter the producer wrote. `None` for an unknown lane.
    ///
    /// # Examples
    /// ```
    /// use ringlog_ring::{Batch, HeapRun};
    /// let run = HeapRun::new(1 << 16, 1).unwrap();
    /// let mut p = run.claim(0, Default::default()).unwrap();
    /// let k = p.key("x").unwrap();
    /// let _ = p.log_scalar1(0, k, 1.0).unwrap();
    /// let mut c = run.consumer().unwrap();
    /// assert_eq!(c.unreleased_frames(0), Some(2));
    /// c.drain(&mut Batch::new(4096));
    /// assert_eq!(c.unreleased_frames(0), Some(0));
    /// ```
    pub fn unreleased_frames(&self, lane: u16) -> Option<u64> {
        let l = self.lanes.iter().find(|l| l.lane == lane)?;
        let (mut pos, mut frames) = (l.head, 0u64);
        // Never past one lap: a correct producer cannot get there.
        while let Some((at, _, flen)) = Self::committed_at(&l.mem, pos) {
            if at + flen as u64 - l.head > l.mem.capacity() as u64 {
                break;
            }
            frames += 1;
            pos = at + flen as u64;
        }
        Some(frames)
    }

    /// Marks `lane` abandoned (its producer died): frames committed up to now
    /// stay readable and are drained; nothing after them is read. Returns
    /// `false` for an unknown lane.
    pub fn abandon_lane(&mut self, lane: u16) -> bool {
        self.close_lane(lane, LaneState::Abandoned)
    }

    /// Marks `lane` detached (its producer left cleanly); drained like an
    /// abandoned lane.
    pub fn detach_lane(&mut self, lane: u16) -> bool {
        self.close_lane(lane, LaneState::Detached)
    }

    fn close_lane(&mut self, lane: u16, state: LaneState) -> bool {
        let Some(l) = self.lanes.iter_mut().find(|l| l.lane == lane) else { return false };
        // Relaxed: the producer reads it only on its slow path, as advice to
        // stop; no data depends on it.
        l.mem.state_word().store(state as u32, Ordering::Relaxed);
        // Relaxed: advice too; the producer checks it before each record.
        l.mem.closed_flag().store(1, Ordering::Relaxed);
        if l.reading == Reading::Open {
            l.reading = Reading::Draining;
        }
        true
    }

    /// Whether every lane is closed and fully read (abandoned, detached or
    /// corrupt lanes with nothing committed left).
    pub fn all_closed(&self) -> bool {
        self.lanes.iter().all(|l| l.reading == Reading::Closed)
    }

    /// Copies committed frames from every lane into `batch` (cleared first),
    /// validating them there. Returns the number of valid frames. Rejected
    /// frames are counted in the lane's `invalid_frames` and listed in
    /// `batch.errors()`. Space is not released until [`Consumer::release`].
    ///
    /// A read that follows one that caught up with every producer (took
    /// frames and found no more committed) first waits until 2 µs have
    /// passed since then, so a streaming producer is read in whole lines,
    /// not chased line by line (ADR 34). [`Consumer::wait`] keeps the same
    /// pause.
    pub fn read_batch(&mut self, batch: &mut Batch) -> usize {
        batch.clear();
        self.gather(None, || false);
        let n = self.lanes.len();
        let mut caught_up = true;
        for i in 0..n {
            let idx = (self.start + i) % n;
            caught_up &= Self::read_lane(&mut self.lanes[idx], batch);
        }
        if n > 0 {
            self.start = (self.start + 1) % n;
        }
        // Only a read that took something: a consumer polling an idle run
        // looks as often as it likes, so a lone record is read at once.
        self.caught_up_at =
            (caught_up && batch.len_bytes() > 0 && !self.small_lane && !GATHER.is_zero()).then(Instant::now);
        batch.len()
    }

    /// Waits out the rest of the gather time after a read that caught up
    /// (at most [`GATHER`], and not past `deadline`), without touching shared
    /// memory. Returns `true` if `event()` ended the wait first.
    fn gather(&self, deadline: Option<Instant>, event: impl Fn() -> bool) -> bool {
        let Some(at) = self.caught_up_at else { return false };
        let until = deadline.map_or(at + GATHER, |d| d.min(at + GATHER));
        while Instant::now() < until {
            if event() {
                return true;
            }
            for _ in 0..SPINS_PER_CHECK {
                spin_hint();
            }
        }
        false
    }

    /// Releases everything read so far back to the producers.
    pub fn release(&mut self) {
        for l in &mut self.lanes {
            if l.read_pos == l.head {
                l.at_head = (l.next_seq, l.invalid, l.consumed, l.reading);
                continue;
            }
            let to = l.read_pos;
            l.head = to;
            l.at_head = (l.next_seq, l.invalid, l.consumed, l.reading);
            // Relaxed: statistics and restart state, ordered by the Release
            // below. A crash between these stores and `head` is harmless: a
            // restarted consumer takes its sequence from the frame at `head`.
            l.mem.consumed().store(l.consumed, Ordering::Relaxed);
            l.mem.invalid_frames().store(l.invalid, Ordering::Relaxed);
            #[cfg(feature = "test-hooks")]
            if self.stop_in_release {
                return;
            }
            // SYNC POINT: space released. Release orders our reads of the frames
            // (the copies into the batch) before the producer may overwrite
            // them; pairs with the producer's Acquire load of head. The
            // consumer never writes ring bytes, so the lines it read stay
            // shared instead of bouncing back dirty to the producer.
            l.mem.head().store(to, Ordering::Release);
            wakeup::notify(l.mem.space_waiter());
        }
    }

    /// Forgets everything read since the last release: the next batch reads
    /// those frames again. For a consumer that could not store a batch (a full
    /// disk): nothing is released, so nothing is lost.
    pub fn unread(&mut self) {
        for l in &mut self.lanes {
            l.read_pos = l.head;
            (l.next_seq, l.invalid, l.consumed, l.reading) = l.at_head;
        }
    }

    /// [`Consumer::read_batch`] then [`Consumer::release`].
    pub fn drain(&mut self, batch: &mut Batch) -> usize {
        let n = self.read_batch(batch);
        self.release();
        n
    }

    /// Whether any open lane has a committed frame waiting.
    pub fn has_pending(&self) -> bool {
        self.lanes.iter().any(|l| {
            l.reading != Reading::Closed && {
                let off = l.read_pos as usize & (l.mem.capacity() - 1);
                // SYNC POINT: frame committed (Acquire; see read_lane).
                l.mem.commit(off).load(Ordering::Acquire) != 0
            }
        })
    }

    /// Waits until a frame is committed on any lane or `timeout` passes:
    /// spins briefly, then sleeps on the run's wake words. Returns whether
    /// data is pending. Uses no CPU while asleep.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.wait_or(timeout, || false)
    }

    /// [`Consumer::wait`] that also returns when `event()` becomes true. The
    /// side that makes it true must then call `wakeup::notify` on the run's
    /// parked word (`Segment::wake_consumer`), so the event is never missed:
    /// it is re-checked after the consumer announces that it parks.
    pub fn wait_or(&self, timeout: Duration, event: impl Fn() -> bool) -> bool {
        let ready = || self.has_pending() || event();
        // Not even `has_pending` looks at a lane during the gather time (nor
        // longer than the caller's timeout).
        if self.gather(Some(Instant::now() + timeout), &event) {
            return true;
        }
        // Look at the next commit word only every few spins: that cache line is
        // the one the producer writes next, and polling it flat out takes it
        // away from the producer (measured: about half the throughput).
        for i in 0..SPINS_BEFORE_PARK {
            if i % SPINS_PER_CHECK == 0 && ready() {
                return true;
            }
            spin_hint();
        }
        // The run's control word and every open lane's own wake word: each
        // producer wakes us through its lane (the only part of the segment it
        // may write), the service's control thread through the run's word.
        let mut words: Vec<&AtomicU32> = Vec::with_capacity(self.lanes.len() + 1);
        words.push(self.source.parked());
        words.extend(self.lanes.iter().filter(|l| l.reading != Reading::Closed).map(|l| l.mem.lane_wake()));
        // Past futex_waitv's limit some lanes are not waited on: bound the
        // sleep so their frames wait at most a millisecond.
        let timeout =
            if words.len() > wakeup::MAX_WAIT_WORDS { timeout.min(Duration::from_millis(1)) } else { timeout };
        // Relaxed: ordered after our announcement by park_many's fence, which
        // pairs with the fence each producer issues after raising its flag.
        let light = || {
            self.lanes
                .iter()
                .any(|l| l.reading != Reading::Closed && l.mem.light_notify_flag().load(Ordering::Relaxed) != 0)
        };
        wakeup::park_many(&words, timeout, light, ready) || ready()
    }

    fn read_lane(l: &mut ConsumerLane, batch: &mut Batch) -> bool {
        if l.reading == Reading::Closed {
            return true;
        }
        let cap = l.mem.capacity();
        let max_frame = cap / 4;
        loop {
            // Never read past a full lap: a correct producer cannot get there.
            if (l.read_pos - l.head) as usize >= cap {
                return false;
            }
            let off = l.read_pos as usize & (cap - 1);
            // SYNC POINT: frame committed. Acquire pairs with the producer's
            // Release store of the commit word: header and payload are visible.
            let word = l.mem.commit(off).load(Ordering::Acquire);
            let len = frame::payload_len(word);
            match FrameState::from_bits(frame::state_bits(word)) {
                Some(FrameState::Empty) => {
                    if l.reading == Reading::Draining {
                        l.reading = Reading::Closed;
                    }
                    return true;
                }
                Some(FrameState::Padding) => {
                    if off + frame_len(len) != cap {
                        return Self::corrupt(l, batch, FrameError::BadLength { lane: l.lane, offset: off, len });
                    }
                    l.read_pos += (cap - off) as u64;
                }
                Some(FrameState::Committed) => {
                    let flen = frame_len(len);
                    if off + flen > cap || flen > max_frame {
                        return Self::corrupt(l, batch, FrameError::BadLength { lane: l.lane, offset: off, len });
                    }
                    if batch.room() < flen {
                        if batch.len_bytes() > 0 {
                            return false; // full: the rest waits for the next batch
                        }
                        batch.reserve(flen);
                    }
                    // SAFETY: [off, off + copy) is inside the ring (checked above)
                    // and committed; the batch has room for it. The copy uses
                    // relaxed atomic loads: a buggy producer writing the frame
                    // concurrently gives garbage (caught by validation), never
                    // undefined behaviour.
                    let at = unsafe { batch.push_from_ring(l.mem.at(off), flen) };
                    let header = batch.header_at(at, word);
                    #[cfg(loom)]
                    assert_eq!(l.mem.shadow_read(off), header.seq, "loom: frame bytes not visible after Acquire");
                    if header.lane != l.lane {
                        return Self::corrupt(l, batch, FrameError::WrongLane { lane: l.lane, found: header.lane });
                    }
                    if header.seq != l.next_seq {
                        return Self::corrupt(
                            l,
                            batch,
                            FrameError::SeqGap { lane: l.lane, expected: l.next_seq, found: header.seq },
                        );
                    }
                    // Wrapping: these counters start from values adoption took from
                    // shared memory (the frame at head names its own sequence, which a
                    // buggy producer can set to u64::MAX); they must not panic on them.
                    match batch.admit(at, header) {
                        Ok(()) => l.consumed = l.consumed.wrapping_add(1),
                        Err(e) => {
                            l.invalid = l.invalid.wrapping_add(1);
                            batch.reject(e);
                        }
                    }
                    l.next_seq = l.next_seq.wrapping_add(1);
                    l.read_pos += flen as u64;
                }
                None => {
                    return Self::corrupt(
                        l,
                        batch,
                        FrameError::BadState { lane: l.lane, offset: off, bits: frame::state_bits(word) },
                    );
                }
            }
        }
    }

    /// Closes the lane as corrupt; returns `true` (nothing more to read there).
    #[cold]
    fn corrupt(l: &mut ConsumerLane, batch: &mut Batch, err: FrameError) -> bool {
        l.invalid = l.invalid.wrapping_add(1);
        l.reading = Reading::Closed;
        // Relaxed: advisory state for the producer's slow path and for status.
        l.mem.state_word().store(LaneState::Corrupt as u32, Ordering::Relaxed);
        l.mem.closed_flag().store(1, Ordering::Relaxed);
        l.mem.invalid_frames().store(l.invalid, Ordering::Relaxed);
        batch.reject(err);
        true
    }
}

/// Copies `len` bytes (a multiple of 8) from ring memory with relaxed atomic
/// 8-byte loads: bytes a buggy producer may be writing at the same time are
/// never read with plain loads, so a race gives garbage, not undefined
/// behaviour (ADR 16).
///
/// # Safety
/// `src` is 8-aligned and valid for `len` reads; `dst` is valid for `len`
/// writes and private to the caller.
#[cfg(not(loom))]
#[inline]
pub(crate) unsafe fn copy_from_ring(src: *const u8, dst: *mut u8, len: usize) {
    debug_assert!(len.is_multiple_of(8) && (src as usize).is_multiple_of(8));
    let words = src.cast::<crate::ring::sync::AtomicU64>();
    for i in 0..len / 8 {
        // SAFETY: i * 8 + 8 <= len, inside `src`'s range, 8-aligned; AtomicU64
        // has u64's layout. Relaxed: the frame was published by the Acquire
        // load of its commit word before this copy.
        let v = unsafe { (*words.add(i)).load(Ordering::Relaxed) };
        // SAFETY: inside `dst`'s range; unaligned write, as dst is a byte pointer.
        unsafe { dst.add(i * 8).cast::<u64>().write_unaligned(v) };
    }
}

/// Under loom ring bytes are plain memory (loom cannot view them as atomics);
/// the shadow cells check the ordering instead.
///
/// # Safety
/// As for the non-loom version.
#[cfg(loom)]
pub(crate) unsafe fn copy_from_ring(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::HeapRun;

    /// The gather pause (ADR 34). Fails if `read_batch` does not wait out
    /// `GATHER` after a read that caught up (mutation: drop the `self.gather(..)` call).
    #[test]
    fn a_read_after_catching_up_waits_out_the_gather_time() {
        let run = HeapRun::new(1 << 16, 1).unwrap();
        let mut p = run.claim(0, Default::default()).unwrap();
        let k = p.key("x").unwrap();
        let _ = p.log_scalar1(0, k, 1.0).unwrap();
        let mut c = run.consumer().unwrap();
        let mut batch = Batch::new(1 << 16);
        assert_eq!(c.read_batch(&mut batch), 2);
        let caught_up = c.caught_up_at.expect("took everything committed: caught up");
        let _ = p.log_scalar1(1, k, 2.0).unwrap();
        assert_eq!(c.read_batch(&mut batch), 1);
        assert!(Instant::now() >= caught_up + GATHER, "the second read looked before the gather time ended");
    }

    /// Only a read that caught up pauses the next one: a read stopped by a
    /// full batch, and an empty read (an idle run, where a lone record must
    /// be read at once), leave no pause. Fails if the pause follows every
    /// read (mutation: drop the `caught_up` or the `len_bytes() > 0` term).
    #[test]
    fn only_a_read_that_caught_up_pauses_the_next() {
        let run = HeapRun::new(1 << 16, 1).unwrap();
        let mut p = run.claim(0, Default::default()).unwrap();
        let mut c = run.consumer().unwrap();
        let mut empty = Batch::new(1 << 16);
        assert_eq!(c.read_batch(&mut empty), 0);
        assert_eq!(c.caught_up_at, None, "an empty read");
        let k = p.key("x").unwrap();
        for step in 0..100 {
            let _ = p.log_scalar1(step, k, 1.0).unwrap();
        }
        // Room for a few frames only: the read stops with frames left.
        let mut small = Batch::new(256);
        let n = c.read_batch(&mut small);
        assert!(n > 0 && n < 101, "{n}");
        assert_eq!(c.caught_up_at, None, "a read stopped by a full batch");
        c.release();
        let mut big = Batch::new(1 << 16);
        assert_eq!(c.read_batch(&mut big), 101 - n);
        assert!(c.caught_up_at.is_some(), "a read that took the rest");
        c.release();
        assert_eq!(c.read_batch(&mut big), 0);
        assert_eq!(c.caught_up_at, None, "an empty read after it");
    }

    /// A lane too small to absorb 2 µs of a streaming producer gets no pause
    /// (fails if `small_lane` is not set or not checked).
    #[test]
    fn a_consumer_of_a_small_lane_never_pauses() {
        let run = HeapRun::new(MIN_GATHER_LANE / 2, 1).unwrap();
        let mut p = run.claim(0, Default::default()).unwrap();
        let k = p.key("x").unwrap();
        let _ = p.log_scalar1(0, k, 1.0).unwrap();
        let mut c = run.consumer().unwrap();
        assert_eq!(c.read_batch(&mut Batch::new(4096)), 2);
        assert_eq!(c.caught_up_at, None);
    }

    /// Each producer tells the consumer, in its own lane, whether it notifies
    /// without a fence, so the consumer's park runs the heavy barrier exactly
    /// when one does (fails if the producer does not publish what it uses).
    #[test]
    fn a_producer_publishes_whether_it_notifies_light() {
        let run = HeapRun::new(1 << 16, 1).unwrap();
        let p = run.claim(0, Default::default()).unwrap();
        let c = run.consumer().unwrap();
        let flag = c.lanes[0].mem.light_notify_flag().load(Ordering::Relaxed);
        assert_eq!(flag, u32::from(p.uses_light_notify()));
        assert_eq!(p.uses_light_notify(), wakeup::register_light_notifier());
    }
}
