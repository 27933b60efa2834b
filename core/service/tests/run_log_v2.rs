//! Version 2 of the run log: compact sizes, bit-exact values, dedupe at block
//! granularity, the version-1 fixture, a hand-built block, and the index.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ringlog_ring::{Batch, HeapRun, KeyId, Producer, RecordKind, RecordRef};
use ringlog_service::runlog::block::{BLOCK_HEADER_LEN, BLOCK_MAGIC};
use ringlog_service::runlog::format::RUN_LOG_HEADER_LEN;
use ringlog_service::runlog::index::{RunIndex, index_path};
use ringlog_service::{Entry, LogRecord, RunLog, RunLogError, RunLogHeader, RunLogWriter};

const LANE_BYTES: usize = 1 << 20;

/// A unique directory in the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ringlog-v2-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn log(&self) -> PathBuf {
        self.0.join("run.rlog")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Logs `steps` steps with `log_step` on one heap lane and appends every
/// batch to a new log at `path`, as the service does. Returns the records.
fn write_log(path: &Path, steps: i64, mut log_step: impl FnMut(&mut Producer, &[KeyId], i64)) -> u64 {
    let heap = HeapRun::new(LANE_BYTES, 1).unwrap();
    let mut p = heap.claim(0, Default::default()).unwrap();
    let keys: Vec<KeyId> = (0..8).map(|i| p.key(&format!("train/metric{i}")).unwrap()).collect();
    let mut c = heap.consumer().unwrap();
    let mut batch = Batch::new(LANE_BYTES);
    let mut log = RunLogWriter::create(path, &RunLogHeader::new("v2")).unwrap();
    let mut records = 0u64;
    let mut drain = |c: &mut ringlog_ring::Consumer, log: &mut RunLogWriter| {
        while c.read_batch(&mut batch) > 0 {
            records += log.append_batch(&batch).unwrap().frames as u64;
            c.release();
        }
    };
    for step in 0..steps {
        log_step(&mut p, &keys, step);
        if step % 4096 == 4095 {
            drain(&mut c, &mut log);
        }
    }
    drain(&mut c, &mut log);
    log.sync().unwrap();
    records
}

/// The demo's eight metrics at step `t` (`ringlog demo`'s curve).
fn demo_values(t: f64) -> [f64; 8] {
    let loss = 2.5 * (-t / 2.0e5).exp() + 0.1 + 0.01 * (t * 0.37).sin();
    [
        loss,
        1.0 - loss / 3.0,
        1e-3 * (1.0 + t / 1e5).recip(),
        1.0 + 0.5 * (t * 0.011).cos(),
        loss * 1.05,
        1.0 - loss / 2.8,
        5.0e4,
        12.5,
    ]
}

fn read_all(path: &Path) -> (Vec<LogRecord>, Vec<RunLogError>) {
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for item in RunLog::open(path).unwrap() {
        match item {
            Ok(r) => ok.push(r),
            Err(e) => errs.push(e),
        }
    }
    (ok, errs)
}

fn bytes_per_step(path: &Path, steps: i64) -> f64 {
    (std::fs::metadata(path).unwrap().len() - RUN_LOG_HEADER_LEN as u64) as f64 / steps as f64
}

#[test]
fn scalar8_steps_take_at_most_40_bytes() {
    const STEPS: i64 = 50_000;
    // The demo's curves.
    let dir = TempDir::new("demo8");
    write_log(&dir.log(), STEPS, |p, keys, step| {
        let v = demo_values(step as f64);
        let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], v[i]));
        let _ = p.log_scalars(step, &items).unwrap();
    });
    let demo = bytes_per_step(&dir.log(), STEPS);
    // The compare bench's values.
    let dir2 = TempDir::new("bench8");
    write_log(&dir2.log(), STEPS, |p, keys, step| {
        let value = step as f64 * 0.5;
        let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], value + i as f64));
        let _ = p.log_scalars(step, &items).unwrap();
    });
    let bench = bytes_per_step(&dir2.log(), STEPS);
    eprintln!("scalar8 bytes/step: demo {demo:.2}, bench {bench:.2}");
    assert!(demo <= 40.0, "demo data: {demo:.2} bytes per scalar8 step");
    assert!(bench <= 40.0, "bench data: {bench:.2} bytes per scalar8 step");
    // Every value reads back bit for bit.
    let (ok, errs) = read_all(&dir.log());
    assert!(errs.is_empty(), "{errs:?}");
    let mut step = 0;
    for r in &ok {
        if let RecordRef::Scalars(s) = r.record() {
            assert_eq!(s.step, step);
            let want = demo_values(step as f64);
            for (item, w) in s.items.iter().zip(want) {
                assert_eq!(item.value.to_native().to_bits(), w.to_bits());
            }
            step += 1;
        }
    }
    assert_eq!(step, STEPS);
}

