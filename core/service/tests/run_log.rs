//! Run log tests: round trip, dedupe, torn tail, damaged blocks, garbage,
//! hand-built version-1 frames and version-2 blocks.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use ringlog_ring::{Batch, Consumer, HeapRun, History, Item, Producer, RecordKind, RecordRef, Scalar1};
use ringlog_service::runlog::block::BLOCK_HEADER_LEN;
use ringlog_service::runlog::format::{LOG_FRAME_MAGIC, RUN_LOG_HEADER_LEN, RUN_LOG_VERSION};
use ringlog_service::{LogRecord, RunLog, RunLogError, RunLogHeader, RunLogWriter};

const STEPS: i64 = if cfg!(miri) { 5 } else { 200 };

/// A unique path in the temp dir, removed when dropped.
struct TempLog(PathBuf);

impl TempLog {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ringlog-test-{}-{name}-{n}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }
}

impl Drop for TempLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Two producers on heap lanes 0 and 3 and a consumer reading both.
struct Run {
    producers: Vec<Producer>,
    consumer: Consumer,
    batch: Batch,
    _heap: HeapRun,
}

impl Run {
    fn new() -> Self {
        let heap = HeapRun::new(1 << 16, 4).unwrap();
        let producers = [0u16, 3].iter().map(|&lane| heap.claim(lane, Default::default()).unwrap()).collect();
        let consumer = heap.consumer().unwrap();
        Self { _heap: heap, producers, consumer, batch: Batch::new(1 << 16) }
    }

    /// Logs `steps` steps on every lane: scalars plus a history row with a string.
    fn log(&mut self, from: i64, steps: i64) {
        for p in &mut self.producers {
            let loss = p.key("train/loss").unwrap();
            for step in from..from + steps {
                let _ = p.log_scalar1(step, loss, step as f64 * 0.5).unwrap();
                if step % 10 == 0 {
                    let items = vec![Item { key: loss.0, value: format!("step {step}").as_str().into() }];
                    let _ = p.log(&History { ts_ns: 1, step, items }).unwrap();
                }
            }
        }
    }

    /// Reads what is committed into the batch (without releasing it).
    fn read(&mut self) -> usize {
        self.consumer.read_batch(&mut self.batch)
    }
}

/// All records of a log, split into records and errors, plus the torn tail.
fn read_all(path: &std::path::Path) -> (Vec<LogRecord>, Vec<RunLogError>, u64) {
    let mut log = RunLog::open(path).unwrap();
    let (mut ok, mut errs) = (Vec::new(), Vec::new());
    for item in log.by_ref() {
        match item {
            Ok(r) => ok.push(r),
            Err(e) => errs.push(e),
        }
    }
    assert!(log.is_finished());
    (ok, errs, log.torn_tail_bytes())
}

/// Appends batches until the producers' records are all in the log; returns (lane, seq) written.
fn log_and_append(run: &mut Run, log: &mut RunLogWriter, from: i64, steps: i64) -> usize {
    run.log(from, steps);
    let mut n = 0;
    while run.read() > 0 {
        n += log.append_batch(&run.batch).unwrap().frames;
        run.consumer.release();
    }
    n
}

#[test]
fn round_trip() {
    let tmp = TempLog::new("round-trip");
    let mut run = Run::new();
    let header =
        RunLogHeader { run_id: "run-abc".into(), created_unix_ns: 1_700_000_000_000_000_000, version: RUN_LOG_VERSION };
    let mut log = RunLogWriter::create(&tmp.0, &header).unwrap();
    run.log(0, STEPS);
    assert!(run.read() > 0);
    let expected: Vec<(u16, u64, RecordKind, Vec<u8>)> =
        run.batch.frames().map(|f| (f.lane(), f.seq(), f.kind(), f.payload().to_vec())).collect();
    let a = log.append_batch(&run.batch).unwrap();
    assert_eq!(a.frames, expected.len());
    assert_eq!(a.duplicates, 0);
    log.sync().unwrap();
    let c = log.counters();
    assert_eq!(c.frames, expected.len() as u64);
    assert_eq!(c.bytes, std::fs::metadata(&tmp.0).unwrap().len());
    drop(log);

    let mut reader = RunLog::open(&tmp.0).unwrap();
    assert_eq!(reader.header(), &header);
    let records: Vec<LogRecord> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(reader.torn_tail_bytes(), 0);
    assert_eq!(reader.records(), expected.len() as u64);
    assert_eq!(records.len(), expected.len());
    for (r, (lane, seq, kind, payload)) in records.iter().zip(&expected) {
        assert_eq!((r.lane(), r.seq(), r.kind()), (*lane, *seq, *kind));
        assert_eq!(r.payload(), payload.as_slice());
        assert_eq!(r.format(), ringlog_ring::RECORD_FORMAT_VERSION);
        assert_eq!(r.payload().as_ptr() as usize % 16, 0);
    }
    // Every lane: a key definition, then the scalars in step order.
    for lane in [0u16, 3] {
        let lane_records: Vec<&LogRecord> = records.iter().filter(|r| r.lane() == lane).collect();
        assert!(matches!(lane_records[0].record(), RecordRef::KeyDef(k) if k.name == "train/loss"));
        let steps: Vec<i64> = lane_records
            .iter()
            .filter_map(|r| match r.record() {
                RecordRef::Scalar1(s) => {
                    assert_eq!(s.value.to_native(), s.step.to_native() as f64 * 0.5);
                    Some(s.step.to_native())
                }
                _ => None,
            })
            .collect();
        assert_eq!(steps, (0..STEPS).collect::<Vec<_>>());
        let seqs: Vec<u64> = lane_records.iter().map(|r| r.seq()).collect();
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    }
    let histories = records.iter().filter(|r| matches!(r.record(), RecordRef::History(_))).count();
    assert_eq!(histories, 2 * (0..STEPS).filter(|s| s % 10 == 0).count());
}

