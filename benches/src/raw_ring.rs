//! A minimal memcpy single-producer/single-consumer ring in shared memory: the
//! physical reference that ringlog is compared with.
//!
//! Fixed-size slots, two monotonically increasing slot counters (`tail`
//! written by the producer, `head` by the consumer) on separate cache lines,
//! each side keeping a cached copy of the other's counter. Nothing else: no
//! framing, no wakeup, no validation (the caller checks a private copy).
//!
//! ```text
//! offset     0: head  u64 (slots released by the consumer)
//! offset   128: tail  u64 (slots published by the producer)
//! offset   256: magic u64, slot_len u64, slots u64 (written once by the creator)
//! offset  4096: slots * slot_len bytes of slots
//! ```

// The loom shim that clippy.toml enforces exists for core's ring model; this
// benchmark ring is not part of the loom model, so it uses std atomics directly.
#![allow(clippy::disallowed_types)]

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::shm;

use crate::error::BenchResult;
use crate::idle_watch::IdleWatch;

const HEAD_OFFSET: usize = 0;
const TAIL_OFFSET: usize = 128;
const MAGIC_OFFSET: usize = 256;
const SLOT_LEN_OFFSET: usize = 264;
const SLOTS_OFFSET: usize = 272;
const DATA_OFFSET: usize = 4096;
const MAGIC: u64 = u64::from_le_bytes(*b"rawspsc1");

/// A mapped raw ring (either side).
pub struct RawRing {
    map: MmapRaw,
    slot_len: usize,
    slots: usize,
    name: String,
}

// SAFETY: the mapping is plain shared memory; all cross-thread access goes
// through the atomics in the header or through the slot protocol below.
unsafe impl Send for RawRing {}

impl RawRing {
    /// Creates a ring named `name` (`/` plus at most 30 bytes) with room for
    /// `data_bytes / slot_len` slots; fails if the name exists.
    ///
    /// # Errors
    /// Bad geometry or a system call error.
    pub fn create(name: &str, slot_len: usize, data_bytes: usize) -> BenchResult<Self> {
        let slots = data_bytes / slot_len.max(1);
        if slot_len == 0 || !slot_len.is_multiple_of(16) || slots < 2 {
            return Err(format!("raw ring: bad geometry: slot {slot_len} B, {data_bytes} B of data").into());
        }
        let fd = shm::open(name, shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR, Mode::RUSR | Mode::WUSR)
            .map_err(|e| format!("raw ring: shm_open {name}: {e}"))?;
        let total = DATA_OFFSET + slots * slot_len;
        let built = (|| -> BenchResult<Self> {
            rustix::fs::ftruncate(&fd, total as u64).map_err(|e| format!("raw ring: ftruncate: {e}"))?;
            rustix::fs::fallocate(&fd, rustix::fs::FallocateFlags::empty(), 0, total as u64)
                .map_err(|e| format!("raw ring: fallocate {total} B in /dev/shm: {e}"))?;
            let map = MmapOptions::new().len(total).map_raw(&File::from(fd))?;
            let ring = Self { map, slot_len, slots, name: name.to_owned() };
            // SAFETY: the header words lie inside the fresh mapping, 8-aligned
            // (page-aligned base), and nobody else can see them before the magic.
            unsafe {
                ring.ptr(SLOT_LEN_OFFSET).cast::<u64>().write(slot_len as u64);
                ring.ptr(SLOTS_OFFSET).cast::<u64>().write(slots as u64);
            }
            // SYNC POINT: raw ring published. Release orders the geometry writes
            // above before the magic; pairs with the Acquire load in `open`.
            ring.word(MAGIC_OFFSET).store(MAGIC, Ordering::Release);
            Ok(ring)
        })();
        if built.is_err() {
            let _ = shm::unlink(name);
        }
        built
    }

