//! Loom model of the parked-flag wakeup (the Dekker pattern in `wakeup.rs`).
//!
//! The property: after a producer publishes and runs `notify`, and the consumer
//! announces itself and re-checks, either the consumer's re-check saw the data
//! or the producer decided to wake it. If both miss, the consumer would sleep
//! on data that is already there: a lost wakeup.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p ringlog-ring --test loom_wakeup --target-dir target/loom`
//!
//! Mutation tried: removing the `fence(SeqCst)` from either `announce` or
//! `should_wake` in core/ring/src/ring/wakeup.rs makes `no_lost_wakeup` fail (loom finds
//! the store-buffering execution where both loads read the old values).
#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU32, Ordering};

#[test]
fn no_lost_wakeup() {
    loom::model(|| {
        let data = Arc::new(AtomicU32::new(0));
        let parked = Arc::new(AtomicU32::new(0));
        let (d, p) = (data.clone(), parked.clone());
        let producer = loom::thread::spawn(move || {
            // The commit: a Release store, as in Producer::publish.
            d.store(1, Ordering::Release);
            ringlog_ring::ring::wakeup::notify_would_wake(&p)
        });
        let saw = ringlog_ring::ring::wakeup::park_announce(&parked, || data.load(Ordering::Acquire) == 1);
        let woke = producer.join().unwrap();
        assert!(saw || woke, "lost wakeup: consumer missed the data and producer did not wake it");
    });
}
