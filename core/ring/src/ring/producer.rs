//! The producer end of one lane: claim, write in place, commit.
//!
//! Hot path per record: compare against a cached consumer index, write the
//! payload and the header fields, one Release store of the commit word, three
//! Relaxed counter stores on the producer's own cache line, and one Relaxed
//! load of the consumer's `parked` word, after a compiler fence where the
//! kernel has `membarrier` (a SeqCst fence elsewhere; ADR 5). No
//! read-modify-write, no system call, no allocation.
//!
//! A producer exists only through a claim ([`crate::Segment::claim`],
//! [`crate::HeapRun::claim`]): a compare-and-swap of the lane's claim word in
//! shared memory, so a lane has one producer in all processes. Values read
//! back from shared memory (the consumer's `head`, the lane's published
//! position when reopening) are checked before use: a misaligned or
//! out-of-range value closes the lane with [`ProduceError::LaneCorrupt`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::record::schema::{KeyDef, KeyId, RECORD_FORMAT_VERSION, Record, RecordKind};
use crate::ring::error::ProduceError;
use crate::ring::frame::{self, FRAME_ALIGN, FRAME_HEADER_LEN, FrameState, MAX_PAYLOAD_LEN, frame_len};
use crate::ring::full_policy::FullPolicy;
use crate::ring::lane_memory::LaneMemory;
use crate::ring::layout::{LANE_CLAIMED, LaneState};
use crate::ring::scalar_writer;
use crate::ring::slot_writer::SlotWriter;
use crate::ring::sync::{Ordering, fence, spin_hint};
use crate::ring::{clock, fork_guard, wakeup};

/// Longest key name in bytes.
pub const MAX_KEY_LEN: usize = 256;
/// Most keys one lane interns.
pub const MAX_KEYS: u32 = 1 << 20;
/// Spins on a full lane before sleeping on the futex.
const SPINS_BEFORE_PARK: u32 = 256;
/// How often a blocked producer runs its stall hook.
const STALL_CHECK: Duration = Duration::from_millis(500);
/// How often (by the records' own coarse timestamps) a producer reads the
/// service's heartbeat: one compare per record, one load per second.
const HEARTBEAT_CHECK_NS: u64 = 1_000_000_000;
/// A heartbeat older than this makes the producer run its stall hook (which
/// asks whether the service is alive). The drain thread beats every 250 ms
/// or more often; a disk stall or a loaded machine stays well inside this.
pub const HEARTBEAT_STALE_NS: u64 = 3_000_000_000;

/// What happened to a record handed to the producer.
///
/// # Examples
/// ```
/// use ringlog_ring::{HeapRun, Logged};
/// let run = HeapRun::new(1 << 16, 1).unwrap();
/// let mut p = run.claim(0, Default::default()).unwrap();
/// let k = p.key("x").unwrap();
/// assert_eq!(p.log_scalar1(0, k, 1.0).unwrap(), Logged::Written);
/// ```
#[must_use = "a record may have been dropped by the DropNewest policy"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logged {
    /// Committed to the lane.
    Written,
    /// The lane was full and the `DropNewest` policy dropped the record
    /// (counted in the lane's `drops`).
    Dropped,
}

/// Counters of one lane as its producer last published them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LaneCounters {
    /// Frames committed (records and key definitions).
    pub records: u64,
    /// Payload bytes committed.
    pub bytes: u64,
    /// Records dropped by `DropNewest`.
    pub drops: u64,
    /// Records refused after a `Block` timeout.
    pub timeouts: u64,
}