#[test]
fn many_batches_and_reopen() {
    let tmp = TempLog::new("many");
    let mut run = Run::new();
    let mut log = RunLogWriter::create(&tmp.0, &RunLogHeader::new("many")).unwrap();
    let mut written = log_and_append(&mut run, &mut log, 0, STEPS);
    drop(log);
    let mut log = RunLogWriter::open_append(&tmp.0).unwrap();
    assert_eq!(log.recovery().frames, written as u64);
    assert_eq!(log.recovery().truncated_bytes, 0);
    assert_eq!(log.header().run_id, "many");
    written += log_and_append(&mut run, &mut log, STEPS, STEPS);
    assert_eq!(log.counters().frames, written as u64);
    drop(log);
    let (ok, errs, tail) = read_all(&tmp.0);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!((ok.len(), tail), (written, 0));
}

#[test]
fn dedupe_same_batch_twice() {
    let tmp = TempLog::new("dedupe");
    let mut run = Run::new();
    let mut log = RunLogWriter::create(&tmp.0, &RunLogHeader::new("d")).unwrap();
    run.log(0, 20);
    let n = run.read();
    let first = log.append_batch(&run.batch).unwrap();
    assert_eq!((first.frames, first.duplicates), (n, 0));
    let len = log.counters().bytes;
    let second = log.append_batch(&run.batch).unwrap();
    assert_eq!((second.frames, second.duplicates, second.bytes), (0, n, 0));
    assert_eq!(log.counters().bytes, len);
    assert_eq!(log.counters().duplicates, n as u64);
    assert_eq!(std::fs::metadata(&tmp.0).unwrap().len(), len);

    // A restarted service: the consumer never released, the writer reopens and
    // the same frames come again.
    drop(log);
    let mut log = RunLogWriter::open_append(&tmp.0).unwrap();
    assert_eq!(log.last_seq(0), Some(n as u64 / 2 - 1));
    let again = log.append_batch(&run.batch).unwrap();
    assert_eq!((again.frames, again.duplicates), (0, n));
    run.consumer.release();
    // New frames go through.
    run.log(20, 5);
    let m = run.read();
    let more = log.append_batch(&run.batch).unwrap();
    assert_eq!((more.frames, more.duplicates), (m, 0));
    drop(log);
    let (ok, errs, _) = read_all(&tmp.0);
    assert!(errs.is_empty());
    assert_eq!(ok.len(), n + m);
}

