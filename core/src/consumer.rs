//! The consumer side of a run: drains every lane into a private [`Batch`].
//!
//! `read_batch` copies committed frames out of shared memory and validates
//! them in the batch; `release` hands the space read so far back to the
//! producers, once per batch, with one store. The service calls `release` only after the
//! batch is written to its run log, so a crash in between re-reads frames
//! instead of losing them (the run log deduplicates by lane and sequence).

use std::time::Duration;

use crate::batch::Batch;
use crate::error::FrameError;
use crate::frame::{self, FRAME_HEADER_LEN, FrameState, frame_len};
use crate::lane_memory::LaneMemory;
use crate::layout::LaneState;
use crate::sync::{Ordering, spin_hint};
use crate::wakeup;

/// Spins on an empty run before parking on the futex.
const SPINS_BEFORE_PARK: u32 = 4096;
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
/// use ringlog::{Batch, Consumer, LaneMemory, Producer};
/// let lane = LaneMemory::heap(1 << 16).unwrap();
/// let mut p = Producer::new(lane.clone(), 3, Default::default());
/// let k = p.key("acc").unwrap();
/// for step in 0..10 { p.log_scalar1(step, k, 0.9).unwrap(); }
/// let mut c = Consumer::new();
/// c.add_lane(lane, 3);
/// let mut batch = Batch::new(4096);
/// assert_eq!(c.read_batch(&mut batch), 11);
/// c.release();
/// assert_eq!(c.lane_seq(3), Some(11));
/// ```
#[derive(Default)]
pub struct Consumer {
    lanes: Vec<ConsumerLane>,
    /// Lane index the next batch starts at, so no lane starves the others.
    start: usize,
}

impl Consumer {
    /// A consumer with no lanes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a lane, resuming from the head and sequence stored in its control
    /// block (frames committed before a consumer restart are read once more
    /// from the last released position).
    pub fn add_lane(&mut self, mem: LaneMemory, lane: u16) {
        // SYNC POINT: none needed: the consumer is the only writer of head;
        // Acquire makes a previous consumer's (same or earlier process) release visible.
        let head = mem.control().head.load(Ordering::Acquire);
        // Relaxed: written only by consumers, ordered with head above.
        let next_seq = mem.control().consumed.load(Ordering::Relaxed);
        let invalid = mem.control().invalid_frames.load(Ordering::Relaxed);
        let reading = match mem.state() {
            Some(LaneState::Active) | Some(LaneState::Free) => Reading::Open,
            Some(LaneState::Detached) | Some(LaneState::Abandoned) => Reading::Draining,
            _ => Reading::Closed,
        };
        self.lanes.push(ConsumerLane {
            mem,
            lane,
            head,
            read_pos: head,
            next_seq: next_seq + invalid,
            invalid,
            consumed: next_seq,
            reading,
            at_head: (next_seq + invalid, invalid, next_seq, reading),
        });
    }

    /// Number of lanes.
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// Sequence number the consumer expects next on `lane`.
    pub fn lane_seq(&self, lane: u16) -> Option<u64> {
        self.lanes.iter().find(|l| l.lane == lane).map(|l| l.next_seq)
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
        l.mem.control().state.store(state as u32, Ordering::Relaxed);
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
    pub fn read_batch(&mut self, batch: &mut Batch) -> usize {
        batch.clear();
        let n = self.lanes.len();
        for i in 0..n {
            let idx = (self.start + i) % n;
            Self::read_lane(&mut self.lanes[idx], batch);
        }
        if n > 0 {
            self.start = (self.start + 1) % n;
        }
        batch.len()
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
            let c = l.mem.control();
            // Relaxed: statistics and restart state, ordered by the Release below.
            c.consumed.store(l.consumed, Ordering::Relaxed);
            c.invalid_frames.store(l.invalid, Ordering::Relaxed);
            // SYNC POINT: space released. Release orders our reads of the frames
            // (the copies into the batch) before the producer may overwrite
            // them; pairs with the producer's Acquire load of head. The
            // consumer never writes ring bytes, so the lines it read stay
            // shared instead of bouncing back dirty to the producer.
            c.head.store(to, Ordering::Release);
            wakeup::notify(&c.space_waiter);
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
    /// spins briefly, then sleeps on the run's futex. Returns whether data is
    /// pending. Uses no CPU while asleep.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.wait_or(timeout, || false)
    }

    /// [`Consumer::wait`] that also returns when `event()` becomes true. The
    /// side that makes it true must then call `wakeup::notify` on the run's
    /// parked word (`Segment::wake_consumer`), so the event is never missed:
    /// it is re-checked after the consumer announces that it parks.
    pub fn wait_or(&self, timeout: Duration, event: impl Fn() -> bool) -> bool {
        let ready = || self.has_pending() || event();
        // Look at the next commit word only every few spins: that cache line is
        // the one the producer writes next, and polling it flat out takes it
        // away from the producer (measured: about half the throughput).
        for i in 0..SPINS_BEFORE_PARK {
            if i % SPINS_PER_CHECK == 0 && ready() {
                return true;
            }
            spin_hint();
        }
        let Some(first) = self.lanes.first() else {
            std::thread::sleep(timeout);
            return event();
        };
        wakeup::park(first.mem.parked(), timeout, ready) || ready()
    }

    fn read_lane(l: &mut ConsumerLane, batch: &mut Batch) {
        if l.reading == Reading::Closed {
            return;
        }
        let cap = l.mem.capacity();
        let max_frame = cap / 4;
        loop {
            // Never read past a full lap: a correct producer cannot get there.
            if (l.read_pos - l.head) as usize >= cap {
                break;
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
                    return;
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
                    let copy = FRAME_HEADER_LEN + len;
                    if batch.room() < flen {
                        if batch.len_bytes() > 0 {
                            return; // full: the rest waits for the next batch
                        }
                        batch.reserve(flen);
                    }
                    // SAFETY: [off, off + copy) is inside the ring (checked above)
                    // and committed; the batch has room for it.
                    let at = unsafe { batch.push_raw(l.mem.at(off), copy) };
                    // Keep the batch 16-aligned for the next frame (the skipped
                    // bytes are never read).
                    batch.skip(flen - copy);
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
                    match batch.admit(at, header) {
                        Ok(()) => l.consumed += 1,
                        Err(e) => {
                            l.invalid += 1;
                            batch.reject(e);
                        }
                    }
                    l.next_seq += 1;
                    l.read_pos += flen as u64;
                }
                Some(FrameState::Abandoned) | None => {
                    return Self::corrupt(
                        l,
                        batch,
                        FrameError::BadState { lane: l.lane, offset: off, bits: frame::state_bits(word) },
                    );
                }
            }
        }
    }

    #[cold]
    fn corrupt(l: &mut ConsumerLane, batch: &mut Batch, err: FrameError) {
        tracing::warn!(lane = l.lane, error = %err, "lane corrupt; frames before this point are kept");
        l.invalid += 1;
        l.reading = Reading::Closed;
        // Relaxed: advisory state for the producer's slow path and for status.
        l.mem.control().state.store(LaneState::Corrupt as u32, Ordering::Relaxed);
        l.mem.control().invalid_frames.store(l.invalid, Ordering::Relaxed);
        batch.reject(err);
    }
}