#[test]
fn scalar1_steps_take_at_most_12_bytes() {
    const STEPS: i64 = 100_000;
    let dir = TempDir::new("bench1");
    write_log(&dir.log(), STEPS, |p, keys, step| {
        let _ = p.log_scalar1(step, keys[0], step as f64 * 0.5).unwrap();
    });
    let bench = bytes_per_step(&dir.log(), STEPS);
    // A noisy loss: every value differs in most of its bits.
    let dir2 = TempDir::new("demo1");
    write_log(&dir2.log(), STEPS, |p, keys, step| {
        let _ = p.log_scalar1(step, keys[0], demo_values(step as f64)[2]).unwrap();
    });
    let demo = bytes_per_step(&dir2.log(), STEPS);
    eprintln!("scalar1 bytes/step: bench {bench:.2}, demo lr curve {demo:.2}");
    assert!(bench <= 12.0, "bench data: {bench:.2} bytes per scalar1 step");
    assert!(demo <= 12.0, "demo data: {demo:.2} bytes per scalar1 step");
}

#[test]
fn odd_values_keys_and_steps_read_back_bit_exact() {
    let specials = [
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        f64::from_bits(0x7FF0_0000_0000_0001), // signalling NaN payload
        f64::from_bits(0xFFF8_DEAD_BEEF_0001), // negative quiet NaN with a payload
        f64::MIN_POSITIVE / 3.0,               // subnormal
        f64::MAX,
        f64::MIN,
        1e-300,
    ];
    let dir = TempDir::new("odd");
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut logged: Vec<(i64, Vec<u64>)> = Vec::new();
    write_log(&dir.log(), 2000, |p, keys, i| {
        // Steps that jump both ways, values from the specials and random bits,
        // and key lists that change length and order.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let step = if i % 7 == 0 { -(i * 1000) } else { i64::MAX - i };
        let n = (x % 9) as usize;
        let vals: Vec<u64> = (0..n.max(1))
            .map(|j| {
                if (x >> j) & 1 == 0 {
                    specials[(x as usize + j) % specials.len()].to_bits()
                } else {
                    x.rotate_left(j as u32)
                }
            })
            .collect();
        if n == 0 {
            let _ = p.log_scalar1(step, keys[(x % 8) as usize], f64::from_bits(vals[0])).unwrap();
        } else {
            let items: Vec<(KeyId, f64)> =
                vals.iter().enumerate().map(|(j, v)| (keys[(j + i as usize) % 8], f64::from_bits(*v))).collect();
            let _ = p.log_scalars(step, &items).unwrap();
        }
        logged.push((step, vals));
    });
    let (ok, errs) = read_all(&dir.log());
    assert!(errs.is_empty(), "{errs:?}");
    let got: Vec<(i64, Vec<u64>)> = ok
        .iter()
        .filter_map(|r| match r.record() {
            RecordRef::Scalar1(s) => Some((s.step.to_native(), vec![s.value.to_native().to_bits()])),
            RecordRef::Scalars(s) => {
                Some((s.step.to_native(), s.items.iter().map(|i| i.value.to_native().to_bits()).collect()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(got, logged);
}

#[test]
fn a_batch_straddling_the_dedupe_point_writes_only_its_new_records() {
    let dir = TempDir::new("straddle");
    let heap = HeapRun::new(1 << 16, 1).unwrap();
    let mut p = heap.claim(0, Default::default()).unwrap();
    let k = p.key("loss").unwrap();
    for step in 0..50 {
        let _ = p.log_scalar1(step, k, step as f64).unwrap();
    }
    let mut c = heap.consumer().unwrap();
    let mut batch = Batch::new(1 << 16);
    assert_eq!(c.read_batch(&mut batch), 51);
    let mut log = RunLogWriter::create(dir.log(), &RunLogHeader::new("s")).unwrap();
    // The service wrote the first 20 records, then died before releasing.
    assert_eq!(log.append_frames(batch.frames().take(20)).unwrap().frames, 20);
    drop(log);
    let mut log = RunLogWriter::open_append(dir.log()).unwrap();
    assert_eq!(log.last_seq(0), Some(19));
    // The restarted consumer reads the same 51 frames again.
    let a = log.append_batch(&batch).unwrap();
    assert_eq!((a.frames, a.duplicates), (31, 20));
    drop(log);
    let (ok, errs) = read_all(&dir.log());
    assert!(errs.is_empty());
    assert_eq!(ok.iter().map(|r| r.seq()).collect::<Vec<_>>(), (0..51).collect::<Vec<_>>());
    // Two blocks: seqs 0..=19 and 20..=50.
    let offsets: std::collections::BTreeSet<u64> = ok.iter().map(|r| r.offset()).collect();
    assert_eq!(offsets.len(), 2);
}

#[test]
fn version_1_fixture_reads_as_its_own_build_exported_it() {
    // `tests/fixtures/v1-run` was written by the last version-1 build
    // (4b74fe0); `v1-run.jsonl` is that build's `ringlog export v1-run --format jsonl`.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    let stats = ringlog_service::export_jsonl(fixture.join("v1-run"), &mut out, false).unwrap();
    assert!(stats.is_clean(), "{stats:?}");
    let want = std::fs::read_to_string(fixture.join("v1-run.jsonl")).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), want);

    // A writer continues a version-1 log in version 1.
    let dir = TempDir::new("v1-append");
    std::fs::copy(fixture.join("v1-run/run.rlog"), dir.log()).unwrap();
    let before = read_all(&dir.log()).0.len();
    let mut log = RunLogWriter::open_append(dir.log()).unwrap();
    assert_eq!(log.header().version, 1);
    assert_eq!(log.recovery().frames, before as u64);
    let heap = HeapRun::new(1 << 16, 3).unwrap();
    let mut p = heap.claim(2, Default::default()).unwrap();
    let k = p.key("late").unwrap();
    let _ = p.log_scalar1(99, k, 9.5).unwrap();
    let mut c = heap.consumer().unwrap();
    let mut batch = Batch::new(1 << 16);
    c.read_batch(&mut batch);
    assert_eq!(log.append_batch(&batch).unwrap().frames, 2);
    drop(log);
    let (ok, errs) = read_all(&dir.log());
    assert!(errs.is_empty());
    assert_eq!(ok.len(), before + 2);
    assert!(matches!(ok.last().unwrap().record(), RecordRef::Scalar1(s) if s.step == 99 && s.value == 9.5));
    assert!(!index_path(&dir.log()).exists());
}

/// CRC32C computed bit by bit: an independent check of the documented checksum.
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn hand_built_block_follows_the_documented_format() {
    let dir = TempDir::new("hand");
    drop(RunLogWriter::create(dir.log(), &RunLogHeader::new("h")).unwrap());
    let keydef = rkyv::to_bytes::<rkyv::rancor::Error>(&ringlog_ring::KeyDef { id: 3, name: "loss".into() }).unwrap();
    // Body, by docs/run-log-format.md:
    let mut body = vec![0x00, RecordKind::KeyDef as u8, 1, keydef.len() as u8]; // raw record, seq 10
    body.extend_from_slice(&keydef);
    // Scalar1, seq 11: step delta +5 (zig-zag 10), ts delta +1000 (zig-zag 2000 = d0 0f), key 3, code 8 (8 low bytes).
    body.extend_from_slice(&[0x01, 10, 0xD0, 0x0F, 3, 8]);
    body.extend_from_slice(&1.5f64.to_bits().to_le_bytes());
    // Scalar1, seq 14 (gap 2): STEP_NEXT | TS_SAME | KEYS_SAME; the guess is
    // the last value, so 1.5 again is code 0 with no bytes.
    body.extend_from_slice(&[0x01 | 0x08 | 0x10 | 0x20 | 0x40, 2, 0]);
    // Scalars, seq 15: STEP_NEXT | TS_SAME, 2 items with keys 3 and 4; codes 8 and 0 (0.0 XOR 0 = 0).
    body.extend_from_slice(&[0x02 | 0x10 | 0x20, 2, 3, 4, 0x08]);
    body.extend_from_slice(&(-2.0f64).to_bits().to_le_bytes());
    let mut block = Vec::new();
    block.extend_from_slice(&BLOCK_MAGIC);
    block.extend_from_slice(&[0; 4]);
    block.extend_from_slice(&(body.len() as u32).to_le_bytes());
    block.extend_from_slice(&4u32.to_le_bytes()); // records
    block.extend_from_slice(&10u64.to_le_bytes()); // first seq
    block.extend_from_slice(&7u16.to_le_bytes()); // lane
    block.extend_from_slice(&[0, 0]); // encoding, reserved
    block.extend_from_slice(&5u32.to_le_bytes()); // last seq - first seq
    assert_eq!(block.len(), BLOCK_HEADER_LEN);
    block.extend_from_slice(&body);
    let crc = crc32c_bitwise(&block[8..]);
    block[4..8].copy_from_slice(&crc.to_le_bytes());
    let file = std::fs::OpenOptions::new().write(true).open(dir.log()).unwrap();
    file.write_all_at(&block, RUN_LOG_HEADER_LEN as u64).unwrap();
    drop(file);

    let (ok, errs) = read_all(&dir.log());
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(ok.iter().map(|r| (r.lane(), r.seq())).collect::<Vec<_>>(), [(7, 10), (7, 11), (7, 14), (7, 15)]);
    assert!(matches!(ok[0].record(), RecordRef::KeyDef(k) if k.id == 3 && k.name == "loss"));
    assert!(
        matches!(ok[1].record(), RecordRef::Scalar1(s) if s.step == 4 && s.ts_ns == 1000 && s.key == 3 && s.value == 1.5)
    );
    assert!(
        matches!(ok[2].record(), RecordRef::Scalar1(s) if s.step == 5 && s.ts_ns == 1000 && s.key == 3 && s.value == 1.5)
    );
    let RecordRef::Scalars(s) = ok[3].record() else { panic!() };
    assert_eq!((s.step.to_native(), s.ts_ns.to_native()), (6, 1000));
    let items: Vec<(u32, f64)> = s.items.iter().map(|i| (i.key.to_native(), i.value.to_native())).collect();
    assert_eq!(items, [(3, -2.0), (4, 0.0)]);
    // The writer learns the last seq from the header.
    assert_eq!(RunLogWriter::open_append(dir.log()).unwrap().last_seq(7), Some(15));
}

#[test]
fn malformed_block_bodies_are_reported_never_trusted() {
    // Bodies with a valid checksum but nonsense inside: the records before
    // the fault are read, then one error; nothing panics or over-allocates.
    let bodies: [&[u8]; 6] = [
        &[0x01, 0x00],                   // Scalar1 without key or value
        &[0x02 | 0x40],                  // KEYS_SAME before any key list
        &[0x02, 0xFF, 0xFF, 0xFF, 0x0F], // an item count far past the body
        &[0x00, 2, 1, 0xFF, 0xFF, 0x03], // a raw length past the body
        &[0x07],                         // unknown class
        &[0x01, 0, 0, 0, 0, 0],          // one record, then a stray byte
    ];
    for body in bodies {
        let dir = TempDir::new("malformed");
        drop(RunLogWriter::create(dir.log(), &RunLogHeader::new("m")).unwrap());
        let mut block = Vec::new();
        block.extend_from_slice(&BLOCK_MAGIC);
        block.extend_from_slice(&[0; 4]);
        block.extend_from_slice(&(body.len() as u32).to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        block.extend_from_slice(&0u64.to_le_bytes());
        block.extend_from_slice(&[0; 8]);
        block.extend_from_slice(body);
        let crc = crc32c_bitwise(&block[8..]);
        block[4..8].copy_from_slice(&crc.to_le_bytes());
        std::fs::OpenOptions::new().write(true).open(dir.log()).unwrap().write_all_at(&block, 64).unwrap();
        let (_, errs) = read_all(&dir.log());
        assert_eq!(errs.len(), 1, "{body:?}: {errs:?}");
        assert!(
            matches!(&errs[0], RunLogError::InvalidRecord { reason, .. } if reason.contains("malformed block")),
            "{:?}",
            errs[0]
        );
    }
}

#[test]
fn an_index_being_appended_to_is_used_up_to_its_last_whole_entry() {
    // A live run's service appends to the log and its index while readers read
    // them: an index entry cut short at its end, or a group past the log length a
    // reader took a moment earlier, must not send every reader (watch, four times a
    // second) back to rebuilding the index from the whole log.
    const STEPS: i64 = 200_000;
    let dir = TempDir::new("index-live");
    write_log(&dir.log(), STEPS, |p, keys, step| {
        let v = demo_values(step as f64);
        let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], v[i]));
        let _ = p.log_scalars(step, &items).unwrap();
    });
    let whole = RunIndex::load_or_rebuild(&dir.log()).unwrap();
    assert!(!whole.rebuilt && whole.groups.len() >= 4, "{} groups", whole.groups.len());
    let idx = index_path(&dir.log());
    let bytes = std::fs::read(&idx).unwrap();
    // The last entry half written.
    std::fs::write(&idx, &bytes[..bytes.len() - 20]).unwrap();
    let cut = RunIndex::load_or_rebuild(&dir.log()).unwrap();
    assert!(!cut.rebuilt, "a torn last entry is a write in progress, not damage");
    assert_eq!(cut.groups[..], whole.groups[..cut.groups.len()]);
    assert!(cut.groups.len() + 1 >= whole.groups.len());
    let (rows, stats) = ringlog_service::tail_with_stats(&dir.0, 2).unwrap();
    assert_eq!(rows.iter().map(|r| r.step.unwrap()).collect::<Vec<_>>(), [STEPS - 2, STEPS - 1]);
    let log_len = std::fs::metadata(dir.log()).unwrap().len();
    assert!(stats.bytes_read <= 2 << 20, "tail read {} of {log_len} bytes", stats.bytes_read);
    // Groups past the length the reader saw (the log grew since): the index is
    // used up to them.
    std::fs::write(&idx, &bytes).unwrap();
    let last_group_end = whole.groups.last().unwrap().end;
    let shorter = std::fs::OpenOptions::new().write(true).open(dir.log()).unwrap();
    shorter.set_len(last_group_end - 1).unwrap();
    drop(shorter);
    let before = RunIndex::load_or_rebuild(&dir.log()).unwrap();
    assert!(!before.rebuilt);
    assert_eq!(before.groups[..], whole.groups[..whole.groups.len() - 1]);
    // Damage before the end still discards it.
    let f = std::fs::OpenOptions::new().write(true).open(&idx).unwrap();
    f.write_all_at(&[0xEE; 8], 100).unwrap();
    drop(f);
    assert!(RunIndex::load_or_rebuild(&dir.log()).unwrap().rebuilt);
}

#[test]
fn the_index_bounds_what_tail_reads_and_is_rebuilt_when_damaged() {
    const STEPS: i64 = 400_000;
    let dir = TempDir::new("index");
    write_log(&dir.log(), STEPS, |p, keys, step| {
        let v = demo_values(step as f64);
        let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], v[i]));
        let _ = p.log_scalars(step, &items).unwrap();
    });
    let log_len = std::fs::metadata(dir.log()).unwrap().len();
    assert!(log_len > 8 << 20, "{log_len}");
    let index = RunIndex::load_or_rebuild(&dir.log()).unwrap();
    assert!(!index.rebuilt);
    assert!(index.groups.len() >= 8);
    assert_eq!(index.groups.iter().map(|g| g.records).sum::<u64>(), STEPS as u64 + 8);
    assert_eq!(index.keys.len(), 8);

    let check = |what: &str| {
        let (rows, stats) = ringlog_service::tail_with_stats(&dir.0, 2).unwrap();
        assert_eq!(rows.iter().map(|r| r.step.unwrap()).collect::<Vec<_>>(), [STEPS - 2, STEPS - 1], "{what}");
        assert_eq!(rows[1].values["train/metric6"], 5.0e4, "{what}: key names known from the index");
        stats
    };
    let stats = check("intact index");
    assert!(stats.bytes_read <= 3 << 20, "tail read {} of {log_len} bytes", stats.bytes_read);

    // A damaged index is rebuilt from the log: same answer, whole log read.
    let idx = index_path(&dir.log());
    let f = std::fs::OpenOptions::new().write(true).open(&idx).unwrap();
    f.write_all_at(&[0xEE; 8], 100).unwrap();
    drop(f);
    assert!(RunIndex::load_or_rebuild(&dir.log()).unwrap().rebuilt);
    check("damaged index");
    std::fs::remove_file(&idx).unwrap();
    assert!(RunIndex::load_or_rebuild(&dir.log()).unwrap().rebuilt);
    check("no index");
    // The writer rewrites it when it reopens the log.
    drop(RunLogWriter::open_append(dir.log()).unwrap());
    let again = RunIndex::load_or_rebuild(&dir.log()).unwrap();
    assert!(!again.rebuilt);
    assert_eq!(again.groups, index.groups);
    assert_eq!(again.keys, index.keys);
}

