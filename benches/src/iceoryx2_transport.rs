//! The `iceoryx2` transport: publish-subscribe over iceoryx2's shared memory,
//! the strongest shared-memory IPC peer (built with `--features peers`).
//!
//! The consumer creates a fresh inter-process ([`ipc::Service`]) service with
//! one subscriber and announces its name; each producer process opens it with
//! one publisher (throughput rows run 1, 2 or 4 producers, latency rows one).
//! Each record is one sample: the producer loans a byte slice of the record's
//! frame length, encodes the frame ([`scalar_frame::encode`], the bytes a
//! ringlog lane holds) in place, writes its rank into the frame's lane field
//! ([`scalar_frame::set_lane`]) and sends it; the consumer receives the
//! sample, copies the frame into private memory, releases the sample and
//! checks the copy ([`scalar_frame::check`]) against that producer's own
//! sequence and step order, as ringlog's consumer does per lane. Each producer
//! sends its share of the records ([`Case::producer_share`]); the consumer is
//! done when every producer's share has arrived. The bytes in the sample are
//! untrusted, as any bytes in shared memory: the received sample lends a
//! `&[u8]` into the publisher's segment (iceoryx2 guarantees the publisher
//! no longer writes a sent sample), which is only copied out of, after its
//! length was compared with the frame's; only the private copy is checked.
//!
//! # Configuration: no sample is lost
//!
//! - Safe overflow off: a full subscriber buffer never drops the oldest sample.
//! - Publisher backpressure [`BackpressureStrategy::RetryUntilDelivered`]: a
//!   send to a full buffer waits with iceoryx2's adaptive wait (yield, then
//!   short sleeps) until the subscriber takes a sample. A backpressure handler
//!   bounds that wait: after [`IDLE_TIMEOUT`] without room the send fails.
//! - Subscriber buffer of [`buffer_samples`] per producer: as many samples as
//!   ringlog's lane holds slots of the same shape (1 MiB / 48, 176 or 4144
//!   bytes: 21845, 5957 or 253 samples). iceoryx2 gives every
//!   publisher-subscriber connection its own buffer of this size, so with N
//!   producers the subscriber holds N such buffers, as ringlog's consumer has
//!   one lane per producer. iceoryx2 takes these sizes as they are; no cap was
//!   needed. History 0, one publisher per producer (the service allows exactly
//!   `case.producers`, and as many nodes plus the consumer's), one subscriber,
//!   one sample on loan and one borrowed at a time.
//! - Every send must reach exactly one subscriber, or the run fails.
//!
//! # Handshake
//!
//! A second, tiny service (`<endpoint>/control`, `u64` samples) carries two
//! signals from the consumer back to every producer (one control subscriber
//! each), neither inside the timed window:
//!
//! 1. `Connected`: the consumer saw all producers' publishers and
//!    connected its subscriber. No producer sends before it: a
//!    sender whose receiver is not connected yet would skip samples once the
//!    buffer is full.
//! 2. `WarmupTaken` (runs with warm-up only): the consumer has
//!    taken the last warm-up record of every producer, so the producers start
//!    measuring with empty buffers, not behind a backlog. Every producer sends
//!    `case.warmup` warm-up records and waits for this signal before its
//!    measured ones, so until then every record the consumer takes is a
//!    warm-up record. (Only latency rows have warm-up, and they run one
//!    producer.)
//!
//! # Waiting
//!
//! Both consumers poll `receive` and never block: the latency consumer spins
//! with [`std::hint::spin_loop`]; the throughput consumer, after a poll that
//! finds nothing, spins 10 µs before the next poll, which lets samples
//! accumulate (as raw-spsc's consumer does). Blocking on an iceoryx2
//! event instead would cost the producer a notifier call (a syscall) per
//! record, so these rows have no parked-consumer mode.

use std::time::Duration;

use iceoryx2::port::BackpressureAction;
use iceoryx2::port::SendError;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;
use ringlog_ring::clock::monotonic_ns;

use crate::case::{Case, Mode, RecordShape};
use crate::cpu_clock::thread_cpu_ns;
use crate::error::BenchResult;
use crate::idle_watch::{IDLE_TIMEOUT, IdleWatch};
use crate::latency::LatencyRecorder;
use crate::outcome::{ConsumerOutcome, ProducerOutcome};
use crate::pacer::Pacer;
use crate::scalar_frame::{self, frame_len, slot_len};

