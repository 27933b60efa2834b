//! Loom models of the lane protocol: commit (Release store of the commit word)
//! against consume (Acquire load), release of space (Release store of `head`
//! after reading) against reuse (Acquire load of `head`), and the consumer's
//! real wait path (`has_pending`, then parking on every lane's wake word).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ringlog-ring --features test-hooks --test loom_ring --target-dir target/loom`
//!
//! Mutations tried (each makes the named tests fail):
//! - `Producer::publish`: commit store `Release` -> `Relaxed` (every model:
//!   a loom causality error on the frame's shadow cell);
//! - `Consumer::release`: head store `Release` -> `Relaxed` (the wrap models:
//!   the producer's reuse of a slot races with the consumer's read of it);
//! - `Producer::publish`: dropping the clear of the next frame's commit word
//!   (`variable_size_frames_over_old_commit_slots`: a stale commit word of the
//!   previous lap, under payload bytes, is read as a frame: sequence gap);
//! - `Producer::refresh_head`: head load `Acquire` -> `Relaxed` (the wrap models);
//! - `wakeup::park_many` or `wakeup::should_wake`: removing the SeqCst fence
//!   (`consumer_waits_through_the_real_park_path`: the consumer parks on data
//!   that is already there and the model never finishes);
//! - `Consumer::add_lane`: taking the next sequence from the stored counters
//!   instead of the frame at `head` (`adoption_after_a_partial_release`: the
//!   new consumer reports a sequence gap on a healthy lane);
//! - `Consumer::wait_or`: parking on the first lane's wake word only
//!   (`wakeup_from_any_lane`: the producer on the second lane wakes nobody);
//! - `Producer::write_padding`: not publishing the tail
//!   (`reopen_with_nonzero_control_state`: the reopened producer's position
//!   lags the consumer's head and the lane is refused as corrupt).
#![cfg(loom)]

use ringlog_ring::{Batch, Consumer, FullPolicy, HeapRun, KeyId, RecordRef};
use std::time::Duration;

const BLOCK: FullPolicy = FullPolicy::Block { timeout: Duration::from_secs(3600) };