#[test]
fn a_step_range_reads_only_the_groups_that_hold_it() {
    const STEPS: i64 = 300_000;
    let dir = TempDir::new("steps");
    write_log(&dir.log(), STEPS, |p, keys, step| {
        let v = demo_values(step as f64);
        let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], v[i]));
        let _ = p.log_scalars(step, &items).unwrap();
    });
    let log_len = std::fs::metadata(dir.log()).unwrap().len();
    let sampling = ringlog_service::Sampling {
        steps: Some((150_000, 150_010)),
        keys: Some(vec!["train/metric0".into(), "train/metric7".into()]),
        ..Default::default()
    };
    let mut out = Vec::new();
    let stats = ringlog_service::export_jsonl_with(&dir.0, &mut out, &sampling, false).unwrap();
    assert!(stats.is_clean(), "{stats:?}");
    assert!(stats.bytes_read <= 3 << 20, "read {} of {log_len} bytes", stats.bytes_read);
    let rows: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 10);
    for (i, r) in rows.iter().enumerate() {
        let step = 150_000 + i as i64;
        let want = demo_values(step as f64);
        assert_eq!(r["_step"], step);
        // serde_json parses floats to within an ulp (no float_roundtrip feature).
        let close = |v: &serde_json::Value, w: f64| (v.as_f64().unwrap() - w).abs() <= w.abs() * 1e-15;
        assert!(close(&r["train/metric0"], want[0]), "{r}");
        assert!(close(&r["train/metric7"], want[7]), "{r}");
        assert_eq!(r.as_object().unwrap().len(), 5, "{r}"); // _step, _timestamp, _lane and the two keys
    }
    // The summary of a live run: the service's last checkpoint plus the log after it.
    let mut full = Vec::new();
    let ringlog_service::SummarySource::Rebuilt(whole) = ringlog_service::export_summary(&dir.0, &mut full).unwrap()
    else {
        panic!("no summary.json yet: rebuilt")
    };
    assert!(whole.bytes_read >= log_len - 64);
    let full: serde_json::Value = serde_json::from_slice(&full).unwrap();
    let index = RunIndex::load_or_rebuild(&dir.log()).unwrap();
    let mut checkpoint = ringlog_service::SummaryState::from_json(&full).unwrap();
    checkpoint.set_log_end(index.groups[index.groups.len() - 2].end);
    checkpoint.checkpoint(&dir.0.join("summary.json")).unwrap();
    let mut out = Vec::new();
    let source = ringlog_service::export_summary(&dir.0, &mut out).unwrap();
    let ringlog_service::SummarySource::Continued(rest) = source else { panic!("{source:?}") };
    assert!(rest.bytes_read <= 3 << 20, "read {} of {log_len} bytes", rest.bytes_read);
    let continued: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for k in 0..8 {
        let key = format!("train/metric{k}");
        assert_eq!(continued[&key], full[&key], "{key}");
    }
    std::fs::remove_file(dir.0.join("summary.json")).unwrap();

    // Without the index: the same rows, from a read of the whole log.
    std::fs::remove_file(index_path(&dir.log())).unwrap();
    let mut again = Vec::new();
    ringlog_service::export_jsonl_with(&dir.0, &mut again, &sampling, false).unwrap();
    let again: Vec<serde_json::Value> =
        String::from_utf8(again).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(again, rows);
}