/// How long the throughput consumer pauses after a poll that found no sample
/// (raw-spsc's batch pause).
///
/// Polling an empty queue as fast as possible makes the consumer read the
/// queue's indices while the producer writes them, so their cache lines cross
/// between the cores for every sample. In paired quick runs on the 2-core VM
/// (3 x 3 runs each), a 10 µs pause gave iceoryx2 6-36% more records/s than a
/// tight poll, with 6-24% less CPU per record on both sides; a 1 µs pause was
/// no better than the tight poll. Latency runs never pause.
const THROUGHPUT_EMPTY_PAUSE_NS: u64 = 10_000;

/// Subscriber buffer size for `shape`, in samples: the slots of this shape
/// that fit in ringlog's lane, so both transports can hold the same backlog.
///
/// # Examples
/// ```
/// use ringlog_benches::{RecordShape, iceoryx2_transport::buffer_samples};
/// assert_eq!(buffer_samples(RecordShape::Scalar1), (1 << 20) / 48);
/// assert_eq!(buffer_samples(RecordShape::F32x1024), 253);
/// ```
pub fn buffer_samples(shape: RecordShape) -> usize {
    (crate::ringlog_transport::LANE_BYTES / slot_len(shape)).max(1)
}

/// What the consumer tells the producer over the control service, as the
/// `u64` payload of a control sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
enum Signal {
    /// The consumer's subscriber is connected to the producer's publisher.
    Connected = 1,
    /// The consumer has taken every warm-up record.
    WarmupTaken = 2,
}

/// A fresh data service name (at most 255 bytes, no `iox2://` prefix).
fn fresh_name() -> String {
    format!("ringlog-bench/iceoryx2/{}-{:x}", std::process::id(), monotonic_ns())
}

/// The control service that belongs to the data service `endpoint`.
fn control_name(endpoint: &str) -> String {
    format!("{endpoint}/control")
}

/// A node of this process.
///
/// Signal handling is off: the roles never wait on the node, so a handler
/// would only swallow the SIGINT or SIGTERM that should end the child.
/// iceoryx2 logs errors only (it warns, for one, that it runs without a
/// config file), unless `IOX2_LOG_LEVEL` says otherwise.
fn node() -> BenchResult<Node<ipc::Service>> {
    set_log_level_from_env_or(LogLevel::Error);
    Ok(NodeBuilder::new().signal_handling_mode(SignalHandlingMode::Disabled).create::<ipc::Service>()?)
}

/// Fails for the parked-consumer mode, which these rows do not have (see the module docs).
fn refuse_parked(case: &Case) -> BenchResult<()> {
    if case.mode == Mode::Parked {
        return Err("iceoryx2 has no latency-parked rows: its consumers poll".into());
    }
    Ok(())
}

/// Consumer side: creates the service, calls `ready` with its name, drains
/// and checks the case's records. The services go when the consumer's node
/// and ports drop.
///
/// # Errors
/// iceoryx2 errors, a bad frame, or no progress for [`IDLE_TIMEOUT`].
pub fn consumer(case: &Case, ready: impl FnOnce(&str) -> BenchResult<()>) -> BenchResult<ConsumerOutcome> {
    refuse_parked(case)?;
    let node = node()?;
    let name = fresh_name();
    // One publisher, one node and one control subscriber per producer process.
    let ports = case.producers.max(1) as usize;
    let buffer = buffer_samples(case.record);
    let data = node
        .service_builder(&ServiceName::new(&name)?)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(buffer)
        .subscriber_max_borrowed_samples(1)
        .history_size(0)
        .max_publishers(ports)
        .max_subscribers(1)
        .max_nodes(ports + 1)
        .create()?;
    let subscriber = data.subscriber_builder().buffer_size(buffer).create()?;
    let control = node
        .service_builder(&ServiceName::new(&control_name(&name))?)
        .publish_subscribe::<u64>()
        .enable_safe_overflow(false)
        // Room for both signals: a producer takes the first before the second is sent.
        .subscriber_max_buffer_size(2)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(ports)
        .max_nodes(ports + 1)
        .create()?;
    let signals = control.publisher_builder().create()?;
    ready(&name)?;

    // A producer opens the control service before it creates its publisher,
    // so once all publishers are visible, all control subscribers are too.
    let mut watch = IdleWatch::spinning("iceoryx2 consumer: waiting for the producers' publishers");
    while data.dynamic_config().number_of_publishers() < ports {
        watch.idle()?;
        std::hint::spin_loop();
    }
    subscriber.update_connections()?;
    let signals = Signals { publisher: signals, producers: ports };
    signals.send(Signal::Connected)?;
    drain(case, &subscriber, &signals)
}

/// The consumer's side of the control service: one publisher, whose every
/// signal must reach all `producers` control subscribers.
struct Signals {
    publisher: Publisher<ipc::Service, u64, ()>,
    producers: usize,
}