    /// Opens the ring `name` created by [`RawRing::create`].
    ///
    /// # Errors
    /// Missing or half-built ring, inconsistent geometry, or a system call error.
    pub fn open(name: &str) -> BenchResult<Self> {
        let fd =
            shm::open(name, shm::OFlags::RDWR, Mode::empty()).map_err(|e| format!("raw ring: open {name}: {e}"))?;
        let size = rustix::fs::fstat(&fd)?.st_size as usize;
        if size < DATA_OFFSET {
            return Err(format!("raw ring {name}: only {size} B").into());
        }
        let map = MmapOptions::new().len(size).map_raw(&File::from(fd))?;
        let mut ring = Self { map, slot_len: 0, slots: 0, name: name.to_owned() };
        // SYNC POINT: raw ring published. Acquire pairs with the creator's Release.
        if ring.word(MAGIC_OFFSET).load(Ordering::Acquire) != MAGIC {
            return Err(format!("raw ring {name}: not initialized").into());
        }
        // SAFETY: inside the mapping (size >= DATA_OFFSET), 8-aligned, written
        // before the magic and never again.
        let (slot_len, slots) = unsafe {
            (
                ring.ptr(SLOT_LEN_OFFSET).cast::<u64>().read() as usize,
                ring.ptr(SLOTS_OFFSET).cast::<u64>().read() as usize,
            )
        };
        if slot_len == 0 || !slot_len.is_multiple_of(16) || slots < 2 || DATA_OFFSET + slot_len * slots > size {
            return Err(format!("raw ring {name}: bad geometry {slot_len} x {slots} in {size} B").into());
        }
        (ring.slot_len, ring.slots) = (slot_len, slots);
        Ok(ring)
    }

    /// Removes the ring's name; mappings stay valid.
    ///
    /// # Errors
    /// If there is no such name.
    pub fn unlink_name(name: &str) -> BenchResult<()> {
        shm::unlink(name).map_err(|e| format!("raw ring: unlink {name}: {e}"))?;
        Ok(())
    }

    /// The name the ring was created or opened with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes per slot.
    pub fn slot_len(&self) -> usize {
        self.slot_len
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn ptr(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset < self.map.len());
        // SAFETY: offset is inside the mapping.
        unsafe { self.map.as_mut_ptr().add(offset) }
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset.is_multiple_of(8) && offset + 8 <= DATA_OFFSET);
        // SAFETY: the header words lie inside the mapping, 8-aligned (page-aligned
        // base), live as long as `self`, and every process accesses them atomically.
        unsafe { &*self.ptr(offset).cast::<AtomicU64>() }
    }

    fn slot(&self, index: usize) -> *mut u8 {
        debug_assert!(index < self.slots);
        self.ptr(DATA_OFFSET + index * self.slot_len)
    }

    /// Turns this mapping into the producer end.
    pub fn into_producer(self) -> RawProducer {
        // SYNC POINT: raw slot released (Acquire; see `RawProducer::push`).
        let cached_head = self.word(HEAD_OFFSET).load(Ordering::Acquire);
        // Relaxed: only this producer writes tail.
        let tail = self.word(TAIL_OFFSET).load(Ordering::Relaxed);
        let index = (tail % self.slots as u64) as usize;
        RawProducer { ring: self, tail, cached_head, index }
    }

    /// Turns this mapping into the consumer end.
    pub fn into_consumer(self) -> RawConsumer {
        // Relaxed: only this consumer writes head.
        let head = self.word(HEAD_OFFSET).load(Ordering::Relaxed);
        let index = (head % self.slots as u64) as usize;
        RawConsumer { ring: self, head, read: head, cached_tail: head, index }
    }
}

/// The producer end: copies one frame per slot and publishes it.
pub struct RawProducer {
    ring: RawRing,
    /// Slots published (private copy of the shared `tail`).
    tail: u64,
    /// Last loaded value of the consumer's `head`.
    cached_head: u64,
    /// `tail % slots`, kept incrementally to avoid a division per record.
    index: usize,
}

impl RawProducer {
    /// Copies `frame` into the next slot and publishes it, spinning while the
    /// ring is full.
    ///
    /// # Errors
    /// If the consumer releases nothing for longer than the idle timeout.
    #[inline]
    pub fn push(&mut self, frame: &[u8], watch: &mut IdleWatch) -> BenchResult<()> {
        debug_assert!(frame.len() <= self.ring.slot_len);
        let slots = self.ring.slots as u64;
        while self.tail - self.cached_head >= slots {
            // SYNC POINT: raw slot released. Acquire pairs with the consumer's
            // Release store of head: its copies out of those slots are done
            // before we overwrite them.
            self.cached_head = self.ring.word(HEAD_OFFSET).load(Ordering::Acquire);
            if self.tail - self.cached_head >= slots {
                watch.idle()?;
                std::hint::spin_loop();
            }
        }
        watch.progress();
        // SAFETY: slot `index` is free (tail - head < slots), inside the ring,
        // and only this producer writes it until it is published below.
        unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), self.ring.slot(self.index), frame.len()) };
        self.tail += 1;
        self.index += 1;
        if self.index == self.ring.slots {
            self.index = 0;
        }
        // SYNC POINT: raw frame published. Release orders the slot copy above
        // before the new tail; pairs with the consumer's Acquire load of tail.
        self.ring.word(TAIL_OFFSET).store(self.tail, Ordering::Release);
        Ok(())
    }
}

