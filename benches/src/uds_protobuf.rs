//! The `uds-protobuf` transport: W&B's way of moving a `run.log`.
//!
//! The producer encodes one [`WandbRecord`] per step with prost and sends it
//! with one `write(2)`, framed as W&B's socket client frames messages: a `W`
//! byte, a little-endian u32 length, the protobuf bytes. The consumer reads
//! through a `BufReader`, decodes every message with prost and checks it.

use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prost::Message;
use ringlog_ring::clock::monotonic_ns;

use crate::case::{Case, Mode, RecordShape};
use crate::cpu_clock::thread_cpu_ns;
use crate::error::BenchResult;
use crate::history_proto::{HistoryItem, HistoryRecord, HistoryStep, WandbRecord};
use crate::idle_watch::{IDLE_TIMEOUT, IdleWatch};
use crate::latency::LatencyRecorder;
use crate::outcome::{ConsumerOutcome, ProducerOutcome};
use crate::pacer::Pacer;

/// Frame header: the magic byte and a u32 LE length.
const HEADER_LEN: usize = 5;
/// Magic byte of each frame.
const MAGIC: u8 = b'W';
/// Largest message the consumer accepts.
const MAX_MESSAGE: usize = 1 << 20;
/// Buffer of the consumer's `BufReader`.
const READ_BUFFER: usize = 64 << 10;
/// Longest single blocking read of an idle throughput consumer.
const READ_SLICE: Duration = Duration::from_millis(100);
/// Byte the consumer sends back once it has decoded the warm-up records.
const WARMUP_ACK: u8 = b'A';
/// Warm-up records of a latency run.
pub const WARMUP_RECORDS: u64 = 2_000;

/// Consumer side: listens on a socket in a fresh private directory, calls
/// `ready` with its path, decodes the case's records, removes the directory.
///
/// # Errors
/// Socket errors, a bad or undecodable message, or no data for the idle timeout.
pub fn consumer(case: &Case, ready: impl FnOnce(&str) -> BenchResult<()>) -> BenchResult<ConsumerOutcome> {
    let dir = std::env::temp_dir().join(format!("rlb-uds-{}-{:x}", std::process::id(), monotonic_ns()));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let path = dir.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&path)?;
        let endpoint = path.to_str().ok_or("uds consumer: temp dir path is not UTF-8")?;
        ready(endpoint)?;
        serve(&listener, case)
    })();
    let removed = std::fs::remove_dir_all(&dir);
    let outcome = result?;
    removed?;
    Ok(outcome)
}

/// Accepts one producer, waiting at most [`IDLE_TIMEOUT`].
fn accept(listener: &UnixListener) -> BenchResult<UnixStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + IDLE_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => return Ok(stream),
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                return Err(format!("uds consumer: no producer connected within {IDLE_TIMEOUT:?}").into());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Fills `buf` from `reader`. A nonblocking socket's `WouldBlock` (latency
/// runs spin) and a blocking socket's read timeout both count as idle polls.
#[inline]
fn read_full(reader: &mut impl Read, buf: &mut [u8], watch: &mut IdleWatch) -> BenchResult<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Err("uds consumer: producer closed the socket early".into()),
            Ok(n) => {
                filled += n;
                watch.progress();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                watch.idle()?;
                std::hint::spin_loop();
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Serves every producer's connection: one on this thread, or one thread
/// per connection (as a socket server would) when several producers send.
fn serve(listener: &UnixListener, case: &Case) -> BenchResult<ConsumerOutcome> {
    let mut streams = (0..case.producers.max(1)).map(|_| accept(listener)).collect::<BenchResult<Vec<_>>>()?;
    if streams.len() == 1 {
        let stream = streams.pop().ok_or("uds consumer: no connection")?;
        return serve_stream(stream, case);
    }
    let outcomes = std::thread::scope(|scope| {
        let handles: Vec<_> = streams.into_iter().map(|s| scope.spawn(move || serve_stream(s, case))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("uds consumer: a connection thread panicked".into())))
            .collect::<BenchResult<Vec<_>>>()
    })?;
    Ok(ConsumerOutcome {
        records: outcomes.iter().map(|o| o.records).sum(),
        bytes: outcomes.iter().map(|o| o.bytes).sum(),
        end_ns: outcomes.iter().map(|o| o.end_ns).max().unwrap_or_else(monotonic_ns),
        latency: None,
        cpu_ns: outcomes.iter().map(|o| o.cpu_ns).sum(),
        producer: None,
    })
}