impl Signals {
    /// Sends `signal` to every producer's control subscriber.
    fn send(&self, signal: Signal) -> BenchResult<()> {
        match self.publisher.send_copy(signal as u64)? {
            n if n == self.producers => Ok(()),
            n => {
                Err(format!("iceoryx2 consumer: {signal:?} reached {n} producers, expected {}", self.producers).into())
            }
        }
    }
}

fn drain(
    case: &Case,
    subscriber: &Subscriber<ipc::Service, [u8], ()>,
    signals: &Signals,
) -> BenchResult<ConsumerOutcome> {
    let shape = case.record;
    let len = frame_len(shape);
    let mut frame = vec![0u8; len];
    let latency_mode = case.mode.is_latency();
    let mut latency = latency_mode.then(LatencyRecorder::new);
    let mut watch = IdleWatch::spinning("iceoryx2 consumer");
    // Per producer (by rank): the records it sends, those seen and the last step.
    let producers = signals.producers;
    let expected: Vec<u64> = (0..producers as u32).map(|r| case.warmup + case.producer_share(r)).collect();
    let (mut rank_seen, mut rank_last) = (vec![0u64; producers], vec![i64::MIN; producers]);
    let warmup_total = case.warmup * producers as u64;
    let total = warmup_total + case.records;
    let (mut seen, mut start_cpu) = (0u64, None);
    while seen < total {
        let Some(sample) = subscriber.receive()? else {
            watch.idle()?;
            if latency_mode {
                std::hint::spin_loop();
            } else {
                let until = monotonic_ns() + THROUGHPUT_EMPTY_PAUSE_NS;
                while monotonic_ns() < until {
                    std::hint::spin_loop();
                }
            }
            continue;
        };
        let now = if latency_mode { monotonic_ns() } else { 0 };
        watch.progress();
        start_cpu.get_or_insert_with(thread_cpu_ns);
        let payload = sample.payload();
        if payload.len() != len {
            return Err(format!("iceoryx2 consumer: a sample of {} bytes, expected {len}", payload.len()).into());
        }
        frame.copy_from_slice(payload);
        // Hand the sample back to the publisher before checking the private copy.
        drop(sample);
        // The lane field holds the sender's rank: untrusted, so bounded first.
        let rank = scalar_frame::lane(&frame).map_or(usize::MAX, usize::from);
        let (Some(rank_n), Some(last_step), Some(&share)) =
            (rank_seen.get_mut(rank), rank_last.get_mut(rank), expected.get(rank))
        else {
            return Err(format!("iceoryx2 consumer: a record from rank {rank} of {producers} producers").into());
        };
        if *rank_n == share {
            return Err(format!("iceoryx2 consumer: producer {rank} sent more than its {share} records").into());
        }
        let step = scalar_frame::check(&frame, shape, *rank_n)?;
        // Throughput steps count 0, 1, 2... per producer; latency steps are monotonic stamps.
        let in_order = if latency_mode { step >= *last_step } else { step == *rank_n as i64 };
        if !in_order {
            return Err(
                format!("iceoryx2 consumer: producer {rank}: step {step} after {last_step} (record {rank_n})").into()
            );
        }
        *last_step = step;
        if *rank_n >= case.warmup
            && let Some(l) = latency.as_mut()
        {
            l.record(now.saturating_sub(step as u64));
        }
        *rank_n += 1;
        seen += 1;
        // No producer sends a measured record before this signal, so the
        // first `warmup_total` records are all warm-up records.
        if seen == warmup_total {
            signals.send(Signal::WarmupTaken)?;
        }
    }
    let records = seen - warmup_total;
    Ok(ConsumerOutcome {
        records,
        bytes: records * len as u64,
        end_ns: monotonic_ns(),
        latency: latency.map(|l| l.summary()),
        cpu_ns: thread_cpu_ns().saturating_sub(start_cpu.unwrap_or(0)),
        producer: None,
    })
}

/// Waits for the consumer's `expected` signal, spinning.
fn wait_signal(signals: &Subscriber<ipc::Service, u64, ()>, expected: Signal) -> BenchResult<()> {
    let mut watch = IdleWatch::spinning("iceoryx2 producer: waiting for the consumer's signal");
    loop {
        match signals.receive()? {
            Some(sample) if *sample.payload() == expected as u64 => return Ok(()),
            Some(sample) => {
                return Err(
                    format!("iceoryx2 producer: control signal {} instead of {expected:?}", sample.payload()).into()
                );
            }
            None => {
                watch.idle()?;
                std::hint::spin_loop();
            }
        }
    }
}

