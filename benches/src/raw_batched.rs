//! The `raw-batched` and `raw-per-record` transports: a plain C SPSC ring
//! between two pinned processes, the physical reference of `compare`.
//!
//! The ring itself is C (`benches/csrc/raw_batched.c`, built by `build.rs`):
//! the producer writes each record in place in its slot and publishes its tail
//! every 64 records (`raw-batched`) or after every record (`raw-per-record`),
//! and at the end of every call; the consumer checks each record in place and
//! releases its head every 64 records and whenever it finds the ring empty.
//! Both ends cache the other's counter. This module maps the shared memory,
//! attaches the two ends and drives them; no C call ever waits, so every wait
//! is a Rust loop bounded by [`IdleWatch`].
//!
//! # Several producers
//!
//! The C ring is single-producer by design, so N producer processes get N
//! rings, as ringlog gives each producer its own lane: the consumer creates
//! one shared memory object per producer, `<endpoint>-0` .. `<endpoint>-<N-1>`
//! ([`ring_name`]), and announces the base name; producer `rank` maps only its
//! own ring. Each ring carries its producer's share of the records
//! ([`Case::producer_share`]) with its own sequence numbers, so the C checks
//! stay per ring. The consumer drains the rings round-robin, up to 64 records
//! ([`RR_CHUNK`]) from each in turn, until every ring has delivered its share.
//!
//! A record is the size of the ringlog frame of its shape (48, 168 or 4136
//! bytes, in 48-, 176- or 4144-byte slots) but has a plain layout of u64
//! words: seq, step, timestamp, then the values `seq + i`. The consumer checks
//! every word but the timestamp, so every byte crosses between the cores. The
//! producer reads the coarse clock (`CLOCK_REALTIME_COARSE`, ringlog's record
//! clock) once per batch of records it writes, not per record: the reference
//! is the physical limit of moving the records, and ringlog's per-record
//! clock read (ADR 7) is part of the cost it is measured against. With the
//! clock read per record the scalar1 reference ran at about half the rate.
//!
//! Trust: the bytes in shared memory are checked by the consumer before use;
//! the geometry is computed privately by both ends from the record shape and
//! the shared copy is only compared with it.

use std::ffi::{c_int, c_void};
use std::fs::File;
use std::ptr::NonNull;

use memmap2::{MmapOptions, MmapRaw};
use ringlog_ring::clock::monotonic_ns;
use rustix::fs::Mode as FileMode;
use rustix::shm;

use crate::case::{Case, Mode, RecordShape, Transport};
use crate::cpu_clock::thread_cpu_ns;
use crate::error::BenchResult;
use crate::idle_watch::IdleWatch;
use crate::latency::LatencyRecorder;
use crate::outcome::{ConsumerOutcome, ProducerOutcome};
use crate::pacer::Pacer;
use crate::scalar_frame;

/// Bytes of slot data before rounding down to whole slots (as ringlog's lane).
pub const DATA_BYTES: usize = crate::ringlog_transport::LANE_BYTES;
/// Most records one consumer call checks (the latency buffer of steps).
const CONSUME_CHUNK: usize = 4096;
/// Most records the consumer takes from one ring before it turns to the next,
/// when it drains several: one publication batch of the producer (and one
/// release of the consumer), so no ring waits long for its turn.
const RR_CHUNK: u64 = 64;

/// The C ring (`benches/csrc/raw_batched.c`); the prototypes mirror it.
mod ffi {
    use std::ffi::{c_int, c_void};

    /// `struct rb_end`: one end of the ring, in private memory (opaque).
    #[repr(C)]
    pub struct RbEnd {
        _opaque: [u8; 0],
    }

