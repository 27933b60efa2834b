//! Futex-based parking shared by the consumer (waiting for data) and blocked
//! producers (waiting for space).
//!
//! Both use one protocol around a shared `u32` word (the Dekker pattern):
//!
//! ```text
//! waiter                                  notifier
//! word.store(1, Relaxed)                  <publish: Release store>
//! fence(SeqCst)      ── SYNC POINT: park ── fence(SeqCst)
//! re-check condition (Acquire loads)      if word.load(Relaxed) != 0 { wake }
//! futex_wait(word, 1, timeout)
//! ```
//! The two SeqCst fences order each side's store before its following load, so
//! at least one side sees the other: either the waiter's re-check sees the
//! published data, or the notifier sees `word == 1` and wakes. Release/Acquire
//! alone allows both loads to miss (store buffering) and loses the wakeup.
//! `futex_wait` only sleeps while the word is still 1, so a wake that lands
//! between the re-check and the syscall is not lost either.
//!
//! The futex is shared (no `FUTEX_PRIVATE_FLAG`), so it works across processes
//! on a word in a `MAP_SHARED` mapping.
//!
//! **The producer's per-record notify is asymmetric (ADR 5).** A producer
//! notifies after every record, and its fence cost it a store-buffer drain
//! each time; the consumer parks at most a few times a second. So where the
//! kernel offers `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, the producer's
//! process registers for it at claim time and its notify keeps only a
//! compiler fence ([`notify_light`]); the consumer, after announcing, runs
//! the membarrier ([`heavy_barrier`]), which executes a full barrier on every
//! CPU that runs a thread of a registered process:
//!
//! ```text
//! consumer (waiter)                        producer (light notifier)
//! word.store(1, Relaxed)                   commit.store(.., Release)
//! fence(SeqCst); membarrier()  ── SYNC POINT: park ── compiler_fence(SeqCst)
//! re-check commit words (Acquire)          if word.load(Relaxed) != 0 { wake }
//! ```
//! The barrier lands on the producer's CPU at one point of its program: a
//! commit before that point is visible to the re-check that follows the
//! membarrier; a commit after it is followed by a load of `word` that comes
//! after the point too, and so sees the 1 stored before the membarrier
//! started. A consumer whose membarrier fails (a kernel or seccomp policy
//! without it) bounds its sleep to 1 ms instead: a wake can then be late by
//! that much, never lost.

use std::time::Duration;

use crate::ring::sync::{AtomicU32, Ordering, compiler_fence, fence};

/// Sleeps while `*word == expected`, at most `timeout`. Spurious returns are fine.
#[cfg(not(any(loom, miri)))]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    use rustix::thread::futex;
    let ts = rustix::time::Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    // EAGAIN (value changed), EINTR and ETIMEDOUT all mean "re-check".
    let _ = futex::wait(word, futex::Flags::empty(), expected, Some(&ts));
}

/// Wakes up to `n` waiters on `word`.
#[cfg(not(any(loom, miri)))]
fn futex_wake(word: &AtomicU32, n: u32) {
    let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), n);
}

/// Under miri there is no futex: a yield is a spurious wakeup, which every
/// caller tolerates (each re-checks its condition and its deadline). Miri
/// checks the ring logic around the wait, not the kernel.
#[cfg(all(miri, not(loom)))]
fn futex_wait(_word: &AtomicU32, _expected: u32, _timeout: Duration) {
    std::thread::yield_now();
}

#[cfg(all(miri, not(loom)))]
fn futex_wake(_word: &AtomicU32, _n: u32) {}

#[cfg(all(miri, not(loom)))]
fn futex_waitv(_words: &[&AtomicU32], _timeout: Duration) {
    std::thread::yield_now();
}

#[cfg(loom)]
fn futex_wait(_word: &AtomicU32, _expected: u32, _timeout: Duration) {
    // Loom cannot block on a futex; a spurious return is always allowed.
    loom::thread::yield_now();
}

#[cfg(loom)]
fn futex_wake(_word: &AtomicU32, _n: u32) {}

/// Most words one `futex_waitv` call takes (the kernel's limit).
pub const MAX_WAIT_WORDS: usize = 128;

