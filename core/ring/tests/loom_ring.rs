//! Loom model of the lane protocol: commit (Release store of the commit word)
//! against consume (Acquire load), and release of space (Release store of
//! `head` after reading) against reuse (Acquire load of `head`).
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ringlog --release --test loom_ring --target-dir target/loom`
//!
//! Mutations tried (each makes a test here fail with a loom causality error):
//! - `Producer::publish`: commit store `Release` -> `Relaxed` (both tests);
//! - `Consumer::release`: head store `Release` -> `Relaxed` (the wrap test:
//!   the producer's reuse of a slot races with the consumer's read of it);
//! - `Producer::publish`: dropping the clear of the next frame's commit word
//!   (the wrap test: the consumer reads a stale frame of the previous lap and
//!   reports a sequence gap);
//! - `Producer::refresh_head`: head load `Acquire` -> `Relaxed` (the wrap test).
#![cfg(loom)]

use ringlog_ring::{Batch, Consumer, FullPolicy, KeyId, LaneMemory, Producer, RecordRef};
use std::time::Duration;

/// Producer writes `n` scalar1 frames into a 256-byte ring (five 48-byte frames
/// fit, so n = 7 forces a wrap with a padding frame and a wait for space);
/// consumer drains concurrently and checks order and values.
fn model(n: i64) {
    loom::model(move || {
        let lane = LaneMemory::heap(256).unwrap();
        let producer_lane = lane.clone();
        let t = loom::thread::spawn(move || {
            let mut p = Producer::new(producer_lane, 0, FullPolicy::Block { timeout: Duration::from_secs(3600) });
            for step in 0..n {
                let _ = p.log_scalar1(step, KeyId(0), step as f64).unwrap();
            }
        });
        let mut c = Consumer::new();
        c.add_lane(lane, 0);
        let mut batch = Batch::new(256);
        let mut next = 0i64;
        while next < n {
            c.read_batch(&mut batch);
            assert!(batch.errors().is_empty(), "{:?}", batch.errors());
            for f in batch.frames() {
                match f.record() {
                    RecordRef::Scalar1(s) => {
                        assert_eq!(s.step, next);
                        assert_eq!(s.value, next as f64);
                        next += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            c.release();
            loom::thread::yield_now();
        }
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