    /// `RB_PUBLISH_EACH`: the producer publishes its tail after every record.
    pub const PUBLISH_EACH: c_int = 1;
    /// `RB_STEPS_STAMPED`: steps are clock stamps that never decrease, not the sequence number.
    pub const STEPS_STAMPED: c_int = 2;
    /// `RB_BAD_SEQ`: `rb_consume` found a record with the wrong sequence number.
    pub const BAD_SEQ: c_int = 1;
    /// `RB_BAD_STEP`: a step that is not the sequence number, or a stamp that went back.
    pub const BAD_STEP: c_int = 2;
    /// `RB_BAD_VALUE`: a value word that is not `seq + i`.
    pub const BAD_VALUE: c_int = 3;
    /// `RB_BAD_TAIL`: the producer's published tail is out of range.
    pub const BAD_TAIL: c_int = 4;

    // SAFETY: these prototypes match the definitions in csrc/raw_batched.c
    // (u64 = uint64_t, i64 = int64_t, c_int = int); each function's pointer
    // rules are at its call site.
    unsafe extern "C" {
        /// Bytes of a ring of `slots` slots of `slot_len` bytes, header included
        /// (with `slots` = 0: the offset of the first slot).
        pub safe fn rb_ring_bytes(slot_len: u64, slots: u64) -> u64;
        pub fn rb_init(base: *mut c_void, slot_len: u64, slots: u64);
        pub fn rb_attach(
            base: *mut c_void,
            len: u64,
            slot_len: u64,
            slots: u64,
            frame_len: u64,
            flags: c_int,
        ) -> *mut RbEnd;
        pub fn rb_end_free(end: *mut RbEnd);
        pub fn rb_produce(end: *mut RbEnd, n: u64, first_step: i64) -> u64;
        pub fn rb_unreleased(end: *mut RbEnd) -> u64;
        pub fn rb_head_bad(end: *const RbEnd) -> c_int;
        pub fn rb_consume(end: *mut RbEnd, max: u64, steps: *mut i64, done: *mut u64) -> c_int;
    }
}

/// The ring's shape for one record shape: each end's private authority.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    slot_len: u64,
    slots: u64,
    /// Bytes of each record (a multiple of 8: the C side writes u64 words).
    frame_len: u64,
}

impl Geometry {
    fn of(shape: RecordShape) -> Self {
        let slot_len = scalar_frame::slot_len(shape);
        Self {
            slot_len: slot_len as u64,
            slots: (DATA_BYTES / slot_len) as u64,
            frame_len: scalar_frame::frame_len(shape) as u64,
        }
    }

    /// Bytes of the whole mapping.
    fn bytes(self) -> usize {
        ffi::rb_ring_bytes(self.slot_len, self.slots) as usize
    }
}

/// A fresh base name for the rings of one run (`/` plus at most 30 bytes).
fn fresh_name() -> String {
    format!("/rlb-rb-{}-{:x}", std::process::id(), monotonic_ns() & 0xffff_ffff)
}

/// The shared memory object of producer `rank`'s ring under the announced `base` name.
///
/// # Examples
/// ```
/// assert_eq!(ringlog_benches::raw_batched::ring_name("/rlb-rb-1-2", 3), "/rlb-rb-1-2-3");
/// ```
pub fn ring_name(base: &str, rank: u32) -> String {
    format!("{base}-{rank}")
}

/// Creates, sizes and initializes the shared memory object `name`; fails if it exists.
fn create(name: &str, geometry: Geometry) -> BenchResult<MmapRaw> {
    let fd =
        shm::open(name, shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR, FileMode::RUSR | FileMode::WUSR)
            .map_err(|e| format!("raw-batched: shm_open {name}: {e}"))?;
    let total = geometry.bytes();
    let built = (|| -> BenchResult<MmapRaw> {
        rustix::fs::ftruncate(&fd, total as u64).map_err(|e| format!("raw-batched: ftruncate: {e}"))?;
        rustix::fs::fallocate(&fd, rustix::fs::FallocateFlags::empty(), 0, total as u64)
            .map_err(|e| format!("raw-batched: fallocate {total} B in /dev/shm: {e}"))?;
        let map = MmapOptions::new().len(total).map_raw(&File::from(fd))?;
        // SAFETY: the mapping is `total` bytes, page-aligned and zeroed, and no
        // other process knows its name yet, so nothing races the header writes.
        unsafe { ffi::rb_init(map.as_mut_ptr().cast::<c_void>(), geometry.slot_len, geometry.slots) };
        Ok(map)
    })();
    if built.is_err() {
        let _ = shm::unlink(name);
    }
    built
}

