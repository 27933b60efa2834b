//! The `iceoryx2` transport: publish-subscribe over iceoryx2's shared memory,
//! the strongest shared-memory IPC peer (built with `--features peers`).
//!
//! The consumer creates a fresh inter-process ([`ipc::Service`]) service with
//! one subscriber and announces its name; the producer opens it with one
//! publisher. Each record is one sample: the producer loans a byte slice of
//! the record's frame length, encodes the frame ([`scalar_frame::encode`], the
//! bytes a ringlog lane holds) in place and sends it; the consumer receives
//! the sample, copies the frame into private memory, releases the sample and
//! checks the copy ([`scalar_frame::check`]). The bytes in the sample are
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
//! - Subscriber buffer of [`buffer_samples`]: as many samples as ringlog's
//!   lane holds slots of the same shape (1 MiB / 48, 176 or 4144 bytes: 21845,
//!   5957 or 253 samples). iceoryx2 takes these sizes as they are; no cap was
//!   needed. History 0, one publisher, one subscriber, one sample on loan
//!   and one borrowed at a time.
//! - Every send must reach exactly one subscriber, or the run fails.
//!
//! # Handshake
//!
//! A second, tiny service (`<endpoint>/control`, `u64` samples) carries two
//! signals from the consumer back to the producer, neither inside the timed
//! window:
//!
//! 1. `Connected`: the consumer saw the producer's publisher and
//!    connected its subscriber. The producer sends nothing before it: a
//!    sender whose receiver is not connected yet would skip samples once the
//!    buffer is full.
//! 2. `WarmupTaken` (runs with warm-up only): the consumer has
//!    taken the last warm-up record, so the producer starts measuring with an
//!    empty buffer, not behind a backlog.
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
    let buffer = buffer_samples(case.record);
    let data = node
        .service_builder(&ServiceName::new(&name)?)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(buffer)
        .subscriber_max_borrowed_samples(1)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(1)
        .max_nodes(2)
        .create()?;
    let subscriber = data.subscriber_builder().buffer_size(buffer).create()?;
    let control = node
        .service_builder(&ServiceName::new(&control_name(&name))?)
        .publish_subscribe::<u64>()
        .enable_safe_overflow(false)
        // Room for both signals: the producer takes the first before the second is sent.
        .subscriber_max_buffer_size(2)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(1)
        .max_nodes(2)
        .create()?;
    let signals = control.publisher_builder().create()?;
    ready(&name)?;

    // The producer opens the control service before it creates its publisher,
    // so once the publisher is visible its control subscriber is too.
    let mut watch = IdleWatch::spinning("iceoryx2 consumer: waiting for the producer's publisher");
    while data.dynamic_config().number_of_publishers() == 0 {
        watch.idle()?;
        std::hint::spin_loop();
    }
    subscriber.update_connections()?;
    signal(&signals, Signal::Connected)?;
    drain(case, &subscriber, &signals)
}

/// Sends `signal` to the producer's control subscriber.
fn signal(signals: &Publisher<ipc::Service, u64, ()>, signal: Signal) -> BenchResult<()> {
    match signals.send_copy(signal as u64)? {
        1 => Ok(()),
        n => Err(format!("iceoryx2 consumer: {signal:?} reached {n} producers, expected 1").into()),
    }
}

fn drain(
    case: &Case,
    subscriber: &Subscriber<ipc::Service, [u8], ()>,
    signals: &Publisher<ipc::Service, u64, ()>,
) -> BenchResult<ConsumerOutcome> {
    let shape = case.record;
    let len = frame_len(shape);
    let mut frame = vec![0u8; len];
    let latency_mode = case.mode.is_latency();
    let mut latency = latency_mode.then(LatencyRecorder::new);
    let mut watch = IdleWatch::spinning("iceoryx2 consumer");
    let total = case.total_records();
    let (mut seen, mut last_step, mut start_cpu) = (0u64, i64::MIN, None);
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
        let step = scalar_frame::check(&frame, shape, seen)?;
        // Throughput steps count 0, 1, 2...; latency steps are monotonic stamps.
        let in_order = if latency_mode { step >= last_step } else { step == seen as i64 };
        if !in_order {
            return Err(format!("iceoryx2 consumer: step {step} after {last_step} (record {seen})").into());
        }
        last_step = step;
        if seen >= case.warmup
            && let Some(l) = latency.as_mut()
        {
            l.record(now.saturating_sub(step as u64));
        }
        seen += 1;
        if seen == case.warmup {
            signal(signals, Signal::WarmupTaken)?;
        }
    }
    let records = seen - case.warmup;
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

/// Loans a sample, encodes record `seq` into it and sends it.
#[inline]
fn send(publisher: &Publisher<ipc::Service, [u8], ()>, shape: RecordShape, seq: u64, step: i64) -> BenchResult<()> {
    // `loan_slice` zero-fills the loaned bytes; encoding into them then needs no
    // `unsafe` claim about what an uninitialized loan holds. The fill (a memset)
    // was 0.2% of a scalar1 throughput profile.
    let mut sample = publisher.loan_slice(frame_len(shape))?;
    let value = step as f64 * 0.5;
    // The coarse clock ringlog stamps into every record, for equal work.
    let ts = ringlog_ring::clock::now_unix_ns();
    scalar_frame::encode(sample.payload_mut(), shape, seq, ts, step, |i| value + i as f64);
    match sample.send() {
        Ok(1) => Ok(()),
        Ok(n) => Err(format!("iceoryx2 producer: record {seq} reached {n} subscribers, expected 1").into()),
        Err(SendError::UnableToDeliver) => {
            Err(format!("iceoryx2 producer: the subscriber took no sample for {IDLE_TIMEOUT:?}").into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Producer side: opens the service `endpoint` and sends the case's records.
///
/// # Errors
/// iceoryx2 errors, a record that reached no subscriber, or a consumer that
/// takes nothing for [`IDLE_TIMEOUT`].
pub fn producer(case: &Case, endpoint: &str) -> BenchResult<ProducerOutcome> {
    refuse_parked(case)?;
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
        send(&publisher, shape, i, case.warmup_step(i))?;
    }
    // Start measuring from an empty buffer, not behind a backlog of warm-up records.
    if case.warmup > 0 {
        wait_signal(&signals, Signal::WarmupTaken)?;
    }
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    match case.mode {
        Mode::Throughput => {
            for i in case.warmup..case.total_records() {
                send(&publisher, shape, i, i as i64)?;
            }
        }
        Mode::Latency | Mode::Parked => {
            let mut pacer = Pacer::new(case.pace_ns);
            for i in case.warmup..case.total_records() {
                let stamp = pacer.wait();
                send(&publisher, shape, i, stamp as i64)?;
            }
        }
    }
    Ok(ProducerOutcome::finished(start_ns, start_cpu, case.records))
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