#[test]
fn every_kind_costs_its_archive_plus_a_few_bytes() {
    use ringlog_ring::{
        Alert, AlertLevel, Config, Exit, History, Item, OutputLine, Stream, Summary, SystemStats, Value,
    };
    // One block per kind: the block's bytes over its records, against the archive size.
    let heap = HeapRun::new(1 << 20, 1).unwrap();
    let mut p = heap.claim(0, Default::default()).unwrap();
    let k = p.key("train/loss").unwrap();
    let mut c = heap.consumer().unwrap();
    let mut batch = Batch::new(1 << 20);
    let dir = TempDir::new("kinds");
    let mut log = RunLogWriter::create(dir.log(), &RunLogHeader::new("k")).unwrap();
    c.read_batch(&mut batch);
    log.append_batch(&batch).unwrap();
    c.release();
    let items = |v: Value| vec![Item { key: k.0, value: v }];
    const N: i64 = 1000;
    let mut report = Vec::new();
    for kind in ["History f64", "History str", "Summary", "Config", "Output", "Stats", "Alert", "Exit"] {
        for i in 0..N {
            let ts_ns = 1_700_000_000_000_000_000 + i as u64 * 1000;
            let _ = match kind {
                "History f64" => p.log(&History { ts_ns, step: i, items: items(Value::F64(i as f64 * 0.1)) }),
                "History str" => p.log(&History { ts_ns, step: i, items: items(Value::Str(format!("sample {i}"))) }),
                "Summary" => p.log(&Summary { ts_ns, items: items(Value::F64(0.5)) }),
                "Config" => p.log(&Config { ts_ns, items: items(Value::I64(i)) }),
                "Output" => {
                    p.log(&OutputLine { ts_ns, stream: Stream::Stdout, line: format!("epoch 3 step {i} loss 0.123") })
                }
                "Stats" => p.log(&SystemStats { ts_ns, items: items(Value::F64(55.0)) }),
                "Alert" => p.log(&Alert { ts_ns, level: AlertLevel::Warn, title: "t".into(), text: "x".into() }),
                _ => p.log(&Exit { ts_ns, exit_code: 0, reserved: 0 }),
            }
            .unwrap();
        }
        assert!(c.read_batch(&mut batch) > 0);
        let archive = batch.frames().map(|f| f.payload().len()).sum::<usize>() as f64 / N as f64;
        let before = log.counters().bytes;
        log.append_batch(&batch).unwrap();
        c.release();
        let per = (log.counters().bytes - before) as f64 / N as f64;
        report.push(format!(
            "{kind}: {per:.1} B/record (archive {archive:.0} B, v1 frame {})",
            (32 + archive as usize).div_ceil(16) * 16
        ));
        assert!(per <= archive + 5.0, "{kind}: {per} bytes for a {archive}-byte archive");
    }
    eprintln!("{}", report.join("\n"));
}