/// Maps the existing ring `name` (all of it; `rb_attach` checks the size).
fn open(name: &str) -> BenchResult<MmapRaw> {
    let fd =
        shm::open(name, shm::OFlags::RDWR, FileMode::empty()).map_err(|e| format!("raw-batched: open {name}: {e}"))?;
    let size = rustix::fs::fstat(&fd)?.st_size as usize;
    Ok(MmapOptions::new().len(size).map_raw(&File::from(fd))?)
}

/// One attached end of a ring: the C state and the mapping it points into.
struct End {
    /// The C `struct rb_end` from `rb_attach`, freed on drop.
    end: NonNull<ffi::RbEnd>,
    /// Keeps the header and slots mapped while `end` points into them.
    _map: MmapRaw,
}

impl End {
    /// Attaches to the ring in `map`, which must have `geometry`.
    ///
    /// # Safety
    /// The ring has at most one end attached as producer and one as consumer,
    /// in all processes together, and only they write it.
    unsafe fn attach(map: MmapRaw, geometry: Geometry, flags: c_int) -> BenchResult<Self> {
        let Geometry { slot_len, slots, frame_len } = geometry;
        // SAFETY: `map` is a live mapping of `map.len()` bytes (rb_attach checks
        // that the ring fits in them, and the magic word before reading the rest).
        let end = unsafe {
            ffi::rb_attach(map.as_mut_ptr().cast::<c_void>(), map.len() as u64, slot_len, slots, frame_len, flags)
        };
        let end = NonNull::new(end).ok_or_else(|| {
            format!(
                "raw-batched: cannot attach: the ring is not initialized, not {slots} slots of {slot_len} B \
                 in {} B, or out of memory",
                map.len()
            )
        })?;
        Ok(Self { end, _map: map })
    }
}

impl Drop for End {
    fn drop(&mut self) {
        // SAFETY: `end` came from rb_attach and is freed only here.
        unsafe { ffi::rb_end_free(self.end.as_ptr()) };
    }
}

/// The producer end.
struct RingProducer(End);

impl RingProducer {
    /// Writes up to `n` records (steps `first_step`, `first_step + 1`, ...);
    /// returns how many fitted.
    #[inline]
    fn produce(&mut self, n: u64, first_step: i64) -> u64 {
        // SAFETY: a live end (`End` owns it and its mapping); `&mut self` keeps
        // calls on it one at a time; it is the ring's only producer (`End::attach`).
        unsafe { ffi::rb_produce(self.0.end.as_ptr(), n, first_step) }
    }

    /// Records published and not yet released by the consumer.
    ///
    /// # Errors
    /// If the consumer's head in shared memory is out of range.
    fn unreleased(&mut self) -> BenchResult<u64> {
        // SAFETY: as in `produce`.
        let n = unsafe { ffi::rb_unreleased(self.0.end.as_ptr()) };
        self.check_head()?;
        Ok(n)
    }

    /// Fails once the C side has seen the consumer's head out of range.
    fn check_head(&self) -> BenchResult<()> {
        // SAFETY: a live end (`End` owns it); the call only reads its private flag.
        if unsafe { ffi::rb_head_bad(self.0.end.as_ptr()) } != 0 {
            return Err("raw-batched producer: the consumer's head in shared memory is out of range".into());
        }
        Ok(())
    }

    /// Sends `n` records, retrying while the ring is full.
    ///
    /// # Errors
    /// When the consumer releases nothing for the idle timeout.
    fn send(&mut self, watch: &mut IdleWatch, n: u64, first_step: i64) -> BenchResult<()> {
        let mut sent = 0;
        while sent < n {
            let k = self.produce(n - sent, first_step + sent as i64);
            self.check_head()?;
            if k == 0 {
                watch.idle()?;
                std::hint::spin_loop();
            } else {
                watch.progress();
                sent += k;
            }
        }
        Ok(())
    }
}

