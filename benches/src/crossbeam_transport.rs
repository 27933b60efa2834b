//! The `crossbeam` transport: a bounded crossbeam-channel between two threads
//! of one process, the in-process reference.
//!
//! The producer thread encodes each record's frame ([`scalar_frame::encode`],
//! the bytes a ringlog lane holds) into an owned message and sends it; the
//! consumer thread receives, checks the frame and drops it. Scalar records
//! travel by value (a fixed-size array, no allocation); an f32x1024 record is
//! a boxed 4 KiB frame, allocated by the producer and freed by the consumer,
//! as any owned tensor would be. The channel holds as many records as
//! ringlog's lane does.
//!
//! The throughput and parked-latency consumers block in `recv` (crossbeam
//! spins briefly, then parks); the spinning latency consumer spins on
//! `try_recv`, as the other transports' latency consumers do.

use std::thread;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use ringlog_ring::clock::monotonic_ns;

use crate::case::{Case, Mode, RecordShape};
use crate::cpu_clock::thread_cpu_ns;
use crate::error::BenchResult;
use crate::idle_watch::{IDLE_TIMEOUT, IdleWatch};
use crate::latency::LatencyRecorder;
use crate::outcome::{ConsumerOutcome, ProducerOutcome};
use crate::pacer::Pacer;
use crate::pin::{PRODUCER_CPU, pin_to_cpu};
use crate::scalar_frame::{self, frame_len, slot_len};

/// A frame that moves through the channel.
trait Message: Send + 'static {
    /// A message of `len` zero bytes.
    fn zeroed(len: usize) -> Self;
    /// Its bytes.
    fn bytes(&self) -> &[u8];
    /// Its bytes, to encode into.
    fn bytes_mut(&mut self) -> &mut [u8];
}