/// Single producer of one lane.
///
/// A `Producer` is `Send` but not `Sync`: one thread writes a lane at a time.
/// A process with several logging threads gives each its own lane (the
/// lanes are cheap) or wraps one producer in a mutex (see
/// docs/decisions.md, ADR 3).
///
/// # Examples
/// ```
/// use ringlog_ring::{Batch, HeapRun, RecordRef};
/// let run = HeapRun::new(1 << 16, 1).unwrap();
/// let mut p = run.claim(0, Default::default()).unwrap();
/// let loss = p.key("loss").unwrap();
/// p.log_scalar1(1, loss, 0.5).unwrap();
///
/// let mut c = run.consumer().unwrap();
/// let mut batch = Batch::new(1 << 16);
/// assert_eq!(c.drain(&mut batch), 2); // the key definition and the scalar
/// assert!(matches!(batch.frames().last().unwrap().record(), RecordRef::Scalar1(s) if s.value == 0.5));
/// ```
pub struct Producer {
    mem: LaneMemory,
    lane: u16,
    mask: usize,
    /// Monotonic byte position of the next frame (private copy of `tail`).
    tail: u64,
    /// Last value of the consumer's `head` we loaded; space below
    /// `cached_head + capacity` is known free without touching its cache line.
    cached_head: u64,
    next_seq: u64,
    bytes: u64,
    drops: u64,
    timeouts: u64,
    policy: FullPolicy,
    max_frame: usize,
    fork_generation: u64,
    keys: HashMap<Box<str>, KeyId>,
    stall_hook: Option<Box<dyn FnMut() + Send>>,
    /// Coarse time of the last heartbeat check.
    heartbeat_checked_ns: u64,
    /// This process is registered for the consumer's heavy barrier: the
    /// per-record notify needs no fence instruction (ADR 5).
    light_notify: bool,
    #[cfg(feature = "test-hooks")]
    pause_hook: Option<(u64, Box<dyn FnMut() + Send>)>,
}

impl Producer {
    /// Claims lane `lane` of `mem` (compare-and-swap of its claim word from
    /// 0) and starts writing where its control block says.
    pub(crate) fn claim(mem: LaneMemory, lane: u16, policy: FullPolicy) -> Result<Self, ProduceError> {
        // AcqRel/Acquire: the winner's later writes to the lane are ordered
        // after the claim; no data is published by it. One winner, ever.
        if mem.claim_word().compare_exchange(0, LANE_CLAIMED, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(ProduceError::LaneTaken { lane });
        }
        // SAFETY: we just won the claim, so no other producer of this lane exists.
        unsafe { Self::reopen(mem, lane, policy) }
    }

    /// Takes over lane `lane` of `mem`, continuing from the position,
    /// sequence and counters stored in its control block, after checking
    /// them against the consumer's `head`.
    ///
    /// # Safety
    /// No other producer of this lane exists (in any process).
    pub(crate) unsafe fn reopen(mem: LaneMemory, lane: u16, policy: FullPolicy) -> Result<Self, ProduceError> {
        // Relaxed: these were last written by a previous producer of this lane
        // in this or an earlier process; reopening happens after that
        // producer is gone (the caller's contract).
        let tail = mem.tail().load(Ordering::Relaxed);
        let next_seq = mem.records().load(Ordering::Relaxed);
        let bytes = mem.bytes().load(Ordering::Relaxed);
        let drops = mem.drops().load(Ordering::Relaxed);
        let timeouts = mem.timeouts().load(Ordering::Relaxed);
        // SYNC POINT: space released. Pairs with the consumer's Release store of head.
        let head = mem.head().load(Ordering::Acquire);
        let capacity = mem.capacity();
        check_positions(lane, head, tail, capacity)?;
        let light_notify = wakeup::register_light_notifier();
        // Relaxed store, then SeqCst fence (SYNC POINT: park, once per claim):
        // pairs with the fence in the consumer's `park_many`, which loads the
        // flag after it announces. Either the consumer sees the flag and runs
        // the heavy barrier, or its announcement is visible to every notify
        // of ours that follows this fence.
        mem.light_notify_flag().store(u32::from(light_notify), Ordering::Relaxed);
        fence(Ordering::SeqCst);
        Ok(Self {
            mask: capacity - 1,
            max_frame: (capacity / 4).min(frame_len(MAX_PAYLOAD_LEN) - frame::FRAME_ALIGN),
            mem,
            lane,
            tail,
            cached_head: head,
            next_seq,
            bytes,
            drops,
            timeouts,
            policy,
            fork_generation: fork_guard::generation(),
            keys: HashMap::new(),
            stall_hook: None,
            heartbeat_checked_ns: 0,
            light_notify,
            #[cfg(feature = "test-hooks")]
            pause_hook: None,
        })
    }

    /// Whether this handle was created in a parent process before `fork()`.
    pub fn is_forked_copy(&self) -> bool {
        fork_guard::current() != self.fork_generation
    }

    /// Whether this producer notifies its consumer without a fence
    /// instruction (its process registered for `membarrier`; ADR 5).
    pub fn uses_light_notify(&self) -> bool {
        self.light_notify
    }