/// The consumer end.
struct RingConsumer(End);

impl RingConsumer {
    /// Checks up to `max` published records, storing their steps in `steps`
    /// if given (it must hold `max`); returns how many were good, or why
    /// record `count_before + k` was not.
    #[inline]
    fn consume(&mut self, max: u64, steps: Option<&mut [i64]>) -> Result<u64, (u64, c_int)> {
        let steps = match steps {
            Some(s) => {
                assert!(s.len() as u64 >= max, "room for {max} steps");
                s.as_mut_ptr()
            }
            None => std::ptr::null_mut(),
        };
        let mut done = 0u64;
        // SAFETY: a live end, its only consumer (`End::attach`), one call at a
        // time (`&mut self`); `steps` is null or holds `max` private i64s; `done`
        // is a private u64.
        let code = unsafe { ffi::rb_consume(self.0.end.as_ptr(), max, steps, &mut done) };
        if code == 0 { Ok(done) } else { Err((done, code)) }
    }
}

/// What `rb_consume`'s result `code` means.
fn problem(code: c_int) -> &'static str {
    match code {
        ffi::BAD_SEQ => "wrong sequence number",
        ffi::BAD_STEP => "step out of order",
        ffi::BAD_VALUE => "wrong value word",
        ffi::BAD_TAIL => "published tail out of range",
        _ => "unknown problem",
    }
}

/// Consumer side: creates one ring per producer, calls `ready` with their
/// base name, drains and checks the case's records in place, unlinks the rings.
///
/// # Errors
/// Ring setup errors, a bad record, or no record for the idle timeout.
///
/// # Examples
/// Both sides in one process (`compare` runs them in separate ones), two producers:
/// ```
/// use ringlog_benches::{Case, Mode, RecordShape, Transport, raw_batched};
/// let case = Case {
///     transport: Transport::RawBatched,
///     record: RecordShape::Scalar8,
///     mode: Mode::Throughput,
///     records: 1_001,
///     warmup: 0,
///     pace_ns: 0,
///     producers: 2,
/// };
/// let mut senders = Vec::new();
/// let received = raw_batched::consumer(&case, |name| {
///     for rank in 0..2 {
///         let name = name.to_owned();
///         senders.push(std::thread::spawn(move || raw_batched::producer(&case, &name, rank)));
///     }
///     Ok(())
/// })?;
/// let sent: Vec<u64> = senders.into_iter().map(|s| s.join().unwrap().map(|p| p.records)).collect::<Result<_, _>>()?;
/// assert_eq!((received.records, sent), (1_001, vec![501, 500]));
/// # Ok::<(), ringlog_benches::BenchError>(())
/// ```
pub fn consumer(case: &Case, ready: impl FnOnce(&str) -> BenchResult<()>) -> BenchResult<ConsumerOutcome> {
    let base = fresh_name();
    let geometry = Geometry::of(case.record);
    let flags = if case.mode.is_latency() { ffi::STEPS_STAMPED } else { 0 };
    let mut names = Vec::new();
    let rings = (0..case.producers.max(1))
        .map(|rank| {
            let name = ring_name(&base, rank);
            let map = create(&name, geometry)?;
            names.push(name);
            // SAFETY: this is the ring's only consumer: the ring was just
            // created under a fresh name, which only `ready` hands to the
            // producers, and producer `rank` alone attaches to it.
            unsafe { End::attach(map, geometry, flags) }.map(RingConsumer)
        })
        .collect::<BenchResult<Vec<_>>>();
    let result = rings.and_then(|rings| ready(&base).and_then(|()| drain(rings, case)));
    // Unlink every ring, even after a failure, and report the first failure.
    let unlink_failed = names
        .iter()
        .filter_map(|name| shm::unlink(name.as_str()).err().map(|e| format!("raw-batched: unlink {name}: {e}")))
        .collect::<Vec<_>>();
    let outcome = result?;
    match unlink_failed.into_iter().next() {
        Some(e) => Err(e.into()),
        None => Ok(outcome),
    }
}