impl<const N: usize> Message for [u8; N] {
    fn zeroed(_len: usize) -> Self {
        [0; N]
    }
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl Message for Box<[u8]> {
    fn zeroed(len: usize) -> Self {
        vec![0; len].into_boxed_slice()
    }
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

/// Runs both sides of `case`: each producer on a thread of its own (pinned to
/// the producer CPU when `pin`), the consumer on the calling thread.
///
/// # Errors
/// A bad frame, a side that makes no progress for [`IDLE_TIMEOUT`], or a
/// producer thread that failed or panicked.
pub fn run(case: &Case, pin: bool) -> BenchResult<ConsumerOutcome> {
    const S1: usize = frame_len(RecordShape::Scalar1);
    const S8: usize = frame_len(RecordShape::Scalar8);
    match case.record {
        RecordShape::Scalar1 => run_with::<[u8; S1]>(case, pin),
        RecordShape::Scalar8 => run_with::<[u8; S8]>(case, pin),
        RecordShape::F32x1024 => run_with::<Box<[u8]>>(case, pin),
    }
}

fn run_with<M: Message>(case: &Case, pin: bool) -> BenchResult<ConsumerOutcome> {
    let capacity = crate::ringlog_transport::LANE_BYTES / slot_len(case.record);
    // Each message carries its producer's rank: steps count per producer.
    let (tx, rx) = crossbeam_channel::bounded::<(u32, M)>(capacity);
    // The producer waits for this before measuring: the warm-up is consumed.
    let (drained_tx, drained_rx) = crossbeam_channel::bounded::<()>(1);
    let mut producers = Vec::new();
    for rank in 0..case.producers.max(1) {
        let (producer_case, tx, drained_rx) = (*case, tx.clone(), drained_rx.clone());
        producers.push(thread::Builder::new().name(format!("producer {rank}")).spawn(move || {
            if pin {
                pin_to_cpu(PRODUCER_CPU);
            }
            produce(&producer_case, rank, &tx, &drained_rx).map_err(|e| e.to_string())
        })?);
    }
    drop(tx);
    let consumed = consume(case, &rx, &drained_tx);
    // Unblock producers stuck in `send` if the consumer gave up.
    drop(rx);
    let mut produced = Vec::new();
    for p in producers {
        produced.push(p.join().map_err(|_| "crossbeam producer thread panicked")??);
    }
    let mut outcome = consumed?;
    outcome.producer = Some(ProducerOutcome {
        start_ns: produced.iter().map(|p| p.start_ns).min().unwrap_or(0),
        end_ns: produced.iter().map(|p| p.end_ns).max().unwrap_or(0),
        records: produced.iter().map(|p| p.records).sum(),
        cpu_ns: produced.iter().map(|p| p.cpu_ns).sum(),
    });
    Ok(outcome)
}

fn produce<M: Message>(
    case: &Case,
    rank: u32,
    tx: &Sender<(u32, M)>,
    drained: &Receiver<()>,
) -> BenchResult<ProducerOutcome> {
    let mine = case.producer_share(rank);
    let shape = case.record;
    let len = frame_len(shape);
    let send = |seq: u64, step: i64| -> BenchResult<()> {
        let mut message = M::zeroed(len);
        let value = step as f64 * 0.5;
        // The coarse clock ringlog stamps into every record, for equal work.
        let ts = ringlog_ring::clock::now_unix_ns();
        scalar_frame::encode(message.bytes_mut(), shape, seq, ts, step, |i| value + i as f64);
        // A full channel blocks; a consumer that gave up drops the receiver,
        // which ends the wait with an error.
        tx.send((rank, message)).map_err(|_| "crossbeam producer: the consumer has gone".into())
    };
    for i in 0..case.warmup {
        send(i, case.warmup_step(i))?;
    }
    if case.warmup > 0 {
        drained.recv_timeout(IDLE_TIMEOUT).map_err(|_| "crossbeam producer: warm-up not consumed in time")?;
    }
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    match case.mode {
        Mode::Throughput => {
            for i in case.warmup..case.warmup + mine {
                send(i, i as i64)?;
            }
        }
        Mode::Latency | Mode::Parked => {
            let mut pacer = Pacer::new(case.pace_ns);
            for i in case.warmup..case.warmup + mine {
                let stamp = pacer.wait();
                send(i, stamp as i64)?;
            }
        }
    }
    Ok(ProducerOutcome::finished(start_ns, start_cpu, mine))
}

fn consume<M: Message>(case: &Case, rx: &Receiver<(u32, M)>, drained: &Sender<()>) -> BenchResult<ConsumerOutcome> {
    let latency_mode = case.mode.is_latency();
    let mut latency = latency_mode.then(LatencyRecorder::new);
    let mut watch = IdleWatch::spinning("crossbeam consumer");
    let len = frame_len(case.record);
    let total = case.total_records();
    let (mut seen, mut start_cpu) = (0u64, None);
    // Per producer: records seen and the last step.
    let producers = case.producers.max(1) as usize;
    let (mut rank_seen, mut rank_last) = (vec![0u64; producers], vec![i64::MIN; producers]);
    while seen < total {
        let (rank, message) = if case.mode == Mode::Latency {
            match rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => {
                    watch.idle()?;
                    std::hint::spin_loop();
                    continue;
                }
                Err(TryRecvError::Disconnected) => return Err("crossbeam consumer: the producer has gone".into()),
            }
        } else {
            match rx.recv_timeout(IDLE_TIMEOUT) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("crossbeam consumer: no record for {IDLE_TIMEOUT:?}").into());
                }
                Err(RecvTimeoutError::Disconnected) => return Err("crossbeam consumer: the producer has gone".into()),
            }
        };
        let now = if latency_mode { monotonic_ns() } else { 0 };
        start_cpu.get_or_insert_with(thread_cpu_ns);
        let (Some(n), Some(last_step)) = (rank_seen.get_mut(rank as usize), rank_last.get_mut(rank as usize)) else {
            return Err(format!("crossbeam consumer: a record from producer {rank} of {producers}").into());
        };
        // Each producer numbers its records from 0 (the warm-up included).
        let step = scalar_frame::check(&message.bytes()[..len], case.record, *n)?;
        let in_order = if latency_mode { step >= *last_step } else { step == *n as i64 };
        if !in_order {
            return Err(
                format!("crossbeam consumer: producer {rank}: step {step} after {last_step} (record {n})").into()
            );
        }
        *last_step = step;
        *n += 1;
        if seen >= case.warmup
            && let Some(l) = latency.as_mut()
        {
            l.record(now.saturating_sub(step as u64));
        }
        seen += 1;
        if seen == case.warmup {
            let _ = drained.try_send(());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Transport;

    #[test]
    fn several_producers_each_arrive_in_order() {
        let case = Case {
            transport: Transport::Crossbeam,
            record: RecordShape::Scalar8,
            mode: Mode::Throughput,
            records: 10_001,
            warmup: 0,
            pace_ns: 0,
            producers: 4,
        };
        let out = run(&case, false).unwrap();
        assert_eq!(out.records, 10_001);
        assert_eq!(out.producer.unwrap().records, 10_001);
    }

    #[test]
    fn every_shape_arrives_checked() {
        for record in RecordShape::ALL {
            for (mode, warmup) in [(Mode::Throughput, 0), (Mode::Latency, 100), (Mode::Parked, 100)] {
                let case = Case {
                    transport: Transport::Crossbeam,
                    record,
                    mode,
                    records: 2_000,
                    warmup,
                    pace_ns: 1_000,
                    producers: 1,
                };
                let out = run(&case, false).unwrap();
                assert_eq!(out.records, 2_000, "{record:?} {mode:?}");
                assert_eq!(out.producer.unwrap().records, 2_000);
                assert_eq!(out.latency.is_some(), mode.is_latency());
            }
        }
    }
}
