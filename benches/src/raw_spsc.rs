//! The `raw-spsc` transport: ringlog-shaped frames through [`crate::raw_ring`].
//!
//! The producer encodes each record's frame (the same bytes a ringlog lane
//! holds) and copies it into the ring; the consumer copies a batch of slots
//! into private memory, checks every frame there ([`scalar_frame::check`]),
//! then releases the batch: the same work as ringlog's consumer minus rkyv,
//! the wakeup protocol and the counters. One difference in strategy: in
//! throughput runs the consumer lets batches accumulate ([`BACKOFF_NS`]),
//! where ringlog's consumer polls and then parks on its futex.

use ringlog_ring::clock::monotonic_ns;

use crate::case::{Case, Mode};
use crate::cpu_clock::thread_cpu_ns;
use crate::error::BenchResult;
use crate::idle_watch::IdleWatch;
use crate::latency::LatencyRecorder;
use crate::outcome::{ConsumerOutcome, ProducerOutcome};
use crate::pacer::Pacer;
use crate::raw_ring::{RawProducer, RawRing};
use crate::scalar_frame;

/// Bytes of slot data (as ringlog's lane).
pub const DATA_BYTES: usize = crate::ringlog_transport::LANE_BYTES;
/// Bytes of the consumer's private batch buffer (as ringlog's).
const BATCH_BYTES: usize = 256 << 10;
/// In throughput runs, a poll that finds fewer slots than this is followed
/// by a short pause (see [`BACKOFF_NS`]).
const BACKOFF_BELOW_SLOTS: usize = 256;
/// How long the throughput consumer lets a batch accumulate after a small poll.
///
/// A consumer that polls as fast as it can reads cache lines the producer is
/// still filling (several 48-byte frames share a line), so each line crosses
/// between the cores several times and both sides stall. Letting a batch
/// accumulate moves each line once: this is what makes the ring a reference
/// for the hardware rather than for a polling strategy. In quick tests on the
/// 2-core VM an eager consumer reached roughly half the records/s, and varied
/// more. Latency runs never pause.
const BACKOFF_NS: u64 = 10_000;

/// A fresh ring name (`/` plus at most 30 bytes).
fn fresh_name() -> String {
    format!("/rlb-raw-{}-{:x}", std::process::id(), monotonic_ns() & 0xffff_ffff)
}

/// Consumer side: creates the ring, calls `ready` with its name, drains and
/// checks the case's records, unlinks the ring.
///
/// # Errors
/// Ring setup errors, a bad frame, or no data for the idle timeout.
pub fn consumer(case: &Case, ready: impl FnOnce(&str) -> BenchResult<()>) -> BenchResult<ConsumerOutcome> {
    let name = fresh_name();
    let ring = RawRing::create(&name, scalar_frame::slot_len(case.record), DATA_BYTES)?;
    let result = ready(&name).and_then(|()| drain(ring, case));
    let unlinked = RawRing::unlink_name(&name);
    let outcome = result?;
    unlinked?;
    Ok(outcome)
}

fn drain(ring: RawRing, case: &Case) -> BenchResult<ConsumerOutcome> {
    let mut consumer = ring.into_consumer();
    let slot_len = consumer.slot_len();
    let frame_len = scalar_frame::frame_len(case.record);
    let mut batch = vec![0u8; BATCH_BYTES / slot_len * slot_len];
    let latency_mode = case.mode.is_latency();
    let mut latency = latency_mode.then(LatencyRecorder::new);
    let mut watch = IdleWatch::spinning("raw-spsc consumer");
    let total = case.total_records();
    let (mut seen, mut last_step) = (0u64, i64::MIN);
    let mut start_cpu = None;
    while seen < total {
        let n = consumer.read_batch(&mut batch);
        if !latency_mode && n < BACKOFF_BELOW_SLOTS {
            let until = monotonic_ns() + BACKOFF_NS;
            while monotonic_ns() < until {
                std::hint::spin_loop();
            }
        }
        if n == 0 {
            watch.idle()?;
            std::hint::spin_loop();
            continue;
        }
        watch.progress();
        start_cpu.get_or_insert_with(thread_cpu_ns);
        let now = if latency_mode { monotonic_ns() } else { 0 };
        for frame in batch[..n * slot_len].chunks_exact(slot_len) {
            let step = scalar_frame::check(&frame[..frame_len], case.record, seen)?;
            let in_order = if latency_mode { step >= last_step } else { step == seen as i64 };
            if !in_order {
                return Err(format!("raw-spsc consumer: step {step} after {last_step} (record {seen})").into());
            }
            last_step = step;
            if seen >= case.warmup
                && let Some(l) = latency.as_mut()
            {
                l.record(now.saturating_sub(step as u64));
            }
            seen += 1;
        }
        consumer.release();
    }
    let records = seen - case.warmup;
    Ok(ConsumerOutcome {
        records,
        bytes: records * frame_len as u64,
        end_ns: monotonic_ns(),
        latency: latency.map(|l| l.summary()),
        cpu_ns: thread_cpu_ns().saturating_sub(start_cpu.unwrap_or(0)),
        producer: None,
    })
}

/// Producer side: opens the ring `endpoint` and sends the case's records.
///
/// # Errors
/// Ring errors, or a consumer that releases nothing for the idle timeout.
pub fn producer(case: &Case, endpoint: &str) -> BenchResult<ProducerOutcome> {
    let mut producer = RawRing::open(endpoint)?.into_producer();
    let shape = case.record;
    let frame_len = scalar_frame::frame_len(shape);
    let mut watch = IdleWatch::spinning("raw-spsc producer");
    // The frame is encoded here, then copied into the ring (ringlog writes in place).
    let mut frame = vec![0u8; frame_len];
    let mut send = |producer: &mut RawProducer, watch: &mut IdleWatch, seq: u64, step: i64| {
        let value = step as f64 * 0.5;
        // The coarse clock ringlog stamps into every record, for equal work.
        let ts = ringlog_ring::clock::now_unix_ns();
        scalar_frame::encode(&mut frame, shape, seq, ts, step, |i| value + i as f64);
        producer.push(&frame, watch)
    };
    for i in 0..case.warmup {
        send(&mut producer, &mut watch, i, case.warmup_step(i))?;
    }
    // Start measuring from an empty ring, not behind a backlog of warm-up records.
    producer.wait_drained(&mut watch)?;
    // Every producer of the run is set up: start together.
    crate::outcome::start_barrier()?;
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    match case.mode {
        Mode::Throughput => {
            for i in case.warmup..case.total_records() {
                send(&mut producer, &mut watch, i, i as i64)?;
            }
        }
        Mode::Latency | Mode::Parked => {
            let mut pacer = Pacer::new(case.pace_ns);
            for i in case.warmup..case.total_records() {
                let stamp = pacer.wait();
                send(&mut producer, &mut watch, i, stamp as i64)?;
            }
        }
    }
    Ok(ProducerOutcome::finished(start_ns, start_cpu, case.records))
}

/// Removes a ring a failed run may have left behind.
pub fn cleanup(endpoint: &str) {
    let _ = RawRing::unlink_name(endpoint);
}