/// One ring being drained: its consumer end and what it still owes.
struct Drained {
    ring: RingConsumer,
    /// Records this ring's producer sends in all (warm-up included).
    total: u64,
    /// Records taken from it so far.
    seen: u64,
}

fn drain(rings: Vec<RingConsumer>, case: &Case) -> BenchResult<ConsumerOutcome> {
    let per_record = case.transport == Transport::RawPerRecord;
    let who = if per_record { "raw-per-record" } else { "raw-batched" };
    let latency_mode = case.mode.is_latency();
    let mut latency = latency_mode.then(LatencyRecorder::new);
    let mut steps = vec![0i64; if latency_mode { CONSUME_CHUNK } else { 0 }];
    let mut watch = IdleWatch::spinning(if per_record { "raw-per-record consumer" } else { "raw-batched consumer" });
    // One ring alone is drained in whole chunks; several take turns.
    let turn = if rings.len() == 1 { CONSUME_CHUNK as u64 } else { RR_CHUNK };
    let mut rings: Vec<Drained> = (0u32..)
        .zip(rings)
        .map(|(rank, ring)| Drained { ring, total: case.warmup + case.producer_share(rank), seen: 0 })
        .collect();
    let warmup_total = case.warmup * rings.len() as u64;
    let (mut open, mut start_cpu) = (rings.iter().filter(|r| r.seen < r.total).count(), None);
    while open > 0 {
        let mut moved = 0;
        for (rank, r) in rings.iter_mut().enumerate().filter(|(_, r)| r.seen < r.total) {
            let max = (r.total - r.seen).min(turn);
            let n = r.ring.consume(max, latency_mode.then_some(&mut steps[..])).map_err(|(k, code)| {
                format!("{who} consumer: ring {rank}: record {}: {}", r.seen + k, problem(code))
            })?;
            if n == 0 {
                continue;
            }
            if let Some(l) = latency.as_mut() {
                let now = monotonic_ns();
                for (k, &step) in steps[..n as usize].iter().enumerate() {
                    if r.seen + k as u64 >= case.warmup {
                        l.record(now.saturating_sub(step as u64));
                    }
                }
            }
            r.seen += n;
            moved += n;
            if r.seen == r.total {
                open -= 1;
            }
        }
        if moved == 0 {
            watch.idle()?;
            std::hint::spin_loop();
            continue;
        }
        watch.progress();
        start_cpu.get_or_insert_with(thread_cpu_ns);
    }
    let seen: u64 = rings.iter().map(|r| r.seen).sum();
    let records = seen - warmup_total;
    Ok(ConsumerOutcome {
        records,
        bytes: records * scalar_frame::frame_len(case.record) as u64,
        end_ns: monotonic_ns(),
        latency: latency.map(|l| l.summary()),
        cpu_ns: thread_cpu_ns().saturating_sub(start_cpu.unwrap_or(0)),
        producer: None,
    })
}