impl RawProducer {
    /// Waits until the consumer has released every published slot.
    ///
    /// # Errors
    /// If the consumer releases nothing for the idle timeout.
    pub fn wait_drained(&mut self, watch: &mut IdleWatch) -> BenchResult<()> {
        loop {
            // SYNC POINT: raw slot released (Acquire; see `push`).
            self.cached_head = self.ring.word(HEAD_OFFSET).load(Ordering::Acquire);
            if self.cached_head == self.tail {
                watch.progress();
                return Ok(());
            }
            watch.idle()?;
            std::hint::spin_loop();
        }
    }
}

/// The consumer end: copies published slots into a private buffer, releases
/// them once per batch.
pub struct RawConsumer {
    ring: RawRing,
    /// Slots released (private copy of the shared `head`).
    head: u64,
    /// Slots copied out so far (`>= head`).
    read: u64,
    /// Last loaded value of the producer's `tail`.
    cached_tail: u64,
    /// `read % slots`.
    index: usize,
}

impl RawConsumer {
    /// Bytes per slot.
    pub fn slot_len(&self) -> usize {
        self.ring.slot_len
    }

    /// Copies up to `out.len() / slot_len` published slots into `out`,
    /// returning how many. The slots stay owned by the consumer until
    /// [`RawConsumer::release`].
    #[inline]
    pub fn read_batch(&mut self, out: &mut [u8]) -> usize {
        let slot_len = self.ring.slot_len;
        let max = (out.len() / slot_len) as u64;
        if self.read == self.cached_tail {
            // SYNC POINT: raw frame published. Acquire pairs with the producer's
            // Release store of tail: the slots below it are fully written.
            self.cached_tail = self.ring.word(TAIL_OFFSET).load(Ordering::Acquire);
        }
        let n = (self.cached_tail - self.read).min(max) as usize;
        let first = n.min(self.ring.slots - self.index);
        // SAFETY: slots [read, read + n) are published and not yet released, so
        // the producer does not write them; `first` slots from `index` and
        // `n - first` from 0 lie inside the ring; `out` holds n slots and is
        // private memory.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ring.slot(self.index), out.as_mut_ptr(), first * slot_len);
            if n > first {
                std::ptr::copy_nonoverlapping(
                    self.ring.slot(0),
                    out.as_mut_ptr().add(first * slot_len),
                    (n - first) * slot_len,
                );
            }
        }
        self.read += n as u64;
        self.index += n;
        if self.index >= self.ring.slots {
            self.index -= self.ring.slots;
        }
        n
    }

    /// Hands every slot read so far back to the producer.
    #[inline]
    pub fn release(&mut self) {
        if self.head != self.read {
            self.head = self.read;
            // SYNC POINT: raw slot released. Release orders our copies out of
            // the slots before the new head; pairs with the producer's Acquire.
            self.ring.word(HEAD_OFFSET).store(self.head, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_wrap() {
        let name = format!("/rlb-raw-test-{}", std::process::id());
        let created = RawRing::create(&name, 16, 16 * 5).unwrap();
        let mut producer = RawRing::open(&name).unwrap().into_producer();
        RawRing::unlink_name(&name).unwrap();
        let mut consumer = created.into_consumer();
        let mut watch = IdleWatch::spinning("test");
        let mut out = [0u8; 16 * 3];
        let mut next = 0u64;
        for round in 0..10u64 {
            for k in 0..3 {
                producer.push(&(round * 3 + k).to_le_bytes(), &mut watch).unwrap();
            }
            let mut got = 0;
            while got < 3 {
                let n = consumer.read_batch(&mut out[got * 16..]);
                got += n;
            }
            for k in 0..3 {
                let v = u64::from_le_bytes(out[k * 16..k * 16 + 8].try_into().unwrap());
                assert_eq!(v, next);
                next += 1;
            }
            consumer.release();
        }
    }
}