    /// Lane id this producer writes.
    pub fn lane(&self) -> u16 {
        self.lane
    }

    /// Largest frame (header + payload) this lane accepts: a quarter of the ring.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame
    }

    /// Counters as published to the control block.
    pub fn counters(&self) -> LaneCounters {
        LaneCounters { records: self.next_seq, bytes: self.bytes, drops: self.drops, timeouts: self.timeouts }
    }

    /// Bytes committed and not yet released by the consumer, and the ring's
    /// size: how close the next write is to waiting for space. Reads the
    /// consumer's index (a cross-core cache miss): call it rarely.
    ///
    /// # Examples
    /// ```
    /// let run = ringlog_ring::HeapRun::new(1 << 16, 1).unwrap();
    /// let mut p = run.claim(0, Default::default()).unwrap();
    /// let k = p.key("x").unwrap();
    /// let _ = p.log_scalar1(0, k, 1.0).unwrap();
    /// assert_eq!(p.fill(), (32 + 48, 1 << 16)); // the key definition and the scalar
    /// ```
    pub fn fill(&self) -> (u64, u64) {
        let capacity = self.mem.capacity() as u64;
        // Relaxed: an estimate; the write path re-checks with Acquire.
        let head = self.mem.head().load(Ordering::Relaxed);
        (self.tail.saturating_sub(head).min(capacity), capacity)
    }

    /// Interns `name`, writing a key definition frame the first time.
    ///
    /// # Errors
    /// [`ProduceError::InvalidKey`] for an empty, over-long or NUL-containing
    /// name, [`ProduceError::TooManyKeys`], or a full-lane error.
    pub fn key(&mut self, name: &str) -> Result<KeyId, ProduceError> {
        if let Some(&id) = self.keys.get(name) {
            return Ok(id);
        }
        if name.is_empty() || name.len() > MAX_KEY_LEN || name.contains('\0') {
            return Err(ProduceError::InvalidKey(name.to_owned()));
        }
        let id = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        if id >= MAX_KEYS {
            return Err(ProduceError::TooManyKeys(id));
        }
        let written = self.log(&KeyDef { id, name: name.to_owned() })?;
        if written == Logged::Dropped {
            // Dropped by policy: a later call retries, nothing refers to the id yet.
            return Err(ProduceError::Full);
        }
        self.keys.insert(name.into(), KeyId(id));
        Ok(KeyId(id))
    }

    /// Logs one scalar at `step`: a 48-byte frame written in place.
    ///
    /// # Errors
    /// See [`ProduceError`]; nothing was written.
    #[inline]
    pub fn log_scalar1(&mut self, step: i64, key: KeyId, value: f64) -> Result<Logged, ProduceError> {
        let len = scalar_writer::SCALAR1_LEN;
        let Some(off) = self.reserve(frame_len(len))? else { return Ok(Logged::Dropped) };
        let ts = clock::now_unix_ns();
        // SAFETY: `reserve` reserved frame_len(len) bytes at `off`, 16-aligned;
        // the payload starts 16 bytes in.
        unsafe {
            scalar_writer::write_scalar1(self.mem.at(off + FRAME_HEADER_LEN), ts, step, key.0, value);
        }
        self.publish(off, RecordKind::Scalar1, len);
        self.heartbeat_tick(ts);
        Ok(Logged::Written)
    }

    /// Logs several scalars at one step, written in place.
    ///
    /// # Errors
    /// See [`ProduceError`]; nothing was written.
    #[inline]
    pub fn log_scalars(&mut self, step: i64, items: &[(KeyId, f64)]) -> Result<Logged, ProduceError> {
        let len = scalar_writer::scalars_len(items.len());
        let Some(off) = self.reserve(frame_len(len))? else { return Ok(Logged::Dropped) };
        let ts = clock::now_unix_ns();
        // SAFETY: `reserve` reserved frame_len(len) bytes at `off`, 16-aligned;
        // the payload starts 16 bytes in and has `len` bytes.
        unsafe {
            scalar_writer::write_scalars(self.mem.at(off + FRAME_HEADER_LEN), ts, step, items);
        }
        self.publish(off, RecordKind::Scalars, len);
        self.heartbeat_tick(ts);
        Ok(Logged::Written)
    }

    /// Logs any record, rkyv-serialized straight into the claimed frame.
    ///
    /// # Errors
    /// [`ProduceError::TooLarge`] if it cannot fit a frame, or a full-lane error.
    pub fn log<R: Record>(&mut self, record: &R) -> Result<Logged, ProduceError> {
        let mut want = 256.min(self.max_frame);
        loop {
            let Some(off) = self.reserve(want)? else { return Ok(Logged::Dropped) };
            // Everything from `off` up to the ring end or the consumer's head is ours.
            let free = self.mem.capacity() - (self.tail - self.cached_head) as usize;
            // The frame may use free space up to the ring end, minus the 16
            // bytes after it whose commit word `publish` clears (they may be
            // the first bytes the consumer has not released yet otherwise).
            let room = (self.mem.capacity() - off).min(free - FRAME_ALIGN).min(self.max_frame) - FRAME_HEADER_LEN;
            // SAFETY: `reserve` reserved at least `want` bytes at `off`, and the
            // bytes up to `room` are free space (below cached_head + capacity,
            // before the ring end) that only this producer writes until commit.
            let slot = unsafe { SlotWriter::new(self.mem.at(off + FRAME_HEADER_LEN), room) };
            match rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(record, slot) {
                Ok(w) => {
                    let len = w.written();
                    self.publish(off, R::KIND, len);
                    self.heartbeat_tick(clock::now_unix_ns());
                    return Ok(Logged::Written);
                }
                // Did not fit: ask for more. What rkyv wrote into free space is
                // never read (the consumer follows commit words only).
                Err(_) if want < self.max_frame => want = (want * 4).min(self.max_frame),
                Err(_) => {
                    return Err(ProduceError::TooLarge { len: room + FRAME_HEADER_LEN + 1, max: self.max_frame });
                }
            }
        }
    }

    /// Waits until the consumer has released everything committed so far.
    ///
    /// Returns `false` if `timeout` passed first.
    ///
    /// # Errors
    /// [`ProduceError::LaneCorrupt`] if the consumer's position is inconsistent.
    pub fn wait_drained(&mut self, timeout: Duration) -> Result<bool, ProduceError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.refresh_head()? == self.tail {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let tail = self.tail;
            let head = self.mem.head();
            // SYNC POINT: space released (Acquire in the re-check).
            wakeup::park(self.mem.space_waiter(), (deadline - now).min(Duration::from_millis(50)), || {
                head.load(Ordering::Acquire) == tail
            });
        }
    }

    /// Checks the service's heartbeat about once a second of record time
    /// (`now_ns`, the record's coarse timestamp; a clock step either way
    /// also triggers a check).
    #[inline]
    fn heartbeat_tick(&mut self, now_ns: u64) {
        if now_ns.abs_diff(self.heartbeat_checked_ns) >= HEARTBEAT_CHECK_NS {
            self.check_heartbeat(now_ns);
        }
    }

    /// A stale heartbeat means no drain thread has run for seconds: the
    /// service may be dead, and a slow logger would otherwise notice only
    /// when its lane fills, hours later. Runs the stall hook, which asks.
    #[cold]
    fn check_heartbeat(&mut self, now_ns: u64) {
        self.heartbeat_checked_ns = now_ns;
        // Relaxed: a timestamp compared on its own; nothing is read through it.
        let beat = self.mem.heartbeat().map_or(0, |w| w.load(Ordering::Relaxed));
        if beat != 0
            && now_ns.saturating_sub(beat) > HEARTBEAT_STALE_NS
            && let Some(hook) = self.stall_hook.as_mut()
        {
            hook();
        }
    }

    /// Installs a hook that a producer blocked on a full lane runs about every
    /// 500 ms while it waits, and that any producer runs when the service's
    /// heartbeat is stale (the client uses it to notice a dead service and
    /// start a new one, which then drains the lane).
    pub fn set_stall_hook(&mut self, hook: Box<dyn FnMut() + Send>) {
        self.stall_hook = Some(hook);
    }

    /// Installs a hook run right after the frame for sequence `seq` is claimed
    /// and before it is committed (crash tests).
    #[cfg(feature = "test-hooks")]
    pub fn pause_after_claim(&mut self, seq: u64, hook: Box<dyn FnMut() + Send>) {
        self.pause_hook = Some((seq, hook));
    }

    /// Reloads the consumer's head, checking it: a head that is misaligned,
    /// ahead of our tail, or more than a ring behind it closes the lane.
    #[inline]
    fn refresh_head(&mut self) -> Result<u64, ProduceError> {
        // SYNC POINT: space released. Acquire pairs with the consumer's Release
        // store of `head` made after it copied the frames out: its reads of
        // the space happen before our reuse of it. (The consumer never writes
        // ring bytes; we clear stale commit words ourselves, see `publish`.)
        let head = self.mem.head().load(Ordering::Acquire);
        check_positions(self.lane, head, self.tail, self.mem.capacity())?;
        self.cached_head = head;
        Ok(head)
    }

    /// Reserves `len` contiguous bytes (a multiple of 16), writing a padding
    /// frame over the ring's end when needed. `Ok(None)` means dropped by policy.
    #[inline]
    fn reserve(&mut self, len: usize) -> Result<Option<usize>, ProduceError> {
        debug_assert!(len.is_multiple_of(frame::FRAME_ALIGN) && len >= FRAME_HEADER_LEN);
        if fork_guard::current() != self.fork_generation {
            return Err(ProduceError::Forked);
        }
        if len > self.max_frame {
            return Err(ProduceError::TooLarge { len, max: self.max_frame });
        }
        // Relaxed: advice from the service, on our own cache line (an L1 hit
        // until the service writes it). A closed lane takes no more records.
        if self.mem.closed_flag().load(Ordering::Relaxed) != 0 {
            return Err(self.closed_error());
        }
        let capacity = self.mem.capacity();
        let off = self.tail as usize & self.mask;
        let to_end = capacity - off;
        // Plus the 16 bytes after the frame, whose commit word we clear (see `publish`).
        let need = if len <= to_end { len } else { to_end + len } + FRAME_ALIGN;
        if (self.tail - self.cached_head) as usize + need > capacity && !self.wait_for_space(need)? {
            return Ok(None);
        }
        let off = if len <= to_end {
            off
        } else {
            self.write_padding(off, to_end);
            0
        };
        #[cfg(feature = "test-hooks")]
        if let Some((seq, hook)) = self.pause_hook.as_mut()
            && *seq == self.next_seq
        {
            // SAFETY: the claimed frame has at least 16 payload bytes for
            // len >= 32; write a partial payload so the frame is visibly torn.
            unsafe { std::ptr::write_bytes(self.mem.at(off + FRAME_HEADER_LEN), 0xAB, len - FRAME_HEADER_LEN) };
            hook();
        }
        Ok(Some(off))
    }

    /// Slow path of `claim`: refresh, then apply the run's policy.
    #[cold]
    fn wait_for_space(&mut self, need: usize) -> Result<bool, ProduceError> {
        let capacity = self.mem.capacity() as u64;
        let fits = |head: u64, tail: u64| tail.saturating_sub(head) + need as u64 <= capacity;
        if fits(self.refresh_head()?, self.tail) {
            return Ok(true);
        }
        self.check_open()?;
        match self.policy {
            FullPolicy::DropNewest => {
                self.drops += 1;
                // Relaxed: a statistic, read by status and by the consumer at finish.
                self.mem.drops().store(self.drops, Ordering::Relaxed);
                Ok(false)
            }
            FullPolicy::Error => Err(ProduceError::Full),
            FullPolicy::Block { timeout } => {
                let deadline = Instant::now() + timeout;
                for _ in 0..SPINS_BEFORE_PARK {
                    spin_hint();
                    if fits(self.refresh_head()?, self.tail) {
                        return Ok(true);
                    }
                }
                loop {
                    let now = Instant::now();
                    if now >= deadline {
                        self.timeouts += 1;
                        // Relaxed: a statistic, as for drops.
                        self.mem.timeouts().store(self.timeouts, Ordering::Relaxed);
                        return Err(ProduceError::Timeout(timeout));
                    }
                    let tail = self.tail;
                    let head = self.mem.head();
                    // SYNC POINT: space released. The re-check's Acquire pairs
                    // with the consumer's Release store of head; the park fence
                    // pairs with the fence in the consumer's `notify`.
                    wakeup::park(self.mem.space_waiter(), (deadline - now).min(STALL_CHECK), || {
                        fits(head.load(Ordering::Acquire), tail)
                    });
                    if fits(self.refresh_head()?, self.tail) {
                        return Ok(true);
                    }
                    self.check_open()?;
                    if let Some(hook) = self.stall_hook.as_mut() {
                        hook();
                    }
                }
            }
        }
    }

    /// Fails if the service closed this lane.
    fn check_open(&self) -> Result<(), ProduceError> {
        match self.mem.state() {
            Some(LaneState::Active) => Ok(()),
            _ => Err(self.closed_error()),
        }
    }

    #[cold]
    fn closed_error(&self) -> ProduceError {
        let state = match self.mem.state() {
            Some(LaneState::Active) | None => LaneState::Corrupt,
            Some(s) => s,
        };
        ProduceError::LaneClosed { lane: self.lane, state }
    }

    /// Commits a padding frame covering `len` bytes from `off` to the ring end.
    fn write_padding(&mut self, off: usize, len: usize) {
        debug_assert!(off + len == self.mem.capacity());
        // The consumer goes to offset 0 next: clear the stale commit word there
        // first (the claim covered it), published by the Release below.
        self.mem.commit(0).store(0, Ordering::Relaxed);
        // Release: publishes the cleared word at 0 with the padding
        // (SYNC POINT: frame committed).
        self.mem
            .commit(off)
            .store(frame::commit_word(FrameState::Padding, (len - FRAME_HEADER_LEN) as u32), Ordering::Release);
        self.tail += len as u64;
        // Relaxed: published for status and for a reopen, like the tail in
        // `publish`. Without it a record refused after the padding would leave
        // the published tail behind the consumer's head.
        self.mem.tail().store(self.tail, Ordering::Relaxed);
    }

    /// Writes the header fields and commits the frame at `off`.
    #[inline]
    fn publish(&mut self, off: usize, kind: RecordKind, payload_len: usize) {
        let frame_ptr = self.mem.at(off);
        // SAFETY: `off` was returned by `claim` for at least frame_len(payload_len)
        // bytes; the header's 16 bytes are ours until the commit below.
        unsafe { frame::write_header_fields(frame_ptr, kind as u8, RECORD_FORMAT_VERSION, self.lane, self.next_seq) };
        #[cfg(loom)]
        self.mem.shadow_write(off, self.next_seq);
        // The consumer looks at the word right after this frame next. It may
        // hold a stale commit word of an earlier lap, so clear it (`claim`
        // reserved those 16 bytes). The consumer never writes the ring: this is
        // what keeps its stale bytes from being read as frames.
        let next = (off + frame_len(payload_len)) & self.mask;
        self.mem.commit(next).store(0, Ordering::Relaxed);
        // SYNC POINT: frame committed. Release orders the payload, the header
        // writes and the cleared next word before the commit word; pairs with
        // the consumer's Acquire load in `Consumer::read_lane`.
        self.mem.commit(off).store(frame::commit_word(FrameState::Committed, payload_len as u32), Ordering::Release);
        self.tail += frame_len(payload_len) as u64;
        self.next_seq += 1;
        self.bytes += payload_len as u64;
        // Relaxed: published for status and for a reopen; the consumer does
        // not synchronize on them (it follows commit words).
        self.mem.tail().store(self.tail, Ordering::Relaxed);
        self.mem.records().store(self.next_seq, Ordering::Relaxed);
        self.mem.bytes().store(self.bytes, Ordering::Relaxed);
        // The consumer parks on every lane's own wake word at once; ours is
        // in our lane, the only part of the segment this process may write.
        // Its park runs the heavy barrier, so a registered process needs no
        // fence here (ADR 5).
        if self.light_notify {
            wakeup::notify_light(self.mem.lane_wake());
        } else {
            wakeup::notify(self.mem.lane_wake());
        }
    }
}

/// Checks a lane's positions read from shared memory: both 16-byte aligned,
/// `head <= tail`, and at most one ring apart.
fn check_positions(lane: u16, head: u64, tail: u64, capacity: usize) -> Result<(), ProduceError> {
    let align = FRAME_ALIGN as u64;
    if !head.is_multiple_of(align) || !tail.is_multiple_of(align) || head > tail || tail - head > capacity as u64 {
        return Err(ProduceError::LaneCorrupt {
            lane,
            reason: format!("consumer position {head} and producer position {tail} are inconsistent"),
        });
    }
    Ok(())
}