/// Producer side: opens its ring under the base name `endpoint`
/// ([`ring_name`]) and writes producer `rank`'s share of the case's records
/// in place, publishing per 64 records (`raw-batched`) or per record
/// (`raw-per-record`). See [`consumer`] for an example.
///
/// # Errors
/// Ring errors, or a consumer that releases nothing for the idle timeout.
pub fn producer(case: &Case, endpoint: &str, rank: u32) -> BenchResult<ProducerOutcome> {
    if rank >= case.producers.max(1) {
        return Err(format!("raw-batched producer: rank {rank} of {} producers", case.producers).into());
    }
    let per_record = case.transport == Transport::RawPerRecord;
    let flags = if per_record { ffi::PUBLISH_EACH } else { 0 };
    let mine = case.producer_share(rank);
    let map = open(&ring_name(endpoint, rank))?;
    // SAFETY: the ring's only producer: `compare` starts one producer per
    // rank, and each rank has a ring of its own.
    let mut ring = RingProducer(unsafe { End::attach(map, Geometry::of(case.record), flags) }?);
    let mut watch = IdleWatch::spinning(if per_record { "raw-per-record producer" } else { "raw-batched producer" });
    for i in 0..case.warmup {
        ring.send(&mut watch, 1, case.warmup_step(i))?;
    }
    // Start measuring from an empty ring, not behind a backlog of warm-up records.
    while ring.unreleased()? > 0 {
        watch.idle()?;
        std::hint::spin_loop();
    }
    watch.progress();
    // Every producer of the run is set up: start together.
    crate::outcome::start_barrier()?;
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    match case.mode {
        Mode::Throughput => ring.send(&mut watch, mine, case.warmup as i64)?,
        Mode::Latency | Mode::Parked => {
            let mut pacer = Pacer::new(case.pace_ns);
            for _ in 0..mine {
                let stamp = pacer.wait();
                ring.send(&mut watch, 1, stamp as i64)?;
            }
        }
    }
    Ok(ProducerOutcome::finished(start_ns, start_cpu, mine))
}