#[test]
fn torn_tail_is_cut_and_appends_continue() {
    let tmp = TempLog::new("torn");
    let mut run = Run::new();
    let mut log = RunLogWriter::create(&tmp.0, &RunLogHeader::new("t")).unwrap();
    run.log(0, 30);
    let n = run.read();
    // One block per lane: lane 3's records are the last block.
    let last_block = run.batch.frames().filter(|f| f.lane() == 3).count();
    log.append_batch(&run.batch).unwrap();
    let full = log.counters().bytes;
    drop(log);
    let (ok, _, _) = read_all(&tmp.0);
    let last_offset = ok.iter().find(|r| r.lane() == 3).unwrap().offset();
    let last_len = full - last_offset;

    // Cut the file in the middle of the last block.
    let file = std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap();
    file.set_len(full - 20).unwrap();
    drop(file);
    let (ok, errs, tail) = read_all(&tmp.0);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(ok.len(), n - last_block);
    assert_eq!(tail, last_len - 20);

    let mut log = RunLogWriter::open_append(&tmp.0).unwrap();
    let r = log.recovery();
    assert_eq!((r.frames, r.truncated_bytes, r.damaged_regions), ((n - last_block) as u64, last_len - 20, 0));
    assert_eq!(log.counters().bytes, last_offset);
    assert_eq!(std::fs::metadata(&tmp.0).unwrap().len(), last_offset);
    // The batch was never released: appending it again writes exactly the lost block.
    let a = log.append_batch(&run.batch).unwrap();
    assert_eq!((a.frames, a.duplicates), (last_block, n - last_block));
    run.consumer.release();
    let more = log_and_append(&mut run, &mut log, 30, 10);
    drop(log);

    let (ok, errs, tail) = read_all(&tmp.0);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!((ok.len(), tail), (n + more, 0));
    for lane in [0u16, 3] {
        let seqs: Vec<u64> = ok.iter().filter(|r| r.lane() == lane).map(|r| r.seq()).collect();
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    }
}

#[test]
fn torn_tail_of_zeros_and_partial_header() {
    let tmp = TempLog::new("zeros");
    let mut run = Run::new();
    let mut log = RunLogWriter::create(&tmp.0, &RunLogHeader::new("z")).unwrap();
    let n = log_and_append(&mut run, &mut log, 0, 5);
    let full = log.counters().bytes;
    drop(log);
    // A crash after the size grew but before the data landed leaves zeros.
    let file = std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap();
    file.set_len(full + 4096 + 3).unwrap();
    drop(file);
    let (ok, errs, tail) = read_all(&tmp.0);
    assert!(errs.is_empty());
    assert_eq!((ok.len(), tail), (n, 4099));
    let log = RunLogWriter::open_append(&tmp.0).unwrap();
    assert_eq!(log.recovery().truncated_bytes, 4099);
    drop(log);
    assert_eq!(std::fs::metadata(&tmp.0).unwrap().len(), full);
}

#[test]
fn bit_flipped_block_is_reported_and_skipped() {
    let tmp = TempLog::new("flip");
    let mut run = Run::new();
    let mut log = RunLogWriter::create(&tmp.0, &RunLogHeader::new("f")).unwrap();
    run.log(0, 10);
    let n = run.read();
    log.append_batch(&run.batch).unwrap();
    drop(log);
    let (ok, _, _) = read_all(&tmp.0);
    // The first block: lane 0's records. Lane 3's block follows it.
    let victim = ok.iter().filter(|r| r.lane() == 0).count();
    let victim_offset = ok[0].offset();
    let victim_len = ok.iter().find(|r| r.lane() == 3).unwrap().offset() - victim_offset;

    // One flipped bit in each region of the block: body, first seq, checksum,
    // and the length field.
    for (at, bit) in [(BLOCK_HEADER_LEN as u64 + 3, 0x10u8), (17, 0x01), (5, 0x40), (8, 0x01), (10, 0x80)] {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&tmp.0).unwrap();
        let mut b = [0u8; 1];
        file.read_exact_at(&mut b, victim_offset + at).unwrap();
        file.write_all_at(&[b[0] ^ bit], victim_offset + at).unwrap();

        let (ok2, errs, tail) = read_all(&tmp.0);
        assert_eq!(tail, 0);
        assert_eq!(ok2.len(), n - victim, "flip at +{at}");
        assert!(ok2.iter().all(|r| r.lane() == 3));
        assert_eq!(errs.len(), 1, "flip at +{at}: {errs:?}");
        let RunLogError::CorruptFrame { offset, len, .. } = &errs[0] else { panic!("{:?}", errs[0]) };
        assert_eq!((*offset, *len), (victim_offset, victim_len));
        assert!(errs[0].is_frame_error());
        assert!(errs[0].to_string().contains("damaged"));

        // A writer keeps the damaged block in place and appends after it.
        let log = RunLogWriter::open_append(&tmp.0).unwrap();
        let r = log.recovery();
        assert_eq!(
            (r.frames, r.damaged_regions, r.damaged_bytes, r.truncated_bytes),
            ((n - victim) as u64, 1, victim_len, 0)
        );
        drop(log);

        file.write_all_at(&b, victim_offset + at).unwrap();
    }
}

/// Builds one frame by hand from the documented layout.
fn hand_frame(kind: u8, format: u8, lane: u16, seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(&LOG_FRAME_MAGIC);
    f.extend_from_slice(&[kind, format]);
    f.extend_from_slice(&lane.to_le_bytes());
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(payload);
    let crc = crc32c_of(&f[..4], &f[8..]);
    f[4..8].copy_from_slice(&crc.to_le_bytes());
    f.resize(f.len().div_ceil(16) * 16, 0);
    f
}

