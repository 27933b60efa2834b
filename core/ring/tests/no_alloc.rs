//! The hot path does not allocate: a counting global allocator watches the
//! producer's `log_scalar1` and `log_scalars` calls (after warm-up: the first
//! key definitions may allocate, the records may not).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ringlog_ring::{Batch, FullPolicy, HeapRun};

struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates to the system allocator; the counters are thread-local
// const-initialized cells without destructors, safe to touch from the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn watched<R>(f: impl FnOnce() -> R) -> (R, u64) {
    COUNT.with(|c| c.set(0));
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, COUNT.with(Cell::get))
}

#[test]
fn logging_scalars_allocates_nothing() {
    let run = HeapRun::new(1 << 16, 1).unwrap();
    let mut p = run.claim(0, FullPolicy::default()).unwrap();
    let mut c = run.consumer().unwrap();
    let mut batch = Batch::new(1 << 16);
    let keys: Vec<_> = (0..8).map(|i| p.key(&format!("metric/{i}")).unwrap()).collect();
    let items: Vec<_> = keys.iter().map(|&k| (k, 0.0)).collect();
    assert_eq!(c.drain(&mut batch), 8, "the key definitions");
    let mut step = 0;
    for round in 0..50 {
        let ((), allocs) = watched(|| {
            for _ in 0..200 {
                step += 1;
                assert_eq!(p.log_scalar1(step, keys[0], step as f64).unwrap(), ringlog_ring::Logged::Written);
                assert_eq!(p.log_scalars(step, &items).unwrap(), ringlog_ring::Logged::Written);
            }
        });
        assert_eq!(allocs, 0, "round {round}: the producer hot path allocated");
        c.drain(&mut batch);
        assert_eq!(batch.len(), 400);
    }
}