/// Producer 1 on lane 0 defines id 0 = "loss" and logs steps 0..20 over two
/// index groups; producer 2 on the same lane defines id 0 = "acc", steps 100..110.
fn redefined_run(log_path: &Path) {
    let heap = HeapRun::new(1 << 20, 1).unwrap();
    let mut c = heap.consumer().unwrap();
    let mut batch = Batch::new(1 << 20);
    let mut log = RunLogWriter::create(log_path, &RunLogHeader::new("r")).unwrap();
    let mut drain = |c: &mut ringlog_ring::Consumer, log: &mut RunLogWriter| {
        while c.read_batch(&mut batch) > 0 {
            log.append_batch(&batch).unwrap();
            c.release();
        }
        log.sync().unwrap(); // closes the index group
    };
    {
        let mut p = heap.claim(0, Default::default()).unwrap();
        let k = p.key("loss").unwrap();
        for s in 0..10 {
            let _ = p.log_scalar1(s, k, 1.0).unwrap();
        }
        drain(&mut c, &mut log);
        for s in 10..20 {
            let _ = p.log_scalar1(s, k, 1.0).unwrap();
        }
        drain(&mut c, &mut log);
    }
    // SAFETY: the producer above is dropped; nothing else writes lane 0.
    let mut p = unsafe { heap.reclaim(0, Default::default()) }.unwrap();
    let k = p.key("acc").unwrap();
    for s in 100..110 {
        let _ = p.log_scalar1(s, k, 2.0).unwrap();
    }
    drain(&mut c, &mut log);
}