/// CRC32C (Castagnoli, reflected, init and xorout 0xFFFF_FFFF) of `a` then `b`,
/// bit by bit: an independent check of the documented checksum.
fn crc32c_of(a: &[u8], b: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in a.iter().chain(b) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn hand_built_version_1_frames_follow_the_documented_format() {
    let tmp = TempLog::new("hand");
    let v1 = RunLogHeader { version: 1, ..RunLogHeader::new("h") };
    drop(RunLogWriter::create(&tmp.0, &v1).unwrap());
    let scalar = Scalar1 { ts_ns: 5, step: 9, value: 1.5, key: 0, reserved: 0 };
    let payload = rkyv::to_bytes::<rkyv::rancor::Error>(&scalar).unwrap();
    let mut bytes = Vec::new();
    bytes.extend(hand_frame(RecordKind::Scalar1 as u8, 1, 2, 0, &payload));
    bytes.extend(hand_frame(200, 1, 2, 1, &payload)); // unknown kind
    bytes.extend(hand_frame(RecordKind::Scalar1 as u8, 9, 2, 2, &payload)); // unknown format
    bytes.extend(hand_frame(RecordKind::Scalars as u8, 1, 2, 3, &[0xff; 8])); // fails validation
    bytes.extend(hand_frame(RecordKind::Scalar1 as u8, 1, 2, 4, &payload));
    let file = std::fs::OpenOptions::new().write(true).open(&tmp.0).unwrap();
    file.write_all_at(&bytes, RUN_LOG_HEADER_LEN as u64).unwrap();
    drop(file);

    let mut log = RunLog::open(&tmp.0).unwrap();
    let items: Vec<_> = log.by_ref().collect();
    assert_eq!(items.len(), 5);
    assert!(matches!(items[0].as_ref().unwrap().record(), RecordRef::Scalar1(s) if s.step == 9 && s.value == 1.5));
    assert!(matches!(items[1], Err(RunLogError::UnknownKind { kind: 200, seq: 1, .. })));
    assert!(matches!(items[2], Err(RunLogError::InvalidRecord { seq: 2, .. })));
    assert!(items[2].as_ref().unwrap_err().to_string().contains("upgrade ringlog"));
    assert!(matches!(items[3], Err(RunLogError::InvalidRecord { seq: 3, .. })));
    assert_eq!(items[4].as_ref().unwrap().seq(), 4);
    assert_eq!((log.records(), log.rejected_records(), log.damaged_regions(), log.torn_tail_bytes()), (2, 3, 0, 0));

    // The writer counts them all as intact and dedupes against them.
    let log = RunLogWriter::open_append(&tmp.0).unwrap();
    assert_eq!(log.recovery().frames, 5);
    assert_eq!(log.last_seq(2), Some(4));
}

#[test]
fn header_errors() {
    let tmp = TempLog::new("header");
    // Missing file.
    assert!(matches!(RunLog::open(&tmp.0), Err(RunLogError::Io { .. })));
    assert!(matches!(RunLogWriter::open_append(&tmp.0), Err(RunLogError::Io { .. })));
    // Bad run id.
    let long = RunLogHeader::new("x".repeat(33));
    assert!(matches!(RunLogWriter::create(&tmp.0, &long), Err(RunLogError::InvalidRunId { .. })));
    assert!(!tmp.0.exists());
    // Exists, locked.
    let log = RunLogWriter::create(&tmp.0, &RunLogHeader::new("x".repeat(32))).unwrap();
    assert!(matches!(RunLogWriter::create(&tmp.0, &RunLogHeader::new("y")), Err(RunLogError::Exists { .. })));
    let locked = RunLogWriter::open_append(&tmp.0).unwrap_err();
    assert!(matches!(locked, RunLogError::Locked { .. }), "{locked}");
    assert_eq!(RunLog::open(&tmp.0).unwrap().header().run_id, "x".repeat(32));
    drop(log);

    let file = std::fs::OpenOptions::new().read(true).write(true).open(&tmp.0).unwrap();
    // Damaged header field.
    file.write_all_at(&[0xAA], 20).unwrap();
    assert!(matches!(RunLog::open(&tmp.0), Err(RunLogError::CorruptHeader { .. })));
    // A version from the future (the CRC is checked after the version).
    file.write_all_at(&3u32.to_le_bytes(), 8).unwrap();
    let err = RunLog::open(&tmp.0).unwrap_err();
    assert!(matches!(err, RunLogError::UnsupportedVersion { found: 3, .. }), "{err}");
    assert!(err.to_string().contains("versions 1 to 2"), "{err}");
    // Not a run log.
    file.write_all_at(b"{\"json\"", 0).unwrap();
    let err = RunLog::open(&tmp.0).unwrap_err();
    assert!(matches!(err, RunLogError::NotARunLog { .. }), "{err}");
    assert!(matches!(RunLogWriter::open_append(&tmp.0), Err(RunLogError::NotARunLog { .. })));
    // Shorter than a header.
    file.set_len(10).unwrap();
    assert!(matches!(RunLog::open(&tmp.0), Err(RunLogError::HeaderTruncated { len: 10, .. })));
}

/// Where a frame of a sample log lies and what it is.
struct SampleFrame {
    offset: u64,
    end: u64,
    lane: u16,
    seq: u64,
}

/// A small valid log's bytes and its frames.
fn sample_log(tmp: &TempLog) -> (Vec<u8>, Vec<SampleFrame>) {
    let mut run = Run::new();
    let mut log = RunLogWriter::create(&tmp.0, &RunLogHeader::new("p")).unwrap();
    log_and_append(&mut run, &mut log, 0, 12);
    drop(log);
    let (ok, errs, _) = read_all(&tmp.0);
    assert!(errs.is_empty());
    let bytes = std::fs::read(&tmp.0).unwrap();
    // A record's block ends where the next block starts.
    let block_end = |offset: u64| ok.iter().map(|r| r.offset()).find(|&o| o > offset).unwrap_or(bytes.len() as u64);
    let frames = ok
        .iter()
        .map(|r| SampleFrame { offset: r.offset(), end: block_end(r.offset()), lane: r.lane(), seq: r.seq() })
        .collect();
    (bytes, frames)
}

#[derive(Debug, Clone)]
enum Damage {
    Overwrite { at: usize, bytes: Vec<u8> },
    Append(Vec<u8>),
    Truncate(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..200))
            .prop_map(|(at, bytes)| Damage::Overwrite { at, bytes }),
        proptest::collection::vec(any::<u8>(), 1..300).prop_map(Damage::Append),
        any::<usize>().prop_map(Damage::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 128 }))]

    #[test]
    fn garbage_never_panics_the_reader(damages in proptest::collection::vec(damage(), 1..5)) {
        let tmp = TempLog::new("prop");
        let (mut bytes, frames) = sample_log(&tmp);
        // Nothing before this offset is touched.
        let mut first_damage = bytes.len();
        for d in &damages {
            match d {
                Damage::Overwrite { .. } if bytes.len() <= RUN_LOG_HEADER_LEN => {}
                Damage::Overwrite { at, bytes: b } => {
                    // Keep the file header intact: header damage is a separate, fatal error.
                    let at = RUN_LOG_HEADER_LEN + at % (bytes.len() - RUN_LOG_HEADER_LEN);
                    let end = (at + b.len()).min(bytes.len());
                    bytes[at..end].copy_from_slice(&b[..end - at]);
                    first_damage = first_damage.min(at);
                }
                Damage::Append(b) => bytes.extend_from_slice(b),
                Damage::Truncate(n) => {
                    let len = RUN_LOG_HEADER_LEN + n % (bytes.len() - RUN_LOG_HEADER_LEN + 1);
                    bytes.truncate(len);
                    first_damage = first_damage.min(len);
                }
            }
        }
        std::fs::write(&tmp.0, &bytes).unwrap();

        let (ok, errs, _tail) = read_all(&tmp.0);
        // Every record read is one that was written, at the place it was written.
        for r in &ok {
            prop_assert!(frames.iter().any(|f| (f.offset, f.lane, f.seq) == (r.offset(), r.lane(), r.seq())));
        }
        for e in &errs {
            prop_assert!(e.is_frame_error(), "{e}");
        }
        // Every frame wholly before the first damaged byte is read.
        let intact = frames.iter().filter(|f| f.end <= first_damage as u64).count();
        prop_assert!(ok.len() >= intact, "{} records read, {} frames intact", ok.len(), intact);

        // Recovery never panics either, leaves a log without a torn tail, and keeps every record.
        let log = RunLogWriter::open_append(&tmp.0).unwrap();
        let recovered = log.recovery();
        drop(log);
        let (ok2, _, tail2) = read_all(&tmp.0);
        prop_assert_eq!(tail2, 0);
        prop_assert!(recovered.frames >= ok2.len() as u64);
        prop_assert_eq!(ok2.len(), ok.len());
    }
}