/// The steps of every record in `batch`, checking there are no errors.
fn steps(batch: &Batch) -> Vec<i64> {
    assert!(batch.errors().is_empty(), "{:?}", batch.errors());
    batch
        .frames()
        .map(|f| match f.record() {
            RecordRef::Scalar1(s) => s.step.to_native(),
            RecordRef::Scalars(s) => s.step.to_native(),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// Drains `c` until `n` records arrived, checking order; `wait` uses the real
/// wait path between batches instead of yielding.
fn consume(c: &mut Consumer, n: i64, wait: bool) {
    let mut batch = Batch::new(256);
    let mut next = 0i64;
    while next < n {
        if wait {
            c.wait(Duration::from_secs(3600));
        }
        c.read_batch(&mut batch);
        for step in steps(&batch) {
            assert_eq!(step, next);
            next += 1;
        }
        c.release();
        if !wait {
            loom::thread::yield_now();
        }
    }
}

/// Producer writes `n` scalar1 frames into a 256-byte ring (five 48-byte frames
/// fit, so n = 7 forces a wrap with a padding frame and a wait for space);
/// consumer drains concurrently and checks order and values.
fn model(n: i64) {
    loom::model(move || {
        let run = std::sync::Arc::new(HeapRun::new(256, 1).unwrap());
        let mut p = run.claim(0, BLOCK).unwrap();
        let t = loom::thread::spawn(move || {
            for step in 0..n {
                let _ = p.log_scalar1(step, KeyId(0), step as f64).unwrap();
            }
        });
        let mut c = run.consumer().unwrap();
        consume(&mut c, n, false);
        t.join().unwrap();
    });
}

#[test]
fn commit_and_consume_in_order() {
    model(2);
}

#[test]
fn wrap_with_padding_and_wait_for_space() {
    model(7);
}

/// Frames of 48 and 80 bytes alternate, so after a wrap the producer's frames
/// start in the middle of old frames: payload bytes land on old commit slots
/// (the ADR 4 hazard), and a stale commit word would be read if the producer
/// did not clear the word after each frame.
#[test]
fn variable_size_frames_over_old_commit_slots() {
    loom::model(|| {
        // 512 bytes: an 80-byte frame fits the quarter-ring limit.
        let run = std::sync::Arc::new(HeapRun::new(512, 1).unwrap());
        let mut p = run.claim(0, BLOCK).unwrap();
        let t = loom::thread::spawn(move || {
            for step in 0..9i64 {
                if step % 2 == 0 {
                    let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
                } else {
                    let _ = p.log_scalars(step, &[(KeyId(0), 1.0), (KeyId(1), 2.0)]).unwrap();
                }
            }
        });
        let mut c = run.consumer().unwrap();
        consume(&mut c, 9, false);
        t.join().unwrap();
    });
}

/// The consumer waits through `Consumer::wait` (has_pending, announce on the
/// lane's wake word, fence, re-check, futex wait) instead of polling.
#[test]
fn consumer_waits_through_the_real_park_path() {
    loom::model(|| {
        let run = std::sync::Arc::new(HeapRun::new(256, 1).unwrap());
        let mut p = run.claim(0, BLOCK).unwrap();
        let t = loom::thread::spawn(move || {
            for step in 0..2i64 {
                let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
            }
        });
        let mut c = run.consumer().unwrap();
        consume(&mut c, 2, true);
        t.join().unwrap();
    });
}

/// A lane whose control state is not zero (a producer wrote, wrapped with a
/// padding frame, and went away) is reopened; the new producer continues
/// while the consumer drains.
#[test]
fn reopen_with_nonzero_control_state() {
    loom::model(|| {
        let run = std::sync::Arc::new(HeapRun::new(256, 1).unwrap());
        let mut c = run.consumer().unwrap();
        let mut batch = Batch::new(256);
        {
            let mut p = run.claim(0, FullPolicy::Error).unwrap();
            for step in 0..5 {
                let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
            }
            c.drain(&mut batch);
            assert_eq!(steps(&batch), vec![0, 1, 2, 3, 4]);
            // 16 bytes are left before the ring's end: the record gets a
            // padding frame, then turns out too large for the lane and is
            // refused. The padding stays committed.
            let line = "x".repeat(100);
            let big = ringlog_ring::OutputLine { ts_ns: 0, stream: ringlog_ring::Stream::Stdout, line };
            assert!(matches!(p.log(&big), Err(ringlog_ring::ProduceError::TooLarge { .. })));
            c.drain(&mut batch); // reads the padding: head moves to the ring's end
            assert!(steps(&batch).is_empty());
        }
        let run2 = run.clone();
        let t = loom::thread::spawn(move || {
            // SAFETY: the first producer was dropped above.
            let mut p = unsafe { run2.reclaim(0, BLOCK) }.unwrap();
            for step in 5..8i64 {
                let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
            }
        });
        let mut next = 5i64;
        while next < 8 {
            c.read_batch(&mut batch);
            for step in steps(&batch) {
                assert_eq!(step, next);
                next += 1;
            }
            c.release();
            loom::thread::yield_now();
        }
        t.join().unwrap();
    });
}

/// A consumer stops inside `release` after storing its counters but before
/// `head` (a service killed there); the next consumer must take its position
/// from the frames really in the ring and read on without a gap, while the
/// producer keeps writing.
#[test]
fn adoption_after_a_partial_release() {
    loom::model(|| {
        let run = std::sync::Arc::new(HeapRun::new(256, 1).unwrap());
        let mut p = run.claim(0, BLOCK).unwrap();
        for step in 0..2 {
            let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
        }
        {
            let mut c = run.consumer().unwrap();
            let mut batch = Batch::new(256);
            c.read_batch(&mut batch);
            assert_eq!(steps(&batch), vec![0, 1]);
            c.stop_inside_release();
            c.release();
        }
        let t = loom::thread::spawn(move || {
            for step in 2..4i64 {
                let _ = p.log_scalar1(step, KeyId(0), 0.0).unwrap();
            }
        });
        // SAFETY: the first consumer was dropped above.
        let mut c = unsafe { run.replace_consumer() };
        // The two unreleased frames come again (the run log drops them as
        // duplicates), then the rest, with no gap.
        let mut batch = Batch::new(256);
        let mut seen = Vec::new();
        while seen.len() < 4 {
            c.read_batch(&mut batch);
            seen.extend(steps(&batch));
            c.release();
            loom::thread::yield_now();
        }
        assert_eq!(seen, vec![0, 1, 2, 3]);
        t.join().unwrap();
    });
}

/// Two lanes, data only on the second: the consumer must be woken through it.
/// (The first design parked on the first lane's wake word only.)
#[test]
fn wakeup_from_any_lane() {
    loom::model(|| {
        let run = std::sync::Arc::new(HeapRun::new(256, 2).unwrap());
        let mut p = run.claim(1, BLOCK).unwrap();
        let t = loom::thread::spawn(move || {
            let _ = p.log_scalar1(0, KeyId(0), 0.0).unwrap();
        });
        let mut c = run.consumer().unwrap();
        consume(&mut c, 1, true);
        t.join().unwrap();
    });
}