#[test]
fn reads_from_mid_log_name_keys_as_they_were_defined_then() {
    // Found by review: the index's key names were loaded as of the log's end, so
    // a read starting mid-log named rows before a redefinition with the new name.
    let dir = TempDir::new("redefined");
    redefined_run(&dir.log());
    let names = |rows: &[ringlog_service::Row]| -> Vec<(i64, String)> {
        rows.iter().map(|r| (r.step.unwrap(), r.values.keys().next().unwrap().clone())).collect()
    };
    let want: Vec<(i64, String)> =
        (0..20).map(|s| (s, "loss".to_owned())).chain((100..110).map(|s| (s, "acc".to_owned()))).collect();
    let t = ringlog_service::tail_with(&dir.0, 15, &ringlog_service::Sampling::default()).unwrap();
    assert_eq!(names(&t.rows), want[want.len() - 15..]);
    let steps = ringlog_service::Sampling { steps: Some((10, 20)), ..Default::default() };
    let mut out = Vec::new();
    ringlog_service::export_jsonl_with(&dir.0, &mut out, &steps, false).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(text.lines().all(|l| l.contains("\"loss\"") && !l.contains("\"acc\"")), "{text}");
}

#[test]
fn a_region_full_of_crafted_block_headers_is_scanned_in_linear_time() {
    // Found by review: every byte of a damaged region was probed for a block, and a
    // probe that found the magic checksummed the whole body the header claimed, so
    // 16 MiB of headers each claiming a body to the end of the file took minutes.
    // The resync's checksum work is now bounded (64 MiB + 4 bytes per byte skipped).
    let dir = TempDir::new("crafted");
    drop(RunLogWriter::create(dir.log(), &RunLogHeader::new("r")).unwrap());
    let size = 16usize << 20;
    let mut g = vec![0u8; size];
    for i in (0..size - 32).step_by(64) {
        g[i..i + 4].copy_from_slice(&BLOCK_MAGIC);
        g[i + 8..i + 12].copy_from_slice(&((size - i - 33) as u32).to_le_bytes());
        g[i + 12..i + 16].copy_from_slice(&1u32.to_le_bytes());
    }
    std::fs::OpenOptions::new().write(true).open(dir.log()).unwrap().write_all_at(&g, 64).unwrap();
    let path = dir.log();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = RunLog::open(&path).unwrap();
        let items = log.by_ref().count();
        let _ = tx.send((items, log.torn_tail_bytes()));
    });
    // A bound, not a speed figure: linear work takes well under a second here,
    // the quadratic scan took minutes.
    let (items, tail) = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the scan finishes");
    assert_eq!((items, tail), (0, size as u64));
    // Recovery cuts it all as a torn tail, in bounded time too.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = dir.log();
    std::thread::spawn(move || {
        let _ = tx.send(RunLogWriter::open_append(&path).unwrap().recovery().truncated_bytes);
    });
    assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(60)).expect("recovery finishes"), size as u64);
}

