//! Producer cost per record: `log_scalar1` and `log_scalars` (claim, write in
//! place, commit) against a heap lane.
//!
//! Records are logged in chunks that fit the lane; only the logging is timed.
//! Between chunks the lane is drained by a consumer on the same thread
//! (untimed), so the producer never waits for space and the figure is the
//! producer's own cost with the lane in its cache.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringlog_ring::{Batch, Consumer, FullPolicy, HeapRun, KeyId, Producer, RecordRef};

/// Ring bytes of the benchmark lane.
const LANE_BYTES: usize = 1 << 20;
/// Records logged between two drains: well under a quarter of the lane
/// (176 B x 1024 = 176 KiB for scalar8).
const CHUNK: u64 = 1024;

/// A producer and a consumer over one heap lane, with the keys interned.
struct Lane {
    producer: Producer,
    consumer: Consumer,
    batch: Batch,
    keys: [KeyId; 8],
    _run: HeapRun,
}

impl Lane {
    fn new() -> Self {
        let run = HeapRun::new(LANE_BYTES, 1).expect("valid lane size");
        // `Error`: a full lane would be a bug in this bench, never a wait.
        let mut producer = run.claim(0, FullPolicy::Error).expect("fresh lane");
        let keys = std::array::from_fn(|i| producer.key(&format!("train/metric{i}")).expect("key"));
        let mut consumer = run.consumer().expect("first consumer");
        let mut batch = Batch::new(LANE_BYTES);
        assert_eq!(consumer.drain(&mut batch), 8, "the eight key definitions");
        Self { producer, consumer, batch, keys, _run: run }
    }

    /// Drains everything logged so far; returns the number of frames.
    fn drain(&mut self) -> usize {
        let n = self.consumer.drain(&mut self.batch);
        assert!(self.batch.errors().is_empty(), "rejected frames: {:?}", self.batch.errors());
        n
    }

    fn items(&self, step: i64) -> [(KeyId, f64); 8] {
        std::array::from_fn(|i| (self.keys[i], step as f64 + i as f64))
    }
}

/// Logs and drains a few records, checking what the consumer reads back.
fn assert_correct(lane: &mut Lane) {
    for step in 0..10 {
        assert_eq!(
            lane.producer.log_scalar1(step, lane.keys[0], step as f64 * 0.5).expect("log_scalar1"),
            ringlog_ring::Logged::Written
        );
        let items = lane.items(step);
        assert_eq!(lane.producer.log_scalars(step, &items).expect("log_scalars"), ringlog_ring::Logged::Written);
    }
    assert_eq!(lane.drain(), 20);
    for (i, frame) in lane.batch.frames().enumerate() {
        let step = (i / 2) as i64;
        match frame.record() {
            RecordRef::Scalar1(s) => {
                assert_eq!((s.step.to_native(), s.value.to_native()), (step, step as f64 * 0.5));
                assert_eq!(s.key.to_native(), lane.keys[0].0);
            }
            RecordRef::Scalars(s) => {
                assert_eq!(s.step.to_native(), step);
                assert_eq!(s.items.len(), 8);
                assert_eq!(s.items[7].value.to_native(), step as f64 + 7.0);
            }
            other => panic!("unexpected record {other:?}"),
        }
    }
}

/// Times `iters` records logged by `log`, in chunks with untimed drains between.
fn timed(lane: &mut Lane, iters: u64, mut log: impl FnMut(&mut Lane, i64)) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let start = Instant::now();
        for i in done..done + n {
            log(lane, i as i64);
        }
        total += start.elapsed();
        assert_eq!(lane.drain() as u64, n);
        done += n;
    }
    total
}

fn producer(c: &mut Criterion) {
    let mut lane = Lane::new();
    assert_correct(&mut lane);

    let mut group = c.benchmark_group("producer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("log_scalar1", |b| {
        b.iter_custom(|iters| {
            timed(&mut lane, iters, |l, step| {
                let ok = l.producer.log_scalar1(black_box(step), l.keys[0], black_box(0.5));
                debug_assert!(matches!(ok, Ok(ringlog_ring::Logged::Written)));
                black_box(ok).ok();
            })
        })
    });
    group.bench_function("log_scalars_8", |b| {
        b.iter_custom(|iters| {
            timed(&mut lane, iters, |l, step| {
                let items = l.items(black_box(step));
                let ok = l.producer.log_scalars(step, &items);
                debug_assert!(matches!(ok, Ok(ringlog_ring::Logged::Written)));
                black_box(ok).ok();
            })
        })
    });
    group.finish();
}

/// The clocks a producer could stamp records with (ADR 7): what one read costs.
///
/// - `realtime_coarse`: what ringlog reads today (vDSO, tick resolution);
/// - `realtime` and `monotonic`: the precise vDSO clocks;
/// - `rdtsc`: the raw counter, before any conversion to wall time;
/// - `rdtsc_to_unix`: the counter converted with a calibration taken once
///   (a multiply and a shift): what a calibrated-TSC clock would cost.
fn clocks(c: &mut Criterion) {
    use ringlog_ring::clock;
    let mut group = c.benchmark_group("clock");
    group.throughput(Throughput::Elements(1));
    group.bench_function("realtime_coarse", |b| b.iter(|| black_box(clock::now_unix_ns())));
    group.bench_function("monotonic", |b| b.iter(|| black_box(clock::monotonic_ns())));
    group.bench_function("realtime", |b| {
        b.iter(|| black_box(rustix::time::clock_gettime(rustix::time::ClockId::Realtime)))
    });
    #[cfg(target_arch = "x86_64")]
    {
        let tsc = Tsc::calibrate();
        // The converted clock must tell the time before its cost means anything.
        let (ours, wall) = (tsc.unix_ns(), Tsc::realtime_ns());
        assert!(ours.abs_diff(wall) < 1_000_000, "calibrated TSC is {} ns off CLOCK_REALTIME", ours.abs_diff(wall));
        group.bench_function("rdtsc", |b| b.iter(|| black_box(Tsc::read())));
        group.bench_function("rdtsc_to_unix", |b| b.iter(|| black_box(tsc.unix_ns())));
    }
    group.finish();
}

/// A TSC-based wall clock, calibrated once against `CLOCK_REALTIME` (bench only).
#[cfg(target_arch = "x86_64")]
struct Tsc {
    base_tsc: u64,
    base_ns: u64,
    /// Nanoseconds per tick, as a 32.32 fixed-point factor.
    mult: u64,
}

#[cfg(target_arch = "x86_64")]
impl Tsc {
    fn read() -> u64 {
        // SAFETY: RDTSC has no preconditions on x86_64 (every x86_64 CPU has it).
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    fn realtime_ns() -> u64 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }

    fn calibrate() -> Self {
        let (t0, n0) = (Self::read(), Self::realtime_ns());
        std::thread::sleep(Duration::from_millis(20));
        let (t1, n1) = (Self::read(), Self::realtime_ns());
        let mult = (u128::from(n1.saturating_sub(n0)) << 32) / u128::from(t1.saturating_sub(t0).max(1));
        Self { base_tsc: t1, base_ns: n1, mult: mult as u64 }
    }

    fn unix_ns(&self) -> u64 {
        let ticks = Self::read().wrapping_sub(self.base_tsc);
        self.base_ns + ((u128::from(ticks) * u128::from(self.mult)) >> 32) as u64
    }
}

criterion_group!(benches, producer, clocks);
criterion_main!(benches);