/// Sleeps until any of `words` is woken or no longer 1, at most `timeout`.
#[cfg(not(any(loom, miri)))]
fn futex_waitv(words: &[&AtomicU32], timeout: Duration) {
    use rustix::thread::futex::{Wait, WaitFlags, WaitPtr, WaitvFlags};
    let mut waits = [Wait::new(); MAX_WAIT_WORDS];
    let n = words.len().min(MAX_WAIT_WORDS);
    for (w, word) in waits.iter_mut().zip(words) {
        w.val = 1;
        w.uaddr = WaitPtr::new(word.as_ptr().cast());
        // Shared (no FUTEX2_PRIVATE): the words are in MAP_SHARED memory.
        w.flags = WaitFlags::SIZE_U32;
    }
    // futex_waitv takes an absolute deadline.
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let total = Duration::new(now.tv_sec as u64, now.tv_nsec as u32) + timeout;
    let deadline = rustix::time::Timespec {
        tv_sec: i64::try_from(total.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(total.subsec_nanos()),
    };
    // EAGAIN (a word changed), EINTR and ETIMEDOUT all mean "re-check";
    // ENOSYS (Linux < 5.16) degrades to a sleep, bounded by the timeout.
    if let Err(rustix::io::Errno::NOSYS) = rustix::thread::futex::waitv(
        &waits[..n],
        WaitvFlags::empty(),
        Some(&deadline),
        rustix::thread::futex::ClockId::Monotonic,
    ) {
        std::thread::sleep(timeout.min(Duration::from_millis(1)));
    }
}

#[cfg(loom)]
fn futex_waitv(words: &[&AtomicU32], _timeout: Duration) {
    // Sleep while every word still reads 1, as the kernel does, but without
    // the timeout: a lost wakeup then shows as a model that never finishes,
    // which loom reports.
    while words.iter().all(|w| w.load(Ordering::Relaxed) == 1) {
        loom::thread::yield_now();
    }
}

/// Registers this process for the consumers' heavy barrier, so its
/// producers may notify with [`notify_light`]. Returns whether they may.
/// Idempotent; one system call (a producer calls it when it claims a lane).
#[cfg(not(any(loom, miri)))]
pub(crate) fn register_light_notifier() -> bool {
    use rustix::thread::{MembarrierCommand, membarrier};
    membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok()
}

/// Loom and miri model the fences only: notifiers keep theirs.
#[cfg(any(loom, miri))]
pub(crate) fn register_light_notifier() -> bool {
    false
}

/// The waiter's side of the asymmetric pair: a full barrier on every CPU
/// running a thread of a registered process. `false` if the kernel refused.
#[cfg(not(any(loom, miri)))]
fn heavy_barrier() -> bool {
    use rustix::thread::{MembarrierCommand, membarrier};
    membarrier(MembarrierCommand::GlobalExpedited).is_ok()
}

#[cfg(any(loom, miri))]
fn heavy_barrier() -> bool {
    true
}

/// Longest sleep of a consumer whose heavy barrier failed: a light notifier's
/// wake may be missed, so the consumer looks again this soon.
pub const UNBARRIERED_WAIT: Duration = Duration::from_millis(1);

/// The waiter's half over several words (the consumer over its run's lanes):
/// announce on every word, one fence and the heavy barrier, re-check, sleep
/// until any is woken. Words past [`MAX_WAIT_WORDS`] are announced but not
/// waited on, so the caller bounds the timeout for them.
///
/// `light_notifiers` says, read after the fence, whether any of the words has
/// a notifier that uses [`notify_light`]; only then does the park run the
/// heavy barrier (or, refused, bound its sleep to [`UNBARRIERED_WAIT`]).
pub(crate) fn park_many(
    words: &[&AtomicU32],
    timeout: Duration,
    light_notifiers: impl Fn() -> bool,
    ready: impl Fn() -> bool,
) -> bool {
    for w in words {
        // Relaxed: the fence below orders these stores before the re-check.
        w.store(1, Ordering::Relaxed);
    }
    // SYNC POINT: park. Pairs with the fence in every notifier's `notify`,
    // with the fence a light notifier issues once after raising its flag,
    // and (the membarrier) with the compiler fence in `notify_light`.
    fence(Ordering::SeqCst);
    let timeout = if !light_notifiers() || heavy_barrier() { timeout } else { timeout.min(UNBARRIERED_WAIT) };
    let was_ready = ready();
    if !was_ready {
        futex_waitv(words, timeout);
    }
    for w in words {
        // Relaxed: as in `park`.
        w.store(0, Ordering::Relaxed);
    }
    was_ready
}

/// The waiter's half: announce, fence, re-check, sleep.
///
/// `ready` re-checks the condition with Acquire loads. Returns whether the
/// condition held at the re-check (without sleeping).
pub(crate) fn park(word: &AtomicU32, timeout: Duration, ready: impl Fn() -> bool) -> bool {
    let was_ready = announce(word, &ready);
    if !was_ready {
        futex_wait(word, 1, timeout);
    }
    // Relaxed: only our own futex_wait reads the word as a waiter; a notifier
    // that raced us may still wake, which is a harmless spurious wakeup.
    word.store(0, Ordering::Relaxed);
    was_ready
}

/// Announce (store 1), fence, re-check. Returns the re-check's answer.
#[inline]
fn announce(word: &AtomicU32, ready: &impl Fn() -> bool) -> bool {
    // Relaxed: the fence below orders this store before the re-check.
    word.store(1, Ordering::Relaxed);
    // SYNC POINT: park. Pairs with the fence in `notify`.
    fence(Ordering::SeqCst);
    ready()
}

/// The notifier's half, called after the publishing Release store.
///
/// No system call unless a waiter announced itself.
#[inline]
pub(crate) fn notify(word: &AtomicU32) {
    if should_wake(word) {
        futex_wake(word, u32::MAX);
    }
}

/// The notifier's half for a producer whose process registered
/// ([`register_light_notifier`]) and whose waiter parks with [`park_many`]:
/// no fence instruction, the waiter's heavy barrier stands in for it.
#[inline]
pub(crate) fn notify_light(word: &AtomicU32) {
    // SYNC POINT: park (asymmetric). The compiler fence keeps our publishing
    // store before the load of `word` in program order; the waiter's
    // membarrier orders them for it (see the module docs).
    compiler_fence(Ordering::SeqCst);
    // Relaxed: as in `should_wake`.
    if word.load(Ordering::Relaxed) != 0 && word.swap(0, Ordering::Relaxed) != 0 {
        futex_wake(word, u32::MAX);
    }
}

#[inline]
fn should_wake(word: &AtomicU32) -> bool {
    // SYNC POINT: park. Pairs with the fence in `announce`: orders our
    // publishing store before the load of `word`.
    fence(Ordering::SeqCst);
    // Relaxed: the fence provides the ordering; the swap (an RMW off the hot
    // path, taken only when a waiter is announced) lets one notifier issue the
    // syscall instead of every producer that sees the flag.
    word.load(Ordering::Relaxed) != 0 && word.swap(0, Ordering::Relaxed) != 0
}

/// Loom entry to the notifier's decision: would `notify` wake?
#[cfg(loom)]
pub fn notify_would_wake(word: &AtomicU32) -> bool {
    should_wake(word)
}

/// Loom entry to the waiter's announce-and-re-check, without sleeping or
/// clearing the word: returns whether the re-check saw the condition.
#[cfg(loom)]
pub fn park_announce(word: &AtomicU32, ready: impl Fn() -> bool) -> bool {
    announce(word, &ready)
}

#[cfg(all(test, not(any(loom, miri))))]
mod tests {
    use super::*;

    /// Producers take the light notify exactly where the kernel offers the
    /// consumer's heavy barrier (fails if registration is skipped or its
    /// result ignored).
    #[test]
    fn producers_notify_light_where_the_kernel_has_the_heavy_barrier() {
        use rustix::thread::{MembarrierQuery, membarrier_query};
        let offered =
            membarrier_query().contains(MembarrierQuery::GLOBAL_EXPEDITED | MembarrierQuery::REGISTER_GLOBAL_EXPEDITED);
        assert_eq!(register_light_notifier(), offered);
        if offered {
            assert!(heavy_barrier(), "registered, yet the heavy barrier is refused");
        }
    }
}