/// What `try_for_each_entry` hands out, as the iterator's items (scalars rebuilt).
fn entries_as_items(log: &mut RunLog) -> Vec<Result<LogRecord, RunLogError>> {
    let mut items = Vec::new();
    let _ = log.try_for_each_entry(|e| {
        items.push(match e {
            Entry::Scalars(s) => Ok(s.to_record()),
            Entry::Record(r) => Ok(r.clone()),
            Entry::Error(e) => Err(*e),
        });
        std::ops::ControlFlow::<()>::Continue(())
    });
    items
}

fn same_items(a: &[Result<LogRecord, RunLogError>], b: &[Result<LogRecord, RunLogError>]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        match (x, y) {
            (Ok(x), Ok(y)) => assert_eq!(
                (x.offset(), x.lane(), x.seq(), x.kind(), x.format(), x.payload()),
                (y.offset(), y.lane(), y.seq(), y.kind(), y.format(), y.payload())
            ),
            (x, y) => assert_eq!(format!("{x:?}"), format!("{y:?}")),
        }
    }
}

/// Fails if `try_for_each_entry` decodes a scalar differently from the iterator, drops or
/// repeats the iterator's buffered items, or counts damage differently (e.g. with the
/// `self.damaged += 1` of `visit_block` removed).
#[test]
fn entries_are_the_iterators_items_with_scalars_left_decoded() {
    let dir = TempDir::new("entries");
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    write_log(&dir.log(), 20_000, |p, keys, i| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            let _ = p.log_scalar1(i, keys[(x % 8) as usize], f64::from_bits(x)).unwrap();
        } else {
            let items: Vec<(KeyId, f64)> = (0..(x % 9) as usize).map(|j| (keys[j], (i + j as i64) as f64)).collect();
            let _ = p.log_scalars(i - (x % 5) as i64, &items).unwrap();
        }
    });
    // Damage a block in the middle: one damaged region, the rest reads on.
    let len = std::fs::metadata(dir.log()).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(dir.log()).unwrap();
    f.write_all_at(&[0xA5; 3], len / 2).unwrap();

    let mut it = RunLog::open(dir.log()).unwrap();
    let want: Vec<_> = it.by_ref().collect();
    assert!(want.iter().any(|r| matches!(r, Err(RunLogError::CorruptFrame { .. }))), "the damage is seen");
    let mut log = RunLog::open(dir.log()).unwrap();
    same_items(&entries_as_items(&mut log), &want);
    assert_eq!(
        (log.records(), log.damaged_regions(), log.rejected_records(), log.is_finished(), log.bytes_read()),
        (it.records(), it.damaged_regions(), it.rejected_records(), true, it.bytes_read())
    );
    // Items the iterator buffered come first, once.
    let mut log = RunLog::open(dir.log()).unwrap();
    let mut got: Vec<_> = log.by_ref().take(5).collect();
    got.extend(entries_as_items(&mut log));
    same_items(&got, &want);
}