/// Decodes and checks one producer's records. The producer first sends how
/// many records it will measure (8 bytes, little-endian).
fn serve_stream(stream: UnixStream, case: &Case) -> BenchResult<ConsumerOutcome> {
    let latency_mode = case.mode.is_latency();
    let mut watch = if case.mode == Mode::Latency {
        stream.set_nonblocking(true)?; // spinning consumer: never blocks in read(2)
        IdleWatch::spinning("uds consumer")
    } else {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(READ_SLICE))?;
        IdleWatch::blocking("uds consumer")
    };
    let mut reader = std::io::BufReader::with_capacity(READ_BUFFER, stream);
    let mut latency = latency_mode.then(LatencyRecorder::new);
    let metrics = case.record.metrics();
    let mut message = vec![0u8; MAX_MESSAGE];
    let mut share = [0u8; 8];
    read_full(&mut reader, &mut share, &mut watch)?;
    let share = u64::from_le_bytes(share);
    if share > case.records {
        return Err(format!("uds consumer: a producer announced {share} of {} records", case.records).into());
    }
    let total = case.warmup + share;
    let (mut seen, mut bytes, mut last_step) = (0u64, 0u64, i64::MIN);
    let mut start_cpu = None;
    while seen < total {
        let mut header = [0u8; HEADER_LEN];
        read_full(&mut reader, &mut header, &mut watch)?;
        start_cpu.get_or_insert_with(thread_cpu_ns);
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if header[0] != MAGIC || len > MAX_MESSAGE {
            return Err(format!("uds consumer: bad frame header {header:?}").into());
        }
        read_full(&mut reader, &mut message[..len], &mut watch)?;
        let record = WandbRecord::decode(&message[..len])?;
        let history = record.history.ok_or("uds consumer: record without history")?;
        if history.item.len() != metrics || history.item.iter().any(|i| i.key.is_empty() || i.value_json.is_empty()) {
            return Err(format!("uds consumer: bad items in record {seen}").into());
        }
        let step = history.step.map_or(-1, |s| s.num);
        let now = if latency_mode { monotonic_ns() } else { 0 };
        let in_order = if latency_mode { step >= last_step } else { step == seen as i64 };
        if !in_order || record.num != seen as i64 {
            return Err(
                format!("uds consumer: step {step} (num {}) after {last_step} (record {seen})", record.num).into()
            );
        }
        last_step = step;
        if seen >= case.warmup {
            bytes += (HEADER_LEN + len) as u64;
            if let Some(l) = latency.as_mut() {
                l.record(now.saturating_sub(step as u64));
            }
        }
        seen += 1;
        if seen == case.warmup {
            // Tell the producer the warm-up is consumed: measuring starts from
            // an empty socket, not behind a backlog of warm-up messages.
            reader.get_mut().write_all(&[WARMUP_ACK])?;
        }
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

/// The W&B client's side: one reusable message, one write per record.
struct Sender {
    stream: UnixStream,
    shape: RecordShape,
    record: WandbRecord,
    buf: Vec<u8>,
}

impl Sender {
    fn new(stream: UnixStream, shape: RecordShape) -> Self {
        let key = |i: usize| match shape {
            RecordShape::Scalar1 => "train/loss".to_owned(),
            RecordShape::Scalar8 => format!("train/metric{i}"),
            RecordShape::F32x1024 => "train/weights".to_owned(),
        };
        let item = (0..shape.metrics())
            .map(|i| HistoryItem { key: key(i), nested_key: Vec::new(), value_json: String::with_capacity(32) })
            .collect();
        let record = WandbRecord { num: 0, history: Some(HistoryRecord { item, step: Some(HistoryStep { num: 0 }) }) };
        Self { stream, shape, record, buf: Vec::with_capacity(1024) }
    }

    /// Encodes record `num` at `step` and writes it with one `write(2)`.
    #[inline]
    fn send(&mut self, num: u64, step: i64) -> BenchResult<()> {
        let value = step as f64 * 0.5;
        self.record.num = num as i64;
        if let Some(history) = self.record.history.as_mut() {
            history.step = Some(HistoryStep { num: step });
            if self.shape == RecordShape::F32x1024 {
                // W&B carries a list as its JSON text: the client formats every element.
                let json = &mut history.item[0].value_json;
                json.clear();
                json.push('[');
                for i in 0..crate::scalar_frame::ARRAY_VALUES {
                    if i > 0 {
                        json.push(',');
                    }
                    write!(json, "{}", (value + i as f64) as f32)?;
                }
                json.push(']');
            } else {
                for (i, item) in history.item.iter_mut().enumerate() {
                    item.value_json.clear();
                    write!(item.value_json, "{}", value + i as f64)?;
                }
            }
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[MAGIC, 0, 0, 0, 0]);
        self.record.encode(&mut self.buf)?;
        let len = (self.buf.len() - HEADER_LEN) as u32;
        self.buf[1..HEADER_LEN].copy_from_slice(&len.to_le_bytes());
        // A Unix stream socket takes a small message in one write(2); write_all
        // only loops if the kernel ever returns a short count.
        self.stream.write_all(&self.buf)?;
        Ok(())
    }

    /// Waits (bounded) for the consumer's warm-up acknowledgement.
    fn wait_ack(&mut self) -> BenchResult<()> {
        self.stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
        let mut ack = [0u8; 1];
        self.stream.read_exact(&mut ack).map_err(|e| format!("uds producer: no warm-up ack: {e}"))?;
        if ack[0] != WARMUP_ACK {
            return Err(format!("uds producer: bad warm-up ack {:#x}", ack[0]).into());
        }
        Ok(())
    }
}

/// Producer side: connects to the socket `endpoint` and sends the case's records.
///
/// # Errors
/// Socket or encode errors; a write blocked for the idle timeout.
pub fn producer(case: &Case, endpoint: &str, rank: u32) -> BenchResult<ProducerOutcome> {
    let mut stream = UnixStream::connect(endpoint)?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    let mine = case.producer_share(rank);
    stream.write_all(&mine.to_le_bytes())?;
    let mut sender = Sender::new(stream, case.record);
    for i in 0..case.warmup {
        sender.send(i, case.warmup_step(i))?;
    }
    if case.warmup > 0 {
        sender.wait_ack()?;
    }
    // Every producer of the run is set up: start together.
    crate::outcome::start_barrier()?;
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    match case.mode {
        Mode::Throughput => {
            for i in case.warmup..case.warmup + mine {
                sender.send(i, i as i64)?;
            }
        }
        Mode::Latency | Mode::Parked => {
            let mut pacer = Pacer::new(case.pace_ns);
            for i in case.warmup..case.warmup + mine {
                let stamp = pacer.wait();
                sender.send(i, stamp as i64)?;
            }
        }
    }
    Ok(ProducerOutcome::finished(start_ns, start_cpu, mine))
}

/// Removes the socket directory a failed run may have left behind.
pub fn cleanup(endpoint: &str) {
    if let Some(dir) = Path::new(endpoint).parent().map(PathBuf::from)
        && dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rlb-uds-"))
    {
        let _ = std::fs::remove_dir_all(dir);
    }
}
