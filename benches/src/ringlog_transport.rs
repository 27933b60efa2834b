//! The `ringlog` transport: one lane of a real segment, through the public API.
//!
//! The consumer plays the service: it creates the segment, announces its name,
//! drains with `Consumer::read_batch` (private copy, then rkyv validation) and
//! `release`, and unlinks the segment at the end. The producer opens the
//! segment by name, interns its keys, and logs with `log_scalar1` or
//! `log_scalars`, or an f32x1024 record as a generic `History` with `log`
//! (one struct reused, so the figure has no allocation in it).

use std::time::Duration;

use ringlog_ring::clock::monotonic_ns;
use ringlog_ring::record::schema::ArchivedValue;
use ringlog_ring::{
    Batch, History, Item, KeyId, Producer, RecordRef, Segment, SegmentConfig, SegmentError, SegmentOwner, Value,
};

use crate::case::{Case, Mode, RecordShape};
use crate::cpu_clock::thread_cpu_ns;
use crate::error::BenchResult;
use crate::idle_watch::{IDLE_TIMEOUT, IdleWatch};
use crate::latency::LatencyRecorder;
use crate::outcome::{ConsumerOutcome, ProducerOutcome};
use crate::pacer::Pacer;

/// Ring bytes of the lane (the product's default size).
pub const LANE_BYTES: usize = ringlog_ring::DEFAULT_LANE_BYTES;
/// Bytes of the consumer's private batch buffer.
const BATCH_BYTES: usize = 256 << 10;
/// Longest single futex sleep of an idle throughput consumer.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// Records that fill the lane about once: a latency run sends them first so
/// the ring's pages are mapped and warm in both processes.
pub fn warmup_records(shape: RecordShape) -> u64 {
    (LANE_BYTES / crate::scalar_frame::slot_len(shape)) as u64 + 1
}

/// Consumer side: creates the segment, calls `ready` with its name, drains
/// the case's records, unlinks the segment.
///
/// # Errors
/// Segment errors, rejected frames, unexpected records, or no data for
/// [`crate::idle_watch::IDLE_TIMEOUT`].
pub fn consumer(case: &Case, ready: impl FnOnce(&str) -> BenchResult<()>) -> BenchResult<ConsumerOutcome> {
    // One lane per producer process.
    let lanes = case.producers.max(1);
    let cfg = SegmentConfig { lane_bytes: LANE_BYTES, max_lanes: lanes, initial_lanes: lanes, ..Default::default() };
    let segment = SegmentOwner::create(&cfg)?;
    let result = ready(segment.name()).and_then(|()| drain(&segment, case));
    let unlinked = segment.unlink();
    let outcome = result?;
    unlinked?;
    Ok(outcome)
}

fn drain(segment: &SegmentOwner, case: &Case) -> BenchResult<ConsumerOutcome> {
    let mut consumer = segment.consumer()?;
    let mut batch = Batch::new(BATCH_BYTES);
    let latency_mode = case.mode.is_latency();
    let mut latency = latency_mode.then(LatencyRecorder::new);
    let spinning = case.mode == Mode::Latency;
    let mut watch =
        if spinning { IdleWatch::spinning("ringlog consumer") } else { IdleWatch::blocking("ringlog consumer") };
    let total = case.total_records();
    let (mut seen, mut bytes) = (0u64, 0u64);
    // Per lane (one producer each): records seen and the last step.
    let lanes = case.producers.max(1) as usize;
    let (mut lane_seen, mut lane_last) = (vec![0u64; lanes], vec![i64::MIN; lanes]);
    let mut start_cpu = None;
    while seen < total {
        let n = consumer.read_batch(&mut batch);
        if let Some(e) = batch.errors().first() {
            return Err(format!("ringlog consumer: frame rejected: {e}").into());
        }
        if n == 0 {
            watch.idle()?;
            if spinning {
                std::hint::spin_loop(); // spinning consumer: never parks
            } else {
                consumer.wait(WAIT_SLICE);
            }
            continue;
        }
        watch.progress();
        start_cpu.get_or_insert_with(thread_cpu_ns);
        let now = if latency_mode { monotonic_ns() } else { 0 };
        for frame in batch.frames() {
            let step = match (frame.record(), case.record) {
                (RecordRef::KeyDef(_), _) => continue,
                (RecordRef::Scalar1(s), RecordShape::Scalar1) => s.step.to_native(),
                (RecordRef::Scalars(s), RecordShape::Scalar8) if s.items.len() == 8 => s.step.to_native(),
                (RecordRef::History(h), RecordShape::F32x1024)
                    if h.items.len() == 1
                        && matches!(&h.items[0].value, ArchivedValue::F32Array(v) if v.len() == ARRAY_VALUES) =>
                {
                    h.step.to_native()
                }
                (other, _) => return Err(format!("ringlog consumer: unexpected record {other:?}").into()),
            };
            let lane = usize::from(frame.lane());
            let (Some(lane_n), Some(last_step)) = (lane_seen.get_mut(lane), lane_last.get_mut(lane)) else {
                return Err(format!("ringlog consumer: a record from lane {lane} of {lanes}").into());
            };
            // Throughput steps count 0, 1, 2... per lane; latency steps are monotonic stamps.
            let in_order = if latency_mode { step >= *last_step } else { step == *lane_n as i64 };
            if !in_order {
                return Err(
                    format!("ringlog consumer: lane {lane}: step {step} after {last_step} (record {lane_n})").into()
                );
            }
            *last_step = step;
            *lane_n += 1;
            if seen >= case.warmup {
                bytes += frame.frame_bytes().len() as u64;
                if let Some(l) = latency.as_mut() {
                    l.record(now.saturating_sub(step as u64));
                }
            }
            seen += 1;
        }
        consumer.release();
    }
    Ok(ConsumerOutcome {
        records: seen - case.warmup,
        bytes,
        end_ns: monotonic_ns(),
        latency: latency.map(|l| l.summary()),
        cpu_ns: thread_cpu_ns().saturating_sub(start_cpu.unwrap_or(0)),
        producer: None,
    })
}