/// The producer's backpressure handler: keep retrying a send to a full
/// buffer for up to [`IDLE_TIMEOUT`], then fail it.
fn retry_until_idle_timeout(info: &iceoryx2::port::BackpressureInfo) -> BackpressureAction {
    if info.elapsed_time < IDLE_TIMEOUT { BackpressureAction::Retry } else { BackpressureAction::DiscardDataAndFail }
}

/// Loans a sample, encodes record `seq` of producer `lane` into it and sends it.
#[inline]
fn send(
    publisher: &Publisher<ipc::Service, [u8], ()>,
    shape: RecordShape,
    lane: u16,
    seq: u64,
    step: i64,
) -> BenchResult<()> {
    // `loan_slice` zero-fills the loaned bytes; encoding into them then needs no
    // `unsafe` claim about what an uninitialized loan holds. The fill (a memset)
    // was 0.2% of a scalar1 throughput profile.
    let mut sample = publisher.loan_slice(frame_len(shape))?;
    let value = step as f64 * 0.5;
    // The coarse clock ringlog stamps into every record, for equal work.
    let ts = ringlog_ring::clock::now_unix_ns();
    scalar_frame::encode(sample.payload_mut(), shape, seq, ts, step, |i| value + i as f64);
    scalar_frame::set_lane(sample.payload_mut(), lane);
    match sample.send() {
        Ok(1) => Ok(()),
        Ok(n) => Err(format!("iceoryx2 producer: record {seq} reached {n} subscribers, expected 1").into()),
        Err(SendError::UnableToDeliver) => {
            Err(format!("iceoryx2 producer: the subscriber took no sample for {IDLE_TIMEOUT:?}").into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Producer side: opens the service `endpoint` and sends producer `rank`'s
/// share of the case's records, each marked with its rank.
///
/// # Errors
/// iceoryx2 errors, a record that reached no subscriber, or a consumer that
/// takes nothing for [`IDLE_TIMEOUT`].
pub fn producer(case: &Case, endpoint: &str, rank: u32) -> BenchResult<ProducerOutcome> {
    refuse_parked(case)?;
    if rank >= case.producers.max(1) {
        return Err(format!("iceoryx2 producer: rank {rank} of {} producers", case.producers).into());
    }
    let lane = u16::try_from(rank).map_err(|_| "iceoryx2 producer: rank beyond the lane range")?;
    let mine = case.producer_share(rank);
    let node = node()?;
    let shape = case.record;
    // The control subscriber first: the consumer signals once it sees the publisher.
    let control =
        node.service_builder(&ServiceName::new(&control_name(endpoint))?).publish_subscribe::<u64>().open()?;
    let signals = control.subscriber_builder().create()?;
    let data = node
        .service_builder(&ServiceName::new(endpoint)?)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(buffer_samples(shape))
        .open()?;
    let publisher = data
        .publisher_builder()
        .initial_max_slice_len(frame_len(shape))
        .allocation_strategy(AllocationStrategy::Static)
        .max_loaned_samples(1)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .set_backpressure_handler(retry_until_idle_timeout)
        .create()?;
    wait_signal(&signals, Signal::Connected)?;
    for i in 0..case.warmup {
        send(&publisher, shape, lane, i, case.warmup_step(i))?;
    }
    // Start measuring from an empty buffer, not behind a backlog of warm-up records.
    if case.warmup > 0 {
        wait_signal(&signals, Signal::WarmupTaken)?;
    }
    // Every producer of the run is set up: start together.
    crate::outcome::start_barrier()?;
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    match case.mode {
        Mode::Throughput => {
            for i in case.warmup..case.warmup + mine {
                send(&publisher, shape, lane, i, i as i64)?;
            }
        }
        Mode::Latency | Mode::Parked => {
            let mut pacer = Pacer::new(case.pace_ns);
            for i in case.warmup..case.warmup + mine {
                let stamp = pacer.wait();
                send(&publisher, shape, lane, i, stamp as i64)?;
            }
        }
    }
    Ok(ProducerOutcome::finished(start_ns, start_cpu, mine))
}

/// Removes what iceoryx2 nodes of failed runs left behind: the resources of
/// every dead node, and with them services no live node uses.
///
/// The endpoint is not needed: iceoryx2 finds dead nodes by their process,
/// and the runner has ended both children before it calls this.
pub fn cleanup(_endpoint: &str) {
    let node = match node() {
        Ok(node) => node,
        Err(e) => return eprintln!("compare: iceoryx2 cleanup: cannot create a node: {e}"),
    };
    let state = node.blocking_cleanup_dead_nodes(Duration::from_secs(1));
    if state.failed_cleanups > 0 {
        eprintln!("compare: iceoryx2 cleanup: {} dead nodes could not be removed", state.failed_cleanups);
    }
}