/// Removes the rings a failed run may have left behind under the base name
/// `endpoint`: `<endpoint>-0`, `<endpoint>-1`, ... up to the first that is
/// missing (the consumer creates them in rank order).
///
/// # Examples
/// ```
/// ringlog_benches::raw_batched::cleanup("/rlb-rb-no-such-ring"); // nothing there: nothing to do
/// ```
pub fn cleanup(endpoint: &str) {
    for rank in 0u32.. {
        if shm::unlink(ring_name(endpoint, rank).as_str()).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A created ring with both ends attached (test names are unique per test).
    fn pair(test: &str, shape: RecordShape, flags: c_int) -> (RingProducer, RingConsumer, MmapRaw) {
        let name = format!("/rlb-rbt-{}-{test}", std::process::id());
        let geometry = Geometry::of(shape);
        let created = create(&name, geometry).unwrap();
        let spare = open(&name).unwrap();
        // SAFETY: one producer and one consumer on a ring private to this test.
        let (producer, consumer) = unsafe {
            (
                RingProducer(End::attach(open(&name).unwrap(), geometry, flags & ffi::PUBLISH_EACH).unwrap()),
                RingConsumer(End::attach(created, geometry, flags & ffi::STEPS_STAMPED).unwrap()),
            )
        };
        shm::unlink(&name).unwrap();
        (producer, consumer, spare)
    }

    /// Sends `total` records in rounds of `round`, draining each round.
    fn round_trip(shape: RecordShape, flags: c_int, total: u64, round: u64) {
        let (mut producer, mut consumer, _map) = pair(&format!("{shape:?}-{flags}"), shape, flags);
        let mut steps = vec![0i64; CONSUME_CHUNK];
        let (mut sent, mut got) = (0u64, 0u64);
        while got < total {
            sent += producer.produce(round.min(total - sent), sent as i64);
            loop {
                let n = consumer.consume(CONSUME_CHUNK as u64, Some(&mut steps)).unwrap();
                assert!(steps[..n as usize].iter().enumerate().all(|(k, &s)| s == (got + k as u64) as i64));
                got += n;
                if n == 0 {
                    break;
                }
            }
            assert_eq!(got, sent, "everything published was read");
        }
        assert_eq!(producer.unreleased().unwrap(), 0, "an empty poll releases the rest");
    }

    #[test]
    fn wraps_many_times() {
        for shape in RecordShape::ALL {
            let slots = Geometry::of(shape).slots;
            for flags in [0, ffi::PUBLISH_EACH] {
                round_trip(shape, flags, slots * 5 + 7, slots * 2 / 3);
            }
        }
    }

    /// The head and tail in shared memory are checked before use: a scribbled
    /// counter is an error on the side that reads it, never an overwrite or a
    /// read of unwritten slots.
    #[test]
    fn out_of_range_counters_are_refused() {
        let shape = RecordShape::Scalar1;
        let slots = Geometry::of(shape).slots;
        let (mut producer, mut consumer, map) = pair("bad-tail", shape, 0);
        assert_eq!(producer.produce(10, 0), 10);
        // SAFETY: the tail word lies 128 bytes into the live mapping, u64-aligned;
        // nothing else touches it during this write (both ends are idle here).
        unsafe { map.as_mut_ptr().add(128).cast::<u64>().write(10 + slots + 1) };
        assert_eq!(consumer.consume(5, None), Err((0, ffi::BAD_TAIL)));

        let (mut producer, _consumer, map) = pair("bad-head", shape, 0);
        assert_eq!(producer.produce(slots, 0), slots, "the ring is full");
        // SAFETY: the head word is at offset 0 of the live mapping, as above.
        unsafe { map.as_mut_ptr().cast::<u64>().write(slots + 5) };
        assert_eq!(producer.produce(1, 0), 0);
        assert!(producer.check_head().is_err(), "a head ahead of the tail is refused");
        assert!(producer.unreleased().is_err());
    }

    #[test]
    fn full_ring_stops_the_producer() {
        let (mut producer, mut consumer, _map) = pair("full", RecordShape::F32x1024, 0);
        let slots = Geometry::of(RecordShape::F32x1024).slots;
        assert_eq!(producer.produce(slots + 10, 0), slots);
        assert_eq!(producer.produce(1, 0), 0);
        assert_eq!(consumer.consume(100, None), Ok(100));
        assert_eq!(producer.produce(10, slots as i64), 10);
    }

    #[test]
    fn bad_records_are_rejected() {
        let shape = RecordShape::Scalar8;
        let (mut producer, mut consumer, map) = pair("bad", shape, 0);
        assert_eq!(producer.produce(3, 0), 3);
        let g = Geometry::of(shape);
        let word = |record: u64, i: u64| ffi::rb_ring_bytes(g.slot_len, 0) + record * g.slot_len + i * 8;
        // SAFETY: a value word of record 1, inside the mapping; nothing reads it concurrently.
        unsafe { map.as_mut_ptr().add(word(1, 5) as usize).cast::<u64>().write(99) };
        assert_eq!(consumer.consume(10, None), Err((1, ffi::BAD_VALUE)));
        // SAFETY: as above; the value record 1 had.
        unsafe { map.as_mut_ptr().add(word(1, 5) as usize).cast::<u64>().write(1 + 5) };
        assert_eq!(consumer.consume(10, None), Ok(2));
        assert_eq!(producer.produce(1, 3), 1);
        let seq3 = word(3, 0) as usize;
        // SAFETY: as above: record 3's sequence number.
        unsafe { map.as_mut_ptr().add(seq3).cast::<u64>().write(4) };
        assert_eq!(consumer.consume(10, None), Err((0, ffi::BAD_SEQ)));
        // SAFETY: as above.
        unsafe { map.as_mut_ptr().add(seq3).cast::<u64>().write(3) };
        assert_eq!(consumer.consume(10, None), Ok(1));
        // A step that is not the sequence number, in a throughput ring.
        assert_eq!(producer.produce(1, 77), 1);
        assert_eq!(consumer.consume(10, None), Err((0, ffi::BAD_STEP)));
        // Stamped steps may repeat but never decrease.
        let (mut producer, mut consumer, _map) = pair("steps", shape, ffi::STEPS_STAMPED);
        producer.produce(1, 10);
        producer.produce(1, 10);
        producer.produce(1, 5);
        assert_eq!(consumer.consume(10, Some(&mut [0; 10])), Err((2, ffi::BAD_STEP)));
    }

    #[test]
    fn attach_checks_the_geometry() {
        let name = format!("/rlb-rbt-{}-geometry", std::process::id());
        let _created = create(&name, Geometry::of(RecordShape::Scalar1)).unwrap();
        let map = open(&name).unwrap();
        shm::unlink(&name).unwrap();
        // SAFETY: attaching fails before any end exists.
        let wrong = unsafe { End::attach(map, Geometry::of(RecordShape::Scalar8), 0) };
        assert!(wrong.is_err());
    }
}