/// Values of an f32x1024 record.
const ARRAY_VALUES: usize = crate::scalar_frame::ARRAY_VALUES;

/// What a producer logs: its interned keys, and for arrays the one `History`
/// it rewrites in place for every record.
struct Logger {
    keys: Vec<KeyId>,
    array: Option<History>,
}

impl Logger {
    /// Interns the keys of `shape`.
    fn new(producer: &mut Producer, shape: RecordShape) -> BenchResult<Self> {
        Ok(match shape {
            RecordShape::Scalar1 => Self { keys: vec![producer.key("train/loss")?], array: None },
            RecordShape::Scalar8 => Self {
                keys: (0..8).map(|i| producer.key(&format!("train/metric{i}"))).collect::<Result<_, _>>()?,
                array: None,
            },
            RecordShape::F32x1024 => {
                let key = producer.key("train/weights")?;
                let items = vec![Item { key: key.0, value: Value::F32Array(vec![0.0; ARRAY_VALUES]) }];
                Self { keys: vec![key], array: Some(History { ts_ns: 0, step: 0, items }) }
            }
        })
    }
}

/// Logs one record at `step`.
#[inline]
fn log(producer: &mut Producer, shape: RecordShape, logger: &mut Logger, step: i64) -> BenchResult<()> {
    let value = step as f64 * 0.5;
    let keys = &logger.keys;
    let written = match shape {
        RecordShape::Scalar1 => producer.log_scalar1(step, keys[0], value)?,
        RecordShape::Scalar8 => {
            let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], value + i as f64));
            producer.log_scalars(step, &items)?
        }
        RecordShape::F32x1024 => {
            let history = logger.array.as_mut().ok_or("ringlog producer: no array record")?;
            history.ts_ns = ringlog_ring::clock::now_unix_ns();
            history.step = step;
            if let Value::F32Array(v) = &mut history.items[0].value {
                v[0] = value as f32;
            }
            producer.log(history)?
        }
    };
    if written == ringlog_ring::Logged::Dropped {
        return Err("ringlog producer: record dropped by the full-lane policy".into());
    }
    Ok(())
}

/// Producer side: opens the segment `endpoint` and logs the case's records.
///
/// # Errors
/// Segment or produce errors (a full lane blocks for the run's bounded timeout).
pub fn producer(case: &Case, endpoint: &str, rank: u32) -> BenchResult<ProducerOutcome> {
    let segment = Segment::open(endpoint)?;
    let lane = u16::try_from(rank).map_err(|_| "ringlog producer: rank beyond the lane range")?;
    let mut producer = segment.claim(lane)?;
    let mine = case.producer_share(rank);
    let mut logger = Logger::new(&mut producer, case.record)?;
    let shape = case.record;
    for i in 0..case.warmup {
        log(&mut producer, shape, &mut logger, case.warmup_step(i))?;
    }
    // Start measuring from an empty lane, not behind a backlog of warm-up records.
    if case.warmup > 0 && !producer.wait_drained(IDLE_TIMEOUT)? {
        return Err(format!("ringlog producer: warm-up not drained within {IDLE_TIMEOUT:?}").into());
    }
    // Every producer of the run is set up: start together.
    crate::outcome::start_barrier()?;
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    match case.mode {
        Mode::Throughput => {
            for i in case.warmup..case.warmup + mine {
                log(&mut producer, shape, &mut logger, i as i64)?;
            }
        }
        Mode::Latency | Mode::Parked => {
            let mut pacer = Pacer::new(case.pace_ns);
            for _ in 0..mine {
                let stamp = pacer.wait();
                log(&mut producer, shape, &mut logger, stamp as i64)?;
            }
        }
    }
    Ok(ProducerOutcome::finished(start_ns, start_cpu, mine))
}

/// Removes a segment a failed run may have left behind.
pub fn cleanup(endpoint: &str) {
    match SegmentOwner::unlink_name(endpoint) {
        Ok(()) | Err(SegmentError::NotFound { .. }) => {}
        Err(e) => eprintln!("compare: cannot unlink segment {endpoint}: {e}"),
    }
}
